//! Looking back at runs: two runs compared (their agent versions' configuration diff and their
//! output diff, worked out on the CPU pool), the run before a run, and a replay — a past run's
//! input (and a chat caller's conversation) asked again, on the version and model chosen.

use super::context::{Conversation, RunRequest};
use super::store::{get_run, list_attempts};
use super::{Replay, RunComparison, RunTrigger, RunView};
use crate::agents::config_diff;
use crate::agents::get_version;
use crate::cpu::CpuPool;
use crate::db::Db;
use crate::diff::output_diff;
use crate::error::CoreError;
use crate::providers::{Speaker, Turn};
use crate::workspaces::Actor;

/// Runs `a` and `b` of the caller's workspace compared (`NotFound` if either is not its own).
#[tracing::instrument(skip(db, cpu))]
pub async fn compare_runs(
    db: &Db,
    cpu: &CpuPool,
    actor: &Actor,
    a: &str,
    b: &str,
) -> Result<RunComparison, CoreError> {
    let (run_a, run_b) = (get_run(db, actor, a).await?, get_run(db, actor, b).await?);
    let a_attempts = list_attempts(db, actor, a).await?;
    let b_attempts = list_attempts(db, actor, b).await?;
    let config_a = version_config(db, actor, &run_a).await?;
    let config_b = version_config(db, actor, &run_b).await?;
    let (out_a, out_b) = (run_a.output.clone(), run_b.output.clone());
    let (config, output) = cpu
        .run(move || {
            let config = match (config_a, config_b) {
                (Some(x), Some(y)) => Some(config_diff(&x, &y)),
                _ => None,
            };
            (config, output_diff(out_a.as_deref(), out_b.as_deref()))
        })
        .await?;
    Ok(RunComparison {
        a: run_a,
        b: run_b,
        a_attempts,
        b_attempts,
        config,
        output,
    })
}

/// The configuration a run ran with: its version's (`None` once its agent is deleted). A run
/// with another model than its version's (a replay) shows that model.
async fn version_config(
    db: &Db,
    actor: &Actor,
    run: &RunView,
) -> Result<Option<crate::agents::AgentConfig>, CoreError> {
    let Some(agent) = &run.agent_id else {
        return Ok(None);
    };
    match get_version(db, actor, agent, run.agent_version).await {
        Ok(v) => {
            let mut config = v.config;
            config.model.clone_from(&run.model);
            Ok(Some(config))
        }
        Err(CoreError::NotFound | CoreError::Validation(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The run of the same agent just before `run` (by start time), if any.
pub async fn previous_run(
    db: &Db,
    actor: &Actor,
    run: &RunView,
) -> Result<Option<String>, CoreError> {
    let Some(agent) = &run.agent_id else {
        return Ok(None);
    };
    let row: Option<(String,)> = sqlx::query_as(
        // A row-value comparison: both databases read it as one index range on
        // (workspace_id, agent_id, created_at, id) and stop at the first entry (with an OR of
        // two terms PostgreSQL walked every newer run of the agent: 345 ms at a million).
        "SELECT id FROM runs WHERE workspace_id = $1 AND agent_id = $2 \
         AND (created_at, id) < ($3, $4) \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(&actor.workspace_id)
    .bind(agent)
    .bind(run.created_at)
    .bind(&run.id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|(id,)| id))
}

/// The request that replays a run of the caller's workspace: its input, and a chat caller's
/// conversation, asked again as the replay says, from `trigger`. A run whose agent was deleted
/// cannot be replayed.
pub async fn replay_request(
    db: &Db,
    actor: &Actor,
    replay: &Replay,
    trigger: RunTrigger,
) -> Result<RunRequest, CoreError> {
    let run = get_run(db, actor, &replay.run_id).await?;
    let Some(agent_id) = run.agent_id.clone() else {
        return Err(CoreError::field(
            "run",
            "This run's agent was deleted: there is nothing to replay it on.",
        ));
    };
    // The latest version unless one is named (the API's published pointer does not apply: a
    // replay says what it runs).
    let version = match replay.version {
        Some(v) => v,
        None => {
            crate::agents::get_agent(db, actor, &agent_id)
                .await?
                .version
        }
    };
    let model = replay
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_owned);
    Ok(RunRequest {
        agent_id,
        input: run.input,
        mode: replay.mode,
        trigger,
        stream: false,
        api_token: None,
        conversation: run.conversation.as_ref().map(conversation_of),
        version: Some(version),
        model,
        replay_of: Some(run.id),
    })
}

/// A recorded conversation (`{"system", "messages", "response_format"}`) as asked.
fn conversation_of(kept: &serde_json::Value) -> Conversation {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    Conversation {
        system: kept.get("system").map(text).unwrap_or_default(),
        turns: kept
            .get("messages")
            .and_then(|m| m.as_array())
            .map(|turns| {
                turns
                    .iter()
                    .map(|t| Turn {
                        speaker: if t.get("role").and_then(|r| r.as_str()) == Some("assistant") {
                            Speaker::Assistant
                        } else {
                            Speaker::User
                        },
                        text: t.get("content").map(text).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        output_schema: kept.get("response_format").cloned(),
    }
}

#[cfg(test)]
mod tests;
