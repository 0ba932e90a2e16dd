use super::*;

#[test]
fn form_rules() {
    let scopes = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let (name, chosen, days) =
        validate_new_token(" billing ", &scopes(&["run", "read", "run"]), "30").unwrap();
    assert_eq!(name, "billing");
    assert_eq!(
        chosen,
        [ApiScope::Run, ApiScope::Read],
        "each scope once, in order"
    );
    assert_eq!(days, Some(30));
    assert_eq!(
        validate_new_token("x", &scopes(&["read"]), "never")
            .unwrap()
            .2,
        None
    );
    assert_eq!(
        validate_new_token("x", &scopes(&["read"]), "").unwrap().2,
        None
    );

    let errs = validate_new_token("", &[], "0.5").unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "scopes", "expires_in_days"]);
    let errs = validate_new_token("x", &scopes(&["write"]), "3651").unwrap_err();
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["scopes", "expires_in_days"]);
    assert!(validate_new_token(&"n".repeat(61), &scopes(&["run"]), "1").is_err());
    assert!(validate_new_token("a\u{7}b", &scopes(&["run"]), "1").is_err());
    assert!(validate_new_token("x", &scopes(&["run"]), "-1").is_err());

    assert!(looks_like_token(&format!("gx_{}", "A".repeat(43))));
    assert!(!looks_like_token(&format!("gx_{}", "A".repeat(42))));
    assert!(!looks_like_token(&format!("sk_{}", "A".repeat(43))));
    assert!(!looks_like_token(&format!("gx_{}é", "A".repeat(41))));
    assert!(!looks_like_token(""));
}

#[test]
fn a_created_token_never_prints_its_secret() {
    let created = CreatedToken {
        summary: ApiTokenSummary {
            id: "t".into(),
            name: "n".into(),
            prefix: "gx_abcdef".into(),
            scopes: vec![ApiScope::Run],
            created_by: "Ada".into(),
            created_at: 0,
            expires_at: Some(10),
            last_used_at: None,
            revoked_at: None,
            status: TokenStatus::Active,
        },
        token: "gx_the-secret-part".into(),
    };
    assert!(!format!("{created:?}").contains("the-secret-part"));
    assert_eq!(TokenStatus::at(5, Some(10), None), TokenStatus::Active);
    assert_eq!(TokenStatus::at(10, Some(10), None), TokenStatus::Expired);
    assert_eq!(TokenStatus::at(5, Some(10), Some(1)), TokenStatus::Revoked);
    assert_eq!(TokenStatus::at(5, None, None), TokenStatus::Active);
}

mod stored {
    use super::*;
    use crate::error::CoreError;
    use crate::testing::World;

    fn scopes(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    on_both_backends!(create_use_and_revoke, |w: World| async move {
        let owner = w.workspace("owner@example.com").await;
        let created = create_token(&w.db, &owner, "ci", &scopes(&["run", "read"]), "30")
            .await
            .unwrap();
        assert!(looks_like_token(&created.token), "{}", created.token.len());
        assert_eq!(created.summary.prefix, created.token[..DISPLAY_CHARS]);
        assert_eq!(created.summary.created_by, "Test User");
        let expires = created.summary.expires_at.unwrap() - created.summary.created_at;
        assert_eq!(expires, 30 * 24 * 3600 * 1000);

        // Only the hash is stored: the secret part is nowhere in the table.
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT token_hash, prefix FROM api_tokens")
                .fetch_all(w.db.pool())
                .await
                .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, hash(&created.token));
        assert!(!rows[0].0.contains(&created.token[3..]));

        let caller = authenticate(&w.db, &created.token).await.unwrap();
        assert_eq!(caller.actor.workspace_id, owner.workspace_id);
        assert_eq!(caller.actor.user_id, owner.user_id);
        assert_eq!(caller.token_name, "ci");
        assert!(caller.require(ApiScope::Run).is_ok());
        assert!(caller.require(ApiScope::Read).is_ok());
        assert!(matches!(
            caller.require(ApiScope::Admin),
            Err(CoreError::Forbidden)
        ));

        // Its use is recorded (in the background).
        let mut used = None;
        for _ in 0..100 {
            used = list_tokens(&w.db, &owner).await.unwrap()[0].last_used_at;
            if used.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(used.is_some());

        // A near miss, garbage and a revoked token are all the same answer.
        let mut near = created.token.clone().into_bytes();
        near[10] = if near[10] == b'A' { b'B' } else { b'A' };
        let near = String::from_utf8(near).unwrap();
        for bad in [near.as_str(), "gx_short", "", "Bearer x"] {
            assert!(matches!(
                authenticate(&w.db, bad).await,
                Err(CoreError::Unauthenticated)
            ));
        }
        revoke_token(&w.db, &owner, &created.summary.id)
            .await
            .unwrap();
        assert!(matches!(
            authenticate(&w.db, &created.token).await,
            Err(CoreError::Unauthenticated)
        ));
        revoke_token(&w.db, &owner, &created.summary.id)
            .await
            .unwrap();
        let listed = list_tokens(&w.db, &owner).await.unwrap();
        assert_eq!(listed[0].status, TokenStatus::Revoked);
        let actions: Vec<(String,)> = sqlx::query_as(
            "SELECT action FROM audit_events WHERE target = $1 ORDER BY created_at, action",
        )
        .bind(&created.summary.id)
        .fetch_all(w.db.pool())
        .await
        .unwrap();
        let actions: Vec<&str> = actions.iter().map(|(a,)| a.as_str()).collect();
        assert_eq!(
            actions,
            ["api_token.created", "api_token.revoked"],
            "revoked once"
        );
    });

    on_both_backends!(an_expired_token_stops_working, |w: World| async move {
        let owner = w.workspace("owner@example.com").await;
        let created = create_token(&w.db, &owner, "short", &scopes(&["read"]), "1")
            .await
            .unwrap();
        assert!(authenticate(&w.db, &created.token).await.is_ok());
        sqlx::query("UPDATE api_tokens SET expires_at = $1")
            .bind(crate::db::now_ms() - 1)
            .execute(w.db.pool())
            .await
            .unwrap();
        assert!(matches!(
            authenticate(&w.db, &created.token).await,
            Err(CoreError::Unauthenticated)
        ));
        let listed = list_tokens(&w.db, &owner).await.unwrap();
        assert_eq!(listed[0].status, TokenStatus::Expired);
    });

    on_both_backends!(
        tokens_act_within_their_creators_role,
        |w: World| async move {
            let owner = w.workspace("owner@example.com").await;
            let admin = w.workspace("admin@example.com").await;
            let admin = w.join(&owner, &admin, "admin").await;
            let viewer = w.workspace("viewer@example.com").await;
            let viewer = w.join(&owner, &viewer, "viewer").await;

            // Viewers and members see the list but may not create or revoke.
            let all = scopes(&["run", "read", "admin"]);
            assert!(matches!(
                create_token(&w.db, &viewer, "v", &all, "").await,
                Err(CoreError::Forbidden)
            ));
            let token = create_token(&w.db, &admin, "admin's", &all, "")
                .await
                .unwrap();
            assert_eq!(list_tokens(&w.db, &viewer).await.unwrap().len(), 1);
            assert!(matches!(
                revoke_token(&w.db, &viewer, &token.summary.id).await,
                Err(CoreError::Forbidden)
            ));

            // The admin becomes a viewer: the token keeps only what a viewer may do.
            sqlx::query("UPDATE memberships SET role = 'viewer' WHERE user_id = $1")
                .bind(&admin.user_id)
                .execute(w.db.pool())
                .await
                .unwrap();
            let caller = authenticate(&w.db, &token.token).await.unwrap();
            assert!(caller.require(ApiScope::Read).is_ok());
            assert!(matches!(
                caller.require(ApiScope::Run),
                Err(CoreError::Forbidden)
            ));
            assert!(matches!(
                caller.require(ApiScope::Admin),
                Err(CoreError::Forbidden)
            ));

            // Removed from the workspace: the token stops working.
            sqlx::query("DELETE FROM memberships WHERE user_id = $1 AND workspace_id = $2")
                .bind(&admin.user_id)
                .bind(&owner.workspace_id)
                .execute(w.db.pool())
                .await
                .unwrap();
            assert!(matches!(
                authenticate(&w.db, &token.token).await,
                Err(CoreError::Unauthenticated)
            ));

            // Another workspace's owner cannot revoke it, nor see it.
            let stranger = w.workspace("stranger@example.com").await;
            assert!(matches!(
                revoke_token(&w.db, &stranger, &token.summary.id).await,
                Err(CoreError::NotFound)
            ));
            assert!(list_tokens(&w.db, &stranger).await.unwrap().is_empty());
        }
    );
}
