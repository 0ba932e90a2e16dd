//! The agents list.

use galaxy_core::timefmt::format_utc;
use leptos::prelude::*;

use crate::api::agents::list_agents;
use crate::components::ErrorNotice;

#[component]
pub fn AgentsPage() -> impl IntoView {
    let agents = Resource::new(|| (), |_| list_agents());
    let auth = expect_context::<crate::Auth>();
    view! {
        <div class="panel-head">
            <h1>"Agents"</h1>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let can_build = auth.user.await.ok().flatten().is_some_and(|u| u.role.can_build());
                    can_build.then(|| view! { <a class="button primary" href="/agents/new">"New agent"</a> })
                })}
            </Transition>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match agents.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <p class="panel">"No agents yet. " <a href="/agents/new">"Create one"</a>"."</p>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="agents">
                            <thead><tr><th>"Name"</th><th>"Provider"</th><th>"Model"</th><th class="num">"Version"</th><th>"Updated"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|a| view! {
                                    <tr>
                                        <td>
                                            <a href=format!("/agents/{}", a.id)>{a.name}</a>
                                            <div class="muted small">{a.description}</div>
                                        </td>
                                        <td>{a.provider.label()}</td>
                                        <td><code>{a.model}</code></td>
                                        <td class="num">{a.version}</td>
                                        <td>{format_utc(a.updated_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
