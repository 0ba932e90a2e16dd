//! Charts on both databases: buckets, totals, percentiles and top agents from runs written at
//! known times — the same numbers whether an hour is read from the rollups or live.

use super::*;
use crate::runs::RunMode;
use crate::testing::{World, draft};

const HOUR: i64 = 3_600_000;

/// Moves a run to `at` with `latency_ms`, `cost` and `status`.
async fn place(w: &World, run: &str, at: i64, latency: i64, cost: Option<i64>, status: &str) {
    sqlx::query(
        "UPDATE runs SET created_at = $1, latency_ms = $2, cost_micros = $3, status = $4, \
         total_tokens = 10 WHERE id = $5",
    )
    .bind(at)
    .bind(latency)
    .bind(cost)
    .bind(status)
    .bind(run)
    .execute(w.db.pool())
    .await
    .unwrap();
}

#[test]
fn quantiles_are_the_upper_bound_of_their_bucket() {
    let mut h = [0; LATENCY_BOUNDS.len() + 1];
    assert_eq!(quantile(&h, 0.5), None);
    h[2] = 9; // 50..100 ms
    h[8] = 1; // 500..750 ms
    assert_eq!(quantile(&h, 0.5), Some(100));
    assert_eq!(quantile(&h, 0.9), Some(100));
    assert_eq!(quantile(&h, 0.95), Some(750));
    h[LATENCY_BOUNDS.len()] = 100;
    assert_eq!(quantile(&h, 0.95), Some(i64::MAX));
}

on_both_backends!(
    charts_count_by_bucket_from_rollups_and_live_alike,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let one = w.agent(&a, &draft("One", "openai", "")).await;
        let two = w.agent(&a, &draft("Two", "openai", "")).await;
        let mut runs = Vec::new();
        for i in 0..6 {
            let agent = if i < 4 { &one.id } else { &two.id };
            runs.push(w.run(&a, agent, &format!("in {i}"), RunMode::Mock).await.id);
        }
        // Now: 10:30 on day 20,000. Two runs 3 days ago (rolled up), two at 9:00 (live: that hour
        // ended only half an hour ago), two in this hour (live).
        let day = 20_000 * 24 * HOUR;
        let now = day + 10 * HOUR + 30 * 60_000;
        place(&w, &runs[0], now - 72 * HOUR, 80, Some(100), "succeeded").await;
        place(&w, &runs[1], now - 72 * HOUR, 600, Some(300), "failed").await;
        place(&w, &runs[2], now - 90 * 60_000, 80, Some(100), "succeeded").await;
        place(&w, &runs[3], now - 90 * 60_000, 80, None, "succeeded").await;
        place(&w, &runs[4], now - 60_000, 120, Some(1_000), "succeeded").await;
        place(
            &w,
            &runs[5],
            now - 60_000,
            2_500,
            Some(1_000),
            "output_invalid",
        )
        .await;

        let a = w.fresh(&a).await;
        for attempt in 0..2 {
            // The first read rolls the closed hours up; the second reads them back.
            let week = charts(&w.db, &a, ChartRange::Week, None, now)
                .await
                .unwrap();
            assert_eq!(week.buckets.len(), 7, "attempt {attempt}");
            assert_eq!(week.buckets[6].start, day);
            let three_days_ago = &week.buckets[3];
            assert_eq!(three_days_ago.runs, 2);
            assert_eq!(three_days_ago.errors, 1);
            assert_eq!(three_days_ago.cost_micros, 400);
            assert_eq!(
                three_days_ago.by_status,
                vec![(RunStatus::Succeeded, 1), (RunStatus::Failed, 1)]
            );
            assert_eq!(
                (three_days_ago.p50_ms, three_days_ago.p95_ms),
                (Some(100), Some(750))
            );
            let today = &week.buckets[6];
            assert_eq!((today.runs, today.errors, today.unpriced), (4, 1, 1));
            assert_eq!(today.cost_micros, 2_100);
            assert_eq!(today.tokens, 40);
            assert_eq!(today.error_rate(), Some(0.25));
            assert_eq!(week.total.runs, 6);
            assert_eq!(week.top_by_runs[0].name, "One");
            assert_eq!(week.top_by_runs[0].runs, 4);
            assert_eq!(week.top_by_cost[0].name, "Two");
            assert_eq!(week.top_by_cost[0].cost_micros, 2_000);

            // 24 hours: hour by hour; the three-day-old runs are out.
            let day_view = charts(&w.db, &a, ChartRange::Day, None, now).await.unwrap();
            assert_eq!(day_view.buckets.len(), 24);
            assert_eq!(day_view.total.runs, 4);
            assert_eq!(day_view.buckets[23].runs, 2);
            assert_eq!(day_view.buckets[22].runs, 2);
            assert_eq!(day_view.buckets[21].runs, 0);
            // One agent.
            let two_only = charts(&w.db, &a, ChartRange::Month, Some(&two.id), now)
                .await
                .unwrap();
            assert_eq!(two_only.total.runs, 2);
            assert_eq!(two_only.total.p95_ms, Some(3_000));
            assert_eq!(
                two_only.top_by_runs.len(),
                2,
                "the top lists stay the workspace's"
            );
        }
        let (rolled,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM run_rollup_hours")
            .fetch_one(w.db.pool())
            .await
            .unwrap();
        assert!(rolled >= 24 * 6, "{rolled} hours rolled up");
        // The whole days before today were summed into daily rollups (29 of the 30-day view),
        // and the second round of reads above counted them from there, the same.
        let (days, day_runs): (i64, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM run_rollup_days), \
             (SELECT CAST(SUM(runs) AS BIGINT) FROM run_day_rollups WHERE day = $1)",
        )
        .bind(20_000 - 3)
        .fetch_one(w.db.pool())
        .await
        .unwrap();
        assert_eq!(days, 29);
        assert_eq!(day_runs, Some(2));
        // Another workspace sees none of it, and not its agents.
        let b = w.workspace("b@example.com").await;
        let theirs = charts(&w.db, &b, ChartRange::Month, None, now)
            .await
            .unwrap();
        assert_eq!(theirs.total.runs, 0);
        assert!(theirs.top_by_runs.is_empty());
        assert!(matches!(
            charts(&w.db, &b, ChartRange::Month, Some(&one.id), now).await,
            Err(crate::error::CoreError::NotFound)
        ));
    }
);

on_both_backends!(
    an_hour_with_a_run_still_going_is_not_rolled_up,
    |w: World| async move {
        let a = w.workspace("a@example.com").await;
        let agent = w.agent(&a, &draft("One", "openai", "")).await;
        let run = w.run(&a, &agent.id, "x", RunMode::Mock).await.id;
        let now = 20_000 * 24 * HOUR + 12 * HOUR;
        place(&w, &run, now - 5 * HOUR, 80, Some(1), "running").await;
        let a = w.fresh(&a).await;
        let first = charts(&w.db, &a, ChartRange::Day, None, now).await.unwrap();
        assert_eq!(first.total.runs, 1);
        // It ends: the next read counts it as it ended (its hour was left live).
        place(&w, &run, now - 5 * HOUR, 80, Some(1), "succeeded").await;
        let later = charts(&w.db, &a, ChartRange::Day, None, now).await.unwrap();
        assert_eq!(later.total.by_status, vec![(RunStatus::Succeeded, 1)]);
    }
);
