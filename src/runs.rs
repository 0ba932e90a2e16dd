//! Runs: one execution of an agent, kept on record with its input, output, status, tokens, cost
//! and latency, every provider attempt, and per-field validation messages.
//!
//! The types here are shared with the browser. On the server a run goes through the stages of
//! [`pipeline`], each a module with a typed hand-off:
//!
//! 1. [`prepare`] — authorise, load the agent version (cached, see [`catalog`]), size checks,
//!    validate the input against the compiled input schema, render the template, open the key;
//! 2. [`admit`] — the workspace's rate limits and budget refuse the run, or count it and
//!    reserve its most possible cost (`crate::limits`), settled once the run is recorded;
//! 3. [`execute`] — one provider call path for mock and live alike (the retry loop in
//!    `providers::retry`), then output validation and the optional repair attempt;
//! 4. [`record`] — price, scrub, and commit the run with its attempts through the
//!    [`recorder`] (group commit) before the run is acknowledged.
//!
//! Errors found before the provider call come back before anything is streamed; refusals that
//! are runs (`input_invalid`, a template error) are recorded runs. Once the `running` row is
//! written, every path ends with a recorded row — success, failure, cancellation, a panic or a
//! client that went away ([`pipeline`] says how). Rows left `running` by a crash become
//! `interrupted` at the next start ([`store::mark_interrupted`]); the dashboard's aggregate is
//! `crate::charts`, [`in_flight`] the registry that lets a person stop a run.

use serde::{Deserialize, Serialize};

use crate::pricing::CostSource;

#[cfg(feature = "server")]
mod admit;
#[cfg(feature = "server")]
mod catalog;
#[cfg(feature = "server")]
mod compare;
#[cfg(feature = "server")]
mod context;
#[cfg(feature = "server")]
mod execute;
#[cfg(feature = "server")]
pub mod idempotency;
#[cfg(feature = "server")]
mod in_flight;
#[cfg(feature = "server")]
mod outcome;
#[cfg(feature = "server")]
mod pipeline;
#[cfg(feature = "server")]
mod prepare;
#[cfg(feature = "server")]
mod record;
#[cfg(feature = "server")]
mod recorder;
#[cfg(feature = "server")]
mod remote_stop;
#[cfg(feature = "server")]
mod store;

#[cfg(test)]
mod tests;

#[cfg(feature = "server")]
pub use crate::api_tokens::ApiTokenRef;
#[cfg(feature = "server")]
pub use admit::{
    Admission, AdmitAll, AdmitRequest, Gate, RateHeaders, Refusal, RefusalKind, Used, Verdict,
};
#[cfg(feature = "server")]
pub use compare::{compare_runs, previous_run, replay_request};
#[cfg(feature = "server")]
pub use context::{Conversation, RunRequest, RunsConfig};
#[cfg(feature = "server")]
pub use in_flight::InFlight;
#[cfg(feature = "server")]
pub use pipeline::{RunEvent, Runs, StartedRun};
#[cfg(feature = "server")]
pub use remote_stop::listen_for_stops;
#[cfg(feature = "server")]
pub use store::{
    MAX_SEARCH_CHARS, RunPage, RunQuery, get_run, list_attempts, list_runs, mark_interrupted,
    query_runs,
};

/// The largest run input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 100 * 1024;
/// The most earlier turns a chat caller may send with a run.
pub const MAX_CONVERSATION_TURNS: usize = 256;
/// The most bytes a chat caller's system text and earlier turns may hold together.
pub const MAX_CONVERSATION_BYTES: usize = 512 * 1024;
pub use crate::providers::DEFAULT_MAX_OUTPUT_BYTES;
/// Characters of input and output a run list carries (a run read by id has them whole).
pub const PREVIEW_CHARS: usize = 2_000;

crate::string_enum! {
    /// How a run reaches a model.
    pub enum RunMode("run mode") {
        /// The built-in mock provider: no key, no spend.
        Mock = "mock",
        /// The agent's provider with the workspace's key.
        Live = "live",
    }
}

crate::string_enum! {
    /// Where a run was started.
    pub enum RunTrigger("run trigger") {
        TestPanel = "test_panel",
        Dashboard = "dashboard",
        Api = "api",
    }
}

crate::string_enum! {
    /// Where a run is, or how it ended.
    pub enum RunStatus("run status") {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        InputInvalid = "input_invalid",
        OutputInvalid = "output_invalid",
        RateLimited = "rate_limited",
        BudgetExceeded = "budget_exceeded",
        Cancelled = "cancelled",
        Interrupted = "interrupted",
    }
}

impl RunStatus {
    /// Human wording for the UI.
    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Queued => "Queued",
            RunStatus::Running => "Running",
            RunStatus::Succeeded => "Succeeded",
            RunStatus::Failed => "Failed",
            RunStatus::InputInvalid => "Invalid input",
            RunStatus::OutputInvalid => "Invalid output",
            RunStatus::RateLimited => "Rate limited",
            RunStatus::BudgetExceeded => "Over budget",
            RunStatus::Cancelled => "Cancelled",
            RunStatus::Interrupted => "Interrupted",
        }
    }
}

/// A run as the UI shows it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    pub id: String,
    pub agent_id: Option<String>,
    pub agent_name: String,
    pub agent_version: i64,
    pub mode: RunMode,
    pub trigger: RunTrigger,
    pub status: RunStatus,
    pub input: String,
    pub output: Option<String>,
    pub output_is_json: bool,
    /// Input and output are cut to [`PREVIEW_CHARS`] characters (in a list of runs).
    #[serde(default)]
    pub preview: bool,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    /// `None` when unpriced: never shown as $0.
    pub cost_micros: Option<i64>,
    pub cost_source: CostSource,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub attempts: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// Per-field messages of an `input_invalid` / `output_invalid` run (JSON pointers).
    pub field_errors: Vec<crate::validation::FieldError>,
    /// The name of the API token the run was started with (runs from the API).
    #[serde(default)]
    pub api_token_name: Option<String>,
    /// Why the model stopped (`stop`, `length`, `tool_use`, `content_filter`, or the provider's
    /// word), when it said.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// What a chat caller (the OpenAI-compatible endpoint) sent besides the input:
    /// `{"system", "messages": [{"role", "content"}], "response_format"}`, each when given.
    /// Only on a run read by id (not in lists, nor in the view a finishing run answers with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<serde_json::Value>,
    /// The version of the shipped price table the cost was worked out with (ended runs).
    #[serde(default)]
    pub price_table_version: Option<String>,
    /// The run this one replays (`POST …/replay`, the run page's Replay).
    #[serde(default)]
    pub replay_of: Option<String>,
}

/// One provider call of a run, as recorded.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    pub number: i64,
    pub http_status: Option<i64>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    /// Time waited before this attempt (backoff), in ms.
    pub waited_ms: i64,
    pub latency_ms: i64,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

/// Two runs side by side: the runs whole with their attempts, how their agent versions differ
/// and how their outputs differ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunComparison {
    pub a: RunView,
    pub b: RunView,
    pub a_attempts: Vec<AttemptView>,
    pub b_attempts: Vec<AttemptView>,
    /// The configuration diff of the two versions (empty when they ran the same one); `None`
    /// when a version cannot be read (its agent was deleted).
    pub config: Option<crate::diff::Bounded<Vec<crate::diff::FieldDiff>>>,
    pub output: crate::diff::Bounded<crate::diff::OutputDiff>,
}

/// How to replay a run: its input again, on the agent's latest version or an older one, with
/// the version's model or another, in mock or live mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    pub run_id: String,
    /// `None`: the latest version.
    pub version: Option<i64>,
    /// `None`: the version's model.
    pub model: Option<String>,
    pub mode: RunMode,
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_unknown_values_are_errors() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Ok(*s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(RunStatus::ALL.len(), 10);
        assert_eq!(RunMode::parse("live"), Ok(RunMode::Live));
        assert_eq!(RunTrigger::parse("api"), Ok(RunTrigger::Api));
        assert!(RunStatus::parse("done").is_err());
        // An unknown trigger is an error, never silently the test panel.
        let err = RunTrigger::parse("webhook").unwrap_err();
        assert_eq!(err.to_string(), "unknown run trigger \"webhook\"");
        assert!(serde_json::from_str::<RunTrigger>("\"webhook\"").is_err());
    }
}
