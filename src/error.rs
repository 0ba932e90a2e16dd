//! The core's error type. Business functions return [`CoreError`]; the app crate converts it into
//! the serialisable `AppError` at the server-function boundary, logging `Internal` causes there
//! and sending the browser only what a user can act on.

use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input is wrong; each entry names a form field.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// Not signed in, or the session no longer maps to a member.
    #[error("not signed in")]
    Unauthenticated,
    /// Signed in, but the role does not allow this.
    #[error("not allowed")]
    Forbidden,
    /// No such row in the caller's workspace (rows of other workspaces answer this too).
    #[error("not found")]
    NotFound,
    /// Email and password do not match an account (the same answer for an unknown email).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many attempts (or runs); try again after this many seconds.
    #[error("too many attempts")]
    RateLimited { retry_after_secs: u64 },
    /// The action needs the password confirmed again (keys, roles): recent log-in or confirm.
    #[error("password confirmation required")]
    ReauthRequired,
    /// The server is too busy to do this now; try again after this many seconds.
    #[error("busy")]
    Busy { retry_after_secs: u64 },
    /// The workspace's budget does not allow this run.
    #[error("over budget")]
    BudgetExceeded { message: String },
    /// A failure the user cannot act on. The cause is logged where it is converted, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for CoreError {
    fn from(e: sqlx::Error) -> Self {
        CoreError::Internal(format!("database: {e}"))
    }
}

impl From<sqlx::migrate::MigrateError> for CoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        CoreError::Internal(format!("migration: {e}"))
    }
}

impl CoreError {
    /// One field error as a validation error.
    pub fn field(field: &str, message: &str) -> Self {
        CoreError::Validation(vec![FieldError::new(field, message)])
    }
}
