//! Stop across instances. A Stop reaches the run directly when this instance executes it;
//! otherwise — several servers on one PostgreSQL — it is checked here (the run is the caller's
//! workspace's and unfinished) and forwarded with `NOTIFY`, and the instance executing the run,
//! listening on the channel, cancels it. On SQLite one server executes every run: nothing to
//! forward.

use std::time::Duration;

use super::in_flight::InFlight;
use crate::db::{Backend, Db};
use crate::error::CoreError;
use crate::workspaces::Actor;

/// The channel Stops travel on.
const CHANNEL: &str = "galaxy_stop";

/// Forwards a Stop for `run_id` to the instance executing it; whether the caller's workspace has
/// such an unfinished run (the Stop is then sent: it reaches an instance that is listening — a
/// dead one's run is interrupted when its lease expires).
pub(super) async fn forward(db: &Db, actor: &Actor, run_id: &str) -> Result<bool, CoreError> {
    if db.backend() != Backend::Postgres {
        return Ok(false);
    }
    // `interrupted` too: a run marked so while its instance only stalled may still be executing.
    let unfinished: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM runs WHERE id = $1 AND workspace_id = $2 \
         AND status IN ('queued', 'running', 'interrupted')",
    )
    .bind(run_id)
    .bind(&actor.workspace_id)
    .fetch_optional(db.pool())
    .await?;
    if unfinished.is_none() {
        return Ok(false);
    }
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(format!("{} {run_id}", actor.workspace_id))
        .execute(db.pool())
        .await?;
    Ok(true)
}

/// Listens for forwarded Stops on PostgreSQL at `url` and cancels the ones for runs `in_flight`
/// here, until the task is aborted; reconnects after a lost connection.
pub fn listen_for_stops(url: String, in_flight: InFlight) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => loop {
                        match listener.recv().await {
                            Ok(note) => {
                                if let Some((workspace, run_id)) = note.payload().split_once(' ') {
                                    in_flight.cancel_in(workspace, run_id);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "lost the stop channel; reconnecting");
                                break;
                            }
                        }
                    },
                    Err(e) => tracing::warn!(error = %e, "cannot listen for stops"),
                },
                Err(e) => tracing::warn!(error = %e, "cannot connect to listen for stops"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}
