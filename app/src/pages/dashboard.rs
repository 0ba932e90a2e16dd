//! The dashboard: real counts and the latest runs of the workspace, from the database.

use leptos::prelude::*;

use galaxy_core::agents::AgentSummary;
use leptos::ev::SubmitEvent;

use crate::api::agents::list_agents;
use crate::api::limits::get_usage;
use crate::api::runs::get_dashboard;
use crate::components::{ErrorNotice, RunsTable};
use crate::input_form::{RunInput, RunInputView};
use crate::live_run::{LiveRun, LiveRunView, RunButtons};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let live = LiveRun::new();
    let stats = Resource::new(move || live.version.get(), |_| get_dashboard());
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
                        view! {
                            <h1>"Dashboard"</h1>
                            <div class="cards">
                                <div class="card"><span class="label">"Agents"</span><span class="value" data-stat="agents">{s.agents}</span></div>
                                <div class="card"><span class="label">"Runs"</span><span class="value" data-stat="runs">{s.runs}</span></div>
                                <div class="card"><span class="label">"Succeeded"</span><span class="value" data-stat="succeeded">{success_rate}</span></div>
                                <div class="card"><span class="label">"Failed"</span><span class="value" data-stat="failed">{s.failed}</span></div>
                                <div class="card"><span class="label">"Tokens"</span><span class="value" data-stat="tokens">{s.total_tokens}</span></div>
                                <div class="card"><span class="label">"Avg latency"</span><span class="value" data-stat="latency">{s.avg_latency_ms.map_or_else(|| "—".to_owned(), |l| format!("{l} ms"))}</span></div>
                            </div>
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
                    Ok(list) if !list.is_empty() => Some(view! { <QuickRun list live/> }),
                    _ => None,
                }
            })}
        </Suspense>
    }
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
        <section class="panel quick-run">
            <h2>"Quick run"</h2>
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
        </section>
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
