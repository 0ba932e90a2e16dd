//! Running agents and reading runs.

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
/// simple clients). `mode` is `mock` or `live`.
#[server(endpoint = "run_agent")]
pub async fn run_agent(agent_id: String, input: String, mode: String) -> Result<RunView, AppError> {
    use galaxy_core::runs::RunTrigger;
    let (state, actor) = crate::session::require_actor().await?;
    let mode = parse_mode(&mode)?;
    Ok(state
        .runner
        .run(
            &actor,
            &agent_id,
            &input,
            mode,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await?)
}

#[cfg(feature = "ssr")]
fn parse_mode(mode: &str) -> Result<galaxy_core::runs::RunMode, AppError> {
    galaxy_core::runs::RunMode::parse(mode).ok_or_else(|| {
        AppError::from_core(galaxy_core::CoreError::field(
            "mode",
            "Choose mock or live.",
        ))
    })
}

/// Runs an agent and streams the run as it happens: `started` (with the run id, for Stop), then
/// `delta`s of output, then `finished` with the recorded run, or `error`. `trigger` says where
/// the run was started: `test_panel` or `dashboard`.
#[server(endpoint = "run_agent_stream", output = StreamingText)]
pub async fn run_agent_stream(
    agent_id: String,
    input: String,
    mode: String,
    trigger: String,
) -> Result<TextStream<AppError>, AppError> {
    use galaxy_core::runs::{RunEvent, RunTrigger};
    let (state, actor) = crate::session::require_actor().await?;
    let mode = parse_mode(&mode)?;
    let trigger = match trigger.as_str() {
        "dashboard" => RunTrigger::Dashboard,
        _ => RunTrigger::TestPanel,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let runner = state.runner.clone();
    // The run lives on its own task: it is recorded even if the browser goes away.
    tokio::spawn(async move {
        let events = tx.clone();
        let result = runner
            .run(&actor, &agent_id, &input, mode, trigger, move |e| {
                let msg = match e {
                    RunEvent::Started { run_id } => StreamMessage::Started { run_id },
                    RunEvent::Delta(text) => StreamMessage::Delta { text },
                };
                let _ = events.send(msg.line());
            })
            .await;
        let last = match result {
            Ok(run) => StreamMessage::Finished { run: Box::new(run) },
            Err(e) => StreamMessage::Error {
                error: AppError::from_core(e),
            },
        };
        let _ = tx.send(last.line());
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok(line), rx))
    });
    Ok(TextStream::new(stream))
}

/// Stops a running run of the caller's workspace.
#[server(endpoint = "cancel_run")]
pub async fn cancel_run(run_id: String) -> Result<bool, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(state.runner.in_flight.cancel(&actor, &run_id))
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
