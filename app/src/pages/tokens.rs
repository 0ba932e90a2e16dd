//! Settings → API tokens: how code calls this workspace's agents. Admins and owners create and
//! revoke tokens; every member sees the list. A new token is shown once, right after it is
//! created, with the line to call an agent with it.

use galaxy_core::api_tokens::{ApiScope, ApiTokenSummary, EXPIRY_CHOICES, TokenStatus};
use galaxy_core::timefmt::format_utc;
use leptos::prelude::*;

use crate::api::tokens::{CreateApiToken, RevokeApiToken, list_api_tokens};
use crate::components::{ConfirmPassword, ErrorNotice, FieldMessage, form_feedback};
use crate::error::AppError;

#[component]
pub fn TokensPage() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_tokens(),
    );
    let (errors, message) = form_feedback(create);
    let reauth = move || matches!(create.value().get(), Some(Err(AppError::ReauthRequired)));
    let created = move || create.value().get().and_then(|r| r.ok());
    view! {
        <h1>"API tokens"</h1>
        <p class="muted">
            "Tokens let code call this workspace's agents through the REST API (" <code>"/api/v1"</code>
            ") and the OpenAI-compatible endpoint (" <code>"/v1"</code> "). A token acts as the member "
            "who created it, never beyond that member's role, and stops working when it is revoked, "
            "expires, or its creator leaves the workspace. Only a hash is stored: a token is shown once."
        </p>
        {move || reauth().then(|| view! { <ConfirmPassword/> })}
        <div class="columns">
            <section class="panel">
                <h2>"Create a token"</h2>
                <ActionForm action=create>
                    {move || message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                    <label>"Name"<input type="text" name="name" placeholder="billing service" maxlength="60"/></label>
                    <FieldMessage errors field="name"/>
                    <fieldset>
                        <legend>"Scopes"</legend>
                        {ApiScope::ALL.iter().copied().enumerate().map(|(i, s)| view! {
                            <label class="inline">
                                <input type="checkbox" name=format!("scopes[{i}]") value=s.as_str()
                                    checked=s == ApiScope::Run/>
                                " " {s.describe()}
                            </label>
                        }).collect_view()}
                    </fieldset>
                    <FieldMessage errors field="scopes"/>
                    <label>"Expires"
                        <select name="expires_in_days">
                            {EXPIRY_CHOICES.iter().map(|(days, label)| view! {
                                <option value=if *days == 0 { "never".to_owned() } else { days.to_string() }>{*label}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <FieldMessage errors field="expires_in_days"/>
                    <button type="submit" class="primary" disabled=move || create.pending().get()>"Create token"</button>
                </ActionForm>
                {move || created().map(|c| view! {
                    <div class="ok-box" role="status" aria-label="New token">
                        <p>{format!("Created “{}”. Copy it now: it will not be shown again.", c.summary.name)}</p>
                        <pre class="token" data-token="">{c.token.clone()}</pre>
                    </div>
                })}
            </section>
            <section class="panel">
                <h2>"Tokens"</h2>
                {move || revoke.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorNotice error/> })}
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match tokens.await {
                            Err(error) => view! { <ErrorNotice error/> }.into_any(),
                            Ok(list) if list.is_empty() => view! {
                                <p class="muted">"No tokens yet."</p>
                            }.into_any(),
                            Ok(list) => view! { <TokensTable list revoke/> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

#[component]
fn TokensTable(list: Vec<ApiTokenSummary>, revoke: ServerAction<RevokeApiToken>) -> impl IntoView {
    view! {
        <table class="tokens">
            <thead><tr><th>"Token"</th><th>"Scopes"</th><th>"Status"</th><th>"Used"</th><th>"Actions"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|t| {
                    let status = t.status;
                    let id = t.id.clone();
                    let scopes: Vec<&str> = t.scopes.iter().map(|s| s.as_str()).collect();
                    view! {
                        <tr data-token-id=t.id.clone()>
                            <td>
                                <strong>{t.name.clone()}</strong>" "<code>{format!("{}…", t.prefix)}</code>
                                <div class="muted small">{format!("by {} · created {}", t.created_by, format_utc(t.created_at))}</div>
                                <div class="muted small">{t.expires_at.map_or_else(|| "never expires".to_owned(), |e| format!("expires {}", format_utc(e)))}</div>
                            </td>
                            <td>{scopes.join(", ")}</td>
                            <td><span class=if status == TokenStatus::Active { "badge ok" } else { "badge bad" }>{status.as_str()}</span></td>
                            <td class="small">{t.last_used_at.map_or_else(|| "never".to_owned(), format_utc)}</td>
                            <td class="actions">
                                {(status == TokenStatus::Active).then(move || view! {
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="id" value=id/>
                                        <button type="submit" class="small-button danger">"Revoke"</button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
