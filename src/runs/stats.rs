//! The dashboard's aggregate: counts of the workspace's agents and runs, tokens, the average
//! latency of successful runs, and the latest runs (as previews).

use sqlx::Row;

use super::DashboardStats;
use super::store::list_runs;
use crate::db::Db;
use crate::error::CoreError;
use crate::workspaces::Actor;

/// Counts and latest runs for the dashboard.
#[tracing::instrument(skip(db))]
pub async fn dashboard(db: &Db, actor: &Actor) -> Result<DashboardStats, CoreError> {
    let agents = crate::agents::count_agents(db, actor).await?;
    let row = sqlx::query(
        "SELECT COUNT(*) AS runs, \
         CAST(COALESCE(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0) AS BIGINT) AS ok, \
         CAST(COALESCE(SUM(CASE WHEN status IN ('failed', 'input_invalid', 'output_invalid', \
           'rate_limited', 'budget_exceeded', 'interrupted') THEN 1 ELSE 0 END), 0) AS BIGINT) AS failed, \
         CAST(COALESCE(SUM(total_tokens), 0) AS BIGINT) AS tokens, \
         CAST(AVG(CASE WHEN status = 'succeeded' THEN latency_ms END) AS BIGINT) AS latency \
         FROM runs WHERE workspace_id = $1",
    )
    .bind(&actor.workspace_id)
    .fetch_one(db.pool())
    .await?;
    Ok(DashboardStats {
        agents,
        runs: row.try_get("runs")?,
        succeeded: row.try_get("ok")?,
        failed: row.try_get("failed")?,
        total_tokens: row.try_get("tokens")?,
        avg_latency_ms: row.try_get("latency")?,
        recent: list_runs(db, actor, None, 10).await?,
    })
}
