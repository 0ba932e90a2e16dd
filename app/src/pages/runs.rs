//! `/runs`: every run of the workspace, newest first, filtered by agent, status, mode, where it
//! started, provider, model, API token, a text in its input or output, and a date range — the filters live in the URL
//! (a plain GET form: a view can be shared, and it works without JavaScript), pages follow by
//! keyset cursor ("Older runs"), 50 at a time; the view exports as CSV or JSON Lines
//! (`server/src/export.rs`, streamed).

use galaxy_core::runs::{RunMode, RunStatus, RunTrigger};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::agents::list_agents;
use crate::api::runs::{RunFilters, list_runs_page};
use crate::api::tokens::list_api_tokens;
use crate::components::{ErrorNotice, RunsTable, encode};

/// The filters, as the URL names them.
const FILTERS: [&str; 10] = [
    "agent", "status", "mode", "trigger", "provider", "model", "token", "q", "from", "to",
];

#[component]
pub fn RunsListPage() -> impl IntoView {
    let query = use_query_map();
    let value = move |key: &str| query.read().get(key).unwrap_or_default();
    let page = Resource::new(
        move || {
            let q = query.read();
            let get = |k: &str| q.get(k).unwrap_or_default();
            (FILTERS.map(get), get("cursor"))
        },
        |(
            [
                agent,
                status,
                mode,
                trigger,
                provider,
                model,
                token,
                q,
                from,
                to,
            ],
            cursor,
        )| {
            list_runs_page(RunFilters {
                agent,
                status,
                mode,
                trigger,
                provider,
                model,
                token,
                q,
                from,
                to,
                cursor,
            })
        },
    );
    let agents = Resource::new(|| (), |_| list_agents());
    let tokens = Resource::new(|| (), |_| list_api_tokens());
    // The next page's link: these filters and its cursor.
    let older = move |cursor: String| {
        let q = query.read();
        let mut parts: Vec<String> = FILTERS
            .iter()
            .filter_map(|k| {
                q.get(k)
                    .filter(|v| !v.is_empty())
                    .map(|v| format!("{k}={}", encode(&v)))
            })
            .collect();
        parts.push(format!("cursor={}", encode(&cursor)));
        format!("/runs?{}", parts.join("&"))
    };
    // This view as a file: the same filters, every run, whole.
    let export = move |format: &str| {
        let q = query.read();
        let mut parts = vec![format!("format={format}")];
        parts.extend(FILTERS.iter().filter_map(|k| {
            q.get(k)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", encode(&v)))
        }));
        format!("/runs/export?{}", parts.join("&"))
    };
    let option = move |v: &'static str, label: &'static str, key: &'static str| {
        view! { <option value=v selected=move || value(key) == v>{label}</option> }
    };
    view! {
        <h1>"Runs"</h1>
        <form method="get" action="/runs" class="panel run-filters">
            <div class="row">
                <label class="grow">"Agent"
                    <Transition fallback=|| view! { <Choices name="agent" any="Any agent" choices=Vec::new() current=String::new()/> }>
                        {move || Suspend::new(async move {
                            let choices = agents.await.unwrap_or_default().into_iter().map(|a| (a.id, a.name)).collect();
                            view! { <Choices name="agent" any="Any agent" choices current=value("agent")/> }
                        })}
                    </Transition>
                </label>
                <label>"Status"
                    <select name="status">
                        <option value="">"Any status"</option>
                        {RunStatus::ALL.iter().map(|s| option(s.as_str(), s.label(), "status")).collect_view()}
                    </select>
                </label>
                <label>"Mode"
                    <select name="mode">
                        <option value="">"Any mode"</option>
                        {RunMode::ALL.iter().map(|m| option(m.as_str(), m.as_str(), "mode")).collect_view()}
                    </select>
                </label>
                <label>"From"
                    <select name="trigger">
                        <option value="">"Anywhere"</option>
                        {RunTrigger::ALL.iter().map(|t| option(t.as_str(), t.as_str(), "trigger")).collect_view()}
                    </select>
                </label>
            </div>
            <div class="row">
                <label class="grow">"Text in input or output"<input type="search" name="q" maxlength="100" value=move || value("q")/></label>
                <label>"Provider"
                    <select name="provider">
                        <option value="">"Any provider"</option>
                        {galaxy_core::providers::ProviderKind::ALL.iter().map(|p| option(p.as_str(), p.label(), "provider")).collect_view()}
                    </select>
                </label>
                <label>"Model"<input type="text" name="model" value=move || value("model") placeholder="any"/></label>
                <label>"API token"
                    <Transition fallback=|| view! { <Choices name="token" any="Any or none" choices=Vec::new() current=String::new()/> }>
                        {move || Suspend::new(async move {
                            let choices = tokens.await.unwrap_or_default().into_iter().map(|t| (t.id, t.name)).collect();
                            view! { <Choices name="token" any="Any or none" choices current=value("token")/> }
                        })}
                    </Transition>
                </label>
                <label>"Since"<input type="date" name="from" value=move || value("from")/></label>
                <label>"Until"<input type="date" name="to" value=move || value("to")/></label>
            </div>
            <div class="row">
                <button type="submit" class="primary">"Filter"</button>
                <a href="/runs" rel="external">"Clear"</a>
                <span class="grow"></span>
                <a href=move || export("csv") rel="external" download data-export="csv">"Export CSV"</a>
                <a href=move || export("jsonl") rel="external" download data-export="jsonl">"Export JSON Lines"</a>
            </div>
        </form>
        <section class="panel">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                        Ok(page) => view! {
                            <form id="compare-runs" method="get" action="/runs/compare" class="row">
                                <button type="submit" class="small-button">"Compare the two ticked runs"</button>
                            </form>
                            <RunsTable runs=page.runs show_agent=true pick=true/>
                            {page.next.map(|next| view! { <p><a class="button" href=older(next) rel="external" data-page="older">"Older runs →"</a></p> })}
                        }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// A filter's select: "any", then `choices` (value, label), `current` selected.
#[component]
fn Choices(
    name: &'static str,
    any: &'static str,
    choices: Vec<(String, String)>,
    current: String,
) -> impl IntoView {
    view! {
        <select name=name>
            <option value="">{any}</option>
            {choices.into_iter().map(|(v, label)| {
                let selected = v == current;
                view! { <option value=v selected=selected>{label}</option> }
            }).collect_view()}
        </select>
    }
}
