//! The OpenAPI 3.1 document of the public API, generated from the handlers' own types and
//! `#[utoipa::path]` annotations (never written by hand), served at `GET /api/v1/openapi.json`
//! without a token: it describes the API and holds nothing of any workspace. The router tests
//! check that it is valid and that every route the router serves is in it.

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's definition: every route of `/api/v1` and `/v1`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Galaxy API",
        description = "Run Galaxy agents from code. REST under /api/v1; an OpenAI-compatible \
            endpoint under /v1 (Chat Completions and models). Authenticate with an API token made \
            on Settings → API tokens: `Authorization: Bearer gx_…`."
    ),
    paths(
        super::agents::list,
        super::agents::get,
        super::runs::create,
        super::runs::list,
        super::runs::get,
        super::limits::get,
        super::limits::put,
        super::limits::usage,
        super::limits::list_overrides,
        super::limits::put_override,
        super::limits::delete_override,
        document,
        super::openai::completions,
        super::openai::models,
        super::openai::model,
    ),
    modifiers(&BearerToken),
    tags(
        (name = "agents", description = "The workspace's agents, their versions and contracts."),
        (name = "runs", description = "Running agents and reading the runs on record."),
        (name = "workspace", description = "The workspace's rate limits, monthly budget and usage."),
        (name = "openai", description = "OpenAI-compatible: the official SDKs work with base_url <galaxy>/v1."),
        (name = "meta", description = "This document."),
    )
)]
pub struct ApiDoc;

/// The bearer scheme every operation but this document's asks for.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("gx_ API token")
                    .description(Some(
                        "A workspace API token (Settings → API tokens). Its scopes — run, read, \
                         admin — are listed on each operation; they act within the token \
                         creator's role.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .unwrap_or_else(|_| "{}".to_owned())
    })
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of the Galaxy API.",
        content_type = "application/json")))]
pub async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json(),
    )
        .into_response()
}
