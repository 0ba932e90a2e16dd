//! Small building blocks shared by pages: navigation, error notices, field messages, run views.

use galaxy_core::pricing::format_cost;
use galaxy_core::runs::{RunStatus, RunView};
use galaxy_core::timefmt::format_utc;
use galaxy_core::validation::{FieldError, message_for};
use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::Auth;
use crate::api::account::ConfirmPassword as ConfirmPasswordFn;
use crate::error::AppError;

/// The top bar: brand, links, who is signed in, log out.
#[component]
pub fn Nav() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let switch = ServerAction::<crate::api::workspaces::SwitchWorkspace>::new();
    reload_on_success(switch, "/");
    // Admins see the workspace's budget alert on every page until the month or the budget changes.
    let alert = Resource::new(
        move || (auth.log_in.version().get(), auth.log_out.version().get()),
        |_| crate::api::limits::get_budget_alert(),
    );
    view! {
        <header class="topbar">
            <a class="brand" href="/">"✦ Galaxy"</a>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match auth.user.await {
                        Ok(Some(user)) => {
                            let here = user.workspace_name.clone();
                            view! {
                            <nav class="links">
                                <a href="/">"Dashboard"</a>
                                <a href="/agents">"Agents"</a>
                                <a href="/runs">"Runs"</a>
                                {user.role.can_admin().then(|| view! {
                                    <a href="/settings/keys">"Provider keys"</a>
                                    <a href="/settings/prices">"Prices"</a>
                                    <a href="/settings/tokens">"API tokens"</a>
                                    <a href="/settings/limits">"Limits & budget"</a>
                                })}
                                <a href="/settings/members">"Members"</a>
                                {user.role.can_admin().then(|| view! { <a href="/settings/audit">"Audit log"</a> })}
                                <a href="/settings/workspace">"Workspace"</a>
                            </nav>
                            <div class="who" data-account=user.user_id.clone()>
                                <ActionForm action=switch>
                                    <label class="visually-hidden" for="workspace-switcher">"Workspace"</label>
                                    <select name="workspace_id" id="workspace-switcher" data-workspace=here>
                                        {user.workspaces.iter().map(|w| view! {
                                            <option value=w.id.clone() selected=w.id == user.workspace_id>{format!("{} ({})", w.name, w.role.as_str())}</option>
                                        }).collect_view()}
                                    </select>
                                    <button type="submit" class="link-button" data-action="switch-workspace">"Switch"</button>
                                </ActionForm>
                                <a class="muted" href="/account" title=user.email.clone()>
                                    {user.display_name.clone()} " · " {user.workspace_name.clone()}
                                </a>
                                <ActionForm action=auth.log_out>
                                    <button type="submit" class="link-button">"Log out"</button>
                                </ActionForm>
                            </div>
                        }
                        .into_any()},
                        _ => view! {
                            <nav class="links">
                                <a href="/login">"Log in"</a>
                                <a href="/signup">"Sign up"</a>
                            </nav>
                        }
                        .into_any(),
                    }
                })}
            </Transition>
        </header>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                alert.await.ok().flatten().map(|a| view! {
                    <div class="banner warning" role="status" data-banner="budget">
                        {a.message()} " " <a href="/settings/limits">"Limits & budget"</a>
                    </div>
                })
            })}
        </Transition>
    }
}

/// Shows an error; an expired or missing session sends the visitor to the log-in page. A page
/// rendered on the server around a "not found" answers 404 (another workspace's agent page too).
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if error == AppError::NotFound
        && let Some(response) = use_context::<leptos_axum::ResponseOptions>()
    {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    match error {
        AppError::Unauthenticated => view! { <Redirect path="/login"/> }.into_any(),
        other => view! { <p class="error" role="alert">{other.to_string()}</p> }.into_any(),
    }
}

/// What a form shows after its action answered: the field errors under their inputs, and the
/// one message above the form (see `AppError::form_message`).
pub fn form_feedback<A>(
    action: ServerAction<A>,
) -> (Signal<Vec<FieldError>>, Signal<Option<String>>)
where
    A: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    A::Output: Clone + Send + Sync + 'static,
{
    let error = move || action.value().get().and_then(|r| r.err());
    (
        Signal::derive(move || error().map(|e| e.field_errors()).unwrap_or_default()),
        Signal::derive(move || error().and_then(|e| e.form_message())),
    )
}

/// Asks for the password again, for a page whose sensitive action answered `ReauthRequired`
/// (the page renders it anew for each such answer); once it is confirmed the person submits the
/// action again (for the next few minutes without being asked).
#[component]
pub fn ConfirmPassword() -> impl IntoView {
    let confirm = ServerAction::<ConfirmPasswordFn>::new();
    let (errors, message) = form_feedback(confirm);
    let confirmed = move || matches!(confirm.value().get(), Some(Ok(())));
    move || {
        if confirmed() {
            view! {
                <p class="ok-box" role="status">"Password confirmed. Submit again to continue."</p>
            }
            .into_any()
        } else {
            view! {
                    <section class="panel reauth" aria-label="Confirm your password">
                        <p>"This change needs your password. Confirm it to continue."</p>
                        <ActionForm action=confirm>
                            {move || message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                            <label>"Your password"
                                <input type="password" name="password" autocomplete="current-password" required/>
                            </label>
                            <FieldMessage errors field="password"/>
                            <button type="submit" class="primary">"Confirm password"</button>
                        </ActionForm>
                    </section>
                }
                .into_any()
        }
    }
}

/// The message for `field` under its input, if any.
#[component]
pub fn FieldMessage(errors: Signal<Vec<FieldError>>, field: &'static str) -> impl IntoView {
    let id = format!("{}-error", field.replace(['[', ']'], "-"));
    move || {
        errors.with(|errs| {
            message_for(errs, field).map(|m| {
                view! { <p class="field-error" id=id.clone() role="alert">{m.to_owned()}</p> }
            })
        })
    }
}

/// `s` percent-encoded for a query string.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Once `action` succeeds, loads `to` whole (a full page load): for actions that change the
/// session's workspace, after which every resource on the page — the header's too — is stale.
pub fn reload_on_success<A>(action: ServerAction<A>, to: &'static str)
where
    A: leptos::server_fn::ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    A::Output: Clone + Send + Sync + 'static,
{
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(_))) {
            #[cfg(feature = "hydrate")]
            {
                let _ = window().location().set_href(to);
            }
            #[cfg(not(feature = "hydrate"))]
            let _ = to;
        }
    });
}

/// A coloured status label.
#[component]
pub fn StatusBadge(status: RunStatus) -> impl IntoView {
    let class = match status {
        RunStatus::Succeeded => "badge ok",
        RunStatus::Running | RunStatus::Queued => "badge busy",
        _ => "badge bad",
    };
    view! { <span class=class data-status=status.as_str()>{status.label()}</span> }
}

/// The outcome and metrics of one run.
#[component]
pub fn RunResult(run: RunView) -> impl IntoView {
    let output = run.output.clone();
    let error = run.error_message.clone();
    view! {
        <div class="run-result" data-run-id=run.id.clone()>
            <div class="run-head">
                <StatusBadge status=run.status/>
                <span class="muted">{format!("{} · {} · {}", run.mode.as_str(), run.provider, run.model)}</span>
            </div>
            {if run.field_errors.is_empty() {
                error.map(|e| view! { <pre class="run-error" aria-label="Run error">{e}</pre> }).into_any()
            } else {
                view! {
                    <ul class="run-error field-errors" aria-label="Run error">
                        {run.field_errors.iter().map(|e| view! {
                            <li data-field=e.field.clone()><code>{e.field.clone()}</code>" "{e.message.clone()}</li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            {output.map(|o| view! { <pre class="run-output" aria-label="Output">{o}</pre> })}
            <dl class="metrics">
                <div><dt>"Prompt tokens"</dt><dd data-metric="prompt_tokens">{run.prompt_tokens}</dd></div>
                <div><dt>"Completion tokens"</dt><dd data-metric="completion_tokens">{run.completion_tokens}</dd></div>
                <div><dt>"Total tokens"</dt><dd data-metric="total_tokens">{run.total_tokens}</dd></div>
                <div><dt>"Latency"</dt><dd data-metric="latency_ms">{format!("{} ms", run.latency_ms)}</dd></div>
                <div><dt>"Cost"</dt><dd data-metric="cost">{format_cost(run.cost_micros)}</dd></div>
                <div><dt>"Attempts"</dt><dd data-metric="attempts">{run.attempts}</dd></div>
                <div><dt>"First token"</dt><dd data-metric="ttft_ms">{run.ttft_ms.map_or_else(|| "—".to_owned(), |t| format!("{t} ms"))}</dd></div>
                <div><dt>"Cost source"</dt><dd data-metric="cost_source">{run.cost_source.as_str()}</dd></div>
            </dl>
        </div>
    }
}

/// A table of runs, newest first.
///
/// With `pick`, each run has a checkbox of the form `compare-runs` (two ticked → compare).
#[component]
pub fn RunsTable(
    runs: Vec<RunView>,
    #[prop(optional)] show_agent: bool,
    #[prop(optional)] pick: bool,
) -> impl IntoView {
    if runs.is_empty() {
        return view! { <p class="muted">"No runs yet."</p> }.into_any();
    }
    view! {
        <table class="runs">
            <thead>
                <tr>
                    {pick.then(|| view! { <th><span class="visually-hidden">"Compare"</span></th> })}
                    <th>"When"</th>
                    {show_agent.then(|| view! { <th>"Agent"</th> })}
                    <th>"Status"</th>
                    <th>"Mode"</th>
                    <th>"From"</th>
                    <th class="num">"Tokens"</th>
                    <th class="num">"Latency"</th>
                </tr>
            </thead>
            <tbody>
                {runs
                    .into_iter()
                    .map(|run| {
                        let agent = run.agent_id.clone().map_or_else(
                            || view! { <span>{run.agent_name.clone()}</span> }.into_any(),
                            |id| view! { <a href=format!("/agents/{id}")>{run.agent_name.clone()}</a> }.into_any(),
                        );
                        view! {
                            <tr data-run-id=run.id.clone()>
                                {pick.then(|| view! {
                                    <td><input type="checkbox" form="compare-runs" name="run" value=run.id.clone()
                                        aria-label=format!("Compare the run of {}", format_utc(run.created_at))/></td>
                                })}
                                <td><a href=format!("/runs/{}", run.id)>{format_utc(run.created_at)}</a></td>
                                {show_agent.then(|| view! { <td>{agent}</td> })}
                                <td><StatusBadge status=run.status/></td>
                                <td>{run.mode.as_str()}</td>
                                <td data-trigger=run.trigger.as_str()>{match &run.api_token_name {
                                    Some(token) => format!("{} · {token}", run.trigger.as_str()),
                                    None => run.trigger.as_str().to_owned(),
                                }}</td>
                                <td class="num">{run.total_tokens}</td>
                                <td class="num">{format!("{} ms", run.latency_ms)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
