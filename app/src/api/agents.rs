//! Agent CRUD.

use galaxy_core::agents::{Agent, AgentDraft, AgentSummary};
use leptos::prelude::*;

use crate::error::AppError;

#[server(endpoint = "list_agents")]
pub async fn list_agents() -> Result<Vec<AgentSummary>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::agents::list_agents(&state.db, &actor).await?)
}

#[server(endpoint = "get_agent")]
pub async fn get_agent(id: String) -> Result<Agent, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::agents::get_agent(&state.db, &actor, &id).await?)
}

/// Creates (no `id`) or updates an agent; on success goes to the agent's page.
#[server(endpoint = "save_agent")]
pub async fn save_agent(id: Option<String>, draft: AgentDraft) -> Result<Agent, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let agent = match id.filter(|id| !id.is_empty()) {
        Some(id) => galaxy_core::agents::update_agent(&state.db, &actor, &id, &draft).await?,
        None => galaxy_core::agents::create_agent(&state.db, &actor, &draft).await?,
    };
    leptos_axum::redirect(&format!("/agents/{}", agent.id));
    Ok(agent)
}

/// Deletes an agent (its runs stay on record) and goes to the agents list.
#[server(endpoint = "delete_agent")]
pub async fn delete_agent(id: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::agents::delete_agent(&state.db, &actor, &id).await?;
    leptos_axum::redirect("/agents");
    Ok(())
}
