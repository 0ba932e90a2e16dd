//! Live-path benchmark: what Galaxy adds on top of a provider call, with every run recorded.
//!
//! One command, one run, side by side:
//!
//! - a fast local fake upstream (OpenAI Chat Completions, a fixed SSE stream with usage, no
//!   artificial delay) in this process;
//! - the real `galaxy` binary (release build, `CARGO_BIN_EXE_galaxy`) in **its own process**, on a
//!   fresh SQLite data directory and then on a fresh PostgreSQL database;
//! - the load from this process: the same streamed request made directly to the upstream and
//!   through Galaxy's streamed run (`run_agent_stream`: session → agent → key → executor →
//!   upstream → run recorded → `finished`), at 1, 16 and 64 requests in flight.
//!
//! Then the API path — the production one: an API token and the OpenAI-compatible
//! `/v1/chat/completions`, streamed and whole, against the upstream called directly the same way.
//!
//! Printed per backend: p50/p99 latency and TTFT of both paths, the throughput, what Galaxy adds,
//! and the count check — runs acknowledged (`finished` with `succeeded`) against rows in the
//! database, and every acknowledged run id found there. `BENCH_REQUESTS` sets the requests per
//! row (default 2,000); `BENCH_BACKENDS` picks `sqlite`, `postgres` or both (default);
//! `BENCH_IN_FLIGHT` the levels (default `1,16,64`).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark fails loudly"
)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use futures_util::StreamExt;
use galaxy_core::db::Db;
use galaxy_core::db::testing::{TempDir, fresh_postgres_url};

const KEY: &str = "sk-bench-0123456789abcdef";
const BIN: &str = env!("CARGO_BIN_EXE_galaxy");

fn sse_body() -> String {
    let mut body = String::new();
    for w in ["Hello", " from", " the", " bench", " upstream", "."] {
        body.push_str(&format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}},\"finish_reason\":null}}]}}\n\n"
        ));
    }
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    body.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":6,\"total_tokens\":18}}\n\n");
    body.push_str("data: [DONE]\n\n");
    body
}

/// The same answer, whole (a request without `"stream": true`).
fn whole_body() -> String {
    serde_json::json!({
        "id": "c", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the bench upstream."},
            "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}
    })
    .to_string()
}

async fn upstream() -> SocketAddr {
    let (sse, whole): (Arc<str>, Arc<str>) = (sse_body().into(), whole_body().into());
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move |request: axum::body::Bytes| {
            let wanted: &[u8] = b"\"stream\":true";
            let streamed = request.windows(wanted.len()).any(|w| w == wanted);
            let (body, kind) = if streamed {
                (sse.clone(), "text/event-stream")
            } else {
                (whole.clone(), "application/json")
            };
            async move {
                Response::builder()
                    .header("content-type", kind)
                    .body(Body::from(body.to_string()))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = axum::serve::ListenerExt::tap_io(listener, |t| {
        let _ = t.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// The `galaxy` process under test; stopped when dropped.
struct Galaxy {
    child: Child,
    base: String,
    database_url: String,
    _dir: TempDir,
}

impl Drop for Galaxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_galaxy(upstream: SocketAddr, database_url: Option<String>) -> Galaxy {
    let dir = TempDir::new().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = dir.path().join("data");
    let database_url = database_url
        .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", data.join("galaxy.db").display()));
    let site = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../public");
    let child = Command::new(BIN)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data)
        .arg("--site-root")
        .arg(site)
        .args(["--database-url", &database_url])
        .args(["--openai-base-url", &format!("http://{upstream}/v1")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start galaxy");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "galaxy did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Galaxy {
        child,
        base,
        database_url,
        _dir: dir,
    }
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    name: &str,
    form: &[(&str, &str)],
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut req = client
        .post(format!("{base}/api/{name}"))
        .header("accept", "application/json")
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let resp = req.send().await.unwrap();
    assert!(resp.status().is_success(), "{name}: {}", resp.status());
    resp
}

/// Signs up, stores the key, creates an agent (slug `bench`) and an API token; returns (cookie,
/// agent id, token).
async fn setup(client: &reqwest::Client, base: &str) -> (String, String, String) {
    let resp = call(
        client,
        base,
        "sign_up",
        &[
            ("email", "bench@example.com"),
            ("display_name", "Bench"),
            ("password", "correct horse battery"),
        ],
        None,
    )
    .await;
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("galaxy_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .unwrap();
    call(
        client,
        base,
        "add_key",
        &[
            ("provider", "openai"),
            ("label", "bench"),
            ("base_url", ""),
            ("api_key", KEY),
        ],
        Some(&cookie),
    )
    .await;
    let agent: serde_json::Value = call(
        client,
        base,
        "save_agent",
        &[
            ("draft[name]", "Bench"),
            ("draft[description]", ""),
            ("draft[provider]", "openai"),
            ("draft[model]", "gpt-4o-mini"),
            ("draft[system_prompt]", "Be brief."),
            ("draft[temperature]", "0"),
            ("draft[max_tokens]", "64"),
            ("draft[input_schema]", ""),
            ("draft[output_schema]", ""),
        ],
        Some(&cookie),
    )
    .await
    .json()
    .await
    .unwrap();
    let token: serde_json::Value = call(
        client,
        base,
        "create_api_token",
        &[
            ("name", "bench"),
            ("scopes[0]", "run"),
            ("expires_in_days", "30"),
        ],
        Some(&cookie),
    )
    .await
    .json()
    .await
    .unwrap();
    (
        cookie,
        agent["id"].as_str().unwrap().to_owned(),
        token["token"].as_str().unwrap().to_owned(),
    )
}

#[derive(Clone)]
enum Target {
    /// The upstream itself, streamed (`stream: true`) or whole.
    Direct { url: String, stream: bool },
    /// The test panel's streamed run (a session).
    Galaxy {
        url: String,
        cookie: String,
        agent: String,
    },
    /// Galaxy's OpenAI-compatible endpoint with an API token, streamed or whole.
    Chat {
        url: String,
        token: String,
        stream: bool,
    },
}

struct Sample {
    total: Duration,
    first_token: Duration,
    /// The id of the run Galaxy acknowledged as succeeded.
    run_id: Option<String>,
}

/// One request: the whole response read, and when the first piece of output arrived.
async fn one(client: &reqwest::Client, target: &Target) -> Sample {
    let start = Instant::now();
    // The first piece of output: the first word of the answer.
    let (resp, marker): (_, &[u8]) = match target {
        Target::Direct { url, stream } => {
            let mut body = serde_json::json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
            });
            if *stream {
                body["stream"] = true.into();
                body["stream_options"] = serde_json::json!({"include_usage": true});
            }
            (
                client
                    .post(url)
                    .bearer_auth(KEY)
                    .json(&body)
                    .send()
                    .await
                    .unwrap(),
                b"\"content\":\"Hello",
            )
        }
        Target::Chat { url, token, stream } => (
            client
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({
                    "model": "agent/bench", "stream": stream,
                    "stream_options": {"include_usage": true},
                    "messages": [{"role": "user", "content": "Hello"}]
                }))
                .send()
                .await
                .unwrap(),
            b"\"content\":\"Hello",
        ),
        Target::Galaxy { url, cookie, agent } => (
            client
                .post(url)
                .header("cookie", cookie)
                .form(&[
                    ("agent_id", agent.as_str()),
                    ("input", "Hello"),
                    ("mode", "live"),
                    ("trigger", "test_panel"),
                ])
                .send()
                .await
                .unwrap(),
            b"\"delta\"",
        ),
    };
    assert!(resp.status().is_success(), "{}", resp.status());
    let header_run_id = resp
        .headers()
        .get("x-galaxy-run-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut first_token = None;
    let mut seen = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        seen.extend_from_slice(&chunk);
        if first_token.is_none() && seen.windows(marker.len()).any(|w| w == marker) {
            first_token = Some(start.elapsed());
        }
    }
    let total = start.elapsed();
    let run_id = match target {
        Target::Direct { .. } => None,
        Target::Chat { stream, .. } => {
            let text = String::from_utf8_lossy(&seen);
            if *stream {
                assert!(
                    text.trim_end().ends_with("data: [DONE]"),
                    "unfinished: {text}"
                );
                assert!(
                    text.contains("\"usage\":{\"prompt_tokens\":12"),
                    "no usage: {text}"
                );
            } else {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["galaxy"]["status"], "succeeded", "run failed: {text}");
                assert_eq!(v["usage"]["total_tokens"], 18, "{text}");
            }
            Some(header_run_id.expect("x-galaxy-run-id"))
        }
        Target::Galaxy { .. } => {
            let text = String::from_utf8_lossy(&seen);
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let v: serde_json::Value = serde_json::from_str(last)
                .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {text}"));
            assert_eq!(v["type"], "finished", "run did not finish: {text}");
            assert_eq!(v["run"]["status"], "succeeded", "run failed: {text}");
            Some(v["run"]["id"].as_str().unwrap().to_owned())
        }
    };
    Sample {
        total,
        first_token: first_token.unwrap_or(total),
        run_id,
    }
}

struct Stats {
    p50: Duration,
    p99: Duration,
    ttft_p50: Duration,
    ttft_p99: Duration,
    throughput: f64,
}

/// `requests` requests with `in_flight` workers; returns the stats and the acknowledged run ids.
async fn measure(
    client: &reqwest::Client,
    target: &Target,
    in_flight: usize,
    requests: usize,
) -> (Stats, Vec<String>) {
    let mut acknowledged = Vec::new();
    // Warm-up: connections, caches, prepared statements.
    for _ in 0..50 {
        acknowledged.extend(one(client, target).await.run_id);
    }
    let started = Instant::now();
    let per_worker = requests.div_ceil(in_flight);
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (client, target) = (client.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                out.push(one(&client, &target).await);
            }
            out
        }));
    }
    let mut samples = Vec::new();
    for t in tasks {
        samples.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    let mut totals: Vec<Duration> = samples.iter().map(|s| s.total).collect();
    let mut firsts: Vec<Duration> = samples.iter().map(|s| s.first_token).collect();
    totals.sort();
    firsts.sort();
    let pct = |v: &[Duration], p: f64| {
        v[((v.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(v.len() - 1)]
    };
    let stats = Stats {
        p50: pct(&totals, 0.50),
        p99: pct(&totals, 0.99),
        ttft_p50: pct(&firsts, 0.50),
        ttft_p99: pct(&firsts, 0.99),
        throughput: samples.len() as f64 / elapsed.as_secs_f64(),
    };
    acknowledged.extend(samples.into_iter().filter_map(|s| s.run_id));
    (stats, acknowledged)
}

/// Cumulative bucket counts of each run stage, from Galaxy's `/metrics`.
type StageBuckets = std::collections::BTreeMap<String, Vec<(f64, u64)>>;

/// Cumulative buckets of the stage histogram (by stage) and of the recorder's histograms.
async fn stage_buckets(client: &reqwest::Client, base: &str) -> StageBuckets {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut out = StageBuckets::new();
    for line in text.lines() {
        let (rest, named) = if let Some(r) =
            line.strip_prefix("galaxy_run_stage_duration_seconds_bucket{")
        {
            (r, None)
        } else if let Some(r) = line.strip_prefix("galaxy_recorder_batch_size_bucket{") {
            (r, Some("batch"))
        } else if let Some(r) = line.strip_prefix("galaxy_recorder_commit_duration_seconds_bucket{")
        {
            (r, Some("commit"))
        } else {
            continue;
        };
        let Some((labels, count)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        let (Some(stage), Some(le)) = (
            named.map(str::to_owned).or_else(|| label("stage")),
            label("le"),
        ) else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::INFINITY)
        };
        out.entry(stage)
            .or_default()
            .push((le, count.trim().parse().unwrap_or(0)));
    }
    for buckets in out.values_mut() {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// The bucket bound under which a fraction `q` of the stage's samples between two scrapes fall.
fn bucket_quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64, count_of: bool) -> String {
    let count =
        |le: f64, of: &[(f64, u64)]| of.iter().find(|(l, _)| *l == le).map_or(0, |(_, c)| *c);
    let total = after.last().map_or(0, |(le, c)| c - count(*le, before));
    if total == 0 {
        return "—".into();
    }
    for (le, c) in after {
        let n = c - count(*le, before);
        if n as f64 >= q * total as f64 {
            return if count_of {
                format!("≤ {le}")
            } else if le.is_infinite() {
                "> 1 s".into()
            } else if *le < 0.001 {
                format!("≤ {:.0} µs", le * 1e6)
            } else {
                format!("≤ {:.1} ms", le * 1e3)
            };
        }
    }
    "—".into()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn added(a: Duration, b: Duration) -> String {
    ms(a.saturating_sub(b))
}

/// Runs acknowledged vs rows written: counts, and every acknowledged id present.
async fn count_check(database_url: &str, acknowledged: &[String]) -> (usize, i64, usize) {
    let db = Db::connect(database_url).await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM runs WHERE status = 'succeeded'")
        .fetch_all(db.pool())
        .await
        .unwrap();
    let stored: HashSet<String> = ids.into_iter().map(|(id,)| id).collect();
    let found = acknowledged
        .iter()
        .filter(|id| stored.contains(*id))
        .count();
    db.close().await;
    (acknowledged.len(), rows, found)
}

async fn bench_backend(backend: &str, up: SocketAddr, requests: usize) {
    let database_url = match backend {
        "postgres" => Some(fresh_postgres_url().await.unwrap()),
        _ => None,
    };
    let galaxy = start_galaxy(up, database_url).await;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(128)
        .build()
        .unwrap();
    let (cookie, agent, token) = setup(&client, &galaxy.base).await;
    let direct = Target::Direct {
        url: format!("http://{up}/v1/chat/completions"),
        stream: true,
    };
    let direct_whole = Target::Direct {
        url: format!("http://{up}/v1/chat/completions"),
        stream: false,
    };
    let chat = |stream| Target::Chat {
        url: format!("{}/v1/chat/completions", galaxy.base),
        token: token.clone(),
        stream,
    };
    let through = Target::Galaxy {
        url: format!("{}/api/run_agent_stream", galaxy.base),
        cookie,
        agent,
    };

    println!(
        "\n### {backend}: {requests} streamed requests per row, loopback, Galaxy in its own process, run recording on\n"
    );
    println!("| in flight | path | p50 ms | p99 ms | TTFT p50 ms | TTFT p99 ms | req/s |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    let mut stages = Vec::new();
    let mut acknowledged = Vec::new();
    for in_flight in levels() {
        let (d, _) = measure(&client, &direct, in_flight, requests).await;
        let before = stage_buckets(&client, &galaxy.base).await;
        let (g, ids) = measure(&client, &through, in_flight, requests).await;
        stages.push((
            in_flight,
            before,
            stage_buckets(&client, &galaxy.base).await,
        ));
        acknowledged.extend(ids);
        for (name, s) in [("direct to upstream", &d), ("through Galaxy", &g)] {
            println!(
                "| {in_flight} | {name} | {} | {} | {} | {} | {:.0} |",
                ms(s.p50),
                ms(s.p99),
                ms(s.ttft_p50),
                ms(s.ttft_p99),
                s.throughput
            );
        }
        rows.push((in_flight, d, g));
    }
    println!(
        "\n| in flight | added p50 ms | added p99 ms | added TTFT p50 ms | Galaxy p99 ms | Galaxy runs/s |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for (in_flight, d, g) in &rows {
        println!(
            "| {in_flight} | {} | {} | {} | {} | {:.0} |",
            added(g.p50, d.p50),
            added(g.p99, d.p99),
            added(g.ttft_p50, d.ttft_p50),
            ms(g.p99),
            g.throughput
        );
    }
    println!(
        "\nWhere Galaxy's time goes (server-side stage histograms; bucket bounds, p50 / p99):\n"
    );
    println!(
        "| in flight | auth | prepare | admit | start (running row) | to first token | record | recorder commit | writes per commit |"
    );
    println!("|---:|---|---|---|---|---|---|---|---|");
    for (in_flight, before, after) in &stages {
        let cell = |stage: &str| {
            let empty = Vec::new();
            let b = before.get(stage).unwrap_or(&empty);
            let a = after.get(stage).unwrap_or(&empty);
            let counts = stage == "batch";
            format!(
                "{} / {}",
                bucket_quantile(b, a, 0.5, counts),
                bucket_quantile(b, a, 0.99, counts)
            )
        };
        println!(
            "| {in_flight} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell("auth"),
            cell("prepare"),
            cell("admit"),
            cell("start"),
            cell("first_token"),
            cell("record"),
            cell("commit"),
            cell("batch")
        );
    }

    // The production path: an API token and the OpenAI-compatible endpoint, streamed and whole,
    // against the same upstream answering the same way.
    println!(
        "\n#### {backend}: the API path — OpenAI-compatible /v1/chat/completions with a token, vs direct\n"
    );
    println!(
        "| in flight | answer | direct p50 ms | via Galaxy p50 ms | added p50 ms | direct p99 ms | via Galaxy p99 ms | added p99 ms | added TTFT p50 ms | Galaxy req/s |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for in_flight in levels() {
        for (answer, direct, through) in [
            ("streamed", &direct, chat(true)),
            ("whole", &direct_whole, chat(false)),
        ] {
            let (d, _) = measure(&client, direct, in_flight, requests).await;
            let (g, ids) = measure(&client, &through, in_flight, requests).await;
            acknowledged.extend(ids);
            println!(
                "| {in_flight} | {answer} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
                ms(d.p50),
                ms(g.p50),
                added(g.p50, d.p50),
                ms(d.p99),
                ms(g.p99),
                added(g.p99, d.p99),
                added(g.ttft_p50, d.ttft_p50),
                g.throughput
            );
        }
    }

    let (acked, rows, found) = count_check(&galaxy.database_url, &acknowledged).await;
    println!(
        "\nCount check ({backend}): {acked} runs acknowledged, {rows} succeeded rows in the database, \
         {found} of the acknowledged ids found ({:.1} %).",
        100.0 * found as f64 / acked.max(1) as f64
    );
    assert_eq!(
        found, acked,
        "an acknowledged run is missing from the database"
    );
    assert_eq!(
        rows,
        i64::try_from(acked).unwrap(),
        "rows and acknowledgements differ"
    );
}

/// The in-flight levels to measure (`BENCH_IN_FLIGHT=1,16,64` by default).
fn levels() -> Vec<usize> {
    std::env::var("BENCH_IN_FLIGHT")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 16, 64])
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let requests: usize = std::env::var("BENCH_REQUESTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000);
        let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
        let up = upstream().await;
        println!("Live path: direct vs through Galaxy, added latency and the count check.");
        for backend in backends.split(',').map(str::trim) {
            bench_backend(backend, up, requests).await;
        }
    });
}
