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
    scope_ledger(db, workspace_id, "", month).await
}

/// One scope's ledger for `month` (`""`: the workspace's).
pub async fn scope_ledger(
    db: &Db,
    workspace_id: &str,
    scope: &str,
    month: &str,
) -> Result<Ledger, CoreError> {
    let row: Option<(i64, i64, i64, Option<i64>)> = sqlx::query_as(
        "SELECT spent_micros, reserved_micros, unpriced_runs, alerted_budget_micros \
         FROM budget_ledger WHERE workspace_id = $1 AND scope = $2 AND month = $3",
    )
    .bind(workspace_id)
    .bind(scope)
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

/// What a reservation is for: one scope's budget (`""` the workspace's, `agent:<id>`,
/// `token:<id>`).
#[derive(Clone, Debug)]
pub struct Hold<'a> {
    pub workspace_id: &'a str,
    pub scope: &'a str,
    pub run_id: &'a str,
    pub month: &'a str,
    pub amount_micros: i64,
    /// Refuse unless spent + reserved + amount stays within this.
    pub cap_micros: Option<i64>,
    pub instance_id: Option<&'a str>,
}

/// Reserves `hold.amount_micros` for a run: false (nothing reserved) when that would pass the cap.
pub async fn reserve(db: &Db, hold: &Hold<'_>) -> Result<bool, CoreError> {
    Ok(reserve_all(db, std::slice::from_ref(hold)).await?.is_none())
}

/// Reserves every hold, or none, in one transaction (in the order given: callers give the
/// workspace's first, so concurrent reservations lock rows in one order): `Some(i)` when hold
/// `i` would pass its cap (nothing is reserved then).
pub async fn reserve_all(db: &Db, holds: &[Hold<'_>]) -> Result<Option<usize>, CoreError> {
    if let Some(i) = holds
        .iter()
        .position(|h| h.cap_micros.is_some_and(|cap| h.amount_micros > cap))
    {
        return Ok(Some(i));
    }
    // One lock order for every transaction that touches several ledger rows (reservations and
    // settlements alike): by scope, the workspace's ("") first.
    let mut order: Vec<usize> = (0..holds.len()).collect();
    order.sort_by(|a, b| holds[*a].scope.cmp(holds[*b].scope));
    let mut tx = db.pool().begin().await?;
    let upsert = "INSERT INTO budget_ledger (workspace_id, scope, month, spent_micros, \
                  reserved_micros, unpriced_runs) VALUES ($1, $2, $3, 0, $4, 0) \
                  ON CONFLICT (workspace_id, scope, month) DO UPDATE SET \
                  reserved_micros = budget_ledger.reserved_micros + excluded.reserved_micros";
    let capped = format!(
        "{upsert} WHERE budget_ledger.spent_micros + budget_ledger.reserved_micros \
         + excluded.reserved_micros <= $5"
    );
    for i in order {
        let hold = &holds[i];
        let query = sqlx::query(match hold.cap_micros {
            None => upsert,
            Some(_) => &capped,
        })
        .bind(hold.workspace_id)
        .bind(hold.scope)
        .bind(hold.month)
        .bind(hold.amount_micros);
        let query = match hold.cap_micros {
            None => query,
            Some(cap) => query.bind(cap),
        };
        if query.execute(&mut *tx).await?.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(Some(i));
        }
        sqlx::query(
            "INSERT INTO budget_reservations (run_id, workspace_id, scope, month, amount_micros, \
             instance_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(hold.run_id)
        .bind(hold.workspace_id)
        .bind(hold.scope)
        .bind(hold.month)
        .bind(hold.amount_micros)
        .bind(hold.instance_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(None)
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
/// reservation (it never reserved). A run settled before (by the sweep, to what its row said
/// then) is settled again to the difference: the ledger counts every run once, at its last word.
pub async fn settle(
    db: &Db,
    workspace_id: &str,
    run_id: &str,
    spent: Spent,
    alert: Option<(AlertAt, &Actor)>,
) -> Result<Option<bool>, CoreError> {
    let (micros, unpriced) = match spent {
        Spent::Micros(m) => (m.max(0), 0),
        Spent::Unpriced => (0, 1),
    };
    let mut tx = db.pool().begin().await?;
    // A write first (so a SQLite transaction never upgrades a read lock): it marks the rows and
    // answers what each held and what it was settled to before (unchanged by this statement).
    let mut held: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "UPDATE budget_reservations SET settled_at = $1 WHERE run_id = $2 \
         RETURNING scope, month, amount_micros, settled_micros",
    )
    .bind(now_ms())
    .bind(run_id)
    .fetch_all(&mut *tx)
    .await?;
    // The ledger rows in the same order as reservations lock them.
    held.sort_by(|a, b| a.0.cmp(&b.0));
    if held.is_empty() {
        tx.rollback().await?;
        return Ok(None);
    }
    let mut month = String::new();
    for (scope, scope_month, amount, before) in held {
        let (release, add, add_unpriced) = match before {
            None => (amount, micros, unpriced),
            // Settled already: only the difference (a run's cost only grows once recorded).
            Some(earlier) => (0, (micros - earlier).max(0), 0),
        };
        sqlx::query(
            "UPDATE budget_reservations SET settled_micros = $1 WHERE run_id = $2 AND scope = $3",
        )
        .bind(micros.max(before.unwrap_or(0)))
        .bind(run_id)
        .bind(&scope)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE budget_ledger SET reserved_micros = reserved_micros - $1, \
             spent_micros = spent_micros + $2, unpriced_runs = unpriced_runs + $3 \
             WHERE workspace_id = $4 AND scope = $5 AND month = $6",
        )
        .bind(release)
        .bind(add)
        .bind(add_unpriced)
        .bind(workspace_id)
        .bind(&scope)
        .bind(&scope_month)
        .execute(&mut *tx)
        .await?;
        if scope.is_empty() {
            month = scope_month;
        }
    }
    let mut raised = false;
    if let Some((at, actor)) = alert.filter(|_| !month.is_empty()) {
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

/// How long a reservation without a run row is left alone on a live instance: the row is written
/// right after admission, so one still missing by then belongs to a start that was abandoned.
const NEVER_STARTED_MS: i64 = 10 * 60 * 1000;
/// How long settled reservations are kept (a run settled by the sweep may still finish and
/// settle the difference).
const SETTLED_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

/// Settles reservations nobody else will, to what their runs recorded: those of runs that ended
/// at least `min_age_ms` ago (their own settlement failed, or their server died after recording
/// them); those without a run row that no live instance holds — on PostgreSQL an instance whose
/// lease expired, on SQLite (one server) any but `current` — or that are older than any start;
/// then forgets settled ones older than a day. Returns how many were settled.
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
            crate::db::db_now(db.backend())
        ),
    };
    let now = now_ms();
    let rows: Vec<(String, String, Option<i64>, Option<String>)> = sqlx::query_as(&format!(
        "SELECT DISTINCT r.run_id, r.workspace_id, runs.cost_micros, runs.cost_source \
         FROM budget_reservations r LEFT JOIN runs ON runs.id = r.run_id \
         WHERE r.settled_at IS NULL AND ( \
         (runs.id IS NOT NULL AND runs.status NOT IN ('queued', 'running') \
          AND runs.finished_at <= $2) \
         OR (runs.id IS NULL AND ({dead} OR r.created_at <= $3))) LIMIT 1000"
    ))
    .bind(current.unwrap_or(""))
    .bind(now.saturating_sub(min_age_ms))
    .bind(now.saturating_sub(NEVER_STARTED_MS))
    .fetch_all(db.pool())
    .await?;
    let mut settled = 0;
    for (run_id, workspace_id, cost, source) in rows {
        let spent = match (cost, source.as_deref()) {
            (None, Some("unpriced")) => Spent::Unpriced,
            (cost, _) => Spent::Micros(cost.unwrap_or(0)),
        };
        if settle(db, &workspace_id, &run_id, spent, None)
            .await?
            .is_some()
        {
            settled += 1;
        }
    }
    sqlx::query("DELETE FROM budget_reservations WHERE settled_at IS NOT NULL AND settled_at < $1")
        .bind(now.saturating_sub(SETTLED_KEPT_MS))
        .execute(db.pool())
        .await?;
    Ok(settled)
}
