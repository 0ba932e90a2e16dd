//! Versions, publishing, compare and replay on both databases.

use serde_json::json;

use super::*;
use crate::agents::{
    AgentDraft, get_agent, get_version, list_versions, output_schema_impact, publish_version,
    restore_version, update_agent,
};
use crate::diff::{FieldDiff, OutputDiff};
use crate::runs::{RunMode, RunStatus};
use crate::testing::{World, draft};

fn triage(prompt: &str) -> AgentDraft {
    AgentDraft {
        system_prompt: prompt.into(),
        ..draft("Triage", "openai", "")
    }
}

on_both_backends!(
    edits_versions_compare_replay_and_restore,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let v1 = w.agent(&a, &triage("Answer briefly.")).await;
        let first = w
            .run(&a, &v1.id, "the printer is on fire", RunMode::Mock)
            .await;
        let a = w.fresh(&a).await;
        let v2 = update_agent(
            &w.db,
            &w.rules(),
            &a,
            &v1.id,
            &triage("Answer at length.\nCite sources."),
        )
        .await
        .unwrap();
        assert_eq!(v2.version, 2);
        let second = w
            .run(&a, &v1.id, "the printer is on fire", RunMode::Mock)
            .await;
        assert_eq!((first.agent_version, second.agent_version), (1, 2));
        assert_eq!(
            second.price_table_version.as_deref(),
            Some(crate::pricing::PRICE_TABLE_VERSION)
        );

        // Compare: the prompt change, line by line, and the output change.
        let cpu = w.rules().cpu;
        let cmp = compare_runs(&w.db, &cpu, &a, &first.id, &second.id)
            .await
            .unwrap();
        let config = cmp.config.expect("both versions readable");
        let fields: Vec<&str> = config.diff.iter().map(FieldDiff::field).collect();
        assert_eq!(fields, ["System prompt"]);
        assert_ne!(first.output, second.output, "the mock answers by prompt");
        assert!(matches!(cmp.output.diff, OutputDiff::Text { ref pieces } if !pieces.is_empty()));
        assert_eq!(cmp.a_attempts.len(), 1);
        // Same run twice: no config change, no output change.
        let same = compare_runs(&w.db, &cpu, &a, &second.id, &second.id)
            .await
            .unwrap();
        assert!(same.config.unwrap().diff.is_empty());
        assert!(matches!(same.output.diff, OutputDiff::Text { ref pieces } if pieces.len() == 1));
        assert_eq!(
            previous_run(&w.db, &a, &second).await.unwrap(),
            Some(first.id.clone())
        );
        assert_eq!(previous_run(&w.db, &a, &first).await.unwrap(), None);

        // Replay the second run on version 1: the first run's answer again, linked to the second.
        let replay = Replay {
            run_id: second.id.clone(),
            version: Some(1),
            model: None,
            mode: RunMode::Mock,
        };
        let request = replay_request(&w.db, &a, &replay, RunTrigger::TestPanel)
            .await
            .unwrap();
        let replayed = w.runs.run(&w.fresh(&a).await, request).await.unwrap();
        assert_eq!(replayed.agent_version, 1);
        assert_eq!(replayed.replay_of.as_deref(), Some(second.id.as_str()));
        assert_eq!(replayed.output, first.output);
        // With another model, on the latest version.
        let other = Replay {
            version: None,
            model: Some("gpt-4o".into()),
            ..replay.clone()
        };
        let request = replay_request(&w.db, &a, &other, RunTrigger::TestPanel)
            .await
            .unwrap();
        let on_other = w.runs.run(&w.fresh(&a).await, request).await.unwrap();
        assert_eq!(
            (on_other.agent_version, on_other.model.as_str()),
            (2, "gpt-4o")
        );
        let cmp = compare_runs(&w.db, &cpu, &a, &second.id, &on_other.id)
            .await
            .unwrap();
        let fields: Vec<String> = cmp
            .config
            .unwrap()
            .diff
            .iter()
            .map(|d| d.field().to_owned())
            .collect();
        assert_eq!(fields, ["Model"]);
        // A version that does not exist is a field error, a run of another workspace not found.
        let bad = Replay {
            version: Some(9),
            ..replay.clone()
        };
        let request = replay_request(&w.db, &a, &bad, RunTrigger::TestPanel)
            .await
            .unwrap();
        let err = w.runs.run(&w.fresh(&a).await, request).await.unwrap_err();
        assert!(
            matches!(err, CoreError::Validation(ref e) if e[0].field == "version"),
            "{err:?}"
        );
        let b = w.workspace("b@example.com").await;
        assert!(matches!(
            replay_request(&w.db, &b, &replay, RunTrigger::TestPanel).await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            compare_runs(&w.db, &cpu, &b, &first.id, &second.id).await,
            Err(CoreError::NotFound)
        ));

        // Restore version 1: a new version 3 equal to it; history unchanged.
        let restored = restore_version(&w.db, &w.rules(), &w.fresh(&a).await, &v1.id, 1)
            .await
            .unwrap();
        assert_eq!(restored.version, 3);
        assert_eq!(restored.config.system_prompt, "Answer briefly.");
        let history = list_versions(&w.db, &a, &v1.id, None).await.unwrap();
        let rows: Vec<(i64, &str)> = history
            .versions
            .iter()
            .map(|v| (v.version, v.summary.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                (3, "Restored from version 1"),
                (2, "System prompt"),
                (1, "Created")
            ]
        );
        assert_eq!(history.versions[0].author, "Test User");
        assert_eq!(
            get_version(&w.db, &a, &v1.id, 2)
                .await
                .unwrap()
                .config
                .system_prompt,
            v2.config.system_prompt
        );
        assert!(matches!(
            get_version(&w.db, &b, &v1.id, 1).await,
            Err(CoreError::NotFound)
        ));
    }
);

on_both_backends!(
    the_api_runs_the_published_version_unless_one_is_named,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &triage("One.")).await;
        let a = w.fresh(&a).await;
        update_agent(&w.db, &w.rules(), &a, &agent.id, &triage("Two."))
            .await
            .unwrap();
        let api = |version: Option<i64>| RunRequest {
            version,
            ..RunRequest::new(&agent.id, "hi", RunMode::Mock, RunTrigger::Api)
        };
        // Nothing published: the latest.
        let run = w.runs.run(&w.fresh(&a).await, api(None)).await.unwrap();
        assert_eq!(run.agent_version, 2);
        let published = publish_version(&w.db, &w.fresh(&a).await, &agent.id, Some(1))
            .await
            .unwrap();
        assert_eq!(published.published_version, Some(1));
        assert_eq!(
            get_agent(&w.db, &a, &agent.id)
                .await
                .unwrap()
                .published_version,
            Some(1)
        );
        // The API runs version 1 (the cache sees the change), the test panel the draft.
        let run = w.runs.run(&w.fresh(&a).await, api(None)).await.unwrap();
        assert_eq!(run.agent_version, 1);
        let run = w.run(&a, &agent.id, "hi", RunMode::Mock).await;
        assert_eq!(run.agent_version, 2);
        // Named: that one.
        let run = w.runs.run(&w.fresh(&a).await, api(Some(2))).await.unwrap();
        assert_eq!(run.agent_version, 2);
        // Publishing a version that does not exist is refused; a viewer cannot publish.
        let err = publish_version(&w.db, &w.fresh(&a).await, &agent.id, Some(3))
            .await
            .unwrap_err();
        assert!(matches!(err, CoreError::Validation(_)));
        let v = w.workspace("v@example.com").await;
        let viewer = w.join(&a, &v, "viewer").await;
        assert!(matches!(
            publish_version(&w.db, &viewer, &agent.id, None).await,
            Err(CoreError::Forbidden)
        ));
        // Audited.
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'agent.version_published'",
        )
        .fetch_one(w.db.pool())
        .await
        .unwrap();
        assert_eq!(n, 1);
    }
);

on_both_backends!(
    a_new_output_schema_is_checked_against_the_latest_outputs,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let schema = r#"{"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}"#;
        let agent = w.agent(&a, &draft("Json", "openai", schema)).await;
        for i in 0..3 {
            let run = w
                .run(&a, &agent.id, &format!("input {i}"), RunMode::Mock)
                .await;
            assert_eq!(run.status, RunStatus::Succeeded);
        }
        let cpu = w.rules().cpu;
        let same = output_schema_impact(
            &w.db,
            &cpu,
            &a,
            &agent.id,
            &serde_json::from_str(schema).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!((same.checked, same.failing), (3, 0));
        let stricter = json!({"type": "object", "required": ["label", "score"]});
        let impact = output_schema_impact(&w.db, &cpu, &a, &agent.id, &stricter)
            .await
            .unwrap();
        assert_eq!(
            (impact.checked, impact.failing, impact.examples.len()),
            (3, 3, 3)
        );
    }
);
