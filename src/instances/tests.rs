//! Instances and their leases on both backends: a sweep interrupts only the runs of instances
//! whose lease expired (and runs of no instance), never a live instance's; start-up on SQLite
//! still interrupts everything; runs carry the instance that executes them.

use super::*;
use crate::db::Backend;
use crate::runs::{RunMode, RunsConfig};
use crate::testing::{World, draft};

/// A copy of run `of` with `status` and `instance`, under id `id`.
async fn copy_run(w: &World, of: &str, id: &str, status: &str, instance: Option<&str>) {
    sqlx::query(
        "INSERT INTO runs (id, workspace_id, agent_id, agent_name, agent_version, mode, \
         run_trigger, status, input, provider, model, triggered_by, created_at, instance_id) \
         SELECT $1, workspace_id, agent_id, agent_name, agent_version, mode, run_trigger, $2, \
         input, provider, model, triggered_by, created_at, $3 FROM runs WHERE id = $4",
    )
    .bind(id)
    .bind(status)
    .bind(instance)
    .bind(of)
    .execute(w.db.pool())
    .await
    .unwrap();
}

async fn statuses(w: &World) -> Vec<(String, String)> {
    sqlx::query_as("SELECT id, status FROM runs WHERE id LIKE 'copy-%' ORDER BY id")
        .fetch_all(w.db.pool())
        .await
        .unwrap()
}

async fn live_instances(w: &World) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM instances ORDER BY id")
        .fetch_all(w.db.pool())
        .await
        .unwrap();
    rows.into_iter().map(|(id,)| id).collect()
}

on_both_backends!(
    a_sweep_interrupts_only_the_runs_of_expired_instances,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let done = w.run(&a, &agent.id, "x", RunMode::Mock).await;
        let alive = register(&w.db, DEFAULT_LEASE).await.unwrap();
        let dead = register(&w.db, DEFAULT_LEASE).await.unwrap();
        copy_run(&w, &done.id, "copy-alive", "running", Some(&alive.id)).await;
        copy_run(&w, &done.id, "copy-dead", "running", Some(&dead.id)).await;
        copy_run(&w, &done.id, "copy-dead-queued", "queued", Some(&dead.id)).await;
        copy_run(&w, &done.id, "copy-dead-done", "succeeded", Some(&dead.id)).await;
        copy_run(&w, &done.id, "copy-nobody", "running", None).await;

        // Both leases fresh: nothing but the run of no instance is touched.
        assert_eq!(sweep(&w.db, None).await.unwrap(), 1);
        // The dead one stops renewing; its lease runs out.
        sqlx::query("UPDATE instances SET expires_at = $1 WHERE id = $2")
            .bind(now_ms() - 1_000)
            .bind(&dead.id)
            .execute(w.db.pool())
            .await
            .unwrap();
        alive.heartbeat(&w.db).await.unwrap();
        assert_eq!(sweep(&w.db, None).await.unwrap(), 2);
        assert_eq!(
            statuses(&w).await,
            [
                ("copy-alive".to_owned(), "running".to_owned()),
                ("copy-dead".to_owned(), "interrupted".to_owned()),
                ("copy-dead-done".to_owned(), "succeeded".to_owned()),
                ("copy-dead-queued".to_owned(), "interrupted".to_owned()),
                ("copy-nobody".to_owned(), "interrupted".to_owned()),
            ]
        );
        assert_eq!(live_instances(&w).await, std::slice::from_ref(&alive.id));
        // An instance that was swept while it stalled comes back when it renews.
        dead.heartbeat(&w.db).await.unwrap();
        let mut both = vec![alive.id.clone(), dead.id.clone()];
        both.sort();
        assert_eq!(live_instances(&w).await, both);
        // A clean stop leaves.
        alive.retire(&w.db).await.unwrap();
        assert_eq!(live_instances(&w).await, std::slice::from_ref(&dead.id));
    }
);

on_both_backends!(
    start_up_spares_live_instances_runs_on_postgres_only,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let done = w.run(&a, &agent.id, "x", RunMode::Mock).await;
        let alive = register(&w.db, DEFAULT_LEASE).await.unwrap();
        copy_run(&w, &done.id, "copy-alive", "running", Some(&alive.id)).await;
        copy_run(&w, &done.id, "copy-nobody", "running", None).await;
        let me = register(&w.db, DEFAULT_LEASE).await.unwrap();
        let marked = recover(&w.db, &me).await.unwrap();
        let alive_status = match w.db.backend() {
            // One server owns a SQLite file: whatever was running was this server's, before.
            Backend::Sqlite => "interrupted",
            // Another live server may be executing it.
            Backend::Postgres => "running",
        };
        assert_eq!(marked, if alive_status == "running" { 1 } else { 2 });
        assert_eq!(
            statuses(&w).await,
            [
                ("copy-alive".to_owned(), alive_status.to_owned()),
                ("copy-nobody".to_owned(), "interrupted".to_owned()),
            ]
        );
    }
);

on_both_backends!(
    runs_carry_the_instance_that_runs_them,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &draft("Echo", "openai", "")).await;
        let instance = register(&w.db, DEFAULT_LEASE).await.unwrap();
        let runs = crate::runs::Runs::new(
            w.db.clone(),
            w.vault.clone(),
            w.http.clone(),
            RunsConfig {
                instance_id: Some(instance.id.clone()),
                ..RunsConfig::default()
            },
        );
        let actor = w.fresh(&a).await;
        let run = runs
            .run(
                &actor,
                crate::testing::request(&agent.id, "x", RunMode::Mock),
            )
            .await
            .unwrap();
        let (kept,): (Option<String>,) =
            sqlx::query_as("SELECT instance_id FROM runs WHERE id = $1")
                .bind(&run.id)
                .fetch_one(w.db.pool())
                .await
                .unwrap();
        assert_eq!(kept, Some(instance.id));
    }
);

/// Instances starting together on a new PostgreSQL database migrate it once: sqlx takes an
/// advisory lock around the migrations (through the `Any` driver too), so none of them fails on
/// a table another is creating.
#[tokio::test]
async fn instances_starting_together_migrate_once() {
    let url = crate::db::testing::fresh_postgres_url().await.unwrap();
    let opened = futures_util::future::join_all((0..4).map(|_| Db::open(&url))).await;
    for db in opened {
        let db = db.expect("every instance starts");
        db.close().await;
    }
}
