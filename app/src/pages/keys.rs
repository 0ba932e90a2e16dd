//! Settings → Provider keys: add, test, rotate and revoke the workspace's provider keys. A key is
//! sent to the server once and never shown again: the page shows its label and last four
//! characters.

use galaxy_core::credentials::{CredentialStatus, CredentialSummary};
use galaxy_core::providers::ProviderKind;
use galaxy_core::timefmt::format_utc;
use leptos::html::Form;
use leptos::prelude::*;

use crate::api::keys::{AddKey, RevokeKey, RotateKey, TestKey, list_keys};
use crate::components::{ConfirmPassword, ErrorNotice, FieldMessage};
use crate::error::AppError;

#[component]
pub fn KeysPage() -> impl IntoView {
    let add = ServerAction::<AddKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    let rotate = ServerAction::<RotateKey>::new();
    let test = ServerAction::<TestKey>::new();
    let keys = Resource::new(
        move || {
            (
                add.version().get(),
                revoke.version().get(),
                rotate.version().get(),
                test.version().get(),
            )
        },
        |_| list_keys(),
    );
    let reauth = Signal::derive(move || {
        [
            add.value().get(),
            revoke.value().get(),
            rotate.value().get(),
        ]
        .into_iter()
        .any(|r| matches!(r, Some(Err(AppError::ReauthRequired))))
    });
    view! {
        <h1>"Provider keys"</h1>
        <p class="muted">
            "Keys are encrypted (AES-256-GCM) before they are stored and are never shown again: "
            "only their label and last four characters. Admins and owners manage them; every change is audited."
        </p>
        {move || reauth.get().then(|| view! { <ConfirmPassword/> })}
        <div class="columns">
            <section class="panel">
                <h2>"Add a key"</h2>
                <AddKeyForm add/>
            </section>
            <section class="panel">
                <h2>"Keys"</h2>
                {move || test.value().get().map(|r| match r {
                    Ok(t) => view! {
                        <p class=if t.ok { "ok-box" } else { "error" } role="status">{t.message}</p>
                    }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                })}
                {move || rotate.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorNotice error/> })}
                {move || revoke.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorNotice error/> })}
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match keys.await {
                            Err(error) => view! { <ErrorNotice error/> }.into_any(),
                            Ok(list) if list.is_empty() => view! {
                                <p class="muted">"No keys yet. Mock runs work without one."</p>
                            }.into_any(),
                            Ok(list) => view! { <KeysTable list revoke rotate test/> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </div>
    }
}

#[component]
fn AddKeyForm(add: ServerAction<AddKey>) -> impl IntoView {
    let form = NodeRef::<Form>::new();
    let provider = RwSignal::new(ProviderKind::OpenAi.as_str().to_owned());
    let base_url = RwSignal::new(String::new());
    let errors = Signal::derive(move || {
        add.value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.field_errors())
            .unwrap_or_default()
    });
    let message = move || {
        add.value()
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
    };
    let saved = move || {
        add.value()
            .get()
            .and_then(|r| r.ok())
            .map(|k: CredentialSummary| {
                format!(
                    "Saved “{}”, ending in …{}. It will not be shown again.",
                    k.label, k.last4
                )
            })
    };
    Effect::new(move |_| {
        if matches!(add.value().get(), Some(Ok(_)))
            && let Some(f) = form.get()
        {
            f.reset();
            provider.set(ProviderKind::OpenAi.as_str().to_owned());
            base_url.set(String::new());
        }
    });
    view! {
        <ActionForm action=add node_ref=form>
            {move || message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <label>"Provider"
                <select name="provider" on:change=move |ev| {
                    let chosen = event_target_value(&ev);
                    if chosen != "openai_compatible" {
                        base_url.set(String::new());
                    }
                    provider.set(chosen);
                }>
                    {ProviderKind::ALL.iter().copied().map(|p| view! {
                        <option value=p.as_str()>{p.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <FieldMessage errors field="provider"/>
            <label>"Label"<input type="text" name="label" placeholder="production" maxlength="60"/></label>
            <FieldMessage errors field="label"/>
            <label class:hidden=move || provider.get() != "openai_compatible">"Base URL (OpenAI-compatible endpoints)"
                // Only sent for OpenAI-compatible endpoints: switching away clears it, so a hidden
                // leftover never refuses the save.
                <input type="text" name="base_url" placeholder="https://example.com/v1"
                    prop:value=move || base_url.get()
                    on:input=move |ev| base_url.set(event_target_value(&ev))/>
            </label>
            <FieldMessage errors field="base_url"/>
            <label>"API key"<input type="password" name="api_key" autocomplete="off" spellcheck="false"/></label>
            <FieldMessage errors field="api_key"/>
            <button type="submit" class="primary" disabled=move || add.pending().get()>"Save key"</button>
            {move || saved().map(|m| view! { <p class="ok" role="status">{m}</p> })}
        </ActionForm>
    }
}

#[component]
fn KeysTable(
    list: Vec<CredentialSummary>,
    revoke: ServerAction<RevokeKey>,
    rotate: ServerAction<RotateKey>,
    test: ServerAction<TestKey>,
) -> impl IntoView {
    view! {
        <table class="keys">
            <thead><tr><th>"Key"</th><th>"Status"</th><th>"Used"</th><th>"Actions"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|k| {
                    let live = k.status != CredentialStatus::Revoked;
                    let (test_id, rotate_id, revoke_id) = (k.id.clone(), k.id.clone(), k.id.clone());
                    let tested = match (k.last_tested_at, k.last_test_ok) {
                        (Some(t), Some(true)) => format!("test passed {}", format_utc(t)),
                        (Some(t), _) => format!("test failed {}", format_utc(t)),
                        _ => "not tested".to_owned(),
                    };
                    view! {
                        <tr data-key-id=k.id.clone()>
                            <td>
                                <strong>{k.label.clone()}</strong>" "<code>{format!("…{}", k.last4)}</code>
                                <div class="muted small">{k.provider.label()}{k.base_url.clone().map(|u| format!(" · {u}"))}</div>
                                <div class="muted small">{format!("added {}", format_utc(k.created_at))}</div>
                            </td>
                            <td><span class=format!("badge {}", match k.status { CredentialStatus::Active => "ok", CredentialStatus::Revoked => "bad", CredentialStatus::Superseded => "busy" })>{k.status.as_str()}</span>
                                <div class="muted small">{tested}</div></td>
                            <td class="small">{k.last_used_at.map_or_else(|| "never".to_owned(), format_utc)}</td>
                            <td class="actions">
                                {live.then(move || view! {
                                    <ActionForm action=test>
                                        <input type="hidden" name="id" value=test_id/>
                                        <button type="submit" class="small-button">"Test"</button>
                                    </ActionForm>
                                    <details>
                                        <summary>"Rotate…"</summary>
                                        <ActionForm action=rotate>
                                            <input type="hidden" name="id" value=rotate_id/>
                                            <label>"New key"<input type="password" name="api_key" autocomplete="off"/></label>
                                            <button type="submit" class="small-button">"Rotate"</button>
                                        </ActionForm>
                                    </details>
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="id" value=revoke_id/>
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
