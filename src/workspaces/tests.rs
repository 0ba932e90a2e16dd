use super::*;

#[test]
fn roles_round_trip_and_order() {
    for r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Ok(*r));
    }
    assert!(Role::parse("root").is_err());
    assert!(Role::Viewer < Role::Member && Role::Admin < Role::Owner);
    assert!(!Role::Viewer.can_build());
    assert!(Role::Member.can_build() && !Role::Member.can_admin());
    assert!(Role::Admin.can_admin() && Role::Owner.can_admin());
}

#[cfg(feature = "server")]
mod tenancy {
    use super::*;
    use crate::agents::{
        AgentDraft, create_agent, delete_agent, get_agent, list_agents, update_agent,
    };
    use crate::charts::dashboard;
    use crate::error::CoreError;
    use crate::runs::{RunMode, list_runs};
    use crate::testing::World;

    fn draft(name: &str) -> AgentDraft {
        crate::testing::draft(name, "openai", "")
    }

    on_both_backends!(workspaces_are_isolated, |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let b = w.workspace("b@example.com").await;
        let agent = create_agent(&w.db, &w.rules(), &a, &draft("Private"))
            .await
            .unwrap();
        w.try_run(&a, &agent.id, "hi", RunMode::Mock).await.unwrap();
        assert!(matches!(
            get_agent(&w.db, &b, &agent.id).await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            update_agent(&w.db, &w.rules(), &b, &agent.id, &draft("Mine")).await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            delete_agent(&w.db, &b, &agent.id).await,
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            w.try_run(&b, &agent.id, "hi", RunMode::Mock).await,
            Err(CoreError::NotFound)
        ));
        assert!(list_agents(&w.db, &b).await.unwrap().is_empty());
        assert!(list_runs(&w.db, &b, None, 50).await.unwrap().is_empty());
        assert!(
            list_runs(&w.db, &b, Some(&agent.id), 50)
                .await
                .unwrap()
                .is_empty()
        );
        let stats = dashboard(&w.db, &b, crate::charts::ChartRange::Day, None)
            .await
            .unwrap();
        assert_eq!((stats.totals.agents, stats.totals.runs), (0, 0));
        // A membership is needed to act in a workspace.
        assert!(
            load_actor(&w.db, &b.user_id, &a.workspace_id)
                .await
                .unwrap()
                .is_none()
        );
        // A's agent is untouched.
        assert_eq!(
            get_agent(&w.db, &a, &agent.id).await.unwrap().config.name,
            "Private"
        );
    });
    on_both_backends!(viewers_read_but_do_not_build, |w: World| async move {
        let owner = w.workspace("o@example.com").await;
        let viewer_user = w.workspace("v@example.com").await;
        let viewer = w.join(&owner, &viewer_user, "viewer").await;
        assert_eq!(viewer.role, Role::Viewer);
        let agent = create_agent(&w.db, &w.rules(), &owner, &draft("Shared"))
            .await
            .unwrap();
        assert_eq!(list_agents(&w.db, &viewer).await.unwrap().len(), 1);
        assert!(matches!(
            create_agent(&w.db, &w.rules(), &viewer, &draft("Nope")).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            update_agent(&w.db, &w.rules(), &viewer, &agent.id, &draft("Nope")).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            delete_agent(&w.db, &viewer, &agent.id).await,
            Err(CoreError::Forbidden)
        ));
        assert!(matches!(
            w.try_run(&viewer, &agent.id, "x", RunMode::Mock).await,
            Err(CoreError::Forbidden)
        ));
    });
}
