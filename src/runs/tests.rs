//! Runs end to end below HTTP, on SQLite and PostgreSQL: mock and live runs recorded with their
//! attempts, tokens and cost; contracts gating spend; Stop; and the pipeline's guarantees — errors
//! before anything is streamed, every started run ending recorded (panic, internal error, caller
//! gone, cancellation), and every resource bounded.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, body_string_contains, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::*;
use crate::agents::AgentDraft;
use crate::charts::dashboard;
use crate::error::CoreError;
use crate::pricing::CostSource;
use crate::testing::{KEY, Script, Scripted, World, draft, openai_stream, openai_whole, request};

fn mock_draft(name: &str) -> AgentDraft {
    AgentDraft {
        description: "test agent".into(),
        temperature: "0.5".into(),
        max_tokens: "256".into(),
        ..draft(name, "openai", "")
    }
}

fn field_of(e: CoreError) -> Vec<String> {
    match e {
        CoreError::Validation(errs) => errs.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// Every event of a started run, then its end.
async fn drain(mut run: StartedRun) -> (Vec<String>, Result<RunView, CoreError>) {
    let mut deltas = Vec::new();
    while let Some(event) = run.next().await {
        match event {
            RunEvent::Delta(d) => deltas.push(d),
            RunEvent::Finished(view) => return (deltas, Ok(*view)),
            RunEvent::Failed(e) => return (deltas, Err(e)),
        }
    }
    (deltas, Err(CoreError::Internal("no end".into())))
}

async fn attempts_of(w: &World, run_id: &str) -> Vec<(i64, Option<i64>, Option<String>)> {
    sqlx::query_as(
        "SELECT number, http_status, error_class FROM run_attempts WHERE run_id = $1 ORDER BY number",
    )
    .bind(run_id)
    .fetch_all(w.db.pool())
    .await
    .unwrap()
}

on_both_backends!(mock_runs_are_recorded_with_metrics, |w: World| async move {
    let a = w.workspace("a@example.com").await;
    let agent = w.agent(&a, &mock_draft("Echo")).await;
    let run = w
        .run(&a, &agent.id, "Summarise this, please.", RunMode::Mock)
        .await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(
        run.output
            .as_deref()
            .unwrap()
            .starts_with("Mock reply from gpt-4o-mini")
    );
    assert!(!run.output_is_json);
    assert_eq!(run.prompt_tokens, 3 + 6);
    assert!(run.completion_tokens > 0);
    assert_eq!(run.total_tokens, run.prompt_tokens + run.completion_tokens);
    let simulated = 80 + 4 * run.completion_tokens;
    assert!(
        run.latency_ms >= simulated,
        "latency {} < simulated {simulated}",
        run.latency_ms
    );
    // gpt-4o-mini is in the price table: mock runs carry an estimated cost.
    let expected = crate::pricing::cost_micros(
        crate::providers::Usage {
            prompt_tokens: run.prompt_tokens,
            completion_tokens: run.completion_tokens,
        },
        crate::pricing::find_price(
            &[],
            &crate::pricing::shipped_prices(),
            "openai",
            "gpt-4o-mini",
        )
        .unwrap(),
    );
    assert_eq!(run.cost_micros, Some(expected));
    assert!(expected > 0);
    assert_eq!(run.cost_source, CostSource::Estimated);
    assert_eq!((run.attempts, run.agent_version), (1, 1));
    assert!(run.finished_at.unwrap() >= run.created_at);
    // The same input gives the same output (deterministic mock).
    let again = w
        .try_run_with(
            &a,
            &agent.id,
            "Summarise this, please.",
            RunMode::Mock,
            RunTrigger::Dashboard,
        )
        .await
        .unwrap();
    assert_eq!(again.output, run.output);
    let listed = list_runs(&w.db, &a, Some(&agent.id), 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [again.id.as_str(), run.id.as_str()]
    );
    assert_eq!(listed[1], run, "what was returned is what was stored");
    let stats = dashboard(&w.db, &a, crate::charts::ChartRange::Day, None)
        .await
        .unwrap();
    assert_eq!(
        (
            stats.totals.agents,
            stats.totals.runs,
            stats.totals.succeeded,
            stats.totals.failed
        ),
        (1, 2, 2, 0)
    );
    assert_eq!(stats.totals.total_tokens, run.total_tokens * 2);
    assert!(stats.charts.total.p50_ms.unwrap() >= simulated);
    assert_eq!(stats.recent.len(), 2);
    // Live mode is refused until provider keys exist, without a run.
    let live = w.try_run(&a, &agent.id, "x", RunMode::Live).await;
    assert_eq!(field_of(live.unwrap_err()), ["mode"]);
    // Oversized input is refused before anything is stored.
    let big = "x".repeat(MAX_INPUT_BYTES + 1);
    let err = w
        .try_run(&a, &agent.id, &big, RunMode::Mock)
        .await
        .unwrap_err();
    assert_eq!(field_of(err), ["input"]);
    assert_eq!(list_runs(&w.db, &a, None, 100).await.unwrap().len(), 2);
});

on_both_backends!(schemas_gate_input_and_shape_output, |w: World| async move {
    let a = w.workspace("a@example.com").await;
    let mut d = mock_draft("Typed");
    d.input_schema = r#"{"type":"object","properties":{"text":{"type":"string","minLength":3}},"required":["text"]}"#.into();
    d.output_schema = r#"{"type":"object","properties":{"label":{"enum":["spam","ham"]},"score":{"type":"number","minimum":0,"maximum":1}},"required":["label","score"]}"#.into();
    let agent = w.agent(&a, &d).await;

    let not_json = w.run(&a, &agent.id, "hello", RunMode::Mock).await;
    assert_eq!(not_json.status, RunStatus::InputInvalid);
    assert_eq!(
        (not_json.total_tokens, not_json.attempts),
        (0, 0),
        "no provider call"
    );
    assert!(not_json.error_message.unwrap().contains("must be JSON"));

    let invalid = w
        .run(&a, &agent.id, r#"{"text": "hi"}"#, RunMode::Mock)
        .await;
    assert_eq!(invalid.status, RunStatus::InputInvalid);
    assert_eq!(invalid.error_kind.as_deref(), Some("input_invalid"));
    assert_eq!(invalid.field_errors.len(), 1);
    assert_eq!(invalid.field_errors[0].field, "/text");
    assert!(invalid.error_message.unwrap().starts_with("/text:"));
    assert_eq!(invalid.output, None);

    let ok = w
        .run(&a, &agent.id, r#"{"text": "win a prize"}"#, RunMode::Mock)
        .await;
    assert_eq!(ok.status, RunStatus::Succeeded, "{:?}", ok.error_message);
    assert!(ok.output_is_json);
    let out: Value = serde_json::from_str(ok.output.as_deref().unwrap()).unwrap();
    assert!(["spam", "ham"].contains(&out["label"].as_str().unwrap()));
    let stats = dashboard(&w.db, &a, crate::charts::ChartRange::Day, None)
        .await
        .unwrap();
    assert_eq!(
        (
            stats.totals.runs,
            stats.totals.succeeded,
            stats.totals.failed
        ),
        (3, 1, 2)
    );
});

on_both_backends!(
    runs_left_running_are_marked_interrupted,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &mock_draft("Crashy")).await;
        let done = w.run(&a, &agent.id, "x", RunMode::Mock).await;
        sqlx::query("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = $1")
            .bind(&done.id)
            .execute(w.db.pool())
            .await
            .unwrap();
        assert_eq!(mark_interrupted(&w.db).await.unwrap(), 1);
        assert_eq!(mark_interrupted(&w.db).await.unwrap(), 0);
        let run = get_run(&w.db, &a, &done.id).await.unwrap();
        assert_eq!(run.status, RunStatus::Interrupted);
        assert!(run.finished_at.is_some());
    }
);

on_both_backends!(
    live_run_streams_records_usage_cost_and_attempts,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .respond_with(openai_stream(&["Hel", "lo", " world"]))
            .expect(1)
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Live", "openai", "")).await;
        let started = w
            .runs
            .start(
                &w.fresh(&a).await,
                request(&agent.id, "Say hello", RunMode::Live),
            )
            .await
            .unwrap();
        let run_id = started.run_id.clone();
        let (deltas, run) = drain(started).await;
        let run = run.unwrap();
        assert_eq!(run.id, run_id);
        assert_eq!(deltas, ["Hel", "lo", " world"]);
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(run.output.as_deref(), Some("Hello world"));
        assert_eq!(
            (run.prompt_tokens, run.completion_tokens, run.total_tokens),
            (1000, 500, 1500)
        );
        // gpt-4o-mini: 1000 × $0.15/M + 500 × $0.60/M = 150 + 300 µ$.
        assert_eq!(run.cost_micros, Some(450));
        assert_eq!(run.cost_source, CostSource::ProviderUsage);
        assert_eq!(run.attempts, 1);
        assert!(run.ttft_ms.is_some());
        assert!(w.runs.in_flight().is_empty());
        let stored = get_run(&w.db, &a, &run.id).await.unwrap();
        assert_eq!(stored, run);
        let attempts: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT number, http_status, prompt_tokens FROM run_attempts WHERE run_id = $1",
        )
        .bind(&run.id)
        .fetch_all(w.db.pool())
        .await
        .unwrap();
        assert_eq!(attempts, [(1, Some(200), Some(1000))]);
        let (used,): (Option<i64>,) =
            sqlx::query_as("SELECT last_used_at FROM provider_credentials")
                .fetch_one(w.db.pool())
                .await
                .unwrap();
        assert!(used.is_some());
    }
);

on_both_backends!(
    streamed_and_whole_replies_are_priced_the_same,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        // The same reply and usage, once as SSE (asked with stream: true) and once whole.
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"stream": true})))
            .respond_with(openai_stream(&["Same ", "reply"]))
            .with_priority(1)
            .mount(&w.upstream)
            .await;
        Mock::given(method("POST"))
            .respond_with(openai_whole("Same reply"))
            .with_priority(2)
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Priced", "openai", "")).await;
        let actor = w.fresh(&a).await;
        let streamed = w
            .runs
            .run(&actor, request(&agent.id, "x", RunMode::Live))
            .await
            .unwrap();
        let whole = w
            .runs
            .run(
                &actor,
                RunRequest {
                    stream: false,
                    ..request(&agent.id, "x", RunMode::Live)
                },
            )
            .await
            .unwrap();
        let requests = w.upstream.received_requests().await.unwrap();
        let bodies: Vec<Value> = requests.iter().map(|r| r.body_json().unwrap()).collect();
        assert_eq!(bodies[0]["stream"], true);
        assert_eq!(bodies[0]["stream_options"]["include_usage"], true);
        assert!(bodies[1].get("stream").is_none(), "{}", bodies[1]);
        for run in [&streamed, &whole] {
            assert_eq!(run.status, RunStatus::Succeeded);
            assert_eq!(run.output.as_deref(), Some("Same reply"));
        }
        let priced = |r: &RunView| {
            (
                r.prompt_tokens,
                r.completion_tokens,
                r.cost_micros,
                r.cost_source,
            )
        };
        assert_eq!(priced(&streamed), priced(&whole));
        assert_eq!(
            priced(&streamed),
            (1000, 500, Some(450), CostSource::ProviderUsage)
        );
        assert!(streamed.ttft_ms.is_some() && whole.ttft_ms.is_none());
    }
);

on_both_backends!(
    provider_errors_are_recorded_scrubbed_and_not_retried_when_final,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        // The provider echoes the key in its message, as some do.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({
                "error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error"}
            })))
            .expect(1)
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Bad key", "openai", "")).await;
        let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("auth"));
        let message = run.error_message.unwrap();
        assert!(
            message.contains("rejected the key") && message.contains("[redacted]"),
            "{message}"
        );
        assert!(!message.contains(KEY));
        assert_eq!(run.attempts, 1);
        let (stored,): (String,) = sqlx::query_as("SELECT error_message FROM run_attempts")
            .fetch_one(w.db.pool())
            .await
            .unwrap();
        assert!(!stored.contains(KEY), "{stored}");
        assert_eq!(
            (run.total_tokens, run.cost_micros),
            (0, Some(0)),
            "a refused call spends nothing"
        );
    }
);

on_both_backends!(
    rate_limits_retry_then_record_rate_limited,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after-ms", "10"))
            .expect(3)
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Busy", "openai", "")).await;
        let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
        assert_eq!(run.status, RunStatus::RateLimited);
        assert_eq!(run.attempts, 3);
        let waits: Vec<(i64,)> =
            sqlx::query_as("SELECT waited_ms FROM run_attempts WHERE run_id = $1 ORDER BY number")
                .bind(&run.id)
                .fetch_all(w.db.pool())
                .await
                .unwrap();
        assert_eq!(waits, [(0,), (10,), (10,)]);
    }
);

on_both_backends!(
    absurd_provider_numbers_saturate_instead_of_panicking,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        // A wait of 10^20 seconds, then tokens near i64::MAX and a negative count.
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1e20"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&w.upstream)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                format!(
                    "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"ok\"}}}}]}}\n\n\
                     data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":{},\"completion_tokens\":{}}}}}\n\n\
                     data: [DONE]\n\n",
                    i64::MAX - 5,
                    i64::MAX
                ),
                "text/event-stream",
            ))
            .with_priority(2)
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Huge", "openai", "")).await;
        let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error_message);
        assert_eq!(run.attempts, 2);
        assert_eq!(run.total_tokens, i64::MAX, "saturated, not wrapped");
        // (MAX-5) × $0.15/M + MAX × $0.60/M, computed exactly and rounded up.
        let exact = ((i128::from(i64::MAX - 5) * 150_000 + i128::from(i64::MAX) * 600_000)
            + 999_999)
            / 1_000_000;
        assert_eq!(run.cost_micros.map(i128::from), Some(exact));
        let waits: Vec<(i64,)> =
            sqlx::query_as("SELECT waited_ms FROM run_attempts WHERE run_id = $1 ORDER BY number")
                .bind(&run.id)
                .fetch_all(w.db.pool())
                .await
                .unwrap();
        assert!(
            waits[1].0 < 10,
            "a hint beyond the cap falls back to the (fast) backoff: {waits:?}"
        );
    }
);

on_both_backends!(structured_output_is_validated, |w: World| async move {
    let a = w.workspace("a@example.com").await;
    Mock::given(method("POST"))
        .and(path("/v1/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            concat!(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"label\\\": \"}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"maybe\\\"}\"}}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n",
                "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
            ),
            "text/event-stream",
        ))
        .mount(&w.upstream)
        .await;
    w.key(&a, "anthropic").await;
    let schema =
        r#"{"type":"object","properties":{"label":{"enum":["yes","no"]}},"required":["label"]}"#;
    let mut d = draft("Typed", "anthropic", schema);
    d.model = "claude-haiku-4-5".into();
    let agent = w.agent(&a, &d).await;
    let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
    assert_eq!(run.status, RunStatus::OutputInvalid);
    assert!(run.output_is_json);
    assert!(run.error_message.unwrap().starts_with("/label:"));
    assert_eq!((run.prompt_tokens, run.completion_tokens), (10, 7));
    assert_eq!(run.cost_source, CostSource::ProviderUsage);
});

on_both_backends!(
    a_run_can_be_stopped_from_its_workspace_only,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let b = w.workspace("b@example.com").await;
        Mock::given(method("POST"))
            .respond_with(openai_stream(&["slow"]).set_delay(Duration::from_secs(5)))
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Slow", "openai", "")).await;
        let started = w
            .runs
            .start(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Live))
            .await
            .unwrap();
        // Stop right after the id is known: the run is already registered.
        let run_id = started.run_id.clone();
        assert!(
            !w.runs.cancel(&b, &run_id).await.unwrap(),
            "another workspace cannot stop it"
        );
        assert!(w.runs.cancel(&a, &run_id).await.unwrap());
        let (_, run) = drain(started).await;
        let run = run.unwrap();
        assert_eq!(run.status, RunStatus::Cancelled);
        assert!(run.latency_ms < 3000);
        assert!(w.runs.in_flight().is_empty());
        assert_eq!(
            attempts_of(&w, &run.id).await,
            [(1, None, Some("cancelled".to_owned()))]
        );
        assert_eq!(get_run(&w.db, &a, &run.id).await.unwrap(), run);
    }
);

on_both_backends!(
    contracts_gate_spend_render_templates_and_repair_output,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        // The repair request (it quotes the bad reply) gets valid output; any other gets a
        // reply that breaks the output schema.
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_string_contains("Your previous reply was"))
            .respond_with(openai_stream(&["{\"answer\": ", "\"Because.\"}"]))
            .with_priority(1)
            .mount(&w.upstream)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(openai_stream(&["{\"answer\": 42}"]))
            .with_priority(2)
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let mut d = draft(
            "Contract",
            "openai",
            r#"{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}"#,
        );
        d.input_schema = r#"{"type":"object","properties":{"question":{"type":"string","minLength":2}},"required":["question"],"additionalProperties":false}"#.into();
        d.prompt_template = "Q: {{ question }}".into();
        d.repair_output = true;
        let agent = w.agent(&a, &d).await;

        // Invalid input: a recorded run with per-field messages, and nothing sent.
        let bad = w
            .run(
                &a,
                &agent.id,
                r#"{"question": "?", "extra": 1}"#,
                RunMode::Live,
            )
            .await;
        assert_eq!(bad.status, RunStatus::InputInvalid);
        let fields: Vec<&str> = bad.field_errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["/question", "/"], "{:?}", bad.field_errors);
        assert_eq!(
            (bad.attempts, bad.total_tokens, bad.cost_micros),
            (0, 0, Some(0))
        );
        assert!(w.upstream.received_requests().await.unwrap().is_empty());
        assert_eq!(
            get_run(&w.db, &a, &bad.id).await.unwrap().field_errors,
            bad.field_errors
        );

        // Valid input: the template is the user message; the invalid reply is repaired once.
        let ok = w
            .run(&a, &agent.id, r#"{"question": "Why?"}"#, RunMode::Live)
            .await;
        assert_eq!(ok.status, RunStatus::Succeeded, "{:?}", ok.error_message);
        assert_eq!(ok.attempts, 2);
        assert!(ok.field_errors.is_empty());
        assert_eq!(
            serde_json::from_str::<Value>(ok.output.as_deref().unwrap()).unwrap(),
            json!({"answer": "Because."})
        );
        assert_eq!((ok.prompt_tokens, ok.completion_tokens), (2000, 1000));
        let requests = w.upstream.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2);
        let first: Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(first["messages"][1]["content"], "Q: Why?");
        assert!(first["response_format"]["json_schema"]["schema"]["required"] == json!(["answer"]));
        let second = String::from_utf8_lossy(&requests[1].body).to_string();
        assert!(
            second.contains("/answer"),
            "the repair names what was wrong: {second}"
        );
        let attempts: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT number, error_class FROM run_attempts WHERE run_id = $1 ORDER BY number",
        )
        .bind(&ok.id)
        .fetch_all(w.db.pool())
        .await
        .unwrap();
        assert_eq!(
            attempts,
            [(1, Some("output_invalid".to_owned())), (2, None)]
        );

        // Without repair, invalid output is kept and marked, with the validator's messages.
        d.name = "No repair".into();
        d.repair_output = false;
        let plain = w.agent(&a, &d).await;
        let out = w
            .run(&a, &plain.id, r#"{"question": "Why?"}"#, RunMode::Live)
            .await;
        assert_eq!(out.status, RunStatus::OutputInvalid);
        assert_eq!(out.attempts, 1);
        assert_eq!(out.output.as_deref(), Some("{\n  \"answer\": 42\n}"));
        assert_eq!(out.field_errors.len(), 1);
        assert_eq!(out.field_errors[0].field, "/answer");
        assert_eq!(
            get_run(&w.db, &a, &out.id).await.unwrap().field_errors,
            out.field_errors
        );
        // Compiled once per agent version and direction, not once per run.
        assert_eq!(w.runs.schemas().len(), 4);
    }
);

/// A world whose mock-mode runs follow `script`.
async fn scripted(w: &World, script: Script) -> Runs {
    w.with_config(RunsConfig {
        script: Some(Scripted::new(move |_| script.clone())),
        ..RunsConfig::default()
    })
}

on_both_backends!(
    a_panic_mid_run_ends_as_a_recorded_failure,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &mock_draft("Panics")).await;
        let runs = scripted(&w, Script::PanicAfter(vec!["half ".into()])).await;
        let started = runs
            .start(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Mock))
            .await
            .unwrap();
        let (deltas, run) = drain(started).await;
        let run = run.unwrap();
        assert_eq!(deltas, ["half "]);
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("internal"));
        assert!(runs.in_flight().is_empty(), "the registry forgets it");
        let stored = get_run(&w.db, &a, &run.id).await.unwrap();
        assert_eq!(stored.status, RunStatus::Failed);
        assert!(stored.finished_at.is_some());
    }
);

on_both_backends!(
    an_error_after_the_running_row_ends_recorded_with_the_spend_so_far,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        // A reply large enough to be checked on the CPU pool, and a pool with no free slot.
        Mock::given(method("POST"))
            .respond_with(openai_stream(&[
                "{\"answer\": \"",
                &"y".repeat(20_000),
                "\"}",
            ]))
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w
            .agent(
                &a,
                &draft(
                    "Slow check",
                    "openai",
                    r#"{"type":"object","properties":{"answer":{"type":"string"}}}"#,
                ),
            )
            .await;
        // A pool whose one slot is taken for two seconds, and a 100 ms limit per job.
        let pool = crate::cpu::CpuPool::new(1, Duration::from_millis(100));
        let runs = w.with_config(RunsConfig {
            cpu: pool.clone(),
            ..RunsConfig::default()
        });
        // Compiling the schemas on this pool would time out too: reuse the compiled ones.
        let ready = w.run(&a, &agent.id, "warm", RunMode::Live).await;
        assert_eq!(ready.status, RunStatus::Succeeded);
        for which in ["input", "output"] {
            if let Some(s) = w.runs.schemas().cached(&agent.id, agent.version, which) {
                runs.schemas().insert(&agent.id, agent.version, which, s);
            }
        }
        tokio::spawn(async move {
            pool.run(|| std::thread::sleep(Duration::from_secs(2)))
                .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let run = runs
            .run(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Live))
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("output_unchecked"));
        assert_eq!(
            (run.attempts, run.prompt_tokens, run.completion_tokens),
            (1, 1000, 500),
            "the attempt and what it spent stay on record"
        );
        assert!(
            run.output.as_deref().unwrap().len() > 20_000,
            "the paid-for reply is kept"
        );
        assert_eq!(run.cost_micros, Some(450));
        assert!(runs.in_flight().is_empty());
        assert_eq!(get_run(&w.db, &a, &run.id).await.unwrap(), run);
    }
);

on_both_backends!(
    a_caller_that_goes_away_does_not_stop_the_run,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        Mock::given(method("POST"))
            .respond_with(openai_whole("done anyway").set_delay(Duration::from_secs(1)))
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Left", "openai", "")).await;
        let actor = w.fresh(&a).await;
        // A non-streamed call whose caller gives up after 300 ms (the HTTP request was dropped).
        let call = w.runs.run(
            &actor,
            RunRequest {
                stream: false,
                ..request(&agent.id, "x", RunMode::Live)
            },
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(300), call)
                .await
                .is_err()
        );
        assert_eq!(w.runs.in_flight().len(), 1);
        assert_eq!(w.runs.drain(Duration::from_secs(10)).await, 0);
        let runs = list_runs(&w.db, &a, None, 10).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].status, RunStatus::Succeeded);
        assert_eq!(runs[0].output.as_deref(), Some("done anyway"));
    }
);

on_both_backends!(
    errors_before_the_call_come_back_before_anything_runs,
    |w: World| async move {
        use super::admit::{Admission, AdmitRequest, Gate, Refusal, RefusalKind, Verdict};

        #[derive(Debug)]
        struct Closed;
        impl Gate for Closed {
            fn admit<'a>(&'a self, run: &'a AdmitRequest) -> Verdict<'a> {
                let refusal = Refusal {
                    kind: if run.mode == RunMode::Mock {
                        RefusalKind::RateLimited
                    } else {
                        RefusalKind::BudgetExceeded
                    },
                    message: format!("{} tokens is over the limit", run.input_tokens),
                    // 6.2 s: the client is told 7, never less.
                    retry_after: Some(Duration::from_millis(6_200)),
                };
                Box::pin(std::future::ready(Err::<Admission, _>(refusal)))
            }
        }

        let a = w.workspace("a@example.com").await;
        let b = w.workspace("b@example.com").await;
        let agent = w.agent(&a, &mock_draft("Gated")).await;
        // Not found, not allowed, too large: errors, and no run row.
        assert!(matches!(
            w.try_run(&b, &agent.id, "x", RunMode::Mock).await,
            Err(CoreError::NotFound)
        ));
        assert_eq!(
            field_of(
                w.try_run(&a, &agent.id, "x", RunMode::Live)
                    .await
                    .unwrap_err()
            ),
            ["mode"]
        );
        // A refusal by the gate is recorded as a run and is an error with its own status.
        let gated = w.with_config(RunsConfig {
            gate: std::sync::Arc::new(Closed),
            ..RunsConfig::default()
        });
        let actor = w.fresh(&a).await;
        let limited = gated
            .start(&actor, request(&agent.id, "x", RunMode::Mock))
            .await
            .unwrap_err();
        assert!(
            matches!(
                limited,
                CoreError::RateLimited {
                    retry_after_secs: 7
                }
            ),
            "{limited:?}"
        );
        w.key(&a, "openai").await;
        let over = gated
            .start(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Live))
            .await
            .unwrap_err();
        assert!(
            matches!(&over, CoreError::BudgetExceeded { message } if message.contains("over the limit")),
            "{over:?}"
        );
        let runs = list_runs(&w.db, &a, None, 10).await.unwrap();
        let statuses: Vec<RunStatus> = runs.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [RunStatus::BudgetExceeded, RunStatus::RateLimited]
        );
        assert!(runs.iter().all(|r| r.attempts == 0 && r.total_tokens == 0));
        assert!(w.upstream.received_requests().await.unwrap().is_empty());
    }
);

on_both_backends!(
    output_larger_than_the_cap_ends_the_run_as_output_too_large,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let cap = 64 * 1024;
        let runs = w.with_config(RunsConfig {
            max_output_bytes: cap,
            ..RunsConfig::default()
        });
        let piece = "z".repeat(16 * 1024);
        let many: Vec<&str> = std::iter::repeat_n(piece.as_str(), 8).collect();
        Mock::given(method("POST"))
            .and(body_partial_json(json!({"stream": true})))
            .respond_with(openai_stream(&many))
            .with_priority(1)
            .mount(&w.upstream)
            .await;
        Mock::given(method("POST"))
            .respond_with(openai_whole(&"w".repeat(cap + 1)))
            .with_priority(2)
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Wordy", "openai", "")).await;
        let actor = w.fresh(&a).await;
        for stream in [true, false] {
            let run = runs
                .run(
                    &actor,
                    RunRequest {
                        stream,
                        ..request(&agent.id, "x", RunMode::Live)
                    },
                )
                .await
                .unwrap();
            assert_eq!(run.status, RunStatus::Failed, "stream {stream}");
            assert_eq!(run.error_kind.as_deref(), Some("output_too_large"));
            assert!(run.error_message.as_deref().unwrap().contains("65536"));
            assert!(run.output.as_ref().is_none_or(|o| o.len() <= cap));
            assert_eq!(run.attempts, 1, "too large is never retried");
        }
        // A mock reply past the cap: an agent saved before the rule existed (written directly).
        let huge = json!({"type": "array", "minItems": 10_000,
            "items": {"type": "string", "minLength": 10_000}});
        sqlx::query("UPDATE agents SET output_schema = $1 WHERE id = $2")
            .bind(huge.to_string())
            .bind(&agent.id)
            .execute(w.db.pool())
            .await
            .unwrap();
        crate::workspaces::bump_generation(w.db.pool(), &a.workspace_id)
            .await
            .unwrap();
        let run = runs
            .run(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Mock))
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("output_too_large"));
        assert_eq!(run.output, None);
        // Saving that contract now is refused on its field.
        let d = draft("Huge", "openai", &huge.to_string());
        let err = crate::agents::create_agent(&w.db, &runs.save_rules(), &a, &d)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, CoreError::Validation(e) if e[0].field == "output_schema"
                && e[0].message.contains("at least 95.4 MiB")),
            "{err:?}"
        );
    }
);

on_both_backends!(
    validation_messages_never_copy_a_huge_input,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let mut d = mock_draft("Strict");
        d.input_schema = r#"{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","maxLength":3}}}}"#.into();
        let agent = w.agent(&a, &d).await;
        let tag = "Q".repeat(1_000);
        let input = json!({"tags": vec![tag; 90]}).to_string();
        assert!(input.len() < MAX_INPUT_BYTES);
        let run = w.run(&a, &agent.id, &input, RunMode::Mock).await;
        assert_eq!(run.status, RunStatus::InputInvalid);
        assert_eq!(run.field_errors.len(), 50, "at most 50 messages");
        let message = run.error_message.unwrap();
        assert!(!message.contains("QQQQ"), "{message}");
        assert!(message.len() < 16 * 1024 + 4);
    }
);

on_both_backends!(
    a_panic_in_the_repair_keeps_both_attempts_numbered,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let mut d = mock_draft("Repairs");
        d.output_schema =
            r#"{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}"#.into();
        d.repair_output = true;
        let agent = w.agent(&a, &d).await;
        // The first reply is not JSON; the repair call dies.
        let runs = w.with_config(RunsConfig {
            script: Some(Scripted::new(|request| {
                if request.user.contains("Your previous reply was") {
                    Script::PanicAfter(Vec::new())
                } else {
                    Script::Reply("not json".into())
                }
            })),
            ..RunsConfig::default()
        });
        let run = runs
            .run(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Mock))
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("internal"));
        assert_eq!(
            run.attempts, 1,
            "the first call ended; the repair never did"
        );
        assert_eq!(attempts_of(&w, &run.id).await.len(), 1);
        assert!(runs.in_flight().is_empty());
    }
);

on_both_backends!(
    a_stopped_or_cut_off_stream_keeps_what_it_spent,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        w.key(&a, "anthropic").await;
        // Anthropic reports input tokens first; output arrives, then the stream stalls.
        Mock::given(method("POST"))
            .and(path("/v1/messages"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(
                concat!(
                    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n",
                    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"partial answer\"}}\n\n",
                ),
                "text/event-stream",
            ))
            .mount(&w.upstream)
            .await;
        let mut d = draft("Stalls", "anthropic", "");
        d.model = "claude-haiku-4-5".into();
        let agent = w.agent(&a, &d).await;
        // The body ends without a stop reason: the stream was cut off, not finished.
        let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
        assert_eq!(run.status, RunStatus::Failed, "{:?}", run.error_message);
        assert_eq!(run.error_kind.as_deref(), Some("stream"));
        assert_eq!(run.output.as_deref(), Some("partial answer"));
        assert_eq!(
            (run.prompt_tokens, run.completion_tokens, run.cost_source),
            (40, 1, CostSource::ProviderUsage),
            "the usage the provider reported is kept"
        );
        assert!(run.cost_micros.unwrap() > 0);
        assert_eq!(run.attempts, 1, "not retried after tokens reached the user");
    }
);

on_both_backends!(
    only_builders_stop_runs_and_congestion_is_busy_not_bad_input,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let v = w.workspace("v@example.com").await;
        let viewer = w.join(&a, &v, "viewer").await;
        let mut d = mock_draft("Templated");
        d.prompt_template = "Q: {{ input }}".into();
        let agent = w.agent(&a, &d).await;
        let started = w
            .runs
            .start(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Mock))
            .await
            .unwrap();
        assert!(
            matches!(
                w.runs.cancel(&viewer, &started.run_id).await,
                Err(CoreError::Forbidden)
            ),
            "viewers only read"
        );
        assert!(w.runs.cancel(&a, &started.run_id).await.unwrap());
        let (_, run) = drain(started).await;
        assert_eq!(run.unwrap().status, RunStatus::Cancelled);
        // The template renders on the CPU pool; a pool that is full is "busy", a 503.
        let pool = crate::cpu::CpuPool::new(1, Duration::from_millis(50));
        let runs = w.with_config(RunsConfig {
            cpu: pool.clone(),
            ..RunsConfig::default()
        });
        tokio::spawn(async move {
            pool.run(|| std::thread::sleep(Duration::from_secs(1)))
                .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let err = runs
            .start(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Mock))
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::Busy { .. }), "{err:?}");
    }
);

on_both_backends!(
    a_mock_contract_of_huge_constants_stops_at_the_cap,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        // Passes the save check (its smallest reply is `null`), but the mock takes the first
        // branch: 10,000 copies of a 50 KB constant — 500 MB unbounded.
        let big = json!(vec!["0123456789"; 4_000]);
        let schema = json!({"anyOf": [
            {"type": "array", "minItems": 10_000, "items": {"const": big}},
            {"type": "null"}
        ]});
        let agent = w
            .agent(&a, &draft("Consts", "openai", &schema.to_string()))
            .await;
        let run = w.run(&a, &agent.id, "x", RunMode::Mock).await;
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("output_too_large"));
    }
);

// A late or repeated write of a run that has ended — a retried final write whose first try
// had committed, a Stop or a failure that lost the race — changes nothing: not the row, not
// its attempts. A run marked `interrupted` while it was in fact still going takes its final row.
on_both_backends!(
    a_finished_run_is_never_overwritten_by_a_late_write,
    |w: World| async move {
        use super::record::RunHead;
        use super::recorder::{Recorder, Write};
        use super::store::AttemptRow;

        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &mock_draft("Echo")).await;
        let run = w.run(&a, &agent.id, "hello", RunMode::Mock).await;
        assert_eq!(run.status, RunStatus::Succeeded);
        let attempts = attempts_of(&w, &run.id).await;
        assert_eq!(attempts.len(), 1);

        let head = |id: &str| RunHead {
            id: id.to_owned(),
            actor: a.clone(),
            agent_id: agent.id.clone(),
            agent_name: "Echo".into(),
            agent_version: run.agent_version,
            mode: RunMode::Mock,
            trigger: run.trigger,
            input: "hello".into(),
            provider: run.provider.clone(),
            model: run.model.clone(),
            credential_id: None,
            api_token: None,
            conversation: None,
            instance_id: None,
            replay_of: None,
            created_at: run.created_at,
            started: std::time::Instant::now(),
        };
        let ended = |id: &str, status: RunStatus| {
            let mut row = head(id).running_row();
            row.status = status;
            row.error_kind = Some("late".into());
            row.error_message = Some("a late write".into());
            row.finished_at = Some(crate::db::now_ms());
            Write {
                attempts: vec![AttemptRow {
                    run_id: id.to_owned(),
                    workspace_id: a.workspace_id.clone(),
                    number: 1,
                    http_status: Some(500),
                    error_class: Some("server".into()),
                    error_message: Some("late".into()),
                    waited_ms: 0,
                    latency_ms: 1,
                    prompt_tokens: None,
                    completion_tokens: None,
                }],
                run: row,
                used_key: None,
            }
        };
        let recorder = Recorder::start(w.db.clone());
        for status in [RunStatus::Running, RunStatus::Cancelled, RunStatus::Failed] {
            recorder.write(ended(&run.id, status)).await.unwrap();
        }
        assert_eq!(get_run(&w.db, &a, &run.id).await.unwrap(), run);
        assert_eq!(attempts_of(&w, &run.id).await, attempts);

        // Running, then marked interrupted (as a restarting instance does), then it ends after
        // all: the final row is the one kept.
        let id = crate::db::new_id();
        recorder
            .write(Write {
                run: head(&id).running_row(),
                attempts: Vec::new(),
                used_key: None,
            })
            .await
            .unwrap();
        assert_eq!(mark_interrupted(&w.db).await.unwrap(), 1);
        let interrupted = get_run(&w.db, &a, &id).await.unwrap();
        assert_eq!(interrupted.status, RunStatus::Interrupted);
        recorder
            .write(ended(&id, RunStatus::Cancelled))
            .await
            .unwrap();
        let kept = get_run(&w.db, &a, &id).await.unwrap();
        assert_eq!(kept.status, RunStatus::Cancelled);
        assert_eq!(kept.error_message.as_deref(), Some("a late write"));
        assert_eq!(
            attempts_of(&w, &id).await,
            [(1, Some(500), Some("server".to_owned()))]
        );
    }
);

// A stop's deadline: a run still going when it passes is recorded `interrupted` at once (not at
// the next start), by id: runs that ended are not touched.
on_both_backends!(
    runs_still_going_at_the_stop_deadline_are_recorded_interrupted,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &mock_draft("Hangs")).await;
        let done = w.run(&a, &agent.id, "x", RunMode::Mock).await;
        let runs = scripted(&w, Script::Hang).await;
        let started = runs
            .start(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Mock))
            .await
            .unwrap();
        let id = started.run_id.clone();
        assert_eq!(runs.drain(Duration::from_millis(200)).await, 1);
        let stored = get_run(&w.db, &a, &id).await.unwrap();
        assert_eq!(stored.status, RunStatus::Interrupted);
        assert!(stored.finished_at.is_some());
        assert_eq!(
            get_run(&w.db, &a, &done.id).await.unwrap(),
            done,
            "ended runs untouched"
        );
        drop(started);
    }
);

on_both_backends!(
    a_provider_that_echoes_the_key_never_shows_it_to_the_browser,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        // The key comes back split across three deltas.
        let (one, rest) = KEY.split_at(6);
        let (two, three) = rest.split_at(9);
        let first = format!("your key is {one}");
        Mock::given(method("POST"))
            .respond_with(openai_stream(&[&first, two, three, " — keep it safe"]))
            .expect(1)
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let started = w
            .runs
            .start(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Live))
            .await
            .unwrap();
        let (deltas, run) = drain(started).await;
        let shown = deltas.concat();
        assert!(!shown.contains(&KEY[4..]), "{shown}");
        assert_eq!(shown, "your key is [redacted] — keep it safe");
        let run = run.unwrap();
        assert_eq!(run.output.as_deref(), Some(shown.as_str()));
    }
);

on_both_backends!(
    revoking_a_key_stops_its_runs_at_the_next_attempt,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503).insert_header("retry-after-ms", "400"))
            .expect(1)
            .mount(&w.upstream)
            .await;
        let key = w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Retrying", "openai", "")).await;
        let started = w
            .runs
            .start(&w.fresh(&a).await, request(&agent.id, "x", RunMode::Live))
            .await
            .unwrap();
        // The first attempt failed and the run waits to retry: the key is revoked meanwhile.
        tokio::time::sleep(Duration::from_millis(150)).await;
        crate::credentials::revoke_credential(&w.db, &w.fresh(&a).await, &key.id)
            .await
            .unwrap();
        let (_, run) = drain(started).await;
        let run = run.unwrap();
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.error_kind.as_deref(), Some("key_revoked"));
        assert_eq!(run.attempts, 1, "no attempt after the revocation");
        assert!(run.error_message.unwrap().contains("revoked"));
    }
);

on_both_backends!(
    a_conversation_reaches_the_provider_after_the_agents_system_prompt,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        Mock::given(method("POST"))
            .respond_with(openai_whole("{\"n\": 3}"))
            .mount(&w.upstream)
            .await;
        w.key(&a, "openai").await;
        let agent = w.agent(&a, &draft("Chat", "openai", "")).await;
        let actor = w.fresh(&a).await;
        let schema = json!({"type": "object", "required": ["n"]});
        let run = w
            .runs
            .run(
                &actor,
                RunRequest {
                    stream: false,
                    conversation: Some(Conversation {
                        system: "Answer in JSON.".into(),
                        turns: vec![
                            crate::providers::Turn {
                                speaker: crate::providers::Speaker::User,
                                text: "Count to 2".into(),
                            },
                            crate::providers::Turn {
                                speaker: crate::providers::Speaker::Assistant,
                                text: "1, 2".into(),
                            },
                        ],
                        output_schema: Some(schema.clone()),
                    }),
                    ..request(&agent.id, "Now to 3", RunMode::Live)
                },
            )
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        assert_eq!(run.input, "Now to 3");
        assert_eq!(run.finish_reason.as_deref(), Some("stop"));
        let requests = w.upstream.received_requests().await.unwrap();
        let body: Value = requests[0].body_json().unwrap();
        let roles: Vec<(&str, &str)> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
            .collect();
        assert_eq!(
            roles,
            [
                ("system", "Be brief.\n\nAnswer in JSON."),
                ("user", "Count to 2"),
                ("assistant", "1, 2"),
                ("user", "Now to 3"),
            ]
        );
        // The caller's response format went to the provider, and the answer was checked by it.
        assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
        // The run keeps what the caller sent besides the input (read by id, not in lists).
        let kept = get_run(&w.db, &actor, &run.id).await.unwrap();
        assert_eq!(
            kept.conversation,
            Some(json!({
                "system": "Answer in JSON.",
                "messages": [
                    {"role": "user", "content": "Count to 2"},
                    {"role": "assistant", "content": "1, 2"}
                ],
                "response_format": schema,
            }))
        );
        let listed = list_runs(&w.db, &actor, Some(&agent.id), 10).await.unwrap();
        assert_eq!(listed[0].conversation, None);
        assert_eq!(
            request(&agent.id, "x", RunMode::Mock)
                .conversation
                .and_then(|c| c.record()),
            None
        );
        let checked = w
            .runs
            .run(
                &actor,
                RunRequest {
                    conversation: Some(Conversation {
                        output_schema: Some(json!({"type": "object", "required": ["m"]})),
                        ..Conversation::default()
                    }),
                    stream: false,
                    ..request(&agent.id, "x", RunMode::Live)
                },
            )
            .await
            .unwrap();
        assert_eq!(checked.status, RunStatus::OutputInvalid);
    }
);

on_both_backends!(
    a_conversation_is_bounded_and_cannot_override_the_agents_schema,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let typed = w
            .agent(
                &a,
                &draft(
                    "Typed",
                    "openai",
                    r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
                ),
            )
            .await;
        let free = w.agent(&a, &mock_draft("Free")).await;
        let actor = w.fresh(&a).await;
        let with = |agent: &str, conversation: Conversation| RunRequest {
            conversation: Some(conversation),
            ..request(agent, "x", RunMode::Mock)
        };
        // The agent's own schema wins; the caller's is held to an agent schema's rules, must be
        // usable and an object (providers answer one).
        for (agent, bad) in [
            (&typed.id, json!({"type": "object"})),
            (&free.id, json!({"type": "no such type"})),
            (&free.id, json!(true)),
            (&free.id, json!({"type": "string"})),
            (
                &free.id,
                json!({"type": "object", "description": "x".repeat(70 * 1024)}),
            ),
        ] {
            let conversation = Conversation {
                output_schema: Some(bad.clone()),
                ..Conversation::default()
            };
            let e = w
                .runs
                .run(&actor, with(agent, conversation))
                .await
                .unwrap_err();
            assert_eq!(field_of(e), ["response_format"], "{bad}");
        }
        let turn = |text: &str| crate::providers::Turn {
            speaker: crate::providers::Speaker::User,
            text: text.into(),
        };
        let too_many = Conversation {
            turns: vec![turn("t"); MAX_CONVERSATION_TURNS + 1],
            ..Conversation::default()
        };
        let too_long = Conversation {
            turns: vec![turn(&"x".repeat(MAX_CONVERSATION_BYTES / 2 + 1)); 2],
            ..Conversation::default()
        };
        for conversation in [too_many, too_long] {
            let e = w
                .runs
                .run(&actor, with(&free.id, conversation))
                .await
                .unwrap_err();
            assert_eq!(field_of(e), ["messages"]);
        }
        // Nothing was recorded for the refusals; a conversation within bounds runs.
        let fine = w
            .runs
            .run(
                &actor,
                with(
                    &free.id,
                    Conversation {
                        turns: vec![turn("t"); MAX_CONVERSATION_TURNS],
                        ..Conversation::default()
                    },
                ),
            )
            .await
            .unwrap();
        assert_eq!(fine.status, RunStatus::Succeeded);
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs")
            .fetch_one(w.db.pool())
            .await
            .unwrap();
        assert_eq!(count, 1);
    }
);

/// Two instances on one PostgreSQL: a Stop made on the one that does not execute the run is
/// forwarded to the one that does, which cancels it; another workspace's Stop is refused.
#[tokio::test]
async fn a_stop_reaches_a_run_executing_on_another_instance() {
    let url = crate::db::testing::fresh_postgres_url().await.unwrap();
    let db = crate::db::Db::open(&url).await.unwrap();
    let w = World::on(db, None, RunsConfig::default()).await;
    let a = w.workspace("a@example.com").await;
    let b = w.workspace("b@example.com").await;
    Mock::given(method("POST"))
        .respond_with(openai_stream(&["late"]).set_delay(Duration::from_secs(30)))
        .mount(&w.upstream)
        .await;
    w.key(&a, "openai").await;
    let agent = w.agent(&a, &draft("Held", "openai", "")).await;
    // The run executes on "instance B", which listens for forwarded Stops.
    let on_b = Runs::new(
        w.db.clone(),
        w.vault.clone(),
        w.http.clone(),
        RunsConfig {
            instance_id: Some("instance-b".into()),
            ..RunsConfig::default()
        },
    );
    let listening = listen_for_stops(url.clone(), on_b.in_flight().clone());
    let actor = w.fresh(&a).await;
    let started = on_b
        .start(&actor, request(&agent.id, "x", RunMode::Live))
        .await
        .unwrap();
    let run_id = started.run_id.clone();
    // Another workspace cannot stop it from anywhere; the run's own workspace can, from the
    // instance that does not execute it (until the listener has subscribed, a Stop may find no
    // one listening: it is repeated, as a person would click again).
    assert!(!w.runs.cancel(&w.fresh(&b).await, &run_id).await.unwrap());
    let ended = tokio::spawn(drain(started));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut forwarded = false;
    while !ended.is_finished() {
        // (The last pass may come after the run ended: then there is nothing to stop.)
        forwarded |= w.runs.cancel(&actor, &run_id).await.unwrap();
        assert!(
            std::time::Instant::now() < deadline,
            "the Stop never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(forwarded);
    let (_, run) = ended.await.unwrap();
    assert_eq!(run.unwrap().status, RunStatus::Cancelled);
    // Ended: nothing left to stop.
    assert!(!w.runs.cancel(&actor, &run_id).await.unwrap());
    listening.abort();
    w.db.close().await;
}

on_both_backends!(
    runs_are_found_by_every_filter_and_paged_by_cursor,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &mock_draft("Echo")).await;
        let other = w.agent(&a, &mock_draft("Other")).await;
        w.run(&a, &agent.id, "The NEEDLE is here", RunMode::Mock)
            .await;
        w.run(&a, &agent.id, "100% sure_thing! Ärger", RunMode::Mock)
            .await;
        w.try_run_with(
            &a,
            &other.id,
            "from the api",
            RunMode::Mock,
            RunTrigger::Api,
        )
        .await
        .unwrap();
        let actor = w.fresh(&a).await;
        let count = |query: RunQuery| {
            let (db, actor) = (w.db.clone(), actor.clone());
            async move {
                query_runs(
                    &db,
                    &actor,
                    &RunQuery {
                        limit: 100,
                        ..query
                    },
                )
                .await
                .unwrap()
                .runs
                .len()
            }
        };
        let text = |t: &str| RunQuery {
            text: Some(t.into()),
            ..RunQuery::default()
        };
        assert_eq!(count(text("needle")).await, 1, "case-insensitive");
        assert_eq!(count(text("100%")).await, 1);
        assert_eq!(count(text("%")).await, 1, "a % is text, not a wildcard");
        assert_eq!(count(text("_")).await, 1, "so is an underscore");
        assert_eq!(
            count(text("e_e")).await,
            0,
            "(a wildcard _ would match \"ere\")"
        );
        let by = |q: RunQuery| q;
        assert_eq!(
            count(by(RunQuery {
                trigger: Some(RunTrigger::Api),
                ..RunQuery::default()
            }))
            .await,
            1
        );
        assert_eq!(
            count(by(RunQuery {
                agent_id: Some(agent.id.clone()),
                mode: Some(RunMode::Mock),
                model: Some("gpt-4o-mini".into()),
                ..RunQuery::default()
            }))
            .await,
            2
        );
        assert_eq!(
            count(by(RunQuery {
                mode: Some(RunMode::Live),
                ..RunQuery::default()
            }))
            .await,
            0
        );
        let now = crate::db::now_ms();
        assert_eq!(
            count(by(RunQuery {
                from_ms: Some(now - 60_000),
                to_ms: Some(now + 60_000),
                ..RunQuery::default()
            }))
            .await,
            3
        );
        assert_eq!(
            count(by(RunQuery {
                to_ms: Some(now - 60_000),
                ..RunQuery::default()
            }))
            .await,
            0
        );
        // Pages of one, by cursor, newest first, each run once.
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = query_runs(
                &w.db,
                &actor,
                &RunQuery {
                    before: before.clone(),
                    limit: 1,
                    ..RunQuery::default()
                },
            )
            .await
            .unwrap();
            seen.extend(page.runs.iter().map(|r| r.id.clone()));
            match page.next {
                Some(next) => before = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 3);
        seen.dedup();
        assert_eq!(seen.len(), 3);
    }
);
