//! Store and business tests, each run twice: on a fresh SQLite file and on a fresh PostgreSQL
//! database (see `db::testing`). They call the same plain functions the server functions call.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use secrecy::SecretString;
use serde_json::{Value, json};

use crate::agents::{AgentDraft, create_agent, delete_agent, get_agent, list_agents, update_agent};
use crate::auth::{LoginThrottle, Passwords, log_in, sign_up};
use crate::db::Db;
use crate::error::CoreError;
use crate::runs::{
    InFlight, RunMode, RunStatus, RunTrigger, Runner, dashboard, list_runs, mark_interrupted,
};
use crate::test_support::{join_as, signed_up as user};
use crate::workspaces::{Role, load_actor};

fn runner(db: &Db) -> Runner {
    Runner {
        db: db.clone(),
        vault: std::sync::Arc::new(
            crate::vault::Vault::from_file(&crate::vault::KeyringFile::generate()).unwrap(),
        ),
        http: crate::runs::provider_http_client().unwrap(),
        urls: crate::credentials::ProviderUrls::default(),
        policy: crate::executor::RetryPolicy::default(),
        in_flight: InFlight::default(),
        schemas: Default::default(),
    }
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn draft(name: &str) -> AgentDraft {
    AgentDraft {
        name: name.into(),
        description: "test agent".into(),
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        system_prompt: "Be brief.".into(),
        temperature: "0.5".into(),
        max_tokens: "256".into(),
        input_schema: String::new(),
        output_schema: String::new(),
        prompt_template: String::new(),
        repair_output: false,
    }
}

fn field_of(e: CoreError) -> Vec<String> {
    match e {
        CoreError::Validation(errs) => errs.into_iter().map(|e| e.field).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

on_both_backends!(
    sign_up_creates_owned_workspace_and_refuses_duplicates,
    |db: Db| async move {
        let actor = user(&db, "Ada@Example.com").await;
        assert_eq!(actor.role, Role::Owner);
        let me = crate::workspaces::current_user(&db, &actor).await.unwrap();
        assert_eq!(me.email, "ada@example.com");
        assert_eq!(me.workspace_name, "Test User's workspace");
        // Same email, other case: refused on the email field.
        let err = sign_up(
            &db,
            &Passwords::new(1),
            "ADA@example.com",
            "Other",
            pw("another password"),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err), ["email"]);
        // Bad input: every field named, nothing written.
        let err = sign_up(&db, &Passwords::new(1), "nope", "", pw("short"))
            .await
            .unwrap_err();
        assert_eq!(field_of(err), ["email", "display_name", "password"]);
        let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(users, 1);
        // The hash is argon2id, never the password.
        let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("correct horse"));
    }
);

on_both_backends!(log_in_checks_password_and_throttles, |db: Db| async move {
    let actor = user(&db, "grace@example.com").await;
    let passwords = Passwords::new(2);
    let throttle = LoginThrottle::new(3, 100);
    let ok = log_in(
        &db,
        &passwords,
        &throttle,
        " Grace@Example.com ",
        pw("correct horse battery"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(ok.user_id, actor.user_id);
    assert_eq!(ok.workspace_id, actor.workspace_id);
    let wrong = log_in(
        &db,
        &passwords,
        &throttle,
        "grace@example.com",
        pw("wrong password"),
        None,
    )
    .await;
    assert!(matches!(wrong, Err(CoreError::InvalidCredentials)));
    let unknown = log_in(
        &db,
        &passwords,
        &throttle,
        "nobody@example.com",
        pw("whatever1"),
        None,
    )
    .await;
    assert!(matches!(unknown, Err(CoreError::InvalidCredentials)));
    // Three attempts a minute for one account: the fourth is refused before any hashing.
    let third = log_in(
        &db,
        &passwords,
        &throttle,
        "grace@example.com",
        pw("wrong again"),
        None,
    )
    .await;
    assert!(matches!(third, Err(CoreError::InvalidCredentials)));
    let limited = log_in(
        &db,
        &passwords,
        &throttle,
        "grace@example.com",
        pw("correct horse battery"),
        None,
    )
    .await;
    assert!(
        matches!(limited, Err(CoreError::RateLimited { retry_after_secs }) if retry_after_secs >= 1)
    );
    // Per-client limit applies across accounts.
    let per_client = LoginThrottle::new(100, 2);
    for _ in 0..2 {
        let _ = log_in(
            &db,
            &passwords,
            &per_client,
            "x@example.com",
            pw("whatever1"),
            Some("10.0.0.1"),
        )
        .await;
    }
    let limited = log_in(
        &db,
        &passwords,
        &per_client,
        "grace@example.com",
        pw("correct horse battery"),
        Some("10.0.0.1"),
    )
    .await;
    assert!(matches!(limited, Err(CoreError::RateLimited { .. })));
});

on_both_backends!(agents_crud_with_versions, |db: Db| async move {
    let actor = user(&db, "a@example.com").await;
    let created = create_agent(&db, &actor, &draft("Triage")).await.unwrap();
    assert_eq!(created.version, 1);
    let mut d = draft("Triage v2");
    d.temperature = "1.5".into();
    d.output_schema =
        r#"{"type":"object","properties":{"label":{"enum":["a","b"]}},"required":["label"]}"#
            .into();
    let updated = update_agent(&db, &actor, &created.id, &d).await.unwrap();
    assert_eq!(updated.version, 2);
    let got = get_agent(&db, &actor, &created.id).await.unwrap();
    assert_eq!(got.config.name, "Triage v2");
    assert_eq!(got.config.temperature, 1.5);
    assert_eq!(
        got.config.output_schema.as_ref().unwrap()["required"],
        json!(["label"])
    );
    assert_eq!(got.created_at, created.created_at);
    let (versions,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM agent_versions WHERE agent_id = $1")
            .bind(&created.id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    assert_eq!(versions, 2);
    let (config,): (String,) =
        sqlx::query_as("SELECT config FROM agent_versions WHERE agent_id = $1 AND version = 1")
            .bind(&created.id)
            .fetch_one(db.pool())
            .await
            .unwrap();
    let v1: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(v1["name"], "Triage", "versions are immutable snapshots");
    let list = list_agents(&db, &actor).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].version, 2);
});

on_both_backends!(
    agent_names_unique_per_workspace_and_schemas_checked,
    |db: Db| async move {
        let a = user(&db, "a@example.com").await;
        let b = user(&db, "b@example.com").await;
        create_agent(&db, &a, &draft("Writer")).await.unwrap();
        let err = create_agent(&db, &a, &draft("writer")).await.unwrap_err();
        assert_eq!(field_of(err), ["name"]);
        // Another workspace may use the name.
        create_agent(&db, &b, &draft("Writer")).await.unwrap();
        // Renaming onto a taken name is refused too.
        let other = create_agent(&db, &a, &draft("Editor")).await.unwrap();
        let err = update_agent(&db, &a, &other.id, &draft("WRITER"))
            .await
            .unwrap_err();
        assert_eq!(field_of(err), ["name"]);
        // A schema that parses but does not compile is refused on its field.
        let mut d = draft("Schema");
        d.input_schema = r#"{"type": "strin"}"#.into();
        d.output_schema = r#"{"$ref": "https://example.com/remote.json"}"#.into();
        let err = create_agent(&db, &a, &d).await.unwrap_err();
        assert_eq!(field_of(err), ["input_schema", "output_schema"]);
        assert_eq!(list_agents(&db, &a).await.unwrap().len(), 2);
    }
);

on_both_backends!(workspaces_are_isolated, |db: Db| async move {
    let a = user(&db, "a@example.com").await;
    let b = user(&db, "b@example.com").await;
    let agent = create_agent(&db, &a, &draft("Private")).await.unwrap();
    runner(&db)
        .run(
            &a,
            &agent.id,
            "hi",
            RunMode::Mock,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
    assert!(matches!(
        get_agent(&db, &b, &agent.id).await,
        Err(CoreError::NotFound)
    ));
    assert!(matches!(
        update_agent(&db, &b, &agent.id, &draft("Mine")).await,
        Err(CoreError::NotFound)
    ));
    assert!(matches!(
        delete_agent(&db, &b, &agent.id).await,
        Err(CoreError::NotFound)
    ));
    assert!(matches!(
        runner(&db)
            .run(
                &b,
                &agent.id,
                "hi",
                RunMode::Mock,
                RunTrigger::TestPanel,
                |_| {}
            )
            .await,
        Err(CoreError::NotFound)
    ));
    assert!(list_agents(&db, &b).await.unwrap().is_empty());
    assert!(list_runs(&db, &b, None, 50).await.unwrap().is_empty());
    assert!(
        list_runs(&db, &b, Some(&agent.id), 50)
            .await
            .unwrap()
            .is_empty()
    );
    let stats = dashboard(&db, &b).await.unwrap();
    assert_eq!((stats.agents, stats.runs), (0, 0));
    // A membership is needed to act in a workspace.
    assert!(
        load_actor(&db, &b.user_id, &a.workspace_id)
            .await
            .unwrap()
            .is_none()
    );
    // A's agent is untouched.
    assert_eq!(
        get_agent(&db, &a, &agent.id).await.unwrap().config.name,
        "Private"
    );
});

on_both_backends!(viewers_read_but_do_not_build, |db: Db| async move {
    let owner = user(&db, "o@example.com").await;
    let viewer_user = user(&db, "v@example.com").await;
    let viewer = join_as(&db, &owner, &viewer_user, "viewer").await;
    assert_eq!(viewer.role, Role::Viewer);
    let agent = create_agent(&db, &owner, &draft("Shared")).await.unwrap();
    assert_eq!(list_agents(&db, &viewer).await.unwrap().len(), 1);
    assert!(matches!(
        create_agent(&db, &viewer, &draft("Nope")).await,
        Err(CoreError::Forbidden)
    ));
    assert!(matches!(
        update_agent(&db, &viewer, &agent.id, &draft("Nope")).await,
        Err(CoreError::Forbidden)
    ));
    assert!(matches!(
        delete_agent(&db, &viewer, &agent.id).await,
        Err(CoreError::Forbidden)
    ));
    assert!(matches!(
        runner(&db)
            .run(
                &viewer,
                &agent.id,
                "x",
                RunMode::Mock,
                RunTrigger::TestPanel,
                |_| {}
            )
            .await,
        Err(CoreError::Forbidden)
    ));
});

on_both_backends!(mock_runs_are_recorded_with_metrics, |db: Db| async move {
    let a = user(&db, "a@example.com").await;
    let agent = create_agent(&db, &a, &draft("Echo")).await.unwrap();
    let run = runner(&db)
        .run(
            &a,
            &agent.id,
            "Summarise this, please.",
            RunMode::Mock,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
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
    assert_eq!(run.cost_source, "estimated");
    assert_eq!((run.attempts, run.agent_version), (1, 1));
    assert!(run.finished_at.unwrap() >= run.created_at);
    // The same input gives the same output (deterministic mock).
    let again = runner(&db)
        .run(
            &a,
            &agent.id,
            "Summarise this, please.",
            RunMode::Mock,
            RunTrigger::Dashboard,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(again.output, run.output);
    let listed = list_runs(&db, &a, Some(&agent.id), 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [again.id.as_str(), run.id.as_str()]
    );
    assert_eq!(listed[1], run, "what was returned is what was stored");
    let stats = dashboard(&db, &a).await.unwrap();
    assert_eq!(
        (stats.agents, stats.runs, stats.succeeded, stats.failed),
        (1, 2, 2, 0)
    );
    assert_eq!(stats.total_tokens, run.total_tokens * 2);
    assert!(stats.avg_latency_ms.unwrap() >= simulated);
    assert_eq!(stats.recent.len(), 2);
    // Live mode is refused until provider keys exist, without a run.
    let live = runner(&db)
        .run(
            &a,
            &agent.id,
            "x",
            RunMode::Live,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await;
    assert_eq!(field_of(live.unwrap_err()), ["mode"]);
    // Oversized input is refused before anything is stored.
    let big = "x".repeat(crate::runs::MAX_INPUT_BYTES + 1);
    let err = runner(&db)
        .run(
            &a,
            &agent.id,
            &big,
            RunMode::Mock,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(field_of(err), ["input"]);
    assert_eq!(list_runs(&db, &a, None, 100).await.unwrap().len(), 2);
});

on_both_backends!(schemas_gate_input_and_shape_output, |db: Db| async move {
    let a = user(&db, "a@example.com").await;
    let mut d = draft("Typed");
    d.input_schema = r#"{"type":"object","properties":{"text":{"type":"string","minLength":3}},"required":["text"]}"#.into();
    d.output_schema = r#"{"type":"object","properties":{"label":{"enum":["spam","ham"]},"score":{"type":"number","minimum":0,"maximum":1}},"required":["label","score"]}"#.into();
    let agent = create_agent(&db, &a, &d).await.unwrap();

    let not_json = runner(&db)
        .run(
            &a,
            &agent.id,
            "hello",
            RunMode::Mock,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(not_json.status, RunStatus::InputInvalid);
    assert_eq!(
        (not_json.total_tokens, not_json.attempts),
        (0, 0),
        "no provider call"
    );
    assert!(not_json.error_message.unwrap().contains("must be JSON"));

    let invalid = runner(&db)
        .run(
            &a,
            &agent.id,
            r#"{"text": "hi"}"#,
            RunMode::Mock,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(invalid.status, RunStatus::InputInvalid);
    assert_eq!(invalid.error_kind.as_deref(), Some("input_invalid"));
    assert_eq!(invalid.field_errors.len(), 1);
    assert_eq!(invalid.field_errors[0].field, "/text");
    assert!(invalid.error_message.unwrap().starts_with("/text:"));
    assert_eq!(invalid.output, None);

    let ok = runner(&db)
        .run(
            &a,
            &agent.id,
            r#"{"text": "win a prize"}"#,
            RunMode::Mock,
            RunTrigger::TestPanel,
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(ok.status, RunStatus::Succeeded, "{:?}", ok.error_message);
    assert!(ok.output_is_json);
    let out: Value = serde_json::from_str(ok.output.as_deref().unwrap()).unwrap();
    assert!(["spam", "ham"].contains(&out["label"].as_str().unwrap()));
    let stats = dashboard(&db, &a).await.unwrap();
    assert_eq!((stats.runs, stats.succeeded, stats.failed), (3, 1, 2));
});

on_both_backends!(
    deleting_an_agent_keeps_its_runs_and_audits,
    |db: Db| async move {
        let a = user(&db, "a@example.com").await;
        let agent = create_agent(&db, &a, &draft("Doomed")).await.unwrap();
        let run = runner(&db)
            .run(
                &a,
                &agent.id,
                "x",
                RunMode::Mock,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
        delete_agent(&db, &a, &agent.id).await.unwrap();
        assert!(matches!(
            get_agent(&db, &a, &agent.id).await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            delete_agent(&db, &a, &agent.id).await,
            Err(CoreError::NotFound)
        ));
        let kept = crate::runs::get_run(&db, &a, &run.id).await.unwrap();
        assert_eq!(kept.agent_id, None);
        assert_eq!(kept.agent_name, "Doomed");
        let (action, target): (String, String) =
            sqlx::query_as("SELECT action, target FROM audit_events WHERE workspace_id = $1")
                .bind(&a.workspace_id)
                .fetch_one(db.pool())
                .await
                .unwrap();
        assert_eq!(
            (action.as_str(), target.as_str()),
            ("agent.deleted", agent.id.as_str())
        );
    }
);

on_both_backends!(
    runs_left_running_are_marked_interrupted,
    |db: Db| async move {
        let a = user(&db, "a@example.com").await;
        let agent = create_agent(&db, &a, &draft("Crashy")).await.unwrap();
        let done = runner(&db)
            .run(
                &a,
                &agent.id,
                "x",
                RunMode::Mock,
                RunTrigger::TestPanel,
                |_| {},
            )
            .await
            .unwrap();
        sqlx::query("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = $1")
            .bind(&done.id)
            .execute(db.pool())
            .await
            .unwrap();
        assert_eq!(mark_interrupted(&db).await.unwrap(), 1);
        assert_eq!(mark_interrupted(&db).await.unwrap(), 0);
        let run = crate::runs::get_run(&db, &a, &done.id).await.unwrap();
        assert_eq!(run.status, RunStatus::Interrupted);
        assert!(run.finished_at.is_some());
    }
);

#[tokio::test]
async fn sqlite_is_configured_and_durable_across_reopen() {
    let dir = crate::db::testing::TempDir::new().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
    let db = Db::open(&url).await.unwrap();
    let actor = user(&db, "a@example.com").await;
    create_agent(&db, &actor, &draft("Kept")).await.unwrap();
    // Every pooled connection has the settings, not just the first.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(db.pool().acquire().await.unwrap());
    }
    for conn in &mut conns {
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!((fk, sync), (1, 1), "foreign keys on, synchronous NORMAL");
    }
    drop(conns);
    db.check_settings().await.unwrap();
    db.close().await;
    // Reopen (migrations are idempotent) and find the data.
    let db = Db::open(&url).await.unwrap();
    assert_eq!(list_agents(&db, &actor).await.unwrap()[0].name, "Kept");
    db.close().await;
}

#[tokio::test]
async fn unsupported_urls_are_refused_by_name() {
    let err = Db::connect("mysql://localhost/x").await.unwrap_err();
    assert!(err.to_string().contains("DATABASE_URL"), "{err}");
}
