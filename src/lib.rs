//! Galaxy's domain core.
//!
//! Everything in this crate without a feature gate is plain Rust shared by the browser (compiled to
//! WASM inside the app's bundle) and the server: the types that cross the server-function boundary
//! and the validation rules both sides enforce. Behind the `server` feature live the parts that must
//! never reach a browser: storage ([`db`]), password hashing ([`auth`]), the key vault ([`vault`]),
//! schema compilation ([`contract`]'s `compiled`), the bounded CPU pool ([`cpu`]), metrics
//! ([`telemetry`]) and the business functions of each domain noun.
//!
//! One module per domain noun: [`workspaces`], [`auth`], [`agents`], [`api_tokens`], [`contract`] (typed agent
//! contracts), [`credentials`] (provider keys), [`providers`], [`runs`] (the run pipeline),
//! [`pricing`], [`audit`] (workspace and account events), [`sessions`] (stored hashed), [`template`],
//! [`diff`] (what changed between two versions or two outputs), [`charts`] (the dashboard's
//! aggregates); [`validation`] holds the field-error type every form
//! shares and [`string_enum`] the one mechanism for enums sent and stored as strings. Test fixtures
//! live in [`testing`] (behind the `testing` feature).

/// Declares `mod $name { sqlite, postgres }`: the test body gets a fresh [`testing::World`] on a
/// fresh SQLite file, then on a fresh PostgreSQL database. A test that asks for PostgreSQL fails
/// when the server does not answer: the suite never skips a backend silently.
#[cfg(test)]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                ($body)(crate::testing::World::sqlite().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                let world = crate::testing::World::postgres().await;
                let db = world.db.clone();
                ($body)(world).await;
                db.close().await;
            }
        }
    };
}

pub mod agents;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod contract;
#[cfg(feature = "server")]
pub mod cpu;
pub mod credentials;
#[cfg(feature = "server")]
pub mod db;
pub mod diff;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod instances;
#[cfg(feature = "server")]
pub mod limiter;
pub mod limits;
pub mod members;
pub mod pricing;
pub mod providers;
pub mod redacted;
pub mod runs;
pub mod sessions;
pub mod string_enum;
#[cfg(feature = "server")]
pub mod telemetry;
pub mod template;
#[cfg(all(feature = "server", any(test, feature = "testing")))]
pub mod testing;
pub mod timefmt;
pub mod validation;
#[cfg(feature = "server")]
pub mod vault;
pub mod workspaces;

#[cfg(feature = "server")]
pub use error::CoreError;
