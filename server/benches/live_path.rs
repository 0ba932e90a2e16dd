//! Live-path benchmark: what Galaxy adds on top of a provider call.
//!
//! Starts a fast local fake upstream (OpenAI Chat Completions shape, streamed, no artificial
//! delay) and a real Galaxy server (SQLite in a temporary directory, run recording on), both on
//! loopback. Then, in one run, measures the same requests made directly to the upstream and through
//! Galaxy's live path (session auth → agent load → key decrypt → executor → upstream → run and
//! attempt recorded in one transaction), at 1 and 16 in flight, and the time to first token for
//! streaming. Prints a table; the numbers go to BENCHMARKS.md.

#![expect(
    clippy::unwrap_used,
    clippy::too_many_arguments,
    reason = "a benchmark fails loudly; its helpers take the endpoints plainly"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use futures_util::StreamExt;
use galaxy_core::db::testing::TempDir;
use galaxy_server::config::{DbArgs, LogFormat, ServeArgs};

const KEY: &str = "sk-bench-0123456789abcdef";

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

async fn upstream() -> SocketAddr {
    let body: Arc<str> = sse_body().into();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let body = body.clone();
            async move {
                Response::builder()
                    .header("content-type", "text/event-stream")
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

async fn galaxy(upstream: SocketAddr, dir: &TempDir) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let args = ServeArgs {
        addr,
        db: DbArgs {
            data_dir: dir.path().join("data"),
            database_url: None,
        },
        site_root: Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../public")),
        secure_cookies: None,
        log_format: LogFormat::Text,
        openai_base_url: format!("http://{upstream}/v1"),
        anthropic_base_url: format!("http://{upstream}"),
    };
    let app = galaxy_server::build_app(&args).await.unwrap();
    let listener = axum::serve::ListenerExt::tap_io(listener, |t| {
        let _ = t.set_nodelay(true);
    });
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
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

/// Signs up, stores the key, creates an agent; returns (cookie, agent id).
async fn setup(client: &reqwest::Client, base: &str) -> (String, String) {
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
    (cookie, agent["id"].as_str().unwrap().to_owned())
}

#[derive(Clone, Copy)]
enum Target {
    Direct,
    Galaxy,
}

struct Sample {
    total: Duration,
    first_token: Duration,
}

/// One request: the whole response read, and when the first piece of output arrived.
async fn one(
    client: &reqwest::Client,
    target: Target,
    upstream: &str,
    galaxy: &str,
    cookie: &str,
    agent: &str,
) -> Sample {
    let start = Instant::now();
    let resp = match target {
        Target::Direct => client
            .post(format!("{upstream}/v1/chat/completions"))
            .bearer_auth(KEY)
            .json(&serde_json::json!({
                "model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
            }))
            .send()
            .await
            .unwrap(),
        Target::Galaxy => client
            .post(format!("{galaxy}/api/run_agent_stream"))
            .header("cookie", cookie)
            .form(&[("agent_id", agent), ("input", "Hello"), ("mode", "live")])
            .send()
            .await
            .unwrap(),
    };
    assert!(resp.status().is_success());
    let marker: &[u8] = match target {
        Target::Direct => b"content",
        Target::Galaxy => b"\"delta\"",
    };
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
    if let Target::Galaxy = target {
        assert!(
            String::from_utf8_lossy(&seen).contains("\"succeeded\""),
            "run failed: {}",
            String::from_utf8_lossy(&seen)
        );
    }
    Sample {
        total: start.elapsed(),
        first_token: first_token.unwrap_or_else(|| start.elapsed()),
    }
}

struct Stats {
    p50: Duration,
    p99: Duration,
    ttft_p50: Duration,
    throughput: f64,
}

async fn measure(
    client: &reqwest::Client,
    target: Target,
    in_flight: usize,
    requests: usize,
    upstream: &str,
    galaxy: &str,
    cookie: &str,
    agent: &str,
) -> Stats {
    // Warm-up.
    for _ in 0..20 {
        one(client, target, upstream, galaxy, cookie, agent).await;
    }
    let started = Instant::now();
    let per_worker = requests / in_flight;
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let (client, upstream, galaxy, cookie, agent) = (
            client.clone(),
            upstream.to_owned(),
            galaxy.to_owned(),
            cookie.to_owned(),
            agent.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                out.push(one(&client, target, &upstream, &galaxy, &cookie, &agent).await);
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
    Stats {
        p50: pct(&totals, 0.50),
        p99: pct(&totals, 0.99),
        ttft_p50: pct(&firsts, 0.50),
        throughput: samples.len() as f64 / elapsed.as_secs_f64(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let requests: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
        let dir = TempDir::new().unwrap();
        let up = upstream().await;
        let gx = galaxy(up, &dir).await;
        let (upstream, galaxy) = (format!("http://{up}"), format!("http://{gx}"));
        let client = reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(64).build().unwrap();
        let (cookie, agent) = setup(&client, &galaxy).await;

        println!("Live path: {requests} streamed requests per row, on loopback, SQLite, run recording on.\n");
        println!("| in flight | path | p50 ms | p99 ms | TTFT p50 ms | req/s |");
        println!("|---:|---|---:|---:|---:|---:|");
        let mut rows = Vec::new();
        for in_flight in [1, 16] {
            let direct = measure(&client, Target::Direct, in_flight, requests, &upstream, &galaxy, &cookie, &agent).await;
            let through = measure(&client, Target::Galaxy, in_flight, requests, &upstream, &galaxy, &cookie, &agent).await;
            for (name, s) in [("direct to upstream", &direct), ("through Galaxy", &through)] {
                println!("| {in_flight} | {name} | {} | {} | {} | {:.0} |", ms(s.p50), ms(s.p99), ms(s.ttft_p50), s.throughput);
            }
            rows.push((in_flight, direct, through));
        }
        println!("\n| in flight | added p50 ms | added p99 ms | added TTFT p50 ms | throughput vs direct |");
        println!("|---:|---:|---:|---:|---:|");
        for (in_flight, d, g) in rows {
            println!(
                "| {in_flight} | {} | {} | {} | {:.0}% |",
                ms(g.p50.saturating_sub(d.p50)),
                ms(g.p99.saturating_sub(d.p99)),
                ms(g.ttft_p50.saturating_sub(d.ttft_p50)),
                100.0 * g.throughput / d.throughput
            );
        }
    });
}
