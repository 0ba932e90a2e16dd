//! `galaxy`: serve the app, or migrate the database.

#![recursion_limit = "256"]

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: glibc's malloc spent ~18 % of the server's CPU under
/// load (many threads: async workers, SQLite connection threads, blocking pool), see
/// BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use galaxy_server::config::{Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line naming the setting, e.g. "error: invalid value 'x' for '--addr <ADDR>': …".
            let text = e.to_string();
            eprintln!(
                "{}",
                text.lines().next().unwrap_or("error: invalid arguments")
            );
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Serve(args) => {
            init_tracing(args.log_format);
            match serve(*args).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Keys { db, action } => {
            init_tracing(LogFormat::Text);
            match galaxy_server::keys_cli::run(&db, action).await {
                Ok(out) => {
                    println!("{}", out.trim_end());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Migrate(args) => {
            init_tracing(LogFormat::Text);
            let result = async {
                galaxy_server::startup::ensure_data_dir(&args.data_dir)?;
                galaxy_core::db::Db::open(&args.url()).await?;
                Ok::<_, galaxy_server::startup::StartError>(())
            }
            .await;
            match result {
                Ok(()) => {
                    tracing::info!("database is migrated");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn serve(args: galaxy_server::config::ServeArgs) -> Result<(), String> {
    let mut app = galaxy_server::build_app(&args)
        .await
        .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("GALAXY_ADDR / --addr {}: cannot listen: {e}", args.addr))?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    if let Some(addr) = args.metrics_addr {
        let metrics = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            format!("GALAXY_METRICS_ADDR / --metrics-addr {addr}: cannot listen: {e}")
        })?;
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(galaxy_server::metrics::render),
        );
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, router).await {
                tracing::error!(error = %e, "metrics listener stopped");
            }
        });
        tracing::info!(%addr, "metrics on http://{addr}/metrics");
    }
    tracing::info!(addr = %args.addr, "Galaxy is listening on http://{}", args.addr);
    // The stop's deadline starts at the signal: open requests (a streamed run among them) and
    // then the runs still executing share it.
    let grace = std::time::Duration::from_secs(args.shutdown_grace_secs);
    let stopping = std::sync::Arc::new(tokio::sync::Notify::new());
    let signalled = stopping.clone();
    let serve = axum::serve(
        listener,
        app.router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        signalled.notify_one();
    })
    .into_future();
    tokio::pin!(serve);
    let deadline = tokio::select! {
        served = &mut serve => {
            served.map_err(|e| format!("server: {e}"))?;
            tokio::time::Instant::now() + grace
        }
        () = stopping.notified() => {
            let deadline = tokio::time::Instant::now() + grace;
            tokio::select! {
                served = &mut serve => served.map_err(|e| format!("server: {e}"))?,
                () = tokio::time::sleep_until(deadline) => {
                    tracing::warn!("requests still open at the shutdown deadline were closed");
                }
            }
            deadline
        }
    };
    // Runs whose caller went away may still be executing: they end and are recorded, or are
    // recorded interrupted at the deadline.
    let wait = deadline.saturating_duration_since(tokio::time::Instant::now());
    let left = app.state.runs.drain(wait).await;
    if left > 0 {
        tracing::warn!(
            left,
            "runs still in flight at the deadline were recorded interrupted"
        );
    }
    // Its runs are all recorded (or marked interrupted): this instance leaves.
    app.leave().await;
    app.state.db.close().await;
    tracing::info!("Galaxy stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM: stop accepting, finish in-flight requests, exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
