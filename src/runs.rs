//! Runs: one execution of an agent, kept on record with its input, output, status, tokens, cost
//! and latency. This executor is the mock path; the live path (providers, retries,
//! attempts, pricing) plugs into the same record.
//!
//! Flow of [`run_agent`]: authorise (members and above) → load the agent in the caller's
//! workspace → validate the input against the input schema (invalid: an `input_invalid` run, no
//! provider call) → record the run as `running` → call the provider → validate the output against
//! the output schema (`output_invalid` when it fails) → record the outcome. A run left `running`
//! by a crash is marked `interrupted` at the next start ([`mark_interrupted`]).

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
    use std::time::{Duration, Instant};

    use serde_json::Value;
    use sqlx::Row;
    use sqlx::any::AnyRow;

    use super::*;
    use crate::agents::get_agent;
    use crate::db::{Db, new_id, now_ms};
    use crate::error::CoreError;
    use crate::providers::{MockOutput, mock_reply};
    use crate::schema::compile;
    use crate::workspaces::{Actor, require_builder};

    const RUN_COLUMNS: &str = "id, agent_id, agent_name, agent_version, mode, run_trigger, status, \
        input, output, output_is_json, error_kind, error_message, provider, model, prompt_tokens, \
        completion_tokens, total_tokens, cost_micros, cost_source, latency_ms, ttft_ms, attempts, \
        created_at, finished_at";

    fn run_from_row(row: &AnyRow) -> Result<RunView, CoreError> {
        let bad = |what: &str, v: &str| CoreError::Internal(format!("stored {what} {v}"));
        let mode: String = row.try_get("mode")?;
        let trigger: String = row.try_get("run_trigger")?;
        let status: String = row.try_get("status")?;
        let output_is_json: i64 = row.try_get("output_is_json")?;
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
        })
    }

    /// How a run ended, before it is written.
    struct Outcome {
        status: RunStatus,
        output: Option<String>,
        output_is_json: bool,
        error_kind: Option<&'static str>,
        error_message: Option<String>,
        prompt_tokens: i64,
        completion_tokens: i64,
        attempts: i64,
    }

    impl Outcome {
        fn refused(status: RunStatus, kind: &'static str, message: String) -> Outcome {
            Outcome {
                status,
                output: None,
                output_is_json: false,
                error_kind: Some(kind),
                error_message: Some(message),
                prompt_tokens: 0,
                completion_tokens: 0,
                attempts: 0,
            }
        }
    }

    fn join_errors(errors: &[crate::validation::FieldError]) -> String {
        errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs an agent of the caller's workspace and records the run. Invalid input is not an
    /// error: it is a recorded `input_invalid` run (no provider call), returned like any other.
    #[tracing::instrument(skip(db, input))]
    pub async fn run_agent(
        db: &Db,
        actor: &Actor,
        agent_id: &str,
        input: &str,
        mode: RunMode,
        trigger: RunTrigger,
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
        if mode == RunMode::Live {
            return Err(CoreError::field(
                "mode",
                "Live runs need a provider key; use mock mode for now.",
            ));
        }
        let agent = get_agent(db, actor, agent_id).await?;
        let config = &agent.config;
        let started = Instant::now();
        let created_at = now_ms();
        let run_id = new_id();

        // Validate input before any spend.
        let refused = match &config.input_schema {
            None => None,
            Some(schema) => match serde_json::from_str::<Value>(input) {
                Err(e) => Some(format!(
                    "/: input must be JSON matching the input schema ({e})"
                )),
                Ok(value) => {
                    let compiled = compile(schema).map_err(CoreError::Internal)?;
                    let errors = compiled.errors(&value);
                    (!errors.is_empty()).then(|| join_errors(&errors))
                }
            },
        };

        sqlx::query(&format!(
            "INSERT INTO runs (id, workspace_id, agent_id, agent_name, agent_version, mode, \
             run_trigger, status, input, provider, model, triggered_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, '{}', $8, $9, $10, $11, $12)",
            RunStatus::Running.as_str()
        ))
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
        .execute(db.pool())
        .await?;

        let outcome = match refused {
            Some(message) => Outcome::refused(RunStatus::InputInvalid, "input_invalid", message),
            None => {
                let reply = mock_reply(
                    &config.model,
                    &config.system_prompt,
                    input,
                    config.output_schema.as_ref(),
                );
                tokio::time::sleep(Duration::from_millis(reply.simulated_latency_ms)).await;
                let (status, error_kind, error_message) =
                    match (&reply.output, &config.output_schema) {
                        (MockOutput::Json(v), Some(schema)) => {
                            let errors = compile(schema).map_err(CoreError::Internal)?.errors(v);
                            if errors.is_empty() {
                                (RunStatus::Succeeded, None, None)
                            } else {
                                (
                                    RunStatus::OutputInvalid,
                                    Some("output_invalid"),
                                    Some(join_errors(&errors)),
                                )
                            }
                        }
                        _ => (RunStatus::Succeeded, None, None),
                    };
                Outcome {
                    status,
                    output_is_json: matches!(reply.output, MockOutput::Json(_)),
                    output: Some(reply.output.render()),
                    error_kind,
                    error_message,
                    prompt_tokens: reply.prompt_tokens,
                    completion_tokens: reply.completion_tokens,
                    attempts: 1,
                }
            }
        };

        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let finished_at = now_ms();
        let row = sqlx::query(&format!(
            "UPDATE runs SET status = $1, output = $2, output_is_json = $3, error_kind = $4, \
             error_message = $5, prompt_tokens = $6, completion_tokens = $7, total_tokens = $8, \
             cost_source = 'unpriced', latency_ms = $9, ttft_ms = $9, attempts = $10, \
             finished_at = $11 WHERE id = $12 AND workspace_id = $13 RETURNING {RUN_COLUMNS}"
        ))
        .bind(outcome.status.as_str())
        .bind(outcome.output)
        .bind(i64::from(outcome.output_is_json))
        .bind(outcome.error_kind)
        .bind(outcome.error_message)
        .bind(outcome.prompt_tokens)
        .bind(outcome.completion_tokens)
        .bind(outcome.prompt_tokens + outcome.completion_tokens)
        .bind(latency_ms)
        .bind(outcome.attempts)
        .bind(finished_at)
        .bind(&run_id)
        .bind(&actor.workspace_id)
        .fetch_one(db.pool())
        .await?;
        let run = run_from_row(&row)?;
        tracing::info!(
            run_id,
            status = run.status.as_str(),
            latency_ms,
            "run finished"
        );
        Ok(run)
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
