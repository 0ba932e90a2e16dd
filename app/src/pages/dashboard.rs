//! The dashboard: the range's totals and charts (24 h, 7 d or 30 d; the workspace or one agent —
//! chosen by a plain GET form, `/?range=30d&agent=…`, so it works without JavaScript), spend and
//! limits, a quick run, and the latest runs.
//!
//! The report — totals, charts, latest runs, spend and limits — is static markup the server
//! draws (`crate::dashboard_report`, through `get_dashboard`); this page places it and owns what
//! is interactive: the range form and the quick run. The drawing code stays out of the
//! browser's bundle (BENCHMARKS.md "Bundle size").

use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};

use galaxy_core::agents::AgentSummary;
use leptos::ev::SubmitEvent;

use crate::api::agents::list_agents;
use crate::api::runs::get_dashboard;
use crate::components::ErrorNotice;
use crate::error::AppError;
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
    view! {
        // A Transition: after a quick run the report is fetched again, and the one shown stays
        // until the new one is there (no "Loading…" in its place).
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match stats.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(s) => view! {
                        <div class="panel-head">
                            <h1>"Dashboard"</h1>
                            <RangeForm range=s.range chosen=s.agent_id.unwrap_or_default() agents/>
                        </div>
                        // Drawn by the server (see the module docs).
                        <div class="report" inner_html=s.report_html></div>
                    }
                    .into_any(),
                }
            })}
        </Transition>
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

/// The range and agent the dashboard shows: a GET form (the choice is in the URL). `agents` is
/// the page's list (the quick run's too): drawn again with every new report, the form does not
/// fetch it again.
#[component]
fn RangeForm(
    range: ChartRange,
    chosen: String,
    agents: Resource<Result<Vec<AgentSummary>, AppError>>,
) -> impl IntoView {
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
/// the agent pages' test panel also runs — is in the `workbench` module with the test panel,
/// fetched when the panel is opened: the dashboard's first load does not carry it (BENCHMARKS.md
/// "Bundle size"). In a module of its own it would split the code it shares with the test panel
/// into more, smaller chunks.
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

/// The quick run's form, in the `workbench` module (see [`QuickRunPanel`]).
#[wasm_split(workbench, wasm_split_path = ::leptos::wasm_split, fallible)]
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
