//! `AppError`: the one error type at the browser/server boundary.
//!
//! Every server function returns `Result<T, AppError>`. Each variant says what the user can do
//! about it; internal causes are logged on the server where a `CoreError` is converted
//! ([`AppError::from_core`]) and reach the browser only as a short reference to quote.

use galaxy_core::validation::FieldError;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// 422: fix the named fields.
    #[error("Please correct the highlighted fields.")]
    Validation(Vec<FieldError>),
    /// 401: log in (again).
    #[error("Please log in to continue.")]
    Unauthenticated,
    /// 403: ask an admin or owner.
    #[error("Your role in this workspace does not allow that.")]
    Forbidden,
    /// 404: the thing does not exist in this workspace.
    #[error("Not found. It may have been deleted, or it belongs to another workspace.")]
    NotFound,
    /// 401: wrong email or password (deliberately not saying which).
    #[error("Email or password is incorrect.")]
    InvalidCredentials,
    /// 403: type your password again (keys need a recent one); the page asks for it.
    #[error("Confirm your password to continue.")]
    ReauthRequired,
    /// 429: wait and try again.
    #[error("Too many attempts or runs right now. Try again in {retry_after_secs} seconds.")]
    RateLimited { retry_after_secs: u64 },
    /// 503: the server is busy; try again shortly.
    #[error("The server is busy. Try again in {retry_after_secs} seconds.")]
    Busy { retry_after_secs: u64 },
    /// 402: the workspace's budget does not allow this; the message says which cap.
    #[error("{message}")]
    BudgetExceeded { message: String },
    /// 400: the request could not be read (or, in the browser, could not be sent).
    #[error("The request could not be completed. Check your connection and try again.")]
    Request,
    /// 500: our fault; the reference matches a server log line.
    #[error("Something went wrong on our side (reference {reference}). Please try again.")]
    Internal { reference: String },
}

impl AppError {
    /// The HTTP status this error answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Validation(_) => 422,
            AppError::Unauthenticated | AppError::InvalidCredentials => 401,
            AppError::Forbidden | AppError::ReauthRequired => 403,
            AppError::NotFound => 404,
            AppError::RateLimited { .. } => 429,
            AppError::BudgetExceeded { .. } => 402,
            AppError::Busy { .. } => 503,
            AppError::Request => 400,
            AppError::Internal { .. } => 500,
        }
    }

    /// Field errors, when this is a validation error.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            AppError::Validation(errors) => errors.clone(),
            _ => Vec::new(),
        }
    }

    /// The one message to show above a form: the field errors speak for themselves.
    pub fn form_message(&self) -> Option<String> {
        match self {
            AppError::Validation(errors) => errors
                .iter()
                .any(|e| !is_form_field(&e.field))
                .then(|| self.to_string()),
            other => Some(other.to_string()),
        }
    }
}

/// Field names forms render next to an input (schema paths such as `/age` are not).
fn is_form_field(field: &str) -> bool {
    !field.starts_with('/')
}

impl FromServerFnError for AppError {
    type Encoder = crate::wire::JsonText;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let err = match value {
            ServerFnErrorErr::Request(_)
            | ServerFnErrorErr::Response(_)
            | ServerFnErrorErr::Args(_)
            | ServerFnErrorErr::Deserialization(_)
            | ServerFnErrorErr::Serialization(_)
            | ServerFnErrorErr::MissingArg(_)
            | ServerFnErrorErr::UnsupportedRequestMethod(_) => AppError::Request,
            other => AppError::internal(&other.to_string()),
        };
        #[cfg(feature = "ssr")]
        err.set_response_status();
        err
    }
}

impl AppError {
    /// An internal error: logs `cause` with a fresh reference (on the server) and returns only
    /// the reference.
    pub fn internal(cause: &str) -> AppError {
        let reference = reference();
        #[cfg(feature = "ssr")]
        tracing::error!(reference, cause, "internal error");
        #[cfg(not(feature = "ssr"))]
        let _ = cause;
        AppError::Internal { reference }
    }
}

fn reference() -> String {
    #[cfg(feature = "ssr")]
    {
        uuid::Uuid::now_v7().simple().to_string()[20..].to_owned()
    }
    #[cfg(not(feature = "ssr"))]
    {
        "client".to_owned()
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use galaxy_core::CoreError;

    use super::AppError;

    impl AppError {
        /// Converts a core error at the boundary and sets the response status.
        pub fn from_core(e: CoreError) -> AppError {
            let err = match e {
                CoreError::Validation(errors) => AppError::Validation(errors),
                CoreError::Unauthenticated => AppError::Unauthenticated,
                CoreError::Forbidden => AppError::Forbidden,
                CoreError::NotFound => AppError::NotFound,
                CoreError::InvalidCredentials => AppError::InvalidCredentials,
                CoreError::RateLimited { retry_after_secs } => {
                    AppError::RateLimited { retry_after_secs }
                }
                CoreError::BudgetExceeded { message } => AppError::BudgetExceeded { message },
                CoreError::Busy { retry_after_secs } => AppError::Busy { retry_after_secs },
                CoreError::ReauthRequired => AppError::ReauthRequired,
                CoreError::Internal(cause) => AppError::internal(&cause),
            };
            err.set_response_status();
            err
        }

        /// Sets this error's status on the current response when it answers a server-function
        /// call. During a page render the page decides its status (a log-in redirect, a 404).
        pub fn set_response_status(&self) {
            use leptos::prelude::use_context;
            let is_server_fn_call = use_context::<http::request::Parts>()
                .is_some_and(|parts| parts.uri.path().starts_with("/api/"));
            if !is_server_fn_call {
                return;
            }
            if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
                if let Ok(code) = http::StatusCode::from_u16(self.status_code()) {
                    opts.set_status(code);
                }
                if let AppError::RateLimited { retry_after_secs }
                | AppError::Busy { retry_after_secs } = self
                {
                    opts.insert_header(
                        http::header::RETRY_AFTER,
                        http::HeaderValue::from(*retry_after_secs),
                    );
                }
            }
        }
    }

    impl From<CoreError> for AppError {
        fn from(e: CoreError) -> Self {
            AppError::from_core(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_text_never_in_the_message() {
        let e = AppError::internal("database: relation \"users\" does not exist");
        let shown = e.to_string();
        assert!(!shown.contains("relation"), "{shown}");
        assert!(shown.contains("reference"));
        assert_eq!(e.status_code(), 500);
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("relation"), "{json}");
    }

    #[test]
    fn server_fn_errors_map_without_their_text() {
        let e = AppError::from_server_fn_error(ServerFnErrorErr::ServerError(
            "secret internals".into(),
        ));
        assert!(matches!(e, AppError::Internal { .. }));
        assert!(!serde_json::to_string(&e).unwrap().contains("secret"));
        let e = AppError::from_server_fn_error(ServerFnErrorErr::Deserialization("x".into()));
        assert_eq!(e, AppError::Request);
    }

    #[test]
    fn form_message_hides_when_fields_speak() {
        let v = AppError::Validation(vec![FieldError::new("name", "taken")]);
        assert_eq!(v.form_message(), None);
        let v = AppError::Validation(vec![FieldError::new("/age", "must be >= 0")]);
        assert!(v.form_message().is_some());
        assert_eq!(AppError::NotFound.status_code(), 404);
    }
}
