//! One run on record (`/runs/{id}`): its input and output (JSON pretty-printed), status and
//! error (kind, message, field errors), the agent and version it ran, provider and model, who
//! started it and from where, tokens, cost with its source, latency and time to first token —
//! and every provider call it made (number, HTTP status, error class, time waited, latency,
//! tokens). Server-rendered: it reads the same without JavaScript.

use galaxy_core::pricing::format_cost;
use galaxy_core::runs::{AttemptView, RunView};
use galaxy_core::timefmt::format_utc;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use crate::api::runs::{ReplayRun, RunDetail, get_run_detail};
use crate::components::{ErrorNotice, StatusBadge};

#[component]
pub fn RunDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let detail = Resource::new(id, get_run_detail);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(error) => view! {
                        <h1>"Run"</h1>
                        <ErrorNotice error/>
                        <p><a href="/">"Dashboard"</a></p>
                    }.into_any(),
                    Ok(detail) => view! { <RunDetailView detail/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// JSON pretty-printed, anything else as it is.
fn pretty(text: &str, is_json: bool) -> String {
    if !is_json && !text.trim_start().starts_with(['{', '[']) {
        return text.to_owned();
    }
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_owned())
}

fn ms(v: Option<i64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v} ms"))
}

#[component]
fn RunDetailView(detail: RunDetail) -> impl IntoView {
    let RunDetail {
        run,
        attempts,
        previous,
        latest_version,
        can_run,
    } = detail;
    let agent = match &run.agent_id {
        Some(id) => view! {
            <a href=format!("/agents/{id}")>{run.agent_name.clone()}</a>
            " · "
            <a href=format!("/agents/{id}/versions/{}", run.agent_version) data-detail="version">{format!("version {}", run.agent_version)}</a>
        }
        .into_any(),
        None => view! { {format!("{} (deleted) · version {}", run.agent_name, run.agent_version)} }
            .into_any(),
    };
    let from = match &run.api_token_name {
        Some(token) => format!("{} · token {token}", run.trigger.as_str()),
        None => run.trigger.as_str().to_owned(),
    };
    view! {
        <div class="panel-head">
            <h1>"Run"</h1>
            <span class="muted"><code>{run.id.clone()}</code></span>
        </div>
        <nav class="row" aria-label="Look back">
            {previous.map(|p| view! {
                <a href=format!("/runs/compare?a={p}&b={}", run.id) data-action="compare-previous">"Compare with the previous run"</a>
            })}
            {run.replay_of.clone().map(|of| view! {
                <a href=format!("/runs/compare?a={of}&b={}", run.id) data-action="compare-replayed">"Compare with the run it replays"</a>
            })}
        </nav>
        <section class="panel run-detail" data-run-id=run.id.clone()>
            <div class="run-head">
                <StatusBadge status=run.status/>
                <span class="muted">{format!("{} · {} · {}", run.mode.as_str(), run.provider, run.model)}</span>
            </div>
            <dl class="usage">
                <dt>"Agent"</dt><dd data-detail="agent">{agent}</dd>
                <dt>"Started from"</dt><dd data-detail="trigger">{from}</dd>
                <dt>"Started"</dt><dd>{format_utc(run.created_at)}</dd>
                <dt>"Finished"</dt><dd>{run.finished_at.map_or_else(|| "—".to_owned(), format_utc)}</dd>
                <dt>"Tokens"</dt><dd data-detail="tokens">{format!("{} prompt + {} completion = {}", run.prompt_tokens, run.completion_tokens, run.total_tokens)}</dd>
                <dt>"Cost"</dt><dd data-detail="cost">{format!("{} ({})", format_cost(run.cost_micros), run.cost_source.as_str())}</dd>
                <dt>"Price table"</dt><dd data-detail="price_version">{run.price_table_version.clone().unwrap_or_else(|| "—".to_owned())}</dd>
                <dt>"Latency"</dt><dd>{format!("{} ms", run.latency_ms)}</dd>
                <dt>"First token"</dt><dd>{ms(run.ttft_ms)}</dd>
                <dt>"Finish reason"</dt><dd>{run.finish_reason.clone().unwrap_or_else(|| "—".to_owned())}</dd>
            </dl>
            <RunError run=run.clone()/>
            <h2>"Input"</h2>
            <pre class="run-output" aria-label="Input">{pretty(&run.input, false)}</pre>
            <h2>"Output"</h2>
            {match &run.output {
                Some(o) => view! { <pre class="run-output" aria-label="Output">{pretty(o, run.output_is_json)}</pre> }.into_any(),
                None => view! { <p class="muted">"No output."</p> }.into_any(),
            }}
            <h2>"Provider calls"</h2>
            <Attempts attempts/>
        </section>
        {(can_run && latest_version.is_some()).then(|| view! {
            <ReplayForm run=run.clone() latest=latest_version.unwrap_or(1)/>
        })}
    }
}

/// Replay: this run's input again, on the version and model chosen, in mock or live mode; the
/// new run opens side by side with this one.
#[component]
fn ReplayForm(run: RunView, latest: i64) -> impl IntoView {
    let replay = ServerAction::<ReplayRun>::new();
    let pending = replay.pending();
    let versions = (1..=latest)
        .rev()
        .map(|n| {
            let label = if n == latest {
                format!("Version {n} (latest)")
            } else if n == run.agent_version {
                format!("Version {n} (this run's)")
            } else {
                format!("Version {n}")
            };
            view! { <option value=n.to_string() selected=n == latest>{label}</option> }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="replay">
            <h2 id="replay">"Replay"</h2>
            <p class="muted">"Run this input again, on the latest version or an older one, or with another model."</p>
            <ActionForm action=replay>
                <input type="hidden" name="run_id" value=run.id.clone()/>
                <div class="row">
                    <label class="grow">"Version" <select name="version">{versions}</select></label>
                    <label class="grow">"Model" <input name="model" placeholder=format!("the version's ({})", run.model)/></label>
                    <label>"Mode"
                        <select name="mode">
                            <option value="mock" selected=run.mode == galaxy_core::runs::RunMode::Mock>"Mock"</option>
                            <option value="live" selected=run.mode == galaxy_core::runs::RunMode::Live>"Live"</option>
                        </select>
                    </label>
                    <button type="submit" disabled=pending>"Replay"</button>
                </div>
            </ActionForm>
            {move || replay.value().get().and_then(Result::err).map(|error| view! { <ErrorNotice error/> })}
        </section>
    }
}

#[component]
fn RunError(run: RunView) -> impl IntoView {
    let kind = run.error_kind.clone();
    (kind.is_some() || run.error_message.is_some() || !run.field_errors.is_empty()).then(|| {
        view! {
            <div class="run-error" aria-label="Run error">
                {kind.map(|k| view! { <p><code data-detail="error_kind">{k}</code></p> })}
                {run.error_message.clone().map(|m| view! { <p>{m}</p> })}
                {(!run.field_errors.is_empty()).then(|| view! {
                    <ul class="field-errors">
                        {run.field_errors.iter().map(|e| view! {
                            <li data-field=e.field.clone()><code>{e.field.clone()}</code>" "{e.message.clone()}</li>
                        }).collect_view()}
                    </ul>
                })}
            </div>
        }
    })
}

#[component]
fn Attempts(attempts: Vec<AttemptView>) -> impl IntoView {
    if attempts.is_empty() {
        return view! { <p class="muted">"None: the run never reached a provider."</p> }.into_any();
    }
    let n = |v: Option<i64>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
    view! {
        <table class="attempts">
            <thead><tr><th class="num">"#"</th><th class="num">"HTTP"</th><th>"Error"</th><th class="num">"Waited"</th><th class="num">"Latency"</th><th class="num">"Tokens in / out"</th></tr></thead>
            <tbody>
                {attempts.into_iter().map(|a| view! {
                    <tr data-attempt=a.number.to_string()>
                        <td class="num">{a.number}</td>
                        <td class="num">{n(a.http_status)}</td>
                        <td>{match (a.error_class, a.error_message) {
                            (None, _) => "—".to_owned(),
                            (Some(class), None) => class,
                            (Some(class), Some(message)) => format!("{class}: {message}"),
                        }}</td>
                        <td class="num">{format!("{} ms", a.waited_ms)}</td>
                        <td class="num">{format!("{} ms", a.latency_ms)}</td>
                        <td class="num">{format!("{} / {}", n(a.prompt_tokens), n(a.completion_tokens))}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
