//! The galaxy servers sharing one database. Each registers an **instance** with a lease it
//! renews every third of its lease ([`DEFAULT_LEASE`], `--instance-lease-secs`); the runs it
//! starts carry its id. An instance that stops cleanly marks its unfinished runs interrupted and
//! retires its row; one that dies (`kill -9`, a lost machine) stops renewing, and once its lease
//! has expired, any other instance's sweep marks its unfinished runs `interrupted`. So a server
//! starting beside live ones never touches their runs.
//!
//! On SQLite (one server owns the file) start-up marks every unfinished run at once, as before:
//! no other instance can be executing them.

use std::time::Duration;

use crate::db::{Backend, Db, new_id, now_ms};
use crate::error::CoreError;

/// How long an instance that stopped renewing is still taken to be alive, by default.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// This server, as the other instances see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
}

/// Registers a new instance with a fresh lease.
pub async fn register(db: &Db) -> Result<Instance, CoreError> {
    let id = new_id();
    let now = now_ms();
    sqlx::query("INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(now)
        .bind(now)
        .execute(db.pool())
        .await?;
    Ok(Instance { id })
}

impl Instance {
    /// Renews the lease. An instance whose row was swept (it stalled past its lease) registers
    /// again under the same id: its runs that were marked interrupted meanwhile still write their
    /// final rows when they end.
    pub async fn heartbeat(&self, db: &Db) -> Result<(), CoreError> {
        let now = now_ms();
        let renewed = sqlx::query("UPDATE instances SET heartbeat_at = $1 WHERE id = $2")
            .bind(now)
            .bind(&self.id)
            .execute(db.pool())
            .await?;
        if renewed.rows_affected() == 0 {
            tracing::warn!(instance = %self.id, "this instance's lease had expired; registering again");
            sqlx::query(
                "INSERT INTO instances (id, started_at, heartbeat_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            )
            .bind(&self.id)
            .bind(now)
            .bind(now)
            .execute(db.pool())
            .await?;
        }
        Ok(())
    }

    /// Leaves the set of instances (a clean stop, after its runs were drained).
    pub async fn retire(&self, db: &Db) -> Result<(), CoreError> {
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(&self.id)
            .execute(db.pool())
            .await?;
        Ok(())
    }
}

/// Marks the unfinished runs of instances whose lease expired (and of no instance: runs from
/// before instances were recorded) as `interrupted`, and forgets those instances. Returns how
/// many runs were marked.
pub async fn sweep(db: &Db, lease: Duration) -> Result<u64, CoreError> {
    let now = now_ms();
    let cutoff = now.saturating_sub(millis(lease));
    let marked = sqlx::query(
        "UPDATE runs SET status = 'interrupted', error_kind = 'interrupted', \
         error_message = 'The server stopped before this run finished.', finished_at = $1 \
         WHERE status IN ('queued', 'running') AND (instance_id IS NULL OR NOT EXISTS \
         (SELECT 1 FROM instances i WHERE i.id = runs.instance_id AND i.heartbeat_at >= $2))",
    )
    .bind(now)
    .bind(cutoff)
    .execute(db.pool())
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM instances WHERE heartbeat_at < $1")
        .bind(cutoff)
        .execute(db.pool())
        .await?;
    Ok(marked)
}

/// What start-up does about runs left unfinished: on SQLite every one is interrupted (nothing else
/// can be executing it); on PostgreSQL only those of instances whose lease expired.
pub async fn recover(db: &Db, lease: Duration) -> Result<u64, CoreError> {
    match db.backend() {
        Backend::Sqlite => crate::runs::mark_interrupted(db).await,
        Backend::Postgres => sweep(db, lease).await,
    }
}

/// Renews `instance`'s lease and sweeps for expired ones every third of `lease`, until the task
/// is aborted.
pub fn keep_alive(db: Db, instance: Instance, lease: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval((lease / 3).max(Duration::from_millis(100)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = instance.heartbeat(&db).await {
                tracing::warn!(error = %e, "could not renew this instance's lease");
                continue;
            }
            match sweep(&db, lease).await {
                Ok(0) => {}
                Ok(marked) => tracing::warn!(
                    marked,
                    "runs of an instance whose lease expired were marked interrupted"
                ),
                Err(e) => tracing::warn!(error = %e, "could not sweep for expired instances"),
            }
        }
    })
}

#[cfg(test)]
mod tests;
