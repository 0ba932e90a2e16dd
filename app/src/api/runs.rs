//! Running agents and reading runs: thin adapters over the run pipeline (`galaxy_core::runs`).

use galaxy_core::runs::{DashboardStats, RunView};
use leptos::prelude::*;
use leptos::server_fn::codec::{StreamingText, TextStream};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One line of a streamed run (newline-delimited JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamMessage {
    Started { run_id: String },
    Delta { text: String },
    Finished { run: Box<RunView> },
    Error { error: AppError },
}

impl StreamMessage {
    /// The message as one NDJSON line.
    pub fn line(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Runs an agent and answers with the finished run (no streaming; forms without JavaScript and
/// simple clients). `mode` is `mock` or `live`. The run goes on and is recorded if the client
/// goes away.
#[server(endpoint = "run_agent")]
pub async fn run_agent(agent_id: String, input: String, mode: String) -> Result<RunView, AppError> {
    use galaxy_core::runs::{RunRequest, RunTrigger};
    let (state, actor) = crate::session::require_actor().await?;
    let request = RunRequest {
        agent_id,
        input,
        mode: parse_mode(&mode)?,
        trigger: RunTrigger::TestPanel,
        stream: false,
    };
    Ok(state.runs.run(&actor, request).await?)
}

#[cfg(feature = "ssr")]
fn parse_mode(mode: &str) -> Result<galaxy_core::runs::RunMode, AppError> {
    galaxy_core::runs::RunMode::parse(mode).map_err(|_| {
        AppError::from_core(galaxy_core::CoreError::field(
            "mode",
            "Choose mock or live.",
        ))
    })
}

/// The UI's triggers: the test panel and the dashboard (the API has its own).
#[cfg(feature = "ssr")]
fn parse_trigger(trigger: &str) -> Result<galaxy_core::runs::RunTrigger, AppError> {
    use galaxy_core::runs::RunTrigger;
    match RunTrigger::parse(trigger) {
        Ok(t @ (RunTrigger::TestPanel | RunTrigger::Dashboard)) => Ok(t),
        _ => Err(AppError::from_core(galaxy_core::CoreError::field(
            "trigger",
            "Runs start from the test panel or the dashboard.",
        ))),
    }
}

/// Runs an agent and streams the run as it happens: `started` (with the run id, for Stop), then
/// `delta`s of output, then `finished` with the recorded run. Everything wrong before the
/// provider call (not signed in, unknown agent, no key, input too large) is an error status,
/// never a 200 followed by an error line; `error` ends the stream only if the finished run could
/// not be recorded. `trigger` is `test_panel` or `dashboard`.
#[server(endpoint = "run_agent_stream", output = StreamingText)]
pub async fn run_agent_stream(
    agent_id: String,
    input: String,
    mode: String,
    trigger: String,
) -> Result<TextStream<AppError>, AppError> {
    use galaxy_core::runs::{RunEvent, RunRequest};
    let (state, actor) = crate::session::require_actor().await?;
    let request = RunRequest {
        agent_id,
        input,
        mode: parse_mode(&mode)?,
        trigger: parse_trigger(&trigger)?,
        stream: true,
    };
    let run = state.runs.start(&actor, request).await?;
    let started = StreamMessage::Started {
        run_id: run.run_id.clone(),
    };
    let rest = futures_util::stream::unfold(Some(run), |run| async move {
        let mut run = run?;
        let message = match run.next().await? {
            RunEvent::Delta(text) => StreamMessage::Delta { text },
            RunEvent::Finished(run) => StreamMessage::Finished { run },
            RunEvent::Failed(e) => StreamMessage::Error {
                error: AppError::from_core(e),
            },
        };
        Some((Ok(message.line()), Some(run)))
    });
    // Lines that are ready together leave together: one write (and one wake-up of the reader)
    // instead of one per delta.
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, AppError>(started.line()) }),
        rest,
    );
    let stream =
        futures_util::StreamExt::map(futures_util::StreamExt::ready_chunks(stream, 64), |lines| {
            lines.into_iter().collect::<Result<String, AppError>>()
        });
    Ok(TextStream::new(stream))
}

/// Stops a running run of the caller's workspace.
#[server(endpoint = "cancel_run")]
pub async fn cancel_run(run_id: String) -> Result<bool, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(state.runs.cancel(&actor, &run_id))
}

/// The latest runs of one agent.
#[server(endpoint = "list_agent_runs")]
pub async fn list_agent_runs(agent_id: String) -> Result<Vec<RunView>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::runs::list_runs(&state.db, &actor, Some(&agent_id), 20).await?)
}

#[server(endpoint = "get_dashboard")]
pub async fn get_dashboard() -> Result<DashboardStats, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::runs::dashboard(&state.db, &actor).await?)
}
