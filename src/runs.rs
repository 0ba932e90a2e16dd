//! Runs: one execution of an agent, kept on record with its input, output, status, tokens, cost
//! and latency, every provider attempt, and per-field validation messages.
//!
//! Flow of [`Runner::run`]: authorise (members and above) → load the agent in the caller's
//! workspace → validate the input against the input schema, compiled once per agent version
//! (invalid: an `input_invalid` run with per-field messages, no provider call, no spend) → render
//! the user message from the prompt template (a template error fails the run, still before any
//! call) → record the run as `running` → call the provider (mock, or live with the workspace's key
//! through the executor) → validate the output against the output schema (`output_invalid` with
//! the validator's messages; for a live run of an agent that asks for it, one repair attempt that
//! shows the model its reply and what was wrong, counted and billed as an attempt) → record the
//! outcome and attempts in one transaction. A run left `running` by a crash is marked
//! `interrupted` at the next start ([`mark_interrupted`]).

use serde::{Deserialize, Serialize};

/// The largest run input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 100 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    Mock,
    Live,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    TestPanel,
    Dashboard,
    Api,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    InputInvalid,
    OutputInvalid,
    RateLimited,
    BudgetExceeded,
    Cancelled,
    Interrupted,
}

macro_rules! str_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
            pub fn parse(s: &str) -> Option<$t> {
                match s { $($s => Some(<$t>::$v),)* _ => None }
            }
        }
    };
}

str_enum!(RunMode { Mock => "mock", Live => "live" });
str_enum!(RunTrigger { TestPanel => "test_panel", Dashboard => "dashboard", Api => "api" });
str_enum!(RunStatus {
    Queued => "queued",
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
    InputInvalid => "input_invalid",
    OutputInvalid => "output_invalid",
    RateLimited => "rate_limited",
    BudgetExceeded => "budget_exceeded",
    Cancelled => "cancelled",
    Interrupted => "interrupted",
});

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
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    /// `None` when unpriced: never shown as $0.
    pub cost_micros: Option<i64>,
    pub cost_source: String,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub attempts: i64,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// Per-field messages of an `input_invalid` / `output_invalid` run (JSON pointers).
    pub field_errors: Vec<crate::validation::FieldError>,
}

/// What the dashboard shows: counts from the database and the latest runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardStats {
    pub agents: i64,
    pub runs: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub total_tokens: i64,
    pub avg_latency_ms: Option<i64>,
    pub recent: Vec<RunView>,
}

/// `$0.001234` from micro-dollars, or "unpriced".
pub fn format_cost(cost_micros: Option<i64>) -> String {
    match cost_micros {
        Some(m) => format!("${}.{:06}", m / 1_000_000, (m % 1_000_000).abs()),
        None => "unpriced".to_owned(),
    }
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use secrecy::ExposeSecret;
    use serde_json::Value;
    use sqlx::Row;
    use sqlx::any::AnyRow;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::agents::{Agent, get_agent};
    use crate::credentials::{ProviderUrls, resolve_for_run};
    use crate::db::{Db, new_id, now_ms};
    use crate::error::CoreError;
    use crate::executor::{AttemptRecord, Execution, RetryPolicy, execute, scrub};
    use crate::pricing::{CostSource, PRICE_TABLE_VERSION, price_usage, workspace_prices};
    use crate::providers::{ChatRequest, MockOutput, Provider, Usage, estimate_tokens, mock_reply};
    use crate::schema::SchemaCache;
    use crate::template::render;
    use crate::validation::FieldError;
    use crate::vault::Vault;
    use crate::workspaces::{Actor, require_builder};

    const RUN_COLUMNS: &str = "id, agent_id, agent_name, agent_version, mode, run_trigger, status, \
        input, output, output_is_json, error_kind, error_message, provider, model, prompt_tokens, \
        completion_tokens, total_tokens, cost_micros, cost_source, latency_ms, ttft_ms, attempts, \
        created_at, finished_at, field_errors";

    fn run_from_row(row: &AnyRow) -> Result<RunView, CoreError> {
        let bad = |what: &str, v: &str| CoreError::Internal(format!("stored {what} {v}"));
        let mode: String = row.try_get("mode")?;
        let trigger: String = row.try_get("run_trigger")?;
        let status: String = row.try_get("status")?;
        let output_is_json: i64 = row.try_get("output_is_json")?;
        let field_errors: Option<String> = row.try_get("field_errors")?;
        let field_errors = match field_errors {
            None => Vec::new(),
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| CoreError::Internal(format!("stored field_errors: {e}")))?,
        };
        Ok(RunView {
            id: row.try_get("id")?,
            agent_id: row.try_get("agent_id")?,
            agent_name: row.try_get("agent_name")?,
            agent_version: row.try_get("agent_version")?,
            mode: RunMode::parse(&mode).ok_or_else(|| bad("mode", &mode))?,
            trigger: RunTrigger::parse(&trigger).ok_or_else(|| bad("trigger", &trigger))?,
            status: RunStatus::parse(&status).ok_or_else(|| bad("status", &status))?,
            input: row.try_get("input")?,
            output: row.try_get("output")?,
            output_is_json: output_is_json != 0,
            error_kind: row.try_get("error_kind")?,
            error_message: row.try_get("error_message")?,
            provider: row.try_get("provider")?,
            model: row.try_get("model")?,
            prompt_tokens: row.try_get("prompt_tokens")?,
            completion_tokens: row.try_get("completion_tokens")?,
            total_tokens: row.try_get("total_tokens")?,
            cost_micros: row.try_get("cost_micros")?,
            cost_source: row.try_get("cost_source")?,
            latency_ms: row.try_get("latency_ms")?,
            ttft_ms: row.try_get("ttft_ms")?,
            attempts: row.try_get("attempts")?,
            created_at: row.try_get("created_at")?,
            finished_at: row.try_get("finished_at")?,
            field_errors,
        })
    }

    fn join_errors(errors: &[crate::validation::FieldError]) -> String {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Something that happens during a run, for a live view.
    #[derive(Clone, Debug, PartialEq)]
    pub enum RunEvent {
        Started { run_id: String },
        Delta(String),
    }

    /// Runs in flight, so a person can stop one (only from the run's workspace).
    #[derive(Clone, Default, Debug)]
    pub struct InFlight(Arc<Mutex<HashMap<String, (String, CancellationToken)>>>);

    impl InFlight {
        fn register(&self, run_id: &str, workspace_id: &str) -> CancellationToken {
            let token = CancellationToken::new();
            if let Ok(mut map) = self.0.lock() {
                map.insert(run_id.to_owned(), (workspace_id.to_owned(), token.clone()));
            }
            token
        }

        fn finish(&self, run_id: &str) {
            if let Ok(mut map) = self.0.lock() {
                map.remove(run_id);
            }
        }

        /// Stops a running run of the caller's workspace; false when there is none.
        pub fn cancel(&self, actor: &Actor, run_id: &str) -> bool {
            let Ok(map) = self.0.lock() else { return false };
            match map.get(run_id) {
                Some((ws, token)) if *ws == actor.workspace_id => {
                    token.cancel();
                    true
                }
                _ => false,
            }
        }

        pub fn len(&self) -> usize {
            self.0.lock().map(|m| m.len()).unwrap_or(0)
        }

        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    /// Everything a run needs besides the database: the vault for keys, one HTTP client (retries
    /// off: the executor owns them), provider URLs, the retry policy, and the in-flight registry.
    #[derive(Clone, Debug)]
    pub struct Runner {
        pub db: Db,
        pub vault: Arc<Vault>,
        pub http: reqwest::Client,
        pub urls: ProviderUrls,
        pub policy: RetryPolicy,
        pub in_flight: InFlight,
        /// Input/output schemas compiled once per agent version.
        pub schemas: SchemaCache,
    }

    /// The HTTP client for provider calls: connect timeout, TCP_NODELAY, no retries (reqwest
    /// has none), no proxy surprises from the environment.
    pub fn provider_http_client() -> Result<reqwest::Client, CoreError> {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| CoreError::Internal(format!("http client: {e}")))
    }

    struct Outcome {
        status: RunStatus,
        output: Option<String>,
        output_is_json: bool,
        error_kind: Option<String>,
        error_message: Option<String>,
        usage: Usage,
        usage_reported: bool,
        attempts: Vec<AttemptRecord>,
        ttft_ms: Option<i64>,
        finish_reason: Option<String>,
        field_errors: Vec<FieldError>,
    }

    impl Outcome {
        fn refused(status: RunStatus, kind: &str, message: String) -> Outcome {
            Outcome {
                status,
                output: None,
                output_is_json: false,
                error_kind: Some(kind.to_owned()),
                error_message: Some(message),
                usage: Usage::default(),
                usage_reported: false,
                attempts: Vec::new(),
                ttft_ms: None,
                finish_reason: None,
                field_errors: Vec::new(),
            }
        }

        fn input_invalid(errors: Vec<FieldError>) -> Outcome {
            let mut o = Outcome::refused(
                RunStatus::InputInvalid,
                "input_invalid",
                join_errors(&errors),
            );
            o.field_errors = errors;
            o
        }
    }

    /// Why a run stops before any provider call.
    enum Refusal {
        Input(Vec<FieldError>),
        Template(String),
    }

    impl Runner {
        /// Runs an agent of the caller's workspace and records the run and its attempts.
        /// Invalid input is not an error: it is a recorded `input_invalid` run with no provider
        /// call. `on_event` sees the run id first, then each piece of output as it arrives.
        #[tracing::instrument(skip(self, input, on_event))]
        pub async fn run(
            &self,
            actor: &Actor,
            agent_id: &str,
            input: &str,
            mode: RunMode,
            trigger: RunTrigger,
            mut on_event: impl FnMut(RunEvent) + Send,
        ) -> Result<RunView, CoreError> {
            require_builder(actor)?;
            if input.len() > MAX_INPUT_BYTES {
                return Err(CoreError::field(
                    "input",
                    &format!(
                        "Input is too large (the limit is {} KiB).",
                        MAX_INPUT_BYTES / 1024
                    ),
                ));
            }
            let db = &self.db;
            let agent = get_agent(db, actor, agent_id).await?;
            let config = &agent.config;

            // Validate input before any spend, then build the user message.
            let parsed = serde_json::from_str::<Value>(input);
            let refused = match (&config.input_schema, &parsed) {
                (Some(_), Err(e)) => Some(Refusal::Input(vec![FieldError::new(
                    "/",
                    format!("Input must be JSON matching the input schema ({e})."),
                )])),
                (Some(schema), Ok(value)) => {
                    let errors = self
                        .schemas
                        .get(&agent.id, agent.version, "input", schema)
                        .map_err(CoreError::Internal)?
                        .errors(value);
                    (!errors.is_empty()).then_some(Refusal::Input(errors))
                }
                (None, _) => None,
            };
            let (refused, user_message) = match refused {
                Some(r) => (Some(r), String::new()),
                None => match render(&config.prompt_template, input, parsed.as_ref().ok()) {
                    Ok(message) => (None, message),
                    Err(why) => (Some(Refusal::Template(why)), String::new()),
                },
            };

            // A live run needs a key for the agent's provider.
            let credential = match (mode, &refused) {
                (RunMode::Live, None) => {
                    match resolve_for_run(db, &self.vault, &self.urls, actor, config.provider)
                        .await?
                    {
                        Some(found) => Some(found),
                        None => {
                            return Err(CoreError::field(
                                "mode",
                                &format!(
                                    "Live runs need a {} key. Add one in Settings → Provider keys.",
                                    config.provider.label()
                                ),
                            ));
                        }
                    }
                }
                _ => None,
            };

            let run_id = new_id();
            let created_at = now_ms();
            let started = Instant::now();
            sqlx::query(
                "INSERT INTO runs (id, workspace_id, agent_id, agent_name, agent_version, mode, \
                 run_trigger, status, input, provider, model, triggered_by, created_at, credential_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9, $10, $11, $12, $13)",
            )
            .bind(&run_id)
            .bind(&actor.workspace_id)
            .bind(&agent.id)
            .bind(&config.name)
            .bind(agent.version)
            .bind(mode.as_str())
            .bind(trigger.as_str())
            .bind(input)
            .bind(config.provider.as_str())
            .bind(&config.model)
            .bind(&actor.user_id)
            .bind(created_at)
            .bind(credential.as_ref().map(|(id, _)| id.clone()))
            .execute(db.pool())
            .await?;
            on_event(RunEvent::Started {
                run_id: run_id.clone(),
            });
            let cancel = self.in_flight.register(&run_id, &actor.workspace_id);

            let request = ChatRequest {
                model: config.model.clone(),
                system: config.system_prompt.clone(),
                user: user_message,
                temperature: config.temperature,
                max_tokens: config.max_tokens,
                output_schema: config.output_schema.clone(),
            };
            let mut secrets: Vec<String> = Vec::new();
            let mut used_credential: Option<String> = None;
            let outcome = match (refused, credential) {
                (Some(Refusal::Input(errors)), _) => Outcome::input_invalid(errors),
                (Some(Refusal::Template(message)), _) => {
                    Outcome::refused(RunStatus::Failed, "template_error", message)
                }
                (None, None) => {
                    let reply = self.mock(&request, &cancel, &mut on_event, started).await;
                    self.validate_output(reply, &agent)?
                }
                (None, Some((credential_id, endpoint))) => {
                    secrets.push(endpoint.api_key.expose_secret().to_owned());
                    let provider = Provider::new(endpoint);
                    let exec = execute(
                        &self.http,
                        &provider,
                        &request,
                        &self.policy,
                        true,
                        &cancel,
                        |d| on_event(RunEvent::Delta(d.to_owned())),
                    )
                    .await;
                    used_credential = Some(credential_id);
                    let first = from_execution(exec, &request);
                    let first = self.validate_output(first, &agent)?;
                    if first.status == RunStatus::OutputInvalid && config.repair_output {
                        self.repair(first, &agent, &provider, &request, &cancel, &mut on_event)
                            .await?
                    } else {
                        first
                    }
                }
            };
            self.in_flight.finish(&run_id);
            let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
            self.record(
                actor,
                &run_id,
                config.provider.as_str(),
                &config.model,
                outcome,
                started,
                &secret_refs,
                used_credential.as_deref(),
            )
            .await
        }

        /// The mock provider, streamed in a few pieces over its simulated latency.
        async fn mock(
            &self,
            request: &ChatRequest,
            cancel: &CancellationToken,
            on_event: &mut (impl FnMut(RunEvent) + Send),
            started: Instant,
        ) -> Outcome {
            let reply = mock_reply(
                &request.model,
                &request.system,
                &request.user,
                request.output_schema.as_ref(),
            );
            let text = reply.output.render();
            let pieces = split_pieces(&text, 8);
            let pause = Duration::from_millis(reply.simulated_latency_ms.div_ceil(8));
            let mut ttft_ms = None;
            for piece in pieces {
                tokio::select! {
                    () = cancel.cancelled() => {
                        let mut o = Outcome::refused(RunStatus::Cancelled, "cancelled", "Stopped by the user.".into());
                        o.ttft_ms = ttft_ms;
                        return o;
                    }
                    () = tokio::time::sleep(pause) => {}
                }
                if ttft_ms.is_none() {
                    ttft_ms = Some(millis(started.elapsed()));
                }
                on_event(RunEvent::Delta(piece));
            }
            Outcome {
                status: RunStatus::Succeeded,
                output_is_json: matches!(reply.output, MockOutput::Json(_)),
                output: Some(text),
                error_kind: None,
                error_message: None,
                usage: Usage {
                    prompt_tokens: reply.prompt_tokens,
                    completion_tokens: reply.completion_tokens,
                },
                usage_reported: false,
                attempts: vec![AttemptRecord {
                    number: 1,
                    status: None,
                    error_class: None,
                    error_message: None,
                    waited_ms: 0,
                    latency_ms: millis(started.elapsed()),
                    usage: None,
                }],
                ttft_ms,
                finish_reason: Some("stop".into()),
                field_errors: Vec::new(),
            }
        }

        /// Checks a successful output against the agent's output schema (JSON is stored
        /// pretty-printed); a run already judged is returned as it is.
        fn validate_output(&self, mut o: Outcome, agent: &Agent) -> Result<Outcome, CoreError> {
            let (Some(schema), RunStatus::Succeeded, Some(text)) =
                (&agent.config.output_schema, o.status, o.output.clone())
            else {
                return Ok(o);
            };
            let errors = match serde_json::from_str::<Value>(&text) {
                Err(e) => vec![FieldError::new(
                    "/",
                    format!("The output is not JSON ({e})."),
                )],
                Ok(value) => {
                    o.output = Some(serde_json::to_string_pretty(&value).unwrap_or(text));
                    o.output_is_json = true;
                    self.schemas
                        .get(&agent.id, agent.version, "output", schema)
                        .map_err(CoreError::Internal)?
                        .errors(&value)
                }
            };
            if !errors.is_empty() {
                // The reply, its usage and attempts stay on record, marked invalid.
                o.status = RunStatus::OutputInvalid;
                o.error_kind = Some("output_invalid".into());
                o.error_message = Some(join_errors(&errors));
                o.field_errors = errors;
            }
            Ok(o)
        }

        /// The one repair attempt: the model sees its reply and what was wrong with it, and is
        /// asked again. Counted as an attempt; tokens of both calls are billed.
        async fn repair(
            &self,
            first: Outcome,
            agent: &Agent,
            provider: &Provider,
            request: &ChatRequest,
            cancel: &CancellationToken,
            on_event: &mut (impl FnMut(RunEvent) + Send),
        ) -> Result<Outcome, CoreError> {
            let mut first = first;
            if let Some(last) = first.attempts.last_mut() {
                last.error_class = Some("output_invalid".into());
                last.error_message = first.error_message.clone();
            }
            let repair = ChatRequest {
                user: format!(
                    "{}\n\nYour previous reply was:\n{}\n\nIt does not match the required JSON \
                     Schema:\n{}\n\nReply again with only JSON that matches the schema.",
                    request.user,
                    first.output.as_deref().unwrap_or_default(),
                    first.error_message.as_deref().unwrap_or_default(),
                ),
                ..request.clone()
            };
            on_event(RunEvent::Delta("\n\n[repair attempt]\n".into()));
            let exec = execute(
                &self.http,
                provider,
                &repair,
                &self.policy,
                true,
                cancel,
                |d| on_event(RunEvent::Delta(d.to_owned())),
            )
            .await;
            let mut second = self.validate_output(from_execution(exec, &repair), agent)?;
            let offset = u32::try_from(first.attempts.len()).unwrap_or(0);
            for a in &mut second.attempts {
                a.number += offset;
            }
            let mut attempts = std::mem::take(&mut first.attempts);
            attempts.append(&mut second.attempts);
            let usage = Usage {
                prompt_tokens: first.usage.prompt_tokens + second.usage.prompt_tokens,
                completion_tokens: first.usage.completion_tokens + second.usage.completion_tokens,
            };
            let usage_reported = first.usage_reported && second.usage_reported;
            let first_ttft = first.ttft_ms;
            let mut out = match second.status {
                RunStatus::Succeeded | RunStatus::OutputInvalid | RunStatus::Cancelled => second,
                // The repair call itself failed: keep the invalid output and say why.
                _ => {
                    let why = second.error_message.unwrap_or_default();
                    first.error_message = Some(format!(
                        "{}\nThe repair attempt failed: {why}",
                        first.error_message.unwrap_or_default()
                    ));
                    first
                }
            };
            out.attempts = attempts;
            out.usage = usage;
            out.usage_reported = usage_reported;
            out.ttft_ms = first_ttft.or(out.ttft_ms);
            Ok(out)
        }

        /// Writes the outcome and every attempt in one transaction, then reads the run back.
        #[expect(
            clippy::too_many_arguments,
            reason = "one call site; the pieces of a finished run"
        )]
        async fn record(
            &self,
            actor: &Actor,
            run_id: &str,
            provider: &str,
            model: &str,
            outcome: Outcome,
            started: Instant,
            secrets: &[&str],
            credential_id: Option<&str>,
        ) -> Result<RunView, CoreError> {
            // No provider call (invalid input, stopped before the call): nothing was spent.
            let (cost, source) = if outcome.attempts.is_empty() {
                (Some(0), CostSource::Estimated)
            } else {
                let overrides = workspace_prices(&self.db, &actor.workspace_id).await?;
                price_usage(
                    &overrides,
                    provider,
                    model,
                    outcome.usage,
                    outcome.usage_reported,
                )
            };
            let latency_ms = millis(started.elapsed());
            let clean = |s: Option<String>| s.map(|m| scrub(&m, secrets));
            let mut tx = self.db.pool().begin().await?;
            let row = sqlx::query(&format!(
                "UPDATE runs SET status = $1, output = $2, output_is_json = $3, error_kind = $4, \
                 error_message = $5, prompt_tokens = $6, completion_tokens = $7, total_tokens = $8, \
                 cost_micros = $9, cost_source = $10, price_table_version = $11, latency_ms = $12, \
                 ttft_ms = $13, attempts = $14, finish_reason = $15, field_errors = $16, \
                 finished_at = $17 WHERE id = $18 AND workspace_id = $19 RETURNING {RUN_COLUMNS}"
            ))
            .bind(outcome.status.as_str())
            .bind(clean(outcome.output))
            .bind(i64::from(outcome.output_is_json))
            .bind(outcome.error_kind)
            .bind(clean(outcome.error_message))
            .bind(outcome.usage.prompt_tokens)
            .bind(outcome.usage.completion_tokens)
            .bind(outcome.usage.total())
            .bind(cost)
            .bind(source.as_str())
            .bind(PRICE_TABLE_VERSION)
            .bind(latency_ms)
            .bind(outcome.ttft_ms)
            .bind(i64::try_from(outcome.attempts.len()).unwrap_or(0))
            .bind(outcome.finish_reason)
            .bind(
                (!outcome.field_errors.is_empty())
                    .then(|| serde_json::to_string(&outcome.field_errors).unwrap_or_default()),
            )
            .bind(now_ms())
            .bind(run_id)
            .bind(&actor.workspace_id)
            .fetch_one(&mut *tx)
            .await?;
            for a in &outcome.attempts {
                sqlx::query(
                    "INSERT INTO run_attempts (run_id, workspace_id, number, http_status, error_class, \
                     error_message, waited_ms, latency_ms, prompt_tokens, completion_tokens) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(run_id)
                .bind(&actor.workspace_id)
                .bind(i64::from(a.number))
                .bind(a.status.map(i64::from))
                .bind(a.error_class.clone())
                .bind(clean(a.error_message.clone()))
                .bind(a.waited_ms)
                .bind(a.latency_ms)
                .bind(a.usage.map(|u| u.prompt_tokens))
                .bind(a.usage.map(|u| u.completion_tokens))
                .execute(&mut *tx)
                .await?;
            }
            if let Some(id) = credential_id {
                sqlx::query("UPDATE provider_credentials SET last_used_at = $1 WHERE id = $2")
                    .bind(now_ms())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            let run = run_from_row(&row)?;
            tracing::info!(
                run_id,
                status = run.status.as_str(),
                latency_ms,
                "run finished"
            );
            Ok(run)
        }
    }

    fn millis(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }

    /// Splits text into at most `n` pieces on character boundaries.
    fn split_pieces(text: &str, n: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() {
            return Vec::new();
        }
        let size = chars.len().div_ceil(n.max(1));
        chars.chunks(size).map(|c| c.iter().collect()).collect()
    }

    fn from_execution(exec: Execution, request: &ChatRequest) -> Outcome {
        let Execution {
            result,
            attempts,
            ttft_ms,
            cancelled,
        } = exec;
        match result {
            Ok(resp) => {
                let usage_reported = resp.usage.is_some();
                let usage = resp.usage.unwrap_or_else(|| Usage {
                    prompt_tokens: estimate_tokens(&request.system)
                        + estimate_tokens(&request.user),
                    completion_tokens: estimate_tokens(&resp.text),
                });
                Outcome {
                    status: RunStatus::Succeeded,
                    output: Some(resp.text),
                    output_is_json: false,
                    error_kind: None,
                    error_message: None,
                    usage,
                    usage_reported,
                    attempts,
                    ttft_ms,
                    finish_reason: resp.finish_reason.map(|f| format!("{f:?}").to_lowercase()),
                    field_errors: Vec::new(),
                }
            }
            Err(_) if cancelled => {
                let mut o = Outcome::refused(
                    RunStatus::Cancelled,
                    "cancelled",
                    "Stopped by the user.".into(),
                );
                o.attempts = attempts;
                o.ttft_ms = ttft_ms;
                o
            }
            Err(e) => {
                let status = if e.status() == Some(429) {
                    RunStatus::RateLimited
                } else {
                    RunStatus::Failed
                };
                let mut o = Outcome::refused(status, e.class(), e.explain());
                o.attempts = attempts;
                o.ttft_ms = ttft_ms;
                o
            }
        }
    }

    /// The latest runs of the workspace, or of one agent, newest first; `limit` is capped at 100.
    #[tracing::instrument(skip(db))]
    pub async fn list_runs(
        db: &Db,
        actor: &Actor,
        agent_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunView>, CoreError> {
        let limit = limit.clamp(1, 100);
        let rows = match agent_id {
            Some(agent_id) => {
                sqlx::query(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE workspace_id = $1 AND agent_id = $2 \
                     ORDER BY created_at DESC, id DESC LIMIT $3"
                ))
                .bind(&actor.workspace_id)
                .bind(agent_id)
                .bind(limit)
                .fetch_all(db.pool())
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE workspace_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(&actor.workspace_id)
                .bind(limit)
                .fetch_all(db.pool())
                .await?
            }
        };
        rows.iter().map(run_from_row).collect()
    }

    /// One run of the caller's workspace.
    pub async fn get_run(db: &Db, actor: &Actor, id: &str) -> Result<RunView, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE id = $1 AND workspace_id = $2"
        ))
        .bind(id)
        .bind(&actor.workspace_id)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
        run_from_row(&row)
    }

    /// Counts and latest runs for the dashboard.
    #[tracing::instrument(skip(db))]
    pub async fn dashboard(db: &Db, actor: &Actor) -> Result<DashboardStats, CoreError> {
        let agents = crate::agents::count_agents(db, actor).await?;
        let row = sqlx::query(
            "SELECT COUNT(*) AS runs, \
             CAST(COALESCE(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0) AS BIGINT) AS ok, \
             CAST(COALESCE(SUM(CASE WHEN status IN ('failed', 'input_invalid', 'output_invalid', \
               'rate_limited', 'budget_exceeded', 'interrupted') THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed, \
             CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT) AS tokens, \
             CAST(AVG(CASE WHEN status = 'succeeded' THEN latency_ms END) AS BIGINT) AS latency \
             FROM runs WHERE workspace_id = $1",
        )
        .bind(&actor.workspace_id)
        .fetch_one(db.pool())
        .await?;
        Ok(DashboardStats {
            agents,
            runs: row.try_get("runs")?,
            succeeded: row.try_get("ok")?,
            failed: row.try_get("failed")?,
            total_tokens: row.try_get("tokens")?,
            avg_latency_ms: row.try_get("latency")?,
            recent: list_runs(db, actor, None, 10).await?,
        })
    }

    /// Marks runs left `queued`/`running` by a crash or kill as `interrupted`; returns how many.
    pub async fn mark_interrupted(db: &Db) -> Result<u64, CoreError> {
        let done = sqlx::query(
            "UPDATE runs SET status = 'interrupted', error_kind = 'interrupted', \
             error_message = 'The server stopped before this run finished.', finished_at = $1 \
             WHERE status IN ('queued', 'running')",
        )
        .bind(now_ms())
        .execute(db.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for s in [
            RunStatus::Queued,
            RunStatus::Running,
            RunStatus::Succeeded,
            RunStatus::Failed,
            RunStatus::InputInvalid,
            RunStatus::OutputInvalid,
            RunStatus::RateLimited,
            RunStatus::BudgetExceeded,
            RunStatus::Cancelled,
            RunStatus::Interrupted,
        ] {
            assert_eq!(RunStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(RunMode::parse("live"), Some(RunMode::Live));
        assert_eq!(RunTrigger::parse("api"), Some(RunTrigger::Api));
        assert_eq!(RunStatus::parse("done"), None);
    }

    #[test]
    fn cost_formatting_never_shows_unpriced_as_zero() {
        assert_eq!(format_cost(None), "unpriced");
        assert_eq!(format_cost(Some(0)), "$0.000000");
        assert_eq!(format_cost(Some(1_234_567)), "$1.234567");
    }
}
