//! Run rows in the database: the batched writes the [`super::recorder`] commits (multi-row
//! statements added to a [`Writes`]), and the reads (one run, the latest runs, the start-up
//! recovery). Portable SQL on both backends; every value bound, never formatted into the text;
//! every read scoped by the caller's workspace.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{PREVIEW_CHARS, RunMode, RunStatus, RunTrigger, RunView};
use crate::api_tokens::ApiTokenRef;
use crate::db::{Db, Writes, now_ms};
use crate::error::CoreError;
use crate::pricing::CostSource;
use crate::validation::FieldError;
use crate::workspaces::Actor;

/// A run row as written: the business layer fills every column, the store writes it as given.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct RunRow {
    pub id: String,
    pub workspace_id: String,
    pub agent_id: String,
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
    pub cost_micros: Option<i64>,
    pub cost_source: CostSource,
    pub price_table_version: Option<String>,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub attempts: i64,
    pub finish_reason: Option<String>,
    pub field_errors: Vec<FieldError>,
    pub triggered_by: String,
    pub credential_id: Option<String>,
    /// The API token the run was started with.
    pub api_token: Option<ApiTokenRef>,
    /// A chat caller's system text, earlier turns and response format (JSON).
    pub conversation: Option<String>,
    /// The instance executing the run (`crate::instances`).
    pub instance_id: Option<String>,
    /// The run this one replays.
    pub replay_of: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

/// One provider call of a run, as written.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct AttemptRow {
    pub run_id: String,
    pub workspace_id: String,
    pub number: i64,
    pub http_status: Option<i64>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub waited_ms: i64,
    pub latency_ms: i64,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

impl RunRow {
    /// The run as the UI shows it: what was written (but the conversation, read by id only).
    pub fn view(&self) -> RunView {
        RunView {
            id: self.id.clone(),
            agent_id: Some(self.agent_id.clone()),
            agent_name: self.agent_name.clone(),
            agent_version: self.agent_version,
            mode: self.mode,
            trigger: self.trigger,
            status: self.status,
            input: self.input.clone(),
            output: self.output.clone(),
            output_is_json: self.output_is_json,
            preview: false,
            error_kind: self.error_kind.clone(),
            error_message: self.error_message.clone(),
            provider: self.provider.clone(),
            model: self.model.clone(),
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: self.total_tokens,
            cost_micros: self.cost_micros,
            cost_source: self.cost_source,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            attempts: self.attempts,
            created_at: self.created_at,
            finished_at: self.finished_at,
            field_errors: self.field_errors.clone(),
            api_token_name: self.api_token.as_ref().map(|t| t.name.clone()),
            finish_reason: self.finish_reason.clone(),
            // Read back only with the run by id: no run pays for parsing it as it finishes.
            conversation: None,
            price_table_version: self.price_table_version.clone(),
            replay_of: self.replay_of.clone(),
        }
    }
}

const RUN_INSERT_COLUMNS: &str = "id, workspace_id, agent_id, agent_name, agent_version, mode, \
    run_trigger, status, input, output, output_is_json, error_kind, error_message, provider, model, \
    prompt_tokens, completion_tokens, total_tokens, cost_micros, cost_source, price_table_version, \
    latency_ms, ttft_ms, attempts, finish_reason, field_errors, triggered_by, credential_id, \
    created_at, finished_at, api_token_id, api_token_name, conversation, instance_id, replay_of";

/// The columns a finished row replaces when its `running` row is already there.
const UPDATED: &[&str] = &[
    "status",
    "output",
    "output_is_json",
    "error_kind",
    "error_message",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost_micros",
    "cost_source",
    "price_table_version",
    "latency_ms",
    "ttft_ms",
    "attempts",
    "finish_reason",
    "field_errors",
    "credential_id",
    "finished_at",
];

/// Run rows per statement (34 values each: far under SQLite's 32,766 per statement).
const RUNS_PER_STATEMENT: usize = 500;

/// Adds the statements that write `rows` (new, or replacing the same run's `running` row),
/// [`RUNS_PER_STATEMENT`] per statement. A run appears at most once in `rows` (the caller keeps
/// each run's latest row).
pub(super) fn push_runs(writes: &mut Writes, rows: &[&RunRow]) {
    for rows in rows.chunks(RUNS_PER_STATEMENT) {
        push_run_statement(writes, rows);
    }
}

fn push_run_statement(writes: &mut Writes, rows: &[&RunRow]) {
    writes.add(|st| {
        st.sql("INSERT INTO runs (")
            .sql(RUN_INSERT_COLUMNS)
            .sql(") VALUES ");
        for (i, r) in rows.iter().enumerate() {
            st.sql(if i == 0 { "(" } else { ", (" });
            st.bind(r.id.clone())
                .sql(", ")
                .bind(r.workspace_id.clone())
                .sql(", ")
                .bind(r.agent_id.clone())
                .sql(", ")
                .bind(r.agent_name.clone())
                .sql(", ")
                .bind(r.agent_version)
                .sql(", ")
                .bind(r.mode.as_str())
                .sql(", ")
                .bind(r.trigger.as_str())
                .sql(", ")
                .bind(r.status.as_str())
                .sql(", ")
                .bind(r.input.clone())
                .sql(", ")
                .bind(r.output.clone())
                .sql(", ")
                .bind(i64::from(r.output_is_json))
                .sql(", ")
                .bind(r.error_kind.clone())
                .sql(", ")
                .bind(r.error_message.clone())
                .sql(", ")
                .bind(r.provider.clone())
                .sql(", ")
                .bind(r.model.clone())
                .sql(", ")
                .bind(r.prompt_tokens)
                .sql(", ")
                .bind(r.completion_tokens)
                .sql(", ")
                .bind(r.total_tokens)
                .sql(", ")
                .bind(r.cost_micros)
                .sql(", ")
                .bind(r.cost_source.as_str())
                .sql(", ")
                .bind(r.price_table_version.clone())
                .sql(", ")
                .bind(r.latency_ms)
                .sql(", ")
                .bind(r.ttft_ms)
                .sql(", ")
                .bind(r.attempts)
                .sql(", ")
                .bind(r.finish_reason.clone())
                .sql(", ")
                .bind(
                    (!r.field_errors.is_empty())
                        .then(|| serde_json::to_string(&r.field_errors).unwrap_or_default()),
                )
                .sql(", ")
                .bind(r.triggered_by.clone())
                .sql(", ")
                .bind(r.credential_id.clone())
                .sql(", ")
                .bind(r.created_at)
                .sql(", ")
                .bind(r.finished_at)
                .sql(", ")
                .bind(r.api_token.as_ref().map(|t| t.id.clone()))
                .sql(", ")
                .bind(r.api_token.as_ref().map(|t| t.name.clone()))
                .sql(", ")
                .bind(r.conversation.clone())
                .sql(", ")
                .bind(r.instance_id.clone())
                .sql(", ")
                .bind(r.replay_of.clone())
                .sql(")");
        }
        st.sql(" ON CONFLICT (id) DO UPDATE SET ");
        for (i, col) in UPDATED.iter().enumerate() {
            if i > 0 {
                st.sql(", ");
            }
            st.sql(col).sql(" = excluded.").sql(col);
        }
        // A finished row is final: a late write of the same run (a start's cancelled row, a
        // last-resort failed row after a write that did commit) never replaces it.
        st.sql(
            " WHERE runs.status IN ('running', 'interrupted') \
             AND runs.workspace_id = excluded.workspace_id",
        );
    });
}

/// Attempt rows per statement (10 values each).
const ATTEMPTS_PER_STATEMENT: usize = 500;

/// Adds the statements that write `rows`, [`ATTEMPTS_PER_STATEMENT`] per statement.
pub(super) fn push_attempts(writes: &mut Writes, rows: &[&AttemptRow]) {
    for chunk in rows.chunks(ATTEMPTS_PER_STATEMENT) {
        writes.add(|st| {
            st.sql(
                "INSERT INTO run_attempts (run_id, workspace_id, number, http_status, \
                 error_class, error_message, waited_ms, latency_ms, prompt_tokens, \
                 completion_tokens) VALUES ",
            );
            for (i, a) in chunk.iter().enumerate() {
                st.sql(if i == 0 { "(" } else { ", (" });
                st.bind(a.run_id.clone())
                    .sql(", ")
                    .bind(a.workspace_id.clone())
                    .sql(", ")
                    .bind(a.number)
                    .sql(", ")
                    .bind(a.http_status)
                    .sql(", ")
                    .bind(a.error_class.clone())
                    .sql(", ")
                    .bind(a.error_message.clone())
                    .sql(", ")
                    .bind(a.waited_ms)
                    .sql(", ")
                    .bind(a.latency_ms)
                    .sql(", ")
                    .bind(a.prompt_tokens)
                    .sql(", ")
                    .bind(a.completion_tokens)
                    .sql(")");
            }
            // An attempt already written (a retried write that had committed) stays as it was.
            st.sql(" ON CONFLICT (run_id, number) DO NOTHING");
        });
    }
}

const RUN_COLUMNS: &str = "id, agent_id, agent_name, agent_version, mode, run_trigger, status, \
    input, output, output_is_json, error_kind, error_message, provider, model, prompt_tokens, \
    completion_tokens, total_tokens, cost_micros, cost_source, latency_ms, ttft_ms, attempts, \
    created_at, finished_at, field_errors, api_token_name, finish_reason, price_table_version, \
    replay_of, conversation";

/// The columns of a list: input and output cut to [`PREVIEW_CHARS`] (`substr` counts characters
/// on both backends), so a list never re-reads megabytes of output.
fn preview_columns() -> String {
    let n = PREVIEW_CHARS;
    RUN_COLUMNS
        .replace(", conversation", ", CAST(NULL AS TEXT) AS conversation")
        .replace(
            "input, output,",
            &format!(
                "substr(input, 1, {n}) AS input, substr(output, 1, {n}) AS output, \
                 CAST(CASE WHEN length(input) > {n} OR length(output) > {n} THEN 1 ELSE 0 END \
                 AS BIGINT) AS preview,"
            ),
        )
}

fn run_from_row(row: &AnyRow) -> Result<RunView, CoreError> {
    let stored = |e: crate::string_enum::UnknownValue| CoreError::Internal(format!("stored {e}"));
    let mode: String = row.try_get("mode")?;
    let trigger: String = row.try_get("run_trigger")?;
    let status: String = row.try_get("status")?;
    let cost_source: String = row.try_get("cost_source")?;
    let output_is_json: i64 = row.try_get("output_is_json")?;
    let preview: i64 = row.try_get("preview")?;
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
        mode: RunMode::parse(&mode).map_err(stored)?,
        trigger: RunTrigger::parse(&trigger).map_err(stored)?,
        status: RunStatus::parse(&status).map_err(stored)?,
        input: row.try_get("input")?,
        output: row.try_get("output")?,
        output_is_json: output_is_json != 0,
        preview: preview != 0,
        error_kind: row.try_get("error_kind")?,
        error_message: row.try_get("error_message")?,
        provider: row.try_get("provider")?,
        model: row.try_get("model")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        total_tokens: row.try_get("total_tokens")?,
        cost_micros: row.try_get("cost_micros")?,
        cost_source: CostSource::parse(&cost_source).map_err(stored)?,
        latency_ms: row.try_get("latency_ms")?,
        ttft_ms: row.try_get("ttft_ms")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
        field_errors,
        api_token_name: row.try_get("api_token_name")?,
        finish_reason: row.try_get("finish_reason")?,
        price_table_version: row.try_get("price_table_version")?,
        replay_of: row.try_get("replay_of")?,
        conversation: row
            .try_get::<Option<String>, _>("conversation")?
            .and_then(|c| serde_json::from_str(&c).ok()),
    })
}

/// The latest runs of the workspace, or of one agent, newest first; `limit` is capped at 100.
/// Input and output are previews ([`RunView::preview`]).
#[tracing::instrument(skip(db))]
pub async fn list_runs(
    db: &Db,
    actor: &Actor,
    agent_id: Option<&str>,
    limit: i64,
) -> Result<Vec<RunView>, CoreError> {
    let limit = limit.clamp(1, 100);
    let columns = preview_columns();
    let rows = match agent_id {
        Some(agent_id) => {
            sqlx::query(&format!(
                "SELECT {columns} FROM runs WHERE workspace_id = $1 AND agent_id = $2 \
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
                "SELECT {columns} FROM runs WHERE workspace_id = $1 \
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

/// Which runs a page of [`query_runs`] holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub agent_id: Option<String>,
    pub status: Option<RunStatus>,
    pub mode: Option<super::RunMode>,
    pub trigger: Option<super::RunTrigger>,
    /// The provider (`openai`, `anthropic`, `openai_compatible`).
    pub provider: Option<String>,
    /// The model, exactly.
    pub model: Option<String>,
    pub api_token_id: Option<String>,
    /// Started at or after this (ms).
    pub from_ms: Option<i64>,
    /// Started before this (ms).
    pub to_ms: Option<i64>,
    /// Text in the input or the output, case-insensitive (at most [`MAX_SEARCH_CHARS`]).
    pub text: Option<String>,
    /// Only runs older than this one (`created_at`, `id`): the previous page's last run.
    pub before: Option<(i64, String)>,
    /// At most this many (capped at 100).
    pub limit: i64,
    /// Input and output whole (an export), not cut to previews.
    pub whole: bool,
}

/// The longest text a run search takes.
pub const MAX_SEARCH_CHARS: usize = 100;

/// `text` as a `LIKE` pattern matching it anywhere, its wildcards escaped with `!` (the same on
/// every backend and setting). On SQLite, whose `LOWER` folds ASCII only, the pattern is
/// ASCII-lower-cased to match `LOWER(column)`; PostgreSQL compares with `ILIKE` (its locale's
/// case rules). Either way a text always finds itself.
fn contains_pattern(text: &str, backend: crate::db::Backend) -> String {
    let mut out = String::from("%");
    for c in text.chars().take(MAX_SEARCH_CHARS) {
        let c = match backend {
            crate::db::Backend::Sqlite => c.to_ascii_lowercase(),
            crate::db::Backend::Postgres => c,
        };
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// A page of runs, newest first, and where the next page starts (`None` on the last page).
#[derive(Clone, Debug, PartialEq)]
pub struct RunPage {
    pub runs: Vec<RunView>,
    pub next: Option<(i64, String)>,
}

/// A page of the workspace's runs (keyset pagination on `created_at`, `id`: a page never shifts
/// when new runs arrive). Input and output are previews.
#[tracing::instrument(skip(db))]
pub async fn query_runs(db: &Db, actor: &Actor, query: &RunQuery) -> Result<RunPage, CoreError> {
    let limit = query.limit.clamp(1, 100);
    let columns = if query.whole {
        format!(
            "{}, CAST(0 AS BIGINT) AS preview",
            RUN_COLUMNS.replace(", conversation", ", CAST(NULL AS TEXT) AS conversation")
        )
    } else {
        preview_columns()
    };
    let mut sql = format!("SELECT {columns} FROM runs WHERE workspace_id = $1");
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    if query.agent_id.is_some() {
        sql.push_str(&format!(" AND agent_id = {}", next()));
    }
    if query.status.is_some() {
        sql.push_str(&format!(" AND status = {}", next()));
    }
    if query.mode.is_some() {
        sql.push_str(&format!(" AND mode = {}", next()));
    }
    if query.trigger.is_some() {
        sql.push_str(&format!(" AND run_trigger = {}", next()));
    }
    if query.provider.is_some() {
        sql.push_str(&format!(" AND provider = {}", next()));
    }
    if query.model.is_some() {
        sql.push_str(&format!(" AND model = {}", next()));
    }
    if query.api_token_id.is_some() {
        sql.push_str(&format!(" AND api_token_id = {}", next()));
    }
    if query.from_ms.is_some() {
        sql.push_str(&format!(" AND created_at >= {}", next()));
    }
    if query.to_ms.is_some() {
        sql.push_str(&format!(" AND created_at < {}", next()));
    }
    if query.text.is_some() {
        let (a, b) = (next(), next());
        sql.push_str(&match db.backend() {
            crate::db::Backend::Sqlite => format!(
                " AND (LOWER(input) LIKE {a} ESCAPE '!' OR LOWER(output) LIKE {b} ESCAPE '!')"
            ),
            crate::db::Backend::Postgres => {
                format!(" AND (input ILIKE {a} ESCAPE '!' OR output ILIKE {b} ESCAPE '!')")
            }
        });
    }
    if query.before.is_some() {
        let (a, b, c, d) = (next(), next(), next(), next());
        // `created_at <= a` alone bounds the index range (an OR does not, on SQLite: the page
        // would scan every newer run first); the OR then orders ties by id.
        sql.push_str(&format!(
            " AND created_at <= {d} AND (created_at < {a} OR (created_at = {b} AND id < {c}))"
        ));
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        next()
    ));
    let mut q = sqlx::query(&sql).bind(&actor.workspace_id);
    if let Some(agent) = &query.agent_id {
        q = q.bind(agent);
    }
    if let Some(status) = query.status {
        q = q.bind(status.as_str());
    }
    if let Some(mode) = query.mode {
        q = q.bind(mode.as_str());
    }
    if let Some(trigger) = query.trigger {
        q = q.bind(trigger.as_str());
    }
    if let Some(provider) = &query.provider {
        q = q.bind(provider);
    }
    if let Some(model) = &query.model {
        q = q.bind(model);
    }
    if let Some(token) = &query.api_token_id {
        q = q.bind(token);
    }
    if let Some(from) = query.from_ms {
        q = q.bind(from);
    }
    if let Some(to) = query.to_ms {
        q = q.bind(to);
    }
    if let Some(text) = &query.text {
        let pattern = contains_pattern(text, db.backend());
        q = q.bind(pattern.clone()).bind(pattern);
    }
    if let Some((at, id)) = &query.before {
        q = q.bind(*at).bind(*at).bind(id).bind(*at);
    }
    let rows = q.bind(limit + 1).fetch_all(db.pool()).await?;
    let mut runs = rows
        .iter()
        .map(run_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let more = runs.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    runs.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        runs.last().map(|r| (r.created_at, r.id.clone()))
    } else {
        None
    };
    Ok(RunPage { runs, next })
}

/// The provider calls of a run of the caller's workspace, in order.
pub async fn list_attempts(
    db: &Db,
    actor: &Actor,
    run_id: &str,
) -> Result<Vec<super::AttemptView>, CoreError> {
    let rows = sqlx::query(
        "SELECT number, http_status, error_class, error_message, waited_ms, latency_ms, \
         prompt_tokens, completion_tokens FROM run_attempts \
         WHERE run_id = $1 AND workspace_id = $2 ORDER BY number",
    )
    .bind(run_id)
    .bind(&actor.workspace_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(super::AttemptView {
                number: row.try_get("number")?,
                http_status: row.try_get("http_status")?,
                error_class: row.try_get("error_class")?,
                error_message: row.try_get("error_message")?,
                waited_ms: row.try_get("waited_ms")?,
                latency_ms: row.try_get("latency_ms")?,
                prompt_tokens: row.try_get("prompt_tokens")?,
                completion_tokens: row.try_get("completion_tokens")?,
            })
        })
        .collect()
}

/// One run of the caller's workspace, whole.
pub async fn get_run(db: &Db, actor: &Actor, id: &str) -> Result<RunView, CoreError> {
    let row = sqlx::query(&format!(
        "SELECT {RUN_COLUMNS}, CAST(0 AS BIGINT) AS preview FROM runs \
         WHERE id = $1 AND workspace_id = $2"
    ))
    .bind(id)
    .bind(&actor.workspace_id)
    .fetch_optional(db.pool())
    .await?
    .ok_or(CoreError::NotFound)?;
    run_from_row(&row)
}

/// Marks runs left `queued`/`running` by a crash or kill as `interrupted`; returns how many.
/// Called at start-up on SQLite, before the server accepts a request (on PostgreSQL, where other
/// instances may be executing runs, `crate::instances::recover` interrupts only theirs whose lease
/// expired).
pub async fn mark_interrupted(db: &Db) -> Result<u64, CoreError> {
    mark_interrupted_where(db, "", &[]).await
}

/// Marks these runs `interrupted` if they have not ended (this instance's runs still going when
/// it stops); a run that ends after all still writes its final row over it.
pub(super) async fn mark_interrupted_ids(db: &Db, ids: &[String]) -> Result<u64, CoreError> {
    let mut done = 0;
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let filter = format!(" AND id IN ({})", placeholders.join(", "));
        done += mark_interrupted_where(db, &filter, chunk).await?;
    }
    Ok(done)
}

async fn mark_interrupted_where(db: &Db, filter: &str, ids: &[String]) -> Result<u64, CoreError> {
    let sql = format!(
        "UPDATE runs SET status = 'interrupted', error_kind = 'interrupted', \
         error_message = 'The server stopped before this run finished.', finished_at = $1 \
         WHERE status IN ('queued', 'running'){filter}"
    );
    let mut query = sqlx::query(&sql).bind(now_ms());
    for id in ids {
        query = query.bind(id);
    }
    let done = query.execute(db.pool()).await?;
    Ok(done.rows_affected())
}
