//! Workspaces: switch, create, rename, delete. The current workspace lives in the session;
//! every change answers with a redirect, so the next page is read whole in the new workspace
//! (never a moment of another workspace's data on screen).

use leptos::prelude::*;

use crate::error::AppError;

/// Makes `workspace_id` the session's workspace (one the caller belongs to) and goes to the
/// dashboard.
#[server(endpoint = "switch_workspace", output = crate::wire::Json)]
pub async fn switch_workspace(workspace_id: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::load_actor(&state.db, &actor.user_id, &workspace_id)
        .await?
        .ok_or(galaxy_core::CoreError::NotFound)?;
    crate::session::switch_to(&workspace_id).await?;
    crate::session::redirect_whole("/");
    Ok(())
}

/// Creates a workspace owned by the caller, switches to it, and goes to its dashboard.
#[server(endpoint = "create_workspace", output = crate::wire::Json)]
pub async fn create_workspace(name: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let created = galaxy_core::members::create_workspace(&state.db, &actor, &name).await?;
    crate::session::switch_to(&created.id).await?;
    crate::session::redirect_whole("/");
    Ok(())
}

/// Renames the current workspace (owners).
#[server(endpoint = "rename_workspace", output = crate::wire::Json)]
pub async fn rename_workspace(name: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::members::rename_workspace(&state.db, &actor, &name).await?;
    crate::session::redirect_whole("/settings/workspace");
    Ok(())
}

/// Deletes the current workspace and all in it, once `confirm` repeats its name (owners);
/// the session moves to another workspace of the caller's.
#[server(endpoint = "delete_workspace", output = crate::wire::Json)]
pub async fn delete_workspace(confirm: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    crate::session::require_recent_password(&state).await?;
    galaxy_core::members::delete_workspace(&state.db, &actor, &confirm).await?;
    if let Some(other) = galaxy_core::members::fallback_workspace(&state.db, &actor.user_id).await?
    {
        crate::session::switch_to(&other).await?;
    }
    crate::session::redirect_whole("/");
    Ok(())
}
