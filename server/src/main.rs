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
            match serve(args).await {
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
    let app = galaxy_server::build_app(&args)
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
    axum::serve(
        listener,
        app.router
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| format!("server: {e}"))?;
    // Runs whose caller went away are still executing: let them end and be recorded.
    let left = app
        .state
        .runs
        .drain(std::time::Duration::from_secs(30))
        .await;
    if left > 0 {
        tracing::warn!(
            left,
            "runs still in flight at exit are marked interrupted at the next start"
        );
    }
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
