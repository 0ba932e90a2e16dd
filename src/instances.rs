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

use crate::db::{Backend, Db, db_now, new_id, now_ms};
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
    /// How long its lease lasts past each renewal.
    pub lease: Duration,
}

/// Registers a new instance with a fresh lease of `lease`.
pub async fn register(db: &Db, lease: Duration) -> Result<Instance, CoreError> {
    let id = new_id();
    let now = db_now(db.backend());
    sqlx::query(&format!(
        "INSERT INTO instances (id, started_at, heartbeat_at, expires_at) \
         VALUES ($1, {now}, {now}, {now} + $2)"
    ))
    .bind(&id)
    .bind(millis(lease))
    .execute(db.pool())
    .await?;
    Ok(Instance { id, lease })
}

impl Instance {
    /// Renews the lease. An instance whose row was swept (it stalled past its lease) registers
    /// again under the same id: its runs that were marked interrupted meanwhile still write their
    /// final rows when they end.
    pub async fn heartbeat(&self, db: &Db) -> Result<(), CoreError> {
        let now = db_now(db.backend());
        let renewed = sqlx::query(&format!(
            "UPDATE instances SET heartbeat_at = {now}, expires_at = {now} + $1 WHERE id = $2"
        ))
        .bind(millis(self.lease))
        .bind(&self.id)
        .execute(db.pool())
        .await?;
        if renewed.rows_affected() == 0 {
            tracing::warn!(instance = %self.id, "this instance's lease had expired; registering again");
            sqlx::query(&format!(
                "INSERT INTO instances (id, started_at, heartbeat_at, expires_at) \
                 VALUES ($1, {now}, {now}, {now} + $2) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, \
                 expires_at = excluded.expires_at"
            ))
            .bind(&self.id)
            .bind(millis(self.lease))
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
/// many runs were marked. Leases are compared on the database's clock.
pub async fn sweep(db: &Db, current: Option<&str>) -> Result<u64, CoreError> {
    let now = db_now(db.backend());
    let marked = sqlx::query(&format!(
        "UPDATE runs SET status = 'interrupted', error_kind = 'interrupted', \
         error_message = 'The server stopped before this run finished.', finished_at = $1 \
         WHERE status IN ('queued', 'running') AND (instance_id IS NULL OR NOT EXISTS \
         (SELECT 1 FROM instances i WHERE i.id = runs.instance_id AND i.expires_at >= {now}))"
    ))
    .bind(now_ms())
    .execute(db.pool())
    .await?
    .rows_affected();
    sqlx::query(&format!("DELETE FROM instances WHERE expires_at < {now}"))
        .execute(db.pool())
        .await?;
    // Their budget reservations (and any whose settlement was lost) go back, to what their runs
    // recorded.
    crate::limits::budget::release_orphans(db, current, ORPHAN_AGE_MS).await?;
    Ok(marked)
}

/// What start-up does about runs left unfinished: on SQLite every one is interrupted (nothing else
/// can be executing it); on PostgreSQL only those of instances whose lease expired.
pub async fn recover(db: &Db, current: &Instance) -> Result<u64, CoreError> {
    match db.backend() {
        Backend::Sqlite => {
            let marked = crate::runs::mark_interrupted(db).await?;
            crate::limits::budget::release_orphans(db, Some(&current.id), 0).await?;
            Ok(marked)
        }
        Backend::Postgres => sweep(db, Some(&current.id)).await,
    }
}

/// How long after its run was recorded an unsettled reservation is settled by the sweep (its
/// own settlement, right after the record, failed or was lost).
const ORPHAN_AGE_MS: i64 = 30_000;

/// Renews `instance`'s lease and sweeps for expired ones every third of its lease, until the
/// task is aborted.
pub fn keep_alive(db: Db, instance: Instance) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval((instance.lease / 3).max(Duration::from_millis(100)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = instance.heartbeat(&db).await {
                tracing::warn!(error = %e, "could not renew this instance's lease");
                continue;
            }
            match sweep(&db, Some(&instance.id)).await {
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
