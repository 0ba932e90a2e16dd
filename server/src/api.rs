//! The public REST API under `/api/v1`: JSON over HTTP with a bearer API token
//! (`Authorization: Bearer gx_…`, see `galaxy_core::api_tokens`). Handlers are thin: they read
//! the token, call one function of the core, and answer in one error shape —
//! `{ "error": { "type", "message", "fields"?, "run_id"? } }` with the status that fits.
//!
//! - `GET /agents`, `GET /agents/{agent}` — `{agent}` is an id or a slug (`read` scope);
//! - `POST /agents/{agent}/runs` — `{ "input", "mode"?, "stream"? }`, optional
//!   `Idempotency-Key` (`run` scope); streamed answers are server-sent events;
//! - `GET /runs?agent=&status=&limit=&cursor=`, `GET /runs/{id}` (`read` scope);
//! - `GET /workspace/limits`, `GET /workspace/usage` (`read`), `PUT /workspace/limits`
//!   (`admin`) — rate limits and the monthly budget; `GET /workspace/limits/overrides` (`read`),
//!   `PUT`/`DELETE /workspace/limits/overrides/{agent:<id>|token:<id>}` (`admin`);
//! - `GET /openapi.json` — the OpenAPI 3.1 document of all of it, generated from these types.
//!
//! Runs go through the same pipeline as the test panel (validation, limits, recording) with
//! trigger `api` and the token's name on record. CORS is off: browsers on other sites cannot
//! call the API (and the cross-site check refuses their state-changing requests).

mod agents;
mod limits;
pub mod openai;
pub mod openapi;
mod runs;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use galaxy_app::state::AppState;
use galaxy_core::CoreError;
use galaxy_core::api_tokens::{TokenActor, authenticate};
use galaxy_core::validation::FieldError;
use serde::Serialize;
use utoipa::ToSchema;

/// The `/api/v1` routes (nested by the router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/agents", get(agents::list))
        .route("/agents/{agent}", get(agents::get))
        .route("/agents/{agent}/runs", post(runs::create))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::get))
        .route("/workspace/limits", get(limits::get).put(limits::put))
        .route("/workspace/limits/overrides", get(limits::list_overrides))
        .route(
            "/workspace/limits/overrides/{target}",
            axum::routing::put(limits::put_override).delete(limits::delete_override),
        )
        .route("/workspace/usage", get(limits::usage))
        .route("/openapi.json", get(openapi::document))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// A known path with the wrong method, in the same shape.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This route does not take that method (docs/API.md lists each route's).",
    )
}

/// Every path the API serves (for the route inventory tests).
pub const PATHS: &[(&str, &str)] = &[
    ("GET", "/api/v1/agents"),
    ("GET", "/api/v1/agents/{agent}"),
    ("POST", "/api/v1/agents/{agent}/runs"),
    ("GET", "/api/v1/runs"),
    ("GET", "/api/v1/runs/{id}"),
    ("GET", "/api/v1/workspace/limits"),
    ("PUT", "/api/v1/workspace/limits"),
    ("GET", "/api/v1/workspace/limits/overrides"),
    ("PUT", "/api/v1/workspace/limits/overrides/{target}"),
    ("DELETE", "/api/v1/workspace/limits/overrides/{target}"),
    ("GET", "/api/v1/workspace/usage"),
    ("GET", "/api/v1/openapi.json"),
];

/// Any other path under `/api/v1` (routed explicitly: the server functions' `/api/{*fn_name}`
/// would take it otherwise).
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "There is no such API route.",
    )
}

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    retry_after: Option<u64>,
    /// The rate windows, for a refused run the pipeline counted (the run's headers).
    rate: Option<Box<galaxy_core::runs::RateHeaders>>,
}

/// Every error answer of the REST API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    error: ErrorBody,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// `invalid_request`, `unauthenticated`, `forbidden`, `not_found`, `too_large`,
    /// `idempotency_in_progress`, `idempotency_mismatch`, `input_invalid`, `rate_limited`,
    /// `budget_exceeded`, `run_failed`, `busy` or `internal`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: &'static str,
    message: String,
    /// Per-field problems (`input_invalid`, and invalid fields of a request).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fields: Vec<FieldError>,
    /// The run that was recorded, when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    run_id: Option<Box<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run: Option<Box<galaxy_core::runs::RunView>>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                kind,
                message: message.into(),
                fields: Vec::new(),
                run_id: None,
                run: None,
            },
            retry_after: None,
            rate: None,
        }
    }

    fn with_fields(mut self, fields: Vec<FieldError>) -> ApiError {
        self.body.fields = fields;
        self
    }

    fn with_run(mut self, run: galaxy_core::runs::RunView) -> ApiError {
        self.body.run_id = Some(run.id.clone().into());
        self.body.run = Some(Box::new(run));
        self
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        match e {
            CoreError::Validation(fields) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "The request has invalid fields.",
            )
            .with_fields(fields),
            CoreError::Unauthenticated | CoreError::InvalidCredentials => unauthenticated(),
            CoreError::Forbidden | CoreError::ReauthRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "This token may not do that (its scopes, or its creator's role, do not allow it).",
            ),
            CoreError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "Nothing with that id in this token's workspace.",
            ),
            CoreError::RateLimited { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("Too many requests; try again in {retry_after_secs} s."),
                )
            },
            CoreError::Busy { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    format!(
                        "The server is busy, or cannot reach its rate limiter; try again in \
                         {retry_after_secs} s."
                    ),
                )
            },
            CoreError::BudgetExceeded { message } => {
                ApiError::new(StatusCode::PAYMENT_REQUIRED, "budget_exceeded", message)
            }
            // Logged with a reference exactly as the app's server functions log theirs.
            CoreError::Internal(cause) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                galaxy_app::error::AppError::internal(&cause).to_string(),
            ),
        }
    }
}

/// The request's body, or the error a REST caller gets when it cannot be read.
fn body_bytes(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, ApiError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => ApiError::bad_request("The request body could not be read."),
    })
}

/// The request's body as JSON of `T`; `what` names it in the error ("a run request").
fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(&body_bytes(body)?)
        .map_err(|e| ApiError::bad_request(format!("The body is not a valid {what}: {e}")))
}

/// A body over the server's limit (the router answers it before any handler when
/// `Content-Length` says so).
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        "The request body is larger than 1 MiB.",
    )
}

fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Send a valid API token: Authorization: Bearer gx_… (a token that is revoked, expired or \
         whose creator left the workspace no longer works).",
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthenticated = self.status == StatusCode::UNAUTHORIZED;
        let mut response =
            (self.status, axum::Json(ErrorEnvelope { error: self.body })).into_response();
        add_rate_headers(response.headers_mut(), self.rate.map(|r| *r));
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if unauthenticated {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The workspace's rate windows after a run was counted, in the names OpenAI's API uses (its SDKs
/// and most clients read them): `x-ratelimit-limit-requests` (per minute),
/// `x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests` (until the window is full
/// again, e.g. `29.7s`), and the same with `-tokens`. Nothing when the workspace has no limit.
pub fn add_rate_headers(headers: &mut HeaderMap, rate: Option<galaxy_core::runs::RateHeaders>) {
    let Some(rate) = rate else { return };
    for (unit, window) in [("requests", rate.requests), ("tokens", rate.tokens)] {
        let Some(w) = window else { continue };
        let reset = format!("{}s", w.full_in_ms as f64 / 1000.0);
        for (name, value) in [
            (
                format!("x-ratelimit-limit-{unit}"),
                w.per_minute.to_string(),
            ),
            (
                format!("x-ratelimit-remaining-{unit}"),
                w.remaining.to_string(),
            ),
            (format!("x-ratelimit-reset-{unit}"), reset.clone()),
        ] {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::try_from(name),
                HeaderValue::try_from(value),
            ) {
                headers.insert(name, value);
            }
        }
    }
}

/// The caller of a request: the bearer token, verified.
/// Both APIs answer its error in their own shape (no token or a bad one is their 401).
pub async fn caller(state: &AppState, headers: &HeaderMap) -> Result<TokenActor, CoreError> {
    let token = bearer(headers).ok_or(CoreError::Unauthenticated)?;
    authenticate(&state.db, token).await
}

/// The token of `Authorization: Bearer <token>`, if the request has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
}
