//! Start-up: UI assets, data directory, database (created, migrated, checked, runs left running
//! marked interrupted), master keyring (created on first start, refused when malformed), session
//! store, the run pipeline, and the router. Settings are checked before anything is created on
//! disk; each failure is a one-line error naming what to fix.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use galaxy_app::state::{Access, AppState};
use galaxy_core::auth::{AccountLimits, Accounts};
use galaxy_core::db::Db;
use galaxy_core::limits::gate::LimitsGate;
use galaxy_core::providers::http::{ProviderHttp, ProviderUrls};
use galaxy_core::runs::{Runs, RunsConfig};
use galaxy_core::vault::{KeySource, Vault};
use leptos::prelude::LeptosOptions;

use crate::config::ServeArgs;
use crate::sessions::Sessions;

/// A ready-to-serve application.
pub struct App {
    pub router: Router,
    pub state: AppState,
    pub sessions: Sessions,
    /// This server among the instances sharing the database; retired on a clean stop.
    pub instance: galaxy_core::instances::Instance,
    /// Renews the instance's lease (and, on PostgreSQL, listens for forwarded Stops) while the
    /// app lives.
    _background: Background,
}

impl App {
    /// Leaves the instances (a clean stop, after the runs were drained): the lease stops being
    /// renewed first, so no heartbeat can bring the instance back.
    pub async fn leave(&mut self) {
        for task in &self._background.0 {
            task.abort();
        }
        if let Err(e) = self.instance.retire(&self.state.db).await {
            tracing::warn!(error = %e, "could not retire this instance");
        }
    }
}

/// Tasks that live as long as the app.
struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("GALAXY_DATA_DIR / --data-dir {0}: cannot create it: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("DATABASE_URL / --database-url: {0}")]
    Database(#[from] galaxy_core::db::DbError),
    #[error("LEPTOS_SITE_ROOT / --site-root {0}: no such folder")]
    SiteRoot(PathBuf),
    #[error("database: {0}")]
    Recovery(String),
    #[error("REDIS_URL / --redis-url: {0}")]
    Redis(String),
    #[error("GALAXY_KEYRING / <data-dir>/keyring.json: {0}")]
    Keyring(#[from] galaxy_core::vault::VaultError),
    #[error("GALAXY_KEYRING / <data-dir>/keyring.json: {0}")]
    KeyringUnusable(String),
    #[error("provider HTTP client: {0}")]
    Http(String),
}

/// Creates the data directory (mode 0700 on Unix).
pub fn ensure_data_dir(dir: &Path) -> Result<(), StartError> {
    std::fs::create_dir_all(dir).map_err(|e| StartError::DataDir(dir.to_owned(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| StartError::DataDir(dir.to_owned(), e))?;
    }
    Ok(())
}

/// Whether `dir` holds a built UI: `hash.txt` (a built site, whose files carry content-hashed
/// names) or `pkg/galaxy.js` (an unhashed build, e.g. `cargo leptos watch`).
fn holds_ui(dir: &Path) -> bool {
    dir.join("hash.txt").is_file() || dir.join("pkg/galaxy.js").is_file()
}

/// The folder with the built UI: the configured one (which must exist), else the first of
/// `./target/site` and `<binary's folder>/../site` that holds one.
pub fn resolve_site_root(configured: Option<&Path>) -> Result<PathBuf, StartError> {
    if let Some(dir) = configured {
        return if dir.is_dir() {
            Ok(dir.to_owned())
        } else {
            Err(StartError::SiteRoot(dir.to_owned()))
        };
    }
    let mut candidates = vec![PathBuf::from("target/site")];
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_owned))
    {
        candidates.push(exe_dir.join("../site"));
        candidates.push(exe_dir.join("site"));
    }
    let found = candidates.iter().find(|c| holds_ui(c));
    match found {
        Some(dir) => Ok(dir.clone()),
        None => {
            tracing::warn!(
                "UI assets not found (looked for hash.txt or pkg/galaxy.js in target/site and beside the binary): \
                 pages render but will not be interactive; build them with `.ci/build-site` or set LEPTOS_SITE_ROOT"
            );
            Ok(PathBuf::from("target/site"))
        }
    }
}

/// Opens the vault, refusing to start rather than lose keys: a missing key file is created only
/// while no provider key is stored (otherwise a new keyring would silently make every stored key
/// undecryptable), the file must not be readable by other users, and the keyring must open the
/// stored keys.
async fn open_vault(db: &Db, source: KeySource) -> Result<Vault, StartError> {
    let stored = galaxy_core::credentials::count_sealed(db)
        .await
        .map_err(|e| StartError::Recovery(e.to_string()))?;
    if let KeySource::File(path) = &source {
        if !path.exists() && stored > 0 {
            return Err(StartError::KeyringUnusable(format!(
                "{} is missing, but the database holds {stored} provider keys sealed with it; \
                 restore the file (or set GALAXY_KEYRING): a new keyring could not open them",
                path.display()
            )));
        }
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(StartError::KeyringUnusable(format!(
                    "{} is readable by other users (mode {mode:o}); `chmod 600` it",
                    path.display()
                )));
            }
        }
    }
    let vault = Vault::open(source)?;
    if stored > 0 {
        galaxy_core::credentials::check_vault_opens_keys(db, &vault)
            .await
            .map_err(StartError::KeyringUnusable)?;
    }
    Ok(vault)
}

/// Opens everything `serve` needs.
pub async fn build_app(args: &ServeArgs) -> Result<App, StartError> {
    let site_root = resolve_site_root(args.site_root.as_deref())?;
    // Installed first, so nothing recorded from here on is lost.
    crate::metrics::handle();
    ensure_data_dir(&args.db.data_dir)?;
    let url = args.db.url();
    let db = Db::open(&url).await?;
    // This server joins the instances; runs left unfinished by a stopped one are interrupted
    // (on PostgreSQL only those of instances whose lease expired: others may be live).
    let lease = std::time::Duration::from_secs(args.instance_lease_secs);
    let instance = galaxy_core::instances::register(&db, lease)
        .await
        .map_err(|e| StartError::Recovery(e.to_string()))?;
    let interrupted = galaxy_core::instances::recover(&db, &instance)
        .await
        .map_err(|e| StartError::Recovery(e.to_string()))?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "runs left running by the last stop were marked interrupted"
        );
    }
    let sessions = Sessions::new(db.clone());
    // A built site names its files by content hash (hash.txt lists them): pages link those
    // names, and /pkg/* is served as immutable. Leptos joins `hash_file` to the binary's folder;
    // an absolute path makes that the site's own file.
    let hash_file = std::path::absolute(site_root.join("hash.txt")).unwrap_or_default();
    let leptos_options = LeptosOptions::builder()
        .output_name("galaxy")
        .site_root(site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(args.addr)
        .env(leptos::config::Env::PROD)
        .hash_files(hash_file.is_file())
        .hash_file(std::sync::Arc::from(hash_file.display().to_string()))
        .build();
    let vault = Arc::new(open_vault(&db, KeySource::from_env_or(&args.db.data_dir)).await?);
    let http = ProviderHttp::new(
        ProviderUrls {
            openai: args.openai_base_url.trim_end_matches('/').to_owned(),
            anthropic: args.anthropic_base_url.trim_end_matches('/').to_owned(),
        },
        args.allowed_private_endpoints
            .as_deref()
            .cloned()
            .unwrap_or_default()
            .with_own_addresses(std::iter::once(args.addr).chain(args.metrics_addr)),
    )
    .map_err(|e| StartError::Http(e.to_string()))?;
    // One Redis client for the workspace rate limits and the log-in throttles (checked when
    // the settings were read; connected on first use).
    let shared = match &args.redis_url {
        Some(url) => Some(Arc::new(
            galaxy_core::limiter::SharedLimiter::new(url.expose(), "galaxy")
                .map_err(StartError::Redis)?,
        )),
        None => None,
    };
    let gate = LimitsGate::new(
        db.clone(),
        shared.clone(),
        args.limits_redis_down.into(),
        Some(instance.id.clone()),
    );
    let runs = Runs::new(
        db.clone(),
        vault.clone(),
        http.clone(),
        RunsConfig {
            max_output_bytes: args.max_run_output_bytes,
            instance_id: Some(instance.id.clone()),
            gate: Arc::new(gate.clone()),
            ..RunsConfig::default()
        },
    );
    let mut accounts = Accounts::new(AccountLimits {
        signups_per_client_per_hour: args.signups_per_client_per_hour,
        ..AccountLimits::default()
    });
    if let Some(limiter) = shared {
        accounts = accounts.shared_through(limiter);
    }
    let access = Access {
        accounts: Arc::new(accounts),
        trusted_proxies: args.trusted_proxies.clone().unwrap_or_default(),
        reauth_window_ms: i64::try_from(args.reauth_window_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX),
        public_url: args
            .public_url
            .as_ref()
            .map(|u| format!("{}://{}", if u.https { "https" } else { "http" }, u.host)),
    };
    let state = AppState::new(leptos_options, db, vault, http, runs, access, gate);
    let router = crate::router(
        state.clone(),
        sessions.clone(),
        args.secure_cookies(),
        args.metrics_addr.is_none(),
        args.allowed_hosts(),
        &args.cors_origins,
    );
    tokio::spawn(
        sessions
            .clone()
            .delete_expired_every(Duration::from_secs(3600)),
    );
    // Idempotency keys answer for 24 hours; older claims are deleted hourly.
    let swept = state.db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            match galaxy_core::runs::idempotency::sweep(&swept).await {
                Ok(n) if n > 0 => tracing::info!(deleted = n, "old idempotency keys deleted"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "deleting old idempotency keys failed"),
            }
        }
    });
    // The tokenizers admission counts OpenAI prompts with, loaded before the first run needs them.
    tokio::task::spawn_blocking(galaxy_core::providers::tokens::warm);
    let mut background = Background(vec![galaxy_core::instances::keep_alive(
        state.db.clone(),
        instance.clone(),
    )]);
    if state.db.backend() == galaxy_core::db::Backend::Postgres {
        // A Stop clicked on another instance for a run executing here.
        background.0.push(galaxy_core::runs::listen_for_stops(
            url.clone(),
            state.runs.in_flight().clone(),
        ));
    }
    Ok(App {
        router,
        state,
        sessions,
        instance,
        _background: background,
    })
}
