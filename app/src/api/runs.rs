//! Running agents and reading runs.

use galaxy_core::runs::{DashboardStats, RunView};
use leptos::prelude::*;

use crate::error::AppError;

/// Runs an agent from the test panel. `mode` is `mock` or `live`.
#[server(endpoint = "run_agent")]
pub async fn run_agent(agent_id: String, input: String, mode: String) -> Result<RunView, AppError> {
    use galaxy_core::runs::{RunMode, RunTrigger};
    let (state, actor) = crate::session::require_actor().await?;
    let mode = RunMode::parse(&mode).ok_or_else(|| {
        AppError::from_core(galaxy_core::CoreError::field(
            "mode",
            "Choose mock or live.",
        ))
    })?;
    Ok(galaxy_core::runs::run_agent(
        &state.db,
        &actor,
        &agent_id,
        &input,
        mode,
        RunTrigger::TestPanel,
    )
    .await?)
}

/// The latest runs of one agent.
#[server(endpoint = "list_agent_runs")]
pub async fn list_agent_runs(agent_id: String) -> Result<Vec<RunView>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::runs::list_runs(&state.db, &actor, Some(&agent_id), 20).await?)
}

#[server(endpoint = "get_dashboard")]
pub async fn get_dashboard() -> Result<DashboardStats, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::runs::dashboard(&state.db, &actor).await?)
}
