//! Sessions on the server side of server functions: who is asking.
//!
//! tower-sessions keeps the session in the database (it survives restarts; the server's store also
//! keeps it in memory). We store the user, the workspace, the log-in time (for an absolute
//! lifetime, which tower-sessions does not have) and the last time we refreshed activity (reading a
//! session does not count as activity for its inactivity expiry, so we write a timestamp at most
//! once a minute). Every request reads its membership and, in the same query, checks its session
//! still exists in the store: a session ended anywhere is refused everywhere at once.

use galaxy_core::auth::SignedIn;
use galaxy_core::db::now_ms;
use galaxy_core::workspaces::{Actor, load_session_actor};
use leptos::prelude::use_context;
use tower_sessions::Session;

use crate::error::AppError;
use crate::state::AppState;

const USER_ID: &str = "uid";
const WORKSPACE_ID: &str = "wid";
const LOGIN_AT: &str = "login_at";
const SEEN_AT: &str = "seen_at";

/// A session ends this long after log-in, however active.
pub const ABSOLUTE_LIFETIME_MS: i64 = 30 * 24 * 3600 * 1000;
const ACTIVITY_REFRESH_MS: i64 = 60 * 1000;

/// The application state from context.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| AppError::internal("AppState missing from context"))
}

/// The request's session.
pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|e| AppError::internal(&format!("session layer: {e}")))
}

fn session_err(e: tower_sessions::session::Error) -> AppError {
    AppError::internal(&format!("session store: {e}"))
}

/// The signed-in actor, if any: `Ok(None)` for a visitor (or an expired session, which is ended).
pub async fn current_actor(state: &AppState) -> Result<Option<Actor>, AppError> {
    let session = session().await?;
    let user_id: Option<String> = session.get(USER_ID).await.map_err(session_err)?;
    let workspace_id: Option<String> = session.get(WORKSPACE_ID).await.map_err(session_err)?;
    let login_at: Option<i64> = session.get(LOGIN_AT).await.map_err(session_err)?;
    let (Some(user_id), Some(workspace_id), Some(login_at)) = (user_id, workspace_id, login_at)
    else {
        return Ok(None);
    };
    let now = now_ms();
    if now - login_at > ABSOLUTE_LIFETIME_MS {
        session.flush().await.map_err(session_err)?;
        return Ok(None);
    }
    let Some(session_id) = session.id().map(|id| id.to_string()) else {
        return Ok(None);
    };
    let Some(actor) = load_session_actor(
        &state.db,
        &user_id,
        &workspace_id,
        state.session_exists,
        &session_id,
    )
    .await
    .map_err(AppError::from_core)?
    else {
        session.flush().await.map_err(session_err)?;
        return Ok(None);
    };
    let seen_at: Option<i64> = session.get(SEEN_AT).await.map_err(session_err)?;
    if seen_at.is_none_or(|t| now - t > ACTIVITY_REFRESH_MS) {
        session.insert(SEEN_AT, now).await.map_err(session_err)?;
    }
    Ok(Some(actor))
}

/// The signed-in actor, or `Unauthenticated` (with a 401 status).
pub async fn require_actor() -> Result<(AppState, Actor), AppError> {
    let state = state()?;
    let started = std::time::Instant::now();
    let actor = current_actor(&state).await?;
    galaxy_core::telemetry::stage("auth", started.elapsed());
    match actor {
        Some(actor) => Ok((state, actor)),
        None => {
            let e = AppError::Unauthenticated;
            e.set_response_status();
            Err(e)
        }
    }
}

/// Starts a signed-in session under a new id (the pre-log-in id is never reused).
pub async fn start(signed_in: &SignedIn) -> Result<(), AppError> {
    let session = session().await?;
    session.cycle_id().await.map_err(session_err)?;
    let now = now_ms();
    session
        .insert(USER_ID, &signed_in.user_id)
        .await
        .map_err(session_err)?;
    session
        .insert(WORKSPACE_ID, &signed_in.workspace_id)
        .await
        .map_err(session_err)?;
    session.insert(LOGIN_AT, now).await.map_err(session_err)?;
    session.insert(SEEN_AT, now).await.map_err(session_err)?;
    Ok(())
}

/// Ends the session: deleted from the store, cookie cleared.
pub async fn end() -> Result<(), AppError> {
    session().await?.flush().await.map_err(session_err)
}
