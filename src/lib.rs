//! Galaxy's domain core.
//!
//! Everything in this crate without a feature gate is plain Rust shared by the browser (compiled to
//! WASM inside the app's bundle) and the server: the types that cross the server-function boundary
//! and the validation rules both sides enforce. Behind the `server` feature live the parts that must
//! never reach a browser: storage ([`db`]), password hashing ([`auth`]), schema compilation
//! ([`schema`]) and the business functions of each domain noun.
//!
//! One module per domain noun: [`workspaces`], [`auth`], [`agents`], [`runs`], [`providers`],
//! [`schema`]; [`validation`] holds the field-error type every form shares.

pub mod agents;
pub mod audit;
pub mod auth;
pub mod contract;
pub mod credentials;
#[cfg(feature = "server")]
pub mod db;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod executor;
pub mod pricing;
pub mod providers;
pub mod runs;
pub mod schema;
pub mod template;
pub mod timefmt;
pub mod validation;
#[cfg(feature = "server")]
pub mod vault;
pub mod workspaces;

/// Declares `mod $name { sqlite, postgres }`: the test body runs on a fresh SQLite file and on a
/// fresh PostgreSQL database (see `db::testing`).
#[cfg(all(test, feature = "server"))]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let (db, _dir) = crate::db::testing::fresh_sqlite().await.unwrap();
                ($body)(db).await;
            }

            #[tokio::test]
            async fn postgres() {
                let db = crate::db::testing::fresh_postgres().await.unwrap();
                ($body)(db.clone()).await;
                db.close().await;
            }
        }
    };
}

#[cfg(all(test, feature = "server"))]
mod store_tests;
#[cfg(all(test, feature = "server"))]
mod test_support;

#[cfg(all(test, feature = "server"))]
mod live_tests;
#[cfg(all(test, feature = "server"))]
mod provider_tests;

#[cfg(feature = "server")]
pub use error::CoreError;
