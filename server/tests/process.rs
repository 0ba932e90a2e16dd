//! The real `galaxy` binary as a user runs it: first start creates everything, bad configuration
//! is a one-line error naming the setting, SIGTERM stops it cleanly, data and sessions are still
//! there after a restart, a pathological contract cannot exhaust it, and of two servers on one
//! PostgreSQL a killed one's runs are interrupted while the other's keep going, and two on one
//! PostgreSQL and one Redis enforce one rate limit and one budget.
//!
//! Every server and command here runs on a temporary data directory and a free port (never the
//! source tree, never port 3000), every wait has a deadline, and a server is killed when its
//! handle drops — a failing assertion never leaves an orphan process behind.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use galaxy_core::db::testing::TempDir;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_galaxy");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the binary to its end (at most 30 s: a command that should fail but serves instead is
/// killed and reported).
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("GALAXY_ADDR")
        .env_remove("GALAXY_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`galaxy {}` did not finish within 30 s", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A running `galaxy serve`; killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Server {
    async fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[]).await
    }

    /// [`Server::start`] with more `serve` arguments.
    async fn start_with(data_dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("../public");
        let child = Command::new(BIN)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--site-root")
            .arg(site)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Server { child, base }
    }

    /// SIGTERM, then the exit status (the server must stop by itself within 10 s).
    fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Signs up `email` (password `correct horse battery`); the session cookie.
    async fn sign_up(&self, email: &str) -> String {
        let (status, cookie, body) = self
            .call(
                "sign_up",
                &[
                    ("email", email),
                    ("display_name", "Tester"),
                    ("password", "correct horse battery"),
                ],
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        cookie.unwrap()
    }

    async fn call(
        &self,
        name: &str,
        form: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> (u16, Option<String>, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/api/{name}", self.base))
            .header("accept", "application/json")
            .form(form);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("galaxy_session="))
            .map(|c| c.split(';').next().unwrap().to_owned());
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        (status, cookie, body)
    }
}

#[test]
fn bad_configuration_is_one_line_naming_the_setting() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let out = run(&["serve", "--data-dir", d, "--addr", "not-an-address"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--addr"), "{err}");

    let out = run(
        &["serve", "--data-dir", d],
        &[("GALAXY_ADDR", "300.1.1.1:80")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--addr"));

    let out = run(
        &["serve", "--data-dir", d, "--addr", "127.0.0.1:0"],
        &[("DATABASE_URL", "mysql://localhost/galaxy")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A bad site root is refused before anything is created on disk.
    let fresh = dir.path().join("untouched");
    let out = run(
        &[
            "serve",
            "--data-dir",
            fresh.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--site-root",
            "/no/such/folder",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("LEPTOS_SITE_ROOT")
    );
    assert!(!fresh.exists(), "nothing was created for a refused start");

    let out = run(
        &["serve", "--data-dir", d, "--max-run-output-bytes", "12"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("--max-run-output-bytes")
    );

    let out = run(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn migrate_creates_the_database() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("fresh/data");
    let out = run(&["migrate", "--data-dir", data.to_str().unwrap()], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.join("galaxy.db").is_file());
}

#[tokio::test]
async fn first_start_creates_everything_and_data_survives_a_restart() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("nested/data");
    let server = Server::start(&data).await;
    assert!(
        data.join("galaxy.db").is_file(),
        "SQLite database created on first start"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "data directory is private");
    }
    let cookie = server.sign_up("p@example.com").await;
    let (status, _, agent) = server
        .call(
            "save_agent",
            &[
                ("draft[name]", "Survivor"),
                ("draft[description]", ""),
                ("draft[provider]", "anthropic"),
                ("draft[model]", "claude-haiku"),
                ("draft[system_prompt]", ""),
                ("draft[temperature]", "0"),
                ("draft[max_tokens]", "64"),
                ("draft[input_schema]", ""),
                ("draft[output_schema]", ""),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, 200, "{agent}");
    let id = agent["id"].as_str().unwrap().to_owned();
    let (status, _, run) = server
        .call(
            "run_agent",
            &[("agent_id", &id), ("input", "hello"), ("mode", "mock")],
            Some(&cookie),
        )
        .await;
    assert_eq!((status, run["status"].as_str()), (200, Some("succeeded")));

    let exit = server.stop();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");

    let server = Server::start(&data).await;
    let (_, _, me) = server.call("get_current_user", &[], Some(&cookie)).await;
    assert_eq!(
        me["email"], "p@example.com",
        "the session survived the restart"
    );
    let (_, _, agents) = server.call("list_agents", &[], Some(&cookie)).await;
    assert_eq!(agents[0]["name"], "Survivor");
    let (_, _, runs) = server
        .call("list_agent_runs", &[("agent_id", &id)], Some(&cookie))
        .await;
    assert_eq!(runs[0]["id"], run["id"]);
    assert!(server.stop().success());
}

#[test]
fn master_key_rotation_cli_and_bad_keyrings() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let keys = |args: &[&str]| {
        let mut all = vec!["keys", "--data-dir", d];
        all.extend_from_slice(args);
        let out = run(&all, &[]);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, _) = keys(&["list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("1   yes"), "{out}");
    assert_eq!(keys(&["add"]).1.trim(), "added master key 2");
    assert_eq!(keys(&["activate", "2"]).0, Some(0));
    assert!(keys(&["rewrap"]).1.contains("with master key 2"));
    let (code, _, err) = keys(&["retire", "2"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("active"), "{err}");
    assert_eq!(keys(&["retire", "1"]).0, Some(0));
    let (_, out, _) = keys(&["list"]);
    assert!(!out.contains("\n1 ") && out.contains("2   yes"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("keyring.json"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    // A malformed keyring stops the server at start with a message naming it.
    std::fs::write(data.join("keyring.json"), "{\"active\": 1}").unwrap();
    let out = run(&["serve", "--data-dir", d, "--addr", "127.0.0.1:0"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keyring"), "{err}");
    let out = run(
        &["serve", "--data-dir", d, "--addr", "127.0.0.1:0"],
        &[("GALAXY_KEYRING", "not json")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GALAXY_KEYRING"));
}

/// The largest resident set the process has had, in bytes (Linux: `VmHWM`).
#[cfg(target_os = "linux")]
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024
}

fn agent_form(
    name: &'static str,
    output_schema: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("draft[name]", name),
        ("draft[description]", ""),
        ("draft[provider]", "openai"),
        ("draft[model]", "gpt-4o-mini"),
        ("draft[system_prompt]", ""),
        ("draft[temperature]", "0"),
        ("draft[max_tokens]", "64"),
        ("draft[input_schema]", ""),
        ("draft[output_schema]", output_schema),
    ]
}

/// The contract that once made the server build a 300 MB reply in 2 GB of memory: refused when
/// saved; an agent that has it anyway (saved before the rule) ends as `output_too_large` in under
/// a second, and the server's peak memory stays under 150 MB.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_contract_with_a_huge_smallest_reply_cannot_exhaust_the_server() {
    const HUGE: &str =
        r#"{"type":"array","minItems":10000,"items":{"type":"string","minLength":10000}}"#;
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data).await;
    let cookie = server.sign_up("big@example.com").await;
    let (status, _, refused) = server
        .call("save_agent", &agent_form("Huge", HUGE), Some(&cookie))
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["Validation"][0]["field"], "output_schema");
    assert!(
        refused["Validation"][0]["message"]
            .as_str()
            .unwrap()
            .contains("MiB"),
        "{refused}"
    );

    // Saved without it, then given it behind Galaxy's back.
    let (status, _, agent) = server
        .call("save_agent", &agent_form("Huge", ""), Some(&cookie))
        .await;
    assert_eq!(status, 200, "{agent}");
    let id = agent["id"].as_str().unwrap().to_owned();
    let db =
        galaxy_core::db::Db::connect(&format!("sqlite://{}", data.join("galaxy.db").display()))
            .await
            .unwrap();
    sqlx::query("UPDATE agents SET output_schema = $1 WHERE id = $2")
        .bind(HUGE)
        .bind(&id)
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE workspaces SET generation = generation + 1")
        .execute(db.pool())
        .await
        .unwrap();
    db.close().await;

    let started = Instant::now();
    let (status, _, run) = server
        .call(
            "run_agent",
            &[("agent_id", &id), ("input", "go"), ("mode", "mock")],
            Some(&cookie),
        )
        .await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["error_kind"], "output_too_large", "{run}");
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let peak = peak_rss(server.child.id());
    eprintln!(
        "huge contract: answered in {took:?}, server peak RSS {} KiB",
        peak / 1024
    );
    assert!(
        peak < 150 * 1024 * 1024,
        "peak RSS {} MB",
        peak / (1024 * 1024)
    );
}

/// `--metrics-addr` moves `/metrics` to a listener of its own: served there, gone from the main
/// address (which may be public).
#[tokio::test]
async fn metrics_can_live_on_a_separate_listener() {
    let dir = TempDir::new().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = Server::start_with(&dir.path().join("data"), &["--metrics-addr", &metrics]).await;
    let main = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(main.status().as_u16(), 404);
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        if let Ok(r) = reqwest::get(format!("http://{metrics}/metrics")).await
            && r.status().is_success()
        {
            break r.headers()["content-type"].to_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "metrics listener did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(text.starts_with("text/plain; version=0.0.4"), "{text}");
    assert!(server.stop().success());
}

/// A fake OpenAI upstream whose streamed answers send one chunk and then wait for `release`.
async fn held_upstream(release: tokio::sync::watch::Receiver<bool>) -> String {
    use axum::body::Body;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let mut release = release.clone();
            async move {
                let chunk = |delta: &str, finish: &str| {
                    format!(
                        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
                    )
                };
                let first = chunk("{\"content\":\"Hold\"}", "null");
                let rest = format!(
                    "{}{}data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}}}\n\ndata: [DONE]\n\n",
                    chunk("{\"content\":\" on\"}", "null"),
                    chunk("{}", "\"stop\"")
                );
                use futures_util::StreamExt as _;
                let body = futures_util::stream::once(async move {
                    Ok::<_, std::convert::Infallible>(first)
                })
                .chain(futures_util::stream::once(async move {
                    let _ = release.wait_for(|go| *go).await;
                    Ok(rest)
                }));
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(body))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// Two servers on one PostgreSQL: a second one starting leaves the first one's live run alone; a
/// Stop clicked on one stops a run executing on the other; `kill -9` of one leaves its run
/// `interrupted` once its lease has expired, while the other's run keeps going and finishes.
#[tokio::test]
async fn two_servers_stop_each_others_runs_and_a_killed_one_s_runs_are_interrupted() {
    use futures_util::StreamExt as _;
    let url = galaxy_core::db::testing::fresh_postgres_url()
        .await
        .unwrap();
    let (release, held) = tokio::sync::watch::channel(false);
    let upstream = held_upstream(held).await;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let shared = [
        "--database-url",
        url.as_str(),
        "--openai-base-url",
        upstream.as_str(),
        "--instance-lease-secs",
        "2",
    ];
    let a = Server::start_with(dir_a.path(), &shared).await;
    let cookie = a.sign_up("two@example.com").await;
    let (status, _, _) = a
        .call(
            "add_key",
            &[
                ("provider", "openai"),
                ("label", "live"),
                ("base_url", ""),
                ("api_key", "sk-two-instances-0123456789"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, agent) = a
        .call("save_agent", &agent_form("Held", ""), Some(&cookie))
        .await;
    assert_eq!(status, 200, "{agent}");
    let agent_id = agent["id"].as_str().unwrap().to_owned();
    // Every instance opens the stored keys with the same keyring.
    std::fs::copy(
        dir_a.path().join("keyring.json"),
        dir_b.path().join("keyring.json"),
    )
    .unwrap();
    let mut b = Server::start_with(dir_b.path(), &shared).await;

    let db = galaxy_core::db::Db::connect(&url).await.unwrap();
    let running = |db: galaxy_core::db::Db| async move {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT id, instance_id FROM runs WHERE status = 'running' ORDER BY created_at",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        rows
    };
    let start_held_run = |base: String| {
        let (agent_id, cookie) = (agent_id.clone(), cookie.clone());
        tokio::spawn(async move {
            let resp = reqwest::Client::new()
                .post(format!("{base}/api/run_agent_stream"))
                .header("cookie", cookie)
                .form(&[
                    ("agent_id", agent_id.as_str()),
                    ("input", "hold"),
                    ("mode", "live"),
                    ("trigger", "test_panel"),
                ])
                .send()
                .await;
            if let Ok(resp) = resp {
                let mut body = resp.bytes_stream();
                while let Some(Ok(_)) = body.next().await {}
            }
        })
    };
    let wait_for = |n: usize, db: galaxy_core::db::Db| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let rows = running(db.clone()).await;
            if rows.len() == n {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} running runs, found {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // A run held at the provider on B, then one on A.
    let _on_b = start_held_run(b.base.clone());
    let on_b = wait_for(1, db.clone()).await.remove(0);
    let _on_a = start_held_run(a.base.clone());
    let both = wait_for(2, db.clone()).await;
    let on_a = both.into_iter().find(|r| r.0 != on_b.0).unwrap();
    assert_ne!(on_a.1, on_b.1, "each run carries its own instance");

    // Stop, clicked on A, for another run held on B: forwarded to B, which cancels it.
    let _stop_me = start_held_run(b.base.clone());
    let three = wait_for(3, db.clone()).await;
    let stop_me = three
        .into_iter()
        .find(|r| r.0 != on_a.0 && r.0 != on_b.0)
        .unwrap();
    assert_eq!(stop_me.1, on_b.1, "held on B");
    let (status, _, stopped) = a
        .call("cancel_run", &[("run_id", &stop_me.0)], Some(&cookie))
        .await;
    assert_eq!((status, stopped), (200, Value::Bool(true)));
    let status_of = |id: String, db: galaxy_core::db::Db| async move {
        let (s,): (String,) = sqlx::query_as("SELECT status FROM runs WHERE id = $1")
            .bind(id)
            .fetch_one(db.pool())
            .await
            .unwrap();
        s
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(stop_me.0.clone(), db.clone()).await != "cancelled" {
        assert!(
            Instant::now() < deadline,
            "the Stop made on A never stopped B's run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // B dies without a word.
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(on_b.0.clone(), db.clone()).await != "interrupted" {
        assert!(Instant::now() < deadline, "B's run was never interrupted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A's run was left alone, and A still serves.
    assert_eq!(status_of(on_a.0.clone(), db.clone()).await, "running");
    let (status, _, mock) = a
        .call(
            "run_agent",
            &[("agent_id", &agent_id), ("input", "x"), ("mode", "mock")],
            Some(&cookie),
        )
        .await;
    assert_eq!((status, mock["status"].as_str()), (200, Some("succeeded")));
    // The provider answers: A's run finishes.
    release.send(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while status_of(on_a.0.clone(), db.clone()).await != "succeeded" {
        assert!(Instant::now() < deadline, "A's run did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(a.stop().success());
    // A stopped cleanly: it left the instances.
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM instances")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "A retired; B's expired lease was swept");
    db.close().await;
}

/// A provider that answers every chat completion whole, reporting 20 prompt and 40 completion
/// tokens (gpt-4o-mini prices that at 27 µ$).
async fn priced_upstream() -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            axum::Json(serde_json::json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 40, "total_tokens": 60}
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// Two servers behind no balancer but used in turn, on one PostgreSQL and one Redis (the real
/// ones the suite runs): 600 API requests in 20 s against 200 a minute (burst 10) let exactly
/// the limit's worth through across both — a minute's worth plus the burst at once, then the
/// refill — and record the rest as `rate_limited`; 64 concurrent live runs against a budget
/// never pass it, with the spend settled exactly.
#[tokio::test]
async fn two_servers_on_one_redis_enforce_one_rate_limit_and_one_budget() {
    let url = galaxy_core::db::testing::fresh_postgres_url()
        .await
        .unwrap();
    let redis =
        std::env::var("GALAXY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let upstream = priced_upstream().await;
    let (dir_a, dir_b) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let shared = [
        "--database-url",
        url.as_str(),
        "--redis-url",
        redis.as_str(),
        "--openai-base-url",
        upstream.as_str(),
    ];
    let a = Server::start_with(dir_a.path(), &shared).await;
    let cookie = a.sign_up("limits@example.com").await;
    let (status, _, _) = a
        .call(
            "add_key",
            &[
                ("provider", "openai"),
                ("label", "live"),
                ("base_url", ""),
                ("api_key", "sk-limits-two-instances-0123"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, agent) = a
        .call("save_agent", &agent_form("Limited", ""), Some(&cookie))
        .await;
    assert_eq!(status, 200, "{agent}");
    let (status, _, token) = a
        .call(
            "create_api_token",
            &[
                ("name", "load"),
                ("scopes[0]", "run"),
                ("scopes[1]", "read"),
                ("scopes[2]", "admin"),
                ("expires_in_days", "30"),
            ],
            Some(&cookie),
        )
        .await;
    assert_eq!(status, 200, "{token}");
    let token = token["token"].as_str().unwrap().to_owned();
    std::fs::copy(
        dir_a.path().join("keyring.json"),
        dir_b.path().join("keyring.json"),
    )
    .unwrap();
    let b = Server::start_with(dir_b.path(), &shared).await;
    let http = reqwest::Client::new();
    let put_limits = |body: Value| {
        let (http, base, token) = (http.clone(), a.base.clone(), token.clone());
        async move {
            let resp = http
                .put(format!("{base}/api/v1/workspace/limits"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        }
    };
    let db = galaxy_core::db::Db::connect(&url).await.unwrap();
    let count = |status: &'static str| {
        let db = db.clone();
        async move {
            let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM runs WHERE status = $1")
                .bind(status)
                .fetch_one(db.pool())
                .await
                .unwrap();
            n.0
        }
    };

    // 200 a minute, burst 10: 600 requests over 20 s, in turn to A and B.
    put_limits(serde_json::json!({ "requests_per_minute": 200, "burst": 10 })).await;
    let started = Instant::now();
    let mut sent = Vec::new();
    for i in 0..600u32 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let request = http
            .post(format!("{base}/api/v1/agents/limited/runs"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "input": "hello", "mode": "mock" }));
        sent.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
        let next = started + Duration::from_millis(u64::from(i + 1) * 20_000 / 600);
        tokio::time::sleep_until(next.into()).await;
    }
    let last_sent = started.elapsed();
    let mut statuses = std::collections::BTreeMap::new();
    for s in sent {
        *statuses.entry(s.await.unwrap()).or_insert(0u32) += 1;
    }
    let ok = i64::from(statuses.get(&200).copied().unwrap_or(0));
    let limited = i64::from(statuses.get(&429).copied().unwrap_or(0));
    assert_eq!(ok + limited, 600, "{statuses:?}");
    // A minute's worth plus the burst at once (210), then one every 300 ms while they came.
    // Two servers and the sender on two loaded cores move the count by a few (seen: 272 to 276
    // of an expected 276): the bounds allow that, and a broken limit is off by tens.
    let refill = (last_sent.as_secs_f64() * 200.0 / 60.0) as i64;
    assert!(
        (210 + refill - 8..=210 + refill + 3).contains(&ok),
        "{ok} let through in {last_sent:?} (expected about {})",
        210 + refill
    );
    eprintln!("rate limit: {ok} of 600 let through in {last_sent:?}, {limited} rate_limited");
    assert_eq!(count("rate_limited").await, limited);
    assert_eq!(count("succeeded").await, ok);
    let instances: (i64,) = sqlx::query_as("SELECT COUNT(DISTINCT instance_id) FROM runs")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(instances.0, 2, "both servers ran");

    // A budget of 1,000 µ$ and no rate limit: 64 concurrent live runs, half on each server.
    // Each reserves its most (about 41 µ$: its input and 64 output tokens) and costs 27 µ$.
    put_limits(serde_json::json!({ "monthly_budget_usd": 0.001 })).await;
    let month = galaxy_core::timefmt::month_of(galaxy_core::db::now_ms()).0;
    let ledger = |db: galaxy_core::db::Db, month: String| async move {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT spent_micros, reserved_micros FROM budget_ledger WHERE month = $1",
        )
        .bind(month)
        .fetch_optional(db.pool())
        .await
        .unwrap();
        row.unwrap_or((0, 0))
    };
    let watching = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (db, month, watching) = (db.clone(), month.clone(), watching.clone());
        tokio::spawn(async move {
            let mut most = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                let (spent, reserved) = ledger(db.clone(), month.clone()).await;
                most = most.max(spent + reserved);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            most
        })
    };
    let runs: Vec<_> = (0..64)
        .map(|i| {
            let base = if i % 2 == 0 { &a.base } else { &b.base };
            let request = http
                .post(format!("{base}/api/v1/agents/limited/runs"))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "input": "hello", "mode": "live" }));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut paid = 0;
    let mut refused = 0;
    for r in runs {
        match r.await.unwrap() {
            200 => paid += 1,
            402 => refused += 1,
            other => panic!("a live run answered {other}"),
        }
    }
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let most_held = watcher.await.unwrap();
    assert!(most_held <= 1_000, "spent + reserved reached {most_held}");
    let (spent, reserved) = ledger(db.clone(), month).await;
    eprintln!(
        "budget: {paid} paid, {refused} refused, {spent} µ$ spent, at most {most_held} µ$ held"
    );
    assert_eq!((spent, reserved), (27 * paid, 0), "{paid} paid runs");
    assert!(
        paid >= 1_000 / 45 && refused > 0,
        "{paid} paid, {refused} refused"
    );
    assert_eq!(count("budget_exceeded").await, refused);
    drop(b);
    drop(a);
}
