//! Runs through the API: `POST /api/v1/agents/{agent}/runs` (`run` scope) and
//! `GET /api/v1/runs`, `GET /api/v1/runs/{id}` (`read` scope).
//!
//! A run's answer: succeeded and output-invalid runs answer 200 with the run; a run refused for
//! its input answers 422 with the per-field errors; a run that failed (the provider, a stop, an
//! interruption) answers 502 — each error with the recorded run and its id. Streamed
//! (`"stream": true`) answers are server-sent events: `started` (`{run_id}`), `delta`
//! (`{text}`) as the output arrives, then `finished` (`{run}`) — or `error` (`{error}`) when
//! the run could not be recorded. Everything found before the run starts is an error answer,
//! never a stream.

use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use galaxy_app::state::AppState;
use galaxy_core::api_tokens::ApiScope;
use galaxy_core::runs::idempotency::{self, Claim};
use galaxy_core::runs::{
    AttemptView, RunEvent, RunMode, RunQuery, RunRequest, RunStatus, RunTrigger, RunView,
    StartedRun, get_run, list_attempts, query_runs,
};
use galaxy_core::workspaces::Actor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, caller};

/// The body of `POST …/runs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    /// JSON matching the agent's input schema, or text for an agent without one (a JSON string
    /// is taken as that text).
    #[schema(value_type = Object)]
    input: Value,
    /// `live` (the default) or `mock`.
    #[serde(default)]
    mode: Option<RunMode>,
    /// Answer as server-sent events: `started` (`{run_id}`), `delta` (`{text}`) as the output
    /// arrives, then `finished` (`{run}`), or `error` (`{error}`).
    #[serde(default)]
    stream: bool,
    /// Run this version of the agent; without it, the published version (or, when none is
    /// published, the latest).
    #[serde(default)]
    #[schema(minimum = 1)]
    version: Option<i64>,
}

/// Runs an agent: answered whole (the finished run), or streamed as server-sent events.
#[utoipa::path(post, path = "/api/v1/agents/{agent}/runs", tag = "runs",
    params(
        ("agent" = String, Path, description = "The agent's id or slug."),
        ("Idempotency-Key" = Option<String>, Header,
            description = "1 to 255 visible ASCII characters. A retry with the same key and body within 24 h answers the first run; another body with the key is a 422."),
    ),
    request_body = CreateRun,
    responses(
        (status = 200, description = "The run succeeded (or its output did not match the output schema: see status). With stream: true, text/event-stream events started, delta…, finished.",
            content((RunView = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "The body is not a run request, or a bad Idempotency-Key.", body = super::ErrorEnvelope),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 402, description = "The workspace's budget is spent (the run is on record).", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the run scope, or its creator cannot run agents.", body = super::ErrorEnvelope),
        (status = 404, description = "No such agent in the token's workspace.", body = super::ErrorEnvelope),
        (status = 409, description = "A request with this Idempotency-Key is still starting its run.", body = super::ErrorEnvelope),
        (status = 413, description = "The body is larger than 1 MiB.", body = super::ErrorEnvelope),
        (status = 422, description = "input_invalid (per-field errors, the run on record), idempotency_mismatch, or an invalid field (too large an input, a live run without a key).", body = super::ErrorEnvelope),
        (status = 429, description = "Rate limited; Retry-After says when to retry.", body = super::ErrorEnvelope),
        (status = 502, description = "The run failed (the provider, a stop, an interruption); the run is on record.", body = super::ErrorEnvelope),
        (status = 503, description = "The server is busy; Retry-After says when to retry.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["run"])))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(agent): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Run)?.clone();
    let body = super::body_bytes(body)?;
    let request: CreateRun = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("The body is not a valid run request: {e}")))?;
    let input = match request.input {
        Value::String(text) => text,
        other => other.to_string(),
    };
    let run = RunRequest {
        agent_id: agent.clone(),
        input,
        mode: request.mode.unwrap_or(RunMode::Live),
        trigger: RunTrigger::Api,
        stream: request.stream,
        api_token: Some(caller.token_ref()),
        conversation: None,
        version: request.version,
        model: None,
        replay_of: None,
    };

    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match v.to_str().ok().filter(|k| idempotency::valid_key(k)) {
            Some(k) => Some(k.to_owned()),
            None => {
                return Err(ApiError::bad_request(
                    "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                ));
            }
        },
    };
    if let Some(key) = &key {
        let fingerprint = idempotency::fingerprint(&agent, &body);
        match idempotency::claim(&state.db, &actor, key, &fingerprint).await? {
            Claim::New => {}
            Claim::Replay(run_id) => {
                let run = get_run(&state.db, &actor, &run_id).await?;
                return answer_recorded(run, request.stream);
            }
            Claim::InProgress => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "A request with this Idempotency-Key is still starting its run; retry shortly.",
                ));
            }
            Claim::Mismatch => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_mismatch",
                    "This Idempotency-Key was used with a different request in the last 24 hours.",
                ));
            }
        }
    }
    let started = match state.runs.start(&actor, run).await {
        Ok(started) => started,
        Err(e) => {
            if let Some(key) = &key
                && let Err(e) = idempotency::release(&state.db, &actor, key).await
            {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
            return Err(e.into());
        }
    };
    if let Some(key) = &key {
        idempotency::attach(&state.db, &actor, key, &started.run_id).await?;
    }
    let rate = started.rate;
    let mut answer = if request.stream {
        stream(started)
    } else {
        answer_recorded(started.finished().await?, false)
    };
    match &mut answer {
        Ok(response) => super::add_rate_headers(response.headers_mut(), rate),
        Err(e) => e.rate = rate.map(Box::new),
    }
    answer
}

/// The answer for a run that is on record: the run, or the error its status stands for. As a
/// stream: `started` and `finished` (a replayed request, or a run refused before any call).
fn answer_recorded(run: RunView, stream: bool) -> Result<Response, ApiError> {
    match run.status {
        RunStatus::InputInvalid => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "input_invalid",
            run.error_message
                .clone()
                .unwrap_or_else(|| "The input does not match the agent's input schema.".into()),
        )
        .with_fields(run.field_errors.clone())
        .with_run(run)),
        RunStatus::Failed | RunStatus::Cancelled | RunStatus::Interrupted => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "run_failed",
            run.error_message
                .clone()
                .unwrap_or_else(|| "The run failed.".into()),
        )
        .with_run(run)),
        RunStatus::RateLimited => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            run.error_message.clone().unwrap_or_default(),
        )
        .with_run(run)),
        RunStatus::BudgetExceeded => Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "budget_exceeded",
            run.error_message.clone().unwrap_or_default(),
        )
        .with_run(run)),
        _ if stream => {
            let events = [
                event("started", &Started { run_id: &run.id }),
                event("finished", &Finished { run: &run }),
            ];
            Ok(
                Sse::new(futures_util::stream::iter(events.map(Ok::<_, Infallible>)))
                    .into_response(),
            )
        }
        _ => Ok(Json(run).into_response()),
    }
}

#[derive(Serialize)]
struct Started<'a> {
    run_id: &'a str,
}

#[derive(Serialize)]
struct Delta<'a> {
    text: &'a str,
}

#[derive(Serialize)]
struct Finished<'a> {
    run: &'a RunView,
}

fn event<T: Serialize>(name: &str, data: &T) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default())
}

/// A started run as server-sent events. A run refused before its provider call (its input) has
/// already finished: that answers as an error, not a stream.
fn stream(mut started: StartedRun) -> Result<Response, ApiError> {
    let first = started.ready();
    if let Some(RunEvent::Finished(run)) = &first
        && run.status != RunStatus::Succeeded
    {
        return answer_recorded((**run).clone(), true);
    }
    let head = event(
        "started",
        &Started {
            run_id: &started.run_id,
        },
    );
    let events = futures_util::stream::unfold(
        (Some(head), first, Some(started)),
        |(head, first, started)| async move {
            if let Some(head) = head {
                return Some((Ok::<_, Infallible>(head), (None, first, started)));
            }
            let mut started = started?;
            let next = match first {
                Some(event) => Some(event),
                None => started.next().await,
            };
            match next? {
                RunEvent::Delta(text) => Some((
                    Ok(event("delta", &Delta { text: &text })),
                    (None, None, Some(started)),
                )),
                RunEvent::Finished(run) => Some((
                    Ok(event("finished", &Finished { run: &run })),
                    (None, None, None),
                )),
                RunEvent::Failed(e) => {
                    let error = ApiError::from(e);
                    Some((
                        Ok(event(
                            "error",
                            &serde_json::json!({ "error": {
                            "type": error.body.kind, "message": error.body.message } }),
                        )),
                        (None, None, None),
                    ))
                }
            }
        },
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this agent's runs (its id or slug).
    agent: Option<String>,
    /// Only runs with this status (`succeeded`, `failed`, `input_invalid`, …).
    status: Option<String>,
    /// Runs per page, 1 to 100 (20 by default).
    limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of runs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    data: Vec<RunView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// The most runs a page holds.
pub const MAX_PAGE: i64 = 100;

/// The workspace's runs, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(ListQuery),
    responses(
        (status = 200, description = "A page of runs (input and output cut to previews).", body = RunList),
        (status = 400, description = "A bad query (limit, status or cursor).", body = super::ErrorEnvelope),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the read scope.", body = super::ErrorEnvelope),
        (status = 404, description = "No such agent in the token's workspace.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["read"])))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RunList>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Read)?;
    let Query(q) =
        query.map_err(|e| ApiError::bad_request(format!("Bad query: {}", e.body_text())))?;
    let status = q
        .status
        .map(|s| RunStatus::parse(&s))
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!("limit is 1 to {MAX_PAGE}.")));
    }
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let agent_id = match q.agent {
        // A slug names the agent it names now.
        Some(a) => Some(
            galaxy_core::agents::get_agent(&state.db, actor, &a)
                .await?
                .id,
        ),
        None => None,
    };
    let page = query_runs(
        &state.db,
        actor,
        &RunQuery {
            agent_id,
            status,
            before,
            limit,
            ..RunQuery::default()
        },
    )
    .await?;
    Ok(Json(RunList {
        data: page.runs,
        next_cursor: page.next.map(|(at, id)| encode_cursor(at, &id)),
    }))
}

fn encode_cursor(at: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::bad_request("cursor is not one this API gave out.");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

/// A run with its provider calls.
/// One run, whole, with its provider calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetail {
    #[serde(flatten)]
    run: RunView,
    provider_calls: Vec<AttemptView>,
}

/// One run with its provider calls (attempts).
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "The run's id.")),
    responses(
        (status = 200, description = "The run.", body = RunDetail),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the read scope.", body = super::ErrorEnvelope),
        (status = 404, description = "No such run in the token's workspace.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["read"])))]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<RunDetail>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor: &Actor = caller.require(ApiScope::Read)?;
    let run = get_run(&state.db, actor, &id).await?;
    let provider_calls = list_attempts(&state.db, actor, &id).await?;
    Ok(Json(RunDetail {
        run,
        provider_calls,
    }))
}
