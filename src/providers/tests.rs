//! Provider adapters and the executor against a local HTTP fake (wiremock) serving bodies and SSE
//! streams in each provider's documented shape; assertions on the outgoing requests too, and exact
//! call counts for every status class.

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::http::BodyLimits;
use super::retry::{self, Call, Execution, RetryPolicy};
use super::{ChatRequest, Endpoint, FinishReason, Provider, ProviderError, ProviderKind, Usage};
use crate::providers::DEFAULT_MAX_OUTPUT_BYTES;

const LIMITS: BodyLimits = BodyLimits {
    max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
};

/// The retry loop with the default output cap.
async fn execute(
    http: &reqwest::Client,
    provider: &Provider,
    request: &ChatRequest,
    policy: &RetryPolicy,
    stream: bool,
    cancel: &CancellationToken,
    mut on_delta: impl FnMut(&str) + Send,
) -> Execution {
    let call = Call {
        http,
        provider,
        request,
        stream,
        max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
    };
    retry::execute(call, policy, cancel, &mut on_delta).await
}

const KEY: &str = "sk-test-0123456789abcdef";

fn provider(kind: ProviderKind, server: &MockServer, extra: Vec<(String, String)>) -> Provider {
    let base_url = match kind {
        ProviderKind::Anthropic => server.uri(),
        _ => format!("{}/v1", server.uri()),
    };
    Provider::new(
        Endpoint {
            kind,
            base_url,
            api_key: SecretString::from(KEY.to_owned()),
            extra_headers: extra,
        },
        LIMITS,
    )
}

fn request(schema: Option<Value>) -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        system: "Be brief.".into(),
        history: Vec::new(),
        user: "Hello".into(),
        temperature: 0.2,
        max_tokens: 64,
        output_schema: schema,
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        attempt_timeout: Duration::from_millis(800),
        stream_idle_timeout: Duration::from_millis(800),
        ..RetryPolicy::default()
    }
}

fn sse(events: &[&str]) -> ResponseTemplate {
    let body: String = events.iter().map(|e| format!("{e}\n\n")).collect();
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/event-stream")
        .set_body_raw(body, "text/event-stream")
}

fn openai_body(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    })
}

#[tokio::test]
async fn openai_request_and_response_shapes() {
    let server = MockServer::start().await;
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .and(body_partial_json(json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
            "temperature": 0.2,
            "max_completion_tokens": 64,
            "response_format": {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_body("{\"a\":\"x\"}")))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &server, vec![]);
    let r = p.complete(&http(), &request(Some(schema))).await.unwrap();
    assert_eq!(r.text, "{\"a\":\"x\"}");
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 5
        })
    );
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    assert_eq!(r.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    let sent: Value = server.received_requests().await.unwrap()[0]
        .body_json()
        .unwrap();
    assert!(
        sent.get("stream").is_none() && sent.get("max_tokens").is_none(),
        "{sent}"
    );
}

#[tokio::test]
async fn openai_stream_asks_for_usage_and_yields_deltas() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(json!({"stream": true, "stream_options": {"include_usage": true}})))
        .respond_with(sse(&[
            r#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#,
            ": keep-alive",
            r#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"lo!"},"finish_reason":null}]}"#,
            r#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
            r#"data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11}}"#,
            "data: [DONE]",
        ]))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &server, vec![]);
    let mut deltas = Vec::new();
    let run = execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        true,
        &CancellationToken::new(),
        |d| deltas.push(d.to_owned()),
    )
    .await;
    let r = run.result.unwrap();
    assert_eq!(deltas, ["Hel", "lo!"]);
    assert_eq!(r.text, "Hello!");
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 9,
            completion_tokens: 2
        })
    );
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    assert!(run.ttft_ms.is_some());
    assert_eq!(run.attempts.len(), 1);
    assert_eq!(
        run.attempts[0].usage, r.usage,
        "the attempt records the usage the stream reported"
    );
}

#[tokio::test]
async fn openai_compatible_uses_its_base_url_headers_and_falls_back_to_json_object() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(header("x-team", "galaxy"))
        .and(body_partial_json(json!({"response_format": {"type": "json_schema"}, "max_tokens": 64})))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": {"message": "response_format json_schema is not supported", "type": "invalid_request_error"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(body_partial_json(
            json!({"response_format": {"type": "json_object"}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_body("{}")))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(
        ProviderKind::OpenAiCompatible,
        &server,
        vec![("x-team".into(), "galaxy".into())],
    );
    let r = p
        .complete(&http(), &request(Some(json!({"type": "object"}))))
        .await
        .unwrap();
    assert_eq!(r.text, "{}");
    let sent: Value = server.received_requests().await.unwrap()[1]
        .body_json()
        .unwrap();
    assert!(sent.get("max_completion_tokens").is_none(), "{sent}");
}

#[tokio::test]
async fn openai_errors_carry_status_type_message_and_hints() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after-ms", "1500")
                .insert_header("x-should-retry", "true")
                .set_body_json(json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}})),
        )
        .mount(&server)
        .await;
    let err = provider(ProviderKind::OpenAi, &server, vec![])
        .complete(&http(), &request(None))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ProviderError::Http {
            provider: "OpenAI",
            status: 429,
            error_type: Some("requests".into()),
            message: "Rate limit reached".into(),
            retry_after: Some(Duration::from_millis(1500)),
            should_retry: Some(true),
        }
    );
    assert_eq!(err.class(), "rate_limited");
}

#[tokio::test]
async fn anthropic_forced_tool_and_usage() {
    let server = MockServer::start().await;
    let schema = json!({"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]});
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(header("x-api-key", KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .and(body_partial_json(json!({
            "model": "gpt-4o-mini", "max_tokens": 64, "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello"}],
            "tools": [{"name": "output", "input_schema": schema}],
            "tool_choice": {"type": "tool", "name": "output"}
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "output", "input": {"label": "bug"}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 30, "output_tokens": 8}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let r = provider(ProviderKind::Anthropic, &server, vec![])
        .complete(&http(), &request(Some(schema)))
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&r.text).unwrap(),
        json!({"label": "bug"})
    );
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 30,
            completion_tokens: 8
        })
    );
    assert_eq!(r.finish_reason, Some(FinishReason::ToolUse));
}

#[tokio::test]
async fn anthropic_stream_reads_usage_from_start_and_delta() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .and(body_partial_json(json!({"stream": true})))
        .respond_with(sse(&[
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}",
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}",
            "event: ping\ndata: {\"type\": \"ping\"}",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \"}}",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"there\"}}",
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}",
            "event: message_stop\ndata: {\"type\":\"message_stop\"}",
        ]))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(ProviderKind::Anthropic, &server, vec![]);
    let mut deltas = String::new();
    let run = execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        true,
        &CancellationToken::new(),
        |d| deltas.push_str(d),
    )
    .await;
    let r = run.result.unwrap();
    assert_eq!(deltas, "Hi there");
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 25,
            completion_tokens: 15
        })
    );
    assert_eq!(r.finish_reason, Some(FinishReason::Stop));
}

#[tokio::test]
async fn anthropic_error_event_mid_stream_is_not_retried_after_tokens() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(&[
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"partial\"}}",
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
        ]))
        .expect(1)
        .mount(&server)
        .await;
    let p = provider(ProviderKind::Anthropic, &server, vec![]);
    let run = execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        true,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert!(
        matches!(run.result, Err(ProviderError::Event { ref kind, .. }) if kind == "overloaded_error")
    );
    assert_eq!(run.attempts.len(), 1);
}

/// Mounts a fake that always answers `status` and counts calls.
async fn always(
    status: u16,
    provider_kind: ProviderKind,
    headers: &[(&str, &str)],
) -> (MockServer, Provider) {
    let server = MockServer::start().await;
    let mut t = ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"type": "x", "message": "nope"}}));
    for (k, v) in headers {
        t = t.insert_header(*k, *v);
    }
    Mock::given(method("POST"))
        .respond_with(t)
        .mount(&server)
        .await;
    let p = provider(provider_kind, &server, vec![]);
    (server, p)
}

async fn calls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

#[tokio::test]
async fn executor_call_counts_per_status_class() {
    for (status, expected) in [
        (400, 1),
        (401, 1),
        (403, 1),
        (404, 1),
        (422, 1),
        (408, 3),
        (409, 3),
        (429, 3),
        (500, 3),
        (502, 3),
        (503, 3),
    ] {
        for stream in [false, true] {
            let (server, p) = always(status, ProviderKind::OpenAi, &[]).await;
            let run = execute(
                &http(),
                &p,
                &request(None),
                &fast(),
                stream,
                &CancellationToken::new(),
                |_| {},
            )
            .await;
            assert_eq!(
                calls(&server).await,
                expected,
                "status {status} stream {stream}"
            );
            assert_eq!(run.attempts.len(), expected);
            assert!(run.attempts.iter().all(|a| a.status == Some(status)));
            assert!(run.result.is_err());
            assert_eq!(run.attempts[0].waited_ms, 0);
            assert_eq!(
                run.attempts.iter().map(|a| a.number).collect::<Vec<_>>(),
                (1..=u32::try_from(expected).unwrap()).collect::<Vec<_>>()
            );
        }
    }
}

#[tokio::test]
async fn executor_anthropic_specifics_and_should_retry() {
    let (server, p) = always(529, ProviderKind::Anthropic, &[]).await;
    execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        false,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(calls(&server).await, 3, "529 overloaded is retried");

    let (server, p) = always(429, ProviderKind::Anthropic, &[]).await;
    execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        false,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(
        calls(&server).await,
        1,
        "429 without retry-after (spend cap) is not retried"
    );

    let (server, p) = always(429, ProviderKind::Anthropic, &[("retry-after", "0")]).await;
    execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        false,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(calls(&server).await, 3);

    let (server, p) = always(500, ProviderKind::OpenAi, &[("x-should-retry", "false")]).await;
    execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        false,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(calls(&server).await, 1, "x-should-retry: false wins");
}

#[tokio::test]
async fn executor_honours_retry_after_and_records_waits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after-ms", "120"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(openai_body("ok")))
        .with_priority(2)
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &server, vec![]);
    let run = execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        false,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(run.result.unwrap().text, "ok");
    assert_eq!(calls(&server).await, 2);
    assert_eq!(run.attempts[0].status, Some(503));
    assert_eq!(
        run.attempts[0].error_class.as_deref(),
        Some("provider_down")
    );
    assert_eq!(run.attempts[1].status, Some(200));
    assert_eq!(
        run.attempts[1].waited_ms, 120,
        "waited what the provider asked"
    );
}

#[tokio::test]
async fn executor_retries_connection_errors_and_timeouts() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Provider::new(
        Endpoint {
            kind: ProviderKind::OpenAi,
            base_url: format!("http://127.0.0.1:{port}/v1"),
            api_key: SecretString::from(KEY.to_owned()),
            extra_headers: vec![],
        },
        LIMITS,
    );
    let run = execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        false,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(run.attempts.len(), 3);
    assert!(
        run.attempts
            .iter()
            .all(|a| a.error_class.as_deref() == Some("connect"))
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_body("late"))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &server, vec![]);
    let policy = RetryPolicy {
        attempt_timeout: Duration::from_millis(150),
        ..fast()
    };
    let run = execute(
        &http(),
        &p,
        &request(None),
        &policy,
        false,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert_eq!(calls(&server).await, 3);
    assert!(
        run.attempts
            .iter()
            .all(|a| a.error_class.as_deref() == Some("timeout"))
    );
}

#[tokio::test]
async fn executor_stops_at_once_when_cancelled() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(openai_body("slow"))
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &server, vec![]);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        trigger.cancel();
    });
    let started = std::time::Instant::now();
    let run = execute(
        &http(),
        &p,
        &request(None),
        &RetryPolicy::default(),
        false,
        &cancel,
        |_| {},
    )
    .await;
    assert!(run.cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(run.attempts.len(), 1);
    assert_eq!(run.attempts[0].error_class.as_deref(), Some("cancelled"));
}

#[tokio::test]
async fn check_key_calls_the_models_endpoint() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    provider(ProviderKind::OpenAi, &server, vec![])
        .check_key(&http())
        .await
        .unwrap();

    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("x-api-key", KEY))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let err = provider(ProviderKind::Anthropic, &server, vec![])
        .check_key(&http())
        .await
        .unwrap_err();
    assert_eq!(err.class(), "auth");
    assert!(err.to_string().contains("authentication_error"));
}

#[tokio::test]
async fn stream_error_events_are_retried_only_when_transient() {
    for (kind, calls_expected) in [("overloaded_error", 3), ("invalid_request_error", 1)] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(sse(&[&format!(
                "event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"{kind}\",\"message\":\"nope\"}}}}"
            )]))
            .mount(&server)
            .await;
        let p = provider(ProviderKind::Anthropic, &server, vec![]);
        let run = execute(
            &http(),
            &p,
            &request(None),
            &fast(),
            true,
            &CancellationToken::new(),
            |_| {},
        )
        .await;
        assert_eq!(calls(&server).await, calls_expected, "{kind}");
        assert!(
            matches!(run.result, Err(ProviderError::Event { .. })),
            "{kind}"
        );
    }
}

#[tokio::test]
async fn streams_have_deadlines_and_keep_alives_count() {
    let server = MockServer::start().await;
    // Pings every 100 ms for 600 ms, then the answer: alive although the idle limit is 300 ms.
    let mut events: Vec<String> = (0..6)
        .map(|_| "event: ping\ndata: {\"type\":\"ping\"}".to_owned())
        .collect();
    events.push("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":1}}".into());
    let body: String = events.iter().map(|e| format!("{e}\n\n")).collect();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .mount(&server)
        .await;
    let p = provider(ProviderKind::Anthropic, &server, vec![]);
    let policy = RetryPolicy {
        stream_idle_timeout: Duration::from_millis(300),
        ..fast()
    };
    let run = execute(
        &http(),
        &p,
        &request(None),
        &policy,
        true,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert!(run.result.is_ok(), "{:?}", run.result);

    // A stream that never sends anything after opening: the first-event deadline ends it.
    let silent = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("", "text/event-stream")
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&silent)
        .await;
    let p = provider(ProviderKind::OpenAi, &silent, vec![]);
    let policy = RetryPolicy {
        attempt_timeout: Duration::from_millis(200),
        max_attempts: 1,
        ..fast()
    };
    let started = std::time::Instant::now();
    let run = execute(
        &http(),
        &p,
        &request(None),
        &policy,
        true,
        &CancellationToken::new(),
        |_| {},
    )
    .await;
    assert!(
        matches!(run.result, Err(ProviderError::Timeout)),
        "{:?}",
        run.result
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_stream_cut_off_before_it_finished_is_an_error_not_a_reply() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(sse(&[
            r#"data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hal"},"finish_reason":null}]}"#,
        ]))
        .mount(&server)
        .await;
    let p = provider(ProviderKind::OpenAi, &server, vec![]);
    let mut deltas = Vec::new();
    let run = execute(
        &http(),
        &p,
        &request(None),
        &fast(),
        true,
        &CancellationToken::new(),
        |d| deltas.push(d.to_owned()),
    )
    .await;
    assert!(
        matches!(run.result, Err(ProviderError::Stream(ref m)) if m.contains("ended before")),
        "{:?}",
        run.result
    );
    assert_eq!(deltas, ["Hal"]);
    assert_eq!(run.partial_text, "Hal");
    assert_eq!(
        calls(&server).await,
        1,
        "not retried after tokens reached the caller"
    );
}
