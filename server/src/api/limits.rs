//! The workspace's limits and usage: `GET /api/v1/workspace/limits` and
//! `GET /api/v1/workspace/usage` (`read` scope), `PUT /api/v1/workspace/limits` (`admin` scope;
//! the whole set, audited, in effect on every instance with the next run).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use galaxy_app::state::AppState;
use galaxy_core::api_tokens::ApiScope;
use galaxy_core::limits::{
    DayUsage, LimitSettings, LimitsDraft, RateWindow, UsageView, parse_limits,
    set_workspace_limits, usage as month_usage, workspace_limits,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, caller};

/// A workspace's limits; `null` is no limit.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiLimits {
    /// Requests (runs) per minute, 1 to 1,000,000.
    #[serde(default)]
    pub requests_per_minute: Option<i64>,
    /// Tokens per minute (a run counts its input and max_tokens, corrected to what it used), 1 to
    /// 60,000,000.
    #[serde(default)]
    pub tokens_per_minute: Option<i64>,
    /// Requests allowed at once beyond a minute's worth (needs requests_per_minute).
    #[serde(default)]
    pub burst: Option<i64>,
    /// The monthly budget (UTC calendar months) in US dollars, up to six decimals.
    #[serde(default)]
    pub monthly_budget_usd: Option<f64>,
    /// Alert admins (audit event and banner) at this percentage of the budget, 1 to 100.
    #[serde(default)]
    pub soft_alert_percent: Option<i64>,
    /// Refuse live runs that could pass the budget (402 budget_exceeded); false: the budget only
    /// alerts. Default true.
    #[serde(default = "yes")]
    pub hard_cap: bool,
    /// Under a hard cap, runs of models without a price are `refuse`d (default) or `allow`ed and
    /// counted as runs of unknown cost.
    #[serde(default = "refuse")]
    pub unpriced_models: String,
}

fn yes() -> bool {
    true
}

fn refuse() -> String {
    "refuse".into()
}

impl From<LimitSettings> for ApiLimits {
    fn from(s: LimitSettings) -> Self {
        ApiLimits {
            requests_per_minute: s.requests_per_minute,
            tokens_per_minute: s.tokens_per_minute,
            burst: s.burst,
            // Micro-dollars are exact in a double up to $9e9 (the cap is $1e7).
            monthly_budget_usd: s.monthly_budget_micros.map(|m| m as f64 / 1_000_000.0),
            soft_alert_percent: s.soft_alert_percent,
            hard_cap: s.hard_cap,
            unpriced_models: s.unpriced.as_str().to_owned(),
        }
    }
}

impl ApiLimits {
    /// The settings, by the same rules (and field names) as the Settings form.
    fn settings(&self) -> Result<LimitSettings, ApiError> {
        let n = count_text;
        let draft = LimitsDraft {
            requests_per_minute: n(self.requests_per_minute),
            tokens_per_minute: n(self.tokens_per_minute),
            burst: n(self.burst),
            monthly_budget_usd: self.monthly_budget_usd.map(usd_text).unwrap_or_default(),
            soft_alert_percent: n(self.soft_alert_percent),
            hard_cap: self.hard_cap,
            unpriced: self.unpriced_models.clone(),
        };
        parse_limits(&draft).map_err(|fields| {
            let fields = fields
                .into_iter()
                .map(|mut f| {
                    if f.field == "unpriced" {
                        f.field = "unpriced_models".into();
                    }
                    f
                })
                .collect();
            galaxy_core::CoreError::Validation(fields).into()
        })
    }
}

/// A JSON count as the form's text (empty: no limit).
fn count_text(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// A JSON number of dollars as the form's text: whole micro-dollars (`12.5`, `0.3` even when
/// the client's double says `0.30000000000000004`); more precision than that is refused by the
/// form's rules (the text keeps it), as are negative and huge amounts.
fn usd_text(usd: f64) -> String {
    let micros = (usd * 1_000_000.0).round();
    if usd.is_finite() && (usd * 1_000_000.0 - micros).abs() < 1e-3 && micros.abs() < 1e15 {
        let sign = if micros < 0.0 { "-" } else { "" };
        format!(
            "{sign}{}",
            galaxy_core::limits::format_usd_amount(micros.abs() as i64)
        )
    } else {
        format!("{usd}")
    }
}

/// The month so far. Money is in micro-dollars (integers: exact).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiUsage {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// When the month ends (ms since the Unix epoch).
    pub resets_at: i64,
    pub spent_micros: i64,
    /// Held by live runs in flight (each reserves its most possible cost).
    pub reserved_micros: i64,
    /// The monthly budget (`null`: none).
    pub budget_micros: Option<i64>,
    /// What is left of it (`null`: no budget).
    pub remaining_micros: Option<i64>,
    pub runs: i64,
    pub tokens: i64,
    /// Live runs of models without a price (cost unknown, never counted as $0).
    pub unpriced_runs: i64,
    pub by_day: Vec<DayUsage>,
    /// The request window now (`null`: no request limit).
    pub requests: Option<RateWindow>,
    /// The token window now (`null`: no token limit).
    pub tokens_window: Option<RateWindow>,
    pub limits: ApiLimits,
}

impl From<UsageView> for ApiUsage {
    fn from(u: UsageView) -> Self {
        ApiUsage {
            remaining_micros: u.remaining_micros(),
            month: u.month,
            resets_at: u.resets_at,
            spent_micros: u.spent_micros,
            reserved_micros: u.reserved_micros,
            budget_micros: u.limits.monthly_budget_micros,
            runs: u.runs,
            tokens: u.tokens,
            unpriced_runs: u.unpriced_runs,
            by_day: u.by_day,
            requests: u.requests,
            tokens_window: u.tokens_window,
            limits: u.limits.into(),
        }
    }
}

/// The workspace's limits.
#[utoipa::path(get, path = "/api/v1/workspace/limits", tag = "workspace",
    responses(
        (status = 200, description = "The token's workspace's limits.", body = ApiLimits),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the read scope.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["read"])))]
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ApiLimits>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Read)?;
    Ok(Json(
        workspace_limits(&state.db, &actor.workspace_id)
            .await?
            .into(),
    ))
}

/// Replaces the workspace's limits (every field; a missing one is no limit).
#[utoipa::path(put, path = "/api/v1/workspace/limits", tag = "workspace",
    request_body = ApiLimits,
    responses(
        (status = 200, description = "The limits now in effect.", body = ApiLimits),
        (status = 400, description = "The body is not a limits object.", body = super::ErrorEnvelope),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the admin scope, or its creator is not an admin.", body = super::ErrorEnvelope),
        (status = 422, description = "Invalid fields (each named).", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["admin"])))]
pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ApiLimits>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Admin)?;
    let wanted: ApiLimits = super::json_body(body, "limits object")?;
    let settings = wanted.settings()?;
    Ok(Json(
        set_workspace_limits(&state.db, actor, &settings)
            .await?
            .into(),
    ))
}

/// The month so far: spend, reservations, runs and tokens by day, and the rate windows now.
#[utoipa::path(get, path = "/api/v1/workspace/usage", tag = "workspace",
    responses(
        (status = 200, description = "Month-to-date usage of the token's workspace.", body = ApiUsage),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the read scope.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["read"])))]
pub async fn usage(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ApiUsage>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Read)?;
    Ok(Json(
        month_usage(&state.db, actor, Some(&state.limits))
            .await?
            .into(),
    ))
}

/// One agent's or API token's own limits, as the API takes them (`null`: no limit).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiOverride {
    #[serde(default)]
    pub requests_per_minute: Option<i64>,
    #[serde(default)]
    pub tokens_per_minute: Option<i64>,
    /// A hard cap on the target's spend per UTC month, in US dollars.
    #[serde(default)]
    pub monthly_budget_usd: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideList {
    pub data: Vec<galaxy_core::limits::Override>,
}

/// `agent:<id or slug>` or `token:<id>`, checked against the caller's workspace.
async fn target(
    state: &AppState,
    actor: &galaxy_core::workspaces::Actor,
    text: &str,
) -> Result<(galaxy_core::limits::OverrideKind, String), ApiError> {
    use galaxy_core::limits::OverrideKind;
    let wrong = || ApiError::bad_request("The target is agent:<id or slug> or token:<id>.");
    let (kind, id) = text.split_once(':').ok_or_else(wrong)?;
    match OverrideKind::parse(kind).map_err(|_| wrong())? {
        // A slug names an agent; an id is taken as it is (a deleted agent's override too).
        OverrideKind::Agent => match galaxy_core::agents::get_agent(&state.db, actor, id).await {
            Ok(agent) => Ok((OverrideKind::Agent, agent.id)),
            Err(galaxy_core::CoreError::NotFound) => Ok((OverrideKind::Agent, id.to_owned())),
            Err(e) => Err(e.into()),
        },
        OverrideKind::Token => Ok((OverrideKind::Token, id.to_owned())),
    }
}

/// The workspace's per-agent and per-token limits, with this month's spend under each.
#[utoipa::path(get, path = "/api/v1/workspace/limits/overrides", tag = "workspace",
    responses(
        (status = 200, description = "The overrides.", body = OverrideList),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the read scope.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["read"])))]
pub async fn list_overrides(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<OverrideList>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Read)?;
    Ok(Json(OverrideList {
        data: galaxy_core::limits::overrides(&state.db, &actor.workspace_id).await?,
    }))
}

/// Sets one agent's or API token's own limits (on top of the workspace's; budgets are hard caps).
#[utoipa::path(put, path = "/api/v1/workspace/limits/overrides/{target}", tag = "workspace",
    params(("target" = String, Path, description = "agent:<id or slug> or token:<id>.")),
    request_body = ApiOverride,
    responses(
        (status = 200, description = "Set: the workspace's overrides now.", body = OverrideList),
        (status = 400, description = "Not an override, or a malformed target.", body = super::ErrorEnvelope),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the admin scope, or its creator is not an admin.", body = super::ErrorEnvelope),
        (status = 404, description = "No such agent or token in the workspace.", body = super::ErrorEnvelope),
        (status = 422, description = "Invalid fields (each named), or no limit at all.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["admin"])))]
pub async fn put_override(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(wanted): axum::extract::Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<OverrideList>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Admin)?;
    let limits: ApiOverride = super::json_body(body, "override")?;
    let (kind, id) = target(&state, actor, &wanted).await?;
    let n = count_text;
    let settings = galaxy_core::limits::parse_override(
        &n(limits.requests_per_minute),
        &n(limits.tokens_per_minute),
        &limits.monthly_budget_usd.map(usd_text).unwrap_or_default(),
    )
    .map_err(|fields| ApiError::from(galaxy_core::CoreError::Validation(fields)))?;
    galaxy_core::limits::set_override(&state.db, actor, kind, &id, &settings).await?;
    Ok(Json(OverrideList {
        data: galaxy_core::limits::overrides(&state.db, &actor.workspace_id).await?,
    }))
}

/// Removes one agent's or API token's own limits.
#[utoipa::path(delete, path = "/api/v1/workspace/limits/overrides/{target}", tag = "workspace",
    params(("target" = String, Path, description = "agent:<id or slug> or token:<id>.")),
    responses(
        (status = 200, description = "Removed: the workspace's overrides now.", body = OverrideList),
        (status = 400, description = "A malformed target.", body = super::ErrorEnvelope),
        (status = 401, description = "No valid token.", body = super::ErrorEnvelope),
        (status = 403, description = "The token lacks the admin scope.", body = super::ErrorEnvelope),
        (status = 404, description = "No such override.", body = super::ErrorEnvelope),
    ),
    security(("bearer" = ["admin"])))]
pub async fn delete_override(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(wanted): axum::extract::Path<String>,
) -> Result<Json<OverrideList>, ApiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Admin)?;
    let (kind, id) = target(&state, actor, &wanted).await?;
    galaxy_core::limits::delete_override(&state.db, actor, kind, &id).await?;
    Ok(Json(OverrideList {
        data: galaxy_core::limits::overrides(&state.db, &actor.workspace_id).await?,
    }))
}
