//! Teams end to end at the router: Alice makes a workspace, invites Bob by link, Bob (a new
//! account) joins and runs agents but cannot manage keys; made a viewer he cannot run; removed,
//! his session and his API token lose the workspace at once; the audit log records every step
//! and exports as JSON Lines. And the invitation page, without JavaScript, for a visitor.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::api::{api, token};
use super::*;

async fn me(r: &Router, cookie: &str) -> Value {
    call(r, "get_current_user", &[], Some(cookie)).await.json()
}

async fn set_role(r: &Router, cookie: &str, user: &str, role: &str) {
    let reply = call(
        r,
        "change_member_role",
        &[("user_id", user), ("role", role)],
        Some(cookie),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

#[test]
fn alice_invites_bob_changes_his_role_and_removes_him() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let alice = sign_up(r, "alice@example.com").await;
        let made = call(r, "create_workspace", &[("name", "Acme")], Some(&alice)).await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        let a = me(r, &alice).await;
        assert_eq!(a["workspace_name"], "Acme");
        assert_eq!(a["role"], "owner");
        assert_eq!(a["workspaces"].as_array().unwrap().len(), 2);
        let acme = a["workspace_id"].as_str().unwrap().to_owned();

        // An invitation link, and its page for a visitor (no JavaScript, no account).
        let invite = call(r, "create_invite", &[("role", "member")], Some(&alice)).await;
        assert_eq!(invite.status, StatusCode::OK, "{}", invite.body);
        let link = invite.json()["token"].as_str().unwrap().to_owned();
        let page = get(r, &format!("/invite/{link}"), None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Join Acme"), "{}", page.body);
        assert!(page.body.contains(&format!("/signup?next=/invite/{link}")));
        let bogus = get(r, &format!("/invite/gxi_{}", "x".repeat(43)), None).await;
        assert!(bogus.body.contains("not valid"), "{}", bogus.body);

        // Bob signs up, joins with the link, and lands in Acme as a member.
        let bob = sign_up(r, "bob@example.com").await;
        let joined = call(r, "accept_invite", &[("token", &link)], Some(&bob)).await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
        let b = me(r, &bob).await;
        assert_eq!(
            (b["workspace_id"].as_str(), b["role"].as_str()),
            (Some(acme.as_str()), Some("member"))
        );
        let bob_id = b["user_id"].as_str().unwrap().to_owned();
        // The link is spent.
        let carol = sign_up(r, "carol@example.com").await;
        let again = call(r, "accept_invite", &[("token", &link)], Some(&carol)).await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);

        // Acme's agent: Bob sees it and runs it; he cannot touch provider keys.
        let agent = create_agent(r, &alice, "Acme triage").await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let listed = call(r, "list_agents", &[], Some(&bob)).await;
        assert!(listed.body.contains("Acme triage"));
        let ran = call(
            r,
            "run_agent",
            &[("agent_id", &agent), ("input", "hi"), ("mode", "mock")],
            Some(&bob),
        )
        .await;
        assert_eq!(ran.status, StatusCode::OK, "{}", ran.body);
        assert_eq!(
            call(r, "list_keys", &[], Some(&bob)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            call(r, "create_invite", &[("role", "viewer")], Some(&bob))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        // Members see the members; only admins see the audit log.
        let members = call(r, "list_members", &[], Some(&bob)).await.json();
        assert_eq!(members["members"].as_array().unwrap().len(), 2);
        assert_eq!(
            call(r, "list_audit", &[], Some(&bob)).await.status,
            StatusCode::FORBIDDEN
        );

        // Made admin, Bob makes an API token; made viewer, he runs neither in the app nor by API.
        set_role(r, &alice, &bob_id, "admin").await;
        let bob_token = token(r, &bob, "bob-ci", &["run", "read"]).await;
        let path = format!("/api/v1/agents/{agent}/runs");
        let by_api = api(
            r,
            "POST",
            &path,
            Some(&bob_token),
            Some(json!({"input": "hi", "mode": "mock"})),
            &[],
        )
        .await;
        assert_eq!(by_api.status, StatusCode::OK, "{}", by_api.body);
        set_role(r, &alice, &bob_id, "viewer").await;
        let refused = call(
            r,
            "run_agent",
            &[("agent_id", &agent), ("input", "hi"), ("mode", "mock")],
            Some(&bob),
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let by_api = api(
            r,
            "POST",
            &path,
            Some(&bob_token),
            Some(json!({"input": "hi", "mode": "mock"})),
            &[],
        )
        .await;
        assert_eq!(by_api.status, StatusCode::FORBIDDEN, "{}", by_api.body);
        assert_eq!(
            api(r, "GET", "/api/v1/runs", Some(&bob_token), None, &[])
                .await
                .status,
            StatusCode::OK
        );
        // Admins cannot make owners; the last owner cannot be demoted.
        let alice_id = a["user_id"].as_str().unwrap().to_owned();
        let last = call(
            r,
            "change_member_role",
            &[("user_id", &alice_id), ("role", "admin")],
            Some(&alice),
        )
        .await;
        assert_eq!(
            last.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            last.body
        );

        // Removed: his very next request is in his own workspace, and his token is dead.
        let removed = call(r, "remove_member", &[("user_id", &bob_id)], Some(&alice)).await;
        assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
        let b = me(r, &bob).await;
        assert_ne!(b["workspace_id"].as_str(), Some(acme.as_str()));
        let listed = call(r, "list_agents", &[], Some(&bob)).await;
        assert!(!listed.body.contains("Acme triage"), "{}", listed.body);
        let gone = call(r, "get_agent", &[("id", &agent)], Some(&bob)).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
        assert_eq!(
            api(r, "GET", "/api/v1/runs", Some(&bob_token), None, &[])
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        // He cannot switch back in.
        let back = call(
            r,
            "switch_workspace",
            &[("workspace_id", &acme)],
            Some(&bob),
        )
        .await;
        assert_eq!(back.status, StatusCode::NOT_FOUND);

        // Every step is in Acme's audit log, newest first, and in its export.
        let log = call(r, "list_audit", &[], Some(&alice)).await.json();
        let actions: Vec<&str> = log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        for action in [
            "workspace.created",
            "member.invited",
            "member.joined",
            "agent.created",
            "member.role_changed",
            "api_token.created",
            "member.removed",
        ] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
        assert_eq!(actions[0], "member.removed");
        let by_bob = call(
            r,
            "list_audit",
            &[("filters[actor]", &bob_id)],
            Some(&alice),
        )
        .await
        .json();
        let bobs: Vec<&str> = by_bob["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(bobs, ["api_token.created", "member.joined"]);
        let export = get(r, "/settings/audit/export?action=member.", Some(&alice)).await;
        assert_eq!(export.status, StatusCode::OK);
        let lines: Vec<Value> = export
            .body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(lines.len() >= 5);
        assert!(
            lines
                .iter()
                .all(|l| l["action"].as_str().unwrap().starts_with("member."))
        );
        assert_eq!(
            get(r, "/settings/audit/export?from=yesterday", Some(&alice))
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // The audit page itself renders without JavaScript.
        let page = get(r, "/settings/audit", Some(&alice)).await;
        assert!(
            page.body.contains("data-audit=\"member.removed\""),
            "{}",
            page.body
        );
    });
}

#[test]
fn a_workspace_is_switched_renamed_and_deleted_without_javascript() {
    run(async {
        let t = sqlite_app().await;
        let r = &t.app.router;
        let alice = sign_up(r, "alice@example.com").await;
        let home = me(r, &alice).await["workspace_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let made = call(
            r,
            "create_workspace",
            &[("name", "Side project")],
            Some(&alice),
        )
        .await;
        assert_eq!(made.status, StatusCode::OK);
        // The header offers both; switching back is a plain form POST answered with a redirect.
        let page = get(r, "/", Some(&alice)).await;
        assert!(page.body.contains("Side project (owner)"), "{}", page.body);
        let switched =
            super::history::form_post(r, "switch_workspace", &[("workspace_id", &home)], &alice)
                .await;
        assert!(switched.status.is_redirection(), "{}", switched.status);
        assert_eq!(
            me(r, &alice).await["workspace_id"].as_str(),
            Some(home.as_str())
        );
        let side = me(r, &alice).await["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == "Side project")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        call(
            r,
            "switch_workspace",
            &[("workspace_id", &side)],
            Some(&alice),
        )
        .await;
        let renamed = call(r, "rename_workspace", &[("name", "  ")], Some(&alice)).await;
        assert_eq!(renamed.status, StatusCode::UNPROCESSABLE_ENTITY);
        let renamed = call(r, "rename_workspace", &[("name", "Renamed")], Some(&alice)).await;
        assert_eq!(renamed.status, StatusCode::OK);
        assert_eq!(me(r, &alice).await["workspace_name"], "Renamed");
        let refused = call(
            r,
            "delete_workspace",
            &[("confirm", "renamed")],
            Some(&alice),
        )
        .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        let deleted = call(
            r,
            "delete_workspace",
            &[("confirm", "Renamed")],
            Some(&alice),
        )
        .await;
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
        let after = me(r, &alice).await;
        assert_eq!(after["workspace_id"].as_str(), Some(home.as_str()));
        assert_eq!(after["workspaces"].as_array().unwrap().len(), 1);
        // The last one stays.
        let name = after["workspace_name"].as_str().unwrap().to_owned();
        let last = call(r, "delete_workspace", &[("confirm", &name)], Some(&alice)).await;
        assert_eq!(last.status, StatusCode::UNPROCESSABLE_ENTITY);
        // Account: a new display name; other sessions signed out, this one kept.
        let other = log_in(r, "alice@example.com", "correct horse battery")
            .await
            .session_cookie()
            .unwrap();
        let renamed = call(
            r,
            "rename_account",
            &[("display_name", "Alice A.")],
            Some(&alice),
        )
        .await;
        assert_eq!(renamed.status, StatusCode::OK);
        assert_eq!(me(r, &alice).await["display_name"], "Alice A.");
        let ended = call(r, "sign_out_other_sessions", &[], Some(&alice)).await;
        assert_eq!(ended.status, StatusCode::OK);
        assert!(ended.json().as_u64().unwrap() >= 1);
        assert!(me(r, &other).await.is_null(), "the other session ended");
        assert!(!me(r, &alice).await.is_null(), "this one stays");
    });
}
