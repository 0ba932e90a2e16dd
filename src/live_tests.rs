//! Provider keys and live runs end to end below HTTP: keys sealed in the database, rotation and
//! revocation, and runs against a local fake provider (wiremock), recorded with attempts, tokens
//! and cost — on SQLite and PostgreSQL.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::agents::{AgentDraft, create_agent};
use crate::credentials::{
    ProviderUrls, add_credential, list_credentials, providers_with_keys, revoke_credential,
    rewrap_all, rotate_credential, rows_per_master_key, test_credential,
};
use crate::db::Db;
use crate::error::CoreError;
use crate::executor::RetryPolicy;
use crate::runs::{InFlight, RunEvent, RunMode, RunStatus, RunTrigger, Runner, get_run};
use crate::test_support::{join_as, signed_up as owner};
use crate::vault::{KeyringFile, Vault};

const KEY: &str = "sk-live-canary-7f3a9c2e51d04b8e";

fn runner(db: &Db, vault: Arc<Vault>, server: &MockServer) -> Runner {
    Runner {
        db: db.clone(),
        vault,
        http: crate::runs::provider_http_client().unwrap(),
        urls: ProviderUrls {
            openai: format!("{}/v1", server.uri()),
            anthropic: server.uri(),
        },
        policy: RetryPolicy {
            base_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..RetryPolicy::default()
        },
        in_flight: InFlight::default(),
        schemas: Default::default(),
    }
}

fn vault() -> Arc<Vault> {
    Arc::new(Vault::from_file(&KeyringFile::generate()).unwrap())
}

fn draft(name: &str, provider: &str, output_schema: &str) -> AgentDraft {
    AgentDraft {
        name: name.into(),
        description: String::new(),
        provider: provider.into(),
        model: "gpt-4o-mini".into(),
        system_prompt: "Be brief.".into(),
        temperature: "0".into(),
        max_tokens: "50".into(),
        input_schema: String::new(),
        output_schema: output_schema.into(),
        prompt_template: String::new(),
        repair_output: false,
    }
}

fn sse_body(chunks: &[&str]) -> ResponseTemplate {
    let mut body = String::new();
    for c in chunks {
        body.push_str(&format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{}}},\"finish_reason\":null}}]}}\n\n",
            serde_json::to_string(c).unwrap()
        ));
    }
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500,\"total_tokens\":1500}}\n\n");
    body.push_str("data: [DONE]\n\n");
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

on_both_backends!(
    keys_are_sealed_listed_as_summaries_and_audited,
    |db: Db| async move {
        let a = owner(&db, "a@example.com").await;
        let v = vault();
        let added = add_credential(
            &db,
            &v,
            &a,
            "openai",
            "production",
            "",
            SecretString::from(KEY.to_owned()),
        )
        .await
        .unwrap();
        assert_eq!(
            (added.last4.as_str(), added.status.as_str()),
            ("4b8e", "active")
        );
        let (ciphertext,): (String,) =
            sqlx::query_as("SELECT ciphertext FROM provider_credentials")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert!(!ciphertext.contains(KEY) && !ciphertext.contains("canary"));
        let summary_json =
            serde_json::to_string(&list_credentials(&db, &a).await.unwrap()).unwrap();
        assert!(!summary_json.contains(KEY), "{summary_json}");
        assert_eq!(
            providers_with_keys(&db, &a).await.unwrap(),
            [crate::providers::ProviderKind::OpenAi]
        );

        // Members cannot manage keys; other workspaces cannot see them.
        let b = owner(&db, "b@example.com").await;
        assert!(list_credentials(&db, &b).await.unwrap().is_empty());
        assert!(matches!(
            revoke_credential(&db, &b, &added.id).await,
            Err(CoreError::NotFound)
        ));
        let member_user = owner(&db, "m@example.com").await;
        let member = join_as(&db, &a, &member_user, "member").await;
        assert!(matches!(
            list_credentials(&db, &member).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            add_credential(
                &db,
                &v,
                &member,
                "openai",
                "x",
                "",
                SecretString::from(KEY.to_owned())
            )
            .await,
            Err(CoreError::Forbidden)
        ));

        // A ciphertext copied into another row does not decrypt.
        let other = add_credential(
            &db,
            &v,
            &a,
            "openai",
            "other",
            "",
            SecretString::from("sk-other-key-123456".to_owned()),
        )
        .await
        .unwrap();
        sqlx::query("UPDATE provider_credentials SET ciphertext = $1 WHERE id = $2")
            .bind(&ciphertext)
            .bind(&other.id)
            .execute(db.pool())
            .await
            .unwrap();
        let server = MockServer::start().await;
        let r = runner(&db, v.clone(), &server);
        // `other` is the newest active key, so a run resolves it and must fail to open it.
        let agent = create_agent(&db, &a, &draft("Copy", "openai", ""))
            .await
            .unwrap();
        let err = r
            .run(
                &a,
                &agent.id,
                "hi",
                RunMode::Live,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, CoreError::Internal(ref m) if m.contains("does not decrypt")),
            "{err:?}"
        );

        let actions: Vec<(String,)> = sqlx::query_as(
            "SELECT action FROM audit_events WHERE workspace_id = $1 ORDER BY created_at, id",
        )
        .bind(&a.workspace_id)
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(
            actions
                .iter()
                .filter(|(x,)| x == "credential.added")
                .count(),
            2
        );
    }
);

on_both_backends!(
    live_run_streams_records_usage_cost_and_attempts,
    |db: Db| async move {
        let a = owner(&db, "a@example.com").await;
        let v = vault();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .respond_with(sse_body(&["Hel", "lo", " world"]))
            .expect(1)
            .mount(&server)
            .await;
        add_credential(
            &db,
            &v,
            &a,
            "openai",
            "prod",
            "",
            SecretString::from(KEY.to_owned()),
        )
        .await
        .unwrap();
        let agent = create_agent(&db, &a, &draft("Live", "openai", ""))
            .await
            .unwrap();
        let r = runner(&db, v, &server);
        let mut events = Vec::new();
        let run = r
            .run(
                &a,
                &agent.id,
                "Say hello",
                RunMode::Live,
                RunTrigger::TestPanel,
                |e| events.push(e),
            )
            .await
            .unwrap();
        assert!(matches!(&events[0], RunEvent::Started { run_id } if *run_id == run.id));
        let deltas: Vec<String> = events[1..]
            .iter()
            .map(|e| match e {
                RunEvent::Delta(d) => d.clone(),
                RunEvent::Started { .. } => String::new(),
            })
            .collect();
        assert_eq!(deltas, ["Hel", "lo", " world"]);
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(run.output.as_deref(), Some("Hello world"));
        assert_eq!(
            (run.prompt_tokens, run.completion_tokens, run.total_tokens),
            (1000, 500, 1500)
        );
        // gpt-4o-mini: 1000 × $0.15/M + 500 × $0.60/M = 150 + 300 µ$.
        assert_eq!(run.cost_micros, Some(450));
        assert_eq!(run.cost_source, "provider_usage");
        assert_eq!(run.attempts, 1);
        assert!(run.ttft_ms.is_some());
        assert!(r.in_flight.is_empty());
        let stored = get_run(&db, &a, &run.id).await.unwrap();
        assert_eq!(stored, run);
        let attempts: Vec<(i64, Option<i64>, Option<i64>)> = sqlx::query_as(
            "SELECT number, http_status, prompt_tokens FROM run_attempts WHERE run_id = $1",
        )
        .bind(&run.id)
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(attempts, [(1, Some(200), Some(1000))]);
        let (used,): (Option<i64>,) =
            sqlx::query_as("SELECT last_used_at FROM provider_credentials")
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert!(used.is_some());
    }
);

on_both_backends!(
    provider_errors_are_recorded_scrubbed_and_not_retried_when_final,
    |db: Db| async move {
        let a = owner(&db, "a@example.com").await;
        let v = vault();
        let server = MockServer::start().await;
        // The provider echoes the key in its message, as some do.
        Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error"}
        })))
        .expect(1)
        .mount(&server)
        .await;
        add_credential(
            &db,
            &v,
            &a,
            "openai",
            "prod",
            "",
            SecretString::from(KEY.to_owned()),
        )
        .await
        .unwrap();
        let agent = create_agent(&db, &a, &draft("Bad key", "openai", ""))
            .await
            .unwrap();
        let run = runner(&db, v, &server)
            .run(
                &a,
                &agent.id,
                "x",
                RunMode::Live,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
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
            .fetch_one(db.pool())
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
    |db: Db| async move {
        let a = owner(&db, "a@example.com").await;
        let v = vault();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after-ms", "10"))
            .expect(3)
            .mount(&server)
            .await;
        add_credential(
            &db,
            &v,
            &a,
            "openai",
            "prod",
            "",
            SecretString::from(KEY.to_owned()),
        )
        .await
        .unwrap();
        let agent = create_agent(&db, &a, &draft("Busy", "openai", ""))
            .await
            .unwrap();
        let run = runner(&db, v, &server)
            .run(
                &a,
                &agent.id,
                "x",
                RunMode::Live,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::RateLimited);
        assert_eq!(run.attempts, 3);
        let waits: Vec<(i64,)> =
            sqlx::query_as("SELECT waited_ms FROM run_attempts WHERE run_id = $1 ORDER BY number")
                .bind(&run.id)
                .fetch_all(db.pool())
                .await
                .unwrap();
        assert_eq!(waits, [(0,), (10,), (10,)]);
    }
);

on_both_backends!(structured_output_is_validated, |db: Db| async move {
    let a = owner(&db, "a@example.com").await;
    let v = vault();
    let server = MockServer::start().await;
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
        .mount(&server)
        .await;
    add_credential(
        &db,
        &v,
        &a,
        "anthropic",
        "prod",
        "",
        SecretString::from(KEY.to_owned()),
    )
    .await
    .unwrap();
    let schema =
        r#"{"type":"object","properties":{"label":{"enum":["yes","no"]}},"required":["label"]}"#;
    let mut d = draft("Typed", "anthropic", schema);
    d.model = "claude-haiku-4-5".into();
    let agent = create_agent(&db, &a, &d).await.unwrap();
    let run = runner(&db, v, &server)
        .run(
            &a,
            &agent.id,
            "x",
            RunMode::Live,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::OutputInvalid);
    assert!(run.output_is_json);
    assert!(run.error_message.unwrap().starts_with("/label:"));
    assert_eq!((run.prompt_tokens, run.completion_tokens), (10, 7));
    assert_eq!(run.cost_source, "provider_usage");
});

on_both_backends!(rotation_revocation_and_missing_keys, |db: Db| async move {
    let a = owner(&db, "a@example.com").await;
    let v = vault();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("authorization", "Bearer sk-new-key-abcdef12"))
        .respond_with(sse_body(&["new"]))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(sse_body(&["old"]))
        .mount(&server)
        .await;
    let agent = create_agent(&db, &a, &draft("Rot", "openai", ""))
        .await
        .unwrap();
    let r = runner(&db, v.clone(), &server);
    let none = r
        .run(
            &a,
            &agent.id,
            "x",
            RunMode::Live,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await;
    assert!(
        matches!(none, Err(CoreError::Validation(ref e)) if e[0].field == "mode" && e[0].message.contains("OpenAI key"))
    );

    let old = add_credential(
        &db,
        &v,
        &a,
        "openai",
        "prod",
        "",
        SecretString::from(KEY.to_owned()),
    )
    .await
    .unwrap();
    let run = r
        .run(
            &a,
            &agent.id,
            "x",
            RunMode::Live,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(run.output.as_deref(), Some("old"));
    let new = rotate_credential(
        &db,
        &v,
        &a,
        &old.id,
        SecretString::from("sk-new-key-abcdef12".to_owned()),
    )
    .await
    .unwrap();
    let run = r
        .run(
            &a,
            &agent.id,
            "x",
            RunMode::Live,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        run.output.as_deref(),
        Some("new"),
        "the new key is used at once"
    );
    let listed = list_credentials(&db, &a).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.status.as_str()).collect::<Vec<_>>(),
        ["active", "superseded"]
    );
    // Revoke the new key: the superseded one still works until it is revoked too.
    revoke_credential(&db, &a, &new.id).await.unwrap();
    let run = r
        .run(
            &a,
            &agent.id,
            "x",
            RunMode::Live,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(run.output.as_deref(), Some("old"));
    let revoked = revoke_credential(&db, &a, &old.id).await.unwrap();
    assert_eq!(revoked.status, "revoked");
    let (ct,): (String,) =
        sqlx::query_as("SELECT ciphertext FROM provider_credentials WHERE id = $1")
            .bind(&old.id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert!(ct.is_empty(), "revoked keys are erased");
    assert!(
        r.run(
            &a,
            &agent.id,
            "x",
            RunMode::Live,
            RunTrigger::TestPanel,
            |_| {}
        )
        .await
        .is_err()
    );
});

on_both_backends!(test_connection_uses_the_stored_key, |db: Db| async move {
    let a = owner(&db, "a@example.com").await;
    let v = vault();
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("authorization", format!("Bearer {KEY}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"message": "bad key sk-bad-key-9999999", "type": "auth"}}),
        ))
        .mount(&server)
        .await;
    let good = add_credential(
        &db,
        &v,
        &a,
        "openai",
        "good",
        "",
        SecretString::from(KEY.to_owned()),
    )
    .await
    .unwrap();
    let bad = add_credential(
        &db,
        &v,
        &a,
        "openai",
        "bad",
        "",
        SecretString::from("sk-bad-key-9999999".to_owned()),
    )
    .await
    .unwrap();
    let r = runner(&db, v.clone(), &server);
    let ok = test_credential(&db, &v, &r.http, &r.urls, &a, &good.id)
        .await
        .unwrap();
    assert!(ok.ok, "{}", ok.message);
    let failed = test_credential(&db, &v, &r.http, &r.urls, &a, &bad.id)
        .await
        .unwrap();
    assert!(!failed.ok);
    assert!(
        failed.message.contains("rejected the key") && !failed.message.contains("sk-bad-key"),
        "{}",
        failed.message
    );
    let listed = list_credentials(&db, &a).await.unwrap();
    assert_eq!(
        listed.iter().find(|c| c.id == bad.id).unwrap().last_test_ok,
        Some(false)
    );
    let b = owner(&db, "b@example.com").await;
    assert!(matches!(
        test_credential(&db, &v, &r.http, &r.urls, &b, &good.id).await,
        Err(CoreError::NotFound)
    ));
});

on_both_backends!(
    master_key_rotation_while_runs_execute,
    |db: Db| async move {
        let dir = crate::db::testing::TempDir::new().unwrap();
        let path = dir.path().join("keyring.json");
        let v = Arc::new(Vault::open(crate::vault::KeySource::File(path.clone())).unwrap());
        let a = owner(&db, "a@example.com").await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(sse_body(&["ok"]).set_delay(Duration::from_millis(30)))
            .mount(&server)
            .await;
        for i in 0..3 {
            add_credential(
                &db,
                &v,
                &a,
                "openai",
                &format!("k{i}"),
                "",
                SecretString::from(format!("{KEY}{i}")),
            )
            .await
            .unwrap();
        }
        let agent = create_agent(&db, &a, &draft("Busy", "openai", ""))
            .await
            .unwrap();
        let r = runner(&db, v.clone(), &server);
        // Runs keep executing while an operator adds and activates a new master key and rewraps.
        let runs = {
            let r = r.clone();
            let a = a.clone();
            let id = agent.id.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..12 {
                    let run = r
                        .run(&a, &id, "x", RunMode::Live, RunTrigger::Api, |_| {})
                        .await
                        .unwrap();
                    statuses.push(run.status);
                }
                statuses
            })
        };
        tokio::time::sleep(Duration::from_millis(60)).await;
        let mut file = KeyringFile::read(&path).unwrap();
        let new_id = file.add_key();
        file.activate(new_id).unwrap();
        file.write(&path).unwrap();
        let operator = Vault::open(crate::vault::KeySource::File(path.clone())).unwrap();
        assert_eq!(rewrap_all(&db, &operator).await.unwrap(), 3);
        assert_eq!(rows_per_master_key(&db).await.unwrap(), [(new_id, 3)]);
        file.retire(1).unwrap();
        file.write(&path).unwrap();
        let statuses = runs.await.unwrap();
        assert!(
            statuses.iter().all(|s| *s == RunStatus::Succeeded),
            "{statuses:?}"
        );
        // The running vault reloads on the unknown key id and keeps working after the retirement.
        let run = r
            .run(&a, &agent.id, "x", RunMode::Live, RunTrigger::Api, |_| {})
            .await
            .unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(v.active_key_id(), new_id);
    }
);

on_both_backends!(
    a_run_can_be_stopped_from_its_workspace_only,
    |db: Db| async move {
        let a = owner(&db, "a@example.com").await;
        let b = owner(&db, "b@example.com").await;
        let v = vault();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(sse_body(&["slow"]).set_delay(Duration::from_secs(5)))
            .mount(&server)
            .await;
        add_credential(
            &db,
            &v,
            &a,
            "openai",
            "prod",
            "",
            SecretString::from(KEY.to_owned()),
        )
        .await
        .unwrap();
        let agent = create_agent(&db, &a, &draft("Slow", "openai", ""))
            .await
            .unwrap();
        let r = runner(&db, v, &server);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = {
            let r = r.clone();
            let a = a.clone();
            let id = agent.id.clone();
            tokio::spawn(async move {
                r.run(
                    &a,
                    &id,
                    "x",
                    RunMode::Live,
                    RunTrigger::TestPanel,
                    move |e| {
                        let _ = tx.send(e);
                    },
                )
                .await
            })
        };
        let Some(RunEvent::Started { run_id }) = rx.recv().await else {
            unreachable!("first event is Started")
        };
        assert!(
            !r.in_flight.cancel(&b, &run_id),
            "another workspace cannot stop it"
        );
        assert!(r.in_flight.cancel(&a, &run_id));
        let run = handle.await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Cancelled);
        assert!(run.latency_ms < 3000);
    }
);

on_both_backends!(
    workspace_prices_price_runs_and_only_admins_set_them,
    |db: Db| async move {
        use crate::pricing::{delete_price_override, set_price_override};
        let a = owner(&db, "a@example.com").await;
        let v = vault();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(sse_body(&["hi"]))
            .mount(&server)
            .await;
        let base = format!("{}/v1", server.uri());
        add_credential(
            &db,
            &v,
            &a,
            "openai_compatible",
            "local",
            &base,
            SecretString::from(KEY.to_owned()),
        )
        .await
        .unwrap();
        let mut d = draft("Local", "openai_compatible", "");
        d.model = "llama-3-8b".into();
        let agent = create_agent(&db, &a, &d).await.unwrap();
        let r = runner(&db, v, &server);
        let run = r
            .run(
                &a,
                &agent.id,
                "x",
                RunMode::Live,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(
            (run.cost_micros, run.cost_source.as_str()),
            (None, "unpriced"),
            "never $0 for an unknown model"
        );

        let err = set_price_override(&db, &a, "openai_compatible", "llama 3", "x", "-1")
            .await
            .unwrap_err();
        assert!(
            matches!(err, CoreError::Validation(ref e) if e.iter().map(|f| f.field.as_str()).collect::<Vec<_>>() == ["model", "input_price", "output_price"])
        );
        set_price_override(&db, &a, "openai_compatible", "llama-3*", "1", "2")
            .await
            .unwrap();
        // 1000 prompt tokens × $1/M + 500 × $2/M = 1000 + 1000 µ$.
        let run = r
            .run(
                &a,
                &agent.id,
                "x",
                RunMode::Live,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(
            (run.cost_micros, run.cost_source.as_str()),
            (Some(2000), "provider_usage")
        );
        // Replacing the price applies to the next run; deleting it makes the model unpriced again.
        set_price_override(&db, &a, "openai_compatible", "llama-3*", "2", "2")
            .await
            .unwrap();
        let run = r
            .run(
                &a,
                &agent.id,
                "x",
                RunMode::Live,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(run.cost_micros, Some(3000));
        // Another workspace is not affected, and members cannot set prices.
        let b = owner(&db, "b@example.com").await;
        assert!(
            crate::pricing::workspace_prices(&db, &b.workspace_id)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            delete_price_override(&db, &b, "openai_compatible", "llama-3*").await,
            Err(CoreError::NotFound)
        ));
        let m = owner(&db, "m@example.com").await;
        let member = join_as(&db, &a, &m, "member").await;
        assert!(matches!(
            set_price_override(&db, &member, "openai", "gpt-4o", "1", "1").await,
            Err(CoreError::Forbidden)
        ));
        delete_price_override(&db, &a, "openai_compatible", "llama-3*")
            .await
            .unwrap();
        let run = r
            .run(
                &a,
                &agent.id,
                "x",
                RunMode::Live,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(run.cost_micros, None);
    }
);

on_both_backends!(
    contracts_gate_spend_render_templates_and_repair_output,
    |db: Db| async move {
        use wiremock::matchers::body_string_contains;

        let a = owner(&db, "a@example.com").await;
        let v = vault();
        let server = MockServer::start().await;
        // The repair request (it quotes the bad reply) gets valid output; any other gets a
        // reply that breaks the output schema.
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .and(body_string_contains("Your previous reply was"))
            .respond_with(sse_body(&["{\"answer\": ", "\"Because.\"}"]))
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(sse_body(&["{\"answer\": 42}"]))
            .with_priority(2)
            .mount(&server)
            .await;
        add_credential(
            &db,
            &v,
            &a,
            "openai",
            "prod",
            "",
            SecretString::from(KEY.to_owned()),
        )
        .await
        .unwrap();
        let mut d = draft(
            "Contract",
            "openai",
            r#"{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}"#,
        );
        d.input_schema = r#"{"type":"object","properties":{"question":{"type":"string","minLength":2}},"required":["question"],"additionalProperties":false}"#.into();
        d.prompt_template = "Q: {{ question }}".into();
        d.repair_output = true;
        let agent = create_agent(&db, &a, &d).await.unwrap();
        let r = runner(&db, v.clone(), &server);
        let run = |input: &'static str| {
            let r = r.clone();
            let a = a.clone();
            let id = agent.id.clone();
            async move {
                r.run(&a, &id, input, RunMode::Live, RunTrigger::TestPanel, |_| {})
                    .await
                    .unwrap()
            }
        };

        // Invalid input: a recorded run with per-field messages, and nothing sent.
        let bad = run(r#"{"question": "?", "extra": 1}"#).await;
        assert_eq!(bad.status, RunStatus::InputInvalid);
        let fields: Vec<&str> = bad.field_errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["/question", "/"], "{:?}", bad.field_errors);
        assert_eq!(
            (bad.attempts, bad.total_tokens, bad.cost_micros),
            (0, 0, Some(0))
        );
        assert!(server.received_requests().await.unwrap().is_empty());
        assert_eq!(
            get_run(&db, &a, &bad.id).await.unwrap().field_errors,
            bad.field_errors
        );

        // Valid input: the template is the user message; the invalid reply is repaired once.
        let ok = run(r#"{"question": "Why?"}"#).await;
        assert_eq!(ok.status, RunStatus::Succeeded, "{:?}", ok.error_message);
        assert_eq!(ok.attempts, 2);
        assert!(ok.field_errors.is_empty());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(ok.output.as_deref().unwrap()).unwrap(),
            json!({"answer": "Because."})
        );
        assert_eq!((ok.prompt_tokens, ok.completion_tokens), (2000, 1000));
        let requests = server.received_requests().await.unwrap();
        assert_eq!(requests.len(), 2);
        let first: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
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
        .fetch_all(db.pool())
        .await
        .unwrap();
        assert_eq!(
            attempts,
            [(1, Some("output_invalid".to_owned())), (2, None)]
        );

        // Without repair, invalid output is kept and marked, with the validator's messages.
        d.name = "No repair".into();
        d.repair_output = false;
        let plain = create_agent(&db, &a, &d).await.unwrap();
        let out = r
            .run(
                &a,
                &plain.id,
                r#"{"question": "Why?"}"#,
                RunMode::Live,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(out.status, RunStatus::OutputInvalid);
        assert_eq!(out.attempts, 1);
        assert_eq!(out.output.as_deref(), Some("{\n  \"answer\": 42\n}"));
        assert_eq!(out.field_errors.len(), 1);
        assert_eq!(out.field_errors[0].field, "/answer");
        assert_eq!(
            get_run(&db, &a, &out.id).await.unwrap().field_errors,
            out.field_errors
        );
        // Compiled once per agent version and direction, not once per run.
        assert_eq!(r.schemas.len(), 4);
    }
);
