//! Per-workspace price overrides (admins and owners set them; any member may read them).

use galaxy_core::pricing::ModelPrice;
use leptos::prelude::*;

use crate::error::AppError;

#[server(endpoint = "list_prices", output = crate::wire::Json)]
pub async fn list_prices() -> Result<Vec<ModelPrice>, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::pricing::workspace_prices(&state.db, &actor.workspace_id).await?)
}

#[server(endpoint = "set_price", output = crate::wire::Json)]
pub async fn set_price(
    provider: String,
    model: String,
    input_price: String,
    output_price: String,
) -> Result<ModelPrice, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::pricing::set_price_override(
        &state.db,
        &actor,
        &provider,
        &model,
        &input_price,
        &output_price,
    )
    .await?)
}

#[server(endpoint = "delete_price", output = crate::wire::Json)]
pub async fn delete_price(provider: String, model: String) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::pricing::delete_price_override(&state.db, &actor, &provider, &model).await?)
}
