//! `AppState`: everything a request needs, built once at start by the server and provided as
//! context to every server function and page render. No global statics.

use std::sync::Arc;

use axum::extract::FromRef;
use galaxy_core::auth::{LoginThrottle, Passwords};
use galaxy_core::db::Db;
use galaxy_core::providers::http::ProviderHttp;
use galaxy_core::runs::Runs;
use galaxy_core::vault::Vault;
use leptos::prelude::LeptosOptions;

#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    /// Seals and opens provider keys.
    pub vault: Arc<Vault>,
    /// The one HTTP client for provider calls, and where first-party providers live.
    pub http: ProviderHttp,
    pub passwords: Passwords,
    pub login_throttle: Arc<LoginThrottle>,
    /// The run pipeline (shares the database, vault and HTTP client above).
    pub runs: Runs,
    /// SQL true while the session bound as `$3` exists in the session store (the store keeps
    /// sessions in memory; each request checks its own is still alive with its membership).
    pub session_exists: &'static str,
}

impl AppState {
    pub fn new(
        leptos_options: LeptosOptions,
        db: Db,
        vault: Arc<Vault>,
        http: ProviderHttp,
        runs: Runs,
        session_exists: &'static str,
    ) -> AppState {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        AppState {
            leptos_options,
            db,
            vault,
            http,
            passwords: Passwords::new(cores * 2),
            login_throttle: Arc::new(LoginThrottle::default()),
            runs,
            session_exists,
        }
    }
}
