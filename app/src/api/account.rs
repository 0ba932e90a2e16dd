//! The account page: who you are, where you are signed in, what happened to the account;
//! change the password, sign out everywhere, confirm the password before sensitive changes.

use galaxy_core::audit::AccountEvent;
use galaxy_core::redacted::Redacted;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the account page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    pub email: String,
    pub display_name: String,
    /// Live sessions of the account (browsers signed in), this one included.
    pub sessions: i64,
    /// The latest account events, newest first.
    pub events: Vec<AccountEvent>,
}

/// Account events the page shows.
pub const EVENTS_SHOWN: i64 = 20;

#[server(endpoint = "account_overview", output = crate::wire::Json)]
pub async fn account_overview() -> Result<AccountInfo, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let me = galaxy_core::workspaces::current_user(&state.db, &actor).await?;
    Ok(AccountInfo {
        email: me.email,
        display_name: me.display_name,
        sessions: galaxy_core::sessions::count_for_user(&state.db, &actor.user_id).await?,
        events: galaxy_core::audit::account_events(&state.db, &actor.user_id, EVENTS_SHOWN).await?,
    })
}

/// Changes the password (the current one proves it is you) and ends every other session;
/// this one continues under a new id. Returns how many other sessions ended.
#[server(endpoint = "change_password", output = crate::wire::Json)]
pub async fn change_password(
    current_password: Redacted,
    new_password: Redacted,
) -> Result<u64, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let client = crate::session::client(&state).await;
    let keep = crate::session::current_key().await?.unwrap_or_default();
    let change = galaxy_core::auth::PasswordChange {
        user_id: &actor.user_id,
        current: current_password.into_inner().into(),
        new: new_password.into_inner().into(),
        client,
        keep_session: &keep,
    };
    let ended = state
        .access
        .accounts
        .change_password(&state.db, change)
        .await?;
    crate::session::renew().await?;
    Ok(ended)
}

/// Ends every session of the account, this one too, and goes to the log-in page.
#[server(endpoint = "sign_out_everywhere", output = crate::wire::Json)]
pub async fn sign_out_everywhere() -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let client = crate::session::client(&state).await;
    galaxy_core::auth::sign_out_everywhere(&state.db, &actor.user_id, None, client).await?;
    crate::session::end().await?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Confirms the password: for the next while (the operator's re-auth window) provider keys
/// can be added, rotated and revoked without asking again.
#[server(endpoint = "confirm_password", output = crate::wire::Json)]
pub async fn confirm_password(password: Redacted) -> Result<(), AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let client = crate::session::client(&state).await;
    state
        .access
        .accounts
        .confirm_password(
            &state.db,
            &actor.user_id,
            password.into_inner().into(),
            client,
        )
        .await?;
    crate::session::confirmed_now().await
}

/// Ends every other session of the account (other browsers, other devices); this one stays.
/// Returns how many ended.
#[server(endpoint = "sign_out_other_sessions", output = crate::wire::Json)]
pub async fn sign_out_other_sessions() -> Result<u64, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    let client = crate::session::client(&state).await;
    let keep = crate::session::current_key().await?.unwrap_or_default();
    Ok(
        galaxy_core::auth::sign_out_everywhere(&state.db, &actor.user_id, Some(&keep), client)
            .await?,
    )
}

/// Changes the display name the account shows to its workspaces.
#[server(endpoint = "rename_account", output = crate::wire::Json)]
pub async fn rename_account(display_name: String) -> Result<String, AppError> {
    let (state, actor) = crate::session::require_actor().await?;
    Ok(galaxy_core::auth::rename_account(&state.db, &actor.user_id, &display_name).await?)
}
