//! `AppState`: everything a request needs, built once at start by the server and provided as
//! context to every server function and page render. No global statics.

use std::sync::Arc;

use axum::extract::FromRef;
use galaxy_core::auth::{LoginThrottle, Passwords};
use galaxy_core::db::Db;
use galaxy_core::runs::Runner;
use leptos::prelude::LeptosOptions;

#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub passwords: Passwords,
    pub login_throttle: Arc<LoginThrottle>,
    /// Runs agents: the vault, the provider HTTP client, retry policy, runs in flight.
    pub runner: Runner,
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, runner: Runner) -> AppState {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        AppState {
            leptos_options,
            db: runner.db.clone(),
            passwords: Passwords::new(cores * 2),
            login_throttle: Arc::new(LoginThrottle::default()),
            runner,
        }
    }
}
