//! The dashboard's charts: runs by status, cost, tokens, latency p50/p95 and error rate per hour
//! (24 h) or per UTC day (7 d, 30 d), for the workspace or one agent, and its top agents by runs
//! and by cost.
//!
//! Aggregated in SQL on both databases from hourly rollups (`run_rollups`, `run_latency_rollups`)
//! of *closed* hours — an hour that ended more than an hour ago with none of its runs still going,
//! whose numbers can no longer change — and from `runs` itself for the hours after. Rolling up is
//! done by the reader, once per hour and workspace, idempotently (two instances write the same
//! rows). Latency percentiles come from a histogram (bucket bounds [`LATENCY_BOUNDS`]): a
//! percentile is reported as the upper bound of its bucket, so "p95 ≤ 750 ms".

use serde::{Deserialize, Serialize};

use crate::runs::RunStatus;

crate::string_enum! {
    /// How far back the dashboard looks.
    pub enum ChartRange("chart range") {
        /// The last 24 hours, hour by hour.
        Day = "24h",
        /// The last 7 UTC days, day by day.
        Week = "7d",
        /// The last 30 UTC days, day by day.
        Month = "30d",
    }
}

impl ChartRange {
    pub fn label(self) -> &'static str {
        match self {
            ChartRange::Day => "Last 24 hours",
            ChartRange::Week => "Last 7 days",
            ChartRange::Month => "Last 30 days",
        }
    }
}

/// Upper bounds (ms, exclusive) of the latency histogram's buckets; a last bucket holds the rest.
pub const LATENCY_BOUNDS: [i64; 22] = [
    25, 50, 100, 150, 200, 300, 400, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 7_500,
    10_000, 15_000, 20_000, 30_000, 60_000, 120_000,
];

/// One bar of the charts: an hour or a day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChartBucket {
    /// When it starts (ms since the epoch, UTC).
    pub start: i64,
    /// Runs by status, statuses with none left out.
    pub by_status: Vec<(RunStatus, i64)>,
    pub runs: i64,
    /// Failed, with an invalid output, or interrupted.
    pub errors: i64,
    /// Of the priced runs.
    pub cost_micros: i64,
    /// Runs without a price (their cost is unknown, never $0).
    pub unpriced: i64,
    pub tokens: i64,
    /// Upper bounds of the buckets the median and the 95th percentile fall in (runs that called
    /// a provider); `None` without such runs, `Some(i64::MAX)` above the last bound.
    pub p50_ms: Option<i64>,
    pub p95_ms: Option<i64>,
}

impl ChartBucket {
    /// Errors per ended run (0 to 1), `None` without ended runs.
    pub fn error_rate(&self) -> Option<f64> {
        let going: i64 = self
            .by_status
            .iter()
            .filter(|(s, _)| matches!(s, RunStatus::Queued | RunStatus::Running))
            .map(|(_, n)| n)
            .sum();
        let ended = self.runs - going;
        (ended > 0).then(|| self.errors as f64 / ended as f64)
    }
}

/// An agent among the busiest or the costliest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopAgent {
    /// `None` for runs of deleted agents.
    pub agent_id: Option<String>,
    pub name: String,
    pub runs: i64,
    pub cost_micros: i64,
}

/// Everything the dashboard draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Charts {
    pub range: ChartRange,
    /// The agent the buckets are for (`None`: the workspace).
    pub agent_id: Option<String>,
    /// Oldest first.
    pub buckets: Vec<ChartBucket>,
    /// The range's totals (the buckets summed; percentiles over the whole range).
    pub total: ChartBucket,
    /// At most five each, over the whole workspace.
    pub top_by_runs: Vec<TopAgent>,
    pub top_by_cost: Vec<TopAgent>,
}

/// The dashboard's headline numbers over its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardTotals {
    pub agents: i64,
    /// Runs in the range (of the agent chosen, or the workspace).
    pub runs: i64,
    pub succeeded: i64,
    /// Ended without succeeding (errors, refusals, stops).
    pub failed: i64,
    pub total_tokens: i64,
    pub cost_micros: i64,
}

/// What the dashboard shows: the range's totals and charts, and the latest runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardStats {
    pub totals: DashboardTotals,
    pub charts: Charts,
    pub recent: Vec<crate::runs::RunView>,
}

/// How many agents the top lists show.
pub const TOP_AGENTS: usize = 5;

/// The upper bound of the bucket holding the `p` quantile of a histogram (counts per
/// [`LATENCY_BOUNDS`] bucket, one more for the rest).
pub fn quantile(histogram: &[i64], p: f64) -> Option<i64> {
    let n: i64 = histogram.iter().sum();
    if n == 0 {
        return None;
    }
    // The smallest rank covering p of the runs (1-based).
    let rank = ((p * n as f64).ceil() as i64).clamp(1, n);
    let mut seen = 0;
    for (i, count) in histogram.iter().enumerate() {
        seen += count;
        if seen >= rank {
            return Some(LATENCY_BOUNDS.get(i).copied().unwrap_or(i64::MAX));
        }
    }
    Some(i64::MAX)
}

#[cfg(feature = "server")]
pub use compute::{charts, dashboard};

#[cfg(feature = "server")]
mod compute {
    use std::collections::{BTreeMap, HashMap};

    use sqlx::Row;

    use super::*;
    use crate::db::Db;
    use crate::error::CoreError;
    use crate::workspaces::Actor;

    const HOUR_MS: i64 = 3_600_000;
    const DAY_MS: i64 = 24 * HOUR_MS;
    const BUCKETS: usize = LATENCY_BOUNDS.len() + 1;

    /// `CASE` giving a run's latency bucket.
    fn latency_bucket() -> String {
        let mut sql = String::from("CASE");
        for (i, bound) in LATENCY_BOUNDS.iter().enumerate() {
            sql.push_str(&format!(" WHEN latency_ms < {bound} THEN {i}"));
        }
        sql.push_str(&format!(" ELSE {} END", LATENCY_BOUNDS.len()));
        sql
    }

    /// Rolls up the closed hours of `[from, to)` (hours since the epoch) not yet rolled up;
    /// answers the hour up to which the rollups are complete (later hours are read live).
    async fn roll_up(db: &Db, workspace: &str, from: i64, to: i64) -> Result<i64, CoreError> {
        // An hour with a run still going is not closed (nor any after it).
        let going: (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(created_at) FROM runs WHERE workspace_id = $1 \
             AND status IN ('queued', 'running') AND created_at >= $2",
        )
        .bind(workspace)
        .bind(from * HOUR_MS)
        .fetch_one(db.pool())
        .await?;
        let to = going.0.map_or(to, |at| to.min(at.div_euclid(HOUR_MS)));
        if to <= from {
            return Ok(from);
        }
        let (done,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM run_rollup_hours WHERE workspace_id = $1 AND hour >= $2 AND hour < $3",
        )
        .bind(workspace)
        .bind(from)
        .bind(to)
        .fetch_one(db.pool())
        .await?;
        if done == to - from {
            return Ok(to);
        }
        // Idempotent: a closed hour's numbers are final, so rows already there are the same.
        let mut tx = db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO run_rollups (workspace_id, hour, agent_id, status, runs, cost_micros, \
             unpriced, tokens) \
             SELECT workspace_id, created_at / 3600000, COALESCE(agent_id, ''), status, COUNT(*), \
             COALESCE(SUM(cost_micros), 0), SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END), \
             COALESCE(SUM(total_tokens), 0) \
             FROM runs WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 \
             GROUP BY workspace_id, created_at / 3600000, COALESCE(agent_id, ''), status \
             ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(from * HOUR_MS)
        .bind(to * HOUR_MS)
        .execute(&mut *tx)
        .await?;
        let bucket = latency_bucket();
        sqlx::query(&format!(
            "INSERT INTO run_latency_rollups (workspace_id, hour, agent_id, bucket, runs) \
             SELECT workspace_id, created_at / 3600000, COALESCE(agent_id, ''), {bucket}, COUNT(*) \
             FROM runs WHERE workspace_id = $1 AND created_at >= $2 AND created_at < $3 \
             AND attempts > 0 \
             GROUP BY workspace_id, created_at / 3600000, COALESCE(agent_id, ''), {bucket} \
             ON CONFLICT DO NOTHING"
        ))
        .bind(workspace)
        .bind(from * HOUR_MS)
        .bind(to * HOUR_MS)
        .execute(&mut *tx)
        .await?;
        mark_rolled(
            &mut tx,
            "run_rollup_hours (workspace_id, hour)",
            workspace,
            from..to,
        )
        .await?;
        tx.commit().await?;
        Ok(to)
    }

    /// Records the hours (or days) `span` of `workspace` as rolled up, in `table_columns`
    /// (`table (workspace_id, unit)`), 500 a statement.
    async fn mark_rolled(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        table_columns: &str,
        workspace: &str,
        span: std::ops::Range<i64>,
    ) -> Result<(), CoreError> {
        let units: Vec<i64> = span.collect();
        for chunk in units.chunks(500) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, ${})", i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO {table_columns} VALUES {} ON CONFLICT DO NOTHING",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(workspace);
            for unit in chunk {
                q = q.bind(*unit);
            }
            q.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// Sums the closed days `[from, to)` (days since the epoch, every hour of them rolled up)
    /// not yet summed from the hourly rollups into the daily ones.
    async fn roll_up_days(db: &Db, workspace: &str, from: i64, to: i64) -> Result<(), CoreError> {
        if to <= from {
            return Ok(());
        }
        let (done,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM run_rollup_days WHERE workspace_id = $1 AND day >= $2 AND day < $3",
        )
        .bind(workspace)
        .bind(from)
        .bind(to)
        .fetch_one(db.pool())
        .await?;
        if done == to - from {
            return Ok(());
        }
        let mut tx = db.pool().begin().await?;
        sqlx::query(
            "INSERT INTO run_day_rollups (workspace_id, day, agent_id, status, runs, cost_micros, \
             unpriced, tokens) \
             SELECT workspace_id, hour / 24, agent_id, status, SUM(runs), SUM(cost_micros), \
             SUM(unpriced), SUM(tokens) \
             FROM run_rollups WHERE workspace_id = $1 AND hour >= $2 AND hour < $3 \
             GROUP BY workspace_id, hour / 24, agent_id, status \
             ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(from * 24)
        .bind(to * 24)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO run_day_latency_rollups (workspace_id, day, agent_id, bucket, runs) \
             SELECT workspace_id, hour / 24, agent_id, bucket, SUM(runs) \
             FROM run_latency_rollups WHERE workspace_id = $1 AND hour >= $2 AND hour < $3 \
             GROUP BY workspace_id, hour / 24, agent_id, bucket \
             ON CONFLICT DO NOTHING",
        )
        .bind(workspace)
        .bind(from * 24)
        .bind(to * 24)
        .execute(&mut *tx)
        .await?;
        mark_rolled(
            &mut tx,
            "run_rollup_days (workspace_id, day)",
            workspace,
            from..to,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One aggregate row: status, runs, cost, unpriced runs, tokens.
    type Counts = (String, i64, i64, i64, i64);

    /// Per hour: the aggregate rows and the latency histogram; per agent: runs and cost. (A day
    /// read from the daily rollups is filed under its first hour.)
    #[derive(Default)]
    struct Hours {
        counts: BTreeMap<i64, Vec<Counts>>,
        latency: BTreeMap<i64, [i64; BUCKETS]>,
        by_agent: HashMap<String, (i64, i64)>,
    }

    /// Where a stretch of hours is read from.
    #[derive(Clone, Copy, PartialEq)]
    enum Source {
        /// `runs` itself: the open hours.
        Live,
        /// The hourly rollups.
        Hours,
        /// The daily rollups (the stretch is whole days).
        Days,
    }

    impl Source {
        fn tables(self) -> (&'static str, &'static str) {
            match self {
                Source::Live => ("runs", "runs"),
                Source::Hours => ("run_rollups", "run_latency_rollups"),
                Source::Days => ("run_day_rollups", "run_day_latency_rollups"),
            }
        }

        /// The grouping key and the hour it stands for.
        fn key(self) -> (&'static str, &'static str) {
            match self {
                Source::Live => ("created_at / 3600000", "created_at / 3600000"),
                Source::Hours => ("hour", "hour"),
                Source::Days => ("day", "day * 24"),
            }
        }

        fn agent(self) -> &'static str {
            match self {
                Source::Live => "COALESCE(agent_id, '')",
                Source::Hours | Source::Days => "agent_id",
            }
        }

        /// The range condition on $2..$3 and its bounds for the hours `[from, to)`.
        fn range(self, from: i64, to: i64) -> (&'static str, i64, i64) {
            match self {
                Source::Live => (
                    "created_at >= $2 AND created_at < $3",
                    from * HOUR_MS,
                    to * HOUR_MS,
                ),
                Source::Hours => ("hour >= $2 AND hour < $3", from, to),
                Source::Days => ("day >= $2 AND day < $3", from / 24, to / 24),
            }
        }

        /// Runs, cost, unpriced runs and tokens.
        fn sums(self) -> [&'static str; 4] {
            match self {
                Source::Live => [
                    "COUNT(*)",
                    "COALESCE(SUM(cost_micros), 0)",
                    "SUM(CASE WHEN cost_micros IS NULL THEN 1 ELSE 0 END)",
                    "COALESCE(SUM(total_tokens), 0)",
                ],
                Source::Hours | Source::Days => [
                    "SUM(runs)",
                    "SUM(cost_micros)",
                    "SUM(unpriced)",
                    "SUM(tokens)",
                ],
            }
        }
    }

    async fn read(
        db: &Db,
        workspace: &str,
        agent: Option<&str>,
        (from, to): (i64, i64),
        source: Source,
        into: &mut Hours,
    ) -> Result<(), CoreError> {
        if to <= from {
            return Ok(());
        }
        let (table, latency_table) = source.tables();
        let (key, hour) = source.key();
        let agent_col = source.agent();
        let (range, lo, hi) = source.range(from, to);
        let [runs, cost, unpriced, tokens] = source.sums();
        let agent_filter = if agent.is_some() {
            format!(" AND {agent_col} = $4")
        } else {
            String::new()
        };
        // Per hour (or day) and status (the agent chosen, or all)…
        let sql = format!(
            "SELECT {hour} AS h, status, CAST({runs} AS BIGINT) AS runs, \
             CAST({cost} AS BIGINT) AS cost, CAST({unpriced} AS BIGINT) AS unpriced, \
             CAST({tokens} AS BIGINT) AS tokens \
             FROM {table} WHERE workspace_id = $1 AND {range}{agent_filter} \
             GROUP BY {key}, status"
        );
        let mut q = sqlx::query(&sql).bind(workspace).bind(lo).bind(hi);
        if let Some(a) = agent {
            q = q.bind(a);
        }
        for row in &q.fetch_all(db.pool()).await? {
            into.counts.entry(row.try_get("h")?).or_default().push((
                row.try_get("status")?,
                row.try_get("runs")?,
                row.try_get("cost")?,
                row.try_get("unpriced")?,
                row.try_get("tokens")?,
            ));
        }
        // …and per agent over the whole range, for the top lists (always the workspace's).
        let sql = format!(
            "SELECT {agent_col} AS agent, CAST({runs} AS BIGINT) AS runs, \
             CAST({cost} AS BIGINT) AS cost \
             FROM {table} WHERE workspace_id = $1 AND {range} GROUP BY {agent_col}"
        );
        let rows = sqlx::query(&sql)
            .bind(workspace)
            .bind(lo)
            .bind(hi)
            .fetch_all(db.pool())
            .await?;
        for row in &rows {
            let top = into.by_agent.entry(row.try_get("agent")?).or_default();
            top.0 += row.try_get::<i64, _>("runs")?;
            top.1 += row.try_get::<i64, _>("cost")?;
        }
        let live_bucket = latency_bucket();
        let (bucket, bucket_runs, called) = if source == Source::Live {
            (live_bucket.as_str(), "COUNT(*)", " AND attempts > 0")
        } else {
            ("bucket", "SUM(runs)", "")
        };
        let sql = format!(
            "SELECT {hour} AS h, {bucket} AS b, CAST({bucket_runs} AS BIGINT) AS runs \
             FROM {latency_table} WHERE workspace_id = $1 AND {range}{called}{agent_filter} \
             GROUP BY {key}, {bucket}"
        );
        let mut q = sqlx::query(&sql).bind(workspace).bind(lo).bind(hi);
        if let Some(a) = agent {
            q = q.bind(a);
        }
        for row in &q.fetch_all(db.pool()).await? {
            let h: i64 = row.try_get("h")?;
            let b: i64 = row.try_get("b")?;
            let runs: i64 = row.try_get("runs")?;
            let slot = usize::try_from(b).unwrap_or(BUCKETS - 1).min(BUCKETS - 1);
            into.latency.entry(h).or_insert([0; BUCKETS])[slot] += runs;
        }
        Ok(())
    }

    fn is_error(status: RunStatus) -> bool {
        matches!(
            status,
            RunStatus::Failed | RunStatus::OutputInvalid | RunStatus::Interrupted
        )
    }

    fn add(bucket: &mut ChartBucket, hist: &mut [i64; BUCKETS], hours: &Hours, h: i64) {
        for (status, runs, cost, unpriced, tokens) in hours.counts.get(&h).into_iter().flatten() {
            let Ok(status) = RunStatus::parse(status) else {
                continue;
            };
            match bucket.by_status.iter_mut().find(|(s, _)| *s == status) {
                Some(slot) => slot.1 += runs,
                None => bucket.by_status.push((status, *runs)),
            }
            bucket.runs += runs;
            if is_error(status) {
                bucket.errors += runs;
            }
            bucket.cost_micros += cost;
            bucket.unpriced += unpriced;
            bucket.tokens += tokens;
        }
        if let Some(l) = hours.latency.get(&h) {
            for (slot, n) in hist.iter_mut().zip(l) {
                *slot += n;
            }
        }
    }

    /// The charts of the caller's workspace (or of one of its agents) over `range`, as of `now`.
    #[tracing::instrument(skip(db))]
    pub async fn charts(
        db: &Db,
        actor: &Actor,
        range: ChartRange,
        agent: Option<&str>,
        now: i64,
    ) -> Result<Charts, CoreError> {
        let agent_id = match agent {
            Some(a) => Some(crate::agents::get_agent(db, actor, a).await?.id),
            None => None,
        };
        let now_hour = now.div_euclid(HOUR_MS);
        let (first_hour, per_bucket, count) = match range {
            ChartRange::Day => (now_hour - 23, 1, 24),
            ChartRange::Week | ChartRange::Month => {
                let days = if range == ChartRange::Week { 7 } else { 30 };
                let today = now.div_euclid(DAY_MS);
                ((today - days + 1) * 24, 24, days)
            }
        };
        let ws = actor.workspace_id.as_str();
        let rolled = roll_up(db, ws, first_hour, now_hour - 1).await?;
        // Day by day: the whole days rolled up are read from the daily rollups.
        let days_end = if per_bucket == 24 {
            let days_end = rolled.div_euclid(24) * 24;
            roll_up_days(db, ws, first_hour / 24, days_end / 24).await?;
            days_end.max(first_hour)
        } else {
            first_hour
        };
        let agent = agent_id.as_deref();
        let mut hours = Hours::default();
        for (span, source) in [
            ((first_hour, days_end), Source::Days),
            ((days_end, rolled), Source::Hours),
            ((rolled, now_hour + 1), Source::Live),
        ] {
            read(db, ws, agent, span, source, &mut hours).await?;
        }

        let mut total = ChartBucket::default();
        let mut total_hist = [0; BUCKETS];
        let mut buckets = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for i in 0..count {
            let start_hour = first_hour + i * per_bucket;
            let mut bucket = ChartBucket {
                start: start_hour * HOUR_MS,
                ..ChartBucket::default()
            };
            let mut hist = [0; BUCKETS];
            for h in start_hour..start_hour + per_bucket {
                add(&mut bucket, &mut hist, &hours, h);
                add(&mut total, &mut total_hist, &hours, h);
            }
            bucket
                .by_status
                .sort_by_key(|(s, _)| RunStatus::ALL.iter().position(|x| x == s));
            bucket.p50_ms = quantile(&hist, 0.5);
            bucket.p95_ms = quantile(&hist, 0.95);
            buckets.push(bucket);
        }
        total.start = first_hour * HOUR_MS;
        total
            .by_status
            .sort_by_key(|(s, _)| RunStatus::ALL.iter().position(|x| x == s));
        total.p50_ms = quantile(&total_hist, 0.5);
        total.p95_ms = quantile(&total_hist, 0.95);

        let (top_by_runs, top_by_cost) = top_agents(db, actor, hours.by_agent).await?;
        Ok(Charts {
            range,
            agent_id,
            buckets,
            total,
            top_by_runs,
            top_by_cost,
        })
    }

    /// Totals, charts and latest runs for the dashboard over `range`, for one agent or all.
    #[tracing::instrument(skip(db))]
    pub async fn dashboard(
        db: &Db,
        actor: &Actor,
        range: ChartRange,
        agent: Option<&str>,
    ) -> Result<DashboardStats, CoreError> {
        let agents = crate::agents::count_agents(db, actor).await?;
        let charts = charts(db, actor, range, agent, crate::db::now_ms()).await?;
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
        let failed =
            charts.total.runs - succeeded - count(&[RunStatus::Queued, RunStatus::Running]);
        let recent = crate::runs::list_runs(db, actor, charts.agent_id.as_deref(), 10).await?;
        Ok(DashboardStats {
            totals: DashboardTotals {
                agents,
                runs: charts.total.runs,
                succeeded,
                failed,
                total_tokens: charts.total.tokens,
                cost_micros: charts.total.cost_micros,
            },
            charts,
            recent,
        })
    }

    async fn top_agents(
        db: &Db,
        actor: &Actor,
        by_agent: HashMap<String, (i64, i64)>,
    ) -> Result<(Vec<TopAgent>, Vec<TopAgent>), CoreError> {
        let mut all: Vec<(String, i64, i64)> =
            by_agent.into_iter().map(|(a, (r, c))| (a, r, c)).collect();
        all.sort_by(|x, y| y.1.cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        let by_runs: Vec<_> = all.iter().take(TOP_AGENTS).cloned().collect();
        all.sort_by(|x, y| y.2.cmp(&x.2).then_with(|| x.0.cmp(&y.0)));
        let by_cost: Vec<_> = all
            .iter()
            .filter(|a| a.2 > 0)
            .take(TOP_AGENTS)
            .cloned()
            .collect();
        let ids: Vec<&String> = by_runs
            .iter()
            .chain(&by_cost)
            .map(|a| &a.0)
            .filter(|a| !a.is_empty())
            .collect();
        let mut names: HashMap<String, String> = HashMap::new();
        if !ids.is_empty() {
            let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT id, name FROM agents WHERE workspace_id = $1 AND id IN ({})",
                placeholders.join(", ")
            );
            let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(&actor.workspace_id);
            for id in &ids {
                q = q.bind(*id);
            }
            names.extend(q.fetch_all(db.pool()).await?);
        }
        let named = |list: Vec<(String, i64, i64)>| {
            list.into_iter()
                .map(|(id, runs, cost_micros)| TopAgent {
                    name: names
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| "(deleted agent)".to_owned()),
                    agent_id: names.contains_key(&id).then_some(id),
                    runs,
                    cost_micros,
                })
                .collect()
        };
        Ok((named(by_runs), named(by_cost)))
    }
}

#[cfg(test)]
mod tests;
