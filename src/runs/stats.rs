//! The dashboard's aggregate: the workspace's agents, the range's totals and charts
//! ([`crate::charts`], from hourly rollups: no request reads every run), and the latest runs
//! (as previews).

use super::store::list_runs;
use super::{DashboardStats, RunStatus};
use crate::charts::{ChartRange, charts};
use crate::db::{Db, now_ms};
use crate::error::CoreError;
use crate::workspaces::Actor;

/// Totals, charts and latest runs for the dashboard over `range`, for one agent or all.
#[tracing::instrument(skip(db))]
pub async fn dashboard(
    db: &Db,
    actor: &Actor,
    range: ChartRange,
    agent: Option<&str>,
) -> Result<DashboardStats, CoreError> {
    let agents = crate::agents::count_agents(db, actor).await?;
    let charts = charts(db, actor, range, agent, now_ms()).await?;
    let succeeded = charts
        .total
        .by_status
        .iter()
        .find(|(s, _)| *s == RunStatus::Succeeded)
        .map_or(0, |(_, n)| *n);
    let count = |statuses: &[RunStatus]| -> i64 {
        charts
            .total
            .by_status
            .iter()
            .filter(|(s, _)| statuses.contains(s))
            .map(|(_, n)| n)
            .sum()
    };
    // Every ended run that did not succeed: errors, refusals, stops.
    let failed = charts.total.runs - succeeded - count(&[RunStatus::Queued, RunStatus::Running]);
    let recent = list_runs(db, actor, charts.agent_id.as_deref(), 10).await?;
    Ok(DashboardStats {
        agents,
        runs: charts.total.runs,
        succeeded,
        failed,
        total_tokens: charts.total.tokens,
        cost_micros: charts.total.cost_micros,
        charts,
        recent,
    })
}
