//! The account page: change the password (every other session ends), see how many browsers are
//! signed in and sign out everywhere, and the account's latest events (log-ins, failed ones,
//! password changes) with the address each came from.

use galaxy_core::timefmt::format_utc;
use leptos::html::Form;
use leptos::prelude::*;

use crate::api::account::{
    ChangePassword, RenameAccount, SignOutEverywhere, SignOutOtherSessions, account_overview,
};
use crate::components::{ErrorNotice, FieldMessage, form_feedback};

#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let everywhere = ServerAction::<SignOutEverywhere>::new();
    let others = ServerAction::<SignOutOtherSessions>::new();
    let rename = ServerAction::<RenameAccount>::new();
    let (name_errors, name_message) = form_feedback(rename);
    let overview = Resource::new(
        move || {
            (
                change.version().get(),
                others.version().get(),
                rename.version().get(),
            )
        },
        |_| account_overview(),
    );
    view! {
        <h1>"Your account"</h1>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(info) => view! {
                        <p class="muted">{info.display_name.clone()} " · " {info.email.clone()}</p>
                        <div class="columns">
                            <section class="panel">
                                <h2>"Your name"</h2>
                                <ActionForm action=rename>
                                    {move || name_message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                                    <label>"Display name (what your workspaces see)"
                                        <input type="text" name="display_name" required maxlength="80" autocomplete="name"
                                            value=info.display_name.clone()/>
                                    </label>
                                    <FieldMessage errors=name_errors field="display_name"/>
                                    <button type="submit">"Save name"</button>
                                    {move || rename.value().get().and_then(|r| r.ok()).map(|n| view! { <span class="ok" role="status">{format!("Saved: {n}.")}</span> })}
                                </ActionForm>
                                <h2>"Change password"</h2>
                                <ChangePasswordForm change/>
                            </section>
                            <section class="panel">
                                <h2>"Sessions"</h2>
                                <p data-sessions=info.sessions>
                                    {match info.sessions {
                                        1 => "Signed in on this browser only.".to_owned(),
                                        n => format!("Signed in on {n} browsers, this one included."),
                                    }}
                                </p>
                                <div class="row">
                                    <ActionForm action=others>
                                        <button type="submit" data-action="sign-out-others">"Sign out other sessions"</button>
                                    </ActionForm>
                                    <ActionForm action=everywhere>
                                        <button type="submit" class="danger">"Sign out everywhere"</button>
                                    </ActionForm>
                                </div>
                                {move || others.value().get().and_then(|r| r.ok()).map(|n| view! { <p class="ok" role="status">{format!("{n} other sessions ended.")}</p> })}
                                {move || everywhere.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorNotice error/> })}
                                <h2>"Recent activity"</h2>
                                <table class="events">
                                    <thead><tr><th>"When"</th><th>"What"</th><th>"From"</th></tr></thead>
                                    <tbody>
                                        {info.events.into_iter().map(|e| view! {
                                            <tr data-action=e.action.as_str()>
                                                <td class="small">{format_utc(e.at)}</td>
                                                <td>{e.action.label()}</td>
                                                <td class="small"><code>{if e.client.is_empty() { "—".to_owned() } else { e.client }}</code></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                        </div>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ChangePasswordForm(change: ServerAction<ChangePassword>) -> impl IntoView {
    let form = NodeRef::<Form>::new();
    let (errors, message) = form_feedback(change);
    let done = move || {
        change
            .value()
            .get()
            .and_then(|r| r.ok())
            .map(|ended| match ended {
                0 => "Password changed.".to_owned(),
                1 => "Password changed. 1 other session was signed out.".to_owned(),
                n => format!("Password changed. {n} other sessions were signed out."),
            })
    };
    Effect::new(move |_| {
        if matches!(change.value().get(), Some(Ok(_)))
            && let Some(f) = form.get()
        {
            f.reset();
        }
    });
    view! {
        <ActionForm action=change node_ref=form>
            {move || message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <label>"Current password"
                <input type="password" name="current_password" autocomplete="current-password" required/>
            </label>
            <FieldMessage errors field="current_password"/>
            <label>"New password"
                <input type="password" name="new_password" autocomplete="new-password" required minlength="8" maxlength="128"/>
            </label>
            <FieldMessage errors field="new_password"/>
            <p class="muted small">"Every other browser signed in to your account is signed out."</p>
            <button type="submit" class="primary" disabled=move || change.pending().get()>"Change password"</button>
            {move || done().map(|m| view! { <p class="ok" role="status">{m}</p> })}
        </ActionForm>
    }
}
