//! The record stage: price the run from its usage (the workspace's overrides, cached, then the
//! shipped table), scrub the key out of every message, and commit the run and its attempts
//! through the recorder. The run is acknowledged with exactly the row that was committed.

use std::time::Instant;

use secrecy::{ExposeSecret, SecretString};

use super::context::Shared;
use super::outcome::Outcome;
use super::recorder::{UsedKey, Write};
use super::store::{AttemptRow, RunRow};
use super::{RunMode, RunStatus, RunTrigger, RunView};
use crate::db::now_ms;
use crate::error::CoreError;
use crate::pricing::{CostSource, PRICE_TABLE_VERSION, price_usage};
use crate::providers::scrub;
use crate::workspaces::Actor;

/// Who and what a run is, fixed when it starts.
#[derive(Clone, Debug)]
pub(super) struct RunHead {
    pub id: String,
    pub actor: Actor,
    pub agent_id: String,
    pub agent_name: String,
    pub agent_version: i64,
    pub mode: RunMode,
    pub trigger: RunTrigger,
    pub input: String,
    pub provider: String,
    pub model: String,
    pub credential_id: Option<String>,
    pub api_token: Option<super::ApiTokenRef>,
    /// A chat caller's extras, as recorded (JSON).
    pub conversation: Option<String>,
    /// The instance executing the run.
    pub instance_id: Option<String>,
    /// The run this one replays.
    pub replay_of: Option<String>,
    pub created_at: i64,
    pub started: Instant,
}

impl RunHead {
    /// The row of a run that has started and not ended.
    pub fn running_row(&self) -> RunRow {
        RunRow {
            id: self.id.clone(),
            workspace_id: self.actor.workspace_id.clone(),
            agent_id: self.agent_id.clone(),
            agent_name: self.agent_name.clone(),
            agent_version: self.agent_version,
            mode: self.mode,
            trigger: self.trigger,
            status: RunStatus::Running,
            input: self.input.clone(),
            output: None,
            output_is_json: false,
            error_kind: None,
            error_message: None,
            provider: self.provider.clone(),
            model: self.model.clone(),
            prompt_tokens: 0,
            completion_tokens: 0,
            total_tokens: 0,
            cost_micros: None,
            cost_source: CostSource::Unpriced,
            price_table_version: None,
            latency_ms: 0,
            ttft_ms: None,
            attempts: 0,
            finish_reason: None,
            field_errors: Vec::new(),
            triggered_by: self.actor.user_id.clone(),
            credential_id: self.credential_id.clone(),
            api_token: self.api_token.clone(),
            conversation: self.conversation.clone(),
            instance_id: self.instance_id.clone(),
            replay_of: self.replay_of.clone(),
            created_at: self.created_at,
            finished_at: None,
        }
    }
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Prices, scrubs and commits a finished run; answers with the committed run.
pub(super) async fn finish(
    shared: &Shared,
    head: &RunHead,
    outcome: Outcome,
    secret: Option<&SecretString>,
) -> Result<RunView, CoreError> {
    // No provider call (invalid input, stopped before the call): nothing was spent.
    let (cost, source) = if outcome.attempts.is_empty() {
        (Some(0), CostSource::Estimated)
    } else {
        let overrides = shared.catalog.prices(&shared.db, &head.actor).await?;
        price_usage(
            &overrides,
            &head.provider,
            &head.model,
            outcome.usage,
            outcome.usage_reported,
        )
    };
    let secrets: Vec<&str> = secret.iter().map(|s| s.expose_secret()).collect();
    let clean = |s: Option<String>| s.map(|m| scrub(&m, &secrets));
    let latency = head.started.elapsed();
    let attempts: Vec<AttemptRow> = outcome
        .attempts
        .iter()
        .map(|a| AttemptRow {
            run_id: head.id.clone(),
            workspace_id: head.actor.workspace_id.clone(),
            number: i64::from(a.number),
            http_status: a.status.map(i64::from),
            error_class: a.error_class.clone(),
            error_message: clean(a.error_message.clone()),
            waited_ms: a.waited_ms,
            latency_ms: a.latency_ms,
            prompt_tokens: a.usage.map(|u| u.prompt_tokens),
            completion_tokens: a.usage.map(|u| u.completion_tokens),
        })
        .collect();
    let used_key = (!outcome.attempts.is_empty())
        .then(|| head.credential_id.clone())
        .flatten()
        .map(|credential_id| UsedKey {
            workspace_id: head.actor.workspace_id.clone(),
            credential_id,
        });
    let row = RunRow {
        status: outcome.status,
        output: clean(outcome.output),
        output_is_json: outcome.output_is_json,
        error_kind: outcome.error_kind,
        error_message: clean(outcome.error_message),
        prompt_tokens: outcome.usage.prompt_tokens,
        completion_tokens: outcome.usage.completion_tokens,
        total_tokens: outcome.usage.total(),
        cost_micros: cost,
        cost_source: source,
        price_table_version: Some(PRICE_TABLE_VERSION.to_owned()),
        latency_ms: millis(latency),
        ttft_ms: outcome.ttft_ms,
        attempts: i64::try_from(attempts.len()).unwrap_or(i64::MAX),
        finish_reason: outcome.finish_reason,
        field_errors: outcome.field_errors,
        finished_at: Some(now_ms()),
        ..head.running_row()
    };
    shared
        .recorder
        .write(Write {
            run: row.clone(),
            attempts,
            used_key,
        })
        .await?;
    crate::telemetry::run_finished(&crate::telemetry::FinishedRun {
        status: row.status.as_str(),
        mode: row.mode.as_str(),
        trigger: row.trigger.as_str(),
        provider: &row.provider,
        duration: latency,
        ttft_ms: row.ttft_ms,
        prompt_tokens: row.prompt_tokens,
        completion_tokens: row.completion_tokens,
        cost_micros: row.cost_micros,
    });
    tracing::info!(
        run_id = row.id,
        status = row.status.as_str(),
        latency_ms = row.latency_ms,
        "run finished"
    );
    Ok(row.view())
}
