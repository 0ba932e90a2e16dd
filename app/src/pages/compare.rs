//! `/runs/compare?a=…&b=…` (or `?run=…&run=…`, the runs page's checkboxes): two runs side by
//! side — status, agent version, model, tokens, cost, latency, time to first token and attempts
//! with the deltas (b − a), the configuration diff of their agent versions and the output diff.
//! Server-rendered: it reads the same without JavaScript.

use galaxy_core::pricing::format_cost;
use galaxy_core::runs::{RunComparison, RunView};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::runs::compare_runs;
use crate::components::{ErrorNotice, StatusBadge};
use crate::diff_view::{ConfigDiffView, OutputDiffView};
use crate::error::AppError;

#[component]
pub fn ComparePage() -> impl IntoView {
    let query = use_query_map();
    let pair = move || {
        let q = query.read();
        let picked = q.get_all("run").unwrap_or_default();
        match (q.get("a"), q.get("b")) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => match picked.as_slice() {
                // The list is newest first: the older run is a.
                [newer, older] => Some((older.clone(), newer.clone())),
                _ => None,
            },
        }
    };
    let comparison = Resource::new(pair, |pair| async move {
        match pair {
            Some((a, b)) => compare_runs(a, b).await.map(Some),
            // Nothing to compare: still a members' page (a visitor is sent to log in).
            None => match crate::api::auth::get_current_user().await? {
                Some(_) => Ok::<_, AppError>(None),
                None => Err(AppError::Unauthenticated),
            },
        }
    });
    view! {
        <div class="panel-head">
            <h1>"Compare runs"</h1>
            <a href="/runs">"All runs"</a>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match comparison.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(None) => view! {
                        <p class="error" role="alert">"Pick two runs to compare: tick two on the runs page."</p>
                    }.into_any(),
                    Ok(Some(c)) => view! { <Comparison c/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// `b − a`, signed (`+12`, `−3`, `0`).
fn delta(a: i64, b: i64, unit: &str) -> String {
    let d = b.saturating_sub(a);
    match d.signum() {
        1 => format!("+{d}{unit}"),
        -1 => format!("−{}{unit}", d.unsigned_abs()),
        _ => format!("0{unit}"),
    }
}

fn cost_delta(a: Option<i64>, b: Option<i64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b >= a => format!("+{}", format_cost(Some(b - a))),
        (Some(a), Some(b)) => format!("−{}", format_cost(Some(a - b))),
        _ => "—".to_owned(),
    }
}

#[component]
fn Comparison(c: RunComparison) -> impl IntoView {
    let RunComparison {
        a,
        b,
        a_attempts,
        b_attempts,
        config,
        output,
    } = c;
    let ttft = |r: &RunView| {
        r.ttft_ms
            .map_or_else(|| "—".to_owned(), |t| format!("{t} ms"))
    };
    let ttft_delta = match (a.ttft_ms, b.ttft_ms) {
        (Some(x), Some(y)) => delta(x, y, " ms"),
        _ => "—".to_owned(),
    };
    let version = |r: &RunView| {
        match &r.agent_id {
        Some(id) => view! {
            <a href=format!("/agents/{id}/versions/{}", r.agent_version)>{format!("{} · version {}", r.agent_name, r.agent_version)}</a>
        }
        .into_any(),
        None => view! { {format!("{} (deleted) · version {}", r.agent_name, r.agent_version)} }.into_any(),
    }
    };
    let same_agent = a.agent_id.is_some() && a.agent_id == b.agent_id;
    let versions_diff = (same_agent && a.agent_version != b.agent_version).then(|| {
        format!(
            "/agents/{}/versions/diff?a={}&b={}",
            a.agent_id.clone().unwrap_or_default(),
            a.agent_version,
            b.agent_version
        )
    });
    let replay_note = b
        .replay_of
        .as_ref()
        .filter(|of| **of == a.id)
        .map(|_| view! { <p class="muted" data-replay="b">"Run B replays run A."</p> });
    view! {
        {replay_note}
        <section class="panel">
            <div class="table-scroll">
            <table class="compare" aria-label="The two runs">
                <thead><tr><th></th><th>"Run A"</th><th>"Run B"</th><th class="num">"B − A"</th></tr></thead>
                <tbody>
                    <tr><th scope="row">"Run"</th>
                        <td><a href=format!("/runs/{}", a.id) data-compare="a">{galaxy_core::timefmt::format_utc(a.created_at)}</a></td>
                        <td><a href=format!("/runs/{}", b.id) data-compare="b">{galaxy_core::timefmt::format_utc(b.created_at)}</a></td><td></td></tr>
                    <tr><th scope="row">"Status"</th><td><StatusBadge status=a.status/></td><td><StatusBadge status=b.status/></td><td></td></tr>
                    <tr><th scope="row">"Agent"</th><td>{version(&a)}</td><td>{version(&b)}</td><td></td></tr>
                    <tr><th scope="row">"Mode · model"</th>
                        <td>{format!("{} · {}", a.mode.as_str(), a.model)}</td>
                        <td>{format!("{} · {}", b.mode.as_str(), b.model)}</td><td></td></tr>
                    <tr data-delta="tokens"><th scope="row">"Tokens"</th><td class="num">{a.total_tokens}</td><td class="num">{b.total_tokens}</td>
                        <td class="num">{delta(a.total_tokens, b.total_tokens, "")}</td></tr>
                    <tr data-delta="cost"><th scope="row">"Cost"</th><td class="num">{format_cost(a.cost_micros)}</td><td class="num">{format_cost(b.cost_micros)}</td>
                        <td class="num">{cost_delta(a.cost_micros, b.cost_micros)}</td></tr>
                    <tr data-delta="latency"><th scope="row">"Latency"</th><td class="num">{format!("{} ms", a.latency_ms)}</td><td class="num">{format!("{} ms", b.latency_ms)}</td>
                        <td class="num">{delta(a.latency_ms, b.latency_ms, " ms")}</td></tr>
                    <tr data-delta="ttft"><th scope="row">"First token"</th><td class="num">{ttft(&a)}</td><td class="num">{ttft(&b)}</td>
                        <td class="num">{ttft_delta}</td></tr>
                    <tr data-delta="attempts"><th scope="row">"Provider calls"</th><td class="num">{a_attempts.len()}</td><td class="num">{b_attempts.len()}</td>
                        <td class="num">{delta(a_attempts.len() as i64, b_attempts.len() as i64, "")}</td></tr>
                </tbody>
            </table>
            </div>
        </section>
        <section class="panel" aria-labelledby="config-diff">
            <div class="panel-head">
                <h2 id="config-diff">"Configuration"</h2>
                {versions_diff.map(|href| view! { <a href=href>"Versions side by side"</a> })}
            </div>
            {match config {
                Some(diff) => view! { <ConfigDiffView diff/> }.into_any(),
                None => view! { <p class="muted">"A run's agent was deleted: its configuration cannot be compared."</p> }.into_any(),
            }}
        </section>
        <section class="panel" aria-labelledby="output-diff">
            <h2 id="output-diff">"Output"</h2>
            <OutputDiffView diff=output/>
            <div class="columns">
                <div><h3>"Run A"</h3><pre class="run-output" aria-label="Output A">{a.output.clone().unwrap_or_default()}</pre></div>
                <div><h3>"Run B"</h3><pre class="run-output" aria-label="Output B">{b.output.clone().unwrap_or_default()}</pre></div>
            </div>
        </section>
    }
}
