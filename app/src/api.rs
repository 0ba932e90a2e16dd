//! Server functions: the typed boundary between browser and server. Each is a public HTTP
//! endpoint: it authenticates itself, calls one plain function of `galaxy_core`, and maps the
//! error. No SQL, crypto or HTTP calls here.

pub mod account;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod keys;
pub mod limits;
pub mod members;
pub mod prices;
pub mod runs;
pub mod tokens;
pub mod workspaces;
