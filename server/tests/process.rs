//! The real `galaxy` binary as a user runs it: first start creates everything, bad configuration
//! is a one-line error naming the setting, SIGTERM stops it cleanly, and data and sessions are
//! still there after a restart.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

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

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("GALAXY_ADDR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(data_dir: &Path) -> Server {
        let port = free_port();
        let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("../public");
        let child = Command::new(BIN)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--site-root")
            .arg(site)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
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
    let out = run(&["serve", "--addr", "not-an-address"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--addr"), "{err}");

    let out = run(&["serve"], &[("GALAXY_ADDR", "300.1.1.1:80")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--addr"));

    let dir = TempDir::new().unwrap();
    let out = run(
        &["serve", "--data-dir", dir.path().to_str().unwrap()],
        &[("DATABASE_URL", "mysql://localhost/galaxy")],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = run(&["serve", "--site-root", "/no/such/folder"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("LEPTOS_SITE_ROOT")
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
    let (status, cookie, _) = server
        .call(
            "sign_up",
            &[
                ("email", "p@example.com"),
                ("display_name", "P"),
                ("password", "correct horse battery"),
            ],
            None,
        )
        .await;
    assert_eq!(status, 200);
    let cookie = cookie.unwrap();
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
        &["serve", "--data-dir", d],
        &[("GALAXY_KEYRING", "not json")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("GALAXY_KEYRING"));
}
