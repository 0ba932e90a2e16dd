//! Settings → Audit log (admins and owners): who did what to which target and when — provider
//! keys, API tokens, members and invitations, limits, budget and prices, agents and published
//! versions, sign-ins — newest first, filtered by actor, action and date (a plain GET form:
//! the filters live in the URL), a page at a time by keyset cursor, exported as JSON Lines
//! (`server/src/export.rs`, streamed). The log is append-only.

use galaxy_core::audit::action_label;
use galaxy_core::timefmt::format_utc;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::audit::{AuditFilters, list_audit};
use crate::components::{ErrorNotice, encode};

const FILTERS: [&str; 4] = ["actor", "action", "from", "to"];

/// The action filter's choices: families first, then single actions.
const ACTIONS: [(&str, &str); 11] = [
    ("member.", "Members and invitations"),
    ("credential.", "Provider keys"),
    ("api_token.", "API tokens"),
    ("limits.", "Limits"),
    ("budget.", "Budget"),
    ("price.", "Prices"),
    ("agent.", "Agents"),
    ("workspace.", "Workspace"),
    ("invite.revoked", "Invitation revoked"),
    ("member.signed_in", "Sign-ins"),
    ("member.role_changed", "Role changes"),
];

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let value = move |key: &str| query.read().get(key).unwrap_or_default();
    let page = Resource::new(
        move || {
            let q = query.read();
            let get = |k: &str| q.get(k).unwrap_or_default();
            (FILTERS.map(get), get("cursor"))
        },
        |([actor, action, from, to], cursor)| {
            list_audit(AuditFilters {
                actor,
                action,
                from,
                to,
                cursor,
            })
        },
    );
    let with_filters = move |base: &str, extra: Option<String>| {
        let q = query.read();
        let mut parts: Vec<String> = FILTERS
            .iter()
            .filter_map(|k| {
                q.get(k)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={}", encode(&v)))
            })
            .collect();
        parts.extend(extra);
        if parts.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", parts.join("&"))
        }
    };
    view! {
        <h1>"Audit log"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(v) => {
                        let current_actor = value("actor");
                        let current_action = value("action");
                        view! {
                            <form method="get" action="/settings/audit" class="panel run-filters">
                                <div class="row">
                                    <label class="grow">"Who"
                                        <select name="actor">
                                            <option value="">"Anyone"</option>
                                            {v.actors.into_iter().map(|(id, name)| {
                                                let selected = id == current_actor;
                                                view! { <option value=id selected=selected>{name}</option> }
                                            }).collect_view()}
                                        </select>
                                    </label>
                                    <label class="grow">"What"
                                        <select name="action">
                                            <option value="">"Anything"</option>
                                            {ACTIONS.iter().map(|(a, label)| view! { <option value=*a selected=*a == current_action>{*label}</option> }).collect_view()}
                                        </select>
                                    </label>
                                    <label>"From"<input type="date" name="from" value=value("from")/></label>
                                    <label>"To"<input type="date" name="to" value=value("to")/></label>
                                    <button type="submit">"Filter"</button>
                                </div>
                            </form>
                            <p>
                                <a href=with_filters("/settings/audit/export", None) rel="external" download data-export="audit">"Export JSON Lines"</a>
                            </p>
                            {if v.entries.is_empty() {
                                view! { <p class="muted">"Nothing recorded for these filters."</p> }.into_any()
                            } else {
                                view! {
                                    <table class="audit">
                                        <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Target"</th><th>"Detail"</th></tr></thead>
                                        <tbody>
                                            {v.entries.into_iter().map(|e| view! {
                                                <tr data-audit=e.action.clone()>
                                                    <td class="small">{format_utc(e.at)}</td>
                                                    <td>{e.actor.clone()}</td>
                                                    <td>{action_label(&e.action).to_owned()}</td>
                                                    <td class="small"><code>{e.target.clone()}</code></td>
                                                    <td class="small">{e.detail.clone()}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                            {v.next.map(|cursor| view! {
                                <p><a href=with_filters("/settings/audit", Some(format!("cursor={}", encode(&cursor)))) data-older>"Older entries"</a></p>
                            })}
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}
