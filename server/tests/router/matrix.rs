//! The security matrix: every server function and HTTP route, called as a visitor, as each role
//! of a workspace (viewer, member, admin, owner) and as the owner of another workspace holding
//! the first workspace's ids. The expected status of every cell is in one table ([`MATRIX`]);
//! a route the server registers without a row fails the test, and so does a row for a route
//! that no longer exists. Denied cells must change nothing, an outsider's answers must not
//! contain the first workspace's data, and every state-changing call refuses GET and cross-site
//! POSTs.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::Value;

use super::*;

/// Who calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Viewer,
    Member,
    Admin,
    Owner,
    /// The owner of another workspace, with the first workspace's ids.
    Outsider,
}

const WHO: [Who; 6] = [
    Who::Anonymous,
    Who::Viewer,
    Who::Member,
    Who::Admin,
    Who::Owner,
    Who::Outsider,
];

/// Expected status per cell: visitor, viewer, member, admin, owner, outsider.
/// `save_agent` has two rows: creating (the outsider creates in their own workspace) and
/// updating the first workspace's agent (the outsider gets 404).
const MATRIX: &[(&str, [u16; 6])] = &[
    //  route                  anon  view  memb  admin owner outsider
    ("account_overview", [401, 200, 200, 200, 200, 200]),
    // Teams: the outsider acts in their own workspace where no id is named, and cannot reach
    // A's invitations or members; every signed-in person may accept a valid link (A's members
    // stay as they are; the outsider joins, and the test takes them out again).
    ("accept_invite", [401, 200, 200, 200, 200, 200]),
    ("change_member_role", [401, 403, 403, 200, 200, 404]),
    ("create_invite", [401, 403, 403, 200, 200, 200]),
    ("create_workspace", [401, 200, 200, 200, 200, 200]),
    ("delete_workspace", [401, 403, 403, 403, 422, 422]),
    ("invite_info", [200, 200, 200, 200, 200, 200]),
    ("list_audit", [401, 403, 403, 200, 200, 200]),
    ("list_members", [401, 200, 200, 200, 200, 200]),
    ("remove_member", [401, 403, 403, 200, 200, 404]),
    ("rename_account", [401, 200, 200, 200, 200, 200]),
    ("rename_workspace", [401, 403, 403, 403, 200, 200]),
    ("revoke_invite", [401, 403, 403, 200, 200, 404]),
    ("sign_out_other_sessions", [401, 200, 200, 200, 200, 200]),
    ("switch_workspace", [401, 200, 200, 200, 200, 404]),
    ("api_base_url", [401, 200, 200, 200, 200, 200]),
    ("add_key", [401, 403, 403, 200, 200, 200]),
    ("cancel_run", [401, 403, 200, 200, 200, 200]),
    ("compare_runs", [401, 200, 200, 200, 200, 404]),
    ("diff_agent_versions", [401, 200, 200, 200, 200, 404]),
    ("get_agent_version", [401, 200, 200, 200, 200, 404]),
    ("list_agent_versions", [401, 200, 200, 200, 200, 404]),
    ("publish_agent_version", [401, 403, 200, 200, 200, 404]),
    ("replay_run", [401, 403, 200, 200, 200, 404]),
    ("restore_agent_version", [401, 403, 200, 200, 200, 404]),
    ("change_password", [401, 200, 200, 200, 200, 200]),
    ("confirm_password", [401, 200, 200, 200, 200, 200]),
    ("create_api_token", [401, 403, 403, 200, 200, 200]),
    ("delete_agent", [401, 403, 200, 200, 200, 404]),
    ("delete_override", [401, 403, 403, 200, 200, 404]),
    ("delete_price", [401, 403, 403, 200, 200, 404]),
    ("estimate_run", [401, 403, 200, 200, 200, 404]),
    ("get_agent", [401, 200, 200, 200, 200, 404]),
    ("agent_page", [401, 200, 200, 200, 200, 404]),
    ("get_budget_alert", [200, 200, 200, 200, 200, 200]),
    ("get_current_user", [200, 200, 200, 200, 200, 200]),
    ("get_dashboard", [401, 200, 200, 200, 200, 200]),
    ("get_run_detail", [401, 200, 200, 200, 200, 404]),
    ("get_usage", [401, 200, 200, 200, 200, 200]),
    ("list_agent_runs", [401, 200, 200, 200, 200, 200]),
    ("list_agents", [401, 200, 200, 200, 200, 200]),
    ("list_api_tokens", [401, 200, 200, 200, 200, 200]),
    ("list_keys", [401, 403, 403, 200, 200, 200]),
    ("list_prices", [401, 200, 200, 200, 200, 200]),
    ("list_runs_page", [401, 200, 200, 200, 200, 200]),
    ("live_providers", [401, 200, 200, 200, 200, 200]),
    ("log_in", [200, 200, 200, 200, 200, 200]),
    ("log_out", [200, 200, 200, 200, 200, 200]),
    ("revoke_api_token", [401, 403, 403, 200, 200, 404]),
    ("revoke_key", [401, 403, 403, 200, 200, 404]),
    ("rotate_key", [401, 403, 403, 200, 200, 404]),
    ("run_agent", [401, 403, 200, 200, 200, 404]),
    ("run_agent_stream", [401, 403, 200, 200, 200, 404]),
    ("save_agent", [401, 403, 200, 200, 200, 200]),
    ("save_agent (update)", [401, 403, 200, 200, 200, 404]),
    ("save_limits", [401, 403, 403, 200, 200, 200]),
    ("save_override", [401, 403, 403, 200, 200, 404]),
    ("set_price", [401, 403, 403, 200, 200, 200]),
    ("sign_out_everywhere", [401, 200, 200, 200, 200, 200]),
    ("sign_up", [200, 200, 200, 200, 200, 200]),
    ("output_schema_check", [401, 200, 200, 200, 200, 404]),
    ("template_report", [401, 200, 200, 200, 200, 200]),
    ("test_key", [401, 403, 403, 200, 200, 404]),
    // HTTP routes (GET).
    ("GET /healthz", [200, 200, 200, 200, 200, 200]),
    ("GET /readyz", [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/openapi.json", [200, 200, 200, 200, 200, 200]),
    ("GET /metrics", [200, 200, 200, 200, 200, 200]),
    // Pages: a visitor is sent to log in (302); a page of another workspace's agent is a 404.
    ("GET /", [302, 200, 200, 200, 200, 200]),
    ("GET /account", [302, 200, 200, 200, 200, 200]),
    ("GET /agents", [302, 200, 200, 200, 200, 200]),
    ("GET /agents/new", [302, 200, 200, 200, 200, 200]),
    ("GET /agents/{id}", [302, 200, 200, 200, 200, 404]),
    ("GET /agents/{id}/versions", [302, 200, 200, 200, 200, 404]),
    (
        "GET /agents/{id}/versions/diff",
        [302, 200, 200, 200, 200, 404],
    ),
    (
        "GET /agents/{id}/versions/{version}",
        [302, 200, 200, 200, 200, 404],
    ),
    ("GET /runs", [302, 200, 200, 200, 200, 200]),
    (
        "GET /runs/export?format=csv",
        [401, 200, 200, 200, 200, 200],
    ),
    ("GET /runs/compare", [302, 200, 200, 200, 200, 200]),
    ("GET /runs/{id}", [302, 200, 200, 200, 200, 404]),
    ("GET /settings/keys", [302, 200, 200, 200, 200, 200]),
    ("GET /settings/limits", [302, 200, 200, 200, 200, 200]),
    ("GET /settings/prices", [302, 200, 200, 200, 200, 200]),
    ("GET /settings/tokens", [302, 200, 200, 200, 200, 200]),
    ("GET /settings/members", [302, 200, 200, 200, 200, 200]),
    ("GET /settings/audit", [302, 200, 200, 200, 200, 200]),
    ("GET /settings/audit/export", [401, 403, 403, 200, 200, 200]),
    ("GET /settings/workspace", [302, 200, 200, 200, 200, 200]),
    // An invitation page is for whoever holds the link.
    ("GET /invite/{token}", [200, 200, 200, 200, 200, 200]),
    ("GET /login", [200, 200, 200, 200, 200, 200]),
    ("GET /signup", [200, 200, 200, 200, 200, 200]),
];

/// The people of the matrix: the owner of workspace A with a viewer, a member and an admin of
/// A (members of A only), and the owner of workspace B: each with user id, workspace and email.
struct People(Vec<(Who, String, String, String)>);

impl People {
    fn get(&self, who: Who) -> &(Who, String, String, String) {
        let who = if who == Who::Anonymous {
            Who::Owner
        } else {
            who
        };
        self.0.iter().find(|p| p.0 == who).unwrap()
    }

    /// The email `who` logs in with (a visitor logs in as A's owner).
    fn email(&self, who: Who) -> &str {
        &self.get(who).3
    }

    /// A fresh session for `who` (every cell gets its own: log-out, sign out everywhere and a
    /// password change end sessions).
    async fn session(&self, app: &App, who: Who) -> Option<String> {
        if who == Who::Anonymous {
            return None;
        }
        let (_, user, ws, _) = self.get(who);
        Some(mint_session(app, user, ws).await)
    }
}

/// A signed-in session for `user_id` in `workspace_id`, written as the server writes one (the
/// matrix needs many; logging in that often would meet the log-in throttles, on purpose).
async fn mint_session(app: &App, user_id: &str, workspace_id: &str) -> String {
    let id = tower_sessions::session::Id::default().to_string();
    let now = galaxy_core::db::now_ms();
    let data = json!({ "uid": user_id, "wid": workspace_id, "login_at": now, "seen_at": now });
    let stored = galaxy_core::sessions::StoredSession {
        data: data.to_string(),
        expires_at: now + 3_600_000,
    };
    let key = galaxy_core::sessions::key(&id);
    assert!(
        galaxy_core::sessions::insert(&app.state.db, &key, Some(user_id), &stored)
            .await
            .unwrap()
    );
    format!("galaxy_session={id}")
}

/// Ids in workspace A, made fresh for each cell by its owner.
struct Fixture {
    agent: String,
    agent_name: String,
    key: String,
    run: String,
    price_model: String,
    token: String,
    workspace: String,
    invite: String,
    invite_token: String,
    /// A member of A made for this cell (role changes and removals act on them).
    extra: String,
}

async fn fixture(r: &Router, db: &galaxy_core::db::Db, owner: &str, n: usize) -> Fixture {
    let agent_name = format!("Matrix agent {n}");
    let agent = create_agent(r, owner, &agent_name).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let label = format!("matrix-{n}");
    add_openai_key(r, owner, &label, &format!("sk-matrix-test-key-{n:04}")).await;
    let keys = call(r, "list_keys", &[], Some(owner)).await.json();
    let key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == label)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = call(
        r,
        "run_agent",
        &[("agent_id", &agent), ("input", "hi"), ("mode", "mock")],
        Some(owner),
    )
    .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.body);
    let run = run.json()["id"].as_str().unwrap().to_owned();
    let price_model = format!("matrix-model-{n}");
    let price = call(
        r,
        "set_price",
        &[
            ("provider", "openai"),
            ("model", &price_model),
            ("input_price", "1"),
            ("output_price", "2"),
        ],
        Some(owner),
    )
    .await;
    assert_eq!(price.status, StatusCode::OK, "{}", price.body);
    let limited = call(
        r,
        "save_override",
        &[
            ("target", &format!("agent:{agent}")),
            ("requests_per_minute", "1000000"),
            ("tokens_per_minute", ""),
            ("monthly_budget_usd", ""),
        ],
        Some(owner),
    )
    .await;
    assert_eq!(limited.status, StatusCode::OK, "{}", limited.body);
    let token = call(
        r,
        "create_api_token",
        &[
            ("name", &format!("matrix-{n}")),
            ("scopes[0]", "run"),
            ("expires_in_days", "30"),
        ],
        Some(owner),
    )
    .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    let token = token.json()["summary"]["id"].as_str().unwrap().to_owned();
    let (workspace,): (String,) = sqlx::query_as("SELECT workspace_id FROM agents WHERE id = $1")
        .bind(&agent)
        .fetch_one(db.pool())
        .await
        .unwrap();
    // One pending invitation per cell (a workspace holds at most 100).
    sqlx::query("UPDATE invites SET revoked_at = 1 WHERE workspace_id = $1 AND revoked_at IS NULL")
        .bind(&workspace)
        .execute(db.pool())
        .await
        .unwrap();
    let invite = call(r, "create_invite", &[("role", "viewer")], Some(owner)).await;
    assert_eq!(invite.status, StatusCode::OK, "{}", invite.body);
    let invite = invite.json();
    let extra = format!("0191{n:0>28}");
    sqlx::query(
        "INSERT INTO users (id, email, display_name, password_hash, created_at) \
         VALUES ($1, $2, 'Extra', 'x', 0)",
    )
    .bind(&extra)
    .bind(format!("extra-{n}@example.com"))
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) \
         VALUES ($1, $2, 'member', 0)",
    )
    .bind(&workspace)
    .bind(&extra)
    .execute(db.pool())
    .await
    .unwrap();
    Fixture {
        agent,
        agent_name,
        key,
        run,
        price_model,
        token,
        workspace,
        invite: invite["invite"]["id"].as_str().unwrap().to_owned(),
        invite_token: invite["token"].as_str().unwrap().to_owned(),
        extra,
    }
}

/// The arguments of one call of `route` against fixture `f`, by `who` (cell number `n`).
fn arguments(route: &str, f: &Fixture, email: &str, n: usize) -> Vec<(String, String)> {
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let password = "correct horse battery";
    match route {
        "add_key" => pairs(&[
            ("provider", "openai"),
            ("label", &format!("added-{n}")),
            ("base_url", ""),
            ("api_key", &format!("sk-matrix-added-{n:04}")),
        ]),
        "cancel_run" => pairs(&[("run_id", &f.run)]),
        "change_password" => pairs(&[("current_password", password), ("new_password", password)]),
        "confirm_password" => pairs(&[("password", password)]),
        "create_api_token" => pairs(&[
            ("name", &format!("created-{n}")),
            ("scopes[0]", "run"),
            ("scopes[2]", "admin"),
            ("expires_in_days", "never"),
        ]),
        "revoke_api_token" => pairs(&[("id", &f.token)]),
        "delete_agent" | "get_agent" | "agent_page" => pairs(&[("id", &f.agent)]),
        "get_run_detail" => pairs(&[("id", &f.run)]),
        "compare_runs" => pairs(&[("a", &f.run), ("b", &f.run)]),
        "replay_run" => pairs(&[
            ("run_id", &f.run),
            ("version", ""),
            ("model", ""),
            ("mode", "mock"),
        ]),
        "list_agent_versions" => pairs(&[("id", &f.agent), ("before", "")]),
        "get_agent_version" => pairs(&[("id", &f.agent), ("version", "1")]),
        "diff_agent_versions" => pairs(&[("id", &f.agent), ("a", "1"), ("b", "1")]),
        "restore_agent_version" => pairs(&[("id", &f.agent), ("version", "1")]),
        "publish_agent_version" => pairs(&[("id", &f.agent), ("version", "")]),
        "list_runs_page" => pairs(&[("filters[agent]", &f.agent), ("filters[q]", "hi")]),
        "delete_price" => pairs(&[("provider", "openai"), ("model", &f.price_model)]),
        "estimate_run" => pairs(&[("agent_id", &f.agent), ("input", "hi")]),
        "delete_override" => pairs(&[("target", &format!("agent:{}", f.agent))]),
        "save_override" => pairs(&[
            ("target", &format!("agent:{}", f.agent)),
            ("requests_per_minute", "1000000"),
            ("tokens_per_minute", ""),
            ("monthly_budget_usd", ""),
        ]),
        // No limits (later cells run agents in the same workspace).
        "save_limits" => pairs(&[
            ("requests_per_minute", ""),
            ("tokens_per_minute", ""),
            ("burst", ""),
            ("monthly_budget_usd", ""),
            ("soft_alert_percent", ""),
            ("hard_cap", "on"),
            ("unpriced", "refuse"),
        ]),
        "list_agent_runs" => pairs(&[("agent_id", &f.agent)]),
        "log_in" => pairs(&[("email", email), ("password", password)]),
        "revoke_key" | "test_key" => pairs(&[("id", &f.key)]),
        "rotate_key" => pairs(&[
            ("id", &f.key),
            ("api_key", &format!("sk-matrix-rotated-{n:04}")),
        ]),
        "run_agent" => pairs(&[("agent_id", &f.agent), ("input", "hi"), ("mode", "mock")]),
        "run_agent_stream" => pairs(&[
            ("agent_id", &f.agent),
            ("input", "hi"),
            ("mode", "mock"),
            ("trigger", "test_panel"),
        ]),
        "save_agent" => agent_draft(&format!("Created {n}")),
        "save_agent (update)" => {
            let mut d = agent_draft(&format!("Updated {n}"));
            d.push(("id".to_owned(), f.agent.clone()));
            d
        }
        "set_price" => pairs(&[
            ("provider", "openai"),
            ("model", &format!("set-model-{n}")),
            ("input_price", "1"),
            ("output_price", "1"),
        ]),
        "sign_up" => pairs(&[
            ("email", &format!("signup-{n}@example.com")),
            ("display_name", "New"),
            ("password", password),
        ]),
        "output_schema_check" => pairs(&[
            ("id", &f.agent),
            ("output_schema", "{\"type\": \"object\"}"),
        ]),
        "template_report" => pairs(&[("template", "Hello {{ input }}"), ("input_schema", "")]),
        "accept_invite" | "invite_info" => pairs(&[("token", &f.invite_token)]),
        "change_member_role" => pairs(&[("user_id", &f.extra), ("role", "viewer")]),
        "remove_member" => pairs(&[("user_id", &f.extra)]),
        "create_invite" => pairs(&[("role", "member")]),
        "revoke_invite" => pairs(&[("id", &f.invite)]),
        "create_workspace" => pairs(&[("name", &format!("Matrix {n}"))]),
        // Never the name: the matrix keeps its workspaces.
        "delete_workspace" => pairs(&[("confirm", "not the name")]),
        "rename_workspace" => pairs(&[("name", "Renamed in the matrix")]),
        "rename_account" => pairs(&[("display_name", "Matrix person")]),
        "switch_workspace" => pairs(&[("workspace_id", &f.workspace)]),
        "list_audit" => pairs(&[("filters[action]", "member.")]),
        _ => Vec::new(),
    }
}

async fn post(
    r: &Router,
    path: &str,
    pairs: &[(String, String)],
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> Reply {
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut req = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .header(header::CONTENT_LENGTH, body.len());
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    send(r, req.body(Body::from(body)).unwrap()).await
}

/// The route a row is about: its server fn path, or the page / HTTP path.
fn path_of(route: &str, f: &Fixture) -> String {
    if let Some(get) = route.strip_prefix("GET ") {
        if get.starts_with("/runs/") {
            return get.replace("{id}", &f.run);
        }
        get.replace("{id}", &f.agent)
            .replace("{version}", "1")
            .replace("{token}", &f.invite_token)
    } else {
        format!("/api/{}", route.trim_end_matches(" (update)"))
    }
}

/// What the owner of A sees: compared before and after each denied cell.
async fn snapshot(r: &Router, owner: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    for name in [
        "list_agents",
        "list_keys",
        "list_prices",
        "get_dashboard",
        "list_api_tokens",
        "list_members",
    ] {
        seen.push(call(r, name, &[], Some(owner)).await.json());
    }
    seen
}

#[test]
fn every_route_answers_each_role_and_tenant_as_the_matrix_says() {
    run(async {
        let dir = TempDir::new().unwrap();
        let app = build_app(&args(&dir, None)).await.unwrap();
        let r = &app.router;

        // Every server fn the app registers has a row, and every server fn row is registered.
        let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path.trim_start_matches("/api/").to_owned())
            .collect();
        let rows: BTreeSet<String> = MATRIX
            .iter()
            .map(|(route, _)| *route)
            .filter(|route| !route.starts_with("GET "))
            .map(|route| route.trim_end_matches(" (update)").to_owned())
            .collect();
        assert_eq!(
            registered, rows,
            "server fns without a matrix row, or rows without a server fn"
        );
        // And every page the app routes.
        let pages: BTreeSet<String> = galaxy_server::router::page_paths().into_iter().collect();
        let page_rows: BTreeSet<String> = MATRIX
            .iter()
            .filter_map(|(route, _)| route.strip_prefix("GET "))
            .filter(|p| {
                !matches!(
                    *p,
                    "/healthz"
                        | "/readyz"
                        | "/metrics"
                        | "/api/v1/openapi.json"
                        | "/runs/export?format=csv"
                        | "/settings/audit/export"
                )
            })
            .map(str::to_owned)
            .collect();
        assert_eq!(
            pages, page_rows,
            "pages without a matrix row, or rows without a page"
        );

        // Workspace A: an owner, and a viewer, a member and an admin who belong to A only.
        let first = sign_up(r, "owner-a@example.com").await;
        let me = call(r, "get_current_user", &[], Some(&first)).await.json();
        let (owner_id, ws_a) = (
            me["user_id"].as_str().unwrap().to_owned(),
            me["workspace_id"].as_str().unwrap().to_owned(),
        );
        let outsider = sign_up(r, "owner-b@example.com").await;
        let them = call(r, "get_current_user", &[], Some(&outsider))
            .await
            .json();
        let mut people = vec![
            (
                Who::Owner,
                owner_id.clone(),
                ws_a.clone(),
                "owner-a@example.com".to_owned(),
            ),
            (
                Who::Outsider,
                them["user_id"].as_str().unwrap().to_owned(),
                them["workspace_id"].as_str().unwrap().to_owned(),
                "owner-b@example.com".to_owned(),
            ),
        ];
        for (who, role) in [
            (Who::Viewer, "viewer"),
            (Who::Member, "member"),
            (Who::Admin, "admin"),
        ] {
            let user = format!("0190{role:0>28}");
            let email = format!("{role}-a@example.com");
            sqlx::query(
                "INSERT INTO users (id, email, display_name, password_hash, created_at) \
                 SELECT $1, $2, $3, password_hash, 0 FROM users WHERE id = $4",
            )
            .bind(&user)
            .bind(&email)
            .bind(role)
            .bind(&owner_id)
            .execute(app.state.db.pool())
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, 0)",
            )
            .bind(&ws_a)
            .bind(&user)
            .bind(role)
            .execute(app.state.db.pool())
            .await
            .unwrap();
            people.push((who, user, ws_a.clone(), email));
        }
        let people = People(people);

        let mut n = 0;
        let mut failures = Vec::new();
        for (route, expected) in MATRIX {
            for (who, want) in WHO.iter().zip(expected) {
                n += 1;
                let owner = people.session(&app, Who::Owner).await.unwrap();
                let f = fixture(r, &app.state.db, &owner, n).await;
                let cookie = people.session(&app, *who).await;
                let before = if *want >= 400 {
                    snapshot(r, &owner).await
                } else {
                    Vec::new()
                };
                let path = path_of(route, &f);
                let reply = if route.starts_with("GET ") {
                    get(r, &path, cookie.as_deref()).await
                } else {
                    let pairs = arguments(route, &f, people.email(*who), n);
                    post(r, &path, &pairs, cookie.as_deref(), &[]).await
                };
                if *route == "accept_invite" && *who == Who::Outsider {
                    // They joined A: out again, so the rest of the matrix sees an outsider.
                    sqlx::query("DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2")
                        .bind(&f.workspace)
                        .bind(&people.get(Who::Outsider).1)
                        .execute(app.state.db.pool())
                        .await
                        .unwrap();
                }
                let got = reply.status.as_u16();
                if got != *want {
                    failures.push(format!(
                        "{route} as {who:?}: {got} (expected {want}): {}",
                        &reply.body.chars().take(160).collect::<String>()
                    ));
                    continue;
                }
                if *want >= 400 && !route.starts_with("GET ") {
                    assert_eq!(
                        snapshot(r, &owner).await,
                        before,
                        "{route} as {who:?} was refused but changed workspace A"
                    );
                }
                if *who == Who::Outsider && reply.status.is_success() {
                    for secret in [
                        &f.agent,
                        &f.agent_name,
                        &f.key,
                        &f.run,
                        &f.price_model,
                        &f.token,
                    ] {
                        assert!(
                            !reply.body.contains(secret.as_str()),
                            "{route} showed the outsider workspace A's {secret}: {}",
                            reply.body
                        );
                    }
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} cells differ:\n{}",
            failures.len(),
            failures.join("\n")
        );

        // CSRF: every server fn refuses a cross-site POST and a GET, whoever calls.
        let owner = people.session(&app, Who::Owner).await.unwrap();
        let f = fixture(r, &app.state.db, &owner, n + 1).await;
        for (route, _) in MATRIX.iter().filter(|(r, _)| !r.starts_with("GET ")) {
            let path = path_of(route, &f);
            let pairs = arguments(route, &f, "owner-a@example.com", n + 1);
            let before = snapshot(r, &owner).await;
            for site in ["cross-site", "same-site"] {
                let cross = post(r, &path, &pairs, Some(&owner), &[("sec-fetch-site", site)]).await;
                assert_eq!(cross.status, StatusCode::FORBIDDEN, "{route} ({site})");
            }
            let evil = post(
                r,
                &path,
                &pairs,
                Some(&owner),
                &[("origin", "http://evil.example")],
            )
            .await;
            assert_eq!(
                evil.status,
                StatusCode::FORBIDDEN,
                "{route} (foreign origin)"
            );
            let query = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let by_get = get(r, &format!("{path}?{query}"), Some(&owner)).await;
            assert!(
                by_get.status.is_client_error(),
                "{route} answered GET with {}",
                by_get.status
            );
            assert_eq!(
                snapshot(r, &owner).await,
                before,
                "{route}: a refused call changed A"
            );
        }
        app.state.db.close().await;
    })
}
