//! Limits and budgets: thin adapters over `galaxy_core::limits` and the run pipeline's estimate.

use galaxy_core::limits::{BudgetAlert, LimitSettings, RunEstimate, UsageView};
use leptos::prelude::*;

use crate::error::AppError;

/// The month so far — limits, spend, reservations, rate windows — for any member (the Settings
/// page and the dashboard show it).
#[server(endpoint = "get_usage", output = crate::wire::Json)]
pub async fn get_usage() -> Result<UsageView, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::limits::usage(&state.db, &actor, Some(&state.limits)).await?)
}

/// Saves the workspace's limits (admins and owners; audited). Empty fields are no limit;
/// `hard_cap` is the checkbox (present when ticked).
#[server(endpoint = "save_limits", output = crate::wire::Json)]
pub async fn save_limits(
    requests_per_minute: String,
    tokens_per_minute: String,
    burst: String,
    monthly_budget_usd: String,
    soft_alert_percent: String,
    hard_cap: Option<String>,
    unpriced: String,
) -> Result<LimitSettings, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    let draft = galaxy_core::limits::LimitsDraft {
        requests_per_minute,
        tokens_per_minute,
        burst,
        monthly_budget_usd,
        soft_alert_percent,
        hard_cap: hard_cap.is_some(),
        unpriced,
    };
    let settings =
        galaxy_core::limits::parse_limits(&draft).map_err(galaxy_core::CoreError::Validation)?;
    Ok(galaxy_core::limits::set_workspace_limits(&state.db, &actor, &settings).await?)
}

/// What a live run of the agent on `input` would cost, and what is left of the budget.
#[server(endpoint = "estimate_run", output = crate::wire::Json)]
pub async fn estimate_run(agent_id: String, input: String) -> Result<RunEstimate, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(state.runs.estimate(&actor, &agent_id, &input).await?)
}

/// The budget alert for admins (`None` for everyone else, and when signed out).
#[server(endpoint = "get_budget_alert", output = crate::wire::Json)]
pub async fn get_budget_alert() -> Result<Option<BudgetAlert>, AppError> {
    let state = crate::session::state()?;
    match crate::session::current_actor(&state).await? {
        Some(actor) => Ok(galaxy_core::limits::alert_for(&state.db, &actor).await?),
        None => Ok(None),
    }
}

/// Splits an override target (`agent:<id>`, `token:<id>`) into its kind and id.
#[cfg(feature = "ssr")]
fn target(text: &str) -> Result<(galaxy_core::limits::OverrideKind, String), AppError> {
    let wrong = || {
        AppError::from_core(galaxy_core::CoreError::field(
            "target",
            "Choose an agent or an API token.",
        ))
    };
    let (kind, id) = text.split_once(':').ok_or_else(wrong)?;
    let kind = galaxy_core::limits::OverrideKind::parse(kind).map_err(|_| wrong())?;
    if id.is_empty() || id.len() > 100 {
        return Err(wrong());
    }
    Ok((kind, id.to_owned()))
}

/// Sets one agent's or API token's own limits (admins and owners; audited).
#[server(endpoint = "save_override", output = crate::wire::Json)]
pub async fn save_override(
    target: String,
    requests_per_minute: String,
    tokens_per_minute: String,
    monthly_budget_usd: String,
) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    let (kind, id) = self::target(&target)?;
    let settings = galaxy_core::limits::parse_override(
        &requests_per_minute,
        &tokens_per_minute,
        &monthly_budget_usd,
    )
    .map_err(galaxy_core::CoreError::Validation)?;
    Ok(galaxy_core::limits::set_override(&state.db, &actor, kind, &id, &settings).await?)
}

/// Removes one agent's or API token's own limits (admins and owners; audited).
#[server(endpoint = "delete_override", output = crate::wire::Json)]
pub async fn delete_override(target: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    let (kind, id) = self::target(&target)?;
    Ok(galaxy_core::limits::delete_override(&state.db, &actor, kind, &id).await?)
}
