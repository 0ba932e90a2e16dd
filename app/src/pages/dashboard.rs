//! The dashboard: the range's totals and charts (24 h, 7 d or 30 d; the workspace or one agent —
//! chosen by a plain GET form, `/?range=30d&agent=…`, so it works without JavaScript), spend and
//! limits, a quick run, and the latest runs.

use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};

use galaxy_core::agents::AgentSummary;
use leptos::ev::SubmitEvent;

use crate::api::agents::list_agents;
use crate::api::limits::get_usage;
use crate::api::runs::get_dashboard;
use crate::charts_view::DashboardCharts;
use crate::components::{ErrorNotice, RunsTable};
use crate::input_form::{RunInput, RunInputView};
use crate::live_run::{LiveRun, LiveRunView, RunButtons};
use galaxy_core::charts::ChartRange;
use leptos_router::hooks::use_query_map;

#[component]
pub fn DashboardPage() -> impl IntoView {
    let live = LiveRun::new();
    let query = use_query_map();
    let stats = Resource::new(
        move || {
            let q = query.read();
            (
                live.version.get(),
                q.get("range").unwrap_or_default(),
                q.get("agent").unwrap_or_default(),
            )
        },
        |(_, range, agent)| get_dashboard(range, agent),
    );
    let agents = Resource::new(|| (), |_| list_agents());
    let usage = Resource::new(move || live.version.get(), |_| get_usage());
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match stats.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(s) => {
                        let success_rate = if s.runs > 0 {
                            format!("{:.0}%", 100.0 * s.succeeded as f64 / s.runs as f64)
                        } else {
                            "—".to_owned()
                        };
                        let latency = match (s.charts.total.p50_ms, s.charts.total.p95_ms) {
                            (Some(p50), Some(p95)) if p95 != i64::MAX => format!("≤ {p50} / {p95} ms"),
                            _ => "—".to_owned(),
                        };
                        let range = s.charts.range;
                        let chosen = s.charts.agent_id.clone().unwrap_or_default();
                        view! {
                            <div class="panel-head">
                                <h1>"Dashboard"</h1>
                                <RangeForm range chosen/>
                            </div>
                            <p class="muted small" data-range=range.as_str()>{range.label()}" (UTC)"</p>
                            <div class="cards">
                                <div class="card"><span class="label">"Agents"</span><span class="value" data-stat="agents">{s.agents}</span></div>
                                <div class="card"><span class="label">"Runs"</span><span class="value" data-stat="runs">{s.runs}</span></div>
                                <div class="card"><span class="label">"Succeeded"</span><span class="value" data-stat="succeeded">{success_rate}</span></div>
                                <div class="card"><span class="label">"Failed"</span><span class="value" data-stat="failed">{s.failed}</span></div>
                                <div class="card"><span class="label">"Tokens"</span><span class="value" data-stat="tokens">{s.total_tokens}</span></div>
                                <div class="card"><span class="label">"Cost"</span><span class="value" data-stat="cost">{galaxy_core::pricing::format_cost(Some(s.cost_micros))}</span></div>
                                <div class="card"><span class="label">"Latency p50 / p95"</span><span class="value" data-stat="latency">{latency}</span></div>
                            </div>
                            <section class="panel">
                                <DashboardCharts charts=s.charts/>
                            </section>
                            <section class="panel">
                                <div class="panel-head">
                                    <h2>"Latest runs"</h2>
                                    <a class="button" href="/agents/new">"New agent"</a>
                                </div>
                                {if s.agents == 0 && s.runs == 0 {
                                    view! {
                                        <p>"No agents yet. " <a href="/agents/new">"Create your first agent"</a>
                                        " and run it in mock mode — no provider key needed."</p>
                                    }.into_any()
                                } else {
                                    view! { <RunsTable runs=s.recent show_agent=true/> }.into_any()
                                }}
                            </section>
                        }
                        .into_any()
                    }
                }
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                usage.await.ok().map(|u| view! { <Headroom usage=u/> })
            })}
        </Suspense>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match agents.await {
                    Ok(list) if !list.is_empty() => Some(view! { <QuickRunPanel list live/> }),
                    _ => None,
                }
            })}
        </Suspense>
    }
}

/// The range and agent the dashboard shows: a GET form (the choice is in the URL).
#[component]
fn RangeForm(range: ChartRange, chosen: String) -> impl IntoView {
    let agents = Resource::new(|| (), |_| list_agents());
    view! {
        <form method="get" action="/" class="row range-form" aria-label="What the dashboard shows">
            <label>"Range"
                <select name="range">
                    {ChartRange::ALL.iter().map(|r| view! {
                        <option value=r.as_str() selected=*r == range>{r.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Agent"
                <select name="agent">
                    <option value="">"All agents"</option>
                    <Transition fallback=|| ()>
                        {move || {
                            let chosen = chosen.clone();
                            Suspend::new(async move {
                                agents.await.unwrap_or_default().into_iter().map(|a| {
                                    let selected = a.id == chosen;
                                    view! { <option value=a.id.clone() selected=selected>{a.name}</option> }
                                }).collect_view()
                            })
                        }}
                    </Transition>
                </select>
            </label>
            <button type="submit" class="small-button">"Show"</button>
        </form>
    }
}

/// The quick run's panel. Its form — the input forms, the validator, the live-run view, the code
/// the agent pages' test panel also runs — is in the agent pages' lazily loaded module, fetched
/// when the panel is opened: the dashboard's first load does not carry it (BENCHMARKS.md "Bundle
/// size"). In a module of its own it would split the code it shares with the agent pages into
/// more, smaller chunks, and make the agent page's first load larger.
#[component]
fn QuickRunPanel(list: Vec<AgentSummary>, live: LiveRun) -> impl IntoView {
    let open = RwSignal::new(false);
    let list = StoredValue::new(list);
    view! {
        <section class="panel quick-run" aria-labelledby="quick-run-title">
            <h2 id="quick-run-title">"Quick run"</h2>
            <Show
                when=move || open.get()
                fallback=move || view! {
                    <p class="muted">"Run any agent from here, in mock or live mode, through the same streamed path as its test panel."</p>
                    <button type="button" class="primary" on:click=move |_| open.set(true)>"Open quick run"</button>
                }
            >
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        quick_run(list.get_value(), live).await.unwrap_or_else(|_| view! {
                            <p class="error" role="alert">
                                "The quick run could not be loaded: Galaxy may have been updated since this page opened, or the connection dropped. Reload the page to try again."
                            </p>
                        }.into_any())
                    })}
                </Suspense>
            </Show>
        </section>
    }
}

/// The quick run's form, in the agent pages' module (see [`QuickRunPanel`]).
#[wasm_split(agents, wasm_split_path = ::leptos::wasm_split, fallible)]
fn quick_run(list: Vec<AgentSummary>, live: LiveRun) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <QuickRun list live/> }.into_any())
}

/// Run any agent from the dashboard, through the same streamed path as the test panel.
#[component]
fn QuickRun(list: Vec<AgentSummary>, live: LiveRun) -> impl IntoView {
    let agent_id = RwSignal::new(list.first().map(|a| a.id.clone()).unwrap_or_default());
    let schemas = StoredValue::new(
        list.iter()
            .map(|a| (a.id.clone(), a.input_schema.clone()))
            .collect::<Vec<_>>(),
    );
    let input_for = move |id: &str| {
        schemas.with_value(|s| {
            RunInput::new(
                s.iter()
                    .find(|(a, _)| a == id)
                    .and_then(|(_, s)| s.as_ref()),
            )
        })
    };
    let input = RwSignal::new(input_for(&agent_id.get_untracked()));
    let mode = RwSignal::new("mock".to_owned());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if let Some(text) = input.get_untracked().submit() {
            live.start(
                agent_id.get_untracked(),
                text,
                mode.get_untracked(),
                "dashboard",
            );
        }
    };
    view! {
        <form on:submit=on_submit>
            <div class="row">
                <label class="grow">"Agent"
                    <select on:change=move |ev| {
                        let id = event_target_value(&ev);
                        input.set(input_for(&id));
                        agent_id.set(id);
                    }>
                        {list.into_iter().map(|a| view! { <option value=a.id.clone()>{a.name.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Mode"
                    <select on:change=move |ev| mode.set(event_target_value(&ev))>
                        <option value="mock">"Mock"</option>
                        <option value="live">"Live"</option>
                    </select>
                </label>
            </div>
            {move || view! { <RunInputView input=input.get()/> }}
            <RunButtons live/>
        </form>
        <LiveRunView live/>
    }
}

/// Spend this month against the budget, and what is left of the rate windows.
#[component]
fn Headroom(usage: galaxy_core::limits::UsageView) -> impl IntoView {
    let rate = |w: Option<galaxy_core::limits::RateWindow>, unit: &str| {
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
                        galaxy_core::pricing::format_cost(Some(usage.spent_micros))
                    )}</p>
                }.into_any()
            }}
            <p class="small muted" data-usage="headroom">
                {rate(usage.requests, "Requests")} " · " {rate(usage.tokens_window, "Tokens")}
            </p>
        </section>
    }
}
