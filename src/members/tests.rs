//! Members and invitations on both databases: who may invite, change and remove whom; the
//! last owner; one-time, expiring, revocable links; removal ending API tokens; the audit log.

use super::*;
use crate::audit::{AuditQuery, list_audit};
use crate::error::CoreError;
use crate::testing::World;
use crate::workspaces::{Actor, list_workspaces, load_actor};

#[test]
fn invite_tokens_have_one_shape_and_admins_never_grant_owner() {
    assert!(looks_like_invite(&format!("gxi_{}", "a".repeat(43))));
    assert!(!looks_like_invite(&format!("gxi_{}", "a".repeat(42))));
    assert!(!looks_like_invite(&format!("gx_{}", "a".repeat(44))));
    assert!(!looks_like_invite(&format!("gxi_{}!", "a".repeat(42))));
    assert!(may_grant(Role::Owner, Role::Owner));
    assert!(may_grant(Role::Admin, Role::Admin));
    assert!(!may_grant(Role::Admin, Role::Owner));
    assert!(!may_grant(Role::Member, Role::Viewer));
}

async fn actions(w: &World, owner: &crate::workspaces::Actor) -> Vec<String> {
    let page = list_audit(
        &w.db,
        owner,
        &AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        },
    )
    .await
    .unwrap();
    page.entries.into_iter().map(|e| e.action).collect()
}

on_both_backends!(
    an_invitation_link_joins_once_with_its_role,
    |w: World| async move {
        let alice = w.workspace("alice@example.com").await;
        let acme = create_workspace(&w.db, &alice, "  Acme  ").await.unwrap();
        assert_eq!(acme.name, "Acme");
        assert_eq!(acme.role, Role::Owner);
        let alice = load_actor(&w.db, &alice.user_id, &acme.id)
            .await
            .unwrap()
            .unwrap();
        let bob = w.workspace("bob@example.com").await;

        let invite = create_invite(&w.db, &alice, Role::Member).await.unwrap();
        assert!(looks_like_invite(&invite.token));
        assert!(!format!("{invite:?}").contains(&invite.token));
        let info = invite_info(&w.db, &invite.token).await.unwrap();
        assert_eq!(
            (info.workspace_name.as_str(), info.role),
            ("Acme", Role::Member)
        );
        assert_eq!(list_invites(&w.db, &alice).await.unwrap().len(), 1);

        let joined = accept_invite(&w.db, &bob.user_id, &invite.token)
            .await
            .unwrap();
        assert_eq!(joined, acme.id);
        let bob_in_acme = load_actor(&w.db, &bob.user_id, &acme.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bob_in_acme.role, Role::Member);
        // Spent: it neither works again nor for someone else.
        let carol = w.workspace("carol@example.com").await;
        assert!(matches!(
            accept_invite(&w.db, &carol.user_id, &invite.token).await,
            Err(CoreError::Validation(_))
        ));
        assert!(invite_info(&w.db, &invite.token).await.is_err());
        assert!(list_invites(&w.db, &alice).await.unwrap().is_empty());
        // Bob sees both his workspaces; the members list shows both, owner first.
        let names: Vec<String> = list_workspaces(&w.db, &bob.user_id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"Acme".to_owned()));
        let members = list_members(&w.db, &bob_in_acme).await.unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].role, Role::Owner);

        // Revoked and expired links do not work; a made-up one neither.
        let revoked = create_invite(&w.db, &alice, Role::Viewer).await.unwrap();
        revoke_invite(&w.db, &alice, &revoked.invite.id)
            .await
            .unwrap();
        assert!(
            accept_invite(&w.db, &carol.user_id, &revoked.token)
                .await
                .is_err()
        );
        let expired = create_invite(&w.db, &alice, Role::Viewer).await.unwrap();
        sqlx::query("UPDATE invites SET expires_at = 1 WHERE id = $1")
            .bind(&expired.invite.id)
            .execute(w.db.pool())
            .await
            .unwrap();
        assert!(
            accept_invite(&w.db, &carol.user_id, &expired.token)
                .await
                .is_err()
        );
        assert!(
            accept_invite(&w.db, &carol.user_id, &format!("gxi_{}", "x".repeat(43)))
                .await
                .is_err()
        );
        assert!(
            load_actor(&w.db, &carol.user_id, &acme.id)
                .await
                .unwrap()
                .is_none()
        );

        let log = actions(&w, &alice).await;
        for action in [
            "workspace.created",
            "member.invited",
            "member.joined",
            "invite.revoked",
        ] {
            assert!(log.iter().any(|a| a == action), "{action} in {log:?}");
        }
    }
);

on_both_backends!(
    roles_decide_who_may_change_and_remove_whom,
    |w: World| async move {
        let owner = w.workspace("owner@example.com").await;
        let admin = w
            .join(&owner, &w.workspace("admin@example.com").await, "admin")
            .await;
        let member = w
            .join(&owner, &w.workspace("member@example.com").await, "member")
            .await;

        // Members do not manage members; admins do, but never owners.
        assert!(matches!(
            create_invite(&w.db, &member, Role::Viewer).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            create_invite(&w.db, &admin, Role::Owner).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            change_role(&w.db, &member, &admin.user_id, Role::Viewer).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            change_role(&w.db, &admin, &member.user_id, Role::Owner).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            change_role(&w.db, &admin, &owner.user_id, Role::Viewer).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            remove_member(&w.db, &admin, &owner.user_id).await,
            Err(CoreError::Forbidden)
        ));
        change_role(&w.db, &admin, &member.user_id, Role::Viewer)
            .await
            .unwrap();
        assert_eq!(w.fresh(&member).await.role, Role::Viewer);

        // The last owner cannot be demoted, removed, or leave.
        assert!(matches!(
            change_role(&w.db, &owner, &owner.user_id, Role::Admin).await,
            Err(CoreError::Validation(_))
        ));
        assert!(matches!(
            remove_member(&w.db, &owner, &owner.user_id).await,
            Err(CoreError::Validation(_))
        ));
        // With a second owner, the first may step down.
        change_role(&w.db, &owner, &admin.user_id, Role::Owner)
            .await
            .unwrap();
        change_role(&w.db, &owner, &owner.user_id, Role::Admin)
            .await
            .unwrap();
        // Someone from another workspace is not found there.
        let stranger = w.workspace("stranger@example.com").await;
        assert!(matches!(
            change_role(
                &w.db,
                &w.fresh(&admin).await,
                &stranger.user_id,
                Role::Viewer
            )
            .await,
            Err(CoreError::NotFound)
        ));

        // Removing a member revokes their API tokens there and ends their access.
        let viewer = w.fresh(&member).await;
        sqlx::query(
            "INSERT INTO api_tokens (id, workspace_id, name, token_hash, prefix, scopes, \
             created_by, created_at) VALUES ('t1', $1, 'ci', 'h', 'gx_abc', 'read', $2, 0)",
        )
        .bind(&viewer.workspace_id)
        .bind(&viewer.user_id)
        .execute(w.db.pool())
        .await
        .unwrap();
        remove_member(&w.db, &w.fresh(&admin).await, &viewer.user_id)
            .await
            .unwrap();
        assert!(
            load_actor(&w.db, &viewer.user_id, &viewer.workspace_id)
                .await
                .unwrap()
                .is_none()
        );
        let (revoked,): (Option<i64>,) =
            sqlx::query_as("SELECT revoked_at FROM api_tokens WHERE id = 't1'")
                .fetch_one(w.db.pool())
                .await
                .unwrap();
        assert!(revoked.is_some());
        // Their session falls back to their own workspace.
        assert_eq!(
            fallback_workspace(&w.db, &viewer.user_id).await.unwrap(),
            Some(
                list_workspaces(&w.db, &viewer.user_id).await.unwrap()[0]
                    .id
                    .clone()
            )
        );
        let log = actions(&w, &w.fresh(&admin).await).await;
        assert_eq!(
            log.iter().filter(|a| *a == "member.role_changed").count(),
            3
        );
        assert!(log.iter().any(|a| a == "member.removed"));
    }
);

on_both_backends!(
    a_workspace_is_renamed_and_deleted_by_its_owner_only,
    |w: World| async move {
        let alice = w.workspace("alice@example.com").await;
        let admin = w
            .join(&alice, &w.workspace("admin@example.com").await, "admin")
            .await;
        assert!(matches!(
            rename_workspace(&w.db, &admin, "Mine").await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            rename_workspace(&w.db, &alice, " ").await,
            Err(CoreError::Validation(_))
        ));
        rename_workspace(&w.db, &alice, "Acme").await.unwrap();
        // Her only workspace stays; a wrong confirmation deletes nothing.
        assert!(matches!(
            delete_workspace(&w.db, &alice, "Acme").await,
            Err(CoreError::Validation(_))
        ));
        let other = create_workspace(&w.db, &alice, "Other").await.unwrap();
        assert!(matches!(
            delete_workspace(&w.db, &alice, "acme").await,
            Err(CoreError::Validation(_))
        ));
        assert!(matches!(
            delete_workspace(&w.db, &admin, "Acme").await,
            Err(CoreError::Forbidden)
        ));
        let agent = w
            .agent(&alice, &crate::testing::draft("Doomed", "openai", ""))
            .await;
        w.run(&alice, &agent.id, "x", crate::runs::RunMode::Mock)
            .await;
        delete_workspace(&w.db, &alice, "Acme").await.unwrap();
        let (agents, runs): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM agents WHERE workspace_id = $1), \
             (SELECT COUNT(*) FROM runs WHERE workspace_id = $1)",
        )
        .bind(&alice.workspace_id)
        .fetch_one(w.db.pool())
        .await
        .unwrap();
        assert_eq!((agents, runs), (0, 0));
        // Both members' sessions fall back: Alice to Other, the admin to their own.
        assert_eq!(
            fallback_workspace(&w.db, &alice.user_id).await.unwrap(),
            Some(other.id)
        );
        assert_eq!(
            list_workspaces(&w.db, &admin.user_id).await.unwrap().len(),
            1
        );
    }
);

on_both_backends!(
    the_audit_log_filters_and_pages_newest_first,
    |w: World| async move {
        let owner = w.workspace("owner@example.com").await;
        let member = w
            .join(&owner, &w.workspace("member@example.com").await, "member")
            .await;
        for _ in 0..5 {
            create_invite(&w.db, &owner, Role::Viewer).await.unwrap();
        }
        w.agent(&member, &crate::testing::draft("Built", "openai", ""))
            .await;
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery {
                limit: 2,
                ..AuditQuery::default()
            };
            f(&mut q);
            q
        };
        // Pages of two, newest first, until the end.
        let mut seen = Vec::new();
        let mut query = q(|_| {});
        loop {
            let page = list_audit(&w.db, &owner, &query).await.unwrap();
            assert!(page.entries.len() <= 2);
            seen.extend(page.entries);
            match page.next {
                Some(next) => query.before = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 6);
        assert!(
            seen.windows(2)
                .all(|p| (p[0].at, &p[0].id) > (p[1].at, &p[1].id))
        );
        assert_eq!(seen[0].action, "agent.created");
        assert_eq!(seen[0].actor_id, member.user_id);
        // By actor, by action, by family, by date.
        let by_member = list_audit(
            &w.db,
            &owner,
            &AuditQuery {
                actor_id: Some(member.user_id.clone()),
                limit: 50,
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(by_member.entries.len(), 1);
        for (action, n) in [
            ("member.invited", 5),
            ("member.", 5),
            ("agent.", 1),
            ("member", 0),
        ] {
            let page = list_audit(
                &w.db,
                &owner,
                &AuditQuery {
                    action: Some(action.to_owned()),
                    limit: 50,
                    ..AuditQuery::default()
                },
            )
            .await
            .unwrap();
            assert_eq!(page.entries.len(), n, "{action}");
        }
        let future = list_audit(
            &w.db,
            &owner,
            &AuditQuery {
                from_ms: Some(crate::db::now_ms() + 60_000),
                limit: 50,
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
        assert!(future.entries.is_empty());
        // Members do not read it; another workspace's owner sees only theirs.
        assert!(matches!(
            list_audit(&w.db, &member, &q(|_| {})).await,
            Err(CoreError::Forbidden)
        ));
        let other = w.workspace("other@example.com").await;
        assert!(
            list_audit(&w.db, &other, &q(|_| {}))
                .await
                .unwrap()
                .entries
                .is_empty()
        );
    }
);

on_both_backends!(
    two_owners_demoting_each_other_at_once_leave_one_owner,
    |w: World| async move {
        let first = w.workspace("first@example.com").await;
        let second = w
            .join(&first, &w.workspace("second@example.com").await, "owner")
            .await;
        let (a, b) = tokio::join!(
            change_role(&w.db, &first, &second.user_id, Role::Admin),
            change_role(&w.db, &second, &first.user_id, Role::Admin),
        );
        assert!(
            a.is_ok() != b.is_ok(),
            "exactly one demotion goes through: {a:?} {b:?}"
        );
        let (owners,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND role = 'owner'",
        )
        .bind(&first.workspace_id)
        .fetch_one(w.db.pool())
        .await
        .unwrap();
        assert_eq!(owners, 1);
    }
);

on_both_backends!(
    links_die_with_their_makers_authority_and_nobody_is_left_homeless,
    |w: World| async move {
        let owner = w.workspace("owner@example.com").await;
        let admin = w
            .join(&owner, &w.workspace("admin@example.com").await, "admin")
            .await;
        let joiner = w.workspace("joiner@example.com").await;
        let by_admin = create_invite(&w.db, &admin, Role::Admin).await.unwrap();
        let for_later = create_invite(&w.db, &admin, Role::Viewer).await.unwrap();
        // Demoted to member, who gives no role: both their links are revoked, for good.
        change_role(&w.db, &owner, &admin.user_id, Role::Member)
            .await
            .unwrap();
        change_role(&w.db, &owner, &admin.user_id, Role::Admin)
            .await
            .unwrap();
        for link in [&by_admin.token, &for_later.token] {
            assert!(accept_invite(&w.db, &joiner.user_id, link).await.is_err());
        }
        // A link whose maker lost the role it gives (here by a direct edit, as a crash between
        // two writes would leave it) does not join anyone either.
        let viewer_link = create_invite(&w.db, &admin, Role::Viewer).await.unwrap();
        sqlx::query("UPDATE memberships SET role = 'member' WHERE user_id = $1")
            .bind(&admin.user_id)
            .execute(w.db.pool())
            .await
            .unwrap();
        assert!(
            accept_invite(&w.db, &joiner.user_id, &viewer_link.token)
                .await
                .is_err()
        );
        sqlx::query("UPDATE memberships SET role = 'admin' WHERE user_id = $1")
            .bind(&admin.user_id)
            .execute(w.db.pool())
            .await
            .unwrap();
        accept_invite(&w.db, &joiner.user_id, &viewer_link.token)
            .await
            .unwrap();
        // An owner's owner link dies when they stop being an owner.
        let second = w
            .join(&owner, &w.workspace("second@example.com").await, "owner")
            .await;
        let owner_link = create_invite(&w.db, &second, Role::Owner).await.unwrap();
        change_role(&w.db, &owner, &second.user_id, Role::Admin)
            .await
            .unwrap();
        let other = w.workspace("other@example.com").await;
        assert!(
            accept_invite(&w.db, &other.user_id, &owner_link.token)
                .await
                .is_err()
        );

        // Someone who deletes their own workspace and is then removed from the last one gets a
        // new personal workspace, not a locked-out account.
        let own = w.fresh(&joiner).await;
        let name = list_workspaces(&w.db, &joiner.user_id)
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.id == own.workspace_id)
            .unwrap()
            .name;
        delete_workspace(&w.db, &own, &name).await.unwrap();
        let joined = w
            .fresh(&Actor {
                workspace_id: owner.workspace_id.clone(),
                ..joiner.clone()
            })
            .await;
        remove_member(&w.db, &owner, &joined.user_id).await.unwrap();
        assert!(
            list_workspaces(&w.db, &joiner.user_id)
                .await
                .unwrap()
                .is_empty()
        );
        let home = fallback_workspace(&w.db, &joiner.user_id)
            .await
            .unwrap()
            .unwrap();
        let back = load_actor(&w.db, &joiner.user_id, &home)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.role, Role::Owner);
    }
);
