//! The dashboard: real counts and the latest runs of the workspace, from the database.

use leptos::prelude::*;

use crate::api::runs::get_dashboard;
use crate::components::{ErrorNotice, RunsTable};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let stats = Resource::new(|| (), |_| get_dashboard());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match stats.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(s) => {
                        let success_rate = if s.runs > 0 {
                            format!("{:.0}%", 100.0 * s.succeeded as f64 / s.runs as f64)
                        } else {
                            "—".to_owned()
                        };
                        view! {
                            <h1>"Dashboard"</h1>
                            <div class="cards">
                                <div class="card"><span class="label">"Agents"</span><span class="value" data-stat="agents">{s.agents}</span></div>
                                <div class="card"><span class="label">"Runs"</span><span class="value" data-stat="runs">{s.runs}</span></div>
                                <div class="card"><span class="label">"Succeeded"</span><span class="value" data-stat="succeeded">{success_rate}</span></div>
                                <div class="card"><span class="label">"Failed"</span><span class="value" data-stat="failed">{s.failed}</span></div>
                                <div class="card"><span class="label">"Tokens"</span><span class="value" data-stat="tokens">{s.total_tokens}</span></div>
                                <div class="card"><span class="label">"Avg latency"</span><span class="value" data-stat="latency">{s.avg_latency_ms.map_or_else(|| "—".to_owned(), |l| format!("{l} ms"))}</span></div>
                            </div>
                            <section class="panel">
                                <div class="panel-head">
                                    <h2>"Latest runs"</h2>
                                    <a class="button" href="/agents/new">"New agent"</a>
                                </div>
                                {if s.agents == 0 && s.runs == 0 {
                                    view! {
                                        <p>"No agents yet. " <a href="/agents/new">"Create your first agent"</a>
                                        " and run it in mock mode — no provider key needed."</p>
                                    }.into_any()
                                } else {
                                    view! { <RunsTable runs=s.recent show_agent=true/> }.into_any()
                                }}
                            </section>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
    }
}
