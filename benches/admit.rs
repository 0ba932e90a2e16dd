//! Admit-stage benchmark: what the workspace limits gate costs a run, side by side with the
//! gate that admits everything, in one process and one run.
//!
//! Rows (each `BENCH_ADMITS` decisions, default 5,000; p50 / p99 / mean per decision):
//!
//! - the gate alone: `AdmitAll` (baseline); the limits gate with no limits; a request and token
//!   limit counted in process — admitted and refused; the same counted in Redis (the real one
//!   the suite runs, `GALAXY_TEST_REDIS_URL` or 127.0.0.1:6379) — admitted and refused; a live
//!   run's budget reservation and its settlement, on SQLite and on PostgreSQL
//!   (`GALAXY_TEST_PG_URL`);
//! - a whole refused run through the pipeline (prepare → admit refuses → the `rate_limited` run
//!   recorded on SQLite → the error), against a run refused by its input schema before
//!   admission (the same prepare and record work without the gate).
//!
//! Run: `cargo bench -p galaxy-core --features server --bench admit`. The numbers go to
//! BENCHMARKS.md.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use galaxy_core::limiter::SharedLimiter;
use galaxy_core::limits::gate::{LimitsGate, RedisDown};
use galaxy_core::limits::{LimitSettings, set_workspace_limits};
use galaxy_core::runs::{AdmitAll, AdmitRequest, Gate, RunMode, RunTrigger, RunsConfig, Used};
use galaxy_core::testing::{World, draft, request};
use galaxy_core::workspaces::Actor;

fn n() -> usize {
    std::env::var("BENCH_ADMITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

fn ask(actor: &Actor, limits: LimitSettings, mode: RunMode, i: usize) -> AdmitRequest {
    let shipped = galaxy_core::pricing::shipped_prices();
    AdmitRequest {
        run_id: format!("bench-{i}-{}", galaxy_core::db::new_id()),
        actor: actor.clone(),
        workspace_id: actor.workspace_id.clone(),
        agent_id: "agent".into(),
        mode,
        trigger: RunTrigger::Api,
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        max_tokens: 256,
        input_tokens: 40,
        may_repair: false,
        attempts: 3,
        limits: Arc::new(galaxy_core::limits::LimitSet {
            workspace: limits,
            overrides: Default::default(),
        }),
        api_token_id: None,
        price: galaxy_core::pricing::find_price(&[], &shipped, "openai", "gpt-4o-mini").cloned(),
    }
}

struct Row {
    name: String,
    times: Vec<Duration>,
    admitted: usize,
}

fn q(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn print(row: &Row) {
    let mut t = row.times.clone();
    t.sort();
    let mean = t.iter().sum::<Duration>() / u32::try_from(t.len()).unwrap();
    println!(
        "| {} | {:.1} | {:.1} | {:.1} | {}/{} |",
        row.name,
        q(&t, 0.5).as_secs_f64() * 1e6,
        q(&t, 0.99).as_secs_f64() * 1e6,
        mean.as_secs_f64() * 1e6,
        row.admitted,
        t.len()
    );
}

/// `n` decisions of `gate` on fresh requests made by `make`, each admission settled as a run
/// that used nothing of its reservation but 27 µ$ (timed with the decision).
async fn decisions(
    name: &str,
    gate: &dyn Gate,
    make: impl Fn(usize) -> AdmitRequest,
    settle: bool,
) -> Row {
    let mut times = Vec::with_capacity(n());
    let mut admitted = 0;
    for i in 0..n() {
        let req = make(i);
        let started = Instant::now();
        let verdict = gate.admit(&req).await;
        if let Ok(admission) = verdict {
            admitted += 1;
            if settle {
                admission
                    .settle(Used {
                        cost_micros: Some(27),
                        total_tokens: 60,
                    })
                    .await;
            } else {
                admission.keep();
            }
        }
        times.push(started.elapsed());
    }
    Row {
        name: name.to_owned(),
        times,
        admitted,
    }
}

async fn gate_rows(w: &World, label: &str, redis: Option<Arc<SharedLimiter>>) -> Vec<Row> {
    let a = w.workspace(&format!("bench-{label}@example.com")).await;
    let mut rows = Vec::new();
    let free = LimitSettings::default();
    let roomy = LimitSettings {
        requests_per_minute: Some(1_000_000),
        tokens_per_minute: Some(60_000_000),
        ..LimitSettings::default()
    };
    // One request a minute, already used: every decision refuses.
    let full = LimitSettings {
        requests_per_minute: Some(1),
        ..LimitSettings::default()
    };
    let budget = LimitSettings {
        monthly_budget_micros: Some(1_000_000_000),
        ..LimitSettings::default()
    };
    let local = LimitsGate::new(w.db.clone(), None, RedisDown::Closed, None);
    if label == "sqlite" {
        rows.push(
            decisions(
                "AdmitAll (baseline)",
                &AdmitAll,
                |i| ask(&a, free.clone(), RunMode::Mock, i),
                false,
            )
            .await,
        );
        rows.push(
            decisions(
                "limits gate, no limits",
                &local,
                |i| ask(&a, free.clone(), RunMode::Mock, i),
                false,
            )
            .await,
        );
        rows.push(
            decisions(
                "rate, in process: admitted",
                &local,
                |i| ask(&a, roomy.clone(), RunMode::Mock, i),
                true,
            )
            .await,
        );
        let b = w.workspace("bench-full@example.com").await;
        let _ = local.admit(&ask(&b, full.clone(), RunMode::Mock, 0)).await;
        rows.push(
            decisions(
                "rate, in process: refused",
                &local,
                |i| ask(&b, full.clone(), RunMode::Mock, i),
                false,
            )
            .await,
        );
        if let Some(redis) = redis {
            let shared = LimitsGate::new(w.db.clone(), Some(redis), RedisDown::Closed, None);
            rows.push(
                decisions(
                    "rate, Redis: admitted",
                    &shared,
                    |i| ask(&a, roomy.clone(), RunMode::Mock, i),
                    true,
                )
                .await,
            );
            let c = w.workspace("bench-full-redis@example.com").await;
            let _ = shared.admit(&ask(&c, full.clone(), RunMode::Mock, 0)).await;
            rows.push(
                decisions(
                    "rate, Redis: refused",
                    &shared,
                    |i| ask(&c, full.clone(), RunMode::Mock, i),
                    false,
                )
                .await,
            );
        }
    }
    rows.push(
        decisions(
            &format!("budget reserve + settle, {label}"),
            &local,
            |i| ask(&a, budget.clone(), RunMode::Live, i),
            true,
        )
        .await,
    );
    rows
}

/// Whole refused runs through the pipeline, each recorded: refused by the agent's input schema
/// before admission (the baseline: the same prepare and record work, no gate), and refused by
/// the rate limit at admission.
async fn run_rows(w: &World) -> Vec<Row> {
    let a = w.workspace("bench-runs@example.com").await;
    let typed = galaxy_core::agents::AgentDraft {
        input_schema:
            r#"{"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}"#
                .into(),
        ..draft("Typed", "openai", "")
    };
    let typed = w.agent(&a, &typed).await;
    let agent = w.agent(&a, &draft("Bench", "openai", "")).await;
    let gate = LimitsGate::new(w.db.clone(), None, RedisDown::Closed, None);
    let runs = w.with_config(RunsConfig {
        gate: Arc::new(gate),
        ..RunsConfig::default()
    });
    let actor = w.fresh(&a).await;
    let mut rows = Vec::new();
    let mut times = Vec::new();
    for _ in 0..n() {
        let started = Instant::now();
        let run = runs
            .run(&actor, request(&typed.id, r#"{"q": 5}"#, RunMode::Mock))
            .await
            .unwrap();
        times.push(started.elapsed());
        assert_eq!(run.status, galaxy_core::runs::RunStatus::InputInvalid);
    }
    rows.push(Row {
        name: "whole run refused by its input schema, recorded (baseline)".into(),
        admitted: 0,
        times,
    });
    set_workspace_limits(
        &w.db,
        &a,
        &LimitSettings {
            requests_per_minute: Some(1),
            ..LimitSettings::default()
        },
    )
    .await
    .unwrap();
    let actor = w.fresh(&a).await;
    runs.run(&actor, request(&agent.id, "hello", RunMode::Mock))
        .await
        .unwrap();
    let mut times = Vec::new();
    for _ in 0..n() {
        let started = Instant::now();
        let refused = runs
            .run(&actor, request(&agent.id, "hello", RunMode::Mock))
            .await;
        times.push(started.elapsed());
        assert!(matches!(
            refused,
            Err(galaxy_core::CoreError::RateLimited { .. })
        ));
    }
    rows.push(Row {
        name: "whole run refused by the rate limit, recorded".into(),
        admitted: 0,
        times,
    });
    rows
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let redis_url = std::env::var("GALAXY_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis = Arc::new(
            SharedLimiter::new(
                &redis_url,
                &format!("galaxy-bench:{}", galaxy_core::db::new_id()),
            )
            .unwrap(),
        );
        println!("Admit stage: µs per decision ({} each)", n());
        println!();
        println!("| row | p50 µs | p99 µs | mean µs | admitted |");
        println!("|---|---:|---:|---:|---:|");
        let sqlite = World::sqlite().await;
        for row in gate_rows(&sqlite, "sqlite", Some(redis)).await {
            print(&row);
        }
        let postgres = World::postgres().await;
        for row in gate_rows(&postgres, "postgres", None).await {
            print(&row);
        }
        for row in run_rows(&sqlite).await {
            print(&row);
        }
    });
}
