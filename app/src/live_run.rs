//! One streamed run in the browser, shared by the agent's test panel and the dashboard's quick
//! run: starts `run_agent_stream`, appends output as it arrives, keeps the run id for Stop, and
//! ends with the recorded run or an error.

use futures_util::StreamExt;
use galaxy_core::runs::RunView;
use leptos::prelude::*;

use crate::api::runs::{StreamMessage, cancel_run, run_agent_stream};
use crate::components::{ErrorNotice, RunResult};
use crate::error::AppError;

/// The state of the latest streamed run.
#[derive(Clone, Copy)]
pub struct LiveRun {
    pub running: RwSignal<bool>,
    pub run_id: RwSignal<Option<String>>,
    pub streamed: RwSignal<String>,
    pub finished: RwSignal<Option<RunView>>,
    pub failed: RwSignal<Option<AppError>>,
    /// Bumped when a run ends, so run lists can refetch.
    pub version: RwSignal<u32>,
}

impl LiveRun {
    pub fn new() -> LiveRun {
        LiveRun {
            running: RwSignal::new(false),
            run_id: RwSignal::new(None),
            streamed: RwSignal::new(String::new()),
            finished: RwSignal::new(None),
            failed: RwSignal::new(None),
            version: RwSignal::new(0),
        }
    }

    /// Starts a run unless one is running. `trigger` is `test_panel` or `dashboard`.
    pub fn start(self, agent_id: String, input: String, mode: String, trigger: &'static str) {
        if self.running.get_untracked() {
            return;
        }
        self.running.set(true);
        self.run_id.set(None);
        self.streamed.set(String::new());
        self.finished.set(None);
        self.failed.set(None);
        leptos::task::spawn_local(async move {
            match run_agent_stream(agent_id, input, mode, trigger.to_owned()).await {
                Err(e) => self.failed.set(Some(e)),
                Ok(stream) => {
                    let mut stream = stream.into_inner();
                    let mut buf = String::new();
                    while let Some(chunk) = stream.next().await {
                        let Ok(text) = chunk.map_err(|e| self.failed.set(Some(e))) else {
                            break;
                        };
                        buf.push_str(&text);
                        while let Some(i) = buf.find('\n') {
                            let line: String = buf.drain(..=i).collect();
                            self.apply(serde_json::from_str::<StreamMessage>(line.trim()));
                        }
                    }
                }
            }
            self.running.set(false);
            self.version.update(|v| *v += 1);
        });
    }

    fn apply(self, message: Result<StreamMessage, serde_json::Error>) {
        match message {
            Ok(StreamMessage::Started { run_id }) => self.run_id.set(Some(run_id)),
            Ok(StreamMessage::Delta { text }) => self.streamed.update(|s| s.push_str(&text)),
            Ok(StreamMessage::Finished { run }) => self.finished.set(Some(*run)),
            Ok(StreamMessage::Error { error }) => self.failed.set(Some(error)),
            Err(_) => self.failed.set(Some(AppError::Request)),
        }
    }

    /// Asks the server to stop the running run.
    pub fn stop(self) {
        if let Some(id) = self.run_id.get_untracked() {
            leptos::task::spawn_local(async move {
                let _ = cancel_run(id).await;
            });
        }
    }
}

impl Default for LiveRun {
    fn default() -> Self {
        LiveRun::new()
    }
}

/// Run / Stop buttons for a form that starts a [`LiveRun`].
#[component]
pub fn RunButtons(live: LiveRun) -> impl IntoView {
    view! {
        <div class="row">
            <button type="submit" class="primary" disabled=move || live.running.get()>
                {move || if live.running.get() { "Running…" } else { "Run" }}
            </button>
            {move || live.running.get().then(|| view! {
                <button type="button" class="danger" on:click=move |_| live.stop()
                    disabled=move || live.run_id.get().is_none()>"Stop"</button>
            })}
        </div>
    }
}

/// The output as it streams, then the recorded run, or the error.
#[component]
pub fn LiveRunView(live: LiveRun) -> impl IntoView {
    view! {
        {move || (live.running.get() || (live.finished.get().is_none() && !live.streamed.get().is_empty())).then(|| view! {
            <pre class="run-output live" aria-label="Streaming output" aria-live="polite">{move || live.streamed.get()}</pre>
        })}
        {move || live.finished.get().map(|r| view! { <RunResult run=r/> })}
        {move || live.failed.get().map(|error| view! { <ErrorNotice error/> })}
    }
}
