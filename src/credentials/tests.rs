use super::*;

#[test]
fn form_rules() {
    let ok = validate_new_credential("openai", " prod ", "", "sk-abcdefgh1234").unwrap();
    assert_eq!(ok, (ProviderKind::OpenAi, "prod".into(), None));
    let ok = validate_new_credential(
        "openai_compatible",
        "local",
        "http://127.0.0.1:9/v1/",
        "key-12345678",
    )
    .unwrap();
    assert_eq!(ok.2.as_deref(), Some("http://127.0.0.1:9/v1"));
    let errs = validate_new_credential("gemini", "", "ftp://x", "short").unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["provider", "label", "api_key", "base_url"]);
    let errs = validate_new_credential("anthropic", "x", "https://evil.example", "sk-ant-12345678")
        .unwrap_err();
    assert_eq!(
        errs[0].field, "base_url",
        "first-party keys never take a user URL"
    );
    let errs = validate_new_credential("openai_compatible", "x", "", "key-12345678").unwrap_err();
    assert_eq!(errs[0].field, "base_url");
    assert!(check_key("sk with space").is_err());
    assert_eq!(
        CredentialStatus::parse("revoked"),
        Ok(CredentialStatus::Revoked)
    );
    assert!(CredentialStatus::parse("deleted").is_err());
    assert_eq!(last4("sk-abcdefgh1234 "), "1234");
    assert_eq!(last4("ab"), "ab");
}

mod stored {
    use std::sync::Arc;
    use std::time::Duration;

    use secrecy::SecretString;
    use serde_json::json;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, ResponseTemplate};

    use super::*;
    use crate::error::CoreError;
    use crate::providers::ProviderKind;
    use crate::runs::{RunMode, RunStatus, RunTrigger, RunsConfig};
    use crate::testing::{KEY, World, draft, openai_stream};
    use crate::vault::{KeySource, KeyringFile, Vault};

    on_both_backends!(
        keys_are_sealed_listed_as_summaries_and_audited,
        |w: World| async move {
            let a = w.workspace("a@example.com").await;
            let added = w.key_with(&a, "openai", "production", KEY).await;
            assert_eq!(
                (added.last4.as_str(), added.status),
                ("4b8e", CredentialStatus::Active)
            );
            let (ciphertext,): (String,) =
                sqlx::query_as("SELECT ciphertext FROM provider_credentials")
                    .fetch_one(w.db.pool())
                    .await
                    .unwrap();
            assert!(!ciphertext.contains(KEY) && !ciphertext.contains("canary"));
            let summary_json =
                serde_json::to_string(&list_credentials(&w.db, &a).await.unwrap()).unwrap();
            assert!(!summary_json.contains(KEY), "{summary_json}");
            assert_eq!(
                providers_with_keys(&w.db, &a).await.unwrap(),
                [ProviderKind::OpenAi]
            );

            // Members cannot manage keys; other workspaces cannot see them.
            let b = w.workspace("b@example.com").await;
            assert!(list_credentials(&w.db, &b).await.unwrap().is_empty());
            assert!(matches!(
                revoke_credential(&w.db, &b, &added.id).await,
                Err(CoreError::NotFound)
            ));
            let member_user = w.workspace("m@example.com").await;
            let member = w.join(&a, &member_user, "member").await;
            assert!(matches!(
                list_credentials(&w.db, &member).await,
                Err(CoreError::Forbidden)
            ));
            assert!(matches!(
                add_credential(
                    &w.db,
                    &w.vault,
                    &w.http.egress,
                    &member,
                    NewKey {
                        provider: "openai",
                        label: "x",
                        base_url: "",
                        api_key: SecretString::from(KEY.to_owned())
                    }
                )
                .await,
                Err(CoreError::Forbidden)
            ));

            // A ciphertext copied into another row does not decrypt.
            let other = w
                .key_with(&a, "openai", "other", "sk-other-key-123456")
                .await;
            sqlx::query("UPDATE provider_credentials SET ciphertext = $1 WHERE id = $2")
                .bind(&ciphertext)
                .bind(&other.id)
                .execute(w.db.pool())
                .await
                .unwrap();
            // `other` is the newest active key, so a run resolves it and must fail to open it.
            let agent = w.agent(&a, &draft("Copy", "openai", "")).await;
            let err = w
                .try_run(&a, &agent.id, "hi", RunMode::Live)
                .await
                .unwrap_err();
            // A key that does not open is the person's to fix (rotate it), not an internal error.
            assert!(
                matches!(&err, CoreError::Validation(e) if e[0].message.contains("cannot be opened")),
                "{err:?}"
            );

            let actions: Vec<(String,)> = sqlx::query_as(
                "SELECT action FROM audit_events WHERE workspace_id = $1 ORDER BY created_at, id",
            )
            .bind(&a.workspace_id)
            .fetch_all(w.db.pool())
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
        rotation_revocation_and_missing_keys,
        |w: World| async move {
            let a = w.workspace("a@example.com").await;
            Mock::given(method("POST"))
                .and(header("authorization", "Bearer sk-new-key-abcdef12"))
                .respond_with(openai_stream(&["new"]))
                .mount(&w.upstream)
                .await;
            Mock::given(method("POST"))
                .and(header("authorization", format!("Bearer {KEY}").as_str()))
                .respond_with(openai_stream(&["old"]))
                .mount(&w.upstream)
                .await;
            let agent = w.agent(&a, &draft("Rot", "openai", "")).await;
            let none = w.try_run(&a, &agent.id, "x", RunMode::Live).await;
            assert!(
                matches!(none, Err(CoreError::Validation(ref e)) if e[0].field == "mode" && e[0].message.contains("OpenAI key"))
            );

            let old = w.key(&a, "openai").await;
            let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
            assert_eq!(run.output.as_deref(), Some("old"));
            let new = rotate_credential(
                &w.db,
                &w.vault,
                &a,
                &old.id,
                SecretString::from("sk-new-key-abcdef12".to_owned()),
            )
            .await
            .unwrap();
            let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
            assert_eq!(
                run.output.as_deref(),
                Some("new"),
                "the new key is used at once"
            );
            let listed = list_credentials(&w.db, &a).await.unwrap();
            assert_eq!(
                listed.iter().map(|c| c.status).collect::<Vec<_>>(),
                [CredentialStatus::Active, CredentialStatus::Superseded]
            );
            // Revoke the new key: the superseded one still works until it is revoked too.
            revoke_credential(&w.db, &a, &new.id).await.unwrap();
            let run = w.run(&a, &agent.id, "x", RunMode::Live).await;
            assert_eq!(run.output.as_deref(), Some("old"));
            let revoked = revoke_credential(&w.db, &a, &old.id).await.unwrap();
            assert_eq!(revoked.status, CredentialStatus::Revoked);
            let (ct,): (String,) =
                sqlx::query_as("SELECT ciphertext FROM provider_credentials WHERE id = $1")
                    .bind(&old.id)
                    .fetch_one(w.db.pool())
                    .await
                    .unwrap();
            assert!(ct.is_empty(), "revoked keys are erased");
            assert!(w.try_run(&a, &agent.id, "x", RunMode::Live).await.is_err());
        }
    );

    on_both_backends!(
        a_revoked_key_stops_working_on_every_instance_at_once,
        |w: World| async move {
            // Two pipelines on one database: two `galaxy` servers behind one load balancer.
            let a = w.workspace("a@example.com").await;
            Mock::given(method("POST"))
                .respond_with(openai_stream(&["ok"]))
                .mount(&w.upstream)
                .await;
            let key = w.key(&a, "openai").await;
            let agent = w.agent(&a, &draft("Twice", "openai", "")).await;
            let other = w.with_config(RunsConfig::default());
            let request = crate::testing::request(&agent.id, "x", RunMode::Live);
            // Both instances have the agent and the key cached.
            for runs in [&w.runs, &other] {
                let run = runs.run(&w.fresh(&a).await, request.clone()).await.unwrap();
                assert_eq!(run.status, RunStatus::Succeeded);
            }
            // Revoked through the first; the second refuses the very next run.
            revoke_credential(&w.db, &a, &key.id).await.unwrap();
            let err = other
                .run(&w.fresh(&a).await, request.clone())
                .await
                .unwrap_err();
            assert!(
                matches!(&err, CoreError::Validation(e) if e[0].field == "mode"),
                "{err:?}"
            );
            // A deleted agent too.
            crate::agents::delete_agent(&w.db, &a, &agent.id)
                .await
                .unwrap();
            let err = other
                .run(
                    &w.fresh(&a).await,
                    crate::testing::request(&agent.id, "x", RunMode::Mock),
                )
                .await
                .unwrap_err();
            assert!(matches!(err, CoreError::NotFound), "{err:?}");
        }
    );

    on_both_backends!(test_connection_uses_the_stored_key, |w: World| async move {
        let a = w.workspace("a@example.com").await;
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .and(header("authorization", format!("Bearer {KEY}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
            .expect(1)
            .mount(&w.upstream)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/models"))
            .respond_with(ResponseTemplate::new(401).set_body_json(
                json!({"error": {"message": "bad key sk-bad-key-9999999", "type": "auth"}}),
            ))
            .mount(&w.upstream)
            .await;
        let good = w.key_with(&a, "openai", "good", KEY).await;
        let bad = w.key_with(&a, "openai", "bad", "sk-bad-key-9999999").await;
        let ok = test_credential(&w.db, &w.vault, &w.http, &a, &good.id)
            .await
            .unwrap();
        assert!(ok.ok, "{}", ok.message);
        let failed = test_credential(&w.db, &w.vault, &w.http, &a, &bad.id)
            .await
            .unwrap();
        assert!(!failed.ok);
        assert!(
            failed.message.contains("rejected the key") && !failed.message.contains("sk-bad-key"),
            "{}",
            failed.message
        );
        let listed = list_credentials(&w.db, &a).await.unwrap();
        assert_eq!(
            listed.iter().find(|c| c.id == bad.id).unwrap().last_test_ok,
            Some(false)
        );
        let b = w.workspace("b@example.com").await;
        assert!(matches!(
            test_credential(&w.db, &w.vault, &w.http, &b, &good.id).await,
            Err(CoreError::NotFound)
        ));
    });

    on_both_backends!(
        a_stored_key_pointed_elsewhere_in_the_database_is_never_sent_there,
        |w: World| async move {
            let a = w.workspace("a@example.com").await;
            let key = w.key(&a, "openai_compatible").await;
            // Someone with write access to the database points the key at their own server.
            let attacker = wiremock::MockServer::start().await;
            Mock::given(method("GET"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": []})))
                .expect(0)
                .mount(&attacker)
                .await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(500))
                .expect(0)
                .mount(&attacker)
                .await;
            sqlx::query("UPDATE provider_credentials SET base_url = $1 WHERE id = $2")
                .bind(format!("{}/v1", attacker.uri()))
                .bind(&key.id)
                .execute(w.db.pool())
                .await
                .unwrap();
            let tested = test_credential(&w.db, &w.vault, &w.http, &a, &key.id).await;
            match tested {
                Err(CoreError::Validation(errors)) => {
                    assert!(errors[0].message.contains("cannot be opened"), "{errors:?}")
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
            let agent = w
                .agent(&a, &crate::testing::draft("Moved", "openai_compatible", ""))
                .await;
            let run = w
                .try_run(&a, &agent.id, "x", crate::runs::RunMode::Live)
                .await;
            assert!(run.is_err(), "{run:?}");
            // Dropping `attacker` checks it saw nothing.
        }
    );

    on_both_backends!(
        master_key_rotation_while_runs_execute,
        |w: World| async move {
            let dir = crate::db::testing::TempDir::new().unwrap();
            let path = dir.path().join("keyring.json");
            let v = Arc::new(Vault::open(KeySource::File(path.clone())).unwrap());
            let w = w.with_vault(v.clone());
            let a = w.workspace("a@example.com").await;
            Mock::given(method("POST"))
                .respond_with(openai_stream(&["ok"]).set_delay(Duration::from_millis(30)))
                .mount(&w.upstream)
                .await;
            for i in 0..3 {
                w.key_with(&a, "openai", &format!("k{i}"), &format!("{KEY}{i}"))
                    .await;
            }
            let agent = w.agent(&a, &draft("Busy", "openai", "")).await;
            let w = Arc::new(w);
            // Runs keep executing while an operator adds and activates a new master key and rewraps.
            let runs = {
                let (w, a, id) = (w.clone(), a.clone(), agent.id.clone());
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    for _ in 0..12 {
                        let run = w
                            .try_run_with(&a, &id, "x", RunMode::Live, RunTrigger::Api)
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
            let operator = Vault::open(KeySource::File(path.clone())).unwrap();
            assert_eq!(rewrap_all(&w.db, &operator).await.unwrap(), 3);
            assert_eq!(rows_per_master_key(&w.db).await.unwrap(), [(new_id, 3)]);
            file.retire(1).unwrap();
            file.write(&path).unwrap();
            let statuses = runs.await.unwrap();
            assert!(
                statuses.iter().all(|s| *s == RunStatus::Succeeded),
                "{statuses:?}"
            );
            // The running vault reloads on the unknown key id and keeps working after the retirement.
            let run = w
                .try_run_with(&a, &agent.id, "x", RunMode::Live, RunTrigger::Api)
                .await
                .unwrap();
            assert_eq!(run.status, RunStatus::Succeeded);
            assert_eq!(v.active_key_id(), new_id);
        }
    );

    // User endpoints reach only where the egress policy allows: refused at save with a field
    // error, refused again when a stored key's endpoint is no longer allowed (no request leaves),
    // and a name that resolves to a private address is refused at connect time.
    on_both_backends!(
        private_endpoints_are_refused_unless_the_operator_allows_them,
        |w: World| async move {
            use crate::providers::egress::EgressPolicy;
            use crate::providers::http::ProviderHttp;
            let a = w.workspace("a@example.com").await;
            let strict = EgressPolicy::default();
            for (url, says) in [
                ("http://127.0.0.1:6379/", "private network"),
                ("https://127.0.0.1:5432/", "private network"),
                ("https://169.254.169.254/latest", "private network"),
                ("https://[::1]:3000/api", "private network"),
                ("http://localhost:3000/api", "private network"),
                ("http://models.example.com/v1", "https://"),
                ("https://u:p@models.example.com/v1", "user name"),
            ] {
                let key = NewKey {
                    provider: "openai_compatible",
                    label: "local",
                    base_url: url,
                    api_key: SecretString::from(KEY.to_owned()),
                };
                match add_credential(&w.db, &w.vault, &strict, &a, key).await {
                    Err(CoreError::Validation(errs)) => {
                        assert_eq!(errs[0].field, "base_url", "{url}");
                        assert!(errs[0].message.contains(says), "{url}: {}", errs[0].message);
                    }
                    other => panic!("{url} was not refused: {other:?}"),
                }
            }
            assert!(list_credentials(&w.db, &a).await.unwrap().is_empty());

            // Saved while the operator allowed loopback; tested after the policy changed.
            let key = w.key_with(&a, "openai_compatible", "local", KEY).await;
            let now_strict = ProviderHttp::new(w.http.urls.clone(), strict).unwrap();
            let test = test_credential(&w.db, &w.vault, &now_strict, &a, &key.id)
                .await
                .unwrap();
            assert!(!test.ok);
            assert!(test.message.contains("private network"), "{}", test.message);
            assert!(w.upstream.received_requests().await.unwrap().is_empty());

            // A name resolving to loopback: the users' client refuses it at connect time,
            // the operator's client reaches it.
            let port = w.upstream.address().port();
            let url = format!("http://localhost:{port}/v1/models");
            let refused = now_strict.user_client.get(&url).send().await.unwrap_err();
            assert!(refused.is_connect(), "{refused:?}");
            assert!(w.upstream.received_requests().await.unwrap().is_empty());
            let reached = now_strict.client.get(&url).send().await.unwrap();
            assert_eq!(reached.status().as_u16(), 404, "wiremock, no route");
        }
    );
}
