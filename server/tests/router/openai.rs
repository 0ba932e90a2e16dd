//! The OpenAI-compatible endpoint under `/v1`, driven the way the official SDKs drive it: a
//! token as the API key, `model: "agent/<slug>"`, answers whole and as `chat.completion.chunk`
//! events, errors in OpenAI's shape.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};

use super::api::{api, revoke, token};
use super::*;

const MOCK: &[(&str, &str)] = &[("x-galaxy-mode", "mock")];

/// The chunks of a stream, in order, checked to end with `data: [DONE]`.
fn chunks(body: &str) -> Vec<Value> {
    let mut payloads: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:").map(str::trim_start))
        .collect();
    assert_eq!(payloads.pop(), Some("[DONE]"), "{body}");
    payloads
        .into_iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// The error of an OpenAI-shaped error answer, checked to have all four fields.
fn openai_error(reply: &Reply) -> Value {
    let error = reply.json()["error"].clone();
    for key in ["message", "type", "param", "code"] {
        assert!(
            error.get(key).is_some(),
            "{key} missing from {}",
            reply.body
        );
    }
    assert!(!error["message"].as_str().unwrap_or_default().is_empty());
    error
}

/// A run as `GET /api/v1/runs/{id}` answers it.
async fn recorded(r: &axum::Router, token: &str, run_id: &str) -> Value {
    let reply = api(
        r,
        "GET",
        &format!("/api/v1/runs/{run_id}"),
        Some(token),
        None,
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

fn chat(model: &str, text: &str) -> Value {
    json!({ "model": model, "messages": [{ "role": "user", "content": text }] })
}

#[test]
fn the_official_wire_format_whole_and_streamed_with_the_recorded_usage() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "oai-owner@example.com").await;
        create_agent(r, &owner, "Support Bot").await;
        let both = token(r, &owner, "sdk", &["run", "read"]).await;
        let runner = token(r, &owner, "runner", &["run"]).await;

        // Models: the workspace's agents, for a run-only token too.
        for t in [&both, &runner] {
            let models = api(r, "GET", "/v1/models", Some(t), None, &[]).await;
            assert_eq!(models.status, StatusCode::OK, "{}", models.body);
            let models = models.json();
            assert_eq!(models["object"], "list");
            assert_eq!(models["data"][0]["id"], "agent/support-bot");
            assert_eq!(models["data"][0]["object"], "model");
            assert_eq!(models["data"][0]["owned_by"], "galaxy");
            assert!(models["data"][0]["created"].is_i64());
        }

        // Whole.
        let body = json!({
            "model": "agent/support-bot",
            "messages": [
                { "role": "system", "content": "Be nice." },
                { "role": "user", "content": "Hi" },
                { "role": "assistant", "content": "Hello!" },
                { "role": "user", "content": "Where is my order?" }
            ],
            "temperature": 0.9, "max_tokens": 12, "top_p": 1, "user": "u-1"
        });
        let whole = api(
            r,
            "POST",
            "/v1/chat/completions",
            Some(&both),
            Some(body),
            MOCK,
        )
        .await;
        assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
        let c = whole.json();
        let run_id = whole.headers["x-galaxy-run-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(c["id"], format!("chatcmpl-{run_id}"));
        assert_eq!(c["object"], "chat.completion");
        assert_eq!(c["model"], "agent/support-bot");
        assert!(c["created"].as_i64().unwrap() > 1_700_000_000);
        assert_eq!(c["choices"].as_array().unwrap().len(), 1);
        let choice = &c["choices"][0];
        assert_eq!(choice["index"], 0);
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["finish_reason"], "stop");
        assert!(choice["logprobs"].is_null());
        let content = choice["message"]["content"].as_str().unwrap().to_owned();
        assert!(!content.is_empty());
        let run = &recorded(r, &both, &run_id).await;
        assert_eq!(run["trigger"], "api");
        assert_eq!(run["api_token_name"], "sdk");
        assert_eq!(run["input"], "Where is my order?");
        assert_eq!(run["output"], content.as_str());
        for k in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            assert_eq!(c["usage"][k], run[k], "{k}");
        }
        assert!(c["usage"]["prompt_tokens"].as_i64().unwrap() > 0);
        assert_eq!(c["galaxy"]["run_id"], run_id.as_str());

        // Streamed, with usage in a last chunk of its own, then [DONE].
        let body = json!({
            "model": "support-bot",
            "messages": [{ "role": "user", "content": [{ "type": "text", "text": "Stream it" }] }],
            "stream": true, "stream_options": { "include_usage": true }
        });
        let streamed = api(
            r,
            "POST",
            "/v1/chat/completions",
            Some(&both),
            Some(body),
            MOCK,
        )
        .await;
        assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.body);
        assert!(
            streamed.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let run_id = streamed.headers["x-galaxy-run-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let got = chunks(&streamed.body);
        assert!(got.len() >= 4, "{got:?}");
        for chunk in &got {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["id"], format!("chatcmpl-{run_id}"));
            assert_eq!(chunk["model"], "support-bot");
        }
        assert_eq!(got[0]["choices"][0]["delta"]["role"], "assistant");
        let (usage_chunk, rest) = got.split_last().unwrap();
        let (last, deltas) = rest.split_last().unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "stop");
        assert_eq!(last["choices"][0]["delta"], json!({}));
        let text: String = deltas
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        // With include_usage every chunk but the last says `"usage": null`, as OpenAI's do.
        assert!(deltas.iter().all(|c| c.get("usage") == Some(&Value::Null)));
        assert_eq!(usage_chunk["choices"], json!([]));
        let run = &recorded(r, &both, &run_id).await;
        assert_eq!(run["output"], text.as_str());
        for k in ["prompt_tokens", "completion_tokens", "total_tokens"] {
            assert_eq!(usage_chunk["usage"][k], run[k], "{k}");
        }

        // Without include_usage: no usage anywhere.
        let body = json!({ "model": "agent/support-bot", "stream": true,
            "messages": [{ "role": "user", "content": "x" }] });
        let plain = api(
            r,
            "POST",
            "/v1/chat/completions",
            Some(&both),
            Some(body),
            MOCK,
        )
        .await;
        for chunk in chunks(&plain.body) {
            assert!(chunk.get("usage").is_none(), "{chunk}");
            assert_eq!(chunk["choices"].as_array().unwrap().len(), 1);
        }

        // A response format for an agent without an output schema: honoured.
        let body = json!({ "model": "agent/support-bot",
            "messages": [{ "role": "user", "content": "json please" }],
            "response_format": { "type": "json_schema", "json_schema": { "name": "x",
                "schema": { "type": "object", "properties": { "a": { "type": "string" } }, "required": ["a"] } } } });
        let typed = api(
            r,
            "POST",
            "/v1/chat/completions",
            Some(&both),
            Some(body),
            MOCK,
        )
        .await;
        assert_eq!(typed.status, StatusCode::OK, "{}", typed.body);
        let answer: Value = serde_json::from_str(
            typed.json()["choices"][0]["message"]["content"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert!(answer["a"].is_string(), "{answer}");
    });
}

#[test]
fn errors_come_in_openais_shape_with_the_statuses_the_sdks_map() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let owner = sign_up(r, "oai-errors@example.com").await;
        create_agent(r, &owner, "Plain").await;
        let mut draft = agent_draft("Typed");
        draft.retain(|(k, _)| k != "draft[input_schema]" && k != "draft[output_schema]");
        draft.push((
            "draft[input_schema]".into(),
            r#"{"type":"object","properties":{"q":{"type":"string","minLength":3}},"required":["q"]}"#.into(),
        ));
        draft.push((
            "draft[output_schema]".into(),
            r#"{"type":"object","properties":{"a":{"type":"string"}}}"#.into(),
        ));
        let pairs: Vec<(&str, &str)> = draft
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            call(r, "save_agent", &pairs, Some(&owner)).await.status,
            StatusCode::OK
        );
        let runner = token(r, &owner, "runner", &["run"]).await;
        let reader = token(r, &owner, "reader", &["read"]).await;
        let path = "/v1/chat/completions";

        // Tokens: none, a bad one, a session cookie; a read-only token may not run.
        for reply in [
            api(r, "POST", path, None, Some(chat("plain", "x")), MOCK).await,
            api(
                r,
                "POST",
                path,
                Some("gx_nope"),
                Some(chat("plain", "x")),
                MOCK,
            )
            .await,
            api(
                r,
                "GET",
                "/v1/models",
                None,
                None,
                &[("cookie", owner.as_str())],
            )
            .await,
        ] {
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
            let e = openai_error(&reply);
            assert_eq!(e["code"], "invalid_api_key");
            assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        }
        for (method, p) in galaxy_server::api::openai::PATHS {
            let reply = api(r, method, p, None, Some(chat("plain", "x")), &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {p}");
        }
        let refused = api(
            r,
            "POST",
            path,
            Some(&reader),
            Some(chat("plain", "x")),
            MOCK,
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert_eq!(openai_error(&refused)["type"], "permission_error");

        // Unknown models, and another workspace's agents: 404 model_not_found.
        let other = sign_up(r, "oai-other@example.com").await;
        let theirs = token(r, &other, "theirs", &["run", "read"]).await;
        for (t, model) in [
            (&runner, "agent/nope"),
            (&theirs, "agent/plain"),
            (&runner, "agent/"),
        ] {
            let reply = api(r, "POST", path, Some(t), Some(chat(model, "x")), MOCK).await;
            assert_eq!(
                reply.status,
                StatusCode::NOT_FOUND,
                "{model}: {}",
                reply.body
            );
            let e = openai_error(&reply);
            assert_eq!(
                (e["param"].as_str(), e["code"].as_str()),
                (Some("model"), Some("model_not_found"))
            );
        }
        let listed = api(r, "GET", "/v1/models", Some(&theirs), None, &[])
            .await
            .json();
        assert_eq!(listed["data"], json!([]));

        // Input that misses the agent's input schema: 400 input_invalid, the run on record.
        let invalid = api(
            r,
            "POST",
            path,
            Some(&runner),
            Some(chat("agent/typed", r#"{"q":"x"}"#)),
            MOCK,
        )
        .await;
        assert_eq!(invalid.status, StatusCode::BAD_REQUEST, "{}", invalid.body);
        let e = openai_error(&invalid);
        assert_eq!(e["code"], "input_invalid");
        assert!(e["message"].as_str().unwrap().contains("/q"), "{e}");
        assert_eq!(invalid.headers["x-should-retry"], "false");
        let run_id = invalid.headers["x-galaxy-run-id"].to_str().unwrap();
        assert_eq!(
            recorded(r, &reader, run_id).await["status"],
            "input_invalid"
        );
        // Not JSON for a typed agent, and streamed: the same refusal, as an error answer.
        let mut streamed = chat("agent/typed", "not json");
        streamed["stream"] = json!(true);
        let reply = api(r, "POST", path, Some(&runner), Some(streamed), MOCK).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(openai_error(&reply)["code"], "input_invalid");
        let ok = api(
            r,
            "POST",
            path,
            Some(&runner),
            Some(chat("agent/typed", r#"{"q":"where"}"#)),
            MOCK,
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

        // The agent's own output schema wins over the caller's response format, and says why.
        let mut formatted = chat("agent/typed", r#"{"q":"where"}"#);
        formatted["response_format"] = json!({ "type": "json_object" });
        let reply = api(r, "POST", path, Some(&runner), Some(formatted), MOCK).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        let e = openai_error(&reply);
        assert_eq!(e["param"], "response_format");
        assert!(e["message"].as_str().unwrap().contains("output schema"));

        // What an agent cannot take, and bodies that are not requests.
        let mut tools = chat("plain", "x");
        tools["tools"] = json!([{ "type": "function", "function": { "name": "f" } }]);
        let last_assistant =
            json!({ "model": "plain", "messages": [{ "role": "assistant", "content": "x" }] });
        for (body, param) in [(tools, "tools"), (last_assistant, "messages")] {
            let reply = api(r, "POST", path, Some(&runner), Some(body), MOCK).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
            assert_eq!(openai_error(&reply)["param"], param);
        }
        for bad in [
            "{not json",
            r#"{"model":"plain"}"#,
            r#"{"model":"plain","messages":"hi"}"#,
        ] {
            let req = Request::post(path)
                .header(header::AUTHORIZATION, format!("Bearer {runner}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(bad))
                .unwrap();
            let reply = send(r, req).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{bad}: {}",
                reply.body
            );
            assert_eq!(openai_error(&reply)["type"], "invalid_request_error");
        }
        // Too large: streamed without a length, and declared by Content-Length as every SDK
        // does (refused before the body is read) — the same error in the API's shape either way.
        let huge = chat("plain", &"x".repeat(2 * 1024 * 1024));
        let reply = api(r, "POST", path, Some(&runner), Some(huge.clone()), MOCK).await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(openai_error(&reply)["code"], "request_too_large");
        for (p, kind) in [
            (path, "request_too_large"),
            ("/api/v1/agents/plain/runs", "too_large"),
        ] {
            let body = huge.to_string();
            let req = Request::post(p)
                .header(header::AUTHORIZATION, format!("Bearer {runner}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, body.len())
                .body(Body::from(body))
                .unwrap();
            let reply = send(r, req).await;
            assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
            let error = &reply.json()["error"];
            assert!(
                error["code"] == kind || error["type"] == kind,
                "{p}: {}",
                reply.body
            );
        }
        let big = chat("plain", &"x".repeat(200 * 1024));
        let reply = api(r, "POST", path, Some(&runner), Some(big), MOCK).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(
            openai_error(&reply)["message"]
                .as_str()
                .unwrap()
                .contains("too large")
        );
        let reply = api(
            r,
            "POST",
            path,
            Some(&runner),
            Some(chat("plain", "x")),
            &[("x-galaxy-mode", "dry")],
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);

        // Live (the default) without a provider key: a 400 before any run, saying what to do.
        let reply = api(
            r,
            "POST",
            path,
            Some(&runner),
            Some(chat("plain", "x")),
            &[],
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(
            openai_error(&reply)["message"]
                .as_str()
                .unwrap()
                .contains("key")
        );
        assert!(reply.headers.get("x-galaxy-run-id").is_none());

        // A revoked token and an expired one stop working on /v1 with the next request.
        revoke(r, &owner, "reader").await;
        let other_runner = token(r, &owner, "expiring", &["run"]).await;
        assert_eq!(
            api(r, "GET", "/v1/models", Some(&other_runner), None, &[])
                .await
                .status,
            StatusCode::OK
        );
        sqlx::query("UPDATE api_tokens SET expires_at = 1 WHERE name = 'expiring'")
            .execute(t.app.state.db.pool())
            .await
            .unwrap();
        for t in [&reader, &other_runner] {
            let reply = api(r, "GET", "/v1/models", Some(t), None, &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
            assert_eq!(openai_error(&reply)["code"], "invalid_api_key");
        }

        // Other paths under /v1 answer 404 in the same shape.
        let reply = api(
            r,
            "POST",
            "/v1/embeddings",
            Some(&runner),
            Some(json!({})),
            &[],
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        openai_error(&reply);
        // A wrong method: 405 in the same shape.
        let reply = api(r, "GET", path, Some(&runner), None, &[]).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(openai_error(&reply)["code"], "method_not_allowed");

        // One model, as the SDKs' models.retrieve asks for it.
        let one = api(r, "GET", "/v1/models/agent/plain", Some(&runner), None, &[]).await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        assert_eq!(one.json()["id"], "agent/plain");
        assert_eq!(one.json()["object"], "model");
        let none = api(r, "GET", "/v1/models/agent/nope", Some(&runner), None, &[]).await;
        assert_eq!(none.status, StatusCode::NOT_FOUND);
        assert_eq!(openai_error(&none)["code"], "model_not_found");
    });
}

#[test]
fn cors_is_off_by_default_and_on_only_for_the_allowed_origins() {
    run(async {
        let preflight = |origin: &str, path: &str| {
            Request::builder()
                .method("OPTIONS")
                .uri(path)
                .header(header::ORIGIN, origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization,content-type,x-stainless-lang,x-stainless-retry-count",
                )
                .body(Body::empty())
                .unwrap()
        };
        let cross_site_post = |origin: &str, path: &str| {
            Request::post(path)
                .header(header::ORIGIN, origin)
                .header("sec-fetch-site", "cross-site")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(chat("plain", "x").to_string()))
                .unwrap()
        };
        let allowed = "https://app.example.com";

        // Off by default: no CORS headers, and a cross-site POST is refused outright.
        let t = sqlite_app().await;
        let r = &t.app.router;
        let reply = send(r, preflight(allowed, "/v1/chat/completions")).await;
        assert!(reply.headers.get("access-control-allow-origin").is_none());
        let reply = send(r, cross_site_post(allowed, "/v1/chat/completions")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);

        // Allowed origins may call both APIs (with a token: without one, a 401 they can read);
        // other origins, and the app's own server functions, stay closed.
        let dir = TempDir::new().unwrap();
        let mut with_cors = args(&dir, None);
        with_cors.cors_origins = vec![allowed.to_owned()];
        let app = build_app(&with_cors).await.unwrap();
        let r = &app.router;
        for path in ["/v1/chat/completions", "/api/v1/agents/x/runs"] {
            let reply = send(r, preflight(allowed, path)).await;
            assert!(reply.status.is_success(), "{path}: {}", reply.status);
            assert_eq!(reply.headers["access-control-allow-origin"], allowed);
            let methods = reply.headers["access-control-allow-methods"]
                .to_str()
                .unwrap();
            assert!(methods.contains("POST"), "{methods}");
            // The official SDK's own headers may be sent.
            let headers = reply.headers["access-control-allow-headers"]
                .to_str()
                .unwrap();
            assert!(headers.contains("x-stainless-lang"), "{headers}");
            assert!(
                reply
                    .headers
                    .get("access-control-allow-credentials")
                    .is_none()
            );
            let reply = send(r, cross_site_post(allowed, path)).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(reply.headers["access-control-allow-origin"], allowed);
            // A browser client can read whether to retry, and the run's id.
            let exposed = reply.headers["access-control-expose-headers"]
                .to_str()
                .unwrap();
            for h in ["retry-after", "x-galaxy-run-id", "x-should-retry"] {
                assert!(exposed.contains(h), "{exposed}");
            }
            let reply = send(r, preflight("https://evil.example", path)).await;
            assert!(reply.headers.get("access-control-allow-origin").is_none());
            let reply = send(r, cross_site_post("https://evil.example", path)).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN);
        }
        let reply = send(r, cross_site_post(allowed, "/api/log_out")).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "server fns stay same-site only"
        );
    });
}

/// An OpenAI chat-completions stream of `pieces`, then a stop and usage.
fn upstream_stream(pieces: &[&str]) -> wiremock::ResponseTemplate {
    let chunk = |delta: Value, finish: Value| {
        format!(
            "data: {}\n\n",
            json!({"id": "c", "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        )
    };
    let mut body: String = pieces
        .iter()
        .map(|p| chunk(json!({ "content": p }), Value::Null))
        .collect();
    body.push_str(&chunk(json!({}), json!("stop")));
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}\n\n");
    body.push_str("data: [DONE]\n\n");
    wiremock::ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

#[test]
fn a_repaired_answer_streams_only_its_final_text() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer};
    run(async {
        // A live provider whose first answer misses the output schema and whose second (the
        // repair attempt) meets it.
        let upstream = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(upstream_stream(&["not ", "json"]))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&upstream)
            .await;
        Mock::given(method("POST"))
            .respond_with(upstream_stream(&["{\"a\": ", "\"x\"}"]))
            .with_priority(2)
            .mount(&upstream)
            .await;
        let dir = TempDir::new().unwrap();
        let mut live = args(&dir, None);
        live.openai_base_url = format!("{}/v1", upstream.uri());
        let app = build_app(&live).await.unwrap();
        let r = &app.router;
        let owner = sign_up(r, "oai-repair@example.com").await;
        add_openai_key(r, &owner, "live", "sk-repair-test-0123456789").await;
        let mut draft = agent_draft("Typed");
        draft.retain(|(k, _)| k != "draft[output_schema]");
        draft.push((
            "draft[output_schema]".into(),
            r#"{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}"#.into(),
        ));
        draft.push(("draft[repair_output]".into(), "true".into()));
        let pairs: Vec<(&str, &str)> = draft
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let saved = call(r, "save_agent", &pairs, Some(&owner)).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert_eq!(saved.json()["config"]["repair_output"], true);
        let runner = token(r, &owner, "runner", &["run", "read"]).await;

        let mut body = chat("agent/typed", "x");
        body["stream"] = json!(true);
        let streamed = api(
            r,
            "POST",
            "/v1/chat/completions",
            Some(&runner),
            Some(body),
            &[],
        )
        .await;
        assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.body);
        let text: String = chunks(&streamed.body)
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        // Only the repaired answer, whole: neither the first one nor the repair marker.
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"a": "x"})
        );
        assert!(
            !text.contains("not json") && !text.contains("repair"),
            "{text}"
        );
        let run_id = streamed.headers["x-galaxy-run-id"].to_str().unwrap();
        let run = recorded(r, &runner, run_id).await;
        assert_eq!(run["status"], "succeeded");
        assert_eq!(run["output"], text.as_str());
        assert_eq!(run["attempts"], 2);
    });
}
