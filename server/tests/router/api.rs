//! The public REST API under `/api/v1`, driven like any HTTP client would: a token made with
//! the server fn the settings page uses, then JSON requests with `Authorization: Bearer`.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use super::*;

pub(super) async fn token(r: &Router, cookie: &str, name: &str, scopes: &[&str]) -> String {
    let mut pairs = vec![
        ("name".to_owned(), name.to_owned()),
        ("expires_in_days".to_owned(), "30".to_owned()),
    ];
    for (i, s) in scopes.iter().enumerate() {
        pairs.push((format!("scopes[{i}]"), (*s).to_owned()));
    }
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let reply = call(r, "create_api_token", &pairs, Some(cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()["token"].as_str().unwrap().to_owned()
}

/// Revokes the token named `name` the way the settings page does.
pub(super) async fn revoke(r: &Router, cookie: &str, name: &str) {
    let tokens = call(r, "list_api_tokens", &[], Some(cookie)).await.json();
    let id = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = call(r, "revoke_api_token", &[("id", &id)], Some(cookie)).await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
}

pub(super) async fn api(
    r: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    extra: &[(&str, &str)],
) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    send(r, req.body(body).unwrap()).await
}

pub(super) fn error_type(reply: &Reply) -> String {
    reply.json()["error"]["type"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The events of a server-sent event stream: (event, data as JSON).
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_owned());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            Some((name?, serde_json::from_str(&data).ok()?))
        })
        .collect()
}

#[test]
fn a_token_runs_agents_and_reads_runs_through_the_rest_api() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "api-owner@example.com").await;
        let agent = create_agent(r, &owner, "Support Triage").await;
        assert_eq!(agent["config"]["slug"], "support-triage");
        let both = token(r, &owner, "ci", &["run", "read"]).await;

        let list = api(r, "GET", "/api/v1/agents", Some(&both), None, &[]).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert_eq!(list.json()["data"][0]["slug"], "support-triage");
        let one = api(
            r,
            "GET",
            "/api/v1/agents/support-triage",
            Some(&both),
            None,
            &[],
        )
        .await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        assert_eq!(one.json()["id"], agent["id"]);
        assert_eq!(one.json()["max_tokens"], 100);

        // A run, answered whole, recorded with trigger api and the token's name.
        let body = json!({ "input": "hello", "mode": "mock" });
        let ran = api(
            r,
            "POST",
            "/api/v1/agents/support-triage/runs",
            Some(&both),
            Some(body.clone()),
            &[],
        )
        .await;
        assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
        let run = ran.json();
        assert_eq!(run["status"], "succeeded");
        assert_eq!(run["trigger"], "api");
        assert_eq!(run["api_token_name"], "ci");
        assert!(run["total_tokens"].as_i64().unwrap() > 0);
        let stored = call(
            r,
            "list_agent_runs",
            &[("agent_id", agent["id"].as_str().unwrap())],
            Some(&owner),
        )
        .await
        .json();
        assert_eq!(stored[0]["id"], run["id"]);
        assert_eq!(
            stored[0]["api_token_name"], "ci",
            "the UI sees the token's name"
        );

        // Streamed: started, deltas, finished with the same run object.
        let streamed = api(
            r,
            "POST",
            &format!("/api/v1/agents/{}/runs", agent["id"].as_str().unwrap()),
            Some(&both),
            Some(json!({ "input": "hello", "mode": "mock", "stream": true })),
            &[],
        )
        .await;
        assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.body);
        assert!(
            streamed.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let evs = events(&streamed.body);
        assert_eq!(evs.first().unwrap().0, "started");
        let (last, finished) = evs.last().unwrap();
        assert_eq!(last, "finished");
        assert_eq!(finished["run"]["id"], evs[0].1["run_id"]);
        let text: String = evs
            .iter()
            .filter(|(e, _)| e == "delta")
            .map(|(_, d)| d["text"].as_str().unwrap().to_owned())
            .collect();
        assert!(!text.is_empty());
        assert_eq!(
            finished["run"]["output"].as_str().unwrap(),
            text,
            "the deltas make the output"
        );

        // Idempotency: the same key and body answer the first run; another body is refused.
        let key = [("idempotency-key", "order-42")];
        let first = api(
            r,
            "POST",
            "/api/v1/agents/support-triage/runs",
            Some(&both),
            Some(body.clone()),
            &key,
        )
        .await;
        let again = api(
            r,
            "POST",
            "/api/v1/agents/support-triage/runs",
            Some(&both),
            Some(body.clone()),
            &key,
        )
        .await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert_eq!(first.json()["id"], again.json()["id"]);
        let other = api(
            r,
            "POST",
            "/api/v1/agents/support-triage/runs",
            Some(&both),
            Some(json!({ "input": "other", "mode": "mock" })),
            &key,
        )
        .await;
        assert_eq!(
            other.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            other.body
        );
        assert_eq!(error_type(&other), "idempotency_mismatch");
        let bad_key = api(
            r,
            "POST",
            "/api/v1/agents/support-triage/runs",
            Some(&both),
            Some(body.clone()),
            &[("idempotency-key", "has space")],
        )
        .await;
        assert_eq!(bad_key.status, StatusCode::BAD_REQUEST);

        // Pages of runs, newest first, by cursor; filters.
        let page = api(r, "GET", "/api/v1/runs?limit=2", Some(&both), None, &[]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let page = page.json();
        assert_eq!(page["data"].as_array().unwrap().len(), 2);
        let cursor = page["next_cursor"].as_str().unwrap();
        let rest = api(
            r,
            "GET",
            &format!("/api/v1/runs?limit=100&cursor={cursor}"),
            Some(&both),
            None,
            &[],
        )
        .await
        .json();
        assert_eq!(
            rest["data"].as_array().unwrap().len(),
            1,
            "three runs in all (one replayed)"
        );
        assert!(rest["next_cursor"].is_null());
        let mut ids: Vec<&Value> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .chain(rest["data"].as_array().unwrap())
            .map(|r| &r["id"])
            .collect();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        let filtered = api(
            r,
            "GET",
            "/api/v1/runs?agent=support-triage&status=failed",
            Some(&both),
            None,
            &[],
        )
        .await
        .json();
        assert_eq!(filtered["data"].as_array().unwrap().len(), 0);
        for bad in [
            "limit=0",
            "limit=101",
            "status=done",
            "cursor=!!",
            "colour=red",
        ] {
            let reply = api(
                r,
                "GET",
                &format!("/api/v1/runs?{bad}"),
                Some(&both),
                None,
                &[],
            )
            .await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{bad}: {}",
                reply.body
            );
            assert_eq!(error_type(&reply), "invalid_request");
        }

        // One run with its provider calls.
        let detail = api(
            r,
            "GET",
            &format!("/api/v1/runs/{}", run["id"].as_str().unwrap()),
            Some(&both),
            None,
            &[],
        )
        .await;
        assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
        assert_eq!(detail.json()["id"], run["id"]);
        assert!(detail.json()["provider_calls"].is_array());
    });
}

#[test]
fn bad_tokens_scopes_tenants_and_bodies_get_the_documented_errors() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "api-errors@example.com").await;
        let agent = create_agent(r, &owner, "Typed").await;
        let agent_id = agent["id"].as_str().unwrap().to_owned();
        let runs_path = format!("/api/v1/agents/{agent_id}/runs");
        let read = token(r, &owner, "reader", &["read"]).await;
        let runner = token(r, &owner, "runner", &["run"]).await;
        let ok_body = json!({ "input": "hi", "mode": "mock" });

        // No token, a malformed one, a session cookie instead: 401 with a Bearer challenge.
        for reply in [
            api(r, "GET", "/api/v1/agents", None, None, &[]).await,
            api(
                r,
                "GET",
                "/api/v1/agents",
                Some("gx_not-a-token"),
                None,
                &[],
            )
            .await,
            api(
                r,
                "GET",
                "/api/v1/agents",
                None,
                None,
                &[("cookie", owner.as_str())],
            )
            .await,
        ] {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
            assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
            assert_eq!(error_type(&reply), "unauthenticated");
        }
        // Every API route asks for a token (but the document that describes them).
        for (method, path) in galaxy_server::api::PATHS
            .iter()
            .filter(|(_, p)| *p != "/api/v1/openapi.json")
        {
            let path = path.replace("{agent}", &agent_id).replace("{id}", "x");
            let reply = api(r, method, &path, None, None, &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }

        // Scopes: a read token cannot run, a run token cannot read.
        let refused = api(
            r,
            "POST",
            &runs_path,
            Some(&read),
            Some(ok_body.clone()),
            &[],
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert_eq!(error_type(&refused), "forbidden");
        let refused = api(r, "GET", "/api/v1/runs", Some(&runner), None, &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let ran = api(
            r,
            "POST",
            &runs_path,
            Some(&runner),
            Some(ok_body.clone()),
            &[],
        )
        .await;
        assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);

        // Bodies: not JSON, unknown fields, a wrong mode, too large.
        for bad in [
            Body::from("{not json"),
            Body::from(r#"{"input":"x","colour":1}"#),
            Body::from(r#"{"input":"x","mode":"fast"}"#),
            Body::from("{}"),
        ] {
            let req = Request::post(&runs_path)
                .header(header::AUTHORIZATION, format!("Bearer {runner}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(bad)
                .unwrap();
            let reply = send(r, req).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
            assert_eq!(error_type(&reply), "invalid_request");
        }
        let huge = json!({ "input": "x".repeat(2 * 1024 * 1024), "mode": "mock" });
        let reply = api(r, "POST", &runs_path, Some(&runner), Some(huge), &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            reply.body.chars().take(200).collect::<String>()
        );
        let big = json!({ "input": "x".repeat(200 * 1024), "mode": "mock" });
        let reply = api(r, "POST", &runs_path, Some(&runner), Some(big), &[]).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.json()["error"]["fields"][0]["field"], "input");

        // Input that does not match the agent's input schema: 422 with the fields and the run.
        let mut draft = agent_draft("With schema");
        draft.retain(|(k, _)| k != "draft[input_schema]");
        draft.push(("draft[input_schema]".into(), r#"{"type":"object","properties":{"q":{"type":"string","minLength":3}},"required":["q"]}"#.into()));
        let pairs: Vec<(&str, &str)> = draft
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            call(r, "save_agent", &pairs, Some(&owner)).await.status,
            StatusCode::OK
        );
        let invalid = api(
            r,
            "POST",
            "/api/v1/agents/with-schema/runs",
            Some(&runner),
            Some(json!({ "input": { "q": "x" }, "mode": "mock" })),
            &[],
        )
        .await;
        assert_eq!(
            invalid.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            invalid.body
        );
        let error = &invalid.json()["error"];
        assert_eq!(error["type"], "input_invalid");
        assert_eq!(error["fields"][0]["field"], "/q");
        assert!(error["run_id"].is_string(), "the refused run is on record");
        // Streamed, the same refusal is an error answer, not a stream.
        let invalid = api(
            r,
            "POST",
            "/api/v1/agents/with-schema/runs",
            Some(&runner),
            Some(json!({ "input": {}, "mode": "mock", "stream": true })),
            &[],
        )
        .await;
        assert_eq!(
            invalid.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            invalid.body
        );
        let valid = api(
            r,
            "POST",
            "/api/v1/agents/with-schema/runs",
            Some(&runner),
            Some(json!({ "input": { "q": "where" }, "mode": "mock" })),
            &[],
        )
        .await;
        assert_eq!(valid.status, StatusCode::OK, "{}", valid.body);

        // Live without a key: refused before any run.
        let live = api(
            r,
            "POST",
            &runs_path,
            Some(&runner),
            Some(json!({ "input": "hi" })),
            &[],
        )
        .await;
        assert!(live.status.is_client_error(), "{}", live.body);

        // Another workspace's ids answer 404; unknown routes too, in the same shape.
        let other = sign_up(r, "api-other@example.com").await;
        let theirs = token(r, &other, "theirs", &["run", "read"]).await;
        let ran_id = ran.json()["id"].as_str().unwrap().to_owned();
        for (method, path) in [
            ("GET", format!("/api/v1/agents/{agent_id}")),
            ("GET", "/api/v1/agents/typed".to_owned()),
            ("GET", format!("/api/v1/runs/{ran_id}")),
            ("GET", format!("/api/v1/runs?agent={agent_id}")),
            ("GET", "/api/v1/nothing-here".to_owned()),
        ] {
            let reply = api(r, method, &path, Some(&theirs), None, &[]).await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{path}: {}",
                reply.body
            );
            assert_eq!(error_type(&reply), "not_found");
            assert!(!reply.body.contains(&agent_id));
        }
        let reply = api(
            r,
            "POST",
            &runs_path,
            Some(&theirs),
            Some(ok_body.clone()),
            &[],
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let listed = api(r, "GET", "/api/v1/runs", Some(&theirs), None, &[])
            .await
            .json();
        assert_eq!(listed["data"].as_array().unwrap().len(), 0);

        // A known route with the wrong method: 405 in the API's shape.
        let reply = api(r, "DELETE", "/api/v1/agents", Some(&read), None, &[]).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(error_type(&reply), "method_not_allowed");

        // Revoked and expired tokens stop working with the next request.
        assert_eq!(
            api(r, "GET", "/api/v1/agents", Some(&read), None, &[])
                .await
                .status,
            StatusCode::OK
        );
        revoke(r, &owner, "reader").await;
        assert_eq!(
            api(r, "GET", "/api/v1/agents", Some(&read), None, &[])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE name = 'runner'")
            .execute(t.app.state.db.pool())
            .await
            .unwrap();
        assert_eq!(
            api(r, "POST", &runs_path, Some(&runner), Some(ok_body), &[])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        // The secret was answered once: the list never holds it.
        let listed = call(r, "list_api_tokens", &[], Some(&owner)).await;
        assert!(!listed.body.contains(&read[3..]) && !listed.body.contains(&runner[3..]));
        assert_eq!(listed.json()[0]["status"], "expired");
    });
}
