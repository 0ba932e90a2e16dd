//! The budget ledger: per workspace and UTC month, what was spent and what live runs in flight
//! hold reserved.
//!
//! [`reserve`] takes a run's most possible cost with one conditional upsert — applied only while
//! `spent + reserved + amount ≤ cap` — and records the reservation in the same transaction; the
//! database decides, so concurrent runs on any number of instances never pass a hard cap.
//! [`settle`] deletes the reservation and moves its amount to what the run actually cost, once
//! (a second settle finds nothing). A crashed instance's reservations are settled by
//! [`release_orphans`] to what its runs recorded, once its lease has expired.

use crate::db::{Backend, Db, now_ms};
use crate::error::CoreError;
use crate::workspaces::Actor;

use super::{BudgetAlert, LimitSettings};

/// A month of a workspace's ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    pub spent_micros: i64,
    pub reserved_micros: i64,
    pub unpriced_runs: i64,
    /// The budget the soft alert was raised for this month.
    pub alerted_budget_micros: Option<i64>,
}

/// The workspace's ledger for `month` (zeros when nothing was run).
pub async fn ledger(db: &Db, workspace_id: &str, month: &str) -> Result<Ledger, CoreError> {
    let row: Option<(i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT spent_micros, reserved_micros, unpriced_runs, alerted_budget_micros \
         FROM budget_ledger WHERE workspace_id = $1 AND scope = '' AND month = $2",
    )
    .bind(workspace_id)
    .bind(month)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map_or_else(Ledger::default, |(s, r, u, a)| Ledger {
        spent_micros: s,
        reserved_micros: r,
        unpriced_runs: u,
        alerted_budget_micros: a,
    }))
}

/// The alert to show for `ledger` under `limits`: raised this month for the current budget, or
/// the budget used up under a hard cap.
pub fn alert_of(limits: &LimitSettings, ledger: &Ledger, resets_at: i64) -> Option<BudgetAlert> {
    let budget = limits.monthly_budget_micros?;
    let alerted = ledger.alerted_budget_micros == Some(budget);
    let exhausted = limits.hard_cap && ledger.spent_micros >= budget;
    (alerted || exhausted).then(|| BudgetAlert {
        spent_micros: ledger.spent_micros,
        budget_micros: budget,
        percent: limits.soft_alert_percent.unwrap_or(100),
        exhausted,
        resets_at,
    })
}

/// What a reservation is for.
#[derive(Clone, Debug)]
pub struct Hold<'a> {
    pub workspace_id: &'a str,
    pub run_id: &'a str,
    pub month: &'a str,
    pub amount_micros: i64,
    /// Refuse unless spent + reserved + amount stays within this.
    pub cap_micros: Option<i64>,
    pub instance_id: Option<&'a str>,
}

/// Reserves `hold.amount_micros` for a run: false (nothing reserved) when that would pass the cap.
pub async fn reserve(db: &Db, hold: &Hold<'_>) -> Result<bool, CoreError> {
    if hold.cap_micros.is_some_and(|cap| hold.amount_micros > cap) {
        return Ok(false);
    }
    let mut tx = db.pool().begin().await?;
    let upsert = "INSERT INTO budget_ledger (workspace_id, scope, month, spent_micros, \
                  reserved_micros, unpriced_runs) VALUES ($1, '', $2, 0, $3, 0) \
                  ON CONFLICT (workspace_id, scope, month) DO UPDATE SET \
                  reserved_micros = budget_ledger.reserved_micros + excluded.reserved_micros";
    let applied = match hold.cap_micros {
        None => sqlx::query(upsert)
            .bind(hold.workspace_id)
            .bind(hold.month)
            .bind(hold.amount_micros)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        Some(cap) => sqlx::query(&format!(
            "{upsert} WHERE budget_ledger.spent_micros + budget_ledger.reserved_micros \
             + excluded.reserved_micros <= $4"
        ))
        .bind(hold.workspace_id)
        .bind(hold.month)
        .bind(hold.amount_micros)
        .bind(cap)
        .execute(&mut *tx)
        .await?
        .rows_affected(),
    };
    if applied == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO budget_reservations (run_id, workspace_id, scope, month, amount_micros, \
         instance_id, created_at) VALUES ($1, $2, '', $3, $4, $5, $6)",
    )
    .bind(hold.run_id)
    .bind(hold.workspace_id)
    .bind(hold.month)
    .bind(hold.amount_micros)
    .bind(hold.instance_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// What a run cost, for [`settle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spent {
    Micros(i64),
    /// The model has no price: counted as a run of unknown cost.
    Unpriced,
}

/// The soft alert to raise when a settlement crosses it.
#[derive(Clone, Copy, Debug)]
pub struct AlertAt {
    pub budget_micros: i64,
    pub percent: i64,
}

/// Settles run `run_id`'s reservation to what it spent: `Some(true)` when this settlement raised
/// the soft alert (audited as `budget.alert`, by the alert's actor); `None` when the run holds no
/// reservation (settled already, or never reserved).
pub async fn settle(
    db: &Db,
    workspace_id: &str,
    run_id: &str,
    spent: Spent,
    alert: Option<(AlertAt, &Actor)>,
) -> Result<Option<bool>, CoreError> {
    let mut tx = db.pool().begin().await?;
    let held: Option<(String, i64)> = sqlx::query_as(
        "DELETE FROM budget_reservations WHERE run_id = $1 AND scope = '' \
         RETURNING month, amount_micros",
    )
    .bind(run_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((month, amount)) = held else {
        tx.rollback().await?;
        return Ok(None);
    };
    let (micros, unpriced) = match spent {
        Spent::Micros(m) => (m.max(0), 0),
        Spent::Unpriced => (0, 1),
    };
    sqlx::query(
        "UPDATE budget_ledger SET reserved_micros = reserved_micros - $1, \
         spent_micros = spent_micros + $2, unpriced_runs = unpriced_runs + $3 \
         WHERE workspace_id = $4 AND scope = '' AND month = $5",
    )
    .bind(amount)
    .bind(micros)
    .bind(unpriced)
    .bind(workspace_id)
    .bind(&month)
    .execute(&mut *tx)
    .await?;
    let mut raised = false;
    if let Some((at, actor)) = alert {
        // Raised once per month and budget: the first settlement to reach the threshold sets it.
        raised = sqlx::query(
            "UPDATE budget_ledger SET alerted_budget_micros = $1 \
             WHERE workspace_id = $2 AND scope = '' AND month = $3 \
             AND (alerted_budget_micros IS NULL OR alerted_budget_micros <> $1) \
             AND spent_micros * 100 >= $1 * $4",
        )
        .bind(at.budget_micros)
        .bind(workspace_id)
        .bind(&month)
        .bind(at.percent)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            > 0;
        if raised {
            crate::audit::record(
                &mut *tx,
                actor,
                "budget.alert",
                "workspace",
                &format!(
                    "month={month} budget_micros={} percent={}",
                    at.budget_micros, at.percent
                ),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(Some(raised))
}

/// Settles reservations nobody will settle, to what their runs recorded: those of runs that
/// ended at least `min_age_ms` ago (their settlement failed, or their server died after
/// recording them), and those without a run row that no live instance holds — on PostgreSQL an
/// instance whose lease expired, on SQLite (one server) any but `current`. Returns how many.
pub async fn release_orphans(
    db: &Db,
    current: Option<&str>,
    min_age_ms: i64,
) -> Result<u64, CoreError> {
    let dead = match db.backend() {
        Backend::Sqlite => "(r.instance_id IS NULL OR r.instance_id <> $1)".to_owned(),
        Backend::Postgres => format!(
            "(r.instance_id IS NULL OR (r.instance_id <> $1 AND NOT EXISTS (SELECT 1 FROM \
             instances i WHERE i.id = r.instance_id AND i.expires_at >= {})))",
            crate::instances::db_now(db.backend())
        ),
    };
    let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(&format!(
        "SELECT r.run_id, r.workspace_id, runs.cost_micros \
         FROM budget_reservations r LEFT JOIN runs ON runs.id = r.run_id \
         WHERE (runs.id IS NOT NULL AND runs.status NOT IN ('queued', 'running') \
         AND r.created_at <= $2) OR (runs.id IS NULL AND {dead}) LIMIT 1000"
    ))
    .bind(current.unwrap_or(""))
    .bind(now_ms().saturating_sub(min_age_ms))
    .fetch_all(db.pool())
    .await?;
    let mut settled = 0;
    for (run_id, workspace_id, cost) in rows {
        let spent = Spent::Micros(cost.unwrap_or(0));
        if settle(db, &workspace_id, &run_id, spent, None)
            .await?
            .is_some()
        {
            settled += 1;
        }
    }
    Ok(settled)
}
