//! `/invite/{token}`: an invitation link. It says which workspace and role it offers; a
//! signed-in visitor joins with one button; a visitor without an account signs up (or logs in)
//! and comes back here to join.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::members::{AcceptInvite, invite_info};
use crate::components::{form_feedback, reload_on_success};

#[component]
pub fn InvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let info = Resource::new(token, invite_info);
    let accept = ServerAction::<AcceptInvite>::new();
    reload_on_success(accept, "/");
    let (errors, message) = form_feedback(accept);
    view! {
        <section class="panel narrow">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match info.await {
                        Err(e) => view! {
                            <h1>"Invitation"</h1>
                            <p class="error" role="alert">{e.field_errors().first().map(|f| f.message.clone()).unwrap_or_else(|| e.to_string())}</p>
                        }.into_any(),
                        Ok(page) => {
                            let here = format!("/invite/{}", token());
                            view! {
                                <h1>{format!("Join {}", page.info.workspace_name)}</h1>
                                <p>{format!("{} invites you to the workspace {} as {}.", page.info.invited_by, page.info.workspace_name, page.info.role.as_str())}</p>
                                <p class="muted small">{format!("The link works once, until {}.", galaxy_core::timefmt::format_utc(page.info.expires_at))}</p>
                                {if page.signed_in {
                                    view! {
                                        <ActionForm action=accept>
                                            {move || message.get().or_else(|| errors.get().first().map(|f| f.message.clone())).map(|m| view! { <p class="error" role="alert">{m}</p> })}
                                            <input type="hidden" name="token" value=token()/>
                                            <button type="submit" class="primary" data-action="accept-invite">{format!("Join {}", page.info.workspace_name)}</button>
                                        </ActionForm>
                                    }.into_any()
                                } else {
                                    let next = format!("?next={here}");
                                    view! {
                                        <p>
                                            <a class="button primary" href=format!("/signup{next}")>"Create an account to join"</a>
                                            " or "
                                            <a href=format!("/login{next}")>"log in"</a>
                                        </p>
                                    }.into_any()
                                }}
                            }.into_any()
                        }
                    }
                })}
            </Transition>
        </section>
    }
}
