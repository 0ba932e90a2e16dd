//! The HTTP surface in one function, so tests drive it with `tower::ServiceExt::oneshot`.
//!
//! Routes: health (`/healthz`, `/readyz`), `/metrics` (Prometheus; on a separate listener when
//! configured), the public REST API under `/api/v1` ([`crate::api`]), the Leptos pages and
//! server functions under `/api/`, static files.
//!
//! Layers, outermost first: request tracing, compression, a 1 MiB body limit, security headers
//! (nosniff, frame denial, same-origin referrer and opener policy, HSTS when cookies are Secure,
//! `no-store` on server fn answers; pages add their nonce-based CSP and `no-store` in the shell),
//! the cross-site request check (state-changing requests from another site are refused: Leptos
//! server functions accept form posts, which another origin can send without a CORS preflight),
//! and the session layer (HttpOnly, SameSite=Strict, Secure unless plain-HTTP localhost, expiring
//! after 7 days of inactivity; the app adds a 30-day absolute lifetime).

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use galaxy_app::state::AppState;
use galaxy_app::{App, shell};
use leptos::prelude::provide_context;
use leptos_axum::{
    AxumRouteListing, LeptosRoutes, generate_route_list, handle_server_fns_with_context,
};
use std::sync::{Arc, OnceLock};
use tower_http::compression::predicate::{NotForContentType, Predicate};
use tower_http::compression::{CompressionLayer, DefaultPredicate};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::sessions::Sessions;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "galaxy_session";

/// The app's routes, generated once per process. Route generation runs the app with resource
/// loading suppressed by a process-wide flag, so a page rendering at that moment would wait for
/// ever (leptos issue 4773): generating once, before the first router serves, rules that out even
/// where several routers are built (tests).
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The paths of the app's pages (`/agents/{id}`…), as the router serves them.
pub fn page_paths() -> Vec<String> {
    routes().iter().map(|r| r.path().to_owned()).collect()
}

/// Builds the whole router; `/metrics` is on it unless it has a listener of its own.
pub fn router(
    state: AppState,
    sessions: Sessions,
    secure_cookies: bool,
    serve_metrics: bool,
    hosts: Option<Vec<String>>,
    cors_origins: &[String],
) -> Router {
    let routes = routes();
    let cors = api_cors(cors_origins);
    let cors_origins: Arc<[String]> = cors_origins.into();
    let context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };
    let options = state.leptos_options.clone();
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_secure(secure_cookies)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::days(7)));

    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if serve_metrics {
        router = router.route("/metrics", get(crate::metrics::render));
    }
    router
        .nest(
            "/api/v1",
            crate::api::routes().layer(tower::util::option_layer(cors.clone())),
        )
        .route("/api/v1/{*rest}", axum::routing::any(crate::api::not_found))
        .nest(
            "/v1",
            crate::api::openai::routes().layer(tower::util::option_layer(cors)),
        )
        .route(
            "/api/{*fn_name}",
            post(server_fn_handler).get(server_fn_handler),
        )
        .route("/runs/export", get(crate::export::runs))
        .route("/settings/audit/export", get(crate::export::audit))
        .nest_service("/pkg", bundle(&options))
        .route_service("/sw.js", service_worker(&options))
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(context, shell))
        .layer(session_layer)
        .layer(middleware::from_fn_with_state(
            cors_origins,
            same_site_requests_only,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(middleware::from_fn(document_headers))
        .layer(middleware::from_fn(no_store_for_server_fns))
        .layer(tower::util::option_layer(secure_cookies.then(|| {
            // Cookies are Secure: the site is served over https, and should only be.
            SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            )
        })))
        .layer(tower::util::option_layer(hosts.map(|hosts| {
            middleware::from_fn_with_state(Arc::<[String]>::from(hosts), known_hosts_only)
        })))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // Outside the limit: a declared oversize body to the public API is refused in the
        // API's own error shape (the limit's answer is plain text).
        .layer(middleware::from_fn(api_bodies_within_limit))
        // Streamed runs (application/octet-stream) must reach the browser token by token.
        .layer(CompressionLayer::new().compress_when(
            DefaultPredicate::new().and(NotForContentType::const_new("application/octet-stream")),
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %logged_path(request.uri().path()),
                )
            }),
        )
        .with_state(state)
}

/// `/pkg/*`, the bundle: its brotli or gzip copy when the browser takes it (written at build
/// time by `.ci/finish-site.mjs`), and — its names carrying a content hash — cached for a year
/// as immutable (a new build has new names). An unhashed build (development) is revalidated.
/// A miss is never stored: a module asked of an instance still on another build must be found
/// once the browser reaches one that has it.
fn bundle(options: &leptos::config::LeptosOptions) -> Router {
    let dir = std::path::Path::new(options.site_root.as_ref()).join(options.site_pkg_dir.as_ref());
    let cache = if options.hash_files {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let hashed = options.hash_files;
    Router::new()
        .fallback_service(
            tower_http::services::ServeDir::new(dir)
                .precompressed_br()
                .precompressed_gzip(),
        )
        // A hashed name never changes content: nothing to revalidate against.
        .layer(middleware::map_response(
            move |mut response: Response| async move {
                if hashed {
                    response.headers_mut().remove(header::LAST_MODIFIED);
                }
                response
            },
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            move |response: &axum::response::Response| {
                Some(HeaderValue::from_static(
                    if response.status().is_success() {
                        cache
                    } else {
                        "no-store"
                    },
                ))
            },
        ))
}

/// `/sw.js`: the service worker, always revalidated (a new deployment's worker must be seen).
fn service_worker(options: &leptos::config::LeptosOptions) -> Router {
    let file = std::path::Path::new(options.site_root.as_ref()).join("sw.js");
    Router::new()
        .fallback_service(
            tower_http::services::ServeFile::new(file)
                .precompressed_br()
                .precompressed_gzip(),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
}

/// A request's path as logs show it: never its query (a `next` may carry a link), and an
/// invitation link's token cut off — the path is the secret there.
fn logged_path(path: &str) -> &str {
    if path.starts_with("/invite/") {
        "/invite/…"
    } else {
        path
    }
}

/// No framing, no referrer beyond this origin, a browsing context of its own: on every answer
/// but the bundle's files (`/pkg/*`), which are scripts and WASM, not documents — on a page's
/// dozens of small modules these headers were a few kilobytes of each first load that no
/// browser acts on (BENCHMARKS.md "Bundle size"). `nosniff` stays on everything.
async fn document_headers(request: Request, next: Next) -> Response {
    let bundle = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    if !bundle {
        let headers = response.headers_mut();
        for (name, value) in [
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::REFERRER_POLICY, "same-origin"),
            (
                HeaderName::from_static("cross-origin-opener-policy"),
                "same-origin",
            ),
        ] {
            headers
                .entry(name)
                .or_insert(HeaderValue::from_static(value));
        }
    }
    response
}

/// Refuses a request to the public API whose `Content-Length` is over [`MAX_BODY_BYTES`], in
/// that API's error shape. (A body without a length is cut by the limit layer, and the handler
/// answers the same error.)
async fn api_bodies_within_limit(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        let path = request.uri().path();
        if path.starts_with("/v1/") {
            return crate::api::openai::too_large().into_response();
        }
        if path.starts_with("/api/v1/") {
            return crate::api::too_large().into_response();
        }
    }
    next.run(request).await
}

/// CORS for the public API, for `origins` only (none: no CORS at all): bearer tokens, no
/// cookies, the API's response headers exposed.
fn api_cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST])
            // Whatever the client asks to send (the official SDKs add their own x-stainless-*
            // headers): safe, as credentials are never allowed, so only a token authenticates.
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([
                header::RETRY_AFTER,
                HeaderName::from_static("x-galaxy-run-id"),
                HeaderName::from_static("x-should-retry"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

/// Answers only requests addressed to one of `hosts` (a browser always sends `Host`): a page of
/// another name that resolves to this server (DNS rebinding) gets nothing. Requests without a
/// `Host` (HTTP/1.0 tools) pass.
async fn known_hosts_only(
    State(hosts): State<Arc<[String]>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or_default().to_ascii_lowercase());
    match host {
        Some(host) if !hosts.contains(&host) => {
            tracing::warn!(host, "request for an unknown host refused");
            (StatusCode::MISDIRECTED_REQUEST, "unknown host").into_response()
        }
        _ => next.run(request).await,
    }
}

/// Server fn answers carry a person's data: never stored by a browser or a proxy.
async fn no_store_for_server_fns(request: Request<Body>, next: middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if api {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn server_fn_handler(State(state): State<AppState>, request: Request<Body>) -> Response {
    handle_server_fns_with_context(move || provide_context(state.clone()), request)
        .await
        .into_response()
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
    }
}

/// Refuses state-changing requests that a browser marks as coming from another site.
/// Requests without `Sec-Fetch-Site` and `Origin` (non-browser clients, which cannot carry a
/// victim's cookies) pass.
async fn same_site_requests_only(
    State(cors_origins): State<Arc<[String]>>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    // A page of an allowed origin may call the public API: it authenticates with a bearer token
    // it was given, never with this site's cookies.
    let path = request.uri().path();
    if (path.starts_with("/api/v1/") || path.starts_with("/v1/"))
        && headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|origin| cors_origins.iter().any(|o| o == origin))
    {
        return next.run(request).await;
    }
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let cross_site = match fetch_site {
        Some(site) => !matches!(site, "same-origin" | "none"),
        None => match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(origin) => {
                let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
                let origin_host = origin.split_once("://").map(|(_, rest)| rest);
                origin == "null" || origin_host.is_none() || origin_host != host
            }
            None => false,
        },
    };
    if cross_site {
        tracing::warn!(
            method = %request.method(),
            path = %logged_path(request.uri().path()),
            "cross-site request refused"
        );
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    next.run(request).await
}
