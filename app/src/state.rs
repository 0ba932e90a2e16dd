//! `AppState`: everything a request needs, built once at start by the server and provided as
//! context to every server function and page render. No global statics.

use std::sync::Arc;

use axum::extract::FromRef;
use galaxy_core::auth::{LoginThrottle, Passwords};
use galaxy_core::db::Db;
use leptos::prelude::LeptosOptions;

#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    pub passwords: Passwords,
    pub login_throttle: Arc<LoginThrottle>,
}

impl AppState {
    pub fn new(leptos_options: LeptosOptions, db: Db) -> AppState {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        AppState {
            leptos_options,
            db,
            passwords: Passwords::new(cores * 2),
            login_throttle: Arc::new(LoginThrottle::default()),
        }
    }
}
