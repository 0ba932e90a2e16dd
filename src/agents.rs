//! Agents: what a team builds. The form's rules ([`AgentDraft::validate`]) are shared, so the
//! browser shows the same field errors the server enforces; the server adds what needs the
//! database (names unique per workspace) and full JSON Schema compilation. Every save writes an
//! immutable agent version.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::parse_schema_text;
use crate::providers::ProviderKind;
use crate::validation::FieldError;

pub const MAX_NAME_CHARS: usize = 80;
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_MODEL_CHARS: usize = 100;
pub const MAX_SYSTEM_PROMPT_CHARS: usize = 20_000;
pub const MAX_TEMPLATE_CHARS: usize = 20_000;
pub const MAX_SLUG_CHARS: usize = 64;

/// A slug made from a name: lower-case ASCII letters and digits, every run of anything else
/// one dash, at most [`MAX_SLUG_CHARS`]; `agent` when the name has no such character.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('-');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else {
            gap = true;
        }
        if out.len() >= MAX_SLUG_CHARS {
            break;
        }
    }
    out.truncate(MAX_SLUG_CHARS);
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "agent".to_owned()
    } else {
        out.to_owned()
    }
}

/// The rule for a slug typed into the form.
pub fn check_slug(slug: &str) -> Result<(), String> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG_CHARS
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Use 1 to {MAX_SLUG_CHARS} lower-case letters, digits and dashes, e.g. support-triage."
        ))
    }
}

/// The agent form as typed: every field a string, so a bad number is a field error, not a
/// transport error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentDraft {
    pub name: String,
    /// How the APIs name the agent; blank derives it from the name ([`slugify`]).
    #[serde(default)]
    pub slug: String,
    pub description: String,
    pub provider: String,
    pub model: String,
    pub system_prompt: String,
    pub temperature: String,
    pub max_tokens: String,
    pub input_schema: String,
    pub output_schema: String,
    /// The user message, rendered from the input (minijinja); blank sends the input JSON.
    #[serde(default)]
    pub prompt_template: String,
    /// One repair attempt when the output does not match the output schema.
    #[serde(default)]
    pub repair_output: bool,
}

/// A validated agent configuration: what a version stores and a run uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    pub name: String,
    /// Unique per workspace; the APIs accept it wherever they take an agent id.
    #[serde(default)]
    pub slug: String,
    pub description: String,
    pub provider: ProviderKind,
    pub model: String,
    pub system_prompt: String,
    pub temperature: f64,
    pub max_tokens: i64,
    pub input_schema: Option<Value>,
    pub output_schema: Option<Value>,
    #[serde(default)]
    pub prompt_template: String,
    #[serde(default)]
    pub repair_output: bool,
}

/// An agent as the builder page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub id: String,
    pub config: AgentConfig,
    pub version: i64,
    /// The version API calls run unless they name one; `None` runs the latest.
    #[serde(default)]
    pub published_version: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One version in an agent's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionSummary {
    pub version: i64,
    pub created_at: i64,
    /// Who saved it (display name).
    pub author: String,
    /// What changed from the version before, in a few words ("System prompt, Model").
    pub summary: String,
    /// Saved by restoring this older version.
    pub restored_from: Option<i64>,
}

/// An agent's history, newest first, a page at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentVersions {
    pub agent_id: String,
    pub agent_name: String,
    /// The latest version (the draft the builder edits and the test panel runs).
    pub current: i64,
    pub published: Option<i64>,
    pub versions: Vec<VersionSummary>,
    /// Pass as `before` for the next (older) page.
    pub next_before: Option<i64>,
}

/// One version, whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentVersion {
    pub agent_id: String,
    pub version: i64,
    pub config: AgentConfig,
    pub created_at: i64,
    pub author: String,
    pub restored_from: Option<i64>,
    pub current: i64,
    pub published: Option<i64>,
}

/// How many of an agent's latest runs an output-schema change is checked against.
pub const IMPACT_RUNS: i64 = 100;

/// How the agent's latest recorded outputs fare against an output schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaImpact {
    /// Runs with a JSON output checked (at most [`IMPACT_RUNS`]).
    pub checked: i64,
    /// Of those, the ones whose output would not validate.
    pub failing: i64,
    /// A few of them (run ids), newest first.
    pub examples: Vec<String>,
}

/// One line of the agents list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub provider: ProviderKind,
    pub model: String,
    pub version: i64,
    pub updated_at: i64,
    /// So a run form can be generated where agents are picked from a list.
    pub input_schema: Option<Value>,
}

impl AgentDraft {
    /// A draft with the builder's defaults.
    pub fn new_defaults() -> AgentDraft {
        AgentDraft {
            provider: ProviderKind::OpenAi.as_str().to_owned(),
            model: "gpt-4o-mini".to_owned(),
            temperature: "0.7".to_owned(),
            max_tokens: "1024".to_owned(),
            ..AgentDraft::default()
        }
    }

    /// The draft of an existing agent, for editing.
    pub fn from_config(c: &AgentConfig) -> AgentDraft {
        let pretty = |s: &Option<Value>| {
            s.as_ref()
                .and_then(|v| serde_json::to_string_pretty(v).ok())
                .unwrap_or_default()
        };
        AgentDraft {
            name: c.name.clone(),
            slug: c.slug.clone(),
            description: c.description.clone(),
            provider: c.provider.as_str().to_owned(),
            model: c.model.clone(),
            system_prompt: c.system_prompt.clone(),
            temperature: c.temperature.to_string(),
            max_tokens: c.max_tokens.to_string(),
            input_schema: pretty(&c.input_schema),
            output_schema: pretty(&c.output_schema),
            prompt_template: c.prompt_template.clone(),
            repair_output: c.repair_output,
        }
    }

    /// Checks every field; all errors at once, one per field.
    pub fn validate(&self) -> Result<AgentConfig, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut err = |field: &str, msg: String| errors.push(FieldError::new(field, msg));

        let name = self.name.trim();
        if name.is_empty() {
            err("name", "Give the agent a name.".into());
        } else if name.chars().count() > MAX_NAME_CHARS {
            err("name", format!("Use at most {MAX_NAME_CHARS} characters."));
        } else if name.chars().any(char::is_control) {
            err("name", "Remove control characters from the name.".into());
        }
        let slug = match self.slug.trim() {
            "" => slugify(name),
            typed => {
                if let Err(m) = check_slug(typed) {
                    err("slug", m);
                }
                typed.to_owned()
            }
        };
        let description = self.description.trim();
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            err(
                "description",
                format!("Use at most {MAX_DESCRIPTION_CHARS} characters."),
            );
        }
        let provider = ProviderKind::parse(self.provider.trim()).ok();
        if provider.is_none() {
            err(
                "provider",
                "Choose OpenAI, Anthropic or OpenAI-compatible.".into(),
            );
        }
        let model = self.model.trim();
        if model.is_empty() {
            err("model", "Enter a model name, e.g. gpt-4o-mini.".into());
        } else if model.chars().count() > MAX_MODEL_CHARS {
            err(
                "model",
                format!("Use at most {MAX_MODEL_CHARS} characters."),
            );
        } else if model.chars().any(|c| c.is_whitespace() || c.is_control()) {
            err("model", "A model name has no spaces.".into());
        }
        if self.system_prompt.chars().count() > MAX_SYSTEM_PROMPT_CHARS {
            err(
                "system_prompt",
                format!("Use at most {MAX_SYSTEM_PROMPT_CHARS} characters."),
            );
        }
        let temperature = match self.temperature.trim().parse::<f64>() {
            Ok(t) if t.is_finite() && (0.0..=2.0).contains(&t) => Some(t),
            _ => {
                err("temperature", "Enter a number from 0 to 2.".into());
                None
            }
        };
        // The model family's own output limit (from the price table), so no run asks for more
        // than the provider can give (or than a budget reservation should hold).
        let limit =
            crate::pricing::max_output_tokens(provider.map_or("", ProviderKind::as_str), model);
        let max_tokens = match self.max_tokens.trim().parse::<i64>() {
            Ok(n) if (1..=limit).contains(&n) => Some(n),
            _ => {
                err(
                    "max_tokens",
                    format!(
                        "Enter a whole number from 1 to {limit} (the most this model can answer with)."
                    ),
                );
                None
            }
        };
        if self.prompt_template.chars().count() > MAX_TEMPLATE_CHARS {
            err(
                "prompt_template",
                format!("Use at most {MAX_TEMPLATE_CHARS} characters."),
            );
        }
        let input_schema = parse_schema_text(&self.input_schema)
            .map_err(|m| err("input_schema", m))
            .ok()
            .flatten();
        let output_schema = parse_schema_text(&self.output_schema)
            .map_err(|m| err("output_schema", m))
            .ok()
            .flatten();

        match (provider, temperature, max_tokens) {
            (Some(provider), Some(temperature), Some(max_tokens)) if errors.is_empty() => {
                Ok(AgentConfig {
                    name: name.to_owned(),
                    slug,
                    description: description.to_owned(),
                    provider,
                    model: model.to_owned(),
                    system_prompt: self.system_prompt.clone(),
                    temperature,
                    max_tokens,
                    input_schema,
                    output_schema,
                    prompt_template: self.prompt_template.clone(),
                    repair_output: self.repair_output,
                })
            }
            _ => Err(errors),
        }
    }
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use sqlx::Row;
    use sqlx::any::AnyRow;

    use super::*;
    use crate::contract::{compile, min_instance_bytes};
    use crate::cpu::CpuPool;
    use crate::db::{Db, is_unique_violation, new_id, now_ms};
    use crate::error::CoreError;
    use crate::workspaces::{Actor, bump_generation, require_builder};

    /// What saving an agent checks beyond the form's rules: schemas compile (on the bounded CPU
    /// pool), and the output contract fits the run output cap.
    #[derive(Clone, Debug)]
    pub struct SaveRules {
        pub cpu: CpuPool,
        /// The run output cap ([`crate::providers::DEFAULT_MAX_OUTPUT_BYTES`] unless configured).
        pub max_output_bytes: usize,
    }

    impl Default for SaveRules {
        fn default() -> Self {
            SaveRules {
                cpu: CpuPool::default(),
                max_output_bytes: crate::providers::DEFAULT_MAX_OUTPUT_BYTES,
            }
        }
    }

    const AGENT_COLUMNS: &str = "id, name, slug, description, provider, model, system_prompt, \
        temperature, max_tokens, input_schema, output_schema, prompt_template, repair_output, \
        current_version, published_version, created_at, updated_at";

    fn agent_from_row(row: &AnyRow) -> Result<Agent, CoreError> {
        let schema = |col: &str| -> Result<Option<Value>, CoreError> {
            let text: Option<String> = row.try_get(col)?;
            text.map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| CoreError::Internal(format!("stored {col}: {e}")))
        };
        let provider: String = row.try_get("provider")?;
        Ok(Agent {
            id: row.try_get("id")?,
            config: AgentConfig {
                name: row.try_get("name")?,
                slug: row.try_get("slug")?,
                description: row.try_get("description")?,
                provider: ProviderKind::parse(&provider)
                    .map_err(|e| CoreError::Internal(format!("stored {e}")))?,
                model: row.try_get("model")?,
                system_prompt: row.try_get("system_prompt")?,
                temperature: row.try_get("temperature")?,
                max_tokens: row.try_get("max_tokens")?,
                input_schema: schema("input_schema")?,
                output_schema: schema("output_schema")?,
                prompt_template: row.try_get("prompt_template")?,
                repair_output: row.try_get::<i64, _>("repair_output")? != 0,
            },
            version: row.try_get("current_version")?,
            published_version: row.try_get("published_version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    /// Validates a draft fully: the shared rules, schema compilation (every pattern by the
    /// portable rule), the template, and an output contract whose smallest valid reply fits the
    /// run output cap.
    pub async fn validate_draft(
        rules: &SaveRules,
        draft: &AgentDraft,
    ) -> Result<AgentConfig, CoreError> {
        let config = draft.validate().map_err(CoreError::Validation)?;
        let (input, output, template, cap) = (
            config.input_schema.clone(),
            config.output_schema.clone(),
            config.prompt_template.clone(),
            rules.max_output_bytes,
        );
        let errors = rules
            .cpu
            .run(move || {
                let mut errors = Vec::new();
                for (field, schema) in [("input_schema", &input), ("output_schema", &output)] {
                    if let Some(Err(m)) = schema.as_ref().map(compile) {
                        errors.push(FieldError::new(field, m));
                    }
                }
                if let Some(schema) = &output
                    && !errors.iter().any(|e| e.field == "output_schema")
                {
                    let smallest = min_instance_bytes(schema);
                    if smallest > u64::try_from(cap).unwrap_or(u64::MAX) {
                        errors.push(FieldError::new(
                            "output_schema",
                            format!(
                                "Every reply this contract allows is at least {} — more than \
                                 the {} a run may produce. Lower its minimum lengths or item counts.",
                                human_bytes(smallest),
                                human_bytes(u64::try_from(cap).unwrap_or(u64::MAX)),
                            ),
                        ));
                    }
                }
                if let Err(m) = crate::template::check(&template) {
                    errors.push(FieldError::new("prompt_template", m));
                }
                errors
            })
            .await?;
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(CoreError::Validation(errors))
        }
    }

    /// `1.5 MiB`, `300 KiB`, `12 bytes`.
    fn human_bytes(n: u64) -> String {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * 1024;
        if n >= MIB {
            format!("{:.1} MiB", n as f64 / MIB as f64)
        } else if n >= KIB {
            format!("{} KiB", n / KIB)
        } else {
            format!("{n} bytes")
        }
    }

    fn schema_text(s: &Option<Value>) -> Option<String> {
        s.as_ref().map(Value::to_string)
    }

    fn name_taken() -> CoreError {
        CoreError::field(
            "name",
            "An agent with this name already exists in this workspace.",
        )
    }

    fn slug_taken() -> CoreError {
        CoreError::field("slug", "Another agent of this workspace has this slug.")
    }

    /// The slug an agent is saved with: the one typed, if no other agent (than `own_id`) has
    /// it; a derived one (`typed` false) gets `-2`, `-3`… until it is free.
    ///
    /// Read before the write's transaction begins: on SQLite a transaction that reads first
    /// cannot always upgrade to writing (`database is locked`); the unique index still has the
    /// last word, and [`which_taken`] names the rule a race broke.
    async fn free_slug(
        db: &Db,
        actor: &Actor,
        slug: &str,
        typed: bool,
        own_id: &str,
    ) -> Result<String, CoreError> {
        let taken: Vec<(String,)> = sqlx::query_as(
            "SELECT slug FROM agents WHERE workspace_id = $1 AND id <> $2 \
             AND (slug = $3 OR slug LIKE $4)",
        )
        .bind(&actor.workspace_id)
        .bind(own_id)
        .bind(slug)
        .bind(format!("{slug}-%"))
        .fetch_all(db.pool())
        .await?;
        let taken: std::collections::HashSet<String> = taken.into_iter().map(|(s,)| s).collect();
        if !taken.contains(slug) {
            return Ok(slug.to_owned());
        }
        if typed {
            return Err(slug_taken());
        }
        let base = &slug[..slug.len().min(MAX_SLUG_CHARS - 6)];
        (2..100_000)
            .map(|n| format!("{base}-{n}"))
            .find(|s| !taken.contains(s))
            .ok_or_else(slug_taken)
    }

    /// Which uniqueness rule a refused write broke (both are checked before writing; this is
    /// the race where another save got there in between).
    async fn which_taken(db: &Db, actor: &Actor, config: &AgentConfig, own_id: &str) -> CoreError {
        let name: Result<Option<(String,)>, _> = sqlx::query_as(
            "SELECT id FROM agents WHERE workspace_id = $1 AND name_key = $2 AND id <> $3",
        )
        .bind(&actor.workspace_id)
        .bind(config.name.to_lowercase())
        .bind(own_id)
        .fetch_optional(db.pool())
        .await;
        match name {
            Ok(None) => slug_taken(),
            _ => name_taken(),
        }
    }

    /// Agents of the caller's workspace, most recently changed first.
    #[tracing::instrument(skip(db))]
    pub async fn list_agents(db: &Db, actor: &Actor) -> Result<Vec<AgentSummary>, CoreError> {
        let rows = sqlx::query(
            "SELECT id, name, slug, description, provider, model, current_version, updated_at, \
             input_schema FROM agents WHERE workspace_id = $1 ORDER BY updated_at DESC, id DESC LIMIT 500",
        )
        .bind(&actor.workspace_id)
        .fetch_all(db.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let provider: String = row.try_get("provider")?;
                Ok(AgentSummary {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    slug: row.try_get("slug")?,
                    description: row.try_get("description")?,
                    provider: ProviderKind::parse(&provider)
                        .map_err(|e| CoreError::Internal(format!("stored {e}")))?,
                    model: row.try_get("model")?,
                    version: row.try_get("current_version")?,
                    updated_at: row.try_get("updated_at")?,
                    input_schema: row
                        .try_get::<Option<String>, _>("input_schema")?
                        .and_then(|t| serde_json::from_str(&t).ok()),
                })
            })
            .collect()
    }

    /// One agent of the caller's workspace, by id or by slug (an id wins); another workspace's
    /// answers `NotFound`.
    #[tracing::instrument(skip(db))]
    pub async fn get_agent(db: &Db, actor: &Actor, id_or_slug: &str) -> Result<Agent, CoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLUMNS} FROM agents WHERE workspace_id = $1 AND (id = $2 OR slug = $2) \
             ORDER BY CASE WHEN id = $2 THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(&actor.workspace_id)
        .bind(id_or_slug)
        .fetch_optional(db.pool())
        .await?
        .ok_or(CoreError::NotFound)?;
        agent_from_row(&row)
    }

    /// Creates an agent and its version 1.
    #[tracing::instrument(skip(db, rules, draft))]
    pub async fn create_agent(
        db: &Db,
        rules: &SaveRules,
        actor: &Actor,
        draft: &AgentDraft,
    ) -> Result<Agent, CoreError> {
        require_builder(actor)?;
        let mut config = validate_draft(rules, draft).await?;
        let id = new_id();
        let now = now_ms();
        config.slug =
            free_slug(db, actor, &config.slug, !draft.slug.trim().is_empty(), &id).await?;
        let mut tx = db.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO agents (id, workspace_id, name, name_key, description, provider, model, \
             system_prompt, temperature, max_tokens, input_schema, output_schema, prompt_template, \
             repair_output, current_version, created_by, created_at, updated_at, slug) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $16, $16, $17)",
        )
        .bind(&id)
        .bind(&actor.workspace_id)
        .bind(&config.name)
        .bind(config.name.to_lowercase())
        .bind(&config.description)
        .bind(config.provider.as_str())
        .bind(&config.model)
        .bind(&config.system_prompt)
        .bind(config.temperature)
        .bind(config.max_tokens)
        .bind(schema_text(&config.input_schema))
        .bind(schema_text(&config.output_schema))
        .bind(&config.prompt_template)
        .bind(i64::from(config.repair_output))
        .bind(&actor.user_id)
        .bind(now)
        .bind(&config.slug)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                return Err(which_taken(db, actor, &config, &id).await);
            }
            other => other?,
        };
        insert_version(&mut tx, actor, &id, 1, &config, now, None).await?;
        bump_generation(&mut *tx, &actor.workspace_id).await?;
        crate::audit::record(&mut *tx, actor, "agent.created", &id, &config.name).await?;
        tx.commit().await?;
        tracing::info!(agent_id = id, "agent created");
        Ok(Agent {
            id,
            config,
            version: 1,
            published_version: None,
            created_at: now,
            updated_at: now,
        })
    }

    async fn insert_version(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        actor: &Actor,
        agent_id: &str,
        version: i64,
        config: &AgentConfig,
        now: i64,
        restored_from: Option<i64>,
    ) -> Result<(), CoreError> {
        let json = serde_json::to_string(config)
            .map_err(|e| CoreError::Internal(format!("agent config: {e}")))?;
        sqlx::query(
            "INSERT INTO agent_versions (id, agent_id, workspace_id, version, config, created_by, \
             created_at, restored_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id())
        .bind(agent_id)
        .bind(&actor.workspace_id)
        .bind(version)
        .bind(json)
        .bind(&actor.user_id)
        .bind(now)
        .bind(restored_from)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Saves a new version of an agent of the caller's workspace.
    #[tracing::instrument(skip(db, rules, draft))]
    pub async fn update_agent(
        db: &Db,
        rules: &SaveRules,
        actor: &Actor,
        id: &str,
        draft: &AgentDraft,
    ) -> Result<Agent, CoreError> {
        save_version(db, rules, actor, id, draft, None).await
    }

    /// Saves `draft` as the agent's next version (`restored_from`: the older version it copies).
    pub(super) async fn save_version(
        db: &Db,
        rules: &SaveRules,
        actor: &Actor,
        id: &str,
        draft: &AgentDraft,
        restored_from: Option<i64>,
    ) -> Result<Agent, CoreError> {
        require_builder(actor)?;
        let mut config = validate_draft(rules, draft).await?;
        let now = now_ms();
        config.slug = free_slug(db, actor, &config.slug, !draft.slug.trim().is_empty(), id).await?;
        let mut tx = db.pool().begin().await?;
        let updated = sqlx::query(
            "UPDATE agents SET name = $1, name_key = $2, description = $3, provider = $4, \
             model = $5, system_prompt = $6, temperature = $7, max_tokens = $8, input_schema = $9, \
             output_schema = $10, prompt_template = $11, repair_output = $12, \
             current_version = current_version + 1, updated_at = $13, slug = $16 \
             WHERE id = $14 AND workspace_id = $15 \
             RETURNING current_version, created_at, published_version",
        )
        .bind(&config.name)
        .bind(config.name.to_lowercase())
        .bind(&config.description)
        .bind(config.provider.as_str())
        .bind(&config.model)
        .bind(&config.system_prompt)
        .bind(config.temperature)
        .bind(config.max_tokens)
        .bind(schema_text(&config.input_schema))
        .bind(schema_text(&config.output_schema))
        .bind(&config.prompt_template)
        .bind(i64::from(config.repair_output))
        .bind(now)
        .bind(id)
        .bind(&actor.workspace_id)
        .bind(&config.slug)
        .fetch_optional(&mut *tx)
        .await;
        let row = match updated {
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                return Err(which_taken(db, actor, &config, id).await);
            }
            other => other?.ok_or(CoreError::NotFound)?,
        };
        let version: i64 = row.try_get(0)?;
        let created_at: i64 = row.try_get(1)?;
        let published_version: Option<i64> = row.try_get(2)?;
        insert_version(&mut tx, actor, id, version, &config, now, restored_from).await?;
        bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        tracing::info!(agent_id = id, version, "agent updated");
        Ok(Agent {
            id: id.to_owned(),
            config,
            version,
            published_version,
            created_at,
            updated_at: now,
        })
    }

    /// Deletes an agent of the caller's workspace and records an audit event. Its runs stay on
    /// record (their `agent_id` becomes NULL; the name they ran under remains).
    #[tracing::instrument(skip(db))]
    pub async fn delete_agent(db: &Db, actor: &Actor, id: &str) -> Result<(), CoreError> {
        require_builder(actor)?;
        let mut tx = db.pool().begin().await?;
        let deleted: Option<(String,)> =
            sqlx::query_as("DELETE FROM agents WHERE id = $1 AND workspace_id = $2 RETURNING name")
                .bind(id)
                .bind(&actor.workspace_id)
                .fetch_optional(&mut *tx)
                .await?;
        let (name,) = deleted.ok_or(CoreError::NotFound)?;
        // Its own limits go with it.
        sqlx::query("DELETE FROM workspace_limits WHERE workspace_id = $1 AND scope = $2")
            .bind(&actor.workspace_id)
            .bind(format!("agent:{id}"))
            .execute(&mut *tx)
            .await?;
        crate::audit::record(&mut *tx, actor, "agent.deleted", id, &name).await?;
        bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        tracing::info!(agent_id = id, "agent deleted");
        Ok(())
    }

    /// How many agents the workspace has.
    pub async fn count_agents(db: &Db, actor: &Actor) -> Result<i64, CoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM agents WHERE workspace_id = $1")
            .bind(&actor.workspace_id)
            .fetch_one(db.pool())
            .await?;
        Ok(n)
    }
}

#[cfg(feature = "server")]
mod versions;
#[cfg(feature = "server")]
pub use versions::*;

#[cfg(test)]
mod tests;
