//! The dashboard's report, drawn by the server: the range's totals, the charts
//! ([`crate::charts_view`]), the latest runs, and spend and limits. All of it is static markup —
//! links, SVG, tables, no handlers — so `get_dashboard` renders it with the same view code and
//! escaping as every page, and the dashboard places it (`pages::dashboard`); none of this code
//! is compiled into the browser's bundle (BENCHMARKS.md "Bundle size"). Another range or agent
//! is a new page load (the range form is a plain GET form); a finished quick run fetches a newly
//! drawn report through `get_dashboard`.
//!
//! Server-only.

use galaxy_core::charts::DashboardStats;
use galaxy_core::limits::{RateWindow, UsageView};
use galaxy_core::pricing::format_cost;
use leptos::prelude::*;

use crate::charts_view::DashboardCharts;
use crate::components::RunsTable;

/// The report's markup for `stats`, with spend and limits when `usage` could be read.
///
/// Rendered under a root owner of its own, with no hydration context: the report is markup, not
/// part of the page's reactive tree, so nothing in it may register with the page (a resource
/// created here would take a place in the page's serialized resources, which the browser
/// matches by creation order, and shift every later one).
pub fn render(stats: DashboardStats, usage: Option<UsageView>) -> String {
    Owner::new_root(None).with(|| view! { <Report stats usage/> }.to_html())
}

#[component]
fn Report(stats: DashboardStats, usage: Option<UsageView>) -> impl IntoView {
    let t = stats.totals;
    let success_rate = percent(t.succeeded, t.runs);
    let latency = match (stats.charts.total.p50_ms, stats.charts.total.p95_ms) {
        (Some(p50), Some(p95)) if p95 != i64::MAX => format!("≤ {p50} / {p95} ms"),
        _ => "—".to_owned(),
    };
    let range = stats.charts.range;
    let empty = t.agents == 0 && t.runs == 0;
    view! {
        <p class="muted small" data-range=range.as_str()>{range.label()}" (UTC)"</p>
        <div class="cards">
            <div class="card"><span class="label">"Agents"</span><span class="value" data-stat="agents">{t.agents}</span></div>
            <div class="card"><span class="label">"Runs"</span><span class="value" data-stat="runs">{t.runs}</span></div>
            <div class="card"><span class="label">"Succeeded"</span><span class="value" data-stat="succeeded">{success_rate}</span></div>
            <div class="card"><span class="label">"Failed"</span><span class="value" data-stat="failed">{t.failed}</span></div>
            <div class="card"><span class="label">"Tokens"</span><span class="value" data-stat="tokens">{t.total_tokens}</span></div>
            <div class="card"><span class="label">"Cost"</span><span class="value" data-stat="cost">{format_cost(Some(t.cost_micros))}</span></div>
            <div class="card"><span class="label">"Latency p50 / p95"</span><span class="value" data-stat="latency">{latency}</span></div>
        </div>
        <section class="panel">
            <DashboardCharts charts=stats.charts/>
        </section>
        <section class="panel">
            <div class="panel-head">
                <h2>"Latest runs"</h2>
                <a class="button" href="/agents/new">"New agent"</a>
            </div>
            {if empty {
                view! {
                    <p>"No agents yet. " <a href="/agents/new">"Create your first agent"</a>
                    " and run it in mock mode — no provider key needed."</p>
                }.into_any()
            } else {
                view! { <RunsTable runs=stats.recent show_agent=true/> }.into_any()
            }}
        </section>
        {usage.map(|usage| view! { <Headroom usage/> })}
    }
}

/// Spend this month against the budget, and what is left of the rate windows.
#[component]
fn Headroom(usage: UsageView) -> impl IntoView {
    let rate = |w: Option<RateWindow>, unit: &str| {
        w.map_or_else(
            || format!("{unit}: no limit"),
            |w| {
                format!(
                    "{unit}: {} of {} available (limit {}/min)",
                    w.remaining, w.capacity, w.per_minute
                )
            },
        )
    };
    view! {
        <section class="panel headroom">
            <div class="panel-head">
                <h2>"Spend and limits"</h2>
                <a href="/settings/limits">"Limits & budget"</a>
            </div>
            {if usage.limits.monthly_budget_micros.is_some() {
                view! { <crate::pages::limits::SpendBar usage=usage.clone()/> }.into_any()
            } else {
                view! {
                    <p data-usage="bar">{format!(
                        "{} spent this month (no budget set).",
                        format_cost(Some(usage.spent_micros))
                    )}</p>
                }.into_any()
            }}
            <p class="small muted" data-usage="headroom">
                {rate(usage.requests, "Requests")} " · " {rate(usage.tokens_window, "Tokens")}
            </p>
        </section>
    }
}

/// `part` of `whole` as a whole percentage, rounded half up ("—" of nothing).
fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".to_owned();
    }
    let rounded = (i128::from(part) * 200 + i128::from(whole)) / (i128::from(whole) * 2);
    format!("{rounded}%")
}

#[cfg(test)]
mod tests {
    use super::percent;

    #[test]
    fn percentages_round_half_up_and_nothing_is_a_dash() {
        assert_eq!(percent(0, 0), "—");
        assert_eq!(percent(0, 3), "0%");
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(2, 3), "67%");
        assert_eq!(percent(1, 8), "13%"); // 12.5
        assert_eq!(percent(1, 200), "1%"); // 0.5
        assert_eq!(percent(1, 201), "0%");
        assert_eq!(percent(7, 7), "100%");
        assert_eq!(percent(i64::MAX, i64::MAX), "100%");
    }
}
