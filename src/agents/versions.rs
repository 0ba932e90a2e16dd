//! An agent's history: every save is an immutable version. Read them (a page at a time, each
//! with its author and what it changed), read one whole, restore one (a new version equal to it —
//! history is never rewritten), and publish one: the version API calls run unless they name one.

use serde_json::Value;
use sqlx::Row;

use super::{
    Agent, AgentConfig, AgentDraft, AgentVersion, AgentVersions, IMPACT_RUNS, SaveRules,
    SchemaImpact, VersionSummary,
};
use crate::contract::compile;
use crate::cpu::CpuPool;
use crate::db::Db;
use crate::diff::{Bounded, FieldDiff, json_changes, line_diff};
use crate::error::CoreError;
use crate::workspaces::{Actor, bump_generation, require_builder};

/// Versions per page of history.
pub const VERSIONS_PAGE: i64 = 50;

fn config_of(text: &str) -> Result<AgentConfig, CoreError> {
    serde_json::from_str(text).map_err(|e| CoreError::Internal(format!("stored version: {e}")))
}

/// The agent's history, newest first: `VERSIONS_PAGE` versions older than `before` (all the
/// newest without it), each with what changed from the one before it.
#[tracing::instrument(skip(db))]
pub async fn list_versions(
    db: &Db,
    actor: &Actor,
    agent: &str,
    before: Option<i64>,
) -> Result<AgentVersions, CoreError> {
    let agent = super::get_agent(db, actor, agent).await?;
    // One more than a page: the oldest shown needs the one before it for its summary.
    let rows = sqlx::query(
        "SELECT v.version, v.config, v.created_at, v.restored_from, u.display_name \
         FROM agent_versions v JOIN users u ON u.id = v.created_by \
         WHERE v.agent_id = $1 AND v.workspace_id = $2 AND v.version < $3 \
         ORDER BY v.version DESC LIMIT $4",
    )
    .bind(&agent.id)
    .bind(&actor.workspace_id)
    .bind(before.unwrap_or(i64::MAX))
    .bind(VERSIONS_PAGE + 1)
    .fetch_all(db.pool())
    .await?;
    let mut read = Vec::with_capacity(rows.len());
    for row in &rows {
        let config: String = row.try_get("config")?;
        read.push((
            row.try_get::<i64, _>("version")?,
            config_of(&config)?,
            row.try_get::<i64, _>("created_at")?,
            row.try_get::<Option<i64>, _>("restored_from")?,
            row.try_get::<String, _>("display_name")?,
        ));
    }
    let more = read.len() as i64 > VERSIONS_PAGE;
    let mut versions = Vec::with_capacity(read.len());
    for (i, (version, config, created_at, restored_from, author)) in read.iter().enumerate() {
        if i as i64 >= VERSIONS_PAGE {
            break;
        }
        let summary = match (read.get(i + 1), restored_from) {
            (_, Some(from)) => format!("Restored from version {from}"),
            (Some((_, older, ..)), None) => summary(older, config),
            (None, None) if *version == 1 => "Created".to_owned(),
            // The version before is on the next page (never, since one more is read).
            (None, None) => String::new(),
        };
        versions.push(VersionSummary {
            version: *version,
            created_at: *created_at,
            author: author.clone(),
            summary,
            restored_from: *restored_from,
        });
    }
    Ok(AgentVersions {
        next_before: more.then(|| versions.last().map(|v| v.version)).flatten(),
        agent_id: agent.id,
        agent_name: agent.config.name,
        current: agent.version,
        published: agent.published_version,
        versions,
    })
}

/// One version of an agent, whole.
#[tracing::instrument(skip(db))]
pub async fn get_version(
    db: &Db,
    actor: &Actor,
    agent: &str,
    version: i64,
) -> Result<AgentVersion, CoreError> {
    let agent = super::get_agent(db, actor, agent).await?;
    version_of(db, actor, &agent, version).await
}

/// Version `version` of `agent` (already read in the caller's workspace).
async fn version_of(
    db: &Db,
    actor: &Actor,
    agent: &Agent,
    version: i64,
) -> Result<AgentVersion, CoreError> {
    let row = sqlx::query(
        "SELECT v.config, v.created_at, v.restored_from, u.display_name \
         FROM agent_versions v JOIN users u ON u.id = v.created_by \
         WHERE v.agent_id = $1 AND v.workspace_id = $2 AND v.version = $3",
    )
    .bind(&agent.id)
    .bind(&actor.workspace_id)
    .bind(version)
    .fetch_optional(db.pool())
    .await?
    .ok_or_else(|| no_version(version))?;
    let config: String = row.try_get("config")?;
    Ok(AgentVersion {
        agent_id: agent.id.clone(),
        version,
        config: config_of(&config)?,
        created_at: row.try_get("created_at")?,
        author: row.try_get("display_name")?,
        restored_from: row.try_get("restored_from")?,
        current: agent.version,
        published: agent.published_version,
    })
}

fn no_version(version: i64) -> CoreError {
    CoreError::field("version", &format!("This agent has no version {version}."))
}

/// The agent as it was at `version`: what a run of that version uses (its id, its version's
/// configuration, the agent's current publish pointer).
pub async fn agent_at_version(
    db: &Db,
    actor: &Actor,
    agent: &str,
    version: i64,
) -> Result<Agent, CoreError> {
    let current = super::get_agent(db, actor, agent).await?;
    if current.version == version {
        return Ok(current);
    }
    let old = version_of(db, actor, &current, version).await?;
    Ok(Agent {
        config: old.config,
        version,
        ..current
    })
}

/// Saves a new version equal to `version` (its configuration as it was, under a new number):
/// the history stays as it is. The name and slug are checked again (another agent may have
/// taken them since).
#[tracing::instrument(skip(db, rules))]
pub async fn restore_version(
    db: &Db,
    rules: &SaveRules,
    actor: &Actor,
    agent: &str,
    version: i64,
) -> Result<Agent, CoreError> {
    require_builder(actor)?;
    let old = get_version(db, actor, agent, version).await?;
    let draft = AgentDraft::from_config(&old.config);
    let restored =
        super::save_version(db, rules, actor, &old.agent_id, &draft, Some(version)).await?;
    tracing::info!(
        agent_id = restored.id,
        from = version,
        to = restored.version,
        "version restored"
    );
    Ok(restored)
}

/// Publishes `version` (the one API calls run), or `None`: API calls run the latest version.
/// Audited (`agent.version_published`).
#[tracing::instrument(skip(db))]
pub async fn publish_version(
    db: &Db,
    actor: &Actor,
    agent: &str,
    version: Option<i64>,
) -> Result<Agent, CoreError> {
    require_builder(actor)?;
    let current = super::get_agent(db, actor, agent).await?;
    if let Some(v) = version
        && !(1..=current.version).contains(&v)
    {
        return Err(no_version(v));
    }
    let mut tx = db.pool().begin().await?;
    sqlx::query("UPDATE agents SET published_version = $1 WHERE id = $2 AND workspace_id = $3")
        .bind(version)
        .bind(&current.id)
        .bind(&actor.workspace_id)
        .execute(&mut *tx)
        .await?;
    let detail = match version {
        Some(v) => format!("{}: version {v}", current.config.name),
        None => format!("{}: the latest version", current.config.name),
    };
    crate::audit::record(
        &mut *tx,
        actor,
        "agent.version_published",
        &current.id,
        &detail,
    )
    .await?;
    bump_generation(&mut *tx, &actor.workspace_id).await?;
    tx.commit().await?;
    Ok(Agent {
        published_version: version,
        ..current
    })
}

/// The agent's latest [`IMPACT_RUNS`] succeeded runs with a JSON output, validated against
/// `schema` (on the CPU pool): what publishing a version with that output schema would have
/// refused.
pub async fn output_schema_impact(
    db: &Db,
    cpu: &CpuPool,
    actor: &Actor,
    agent_id: &str,
    schema: &serde_json::Value,
) -> Result<SchemaImpact, CoreError> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT id, output FROM runs WHERE workspace_id = $1 AND agent_id = $2 \
         AND status = 'succeeded' AND output_is_json = 1 \
         ORDER BY created_at DESC, id DESC LIMIT $3",
    )
    .bind(&actor.workspace_id)
    .bind(agent_id)
    .bind(IMPACT_RUNS)
    .fetch_all(db.pool())
    .await?;
    let schema = schema.clone();
    cpu.run(move || {
        let compiled = compile(&schema).map_err(|m| CoreError::field("output_schema", &m))?;
        let mut impact = SchemaImpact {
            checked: 0,
            failing: 0,
            examples: Vec::new(),
        };
        for (id, output) in rows {
            let Some(value) = output.and_then(|o| serde_json::from_str(&o).ok()) else {
                continue;
            };
            impact.checked += 1;
            if !compiled.errors(&value).is_empty() {
                impact.failing += 1;
                if impact.examples.len() < 5 {
                    impact.examples.push(id);
                }
            }
        }
        Ok(impact)
    })
    .await?
}

fn schema(v: &Option<Value>) -> Value {
    v.clone().unwrap_or(Value::Null)
}

/// The fields where `b` differs from `a`, in the builder's order; `truncated` when a field's
/// diff was cut short.
pub fn config_diff(a: &AgentConfig, b: &AgentConfig) -> Bounded<Vec<FieldDiff>> {
    let mut out = Vec::new();
    let mut truncated = false;
    let mut text = |field: &str, x: &str, y: &str, out: &mut Vec<FieldDiff>| {
        if x != y {
            let d = line_diff(x, y);
            truncated |= d.truncated;
            out.push(FieldDiff::Text {
                field: field.to_owned(),
                pieces: d.diff,
            });
        }
    };
    let value = |field: &str, x: String, y: String, out: &mut Vec<FieldDiff>| {
        if x != y {
            out.push(FieldDiff::Value {
                field: field.to_owned(),
                before: x,
                after: y,
            });
        }
    };
    value("Name", a.name.clone(), b.name.clone(), &mut out);
    value("Slug", a.slug.clone(), b.slug.clone(), &mut out);
    text("Description", &a.description, &b.description, &mut out);
    value(
        "Provider",
        a.provider.as_str().to_owned(),
        b.provider.as_str().to_owned(),
        &mut out,
    );
    value("Model", a.model.clone(), b.model.clone(), &mut out);
    text(
        "System prompt",
        &a.system_prompt,
        &b.system_prompt,
        &mut out,
    );
    text(
        "Prompt template",
        &a.prompt_template,
        &b.prompt_template,
        &mut out,
    );
    value(
        "Temperature",
        a.temperature.to_string(),
        b.temperature.to_string(),
        &mut out,
    );
    value(
        "Max tokens",
        a.max_tokens.to_string(),
        b.max_tokens.to_string(),
        &mut out,
    );
    for (field, x, y) in [
        ("Input schema", &a.input_schema, &b.input_schema),
        ("Output schema", &a.output_schema, &b.output_schema),
    ] {
        if x != y {
            let c = json_changes(&schema(x), &schema(y));
            truncated |= c.truncated;
            out.push(FieldDiff::Json {
                field: field.to_owned(),
                changes: c.diff,
            });
        }
    }
    value(
        "Repair output",
        yes_no(a.repair_output),
        yes_no(b.repair_output),
        &mut out,
    );
    Bounded {
        diff: out,
        truncated,
    }
}

fn yes_no(b: bool) -> String {
    if b { "on" } else { "off" }.to_owned()
}

/// What changed from `a` to `b`, in a few words: "System prompt, Model".
pub fn summary(a: &AgentConfig, b: &AgentConfig) -> String {
    let fields: Vec<String> = config_diff(a, b)
        .diff
        .iter()
        .map(|d| d.field().to_owned())
        .collect();
    if fields.is_empty() {
        "No change".to_owned()
    } else {
        fields.join(", ")
    }
}

#[cfg(test)]
mod tests;
