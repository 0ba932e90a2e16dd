//! Sign up, log in, log out, and who is signed in.

use galaxy_core::redacted::Redacted;
use galaxy_core::workspaces::CurrentUser;
use leptos::prelude::*;

use crate::error::AppError;

/// The signed-in user, or `None` for a visitor.
#[server(endpoint = "get_current_user", output = crate::wire::Json)]
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

/// Where a log-in or sign-up lands: `next` when it is a path of this site (an invitation link
/// sends its visitor back to it), else the dashboard — never another origin.
pub fn landing(next: &str) -> &str {
    let ours = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 200
        && next
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_?=&.%".contains(&b));
    if ours { next } else { "/" }
}

/// Creates an account with a personal workspace, signs it in, and goes to the dashboard (or
/// back to `next`, a path of this site).
#[server(endpoint = "sign_up", output = crate::wire::Json)]
pub async fn sign_up(
    email: String,
    display_name: String,
    password: Redacted,
    #[server(default)] next: String,
) -> Result<(), AppError> {
    let state = crate::session::state()?;
    let client = crate::session::client(&state).await;
    let form = galaxy_core::auth::NewAccount {
        email: &email,
        display_name: &display_name,
        password: password.into_inner().into(),
    };
    let signed_in = state
        .access
        .accounts
        .sign_up(&state.db, form, client)
        .await?;
    crate::session::start(&signed_in).await?;
    leptos_axum::redirect(landing(&next));
    Ok(())
}

/// Checks the credentials, signs in under a fresh session id, and goes to the dashboard (or
/// back to `next`).
#[server(endpoint = "log_in", output = crate::wire::Json)]
pub async fn log_in(
    email: String,
    password: Redacted,
    #[server(default)] next: String,
) -> Result<(), AppError> {
    let state = crate::session::state()?;
    let client = crate::session::client(&state).await;
    let signed_in = state
        .access
        .accounts
        .log_in(&state.db, &email, password.into_inner().into(), client)
        .await?;
    crate::session::start(&signed_in).await?;
    leptos_axum::redirect(landing(&next));
    Ok(())
}

/// Ends the session (recorded on the account) and goes to the log-in page.
#[server(endpoint = "log_out", output = crate::wire::Json)]
pub async fn log_out() -> Result<(), AppError> {
    let state = crate::session::state()?;
    if let Some(actor) = crate::session::current_actor(&state).await? {
        let client = crate::session::client(&state).await;
        galaxy_core::auth::logged_out(&state.db, &actor.user_id, client).await?;
    }
    crate::session::end().await?;
    leptos_axum::redirect("/login");
    Ok(())
}
