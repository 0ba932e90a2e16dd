//! The `galaxy` server: configuration, start-up (data directory, database, migrations, session
//! store, run pipeline), the axum router (Leptos pages, server functions, health checks, metrics,
//! static files) with its security layers, and graceful shutdown. `main.rs` only parses the command line and calls in.

#![recursion_limit = "256"]

pub mod api;
pub mod config;
pub mod export;
pub mod keys_cli;
pub mod metrics;
pub mod router;
pub mod sessions;
pub mod startup;

pub use router::router;
pub use startup::{App, build_app};
