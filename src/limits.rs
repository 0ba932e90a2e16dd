//! Workspace limits and budgets: how many runs and tokens a workspace may use a minute, and how
//! much it may spend in a (UTC) month.
//!
//! - **Rate limits** ([`gate`]): requests and tokens per minute, GCRA — a quiet workspace may
//!   send a minute's worth of requests at once plus `burst`, then one every `60 / rpm` seconds; a
//!   run's tokens are counted at admission as its input (tokenized, see
//!   `providers::tokens`) plus `max_tokens`, and corrected to what it used when it ends. Counted
//!   in Redis when the server has one (every instance enforces one limit), else in this process.
//! - **Budgets** ([`budget`]): every live run reserves its most possible cost at admission and
//!   settles to its actual cost when it ends; under a hard cap a run is refused unless
//!   `spent + reserved + its reservation ≤ budget`, decided by one conditional write in the
//!   database (exact under any concurrency, on any number of instances). A soft alert at a
//!   percentage of the budget is audited and shown to admins until the month or the budget
//!   changes. Mock runs spend nothing and reserve nothing.
//!
//! This module holds the settings, their validation and the views the app shows; the server part
//! stores them and reports the month's usage.

use serde::{Deserialize, Serialize};

use crate::validation::FieldError;

#[cfg(feature = "server")]
pub mod budget;
#[cfg(feature = "server")]
pub mod gate;

crate::string_enum! {
    /// What a hard cap does with a run of a model that has no price.
    pub enum UnpricedPolicy("unpriced-model policy") {
        /// Refused while a hard cap is set: its cost could not be counted.
        Refuse = "refuse",
        /// Admitted, and counted as a run of unknown cost (never as $0).
        Allow = "allow",
    }
}

crate::string_enum! {
    /// What an override limits: one agent, or one API token.
    pub enum OverrideKind("override target") {
        Agent = "agent",
        Token = "token",
    }
}

/// The scope name of an override's rows (`agent:<id>`, `token:<id>`); `""` is the workspace's.
pub fn scope_of(kind: OverrideKind, target_id: &str) -> String {
    format!("{kind}:{target_id}")
}

/// Limits of one agent or one API token, on top of the workspace's (both apply): a request and a
/// token rate, and a monthly budget that is always a hard cap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Override {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: OverrideKind,
    pub target_id: String,
    /// The agent's or the token's name.
    pub target_name: String,
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    pub monthly_budget_micros: Option<i64>,
    /// Spent this month under its budget, since the budget was set (micro-dollars).
    pub spent_micros: i64,
}

impl Override {
    /// The settings the gate applies for it.
    pub fn settings(&self) -> LimitSettings {
        LimitSettings {
            requests_per_minute: self.requests_per_minute,
            tokens_per_minute: self.tokens_per_minute,
            monthly_budget_micros: self.monthly_budget_micros,
            ..LimitSettings::default()
        }
    }
}

/// Parses an override form (empty = no limit; at least one limit).
pub fn parse_override(
    requests_per_minute: &str,
    tokens_per_minute: &str,
    monthly_budget_usd: &str,
) -> Result<LimitSettings, Vec<FieldError>> {
    let settings = parse_limits(&LimitsDraft {
        requests_per_minute: requests_per_minute.to_owned(),
        tokens_per_minute: tokens_per_minute.to_owned(),
        monthly_budget_usd: monthly_budget_usd.to_owned(),
        hard_cap: true,
        ..LimitsDraft::default()
    })?;
    if settings == LimitSettings::default() {
        return Err(vec![FieldError::new(
            "requests_per_minute",
            "Set at least one limit (or remove the override).",
        )]);
    }
    Ok(settings)
}

/// Highest request rate that can be set, per minute.
pub const MAX_REQUESTS_PER_MINUTE: i64 = 1_000_000;
/// Highest token rate that can be set, per minute (a million a second).
pub const MAX_TOKENS_PER_MINUTE: i64 = 60_000_000;
/// Highest monthly budget, in micro-dollars ($10,000,000).
pub const MAX_BUDGET_MICROS: i64 = 10_000_000 * 1_000_000;

/// A workspace's limits; `None` is no limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitSettings {
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    /// Requests allowed at once above a minute's worth (with `requests_per_minute`).
    pub burst: Option<i64>,
    pub monthly_budget_micros: Option<i64>,
    /// Percentage of the budget at which admins are alerted.
    pub soft_alert_percent: Option<i64>,
    /// Refuse runs that would pass the budget (else the budget only alerts).
    pub hard_cap: bool,
    pub unpriced: UnpricedPolicy,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            requests_per_minute: None,
            tokens_per_minute: None,
            burst: None,
            monthly_budget_micros: None,
            soft_alert_percent: None,
            hard_cap: true,
            unpriced: UnpricedPolicy::Refuse,
        }
    }
}

impl LimitSettings {
    /// The budget that refuses runs: the monthly budget when it is a hard cap.
    pub fn cap_micros(&self) -> Option<i64> {
        self.monthly_budget_micros.filter(|_| self.hard_cap)
    }

    /// Requests a quiet workspace may send at once: a minute's worth plus the burst.
    pub fn request_capacity(&self) -> Option<i64> {
        self.requests_per_minute
            .map(|rpm| rpm.saturating_add(self.burst.unwrap_or(0)))
    }
}

/// The limits form as typed (empty = no limit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsDraft {
    pub requests_per_minute: String,
    pub tokens_per_minute: String,
    pub burst: String,
    /// US dollars, up to six decimals.
    pub monthly_budget_usd: String,
    pub soft_alert_percent: String,
    pub hard_cap: bool,
    pub unpriced: String,
}

impl LimitsDraft {
    /// The form filled with `settings`.
    pub fn of(settings: &LimitSettings) -> LimitsDraft {
        let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        LimitsDraft {
            requests_per_minute: n(settings.requests_per_minute),
            tokens_per_minute: n(settings.tokens_per_minute),
            burst: n(settings.burst),
            monthly_budget_usd: settings
                .monthly_budget_micros
                .map(format_usd_amount)
                .unwrap_or_default(),
            soft_alert_percent: n(settings.soft_alert_percent),
            hard_cap: settings.hard_cap,
            unpriced: settings.unpriced.as_str().to_owned(),
        }
    }
}

/// A whole number in `min..=max`, or nothing when empty.
fn count_field(
    text: &str,
    field: &str,
    min: i64,
    max: i64,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    let text = text.trim().replace([',', '_'], "");
    if text.is_empty() {
        return None;
    }
    match text.parse::<i64>() {
        Ok(v) if (min..=max).contains(&v) => Some(v),
        _ => {
            errors.push(FieldError::new(
                field,
                format!(
                    "Enter a whole number from {min} to {max}, or leave it empty for no limit."
                ),
            ));
            None
        }
    }
}

/// Parses dollars (`"25"`, `"12.50"`, `"$0.000001"`) into micro-dollars: at most six decimals,
/// from 0 to [`MAX_BUDGET_MICROS`].
pub fn parse_usd_amount(text: &str) -> Result<i64, String> {
    let wrong = || {
        "Enter an amount in US dollars, e.g. 25 or 12.50 (at most six decimals, up to \
         10,000,000)."
            .to_owned()
    };
    let text = text.trim().trim_start_matches('$').replace(',', "");
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 6
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || whole.len() > 8
    {
        return Err(wrong());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| wrong())?
    };
    let frac: i64 = format!("{frac:0<6}").parse().map_err(|_| wrong())?;
    let micros = whole.saturating_mul(1_000_000).saturating_add(frac);
    if micros > MAX_BUDGET_MICROS {
        return Err(wrong());
    }
    Ok(micros)
}

/// Micro-dollars as the form shows them: `25`, `12.5`, `0.000001`.
pub fn format_usd_amount(micros: i64) -> String {
    let whole = micros / 1_000_000;
    let frac = micros % 1_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// Checks a limits form; every field's error at once.
pub fn parse_limits(draft: &LimitsDraft) -> Result<LimitSettings, Vec<FieldError>> {
    let mut errors = Vec::new();
    let requests_per_minute = count_field(
        &draft.requests_per_minute,
        "requests_per_minute",
        1,
        MAX_REQUESTS_PER_MINUTE,
        &mut errors,
    );
    let tokens_per_minute = count_field(
        &draft.tokens_per_minute,
        "tokens_per_minute",
        1,
        MAX_TOKENS_PER_MINUTE,
        &mut errors,
    );
    let burst = count_field(
        &draft.burst,
        "burst",
        0,
        MAX_REQUESTS_PER_MINUTE,
        &mut errors,
    );
    if burst.is_some()
        && requests_per_minute.is_none()
        && draft.requests_per_minute.trim().is_empty()
    {
        errors.push(FieldError::new(
            "burst",
            "A burst adds to a request limit: set requests per minute too.",
        ));
    }
    let budget_text = draft.monthly_budget_usd.trim();
    let monthly_budget_micros = if budget_text.is_empty() {
        None
    } else {
        parse_usd_amount(budget_text)
            .map_err(|m| errors.push(FieldError::new("monthly_budget_usd", &m)))
            .ok()
    };
    let soft_alert_percent = count_field(
        &draft.soft_alert_percent,
        "soft_alert_percent",
        1,
        100,
        &mut errors,
    );
    if soft_alert_percent.is_some() && budget_text.is_empty() {
        errors.push(FieldError::new(
            "soft_alert_percent",
            "An alert is a percentage of the monthly budget: set a budget too.",
        ));
    }
    let unpriced = match draft.unpriced.trim() {
        "" => UnpricedPolicy::Refuse,
        other => UnpricedPolicy::parse(other).unwrap_or_else(|_| {
            errors.push(FieldError::new(
                "unpriced",
                "Choose whether models without a price are refused or allowed.",
            ));
            UnpricedPolicy::Refuse
        }),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(LimitSettings {
        requests_per_minute,
        tokens_per_minute,
        burst,
        monthly_budget_micros,
        soft_alert_percent,
        hard_cap: draft.hard_cap,
        unpriced,
    })
}

/// One day of the month's usage (live and mock runs; cost of live runs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayUsage {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub runs: i64,
    pub tokens: i64,
    /// What the day's priced live runs cost, in micro-dollars.
    pub cost_micros: i64,
}

/// A rate limit's window now: units of `capacity` left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateWindow {
    /// The limit, per minute.
    pub per_minute: i64,
    /// How many may be used at once when the window is full.
    pub capacity: i64,
    pub remaining: i64,
    /// Milliseconds until the window is full again.
    pub full_in_ms: i64,
}

/// The budget alert admins see on every page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetAlert {
    pub spent_micros: i64,
    pub budget_micros: i64,
    pub percent: i64,
    /// Whether the budget is used up (a hard cap refuses live runs now).
    pub exhausted: bool,
    pub resets_at: i64,
}

impl BudgetAlert {
    /// The banner's sentence.
    pub fn message(&self) -> String {
        let used = if self.budget_micros > 0 {
            i128::from(self.spent_micros) * 100 / i128::from(self.budget_micros)
        } else {
            100
        };
        format!(
            "This workspace has spent {} of its {} monthly budget ({used}%){}; it resets on {}.",
            crate::pricing::format_cost(Some(self.spent_micros)),
            crate::pricing::format_cost(Some(self.budget_micros)),
            if self.exhausted {
                " — live runs are refused until then"
            } else {
                ""
            },
            &crate::timefmt::format_utc(self.resets_at)[..10]
        )
    }
}

/// The month so far: the settings, spend and reservations, runs and tokens by day, and the rate
/// windows now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageView {
    pub limits: LimitSettings,
    /// `YYYY-MM`, UTC.
    pub month: String,
    /// When the month ends (ms).
    pub resets_at: i64,
    pub spent_micros: i64,
    /// Held by live runs in flight.
    pub reserved_micros: i64,
    /// Live runs of models without a price (their cost is unknown).
    pub unpriced_runs: i64,
    pub runs: i64,
    pub tokens: i64,
    pub by_day: Vec<DayUsage>,
    pub requests: Option<RateWindow>,
    pub tokens_window: Option<RateWindow>,
    pub alert: Option<BudgetAlert>,
    /// Per-agent and per-token limits, with what each spent this month.
    pub overrides: Vec<Override>,
}

impl UsageView {
    /// What is left of the monthly budget (`None` without one).
    pub fn remaining_micros(&self) -> Option<i64> {
        self.limits.monthly_budget_micros.map(|b| {
            b.saturating_sub(self.spent_micros)
                .saturating_sub(self.reserved_micros)
                .max(0)
        })
    }
}

/// What a run would cost, shown before Run: input tokens estimated as admission counts them,
/// and a range from the input alone to input plus `max_tokens` of output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEstimate {
    pub input_tokens: i64,
    /// Counted by the model's own tokenizer (else estimated).
    pub exact_tokens: bool,
    pub max_tokens: i64,
    /// `None` when the model has no price.
    pub low_micros: Option<i64>,
    pub high_micros: Option<i64>,
    /// What admission reserves for a live run (a repair attempt doubles the worst case).
    pub reserve_micros: Option<i64>,
    /// Left of the monthly budget (`None` without one).
    pub remaining_micros: Option<i64>,
}

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use super::*;
    use crate::db::{Db, now_ms};
    use crate::error::CoreError;
    use crate::workspaces::{Actor, require_admin};

    type Row = (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        i64,
        String,
    );

    /// Every limit of a workspace: its own, and its per-agent and per-token overrides (by scope).
    #[derive(Clone, Debug, Default, PartialEq, Eq)]
    pub struct LimitSet {
        pub workspace: LimitSettings,
        pub overrides: std::collections::HashMap<String, LimitSettings>,
    }

    impl LimitSet {
        /// What applies to a run of `agent_id` (with API token `token_id`): the workspace's
        /// first, then the agent's, then the token's — each with its scope.
        pub fn for_run(
            &self,
            agent_id: &str,
            token_id: Option<&str>,
        ) -> Vec<(String, &LimitSettings)> {
            let mut out = vec![(String::new(), &self.workspace)];
            for scope in std::iter::once(scope_of(OverrideKind::Agent, agent_id))
                .chain(token_id.map(|t| scope_of(OverrideKind::Token, t)))
            {
                if let Some(settings) = self.overrides.get(&scope) {
                    out.push((scope, settings));
                }
            }
            out
        }
    }

    /// A limits row with its scope.
    type ScopedRow = (
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        i64,
        String,
    );

    /// An override as stored: scope, its limits, the agent's and the token's names, its spend.
    type OverrideRow = (
        String,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );

    /// Most overrides a workspace may have.
    pub const MAX_OVERRIDES: i64 = 1_000;

    /// A workspace's limits and overrides, in one query.
    pub async fn limit_set(db: &Db, workspace_id: &str) -> Result<LimitSet, CoreError> {
        let rows: Vec<ScopedRow> = sqlx::query_as(
            "SELECT scope, requests_per_minute, tokens_per_minute, burst, \
                 monthly_budget_micros, soft_alert_percent, hard_cap, unpriced \
                 FROM workspace_limits WHERE workspace_id = $1",
        )
        .bind(workspace_id)
        .fetch_all(db.pool())
        .await?;
        let mut set = LimitSet::default();
        for (scope, rpm, tpm, burst, budget, alert, hard_cap, unpriced) in rows {
            let settings = settings_of((rpm, tpm, burst, budget, alert, hard_cap, unpriced))?;
            if scope.is_empty() {
                set.workspace = settings;
            } else {
                set.overrides.insert(scope, settings);
            }
        }
        Ok(set)
    }

    /// The workspace's overrides with their targets' names and this month's spend under each.
    pub async fn overrides(db: &Db, workspace_id: &str) -> Result<Vec<Override>, CoreError> {
        let month = crate::timefmt::month_of(now_ms()).0;
        let rows: Vec<OverrideRow> =
            sqlx::query_as(
                "SELECT l.scope, l.requests_per_minute, l.tokens_per_minute, \
                 l.monthly_budget_micros, a.name, t.name, b.spent_micros \
                 FROM workspace_limits l \
                 LEFT JOIN agents a ON l.scope = 'agent:' || a.id AND a.workspace_id = l.workspace_id \
                 LEFT JOIN api_tokens t ON l.scope = 'token:' || t.id AND t.workspace_id = l.workspace_id \
                 LEFT JOIN budget_ledger b ON b.workspace_id = l.workspace_id AND b.scope = l.scope \
                 AND b.month = $2 \
                 WHERE l.workspace_id = $1 AND l.scope <> '' ORDER BY l.scope",
            )
            .bind(workspace_id)
            .bind(month)
            .fetch_all(db.pool())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(scope, rpm, tpm, budget, agent, token, spent)| {
                let (kind, id) = scope.split_once(':')?;
                let kind = OverrideKind::parse(kind).ok()?;
                Some(Override {
                    kind,
                    target_id: id.to_owned(),
                    target_name: agent.or(token).unwrap_or_else(|| "(deleted)".to_owned()),
                    requests_per_minute: rpm,
                    tokens_per_minute: tpm,
                    monthly_budget_micros: budget,
                    spent_micros: spent.unwrap_or(0),
                })
            })
            .collect())
    }

    /// Sets (or replaces) the limits of one agent or API token of the actor's workspace (admins
    /// and owners; audited; in effect on every instance with the next run). `NotFound` for a
    /// target that is not the workspace's.
    pub async fn set_override(
        db: &Db,
        actor: &Actor,
        kind: OverrideKind,
        target_id: &str,
        settings: &LimitSettings,
    ) -> Result<(), CoreError> {
        require_admin(actor)?;
        let table = match kind {
            OverrideKind::Agent => "agents",
            OverrideKind::Token => "api_tokens",
        };
        let found: Option<(i64,)> = sqlx::query_as(&format!(
            "SELECT 1 FROM {table} WHERE id = $1 AND workspace_id = $2"
        ))
        .bind(target_id)
        .bind(&actor.workspace_id)
        .fetch_optional(db.pool())
        .await?;
        if found.is_none() {
            return Err(CoreError::NotFound);
        }
        let scope = scope_of(kind, target_id);
        let count: (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM workspace_limits WHERE workspace_id = $1 AND scope <> '' \
             AND scope <> $2",
        )
        .bind(&actor.workspace_id)
        .bind(&scope)
        .fetch_one(db.pool())
        .await?;
        if count.0 >= MAX_OVERRIDES {
            return Err(CoreError::field(
                "target",
                &format!("A workspace may have at most {MAX_OVERRIDES} overrides."),
            ));
        }
        let mut tx = db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO workspace_limits (workspace_id, scope, requests_per_minute, \
             tokens_per_minute, burst, monthly_budget_micros, soft_alert_percent, hard_cap, \
             unpriced, updated_at) VALUES ($1, $2, $3, $4, NULL, $5, NULL, 1, 'refuse', $6) \
             ON CONFLICT (workspace_id, scope) DO UPDATE SET \
             requests_per_minute = excluded.requests_per_minute, \
             tokens_per_minute = excluded.tokens_per_minute, \
             monthly_budget_micros = excluded.monthly_budget_micros, \
             updated_at = excluded.updated_at",
        )
        .bind(&actor.workspace_id)
        .bind(&scope)
        .bind(settings.requests_per_minute)
        .bind(settings.tokens_per_minute)
        .bind(settings.monthly_budget_micros)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        crate::audit::record(
            &mut *tx,
            actor,
            "limits.override_set",
            &scope,
            &detail(settings),
        )
        .await?;
        crate::workspaces::bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes one agent's or token's override (admins and owners; audited).
    pub async fn delete_override(
        db: &Db,
        actor: &Actor,
        kind: OverrideKind,
        target_id: &str,
    ) -> Result<(), CoreError> {
        require_admin(actor)?;
        let scope = scope_of(kind, target_id);
        let mut tx = db.pool().begin().await?;
        let gone =
            sqlx::query("DELETE FROM workspace_limits WHERE workspace_id = $1 AND scope = $2")
                .bind(&actor.workspace_id)
                .bind(&scope)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if gone == 0 {
            tx.rollback().await?;
            return Err(CoreError::NotFound);
        }
        crate::audit::record(&mut *tx, actor, "limits.override_removed", &scope, "").await?;
        crate::workspaces::bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The workspace's limits (any member may read them: the test panel shows what is left).
    pub async fn workspace_limits(db: &Db, workspace_id: &str) -> Result<LimitSettings, CoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT requests_per_minute, tokens_per_minute, burst, monthly_budget_micros, \
             soft_alert_percent, hard_cap, unpriced FROM workspace_limits \
             WHERE workspace_id = $1 AND scope = ''",
        )
        .bind(workspace_id)
        .fetch_optional(db.pool())
        .await?;
        row.map_or_else(|| Ok(LimitSettings::default()), settings_of)
    }

    /// A stored limits row as settings.
    fn settings_of(
        (rpm, tpm, burst, budget, alert, hard_cap, unpriced): Row,
    ) -> Result<LimitSettings, CoreError> {
        Ok(LimitSettings {
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
            burst,
            monthly_budget_micros: budget,
            soft_alert_percent: alert,
            hard_cap: hard_cap != 0,
            unpriced: UnpricedPolicy::parse(&unpriced)
                .map_err(|e| CoreError::Internal(format!("stored {e}")))?,
        })
    }

    /// One value of the audit detail: `name=value`, or `name=none`.
    fn detail(settings: &LimitSettings) -> String {
        let n = |v: Option<i64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        format!(
            "requests_per_minute={} tokens_per_minute={} burst={} monthly_budget_micros={} \
             soft_alert_percent={} hard_cap={} unpriced={}",
            n(settings.requests_per_minute),
            n(settings.tokens_per_minute),
            n(settings.burst),
            n(settings.monthly_budget_micros),
            n(settings.soft_alert_percent),
            settings.hard_cap,
            settings.unpriced
        )
    }

    /// Sets the workspace's limits (admins and owners): audited, and seen by every instance with
    /// its next run (the workspace's generation moves).
    pub async fn set_workspace_limits(
        db: &Db,
        actor: &Actor,
        settings: &LimitSettings,
    ) -> Result<LimitSettings, CoreError> {
        require_admin(actor)?;
        let mut tx = db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO workspace_limits (workspace_id, scope, requests_per_minute, \
             tokens_per_minute, burst, monthly_budget_micros, soft_alert_percent, hard_cap, \
             unpriced, updated_at) VALUES ($1, '', $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (workspace_id, scope) DO UPDATE SET \
             requests_per_minute = excluded.requests_per_minute, \
             tokens_per_minute = excluded.tokens_per_minute, burst = excluded.burst, \
             monthly_budget_micros = excluded.monthly_budget_micros, \
             soft_alert_percent = excluded.soft_alert_percent, hard_cap = excluded.hard_cap, \
             unpriced = excluded.unpriced, updated_at = excluded.updated_at",
        )
        .bind(&actor.workspace_id)
        .bind(settings.requests_per_minute)
        .bind(settings.tokens_per_minute)
        .bind(settings.burst)
        .bind(settings.monthly_budget_micros)
        .bind(settings.soft_alert_percent)
        .bind(i64::from(settings.hard_cap))
        .bind(settings.unpriced.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        crate::audit::record(
            &mut *tx,
            actor,
            "limits.set",
            "workspace",
            &detail(settings),
        )
        .await?;
        crate::workspaces::bump_generation(&mut *tx, &actor.workspace_id).await?;
        tx.commit().await?;
        Ok(settings.clone())
    }

    /// The month so far for the actor's workspace (any member), with the rate windows `gate`
    /// reports (none without a gate).
    pub async fn usage(
        db: &Db,
        actor: &Actor,
        gate: Option<&gate::LimitsGate>,
    ) -> Result<UsageView, CoreError> {
        let limits = workspace_limits(db, &actor.workspace_id).await?;
        let now = now_ms();
        let (month, resets_at) = crate::timefmt::month_of(now);
        let ledger = budget::ledger(db, &actor.workspace_id, &month).await?;
        let start = crate::timefmt::month_start(now);
        let days: Vec<(i64, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT created_at / 86400000 AS day, COUNT(*), \
             CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT), \
             CAST(SUM(CASE WHEN mode = 'live' THEN cost_micros ELSE 0 END) AS BIGINT) \
             FROM runs WHERE workspace_id = $1 AND created_at >= $2 \
             GROUP BY created_at / 86400000 ORDER BY day",
        )
        .bind(&actor.workspace_id)
        .bind(start)
        .fetch_all(db.pool())
        .await?;
        let by_day: Vec<DayUsage> = days
            .into_iter()
            .map(|(day, runs, tokens, cost)| DayUsage {
                day: crate::timefmt::format_utc(day.saturating_mul(86_400_000))[..10].to_owned(),
                runs,
                tokens,
                cost_micros: cost.unwrap_or(0),
            })
            .collect();
        let (requests, tokens_window) = match gate {
            Some(gate) => gate.windows(&actor.workspace_id, &limits).await,
            None => (None, None),
        };
        Ok(UsageView {
            alert: budget::alert_of(&limits, &ledger, resets_at),
            month,
            resets_at,
            spent_micros: ledger.spent_micros,
            reserved_micros: ledger.reserved_micros,
            unpriced_runs: ledger.unpriced_runs,
            runs: by_day.iter().map(|d| d.runs).sum(),
            tokens: by_day.iter().map(|d| d.tokens).sum(),
            by_day,
            requests,
            tokens_window,
            limits,
            overrides: overrides(db, &actor.workspace_id).await?,
        })
    }

    /// The budget alert for an admin of the actor's workspace (`None` for other roles, or when
    /// none is raised) — one indexed read, for the banner on every page.
    pub async fn alert_for(db: &Db, actor: &Actor) -> Result<Option<BudgetAlert>, CoreError> {
        if !actor.role.can_admin() {
            return Ok(None);
        }
        let limits = workspace_limits(db, &actor.workspace_id).await?;
        if limits.monthly_budget_micros.is_none() {
            return Ok(None);
        }
        let (month, resets_at) = crate::timefmt::month_of(now_ms());
        let ledger = budget::ledger(db, &actor.workspace_id, &month).await?;
        Ok(budget::alert_of(&limits, &ledger, resets_at))
    }
}

#[cfg(test)]
mod tests;
