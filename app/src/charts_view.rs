//! The dashboard's charts, drawn as server-rendered SVG (no JavaScript chart library; they read
//! the same without JavaScript). Each chart is a `<figure>` with an SVG `role="img"` named by its
//! `<title>` and described by a `<desc>`, each bar with its own `<title>` (a tooltip and what a
//! screen reader reads), and the numbers as a data table under "Data".
//!
//! Server-only: they are part of the dashboard's report (`crate::dashboard_report`), which
//! `get_dashboard` renders into markup and the dashboard places, so none of this is compiled
//! into the browser's bundle.

use galaxy_core::charts::{ChartBucket, ChartRange, Charts, TopAgent};
use galaxy_core::pricing::format_cost;
use galaxy_core::runs::RunStatus;
use galaxy_core::timefmt::format_utc;
use leptos::prelude::*;

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;

/// The series of the runs chart: a label, a CSS class, the statuses it counts.
const SERIES: [(&str, &str, &[RunStatus]); 4] = [
    ("Succeeded", "s-ok", &[RunStatus::Succeeded]),
    (
        "Errors",
        "s-bad",
        &[
            RunStatus::Failed,
            RunStatus::OutputInvalid,
            RunStatus::Interrupted,
        ],
    ),
    (
        "Refused",
        "s-warn",
        &[
            RunStatus::InputInvalid,
            RunStatus::RateLimited,
            RunStatus::BudgetExceeded,
        ],
    ),
    (
        "Other",
        "s-muted",
        &[RunStatus::Queued, RunStatus::Running, RunStatus::Cancelled],
    ),
];

fn count_of(b: &ChartBucket, statuses: &[RunStatus]) -> i64 {
    b.by_status
        .iter()
        .filter(|(s, _)| statuses.contains(s))
        .map(|(_, n)| n)
        .sum()
}

/// A bucket's label: its hour (24 h) or its day.
fn label(range: ChartRange, start: i64) -> String {
    let at = format_utc(start); // "YYYY-MM-DD HH:MM UTC"
    match range {
        ChartRange::Day => at.get(11..16).unwrap_or(&at).to_owned(),
        ChartRange::Week | ChartRange::Month => at.get(5..10).unwrap_or(&at).to_owned(),
    }
}

fn ms(v: Option<i64>) -> String {
    match v {
        None => "—".to_owned(),
        Some(i64::MAX) => "> 120 s".to_owned(),
        Some(v) => format!("≤ {v} ms"),
    }
}

/// The labels of the first and the last bucket.
fn ends(c: &Charts) -> (String, String) {
    let at = |b: Option<&ChartBucket>| b.map(|b| label(c.range, b.start)).unwrap_or_default();
    (at(c.buckets.first()), at(c.buckets.last()))
}

/// Where bar `i` of `n` starts and how wide it is.
fn slot(i: usize, n: usize) -> (f64, f64) {
    let step = (WIDTH - LEFT) / n.max(1) as f64;
    (LEFT + step * i as f64 + step * 0.1, step * 0.8)
}

fn y_of(v: f64, max: f64) -> f64 {
    let plot = HEIGHT - BOTTOM - TOP;
    HEIGHT - BOTTOM - if max > 0.0 { plot * v / max } else { 0.0 }
}

/// The frame: the axis, the top value and the first and last bucket's labels.
fn frame(max_label: String, first: String, last: String) -> impl IntoView {
    view! {
        <line class="axis" x1=LEFT y1=HEIGHT - BOTTOM x2=WIDTH y2=HEIGHT - BOTTOM/>
        <line class="axis" x1=LEFT y1=TOP x2=LEFT y2=HEIGHT - BOTTOM/>
        <text class="tick" x=LEFT - 4.0 y=TOP + 8.0 text-anchor="end">{max_label}</text>
        <text class="tick" x=LEFT - 4.0 y=HEIGHT - BOTTOM text-anchor="end">"0"</text>
        <text class="tick" x=LEFT y=HEIGHT - 4.0>{first}</text>
        <text class="tick" x=WIDTH y=HEIGHT - 4.0 text-anchor="end">{last}</text>
    }
}

/// One chart: its frame, its marks, its description and its data table.
#[component]
fn Chart(
    id: &'static str,
    #[prop(into)] title: String,
    #[prop(into)] desc: String,
    marks: AnyView,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    #[prop(optional)] legend: Vec<(&'static str, &'static str)>,
) -> impl IntoView {
    let title_id = format!("{id}-title");
    let desc_id = format!("{id}-desc");
    let labelled_by = format!("{title_id} {desc_id}");
    view! {
        <figure class="chart" data-chart=id>
            <figcaption>{title.clone()}</figcaption>
            {(!legend.is_empty()).then(|| view! {
                <ul class="legend">
                    {legend.into_iter().map(|(name, class)| view! { <li><span class=format!("swatch {class}")></span>{name}</li> }).collect_view()}
                </ul>
            })}
            <svg role="img" viewBox=format!("0 0 {WIDTH} {HEIGHT}") aria-labelledby=labelled_by>
                <title id=title_id>{title.clone()}</title>
                <desc id=desc_id>{desc}</desc>
                {marks}
            </svg>
            <details>
                <summary>"Data"</summary>
                <div class="table-scroll">
                    <table>
                        <caption class="visually-hidden">{title}</caption>
                        <thead><tr>{head.into_iter().map(|h| view! { <th>{h}</th> }).collect_view()}</tr></thead>
                        <tbody>
                            {rows.into_iter().map(|r| view! {
                                <tr>{r.into_iter().map(|c| view! { <td>{c}</td> }).collect_view()}</tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </details>
        </figure>
    }
}

/// Runs per bucket, stacked by outcome.
fn runs_chart(c: &Charts) -> impl IntoView {
    let n = c.buckets.len();
    let max = c.buckets.iter().map(|b| b.runs).max().unwrap_or(0) as f64;
    let marks = c
        .buckets
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let (x, w) = slot(i, n);
            let mut base = 0.0;
            let when = label(c.range, b.start);
            SERIES
                .iter()
                .filter_map(|(name, class, statuses)| {
                    let v = count_of(b, statuses) as f64;
                    if v == 0.0 {
                        return None;
                    }
                    let (top, bottom) = (y_of(base + v, max), y_of(base, max));
                    base += v;
                    Some(view! {
                        <rect class=*class x=x y=top width=w height=(bottom - top).max(1.0)>
                            <title>{format!("{when}: {v} {}", name.to_lowercase())}</title>
                        </rect>
                    })
                })
                .collect_view()
        })
        .collect_view();
    let (first, last) = ends(c);
    let rows = c
        .buckets
        .iter()
        .map(|b| {
            let mut row = vec![label(c.range, b.start)];
            row.extend(SERIES.iter().map(|(_, _, s)| count_of(b, s).to_string()));
            row.push(b.runs.to_string());
            row
        })
        .collect();
    let mut head = vec!["When (UTC)".to_owned()];
    head.extend(SERIES.iter().map(|(n, _, _)| (*n).to_owned()));
    head.push("Runs".to_owned());
    view! {
        <Chart id="runs" title="Runs by outcome"
            desc=format!("{} runs, {} succeeded, {} errors.", c.total.runs, count_of(&c.total, SERIES[0].2), c.total.errors)
            marks=view! { {frame(format!("{max}"), first, last)} {marks} }.into_any()
            head rows legend=SERIES.iter().map(|(n, class, _)| (*n, *class)).collect()/>
    }
}

/// A single-series bar chart of `value` per bucket.
fn bars(
    c: &Charts,
    id: &'static str,
    title: &str,
    value: impl Fn(&ChartBucket) -> f64,
    shown: impl Fn(f64) -> String,
    desc: String,
) -> impl IntoView {
    let n = c.buckets.len();
    let max = c.buckets.iter().map(&value).fold(0.0, f64::max);
    let marks = c
        .buckets
        .iter()
        .enumerate()
        .filter(|(_, b)| value(b) > 0.0)
        .map(|(i, b)| {
            let (x, w) = slot(i, n);
            let top = y_of(value(b), max);
            view! {
                <rect class="s-accent" x=x y=top width=w height=(HEIGHT - BOTTOM - top).max(1.0)>
                    <title>{format!("{}: {}", label(c.range, b.start), shown(value(b)))}</title>
                </rect>
            }
        })
        .collect_view();
    let (first, last) = ends(c);
    let rows = c
        .buckets
        .iter()
        .map(|b| vec![label(c.range, b.start), shown(value(b))])
        .collect();
    view! {
        <Chart id title=title.to_owned() desc
            marks=view! { {frame(shown(max), first, last)} {marks} }.into_any()
            head=vec!["When (UTC)".to_owned(), title.to_owned()] rows/>
    }
}

/// Latency p50 and p95 per bucket, as two lines of points.
fn latency_chart(c: &Charts) -> impl IntoView {
    let n = c.buckets.len();
    let finite = |v: Option<i64>| v.filter(|v| *v != i64::MAX).map(|v| v as f64);
    let max = c
        .buckets
        .iter()
        .flat_map(|b| [finite(b.p50_ms), finite(b.p95_ms)])
        .flatten()
        .fold(0.0, f64::max);
    let line = |pick: fn(&ChartBucket) -> Option<i64>, class: &'static str| {
        let points: Vec<String> = c
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let (x, w) = slot(i, n);
                finite(pick(b)).map(|v| format!("{:.1},{:.1}", x + w / 2.0, y_of(v, max)))
            })
            .collect();
        let dots = c
            .buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let (x, w) = slot(i, n);
                finite(pick(b)).map(|v| {
                    view! {
                        <circle class=class cx=x + w / 2.0 cy=y_of(v, max) r="3">
                            <title>{format!("{}: {}", label(c.range, b.start), ms(pick(b)))}</title>
                        </circle>
                    }
                })
            })
            .collect_view();
        view! { <polyline class=format!("line {class}") points=points.join(" ")/> {dots} }
    };
    let (first, last) = ends(c);
    let rows = c
        .buckets
        .iter()
        .map(|b| vec![label(c.range, b.start), ms(b.p50_ms), ms(b.p95_ms)])
        .collect();
    view! {
        <Chart id="latency" title="Latency p50 and p95"
            desc=format!("Over the range: p50 {}, p95 {}.", ms(c.total.p50_ms), ms(c.total.p95_ms))
            marks=view! { {frame(format!("{max} ms"), first, last)} {line(|b| b.p50_ms, "s-accent")} {line(|b| b.p95_ms, "s-warn")} }.into_any()
            head=vec!["When (UTC)".to_owned(), "p50".to_owned(), "p95".to_owned()] rows
            legend=vec![("p50", "s-accent"), ("p95", "s-warn")]/>
    }
}

fn top_list(
    title: &'static str,
    id: &'static str,
    agents: Vec<TopAgent>,
    cost: bool,
) -> impl IntoView {
    view! {
        <div class="top-agents" data-top=id>
            <h2 class="h3">{title}</h2>
            {if agents.is_empty() {
                view! { <p class="muted">"No runs in this range."</p> }.into_any()
            } else {
                view! {
                    <ol>
                        {agents.into_iter().map(|a| {
                            let value = if cost { format_cost(Some(a.cost_micros)) } else { format!("{} runs", a.runs) };
                            let name = match a.agent_id {
                                Some(id) => view! { <a href=format!("/agents/{id}")>{a.name}</a> }.into_any(),
                                None => view! { <span>{a.name}</span> }.into_any(),
                            };
                            view! { <li data-runs=a.runs.to_string()>{name}" — "{value}</li> }
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
        </div>
    }
}

/// Every chart of the dashboard.
#[component]
pub fn DashboardCharts(charts: Charts) -> impl IntoView {
    let c = charts;
    let total_cost = format_cost(Some(c.total.cost_micros));
    let unpriced = c.total.unpriced;
    let error_desc = match c.total.error_rate() {
        Some(r) => format!("{:.1}% of the range's ended runs were errors.", r * 100.0),
        None => "No ended runs in this range.".to_owned(),
    };
    view! {
        <div class="charts">
            {runs_chart(&c)}
            {bars(&c, "cost", "Cost", |b| b.cost_micros as f64, |v| format_cost(Some(v as i64)),
                format!("{total_cost} in all{}.", if unpriced > 0 { format!(", and {unpriced} runs without a price") } else { String::new() }))}
            {bars(&c, "tokens", "Tokens", |b| b.tokens as f64, |v| format!("{v}"),
                format!("{} tokens in all.", c.total.tokens))}
            {latency_chart(&c)}
            {bars(&c, "errors", "Error rate", |b| b.error_rate().unwrap_or(0.0) * 100.0, |v| format!("{v:.1}%"), error_desc)}
        </div>
        <div class="columns">
            {top_list("Top agents by runs", "runs", c.top_by_runs, false)}
            {top_list("Top agents by cost", "cost", c.top_by_cost, true)}
        </div>
    }
}
