//! API tokens: create and revoke (admins and owners, with a recent password), list (every
//! member). A token's secret is answered once, by `create_api_token`; after that only its
//! summary (name, prefix, scopes, dates) is ever sent.

use galaxy_core::api_tokens::{ApiTokenSummary, CreatedToken};
use leptos::prelude::*;

use crate::error::AppError;

#[server(endpoint = "list_api_tokens", output = crate::wire::Json)]
pub async fn list_api_tokens() -> Result<Vec<ApiTokenSummary>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::api_tokens::list_tokens(&state.db, &actor).await?)
}

/// Creates a token; `scopes` are `run`, `read`, `admin`; `expires_in_days` is a whole number
/// of days or `never`. The answer holds the token: the only time it is shown.
#[server(endpoint = "create_api_token", output = crate::wire::Json)]
pub async fn create_api_token(
    name: String,
    #[server(default)] scopes: Vec<String>,
    expires_in_days: String,
) -> Result<CreatedToken, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    crate::session::require_recent_password(&state).await?;
    Ok(
        galaxy_core::api_tokens::create_token(&state.db, &actor, &name, &scopes, &expires_in_days)
            .await?,
    )
}

#[server(endpoint = "revoke_api_token", output = crate::wire::Json)]
pub async fn revoke_api_token(id: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    galaxy_core::workspaces::require_admin(&actor)?;
    Ok(galaxy_core::api_tokens::revoke_token(&state.db, &actor, &id).await?)
}
