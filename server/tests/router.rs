//! Router tests: the whole axum app driven with `oneshot`, no socket. Server functions are called
//! the way the browser calls them (form-encoded POSTs to /api/<name>), with the session cookie
//! carried by hand.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, Request, StatusCode, header};
use galaxy_core::db::testing::{TempDir, fresh_postgres_url};
use galaxy_server::config::{DbArgs, LogFormat, ServeArgs};
use galaxy_server::{App, build_app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

#[path = "router/api.rs"]
mod api;
#[path = "router/history.rs"]
mod history;
#[path = "router/limits.rs"]
mod limits;
#[path = "router/matrix.rs"]
mod matrix;
#[path = "router/openai.rs"]
mod openai;
#[path = "router/openapi.rs"]
mod openapi;
#[path = "router/teams.rs"]
mod teams;

/// One multi-threaded runtime for every test in this file, as in the server (per-test runtimes
/// let a task spawned during one test's page render land on another test's finished runtime).
static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("test runtime")
});

fn run<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.block_on(f)
}

struct TestApp {
    app: App,
    _dir: TempDir,
}

fn args(dir: &TempDir, database_url: Option<String>) -> ServeArgs {
    ServeArgs {
        addr: "127.0.0.1:3000".parse().unwrap(),
        db: DbArgs {
            data_dir: dir.path().join("data"),
            database_url,
        },
        site_root: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../public")),
        public_url: None,
        cors_origins: Vec::new(),
        secure_cookies: None,
        log_format: LogFormat::Text,
        openai_base_url: "http://127.0.0.1:9/v1".into(),
        anthropic_base_url: "http://127.0.0.1:9".into(),
        max_run_output_bytes: galaxy_core::runs::DEFAULT_MAX_OUTPUT_BYTES,
        allowed_private_endpoints: None,
        shutdown_grace_secs: 30,
        metrics_addr: None,
        trusted_proxies: None,
        signups_per_client_per_hour: 10,
        reauth_window_secs: 600,
        instance_lease_secs: 15,
        redis_url: None,
        limits_redis_down: galaxy_server::config::RedisDownArg::Closed,
    }
}

async fn sqlite_app() -> TestApp {
    let dir = TempDir::new().unwrap();
    let app = build_app(&args(&dir, None)).await.unwrap();
    TestApp { app, _dir: dir }
}

async fn postgres_app() -> TestApp {
    let dir = TempDir::new().unwrap();
    let url = fresh_postgres_url().await.unwrap();
    let app = build_app(&args(&dir, Some(url))).await.unwrap();
    TestApp { app, _dir: dir }
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// `galaxy_session=<id>` from Set-Cookie, if the response set one.
    fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("galaxy_session="))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }

    fn set_cookie_attributes(&self) -> String {
        self.headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A server-function call as the hydrated browser makes it.
async fn call(router: &Router, name: &str, pairs: &[(&str, &str)], cookie: Option<&str>) -> Reply {
    let mut req = Request::post(format!("/api/{name}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json");
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    let body = encode(pairs);
    req = req.header(header::CONTENT_LENGTH, body.len());
    send(router, req.body(Body::from(body)).unwrap()).await
}

async fn get(router: &Router, path: &str, cookie: Option<&str>) -> Reply {
    let mut req = Request::get(path).header(header::ACCEPT, "text/html");
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    send(router, req.body(Body::empty()).unwrap()).await
}

async fn sign_up(router: &Router, email: &str) -> String {
    let reply = call(
        router,
        "sign_up",
        &[
            ("email", email),
            ("display_name", "Tester"),
            ("password", "correct horse battery"),
        ],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
        .session_cookie()
        .expect("sign-up sets the session cookie")
}

/// Adds an OpenAI key through the server fn and checks it was taken.
async fn add_openai_key(router: &Router, cookie: &str, label: &str, api_key: &str) {
    let key = call(
        router,
        "add_key",
        &[
            ("provider", "openai"),
            ("label", label),
            ("base_url", ""),
            ("api_key", api_key),
        ],
        Some(cookie),
    )
    .await;
    assert_eq!(key.status, StatusCode::OK, "{}", key.body);
}

/// The form fields of a new OpenAI agent named `name`.
fn agent_draft(name: &str) -> Vec<(String, String)> {
    [
        ("draft[name]", name),
        ("draft[description]", ""),
        ("draft[provider]", "openai"),
        ("draft[model]", "gpt-4o-mini"),
        ("draft[system_prompt]", ""),
        ("draft[temperature]", "0.5"),
        ("draft[max_tokens]", "100"),
        ("draft[input_schema]", ""),
        ("draft[output_schema]", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn create_agent(router: &Router, cookie: &str, name: &str) -> Value {
    let draft = agent_draft(name);
    let pairs: Vec<(&str, &str)> = draft
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let reply = call(router, "save_agent", &pairs, Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

#[test]
fn health_readiness_and_static_files() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let health = get(r, "/healthz", None).await;
        assert_eq!(
            (health.status, health.body.as_str()),
            (StatusCode::OK, "ok")
        );
        assert_eq!(get(r, "/readyz", None).await.status, StatusCode::OK);
        let manifest = get(r, "/manifest.webmanifest", None).await;
        assert_eq!(manifest.status, StatusCode::OK);
        assert!(manifest.body.contains("\"name\": \"Galaxy\""));
        assert_eq!(manifest.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(manifest.headers[header::X_FRAME_OPTIONS], "DENY");
        let missing = get(r, "/no/such/page", None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(missing.body.contains("Page not found"));
        // Readiness follows the database.
        t.app.state.db.close().await;
        assert_eq!(
            get(r, "/readyz", None).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    })
}

#[test]
fn visitors_are_redirected_to_log_in_and_forms_render_without_js() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        for path in ["/", "/agents", "/agents/new", "/agents/0190"] {
            let page = get(r, path, None).await;
            assert_eq!(page.status, StatusCode::FOUND, "{path}");
            assert_eq!(page.headers[header::LOCATION], "/login", "{path}");
        }
        let login = get(r, "/login", None).await;
        assert_eq!(login.status, StatusCode::OK);
        assert!(
            login
                .body
                .contains(r#"<form action="/api/log_in" method="post""#),
            "{}",
            login.body
        );
        assert!(login.body.contains("/pkg/galaxy.js"));
        assert!(
            login.headers.get(header::SET_COOKIE).is_none(),
            "no session for visitors"
        );
        let me = call(r, "get_current_user", &[], None).await;
        assert_eq!((me.status, me.json()), (StatusCode::OK, Value::Null));
        let agents = call(r, "list_agents", &[], None).await;
        assert_eq!(agents.status, StatusCode::UNAUTHORIZED);
        assert_eq!(agents.json(), "Unauthenticated");
    })
}

/// Pages carry a CSP whose nonce is the one on Leptos' inline scripts (and no other inline script
/// runs), pages and server fn answers are never cached, and the opener policy isolates the window.
#[test]
fn pages_have_a_nonce_csp_and_nothing_personal_is_cached() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let login = get(r, "/login", None).await;
        let csp = login.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap();
        assert!(nonce.len() >= 16, "{csp}");
        for directive in [
            "default-src 'self'",
            "'wasm-unsafe-eval'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{directive}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let scripts = login.body.matches("<script").count();
        assert!(scripts > 0);
        assert_eq!(
            login.body.matches(&format!(r#"nonce="{nonce}""#)).count(),
            scripts,
            "every inline script carries this response's nonce: {}",
            login.body
        );
        let again = get(r, "/login", None).await;
        assert!(
            !again.headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains(nonce),
            "a fresh nonce per response"
        );
        assert_eq!(login.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(login.headers["cross-origin-opener-policy"], "same-origin");
        assert!(
            login
                .headers
                .get(header::STRICT_TRANSPORT_SECURITY)
                .is_none(),
            "plain-HTTP localhost: no HSTS"
        );
        let me = call(r, "get_current_user", &[], None).await;
        assert_eq!(me.headers[header::CACHE_CONTROL], "no-store");

        let dir = TempDir::new().unwrap();
        let secure = build_app(&ServeArgs {
            secure_cookies: Some(true),
            ..args(&dir, None)
        })
        .await
        .unwrap();
        let page = get(&secure.router, "/login", None).await;
        assert_eq!(
            page.headers[header::STRICT_TRANSPORT_SECURITY],
            "max-age=31536000"
        );
    })
}

/// Only requests for the public URL's host or the listen address are answered (DNS rebinding
/// against a local instance gets nothing); an https public URL makes cookies Secure even when
/// the server listens on loopback behind its proxy.
#[test]
fn only_known_hosts_are_answered_and_an_https_public_url_secures_cookies() {
    run(async {
        let dir = TempDir::new().unwrap();
        let app = build_app(&ServeArgs {
            public_url: Some(galaxy_server::config::PublicUrl {
                https: true,
                host: "galaxy.example.com".into(),
            }),
            ..args(&dir, None)
        })
        .await
        .unwrap();
        let r = &app.router;
        let with_host = |host: &'static str| {
            Request::get("/healthz")
                .header(header::HOST, host)
                .body(Body::empty())
                .unwrap()
        };
        for host in [
            "galaxy.example.com",
            "GALAXY.example.com",
            "127.0.0.1:3000",
            "localhost:3000",
        ] {
            let reply = send(r, with_host(host)).await;
            assert_eq!(reply.status, StatusCode::OK, "{host}");
        }
        for host in [
            "attacker.example",
            "galaxy.example.com.attacker.example",
            "127.0.0.1:3001",
        ] {
            let reply = send(r, with_host(host)).await;
            assert_eq!(reply.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
        }
        let signed_up = call(
            r,
            "sign_up",
            &[
                ("email", "s@example.com"),
                ("display_name", "S"),
                ("password", "correct horse battery"),
            ],
            None,
        )
        .await;
        let cookie = signed_up.headers[header::SET_COOKIE].to_str().unwrap();
        assert!(cookie.contains("Secure"), "{cookie}");
    })
}

#[test]
fn session_cookie_is_strict_http_only_and_cycled_at_log_in() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let signup = call(
            r,
            "sign_up",
            &[
                ("email", "ada@example.com"),
                ("display_name", "Ada"),
                ("password", "correct horse battery"),
            ],
            None,
        )
        .await;
        assert_eq!(signup.headers[header::LOCATION], "/");
        let attrs = signup.set_cookie_attributes();
        assert!(attrs.contains("HttpOnly"), "{attrs}");
        assert!(attrs.contains("SameSite=Strict"), "{attrs}");
        assert!(!attrs.contains("Secure"), "plain-HTTP localhost: {attrs}");
        let first = signup.session_cookie().unwrap();
        let me = call(r, "get_current_user", &[], Some(&first)).await.json();
        assert_eq!(me["email"], "ada@example.com");
        assert_eq!(me["role"], "owner");

        // Log in while holding a session: the id changes and the old one is dead.
        let login = call(
            r,
            "log_in",
            &[
                ("email", "ADA@example.com"),
                ("password", "correct horse battery"),
            ],
            Some(&first),
        )
        .await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        let second = login.session_cookie().unwrap();
        assert_ne!(first, second);
        assert_eq!(
            call(r, "get_current_user", &[], Some(&first)).await.json(),
            Value::Null
        );
        assert_eq!(
            call(r, "get_current_user", &[], Some(&second)).await.json()["email"],
            "ada@example.com"
        );

        // Wrong password: 401 with a message that does not say which part was wrong.
        let wrong = call(
            r,
            "log_in",
            &[("email", "ada@example.com"), ("password", "nope nope")],
            None,
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.json(), "InvalidCredentials");

        // Log out ends the session on the server.
        let out = call(r, "log_out", &[], Some(&second)).await;
        assert_eq!(out.status, StatusCode::OK);
        assert_eq!(
            call(r, "get_current_user", &[], Some(&second)).await.json(),
            Value::Null
        );
    })
}

#[test]
fn log_in_is_throttled_with_retry_after() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        sign_up(r, "t@example.com").await;
        let mut last = None;
        for _ in 0..6 {
            last = Some(
                call(
                    r,
                    "log_in",
                    &[("email", "t@example.com"), ("password", "wrong password")],
                    None,
                )
                .await,
            );
        }
        let last = last.unwrap();
        assert_eq!(last.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            last.json()["RateLimited"]["retry_after_secs"]
                .as_u64()
                .unwrap()
                >= 1
        );
        assert!(last.headers.contains_key(header::RETRY_AFTER));
    })
}

#[test]
fn cross_site_posts_are_refused() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let post = |extra: &[(&str, &str)]| {
            let mut req = Request::post("/api/sign_up")
                .header(header::HOST, "127.0.0.1:3000")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            for (k, v) in extra {
                req = req.header(*k, *v);
            }
            req.body(Body::from(encode(&[
                ("email", "x@example.com"),
                ("display_name", "X"),
                ("password", "correct horse battery"),
            ])))
            .unwrap()
        };
        let cross = send(r, post(&[("sec-fetch-site", "cross-site")])).await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN);
        let same_site = send(r, post(&[("sec-fetch-site", "same-site")])).await;
        assert_eq!(same_site.status, StatusCode::FORBIDDEN);
        let evil_origin = send(r, post(&[("origin", "http://evil.example")])).await;
        assert_eq!(evil_origin.status, StatusCode::FORBIDDEN);
        let null_origin = send(r, post(&[("origin", "null")])).await;
        assert_eq!(null_origin.status, StatusCode::FORBIDDEN);
        // Nothing was created by the refused requests; a same-origin post works.
        let ok = send(
            r,
            post(&[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://127.0.0.1:3000"),
            ]),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        let again = send(r, post(&[("origin", "http://127.0.0.1:3000")])).await;
        assert_eq!(
            again.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "the first same-origin post created the account"
        );
    })
}

#[test]
fn bad_input_gets_field_errors_and_oversized_bodies_are_refused() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let bad = call(
            r,
            "sign_up",
            &[("email", "nope"), ("display_name", ""), ("password", "x")],
            None,
        )
        .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let fields: Vec<String> = bad.json()["Validation"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(fields, ["email", "display_name", "password"]);
        // A missing argument is a clean 400, not a crash.
        let missing = call(r, "sign_up", &[("email", "a@b.co")], None).await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
        assert_eq!(missing.json(), "Request");
        let huge = "x".repeat(2 * 1024 * 1024);
        let too_big = call(r, "sign_up", &[("email", &huge)], None).await;
        assert_eq!(too_big.status, StatusCode::PAYLOAD_TOO_LARGE);

        let cookie = sign_up(r, "v@example.com").await;
        let invalid = call(
            r,
            "save_agent",
            &[
                ("draft[name]", ""),
                ("draft[description]", ""),
                ("draft[provider]", "gemini"),
                ("draft[model]", "m"),
                ("draft[system_prompt]", ""),
                ("draft[temperature]", "9"),
                ("draft[max_tokens]", "1"),
                ("draft[input_schema]", ""),
                ("draft[output_schema]", ""),
            ],
            Some(&cookie),
        )
        .await;
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(invalid.json()["Validation"].as_array().unwrap().len(), 3);
    })
}

#[test]
fn another_workspace_answers_not_found_everywhere() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let alice = sign_up(r, "alice@example.com").await;
        let bob = sign_up(r, "bob@example.com").await;
        let agent = create_agent(r, &alice, "Alice's agent").await;
        let id = agent["id"].as_str().unwrap();
        let run = call(
            r,
            "run_agent",
            &[("agent_id", id), ("input", "hi"), ("mode", "mock")],
            Some(&alice),
        )
        .await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.body);

        for (name, pairs) in [
            ("get_agent", vec![("id", id)]),
            ("delete_agent", vec![("id", id)]),
            (
                "run_agent",
                vec![("agent_id", id), ("input", "x"), ("mode", "mock")],
            ),
        ] {
            let reply = call(r, name, &pairs, Some(&bob)).await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{name}: {}",
                reply.body
            );
            assert_eq!(reply.json(), "NotFound", "{name}");
        }
        let update = call(
            r,
            "save_agent",
            &[
                ("id", id),
                ("draft[name]", "Bob owns this now"),
                ("draft[description]", ""),
                ("draft[provider]", "openai"),
                ("draft[model]", "m"),
                ("draft[system_prompt]", ""),
                ("draft[temperature]", "1"),
                ("draft[max_tokens]", "1"),
                ("draft[input_schema]", ""),
                ("draft[output_schema]", ""),
            ],
            Some(&bob),
        )
        .await;
        assert_eq!(update.status, StatusCode::NOT_FOUND);
        assert_eq!(
            call(r, "list_agents", &[], Some(&bob)).await.json(),
            Value::Array(vec![])
        );
        assert_eq!(
            call(r, "list_agent_runs", &[("agent_id", id)], Some(&bob))
                .await
                .json(),
            Value::Array(vec![])
        );
        let dash = call(r, "get_dashboard", &[], Some(&bob)).await.json();
        assert_eq!(
            (
                dash["totals"]["agents"].as_i64(),
                dash["totals"]["runs"].as_i64()
            ),
            (Some(0), Some(0))
        );
        // The page says "not found" too, and Alice still has everything.
        let page = get(r, &format!("/agents/{id}"), Some(&bob)).await;
        assert!(page.body.contains("Not found"), "{}", page.body);
        assert!(!page.body.contains("Alice&#x27;s agent") && !page.body.contains("Alice's agent"));
        assert_eq!(
            call(r, "get_agent", &[("id", id)], Some(&alice))
                .await
                .json()["config"]["name"],
            "Alice's agent"
        );
        assert_eq!(
            call(r, "get_dashboard", &[], Some(&alice)).await.json()["totals"]["runs"],
            1
        );
    })
}

#[test]
fn internal_errors_reach_the_browser_only_as_a_reference() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let cookie = sign_up(r, "i@example.com").await;
        // A real database failure: the table the query needs is gone.
        sqlx::query("ALTER TABLE agents RENAME TO agents_gone")
            .execute(t.app.state.db.pool())
            .await
            .unwrap();
        let reply = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            call(r, "list_agents", &[], Some(&cookie)),
        )
        .await
        .expect("call hung");
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        let json = reply.json();
        assert!(
            json["Internal"]["reference"].as_str().unwrap().len() >= 8,
            "{json}"
        );
        let lower = reply.body.to_lowercase();
        for leak in ["agents", "no such table", "sqlite", "database", "sqlx"] {
            assert!(!lower.contains(leak), "{leak} leaked: {}", reply.body);
        }
        // Pages too.
        let page = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            get(r, "/agents", Some(&cookie)),
        )
        .await
        .expect("page hung");
        let lower = page.body.to_lowercase();
        assert!(lower.contains("reference"), "{}", page.body);
        assert!(
            !lower.contains("pool") && !lower.contains("sqlx"),
            "{}",
            page.body
        );
    })
}

/// A keyring that cannot open the stored keys stops the start, with one line saying why: a
/// missing file (not silently regenerated), a different keyring, a file others can read.
#[test]
fn start_up_refuses_a_keyring_that_would_lose_the_stored_keys() {
    run(async {
        let dir = TempDir::new().unwrap();
        let first = build_app(&args(&dir, None)).await.unwrap();
        let cookie = sign_up(&first.router, "k@example.com").await;
        add_openai_key(&first.router, &cookie, "prod", "sk-keyring-0123456789").await;
        first.state.db.close().await;
        drop(first);
        let ring = dir.path().join("data").join("keyring.json");
        let kept = std::fs::read(&ring).unwrap();

        std::fs::remove_file(&ring).unwrap();
        let e = build_app(&args(&dir, None))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("is missing") && e.contains("1 provider keys"),
            "{e}"
        );
        assert!(!ring.exists(), "no new keyring written");

        galaxy_core::vault::KeyringFile::generate()
            .write(&ring)
            .unwrap();
        let e = build_app(&args(&dir, None))
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("cannot open master key 1"), "{e}");

        std::fs::write(&ring, &kept).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&ring, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = build_app(&args(&dir, None))
                .await
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("readable by other users"), "{e}");
            std::fs::set_permissions(&ring, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let back = build_app(&args(&dir, None)).await.unwrap();
        let keys = call(&back.router, "list_keys", &[], Some(&cookie)).await;
        assert!(keys.body.contains("prod"), "{}", keys.body);
    })
}

#[test]
fn a_bad_redis_url_is_refused_at_start_up_without_printing_it() {
    run(async {
        let dir = TempDir::new().unwrap();
        for bad in ["http://user:hunter2@127.0.0.1:6379", "redis//:hunter2@h"] {
            let Err(e) = build_app(&ServeArgs {
                redis_url: Some(bad.to_owned().into()),
                ..args(&dir, None)
            })
            .await
            else {
                panic!("{bad} was accepted");
            };
            let text = e.to_string();
            assert!(text.contains("REDIS_URL"), "{text}");
            assert!(!text.contains("hunter2"), "{text}");
        }
    });
}

#[test]
fn sessions_survive_a_restart() {
    run(async {
        let dir = TempDir::new().unwrap();
        let first = build_app(&args(&dir, None)).await.unwrap();
        let cookie = sign_up(&first.router, "r@example.com").await;
        create_agent(&first.router, &cookie, "Persistent").await;
        first.state.db.close().await;
        drop(first);
        let second = build_app(&args(&dir, None)).await.unwrap();
        let me = call(&second.router, "get_current_user", &[], Some(&cookie))
            .await
            .json();
        assert_eq!(me["email"], "r@example.com");
        let agents = call(&second.router, "list_agents", &[], Some(&cookie))
            .await
            .json();
        assert_eq!(agents[0]["name"], "Persistent");
    })
}

#[test]
fn the_same_flows_work_on_postgres() {
    run(async {
        let t = postgres_app().await;
        let r = &t.app.router;
        let cookie = sign_up(r, "pg@example.com").await;
        let agent = create_agent(r, &cookie, "On Postgres").await;
        let id = agent["id"].as_str().unwrap();
        let run = call(
            r,
            "run_agent",
            &[("agent_id", id), ("input", "hello"), ("mode", "mock")],
            Some(&cookie),
        )
        .await;
        assert_eq!(run.status, StatusCode::OK, "{}", run.body);
        assert_eq!(run.json()["status"], "succeeded");
        let other = sign_up(r, "pg2@example.com").await;
        assert_eq!(
            call(r, "get_agent", &[("id", id)], Some(&other))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let page = get(r, "/", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        let runs_stat = page
            .body
            .split(r#"data-stat="runs""#)
            .nth(1)
            .unwrap_or_default();
        let value = runs_stat
            .split_once('>')
            .map(|(_, v)| v)
            .unwrap_or_default();
        assert!(value.starts_with("1<"), "{}", page.body);
        t.app.state.db.close().await;
    })
}

/// The body of a streamed run: its NDJSON lines.
fn lines(reply: &Reply) -> Vec<Value> {
    reply
        .body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

async fn stream(r: &Router, agent: &str, mode: &str, trigger: &str, cookie: Option<&str>) -> Reply {
    let pairs = [
        ("agent_id", agent),
        ("input", "hello"),
        ("mode", mode),
        ("trigger", trigger),
    ];
    call(r, "run_agent_stream", &pairs, cookie).await
}

#[test]
fn streamed_runs_answer_errors_with_a_status_before_any_stream() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let alice = sign_up(r, "s@example.com").await;
        let agent = create_agent(r, &alice, "Streamer").await;
        let id = agent["id"].as_str().unwrap();
        // A working run: 200, `started` first, `finished` last, recorded.
        let ok = stream(r, id, "mock", "dashboard", Some(&alice)).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        let msgs = lines(&ok);
        assert_eq!(msgs[0]["type"], "started");
        let last = msgs.last().unwrap();
        assert_eq!(last["type"], "finished");
        assert_eq!(last["run"]["id"], msgs[0]["run_id"]);
        assert_eq!(last["run"]["trigger"], "dashboard");
        assert!(msgs[1..msgs.len() - 1].iter().all(|m| m["type"] == "delta"));
        // Everything wrong before the call is a status and a JSON error, never a 200.
        for (agent, mode, trigger, cookie, status, error) in [
            (
                id,
                "mock",
                "test_panel",
                None,
                StatusCode::UNAUTHORIZED,
                json!("Unauthenticated"),
            ),
            (
                "0190-none",
                "mock",
                "test_panel",
                Some(&alice),
                StatusCode::NOT_FOUND,
                json!("NotFound"),
            ),
            (
                id,
                "live",
                "test_panel",
                Some(&alice),
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::Null,
            ),
            (
                id,
                "loud",
                "test_panel",
                Some(&alice),
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::Null,
            ),
            (
                id,
                "mock",
                "api",
                Some(&alice),
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::Null,
            ),
            (
                id,
                "mock",
                "webhook",
                Some(&alice),
                StatusCode::UNPROCESSABLE_ENTITY,
                Value::Null,
            ),
        ] {
            let reply = stream(r, agent, mode, trigger, cookie.map(String::as_str)).await;
            assert_eq!(
                reply.status, status,
                "{agent} {mode} {trigger}: {}",
                reply.body
            );
            assert!(!reply.body.contains("started"), "{}", reply.body);
            if error != Value::Null {
                assert_eq!(reply.json(), error);
            } else {
                let field = &reply.json()["Validation"][0]["field"];
                assert!(
                    ["mode", "trigger"].contains(&field.as_str().unwrap()),
                    "{}",
                    reply.body
                );
            }
        }
        // Only the working run is on record.
        let dash = call(r, "get_dashboard", &[], Some(&alice)).await.json();
        assert_eq!(dash["totals"]["runs"], 1);
    })
}

/// Start-up marks runs left `queued` or `running` by a crash as interrupted, and nothing else.
async fn restart_marks_only_unfinished_runs_interrupted(database_url: Option<String>) {
    let dir = TempDir::new().unwrap();
    let first = build_app(&args(&dir, database_url.clone())).await.unwrap();
    let cookie = sign_up(&first.router, "crash@example.com").await;
    let agent = create_agent(&first.router, &cookie, "Crashy").await;
    let id = agent["id"].as_str().unwrap();
    let done = call(
        &first.router,
        "run_agent",
        &[("agent_id", id), ("input", "x"), ("mode", "mock")],
        Some(&cookie),
    )
    .await
    .json();
    assert_eq!(done["status"], "succeeded");
    // Copies of the finished run in every state a crash could leave or not leave.
    let states = [
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
        "output_invalid",
    ];
    for state in states {
        sqlx::query(
            "INSERT INTO runs (id, workspace_id, agent_id, agent_name, agent_version, mode, \
             run_trigger, status, input, provider, model, triggered_by, created_at) \
             SELECT $1, workspace_id, agent_id, agent_name, agent_version, mode, run_trigger, $2, \
             input, provider, model, triggered_by, created_at FROM runs WHERE id = $3",
        )
        .bind(format!("copy-{state}"))
        .bind(state)
        .bind(done["id"].as_str().unwrap())
        .execute(first.state.db.pool())
        .await
        .unwrap();
    }
    first.state.db.close().await;
    drop(first);
    let second = build_app(&args(&dir, database_url)).await.unwrap();
    let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT id, status, finished_at FROM runs WHERE id LIKE 'copy-%' ORDER BY id",
    )
    .fetch_all(second.state.db.pool())
    .await
    .unwrap();
    let got: Vec<(&str, &str, bool)> = rows
        .iter()
        .map(|(id, s, f)| (id.as_str(), s.as_str(), f.is_some()))
        .collect();
    assert_eq!(
        got,
        [
            ("copy-cancelled", "cancelled", false),
            ("copy-failed", "failed", false),
            ("copy-output_invalid", "output_invalid", false),
            ("copy-queued", "interrupted", true),
            ("copy-running", "interrupted", true),
            ("copy-succeeded", "succeeded", false),
        ]
    );
    // The page shows them as interrupted, with the reason.
    let runs = call(
        &second.router,
        "list_agent_runs",
        &[("agent_id", id)],
        Some(&cookie),
    )
    .await
    .json();
    let interrupted: Vec<&Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "interrupted")
        .collect();
    assert_eq!(interrupted.len(), 2);
    assert!(interrupted.iter().all(|r| r["error_kind"] == "interrupted"));
    second.state.db.close().await;
}

#[test]
fn start_up_marks_unfinished_runs_interrupted_on_sqlite() {
    run(restart_marks_only_unfinished_runs_interrupted(None))
}

#[test]
fn start_up_marks_unfinished_runs_interrupted_on_postgres() {
    run(async {
        let url = fresh_postgres_url().await.unwrap();
        restart_marks_only_unfinished_runs_interrupted(Some(url)).await
    })
}

#[test]
fn a_starting_instance_leaves_a_live_instances_runs_alone_on_postgres() {
    run(async {
        let url = fresh_postgres_url().await.unwrap();
        let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        let a = build_app(&args(&dir_a, Some(url.clone()))).await.unwrap();
        let cookie = sign_up(&a.router, "instances@example.com").await;
        let agent = create_agent(&a.router, &cookie, "Long").await;
        let done = call(
            &a.router,
            "run_agent",
            &[
                ("agent_id", agent["id"].as_str().unwrap()),
                ("input", "x"),
                ("mode", "mock"),
            ],
            Some(&cookie),
        )
        .await
        .json();
        let (instance,): (Option<String>,) =
            sqlx::query_as("SELECT instance_id FROM runs WHERE id = $1")
                .bind(done["id"].as_str().unwrap())
                .fetch_one(a.state.db.pool())
                .await
                .unwrap();
        assert_eq!(instance.as_deref(), Some(a.instance.id.as_str()));
        // A run instance A is executing (a copy of the finished one, back to running).
        sqlx::query(
            "INSERT INTO runs (id, workspace_id, agent_id, agent_name, agent_version, mode, \
             run_trigger, status, input, provider, model, triggered_by, created_at, instance_id) \
             SELECT 'live-on-a', workspace_id, agent_id, agent_name, agent_version, mode, \
             run_trigger, 'running', input, provider, model, triggered_by, created_at, \
             instance_id FROM runs WHERE id = $1",
        )
        .bind(done["id"].as_str().unwrap())
        .execute(a.state.db.pool())
        .await
        .unwrap();
        let status = |db: galaxy_core::db::Db| async move {
            let (s,): (String,) = sqlx::query_as("SELECT status FROM runs WHERE id = 'live-on-a'")
                .fetch_one(db.pool())
                .await
                .unwrap();
            s
        };
        // Instance B starts beside A: A's run is left alone.
        let b = build_app(&args(&dir_b, Some(url.clone()))).await.unwrap();
        assert_eq!(status(b.state.db.clone()).await, "running");
        // A dies (its lease stops being renewed): once the lease has expired, B's sweep
        // interrupts A's run.
        drop(a);
        sqlx::query("UPDATE instances SET expires_at = 0 WHERE id <> $1")
            .bind(&b.instance.id)
            .execute(b.state.db.pool())
            .await
            .unwrap();
        // (B's own sweep may have got there first.)
        assert!(
            galaxy_core::instances::sweep(&b.state.db, None)
                .await
                .unwrap()
                <= 1
        );
        assert_eq!(status(b.state.db.clone()).await, "interrupted");
        let mut b = b;
        b.leave().await;
        b.state.db.close().await;
    })
}

#[test]
fn metrics_answer_in_prometheus_text_after_a_few_runs() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let cookie = sign_up(r, "m@example.com").await;
        let agent = create_agent(r, &cookie, "Measured").await;
        let id = agent["id"].as_str().unwrap();
        for _ in 0..3 {
            let reply = call(
                r,
                "run_agent",
                &[("agent_id", id), ("input", "x"), ("mode", "mock")],
                Some(&cookie),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        }
        let streamed = call(
            r,
            "run_agent_stream",
            &[
                ("agent_id", id),
                ("input", "x"),
                ("mode", "mock"),
                ("trigger", "test_panel"),
            ],
            Some(&cookie),
        )
        .await;
        assert_eq!(streamed.status, StatusCode::OK);
        // A live run against an address nothing listens on: retried, then failed.
        add_openai_key(r, &cookie, "nowhere", "sk-metrics-0123456789").await;
        let failed = call(
            r,
            "run_agent",
            &[("agent_id", id), ("input", "x"), ("mode", "live")],
            Some(&cookie),
        )
        .await
        .json();
        assert_eq!(failed["status"], "failed", "{failed}");
        // Without a session: metrics are for the operator's scraper, not behind a login.
        let metrics = get(r, "/metrics", None).await;
        assert_eq!(metrics.status, StatusCode::OK);
        assert!(
            metrics.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        let text = &metrics.body;
        let series = |name: &str| {
            text.lines()
                .filter(|l| l.starts_with(name))
                .collect::<Vec<_>>()
        };
        let runs = series("galaxy_runs_total{");
        assert!(
            runs.iter().any(|l| l.contains("status=\"succeeded\"")
                && l.contains("mode=\"mock\"")
                && l.contains("trigger=\"test_panel\"")
                && l.contains("provider=\"openai\"")),
            "{text}"
        );
        assert!(
            series("galaxy_provider_retries_total{")
                .iter()
                .any(|l| l.contains("class=\"connect\"")),
            "{text}"
        );
        for name in [
            "galaxy_run_ttft_seconds_bucket{",
            "galaxy_run_duration_seconds_bucket{",
            "galaxy_provider_call_duration_seconds_bucket{",
            "galaxy_tokens_total{",
            "galaxy_cost_microdollars_total{",
            "galaxy_recorder_batch_size_bucket{",
            "galaxy_recorder_commit_duration_seconds_bucket{",
            "galaxy_recorder_queue_depth",
            "galaxy_runs_in_flight",
            "galaxy_run_stage_duration_seconds_bucket{stage=\"auth\"",
            "galaxy_run_stage_duration_seconds_bucket{stage=\"record\"",
        ] {
            assert!(!series(name).is_empty(), "{name} missing:\n{text}");
        }
        // No label ever carries an id or user text.
        assert!(!text.contains(id), "{text}");
    })
}

/// Two servers on one database (instances behind a load balancer): a session both have in memory
/// ends on both the moment it ends on one.
async fn logging_out_anywhere_ends_the_session_everywhere(database_url: Option<String>) {
    let dir = TempDir::new().unwrap();
    let one = build_app(&args(&dir, database_url.clone())).await.unwrap();
    let two = build_app(&args(&dir, database_url)).await.unwrap();
    let cookie = sign_up(&one.router, "twice@example.com").await;
    for app in [&one, &two] {
        let me = call(&app.router, "get_current_user", &[], Some(&cookie))
            .await
            .json();
        assert_eq!(me["email"], "twice@example.com", "both know the session");
    }
    let out = call(&two.router, "log_out", &[], Some(&cookie)).await;
    assert_eq!(out.status, StatusCode::OK);
    for app in [&one, &two] {
        let me = call(&app.router, "get_current_user", &[], Some(&cookie))
            .await
            .json();
        assert_eq!(me, Value::Null, "the ended session is refused everywhere");
        let agents = call(&app.router, "list_agents", &[], Some(&cookie)).await;
        assert_eq!(agents.status, StatusCode::UNAUTHORIZED);
    }
    // A new log-in works on either.
    let login = call(
        &one.router,
        "log_in",
        &[
            ("email", "twice@example.com"),
            ("password", "correct horse battery"),
        ],
        None,
    )
    .await;
    let fresh = login.session_cookie().unwrap();
    let me = call(&two.router, "get_current_user", &[], Some(&fresh))
        .await
        .json();
    assert_eq!(me["email"], "twice@example.com");
    one.state.db.close().await;
    two.state.db.close().await;
}

#[test]
fn logging_out_on_one_instance_ends_the_session_on_every_instance_sqlite() {
    run(logging_out_anywhere_ends_the_session_everywhere(None))
}

#[test]
fn logging_out_on_one_instance_ends_the_session_on_every_instance_postgres() {
    run(async {
        let url = fresh_postgres_url().await.unwrap();
        logging_out_anywhere_ends_the_session_everywhere(Some(url)).await
    })
}

/// `call` from a connection whose peer is `peer`, with an `X-Forwarded-For` header.
async fn call_from(
    router: &Router,
    name: &str,
    pairs: &[(&str, &str)],
    peer: &str,
    forwarded_for: &str,
) -> Reply {
    let body = encode(pairs);
    let mut req = Request::post(format!("/api/{name}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header("x-forwarded-for", forwarded_for)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .unwrap();
    let peer: std::net::SocketAddr = peer.parse().unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    send(router, req).await
}

async fn log_in(router: &Router, email: &str, password: &str) -> Reply {
    call(
        router,
        "log_in",
        &[("email", email), ("password", password)],
        None,
    )
    .await
}

async fn signed_in(router: &Router, cookie: &str) -> bool {
    let me = call(router, "get_current_user", &[], Some(cookie)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    me.json() != Value::Null
}

#[test]
fn key_changes_need_a_recent_password() {
    run(async {
        let dir = TempDir::new().unwrap();
        let mut a = args(&dir, None);
        a.reauth_window_secs = 1;
        let app = build_app(&a).await.unwrap();
        let r = &app.router;
        let cookie = sign_up(r, "sudo@example.com").await;
        // Right after signing up the password is recent.
        add_openai_key(r, &cookie, "fresh", "sk-test-recent-0001").await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let pairs = [
            ("provider", "openai"),
            ("label", "later"),
            ("base_url", ""),
            ("api_key", "sk-test-later-0002"),
        ];
        let refused = call(r, "add_key", &pairs, Some(&cookie)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert_eq!(refused.json(), json!("ReauthRequired"));
        let keys = call(r, "list_keys", &[], Some(&cookie)).await.json();
        assert_eq!(keys.as_array().unwrap().len(), 1, "nothing was added");
        let id = keys[0]["id"].as_str().unwrap().to_owned();
        for (name, pairs) in [
            (
                "rotate_key",
                vec![("id", id.as_str()), ("api_key", "sk-test-rot-0003")],
            ),
            ("revoke_key", vec![("id", id.as_str())]),
        ] {
            let refused = call(r, name, &pairs, Some(&cookie)).await;
            assert_eq!(
                refused.status,
                StatusCode::FORBIDDEN,
                "{name}: {}",
                refused.body
            );
        }
        // A wrong password is a field error; the right one opens the window again.
        let wrong = call(
            r,
            "confirm_password",
            &[("password", "not my password")],
            Some(&cookie),
        )
        .await;
        assert_eq!(
            wrong.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong.body
        );
        assert_eq!(wrong.json()["Validation"][0]["field"], "password");
        let ok = call(
            r,
            "confirm_password",
            &[("password", "correct horse battery")],
            Some(&cookie),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        let added = call(r, "add_key", &pairs, Some(&cookie)).await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.body);
        let revoked = call(r, "revoke_key", &[("id", id.as_str())], Some(&cookie)).await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
        // Listing and testing keys need no confirmation.
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            call(r, "list_keys", &[], Some(&cookie)).await.status,
            StatusCode::OK
        );
        app.state.db.close().await;
    })
}

async fn password_change_and_sign_out_everywhere(database_url: Option<String>) {
    let dir = TempDir::new().unwrap();
    let app = build_app(&args(&dir, database_url)).await.unwrap();
    let r = &app.router;
    let first = sign_up(r, "many@example.com").await;
    let second = log_in(r, "many@example.com", "correct horse battery")
        .await
        .session_cookie()
        .unwrap();
    let third = log_in(r, "many@example.com", "correct horse battery")
        .await
        .session_cookie()
        .unwrap();
    let info = call(r, "account_overview", &[], Some(&first)).await.json();
    assert_eq!(info["sessions"], 3);
    let actions: Vec<&str> = info["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "account.logged_in",
            "account.logged_in",
            "account.signed_up"
        ]
    );
    // The table holds hashes of session ids, never a cookie's value.
    let stored: Vec<(String,)> = sqlx::query_as("SELECT id FROM sessions")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    for cookie in [&first, &second, &third] {
        let value = cookie.trim_start_matches("galaxy_session=");
        assert!(stored.iter().all(|(id,)| id != value));
        assert!(stored.contains(&(galaxy_core::sessions::key(value),)));
    }
    // Changing the password needs the current one, ends the other sessions, keeps this one
    // under a new id.
    let wrong = call(
        r,
        "change_password",
        &[
            ("current_password", "nope nope nope"),
            ("new_password", "a brand new one"),
        ],
        Some(&first),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(wrong.json()["Validation"][0]["field"], "current_password");
    let changed = call(
        r,
        "change_password",
        &[
            ("current_password", "correct horse battery"),
            ("new_password", "a brand new one"),
        ],
        Some(&first),
    )
    .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!(changed.json(), json!(2));
    let renewed = changed.session_cookie().expect("a new session id");
    assert_ne!(renewed, first);
    assert!(signed_in(r, &renewed).await);
    for ended in [&first, &second, &third] {
        assert!(!signed_in(r, ended).await, "{ended} still signed in");
    }
    // (This account has spent 5 attempts from this client: the rest come from other ones.)
    assert_eq!(
        log_in(r, "many@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let other = call_from(
        r,
        "log_in",
        &[
            ("email", "many@example.com"),
            ("password", "a brand new one"),
        ],
        "10.0.0.2:1000",
        "",
    )
    .await
    .session_cookie()
    .unwrap();
    // Sign out everywhere: this session and every other.
    let out = call(r, "sign_out_everywhere", &[], Some(&renewed)).await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    assert!(!signed_in(r, &renewed).await);
    assert!(!signed_in(r, &other).await);
    let back = call_from(
        r,
        "log_in",
        &[
            ("email", "many@example.com"),
            ("password", "a brand new one"),
        ],
        "10.0.0.3:1000",
        "",
    )
    .await
    .session_cookie()
    .unwrap();
    let info = call(r, "account_overview", &[], Some(&back)).await.json();
    assert_eq!(info["sessions"], 1);
    let actions: Vec<&str> = info["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .take(5)
        .collect();
    assert_eq!(
        actions,
        [
            "account.logged_in",
            "account.signed_out_everywhere",
            "account.logged_in",
            "account.log_in_failed",
            "account.password_changed",
        ]
    );
    app.state.db.close().await;
}

#[test]
fn a_password_change_and_sign_out_everywhere_end_sessions_on_sqlite() {
    run(password_change_and_sign_out_everywhere(None))
}

#[test]
fn a_password_change_and_sign_out_everywhere_end_sessions_on_postgres() {
    run(async {
        let url = fresh_postgres_url().await.unwrap();
        password_change_and_sign_out_everywhere(Some(url)).await
    })
}

#[test]
fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
    run(async {
        let dir = TempDir::new().unwrap();
        let plain = build_app(&args(&dir, None)).await.unwrap();
        let dir2 = TempDir::new().unwrap();
        let mut behind = args(&dir2, None);
        behind.trusted_proxies = Some(std::sync::Arc::new("127.0.0.1".parse().unwrap()));
        let proxied = build_app(&behind).await.unwrap();
        for (app, expected) in [(&plain, "127.0.0.1"), (&proxied, "198.51.100.7")] {
            let r = &app.router;
            let cookie = sign_up(r, "where@example.com").await;
            let login = call_from(
                r,
                "log_in",
                &[
                    ("email", "where@example.com"),
                    ("password", "correct horse battery"),
                ],
                "127.0.0.1:40000",
                "6.6.6.6, 198.51.100.7",
            )
            .await;
            assert_eq!(login.status, StatusCode::OK, "{}", login.body);
            let info = call(r, "account_overview", &[], Some(&cookie)).await.json();
            assert_eq!(info["events"][0]["action"], "account.logged_in");
            assert_eq!(info["events"][0]["client"], expected);
            app.state.db.close().await;
        }
        // Sign-ups are counted per client: the forwarded one behind the proxy.
        let dir3 = TempDir::new().unwrap();
        let mut tight = args(&dir3, None);
        tight.trusted_proxies = Some(std::sync::Arc::new("127.0.0.1".parse().unwrap()));
        tight.signups_per_client_per_hour = 1;
        let app = build_app(&tight).await.unwrap();
        let form = |email: &'static str| {
            [
                ("email", email),
                ("display_name", "S"),
                ("password", "correct horse battery"),
            ]
        };
        let peer = "127.0.0.1:40001";
        let one = call_from(
            &app.router,
            "sign_up",
            &form("a@example.com"),
            peer,
            "198.51.100.1",
        )
        .await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        let again = call_from(
            &app.router,
            "sign_up",
            &form("b@example.com"),
            peer,
            "198.51.100.1",
        )
        .await;
        assert_eq!(
            again.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            again.body
        );
        let other = call_from(
            &app.router,
            "sign_up",
            &form("c@example.com"),
            peer,
            "198.51.100.2",
        )
        .await;
        assert_eq!(other.status, StatusCode::OK, "{}", other.body);
        app.state.db.close().await;
    })
}

#[test]
fn a_run_page_shows_the_run_and_every_attempt_without_javascript() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "run-page@example.com").await;
        let agent = create_agent(r, &owner, "Detailed").await;
        let id = agent["id"].as_str().unwrap();
        let ran = call(
            r,
            "run_agent",
            &[
                ("agent_id", id),
                ("input", "{\"b\": 1, \"a\": [2]}"),
                ("mode", "mock"),
            ],
            Some(&owner),
        )
        .await;
        assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
        let run_id = ran.json()["id"].as_str().unwrap().to_owned();
        let page = get(r, &format!("/runs/{run_id}"), Some(&owner)).await;
        assert_eq!(page.status, StatusCode::OK);
        let html = page.body;
        assert!(html.contains(&format!("data-run-id=\"{run_id}\"")));
        assert!(html.contains("Provider calls"));
        assert!(
            html.contains("data-attempt=\"1\""),
            "the mock's one call is listed"
        );
        assert!(
            html.contains(&format!("href=\"/agents/{id}\"")),
            "the agent is linked"
        );
        assert!(html.contains("version 1"));
        // The input, as JSON, pretty-printed.
        assert!(
            html.contains("&quot;b&quot;: 1") || html.contains("\"b\": 1"),
            "{html}"
        );
        // The runs tables link to it.
        let dashboard = get(r, "/", Some(&owner)).await.body;
        assert!(dashboard.contains(&format!("href=\"/runs/{run_id}\"")));
        // Another workspace, or a run that does not exist: not found.
        let other = sign_up(r, "run-page-other@example.com").await;
        assert_eq!(
            get(r, &format!("/runs/{run_id}"), Some(&other))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(r, "/runs/nope", Some(&owner)).await.status,
            StatusCode::NOT_FOUND
        );
        // Visitors log in first.
        assert_eq!(
            get(r, &format!("/runs/{run_id}"), None).await.status,
            StatusCode::FOUND
        );
    });
}

#[test]
fn the_runs_page_filters_in_the_url_and_pages_by_cursor_without_javascript() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "runs-page@example.com").await;
        let plain = create_agent(r, &owner, "Plain").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut typed = agent_draft("Typed");
        for (k, v) in typed.iter_mut() {
            if k == "draft[input_schema]" {
                *v = r#"{"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}"#.into();
            }
        }
        let pairs: Vec<(&str, &str)> = typed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let typed = call(r, "save_agent", &pairs, Some(&owner)).await.json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ran = call(
            r,
            "run_agent",
            &[
                ("agent_id", &plain),
                ("input", "find the Needle here"),
                ("mode", "mock"),
            ],
            Some(&owner),
        )
        .await;
        let needle = ran.json()["id"].as_str().unwrap().to_owned();
        // 55 runs refused by the input schema (recorded at once).
        for i in 0..55 {
            let input = format!("{{\"q\": {i}}}");
            let refused = call(
                r,
                "run_agent",
                &[("agent_id", &typed), ("input", &input), ("mode", "mock")],
                Some(&owner),
            )
            .await;
            assert_eq!(refused.json()["status"], "input_invalid");
        }
        let rows = |html: &str| html.matches("<tr data-run-id=").count();
        let all = get(r, "/runs", Some(&owner)).await;
        assert_eq!(all.status, StatusCode::OK);
        assert_eq!(rows(&all.body), 50);
        assert!(all.body.contains("data-page=\"older\""));
        // Filtered by status: 50, then the other 5 by the cursor link (which keeps the filter).
        let invalid = get(r, "/runs?status=input_invalid", Some(&owner))
            .await
            .body;
        assert_eq!(rows(&invalid), 50);
        assert!(!invalid.contains(&needle));
        let href = invalid
            .split("data-page=\"older\"")
            .next()
            .and_then(|before| before.rsplit("href=\"").next())
            .map(|h| {
                h.split('"')
                    .next()
                    .unwrap_or_default()
                    .replace("&amp;", "&")
            })
            .unwrap();
        assert!(
            href.starts_with("/runs?status=input_invalid&cursor="),
            "{href}"
        );
        let rest = get(r, &href, Some(&owner)).await.body;
        assert_eq!(rows(&rest), 5);
        assert!(!rest.contains("data-page=\"older\""));
        // Text (case-insensitive), agent, mode, and a date range.
        let found = get(r, "/runs?q=nEEDLE", Some(&owner)).await.body;
        assert_eq!(rows(&found), 1);
        assert!(found.contains(&needle));
        assert!(
            found.contains("value=\"nEEDLE\""),
            "the filter stays in the form"
        );
        let by_agent = get(r, &format!("/runs?agent={plain}"), Some(&owner))
            .await
            .body;
        assert_eq!(rows(&by_agent), 1);
        assert_eq!(rows(&get(r, "/runs?mode=live", Some(&owner)).await.body), 0);
        assert_eq!(
            rows(&get(r, "/runs?provider=anthropic", Some(&owner)).await.body),
            0
        );
        assert_eq!(
            rows(
                &get(r, "/runs?provider=openai&status=succeeded", Some(&owner))
                    .await
                    .body
            ),
            1
        );
        // A run started with an API token is found by its token.
        let made = call(
            r,
            "create_api_token",
            &[
                ("name", "ci"),
                ("scopes[0]", "run"),
                ("expires_in_days", "30"),
            ],
            Some(&owner),
        )
        .await
        .json();
        let (secret, token_id) = (
            made["token"].as_str().unwrap().to_owned(),
            made["summary"]["id"].as_str().unwrap().to_owned(),
        );
        let via_api = send(
            r,
            Request::post(format!("/api/v1/agents/{plain}/runs"))
                .header(header::AUTHORIZATION, format!("Bearer {secret}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"input": "from ci", "mode": "mock"}"#))
                .unwrap(),
        )
        .await;
        assert_eq!(via_api.status, StatusCode::OK, "{}", via_api.body);
        let by_token = get(r, &format!("/runs?token={token_id}"), Some(&owner))
            .await
            .body;
        assert_eq!(rows(&by_token), 1);
        assert!(by_token.contains("api · ci"));
        assert_eq!(
            rows(
                &get(r, "/runs?from=2000-01-01&to=2000-12-31", Some(&owner))
                    .await
                    .body
            ),
            0
        );
        // A wildcard is text, not a pattern.
        assert_eq!(rows(&get(r, "/runs?q=%25", Some(&owner)).await.body), 0);
        // A wrong filter is explained, not an error page.
        let wrong = get(r, "/runs?status=bogus&from=yesterday", Some(&owner))
            .await
            .body;
        assert!(wrong.contains("Please correct"), "{wrong}");
        // Another workspace sees none of these.
        let other = sign_up(r, "runs-page-other@example.com").await;
        assert_eq!(rows(&get(r, "/runs", Some(&other)).await.body), 0);
    });
}

#[test]
fn a_runs_view_exports_whole_as_csv_and_json_lines_streamed() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "export@example.com").await;
        let agent = create_agent(r, &owner, "Exported").await;
        let id = agent["id"].as_str().unwrap();
        // 45 runs (more than two pages of the export), one with a long input, a comma, quotes and
        // a formula.
        let long = format!("=HYPERLINK(\"x\"), then {}", "word ".repeat(1_000));
        for i in 0..45 {
            let input = if i == 0 {
                long.clone()
            } else {
                format!("run {i}")
            };
            let ran = call(
                r,
                "run_agent",
                &[("agent_id", id), ("input", &input), ("mode", "mock")],
                Some(&owner),
            )
            .await;
            assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
        }
        let csv = get(r, "/runs/export?format=csv", Some(&owner)).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
        assert!(
            csv.headers["content-disposition"]
                .to_str()
                .unwrap()
                .contains("runs.csv")
        );
        assert!(csv.body.starts_with("id,created_at,agent,"));
        // One header line and 45 records (the long input is whole, and quoted: no stray lines).
        let records = csv.body.matches(",succeeded,mock,test_panel,").count();
        assert_eq!(records, 45, "{}", &csv.body[..500]);
        assert!(
            csv.body.contains(&"word ".repeat(1_000)),
            "inputs are whole"
        );
        assert!(
            csv.body.contains("\"'=HYPERLINK(\"\"x\"\"), then"),
            "a formula is defused"
        );
        // JSON Lines, filtered by text.
        let jsonl = get(r, "/runs/export?format=jsonl&q=run%201", Some(&owner)).await;
        assert_eq!(jsonl.status, StatusCode::OK);
        let lines: Vec<serde_json::Value> = jsonl
            .body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // "run 1" and "run 10" … "run 19".
        assert_eq!(lines.len(), 11);
        assert!(
            lines
                .iter()
                .all(|l| l["input"].as_str().unwrap().starts_with("run 1"))
        );
        // Bad formats and filters are refused; visitors and other workspaces get nothing.
        assert_eq!(
            get(r, "/runs/export?format=xml", Some(&owner)).await.status,
            StatusCode::BAD_REQUEST
        );
        let wrong = get(r, "/runs/export?format=csv&from=soon", Some(&owner)).await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(wrong.body.contains("from"));
        assert_eq!(
            get(r, "/runs/export?format=csv", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        let other = sign_up(r, "export-other@example.com").await;
        let theirs = get(r, "/runs/export?format=csv", Some(&other)).await.body;
        assert_eq!(theirs.lines().count(), 1, "the header only");
        // The runs page links the export of its view.
        let page = get(r, "/runs?status=succeeded", Some(&owner)).await.body;
        assert!(
            page.contains("href=\"/runs/export?format=csv&amp;status=succeeded\""),
            "{}",
            &page[..200]
        );
    });
}

/// A built site: content-hashed names in hash.txt, brotli and gzip copies beside each file.
fn hashed_site(dir: &TempDir) -> std::path::PathBuf {
    let site = dir.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("hash.txt"), "js: aaaa\nwasm: bbbb\ncss: cccc\n").unwrap();
    for (name, body) in [
        ("galaxy.aaaa.js", "export default function () {}"),
        ("galaxy.bbbb.wasm", "\0asm"),
        ("galaxy.cccc.css", "body { color: red }"),
    ] {
        std::fs::write(site.join("pkg").join(name), body).unwrap();
        std::fs::write(site.join("pkg").join(format!("{name}.br")), "brotli bytes").unwrap();
        std::fs::write(site.join("pkg").join(format!("{name}.gz")), "gzip bytes").unwrap();
    }
    std::fs::write(
        site.join("sw.js"),
        "self.addEventListener('fetch', () => {});",
    )
    .unwrap();
    std::fs::write(site.join("manifest.webmanifest"), "{}").unwrap();
    site
}

#[test]
fn a_built_site_is_linked_by_hash_served_precompressed_and_cached_for_good() {
    run(async {
        let dir = TempDir::new().unwrap();
        let mut a = args(&dir, None);
        a.site_root = Some(hashed_site(&dir));
        let app = build_app(&a).await.unwrap();
        let r = &app.router;
        // Pages link the hashed names (and are never stored).
        let login = get(r, "/login", None).await;
        for linked in [
            "/pkg/galaxy.aaaa.js",
            "/pkg/galaxy.bbbb.wasm",
            "/pkg/galaxy.cccc.css",
            "/app.js",
        ] {
            assert!(login.body.contains(linked), "{linked} in {}", login.body);
        }
        assert_eq!(login.headers[header::CACHE_CONTROL], "no-store");
        // The bundle: the brotli copy for a browser that takes it, gzip else, cached as immutable.
        for (accept, encoding, body) in [
            ("br, gzip", Some("br"), "brotli bytes"),
            ("gzip", Some("gzip"), "gzip bytes"),
            ("identity", None, "\0asm"),
        ] {
            let req = Request::get("/pkg/galaxy.bbbb.wasm")
                .header(header::ACCEPT_ENCODING, accept)
                .body(Body::empty())
                .unwrap();
            let reply = send(r, req).await;
            assert_eq!(reply.status, StatusCode::OK, "{accept}");
            assert_eq!(
                reply
                    .headers
                    .get(header::CONTENT_ENCODING)
                    .and_then(|v| v.to_str().ok()),
                encoding,
                "{accept}"
            );
            assert_eq!(reply.body, body);
            assert_eq!(
                reply.headers[header::CACHE_CONTROL],
                "public, max-age=31536000, immutable"
            );
            // Scripts and WASM, not documents: only the headers a browser acts on for them.
            assert_eq!(reply.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            for absent in [
                header::X_FRAME_OPTIONS,
                header::REFERRER_POLICY,
                header::LAST_MODIFIED,
                HeaderName::from_static("cross-origin-opener-policy"),
            ] {
                assert!(reply.headers.get(&absent).is_none(), "{absent} on {accept}");
            }
        }
        // Documents keep theirs.
        assert_eq!(login.headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(login.headers[header::REFERRER_POLICY], "same-origin");
        // A file this build does not have (another build's module) is a miss never stored.
        let missing = get(r, "/pkg/galaxy.old.wasm", None).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.headers[header::CACHE_CONTROL], "no-store");
        // The service worker is always revalidated; the manifest is there.
        let sw = get(r, "/sw.js", None).await;
        assert_eq!(sw.status, StatusCode::OK);
        assert_eq!(sw.headers[header::CACHE_CONTROL], "no-cache");
        assert_eq!(
            get(r, "/manifest.webmanifest", None).await.status,
            StatusCode::OK
        );
        app.state.db.close().await;
    })
}
