use super::*;

fn good() -> AgentDraft {
    AgentDraft {
        name: "  Triage bot ".into(),
        slug: String::new(),
        description: "Sorts tickets".into(),
        provider: "anthropic".into(),
        model: "claude-sonnet-4-5".into(),
        system_prompt: "You sort tickets.".into(),
        temperature: "0.2".into(),
        max_tokens: "512".into(),
        input_schema: r#"{"type":"object","properties":{"text":{"type":"string"}}}"#.into(),
        output_schema: String::new(),
        prompt_template: String::new(),
        repair_output: false,
    }
}

#[test]
fn valid_draft_becomes_config() {
    let c = good().validate().unwrap();
    assert_eq!(c.name, "Triage bot");
    assert_eq!(c.provider, ProviderKind::Anthropic);
    assert_eq!(c.temperature, 0.2);
    assert_eq!(c.max_tokens, 512);
    assert!(c.input_schema.is_some());
    assert!(c.output_schema.is_none());
    // Round trip through the edit form.
    assert_eq!(AgentDraft::from_config(&c).validate().unwrap(), c);
    assert!(
        AgentDraft::new_defaults().validate().is_err(),
        "defaults lack a name"
    );
}

#[test]
fn slugs_are_derived_or_checked() {
    assert_eq!(slugify("  Support Triage — v2! "), "support-triage-v2");
    assert_eq!(slugify("Ünïcode только"), "n-code");
    assert_eq!(slugify("日本語"), "agent");
    assert_eq!(slugify(&"ab ".repeat(40)).len(), MAX_SLUG_CHARS);
    assert!(!slugify(&"ab ".repeat(40)).ends_with('-'));
    for ok in ["a", "support-triage", "v2-bot-3"] {
        assert_eq!(check_slug(ok), Ok(()), "{ok}");
    }
    for bad in ["", "-a", "a-", "A", "a_b", "a b", "é", &"a".repeat(65)] {
        assert!(check_slug(bad).is_err(), "{bad}");
    }
    let c = good().validate().unwrap();
    assert_eq!(c.slug, "triage-bot", "derived when blank");
    let typed = AgentDraft {
        slug: " my-bot ".into(),
        ..good()
    }
    .validate()
    .unwrap();
    assert_eq!(typed.slug, "my-bot");
    let errs = AgentDraft {
        slug: "My Bot".into(),
        ..good()
    }
    .validate()
    .unwrap_err();
    assert_eq!(errs[0].field, "slug");
}

#[test]
fn every_bad_field_is_reported() {
    let d = AgentDraft {
        name: " ".into(),
        slug: "Not A Slug".into(),
        description: "d".repeat(MAX_DESCRIPTION_CHARS + 1),
        provider: "gemini".into(),
        model: "gpt 4".into(),
        system_prompt: "s".repeat(MAX_SYSTEM_PROMPT_CHARS + 1),
        temperature: "2.5".into(),
        max_tokens: "0".into(),
        input_schema: "{not json".into(),
        output_schema: "[]".into(),
        prompt_template: String::new(),
        repair_output: false,
    };
    let errs = d.validate().unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "slug",
            "description",
            "provider",
            "model",
            "system_prompt",
            "temperature",
            "max_tokens",
            "input_schema",
            "output_schema"
        ]
    );
}

#[test]
fn number_edges() {
    for (t, ok) in [
        ("0", true),
        ("2", true),
        ("2.0001", false),
        ("-0.1", false),
        ("NaN", false),
        ("inf", false),
        ("", false),
    ] {
        let d = AgentDraft {
            temperature: t.into(),
            ..good()
        };
        assert_eq!(d.validate().is_ok(), ok, "temperature {t:?}");
    }
    // The bound is the model family's output limit: 64,000 for claude-sonnet-4-5.
    for (n, ok) in [
        ("1", true),
        ("64000", true),
        ("64001", false),
        ("200000", false),
        ("1.5", false),
        ("-3", false),
    ] {
        let d = AgentDraft {
            max_tokens: n.into(),
            ..good()
        };
        assert_eq!(d.validate().is_ok(), ok, "max_tokens {n:?}");
    }
    let mini = |n: &str| AgentDraft {
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        max_tokens: n.into(),
        ..good()
    };
    assert!(mini("16384").validate().is_ok());
    let errs = mini("16385").validate().unwrap_err();
    assert_eq!(errs[0].field, "max_tokens");
    assert!(errs[0].message.contains("16384"), "{}", errs[0].message);
}

#[cfg(feature = "server")]
mod stored {
    use serde_json::{Value, json};

    use super::*;
    use crate::error::CoreError;
    use crate::runs::{RunMode, get_run};
    use crate::testing::World;

    fn draft(name: &str) -> AgentDraft {
        crate::testing::draft(name, "openai", "")
    }

    fn field_of(e: CoreError) -> Vec<String> {
        match e {
            CoreError::Validation(errs) => errs.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    on_both_backends!(
        slugs_are_unique_per_workspace_and_find_the_agent,
        |w: World| async move {
            let actor = w.workspace("a@example.com").await;
            let first = w.agent(&actor, &draft("Support Triage")).await;
            assert_eq!(first.config.slug, "support-triage");
            // A derived slug that is taken gets a number; a typed one is refused.
            let second = w.agent(&actor, &draft("Support: triage")).await;
            assert_eq!(second.config.slug, "support-triage-2");
            let typed = AgentDraft {
                slug: "support-triage".into(),
                ..draft("Other")
            };
            assert_eq!(
                field_of(w.try_agent(&actor, &typed).await.unwrap_err()),
                ["slug"]
            );
            // Found by slug or id, in its own workspace only.
            assert_eq!(
                get_agent(&w.db, &actor, "support-triage-2")
                    .await
                    .unwrap()
                    .id,
                second.id
            );
            assert_eq!(
                get_agent(&w.db, &actor, &second.id).await.unwrap().id,
                second.id
            );
            let other = w.workspace("b@example.com").await;
            assert!(matches!(
                get_agent(&w.db, &other, "support-triage").await,
                Err(CoreError::NotFound)
            ));
            let theirs = w.agent(&other, &draft("Support Triage")).await;
            assert_eq!(
                theirs.config.slug, "support-triage",
                "slugs are per workspace"
            );
            // Saving an agent keeps its own slug; renaming its slug frees the old one.
            let mut edit = AgentDraft::from_config(&first.config);
            edit.description = "changed".into();
            let saved = update_agent(&w.db, &w.rules(), &actor, &first.id, &edit)
                .await
                .unwrap();
            assert_eq!(saved.config.slug, "support-triage");
            edit.slug = "triage".into();
            update_agent(&w.db, &w.rules(), &actor, &first.id, &edit)
                .await
                .unwrap();
            let reuse = AgentDraft {
                slug: "support-triage".into(),
                ..draft("Third")
            };
            assert_eq!(w.agent(&actor, &reuse).await.config.slug, "support-triage");
            // A taken name is still the name's error.
            assert_eq!(
                field_of(
                    w.try_agent(&actor, &draft("support triage"))
                        .await
                        .unwrap_err()
                ),
                ["name"]
            );
            let listed = list_agents(&w.db, &actor).await.unwrap();
            let mut slugs: Vec<&str> = listed.iter().map(|a| a.slug.as_str()).collect();
            slugs.sort_unstable();
            assert_eq!(slugs, ["support-triage", "support-triage-2", "triage"]);
        }
    );

    on_both_backends!(agents_crud_with_versions, |w: World| async move {
        let actor = w.workspace("a@example.com").await;
        let created = create_agent(&w.db, &w.rules(), &actor, &draft("Triage"))
            .await
            .unwrap();
        assert_eq!(created.version, 1);
        let mut d = draft("Triage v2");
        d.temperature = "1.5".into();
        d.output_schema =
            r#"{"type":"object","properties":{"label":{"enum":["a","b"]}},"required":["label"]}"#
                .into();
        let updated = update_agent(&w.db, &w.rules(), &actor, &created.id, &d)
            .await
            .unwrap();
        assert_eq!(updated.version, 2);
        let got = get_agent(&w.db, &actor, &created.id).await.unwrap();
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
                .fetch_one(w.db.pool())
                .await
                .unwrap();
        assert_eq!(versions, 2);
        let (config,): (String,) =
            sqlx::query_as("SELECT config FROM agent_versions WHERE agent_id = $1 AND version = 1")
                .bind(&created.id)
                .fetch_one(w.db.pool())
                .await
                .unwrap();
        let v1: Value = serde_json::from_str(&config).unwrap();
        assert_eq!(v1["name"], "Triage", "versions are immutable snapshots");
        let list = list_agents(&w.db, &actor).await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].version, 2);
    });
    on_both_backends!(
        agent_names_unique_per_workspace_and_schemas_checked,
        |w: World| async move {
            let a = w.workspace("a@example.com").await;
            let b = w.workspace("b@example.com").await;
            create_agent(&w.db, &w.rules(), &a, &draft("Writer"))
                .await
                .unwrap();
            let err = create_agent(&w.db, &w.rules(), &a, &draft("writer"))
                .await
                .unwrap_err();
            assert_eq!(field_of(err), ["name"]);
            // Another workspace may use the name.
            create_agent(&w.db, &w.rules(), &b, &draft("Writer"))
                .await
                .unwrap();
            // Renaming onto a taken name is refused too.
            let other = create_agent(&w.db, &w.rules(), &a, &draft("Editor"))
                .await
                .unwrap();
            let err = update_agent(&w.db, &w.rules(), &a, &other.id, &draft("WRITER"))
                .await
                .unwrap_err();
            assert_eq!(field_of(err), ["name"]);
            // A schema that parses but does not compile is refused on its field.
            let mut d = draft("Schema");
            d.input_schema = r#"{"type": "strin"}"#.into();
            d.output_schema = r#"{"$ref": "https://example.com/remote.json"}"#.into();
            let err = create_agent(&w.db, &w.rules(), &a, &d).await.unwrap_err();
            assert_eq!(field_of(err), ["input_schema", "output_schema"]);
            assert_eq!(list_agents(&w.db, &a).await.unwrap().len(), 2);
        }
    );

    on_both_backends!(
        deleting_an_agent_keeps_its_runs_and_audits,
        |w: World| async move {
            let a = w.workspace("a@example.com").await;
            let agent = create_agent(&w.db, &w.rules(), &a, &draft("Doomed"))
                .await
                .unwrap();
            let run = w.run(&a, &agent.id, "x", RunMode::Mock).await;
            delete_agent(&w.db, &a, &agent.id).await.unwrap();
            assert!(matches!(
                get_agent(&w.db, &a, &agent.id).await,
                Err(CoreError::NotFound)
            ));
            assert!(matches!(
                delete_agent(&w.db, &a, &agent.id).await,
                Err(CoreError::NotFound)
            ));
            let kept = get_run(&w.db, &a, &run.id).await.unwrap();
            assert_eq!(kept.agent_id, None);
            assert_eq!(kept.agent_name, "Doomed");
            let (action, target): (String, String) = sqlx::query_as(
                "SELECT action, target FROM audit_events WHERE workspace_id = $1 \
                     AND action <> 'agent.created'",
            )
            .bind(&a.workspace_id)
            .fetch_one(w.db.pool())
            .await
            .unwrap();
            assert_eq!(
                (action.as_str(), target.as_str()),
                ("agent.deleted", agent.id.as_str())
            );
        }
    );
}
