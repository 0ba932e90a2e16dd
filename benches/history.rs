//! Run-history benchmark: the runs page, a run's detail and the dashboard on a workspace with
//! `BENCH_RUNS` runs (default 1,000,000) spread over 30 days across 10 agents, on SQLite and on
//! PostgreSQL (`GALAXY_TEST_PG_URL`), measured at the server's core functions (what a request
//! adds on top is the same for every row), side by side with the floor: a `SELECT 1` round trip.
//!
//! Rows (`BENCH_SAMPLES` each, default 200; p50 / p99 / mean in ms):
//! - list: the newest page of 50; a page deep in the list (a random keyset cursor); filtered by
//!   status (a rare one) and by agent; a text search (a full scan: reported, not targeted);
//! - detail: one run whole with its attempts and the previous run of its agent;
//! - dashboard: 24 h, 7 d and 30 d (after the first 30-day read rolled the closed hours up;
//!   that first read is its own row).
//!
//! Run: `cargo bench -p galaxy-core --features testing --bench history`.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::time::{Duration, Instant};

use galaxy_core::charts::{ChartRange, charts};
use galaxy_core::db::{Db, now_ms};
use galaxy_core::runs::{RunQuery, RunStatus, get_run, list_attempts, previous_run, query_runs};
use galaxy_core::testing::{World, draft};
use galaxy_core::workspaces::Actor;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A cheap deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const STATUSES: [(&str, u64); 5] = [
    ("succeeded", 900),
    ("failed", 50),
    ("input_invalid", 30),
    ("output_invalid", 15),
    ("rate_limited", 5),
];

async fn seed(w: &World, actor: &Actor, agents: &[String], runs: usize) -> Vec<String> {
    let now = now_ms();
    let span = 30 * 86_400_000_u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut sample = Vec::new();
    let per_statement = 400;
    let mut done = 0;
    let started = Instant::now();
    while done < runs {
        let mut tx = w.db.pool().begin().await.unwrap();
        for _ in 0..25 {
            let n = per_statement.min(runs - done);
            if n == 0 {
                break;
            }
            let mut sql = String::from(
                "INSERT INTO runs (id, workspace_id, agent_id, agent_name, agent_version, mode, \
                 run_trigger, status, input, output, output_is_json, provider, model, \
                 prompt_tokens, completion_tokens, total_tokens, cost_micros, cost_source, \
                 latency_ms, attempts, triggered_by, created_at, finished_at) VALUES ",
            );
            let mut rows = Vec::with_capacity(n);
            for i in 0..n {
                let b = i * 10;
                sql.push_str(&format!(
                    "{}(${}, $1, ${}, 'Agent', 1, 'live', 'api', ${}, ${}, ${}, 0, 'openai', \
                     'gpt-4o-mini', 40, ${}, ${}, ${}, 'provider_usage', ${}, 1, $2, ${}, ${})",
                    if i == 0 { "" } else { ", " },
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8,
                    b + 9,
                    b + 10,
                    b + 11,
                    b + 12,
                    b + 12
                ));
                let pick = rng.below(1000);
                let mut acc = 0;
                let status = STATUSES
                    .iter()
                    .find(|(_, weight)| {
                        acc += weight;
                        pick < acc
                    })
                    .map_or("succeeded", |s| s.0);
                let out = 20 + i64::try_from(rng.below(400)).unwrap();
                let at = now - i64::try_from(rng.below(span)).unwrap();
                let id = galaxy_core::db::new_id();
                if sample.len() < 1_000 && rng.below(500) == 0 {
                    sample.push(id.clone());
                }
                rows.push((
                    id,
                    agents[usize::try_from(rng.below(10)).unwrap()].clone(),
                    status,
                    format!("question number {} about the printer", rng.below(1_000_000)),
                    format!("An answer of {out} tokens."),
                    out,
                    40 + out,
                    out * 3 / 2,
                    80 + i64::try_from(rng.below(3_000)).unwrap(),
                    at,
                ));
            }
            let mut q = sqlx::query(&sql)
                .bind(&actor.workspace_id)
                .bind(&actor.user_id);
            for r in rows {
                q = q
                    .bind(r.0)
                    .bind(r.1)
                    .bind(r.2)
                    .bind(r.3)
                    .bind(r.4)
                    .bind(r.5)
                    .bind(r.6)
                    .bind(r.7)
                    .bind(r.8)
                    .bind(r.9);
            }
            q.execute(&mut *tx).await.unwrap();
            done += n;
        }
        tx.commit().await.unwrap();
    }
    for id in &sample {
        sqlx::query(
            "INSERT INTO run_attempts (run_id, workspace_id, number, http_status, waited_ms, \
             latency_ms, prompt_tokens, completion_tokens) VALUES ($1, $2, 1, 200, 0, 300, 40, 60)",
        )
        .bind(id)
        .bind(&actor.workspace_id)
        .execute(w.db.pool())
        .await
        .unwrap();
    }
    // Both planners get the statistics a long-lived database has.
    sqlx::query("ANALYZE").execute(w.db.pool()).await.unwrap();
    eprintln!(
        "seeded {runs} runs in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    sample
}

fn row(name: &str, mut t: Vec<Duration>) {
    t.sort();
    let q = |p: f64| t[((t.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    let mean = t.iter().sum::<Duration>().as_secs_f64() * 1e3 / t.len() as f64;
    println!("| {name} | {:.2} | {:.2} | {mean:.2} |", q(0.5), q(0.99));
}

async fn time<F, Fut>(samples: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        f(i).await;
        out.push(t.elapsed());
    }
    out
}

fn page(before: Option<(i64, String)>) -> RunQuery {
    RunQuery {
        agent_id: None,
        status: None,
        mode: None,
        trigger: None,
        provider: None,
        model: None,
        api_token_id: None,
        from_ms: None,
        to_ms: None,
        text: None,
        before,
        limit: 50,
        whole: false,
    }
}

async fn bench(label: &str, w: World) {
    let runs = env("BENCH_RUNS", 1_000_000);
    let samples = env("BENCH_SAMPLES", 200);
    let owner = w.workspace("bench@example.com").await;
    let mut agents = Vec::new();
    for i in 0..10 {
        agents.push(
            w.agent(&owner, &draft(&format!("Agent {i}"), "openai", ""))
                .await
                .id,
        );
    }
    let actor = w.fresh(&owner).await;
    let a = &actor;
    let sample = seed(&w, a, &agents, runs).await;
    // Measure the steady state, not the seeding's aftermath: on SQLite, fold the seeding's
    // write-ahead log into the database first (the server's background checkpoint would be
    // copying a gigabyte of it while the first rows are timed).
    if label == "SQLite" {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(w.db.pool())
            .await
            .unwrap();
    }
    let db: &Db = &w.db;
    println!("\n{label}: {runs} runs in one workspace, {samples} samples a row\n");
    println!("| operation | p50 ms | p99 ms | mean ms |");
    println!("|---|---:|---:|---:|");
    row(
        "floor: SELECT 1",
        time(samples, |_| async {
            sqlx::query("SELECT 1").execute(db.pool()).await.unwrap();
        })
        .await,
    );
    row(
        "list: newest 50",
        time(samples, |_| async {
            assert_eq!(query_runs(db, a, &page(None)).await.unwrap().runs.len(), 50);
        })
        .await,
    );
    let sample_runs: Vec<_> = {
        let mut v = Vec::new();
        for id in sample.iter().take(50) {
            v.push(get_run(db, a, id).await.unwrap());
        }
        v
    };
    row(
        "list: a page deep in the list (keyset)",
        time(samples, |i| {
            let r = &sample_runs[i % sample_runs.len()];
            let q = page(Some((r.created_at, r.id.clone())));
            async move {
                query_runs(db, a, &q).await.unwrap();
            }
        })
        .await,
    );
    row(
        "list: status = rate_limited (0.5%)",
        time(samples, |_| async {
            let q = RunQuery {
                status: Some(RunStatus::RateLimited),
                ..page(None)
            };
            assert_eq!(query_runs(db, a, &q).await.unwrap().runs.len(), 50);
        })
        .await,
    );
    row(
        "list: one agent",
        time(samples, |i| {
            let q = RunQuery {
                agent_id: Some(agents[i % 10].clone()),
                ..page(None)
            };
            async move {
                query_runs(db, a, &q).await.unwrap();
            }
        })
        .await,
    );
    row(
        "list: text search (full scan)",
        time(samples.min(10), |_| async {
            let q = RunQuery {
                text: Some("no such words".into()),
                ..page(None)
            };
            query_runs(db, a, &q).await.unwrap();
        })
        .await,
    );
    row(
        "detail: run + attempts + previous",
        time(samples, |i| {
            let id = sample[i % sample.len()].clone();
            async move {
                let run = get_run(db, a, &id).await.unwrap();
                assert_eq!(list_attempts(db, a, &id).await.unwrap().len(), 1);
                previous_run(db, a, &run).await.unwrap();
            }
        })
        .await,
    );
    let t = Instant::now();
    charts(db, a, ChartRange::Month, None, now_ms())
        .await
        .unwrap();
    println!(
        "| dashboard: first 30-day read (rolls {} hours up) | {:.0} | | |",
        30 * 24,
        t.elapsed().as_secs_f64() * 1e3
    );
    for (name, range) in [
        ("24 h", ChartRange::Day),
        ("7 d", ChartRange::Week),
        ("30 d", ChartRange::Month),
    ] {
        row(
            &format!("dashboard: {name}"),
            time(samples, |_| async move {
                let c = charts(db, a, range, None, now_ms()).await.unwrap();
                assert!(c.total.runs > 0);
            })
            .await,
        );
    }
    row(
        "dashboard: 30 d, one agent",
        time(samples, |i| {
            let agent = agents[i % 10].clone();
            async move {
                charts(db, a, ChartRange::Month, Some(&agent), now_ms())
                    .await
                    .unwrap();
            }
        })
        .await,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // BENCH_ONLY=sqlite or postgres runs one backend.
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        if only != "postgres" {
            bench("SQLite", World::sqlite().await).await;
        }
        if only != "sqlite" {
            bench("PostgreSQL", World::postgres().await).await;
        }
    });
}
