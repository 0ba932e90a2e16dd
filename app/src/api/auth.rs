//! Sign up, log in, log out, and who is signed in.

use galaxy_core::redacted::Redacted;
use galaxy_core::workspaces::CurrentUser;
use leptos::prelude::*;

use crate::error::AppError;

/// The signed-in user, or `None` for a visitor.
#[server(endpoint = "get_current_user")]
pub async fn get_current_user() -> Result<Option<CurrentUser>, AppError> {
    let state = crate::session::state()?;
    match crate::session::current_actor(&state).await? {
        Some(actor) => galaxy_core::workspaces::current_user(&state.db, &actor)
            .await
            .map(Some)
            .map_err(AppError::from_core),
        None => Ok(None),
    }
}

/// Creates an account with a personal workspace, signs it in, and goes to the dashboard.
#[server(endpoint = "sign_up")]
pub async fn sign_up(
    email: String,
    display_name: String,
    password: Redacted,
) -> Result<(), AppError> {
    let state = crate::session::state()?;
    let signed_in = galaxy_core::auth::sign_up(
        &state.db,
        &state.passwords,
        &email,
        &display_name,
        password.into_inner().into(),
    )
    .await?;
    crate::session::start(&signed_in).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Checks the credentials, signs in under a fresh session id, and goes to the dashboard.
#[server(endpoint = "log_in")]
pub async fn log_in(email: String, password: Redacted) -> Result<(), AppError> {
    let state = crate::session::state()?;
    let client = leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip().to_string());
    let signed_in = galaxy_core::auth::log_in(
        &state.db,
        &state.passwords,
        &state.login_throttle,
        &email,
        password.into_inner().into(),
        client.as_deref(),
    )
    .await?;
    crate::session::start(&signed_in).await?;
    leptos_axum::redirect("/");
    Ok(())
}

/// Ends the session and goes to the log-in page.
#[server(endpoint = "log_out")]
pub async fn log_out() -> Result<(), AppError> {
    crate::session::end().await?;
    leptos_axum::redirect("/login");
    Ok(())
}
