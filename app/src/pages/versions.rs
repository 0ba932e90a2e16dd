//! An agent's history. `/agents/{id}/versions`: every version newest first with its time,
//! author and what it changed, which one is published (the one API calls run) and which is the
//! latest (the draft the builder edits), a form to diff any two; `/agents/{id}/versions/{n}`:
//! one version whole, to restore or publish (warning when its output schema would refuse the
//! agent's latest outputs); `/agents/{id}/versions/diff?a=&b=`: two versions side by side.
//! Server-rendered, forms included: it all works without JavaScript.

use galaxy_core::agents::{AgentVersion, AgentVersions, SchemaImpact};
use galaxy_core::timefmt::format_utc;
use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::agents::{
    PublishAgentVersion, RestoreAgentVersion, VersionView, diff_agent_versions, get_agent_version,
    list_agent_versions,
};
use crate::components::ErrorNotice;
use crate::diff_view::ConfigDiffView;

fn loading() -> impl IntoView {
    view! { <p class="muted">"Loading…"</p> }
}

#[component]
pub fn VersionsPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        (
            params.read().get("id").unwrap_or_default(),
            query.read().get("before").unwrap_or_default(),
        )
    };
    let versions = Resource::new(key, |(id, before)| list_agent_versions(id, before));
    view! {
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match versions.await {
                    Err(error) => view! { <h1>"Versions"</h1><ErrorNotice error/> }.into_any(),
                    Ok(v) => view! { <VersionList v/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn VersionList(v: AgentVersions) -> impl IntoView {
    let AgentVersions {
        agent_id,
        agent_name,
        current,
        published,
        versions,
        next_before,
    } = v;
    let base = format!("/agents/{agent_id}/versions");
    let publish = ServerAction::<PublishAgentVersion>::new();
    let options = move |selected: i64| {
        (1..=current)
            .rev()
            .map(|n| view! { <option value=n.to_string() selected=n == selected>{format!("Version {n}")}</option> })
            .collect_view()
    };
    view! {
        <div class="panel-head">
            <h1>{format!("{agent_name}: versions")}</h1>
            <a href=format!("/agents/{agent_id}")>"Back to the agent"</a>
        </div>
        <section class="panel">
            <p data-published=published.map_or_else(|| "latest".to_owned(), |p| p.to_string())>
                {match published {
                    Some(p) => format!("API calls run version {p} (published). The test panel runs the latest, version {current}."),
                    None => format!("Nothing is published: API calls run the latest version, {current}."),
                }}
            </p>
            {published.map(|_| view! {
                <ActionForm action=publish>
                    <input type="hidden" name="id" value=agent_id.clone()/>
                    <input type="hidden" name="version" value=""/>
                    <button type="submit" class="small-button">"Unpublish: let the API run the latest"</button>
                </ActionForm>
            })}
            <form method="get" action=format!("{base}/diff") class="row">
                <label>"Compare" <select name="a">{options((current - 1).max(1))}</select></label>
                <label>"with" <select name="b">{options(current)}</select></label>
                <button type="submit">"Show the difference"</button>
            </form>
            <div class="table-scroll">
            <table class="versions">
                <thead><tr><th class="num">"Version"</th><th>"Saved"</th><th>"By"</th><th>"What changed"</th><th></th></tr></thead>
                <tbody>
                    {versions.into_iter().map(|s| {
                        let href = format!("{base}/{}", s.version);
                        let marks = [
                            (s.version == current).then_some("latest"),
                            (Some(s.version) == published).then_some("published"),
                        ];
                        view! {
                            <tr data-version=s.version.to_string()>
                                <td class="num"><a href=href.clone()>{s.version}</a></td>
                                <td>{format_utc(s.created_at)}</td>
                                <td>{s.author}</td>
                                <td data-summary="">{s.summary}</td>
                                <td>{marks.into_iter().flatten().map(|m| view! { <span class="badge" data-mark=m>{m}</span>" " }).collect_view()}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            </div>
            {next_before.map(|b| view! { <p><a href=format!("{base}?before={b}") rel="next">"Older versions"</a></p> })}
        </section>
    }
}

#[component]
pub fn VersionPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        (
            p.get("id").unwrap_or_default(),
            p.get("version").unwrap_or_default(),
        )
    };
    let version = Resource::new(key, |(id, n)| get_agent_version(id, n));
    view! {
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match version.await {
                    Err(error) => view! { <h1>"Version"</h1><ErrorNotice error/> }.into_any(),
                    Ok(v) => view! { <VersionDetail v/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ImpactNotice(impact: SchemaImpact) -> impl IntoView {
    let SchemaImpact {
        checked,
        failing,
        examples,
    } = impact;
    if failing == 0 {
        return view! {
            <p class="muted" data-impact="0">{format!("Its output schema accepts all {checked} of the agent's latest outputs checked.")}</p>
        }
        .into_any();
    }
    view! {
        <div class="notice" role="status" data-impact=failing.to_string()>
            <p>{format!("Its output schema differs from the one the API runs now: {failing} of the agent's last {checked} outputs would not validate against it.")}</p>
            <ul>{examples.into_iter().map(|id| view! { <li><a href=format!("/runs/{id}")>{format!("Run {id}")}</a></li> }).collect_view()}</ul>
        </div>
    }
    .into_any()
}

fn schema_text(s: &Option<serde_json::Value>) -> String {
    s.as_ref()
        .and_then(|v| serde_json::to_string_pretty(v).ok())
        .unwrap_or_else(|| "(none)".to_owned())
}

#[component]
fn VersionDetail(v: VersionView) -> impl IntoView {
    let VersionView {
        version,
        can_build,
        impact,
    } = v;
    let AgentVersion {
        agent_id,
        version: n,
        config,
        created_at,
        author,
        restored_from,
        current,
        published,
    } = version;
    let restore = ServerAction::<RestoreAgentVersion>::new();
    let publish = ServerAction::<PublishAgentVersion>::new();
    let id = agent_id.clone();
    let actions = can_build.then(|| {
        let id2 = id.clone();
        view! {
            <div class="row">
                {(n != current).then(|| view! {
                    <ActionForm action=restore>
                        <input type="hidden" name="id" value=id.clone()/>
                        <input type="hidden" name="version" value=n.to_string()/>
                        <button type="submit">{format!("Restore version {n}")}</button>
                    </ActionForm>
                })}
                {(published != Some(n)).then(|| view! {
                    <ActionForm action=publish>
                        <input type="hidden" name="id" value=id2.clone()/>
                        <input type="hidden" name="version" value=n.to_string()/>
                        <button type="submit">{format!("Publish version {n}")}</button>
                    </ActionForm>
                })}
            </div>
            <ErrorOf restore publish/>
        }
    });
    let rows = [
        ("Name", config.name.clone()),
        ("Slug", config.slug.clone()),
        ("Description", config.description.clone()),
        ("Provider", config.provider.as_str().to_owned()),
        ("Model", config.model.clone()),
        ("Temperature", config.temperature.to_string()),
        ("Max tokens", config.max_tokens.to_string()),
        (
            "Repair output",
            if config.repair_output { "on" } else { "off" }.to_owned(),
        ),
    ];
    view! {
        <div class="panel-head">
            <h1>{format!("{}: version {n}", config.name)}</h1>
            <a href=format!("/agents/{agent_id}/versions")>"All versions"</a>
        </div>
        <section class="panel">
            <p class="muted">
                {format!("Saved {} by {author}", format_utc(created_at))}
                {restored_from.map(|f| format!(" · restored from version {f}"))}
                {(n == current).then_some(" · the latest")}
                {(published == Some(n)).then_some(" · published")}
            </p>
            {impact.map(|impact| view! { <ImpactNotice impact/> })}
            {actions}
            <dl class="usage">
                {rows.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> }).collect_view()}
            </dl>
            <h2>"System prompt"</h2>
            <pre class="run-output" aria-label="System prompt">{config.system_prompt.clone()}</pre>
            <h2>"Prompt template"</h2>
            <pre class="run-output" aria-label="Prompt template">{if config.prompt_template.is_empty() { "(none: the input is sent)".to_owned() } else { config.prompt_template.clone() }}</pre>
            <h2>"Input schema"</h2>
            <pre class="run-output">{schema_text(&config.input_schema)}</pre>
            <h2>"Output schema"</h2>
            <pre class="run-output">{schema_text(&config.output_schema)}</pre>
        </section>
    }
}

/// What a restore or publish answered with, when it failed.
#[component]
fn ErrorOf(
    restore: ServerAction<RestoreAgentVersion>,
    publish: ServerAction<PublishAgentVersion>,
) -> impl IntoView {
    move || {
        let failed = restore
            .value()
            .get()
            .and_then(Result::err)
            .or_else(|| publish.value().get().and_then(Result::err));
        failed.map(|error| view! { <ErrorNotice error/> })
    }
}

#[component]
pub fn VersionDiffPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let key = move || {
        let q = query.read();
        (
            params.read().get("id").unwrap_or_default(),
            q.get("a").unwrap_or_default(),
            q.get("b").unwrap_or_default(),
        )
    };
    let diff = Resource::new(key, |(id, a, b)| diff_agent_versions(id, a, b));
    view! {
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                match diff.await {
                    Err(error) => view! { <h1>"Versions"</h1><ErrorNotice error/> }.into_any(),
                    Ok(d) => view! {
                        <div class="panel-head">
                            <h1>{format!("{}: version {} → version {}", d.agent_name, d.a, d.b)}</h1>
                            <a href=format!("/agents/{}/versions", d.agent_id)>"All versions"</a>
                        </div>
                        <section class="panel">
                            <ConfigDiffView diff=d.diff/>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
