//! What the stages of a run share: the request that starts a run, the pipeline's settings, and
//! the dependencies built once at start-up (database, vault, HTTP client, caches, the recorder).
//! Every stage depends on this module; none depends on the pipeline that calls them.

use std::sync::Arc;

use serde_json::Value;

use super::admit::{AdmitAll, Gate};
use super::catalog::Catalog;
use super::in_flight::InFlight;
use super::recorder::Recorder;
use super::{DEFAULT_MAX_OUTPUT_BYTES, RunMode, RunTrigger};
use crate::api_tokens::ApiTokenRef;
use crate::contract::SchemaCache;
use crate::cpu::CpuPool;
use crate::db::Db;
use crate::providers::Turn;
use crate::providers::http::ProviderHttp;
use crate::providers::retry::RetryPolicy;
use crate::vault::Vault;

/// What a caller asks for: one run of an agent of the caller's workspace.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRequest {
    /// The agent's id, or its slug.
    pub agent_id: String,
    /// JSON when the agent has an input schema, else any text.
    pub input: String,
    pub mode: RunMode,
    pub trigger: RunTrigger,
    /// Stream the provider's answer (deltas as they arrive) or ask for it whole.
    pub stream: bool,
    /// The API token the caller used (runs from the API), kept with the run.
    pub api_token: Option<ApiTokenRef>,
    /// A chat caller's extras (the OpenAI-compatible endpoint): its system text, earlier turns and
    /// response format. `None` for every other caller.
    pub conversation: Option<Conversation>,
    /// Run this version of the agent (`None`: the latest for the test panel and the dashboard,
    /// the published one — or else the latest — for the APIs).
    pub version: Option<i64>,
    /// Run with this model instead of the version's (a replay "with another model").
    pub model: Option<String>,
    /// The run this one replays.
    pub replay_of: Option<String>,
}

impl RunRequest {
    /// A run of `agent_id` with `input`, nothing else asked for.
    pub fn new(agent_id: &str, input: &str, mode: RunMode, trigger: RunTrigger) -> RunRequest {
        RunRequest {
            agent_id: agent_id.to_owned(),
            input: input.to_owned(),
            mode,
            trigger,
            stream: false,
            api_token: None,
            conversation: None,
            version: None,
            model: None,
            replay_of: None,
        }
    }
}

/// What a chat caller adds to the agent's own prompt. The agent's system prompt, template, model,
/// temperature and schemas still apply: the caller's system text is appended to the agent's, its
/// earlier turns go between the system prompt and the (rendered) input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conversation {
    /// The caller's system/developer messages, joined.
    pub system: String,
    /// The turns before the last user message, oldest first.
    pub turns: Vec<Turn>,
    /// The caller's `response_format` as a JSON Schema, for an agent without an output schema of
    /// its own.
    pub output_schema: Option<Value>,
}

impl Conversation {
    /// As the run keeps it: `{"system", "messages": [{"role", "content"}], "response_format"}`,
    /// each part only when given; `None` when nothing was.
    pub fn record(&self) -> Option<String> {
        let mut kept = serde_json::Map::new();
        if !self.system.is_empty() {
            kept.insert("system".into(), Value::String(self.system.clone()));
        }
        if !self.turns.is_empty() {
            let messages = self
                .turns
                .iter()
                .map(|t| serde_json::json!({ "role": t.speaker.role(), "content": t.text }))
                .collect();
            kept.insert("messages".into(), Value::Array(messages));
        }
        if let Some(schema) = &self.output_schema {
            kept.insert("response_format".into(), schema.clone());
        }
        (!kept.is_empty()).then(|| Value::Object(kept).to_string())
    }
}

/// Settings of the pipeline.
#[derive(Clone, Debug)]
pub struct RunsConfig {
    /// The run output cap, in bytes.
    pub max_output_bytes: usize,
    pub policy: RetryPolicy,
    pub cpu: CpuPool,
    /// Who admits runs (limits and budgets).
    pub gate: Arc<dyn Gate>,
    /// The instance executing the runs (see `crate::instances`), kept on each run.
    pub instance_id: Option<String>,
    /// Tests only: mock-mode runs follow this script instead of the mock.
    #[cfg(feature = "testing")]
    pub script: Option<crate::providers::scripted::Scripted>,
}

impl Default for RunsConfig {
    fn default() -> Self {
        RunsConfig {
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            policy: RetryPolicy::default(),
            cpu: CpuPool::default(),
            gate: Arc::new(AdmitAll),
            instance_id: None,
            #[cfg(feature = "testing")]
            script: None,
        }
    }
}

/// Everything the stages share; built once at start-up.
#[derive(Debug)]
pub(super) struct Shared {
    pub db: Db,
    pub vault: Arc<Vault>,
    pub http: ProviderHttp,
    pub config: RunsConfig,
    pub schemas: SchemaCache,
    pub in_flight: InFlight,
    pub recorder: Recorder,
    pub catalog: Catalog,
}
