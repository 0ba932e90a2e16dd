//! Sessions on the server side of server functions: who is asking.
//!
//! tower-sessions keeps the session in the database (it survives restarts; the server's store also
//! keeps it in memory). We store the user, the workspace, the log-in time (for an absolute
//! lifetime, which tower-sessions does not have) and the last time we refreshed activity (reading a
//! session does not count as activity for its inactivity expiry, so we write a timestamp at most
//! once a minute). Every request reads its membership and, in the same query, checks its session
//! still exists in the store: a session ended anywhere is refused everywhere at once.
//!
//! Sensitive changes (provider keys) also need a recent password: the log-in itself, or a
//! confirmation ([`confirmed_now`]) within the operator's window ([`require_recent_password`]).
//! The client's address ([`client`]) is the connection's peer unless it is a trusted proxy.

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
const CONFIRMED_AT: &str = "confirmed_at";

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
    actor_of(state, &session().await?).await
}

/// [`current_actor`] for a handler outside Leptos that has the request's session.
pub async fn actor_of(state: &AppState, session: &Session) -> Result<Option<Actor>, AppError> {
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
    let Some(session_key) = session
        .id()
        .map(|id| galaxy_core::sessions::key(&id.to_string()))
    else {
        return Ok(None);
    };
    let mut actor = load_session_actor(&state.db, &user_id, &workspace_id, &session_key)
        .await
        .map_err(AppError::from_core)?;
    if actor.is_none() {
        // Not (or no longer) a member there — left, removed, or the workspace deleted: the
        // session moves to another workspace of theirs, if the session itself is still alive.
        if let Some(other) = galaxy_core::members::fallback_workspace(&state.db, &user_id)
            .await
            .map_err(AppError::from_core)?
        {
            actor = load_session_actor(&state.db, &user_id, &other, &session_key)
                .await
                .map_err(AppError::from_core)?;
            if actor.is_some() {
                session
                    .insert(WORKSPACE_ID, &other)
                    .await
                    .map_err(session_err)?;
            }
        }
    }
    let Some(actor) = actor else {
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

/// Moves the session to another workspace (the caller checked the membership).
pub async fn switch_to(workspace_id: &str) -> Result<(), AppError> {
    session()
        .await?
        .insert(WORKSPACE_ID, workspace_id)
        .await
        .map_err(session_err)
}

/// Sends a plain form's browser (no JavaScript) to `path` once the session's workspace changed;
/// a hydrated page instead loads `path` whole itself ([`crate::components::reload_on_success`]),
/// so no page renders another workspace's data under this one's header, even for a moment.
pub fn redirect_whole(path: &str) {
    let plain = use_context::<http::request::Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    });
    if plain {
        leptos_axum::redirect(path);
    }
}

/// Ends the session: deleted from the store, cookie cleared.
pub async fn end() -> Result<(), AppError> {
    session().await?.flush().await.map_err(session_err)
}

/// The stored key of the request's session (see `galaxy_core::sessions::key`), if it has one.
pub async fn current_key() -> Result<Option<String>, AppError> {
    Ok(session()
        .await?
        .id()
        .map(|id| galaxy_core::sessions::key(&id.to_string())))
}

/// The client's address: the connection's peer, or — when that is a trusted proxy — the
/// address the proxies' `Forwarded` / `X-Forwarded-For` headers name. `None` only where there is
/// no connection (in-process tests).
pub async fn client(state: &AppState) -> Option<std::net::IpAddr> {
    let axum::extract::ConnectInfo(peer) =
        leptos_axum::extract::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .await
            .ok()?;
    let headers = leptos_axum::extract::<http::HeaderMap>().await.ok()?;
    let lines = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect()
    };
    let forwarded = lines("forwarded");
    let x_forwarded_for = lines("x-forwarded-for");
    let forwarded: Vec<&str> = forwarded.iter().map(String::as_str).collect();
    let x_forwarded_for: Vec<&str> = x_forwarded_for.iter().map(String::as_str).collect();
    Some(
        state
            .access
            .trusted_proxies
            .client_address(peer.ip(), &forwarded, &x_forwarded_for),
    )
}

/// Refuses with `ReauthRequired` unless the password was typed (log-in or confirmation) within
/// the window.
pub async fn require_recent_password(state: &AppState) -> Result<(), AppError> {
    let session = session().await?;
    let login_at: Option<i64> = session.get(LOGIN_AT).await.map_err(session_err)?;
    let confirmed_at: Option<i64> = session.get(CONFIRMED_AT).await.map_err(session_err)?;
    let last = login_at.max(confirmed_at).unwrap_or(0);
    if now_ms() - last <= state.access.reauth_window_ms {
        Ok(())
    } else {
        let e = AppError::ReauthRequired;
        e.set_response_status();
        Err(e)
    }
}

/// Notes that the password was just confirmed.
pub async fn confirmed_now() -> Result<(), AppError> {
    session()
        .await?
        .insert(CONFIRMED_AT, now_ms())
        .await
        .map_err(session_err)
}

/// Gives the signed-in session a new id, keeping its data (after a password change).
pub async fn renew() -> Result<(), AppError> {
    session().await?.cycle_id().await.map_err(session_err)
}
