//! One module per page. Pages are `*Page` components; each creates its data resources up front
//! and renders a log-in redirect when the server answers `Unauthenticated`.

pub mod account;
pub mod agent;
pub mod agents;
pub mod audit;
pub mod auth;
pub mod compare;
pub mod dashboard;
pub mod invite;
pub mod keys;
pub mod limits;
pub mod members;
pub mod prices;
pub mod run;
pub mod runs;
pub mod tokens;
pub mod versions;
pub mod workspace;
