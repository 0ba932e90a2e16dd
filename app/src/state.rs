//! `AppState`: everything a request needs, built once at start by the server and provided as
//! context to every server function and page render. No global statics.

use std::sync::Arc;

use axum::extract::FromRef;
use galaxy_core::auth::Accounts;
use galaxy_core::auth::client::TrustedProxies;
use galaxy_core::db::Db;
use galaxy_core::limits::gate::LimitsGate;
use galaxy_core::providers::http::ProviderHttp;
use galaxy_core::runs::Runs;
use galaxy_core::vault::Vault;
use leptos::prelude::LeptosOptions;

/// Who may get in and how they prove it: password hashing and the log-in / sign-up throttles,
/// the proxies whose forwarding headers name the client, and how long a password entry counts
/// as recent for key changes.
#[derive(Clone, Debug)]
pub struct Access {
    pub accounts: Arc<Accounts>,
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Milliseconds after a log-in or a password confirmation during which sensitive changes
    /// (provider keys) need no new confirmation.
    pub reauth_window_ms: i64,
    /// Where users reach this server (`--public-url`, e.g. `https://galaxy.example.com`), for the
    /// examples that call it; without one, the request's own host.
    pub public_url: Option<String>,
}

#[derive(Clone, Debug, FromRef)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub db: Db,
    /// Seals and opens provider keys.
    pub vault: Arc<Vault>,
    /// The one HTTP client for provider calls, and where first-party providers live.
    pub http: ProviderHttp,
    pub access: Access,
    /// The run pipeline (shares the database, vault and HTTP client above).
    pub runs: Runs,
    /// The workspace limits gate the pipeline admits runs through (its rate windows are shown).
    pub limits: LimitsGate,
}

impl AppState {
    pub fn new(
        leptos_options: LeptosOptions,
        db: Db,
        vault: Arc<Vault>,
        http: ProviderHttp,
        runs: Runs,
        access: Access,
        limits: LimitsGate,
    ) -> AppState {
        AppState {
            leptos_options,
            db,
            vault,
            http,
            access,
            runs,
            limits,
        }
    }
}
