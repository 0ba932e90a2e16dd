//! Command line and environment. Every setting is a flag with an environment variable; the
//! README's configuration table lists them.

use galaxy_core::auth::client::TrustedProxies;
use galaxy_core::providers::egress::EgressPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "galaxy",
    version,
    about = "Galaxy: build, test and run AI agents."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and API.
    Serve(Box<ServeArgs>),
    /// Create the database if needed and apply migrations, then exit.
    Migrate(DbArgs),
    /// Manage the master keyring that encrypts provider keys (rotation without downtime:
    /// `add`, `activate <id>`, `rewrap`, `retire <old id>`).
    Keys {
        #[command(flatten)]
        db: DbArgs,
        #[command(subcommand)]
        action: KeysAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// List master keys and how many stored provider keys each one seals.
    List,
    /// Add a new master key (not active yet).
    Add,
    /// Make a key the one new encryptions use.
    Activate { id: u32 },
    /// Re-encrypt every stored provider key with the active master key.
    Rewrap,
    /// Remove a master key that no stored provider key uses any more.
    Retire { id: u32 },
}

/// `--limits-redis-down`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RedisDownArg {
    Closed,
    Local,
}

impl From<RedisDownArg> for galaxy_core::limits::gate::RedisDown {
    fn from(v: RedisDownArg) -> Self {
        match v {
            RedisDownArg::Closed => galaxy_core::limits::gate::RedisDown::Closed,
            RedisDownArg::Local => galaxy_core::limits::gate::RedisDown::Local,
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GALAXY_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub db: DbArgs,
    /// Folder with the built UI (pkg/galaxy.js, pkg/galaxy_bg.wasm, pkg/galaxy.css, public files).
    /// Default: target/site under the current folder, else site/ beside the binary's folder.
    #[arg(long, env = "LEPTOS_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// The address people reach Galaxy at (e.g. `https://galaxy.example.com`, also behind a
    /// proxy): https makes cookies Secure, and its host — with the listen address — is the only
    /// `Host` the server answers (so DNS rebinding against a local instance is refused).
    #[arg(long, env = "GALAXY_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<PublicUrl>,
    /// Origins whose pages may call the public API (`/api/v1`, `/v1`) from a browser with a
    /// token, comma-separated (e.g. `https://app.example.com`): CORS for those origins only,
    /// never with cookies. Off by default: no other site's page can read an API answer.
    #[arg(long, env = "GALAXY_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
    /// Mark session cookies Secure. Default: on when the public URL is https, else on except
    /// when listening on a loopback address (plain-HTTP localhost).
    #[arg(long, env = "GALAXY_SECURE_COOKIES")]
    pub secure_cookies: Option<bool>,
    /// Log format.
    #[arg(long, env = "GALAXY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Base URL for OpenAI keys (an operator's proxy, or a local fake in tests).
    #[arg(
        long,
        env = "GALAXY_OPENAI_BASE_URL",
        default_value = "https://api.openai.com/v1"
    )]
    pub openai_base_url: String,
    /// Base URL for Anthropic keys.
    #[arg(
        long,
        env = "GALAXY_ANTHROPIC_BASE_URL",
        default_value = "https://api.anthropic.com"
    )]
    pub anthropic_base_url: String,
    /// The run output cap: most bytes of text or JSON one run may produce (from a provider or
    /// the mock). Output contracts whose smallest reply is larger are refused when saved.
    #[arg(
        long,
        env = "GALAXY_MAX_RUN_OUTPUT_BYTES",
        default_value_t = galaxy_core::runs::DEFAULT_MAX_OUTPUT_BYTES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=64 * 1024 * 1024)
    )]
    pub max_run_output_bytes: usize,
    /// Private endpoints users' OpenAI-compatible keys may reach (a local model server, on
    /// purpose): comma-separated networks (`10.0.0.0/8`), addresses (`127.0.0.1`) and
    /// `host:port` pairs (`127.0.0.1:11434`). Unset, only public addresses are called.
    #[arg(long, env = "GALAXY_ALLOWED_PRIVATE_ENDPOINTS", value_parser = parse_egress)]
    pub allowed_private_endpoints: Option<std::sync::Arc<EgressPolicy>>,
    /// Seconds a stop (SIGTERM, Ctrl-C) waits for open requests and runs in flight; runs still
    /// going then are recorded `interrupted`.
    #[arg(
        long,
        env = "GALAXY_SHUTDOWN_GRACE_SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=3600)
    )]
    pub shutdown_grace_secs: u64,
    /// Proxies in front of Galaxy whose `Forwarded` / `X-Forwarded-For` headers name the client
    /// (for log-in and sign-up throttles and account events): comma-separated networks and
    /// addresses (`127.0.0.1, 10.0.0.0/8`). Unset, the connection's peer is the client and
    /// those headers are ignored.
    #[arg(long, env = "GALAXY_TRUSTED_PROXIES", value_parser = parse_proxies)]
    pub trusted_proxies: Option<std::sync::Arc<TrustedProxies>>,
    /// Sign-ups one client address (IPv6: one /64) may make per hour.
    #[arg(
        long,
        env = "GALAXY_SIGNUPS_PER_CLIENT_PER_HOUR",
        default_value_t = 10,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000)
    )]
    pub signups_per_client_per_hour: u32,
    /// Seconds after a log-in or a password confirmation during which provider keys may be
    /// added, rotated or revoked without typing the password again.
    #[arg(
        long,
        env = "GALAXY_REAUTH_WINDOW_SECS",
        default_value_t = 600,
        value_parser = clap::value_parser!(u64).range(0..=86_400)
    )]
    pub reauth_window_secs: u64,
    /// Several servers on one PostgreSQL: how long a server that stopped renewing its lease (it
    /// was killed, its machine was lost) is still taken to be alive; then another server marks
    /// its unfinished runs interrupted. Renewed every third of this.
    #[arg(
        long,
        env = "GALAXY_INSTANCE_LEASE_SECS",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=3_600)
    )]
    pub instance_lease_secs: u64,
    /// Redis (`redis://host:6379`) shared by several servers: workspace rate limits and the
    /// log-in and sign-up throttles count there, one count for all of them. Unset: each server
    /// counts alone. When Redis does not answer (within 250 ms), see `--limits-redis-down`; the
    /// throttles fall back to each server's own count until it is back.
    // Taken as it is and checked at start-up: a value parser's error would print the value,
    // and the URL may hold a password.
    #[arg(long, env = "REDIS_URL", value_parser = |s: &str| Ok::<_, String>(galaxy_core::redacted::Redacted::from(s.to_owned())))]
    pub redis_url: Option<galaxy_core::redacted::Redacted>,
    /// What workspace rate limits do while Redis does not answer: `closed` refuses API runs
    /// (503 with Retry-After; the test panel's runs count on this server), `local` counts every
    /// run on this server (each instance then enforces the limit on its own).
    #[arg(long, env = "GALAXY_LIMITS_REDIS_DOWN", value_enum, default_value_t = RedisDownArg::Closed)]
    pub limits_redis_down: RedisDownArg,
    /// Serve `/metrics` on this address only (e.g. a private interface); unset, it is served on
    /// the main address.
    #[arg(long, env = "GALAXY_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Clone, Debug, Args)]
pub struct DbArgs {
    /// Folder for Galaxy's own files (the SQLite database, the master keyring); created on
    /// first start.
    #[arg(long, env = "GALAXY_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Database URL: postgres://… for PostgreSQL, sqlite://… for another SQLite file.
    /// Default: SQLite at <data-dir>/galaxy.db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl DbArgs {
    /// The database URL to use: `DATABASE_URL` or the embedded SQLite file.
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("galaxy.db").display()
            ),
        }
    }
}

impl ServeArgs {
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
            .unwrap_or_else(|| match &self.public_url {
                Some(url) => url.https,
                None => !self.addr.ip().is_loopback(),
            })
    }

    /// The `Host` values the server answers: the public URL's, and the listen address's (with
    /// `localhost` for a loopback one). `None` — every host — when listening on every interface
    /// without a public URL: the names people use are unknown then.
    pub fn allowed_hosts(&self) -> Option<Vec<String>> {
        let port = self.addr.port();
        let mut hosts: Vec<String> = self.public_url.iter().map(|u| u.host.clone()).collect();
        let local = |hosts: &mut Vec<String>, host: &str| {
            hosts.push(format!("{host}:{port}"));
            if port == 80 || port == 443 {
                hosts.push(host.to_owned());
            }
        };
        if self.addr.ip().is_unspecified() {
            self.public_url.as_ref()?;
            for host in ["127.0.0.1", "localhost", "[::1]"] {
                local(&mut hosts, host);
            }
        } else {
            let ip = match self.addr.ip() {
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
                v4 => v4.to_string(),
            };
            local(&mut hosts, &ip);
            if self.addr.ip().is_loopback() {
                local(&mut hosts, "localhost");
            }
        }
        Some(hosts)
    }
}

/// `--public-url`: its scheme and its host as browsers send it in `Host` (lower-case, without a
/// default port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    pub https: bool,
    pub host: String,
}

/// An origin as browsers send it: `scheme://host[:port]`, lower case, the default port left out.
fn parse_origin(text: &str) -> Result<String, String> {
    let url = parse_public_url(text.trim())
        .map_err(|_| format!("expected an origin such as https://app.example.com, not {text:?}"))?;
    Ok(format!(
        "{}://{}",
        if url.https { "https" } else { "http" },
        url.host
    ))
}

fn parse_public_url(text: &str) -> Result<PublicUrl, String> {
    let uri: axum::http::Uri = text
        .parse()
        .map_err(|_| "expected a URL such as https://galaxy.example.com".to_owned())?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err("expected an https:// (or http://) URL".to_owned()),
    };
    let authority = uri
        .authority()
        .ok_or_else(|| "expected a URL with a host".to_owned())?;
    if authority.as_str().contains('@') || uri.query().is_some() || !matches!(uri.path(), "" | "/")
    {
        return Err(
            "expected only a scheme and a host, e.g. https://galaxy.example.com".to_owned(),
        );
    }
    let default = if https { 443 } else { 80 };
    let host = match authority.port_u16() {
        Some(port) if port != default => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    };
    Ok(PublicUrl {
        https,
        host: host.to_ascii_lowercase(),
    })
}

/// `--allowed-private-endpoints` (kept behind an `Arc`: the arguments stay small).
fn parse_proxies(list: &str) -> Result<std::sync::Arc<TrustedProxies>, String> {
    list.parse().map(std::sync::Arc::new)
}

fn parse_egress(list: &str) -> Result<std::sync::Arc<EgressPolicy>, String> {
    list.parse().map(std::sync::Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_derived_settings() {
        let cli = Cli::try_parse_from(["galaxy", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(args.addr, "127.0.0.1:3000".parse().unwrap());
        assert!(!args.secure_cookies(), "plain-HTTP localhost");
        assert_eq!(args.db.url(), "sqlite://data/galaxy.db?mode=rwc");

        let cli = Cli::try_parse_from([
            "galaxy",
            "serve",
            "--addr",
            "0.0.0.0:80",
            "--database-url",
            "postgres://x/y",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert!(args.secure_cookies());
        assert_eq!(args.db.url(), "postgres://x/y");
        assert_eq!(
            args.max_run_output_bytes,
            galaxy_core::runs::DEFAULT_MAX_OUTPUT_BYTES
        );
        assert_eq!(args.metrics_addr, None);
        assert_eq!(
            args.allowed_hosts(),
            None,
            "every interface, no public URL: any host"
        );

        let cli = Cli::try_parse_from([
            "galaxy",
            "serve",
            "--public-url",
            "https://Galaxy.Example.com:443/",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert!(
            args.secure_cookies(),
            "https public URL behind a proxy on loopback"
        );
        assert_eq!(
            args.allowed_hosts().unwrap(),
            ["galaxy.example.com", "127.0.0.1:3000", "localhost:3000"]
        );
        let cli = Cli::try_parse_from(["galaxy", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert_eq!(
            args.allowed_hosts().unwrap(),
            ["127.0.0.1:3000", "localhost:3000"]
        );
        for bad in [
            "galaxy.example.com",
            "ftp://galaxy.example.com",
            "https://galaxy.example.com/app",
            "https://u@galaxy.example.com",
        ] {
            let err = Cli::try_parse_from(["galaxy", "serve", "--public-url", bad]).unwrap_err();
            assert!(err.to_string().contains("--public-url"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Cli::try_parse_from(["galaxy", "serve", "--addr", "nope"]).unwrap_err();
        assert!(err.to_string().contains("--addr"), "{err}");
        let err = Cli::try_parse_from([
            "galaxy",
            "serve",
            "--allowed-private-endpoints",
            "10.0.0.0/8,not a host",
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("--allowed-private-endpoints")
                && err.to_string().contains("not a host"),
            "{err}"
        );
        let cli = Cli::try_parse_from([
            "galaxy",
            "serve",
            "--allowed-private-endpoints",
            "127.0.0.1:11434",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        let policy = args.allowed_private_endpoints.unwrap();
        assert!(policy.check_url("http://127.0.0.1:11434/v1").is_ok());
        assert!(policy.check_url("http://127.0.0.1:6379/").is_err());
        let err =
            Cli::try_parse_from(["galaxy", "serve", "--secure-cookies", "maybe"]).unwrap_err();
        assert!(err.to_string().contains("--secure-cookies"), "{err}");
        // Redis: checked at start-up (server/tests/router.rs), its text never printed.
        let cli = Cli::try_parse_from([
            "galaxy",
            "serve",
            "--redis-url",
            "redis://:hunter2@127.0.0.1:6379",
            "--cors-origins",
            "https://App.Example.com:443,http://localhost:5173",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("expected serve");
        };
        assert!(!format!("{args:?}").contains("hunter2"));
        assert_eq!(
            args.cors_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        let err = Cli::try_parse_from(["galaxy", "serve", "--cors-origins", "https://a.com/path"])
            .unwrap_err();
        assert!(err.to_string().contains("--cors-origins"), "{err}");
        for bad in ["10", "1e9", "lots", "999999999999"] {
            let err = Cli::try_parse_from(["galaxy", "serve", "--max-run-output-bytes", bad])
                .unwrap_err();
            assert!(
                err.to_string().contains("--max-run-output-bytes"),
                "{bad}: {err}"
            );
        }
        let err = Cli::try_parse_from(["galaxy", "serve", "--trusted-proxies", "10.0.0.0/8,lb"])
            .unwrap_err();
        assert!(
            err.to_string().contains("--trusted-proxies") && err.to_string().contains("lb"),
            "{err}"
        );
        for (flag, bad) in [
            ("--signups-per-client-per-hour", "0"),
            ("--reauth-window-secs", "lots"),
            ("--reauth-window-secs", "86401"),
        ] {
            let err = Cli::try_parse_from(["galaxy", "serve", flag, bad]).unwrap_err();
            assert!(err.to_string().contains(flag), "{bad}: {err}");
        }
        let err = Cli::try_parse_from(["galaxy", "serve", "--metrics-addr", "x"]).unwrap_err();
        assert!(err.to_string().contains("--metrics-addr"), "{err}");
    }
}
