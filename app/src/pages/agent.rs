//! The agent builder (create and edit) and, for a saved agent, its test panel, latest runs and
//! how to call it from code.
//!
//! The pages themselves are small: the builder, the test panel and "Call this agent" are
//! deferred parts ([`crate::deferred`]) in the `workbench` module — drawn by the server, their
//! code fetched when they are first used.

use std::time::Duration;

use galaxy_core::agents::{Agent, AgentDraft};
use galaxy_core::providers::ProviderKind;
use galaxy_core::timefmt::format_utc;
use galaxy_core::validation::FieldError;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use leptos_router::hooks::use_params_map;

use crate::api::agents::{
    DeleteAgent, SaveAgent, agent_page, output_schema_check, template_report,
};
use crate::api::keys::live_providers;
use crate::api::runs::{RunAgent, list_agent_runs};
use crate::call_agent::CallThisAgent;
use crate::components::{ErrorNotice, FieldMessage, RunsTable};
use crate::deferred::{deferred, seeded};
use crate::input_form::{RunInput, RunInputView};
use crate::live_run::{LiveRun, LiveRunView, RunButtons};
use crate::schema_editor::{SchemaEditor, SchemaState};

#[component]
pub fn NewAgentPage() -> impl IntoView {
    // Visitors are sent to log in: the form is useless without a session.
    let auth = expect_context::<crate::Auth>();
    view! {
        <h1>"New agent"</h1>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Ok(Some(_)) => deferred("agent-form", || Box::pin(new_agent_form())),
                    Ok(None) => view! { <ErrorNotice error=crate::error::AppError::Unauthenticated/> }.into_any(),
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AgentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let agent = Resource::new(id, agent_page);
    let auth = expect_context::<crate::Auth>();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                // Viewers read; members and above build and run (the server checks it anyway).
                let can_build = auth.user.await.ok().flatten().is_some_and(|u| u.role.can_build());
                match agent.await {
                    Err(error) => view! {
                        <h1>"Agent"</h1>
                        <ErrorNotice error/>
                        <p><a href="/agents">"All agents"</a></p>
                    }.into_any(),
                    Ok(page) => deferred("agent", move || Box::pin(agent_detail(page.agent, can_build))),
                }
            })}
        </Suspense>
    }
}

/// The new-agent form, in the `workbench` module.
#[wasm_split(workbench, wasm_split_path = ::leptos::wasm_split, fallible)]
fn new_agent_form() -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <AgentForm id=None draft=AgentDraft::new_defaults()/> }.into_any())
}

/// A saved agent's builder, test panel and "Call this agent", in the `workbench` module;
/// `agent` as `agent_page` sends it.
#[wasm_split(workbench, wasm_split_path = ::leptos::wasm_split, fallible)]
fn agent_detail(agent: String, can_build: bool) -> Result<AnyView, SplitLoaderError> {
    Ok(match serde_json::from_str::<Agent>(&agent) {
        Ok(agent) => view! { <AgentDetail agent can_build/> }.into_any(),
        Err(_) => view! {
            <h1>"Agent"</h1>
            <ErrorNotice error=crate::error::AppError::Request/>
        }
        .into_any(),
    })
}

#[component]
fn AgentDetail(agent: Agent, can_build: bool) -> impl IntoView {
    let draft = AgentDraft::from_config(&agent.config);
    let delete = ServerAction::<DeleteAgent>::new();
    let id = agent.id.clone();
    view! {
        <div class="panel-head">
            <h1>{agent.config.name.clone()}</h1>
            <span class="muted">
                {format!("version {} · updated {}", agent.version, format_utc(agent.updated_at))}
                {agent.published_version.map(|p| format!(" · API runs version {p}"))}
                " · "
                <a href=format!("/agents/{}/versions", agent.id) data-action="versions">"Versions"</a>
            </span>
        </div>
        <div class="columns">
            <section class="panel">
                <h2>"Configuration"</h2>
                <fieldset class="plain" disabled=!can_build>
                    <AgentForm id=Some(id.clone()) draft/>
                </fieldset>
                {can_build.then(|| view! {
                    <details class="danger">
                        <summary>"Delete this agent…"</summary>
                        <p>"Its runs stay on record. This cannot be undone."</p>
                        <ActionForm action=delete>
                            <input type="hidden" name="id" value=id/>
                            <button type="submit" class="danger">"Delete permanently"</button>
                        </ActionForm>
                        {move || delete.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorNotice error/> })}
                    </details>
                })}
            </section>
            {if can_build {
                view! { <TestPanel agent=agent.clone()/> }.into_any()
            } else {
                view! {
                    <section class="panel" data-viewer="true">
                        <h2>"Test"</h2>
                        <p class="muted">"You are a viewer in this workspace: you read agents, runs and the dashboard. Members and above build and run agents — ask an admin for that role."</p>
                    </section>
                }.into_any()
            }}
        </div>
        <CallThisAgent agent/>
    }
}

/// The builder form. Checks every field in the browser with the same rules the server applies,
/// then saves through `save_agent` (which adds the name-uniqueness and schema-compilation checks).
#[component]
fn AgentForm(id: Option<String>, draft: AgentDraft) -> impl IntoView {
    let save = ServerAction::<SaveAgent>::new();
    let name = RwSignal::new(draft.name);
    let slug = RwSignal::new(draft.slug);
    let description = RwSignal::new(draft.description);
    let provider = RwSignal::new(draft.provider);
    let model = RwSignal::new(draft.model);
    let system_prompt = RwSignal::new(draft.system_prompt);
    let temperature = RwSignal::new(draft.temperature);
    let max_tokens = RwSignal::new(draft.max_tokens);
    let input_schema = SchemaState::new("input_schema", draft.input_schema);
    let output_schema = SchemaState::new("output_schema", draft.output_schema);
    let prompt_template = RwSignal::new(draft.prompt_template);
    let repair_output = RwSignal::new(draft.repair_output);
    let client_errors = RwSignal::new(Vec::<FieldError>::new());
    let saved = RwSignal::new(None::<i64>);

    // Server answers replace what the browser found (the server is authoritative).
    Effect::new(move |_| match save.value().get() {
        Some(Err(e)) => {
            saved.set(None);
            client_errors.set(e.field_errors());
        }
        Some(Ok(agent)) => {
            client_errors.set(Vec::new());
            saved.set(Some(agent.version));
        }
        None => {}
    });
    let server_message = move || {
        save.value()
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
    };
    let errors = Signal::derive(move || client_errors.get());
    let is_new = id.is_none();
    let id_for_submit = id.clone();

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let draft = AgentDraft {
            name: name.get_untracked(),
            slug: slug.get_untracked(),
            description: description.get_untracked(),
            provider: provider.get_untracked(),
            model: model.get_untracked(),
            system_prompt: system_prompt.get_untracked(),
            temperature: temperature.get_untracked(),
            max_tokens: max_tokens.get_untracked(),
            input_schema: input_schema.text.get_untracked(),
            output_schema: output_schema.text.get_untracked(),
            prompt_template: prompt_template.get_untracked(),
            repair_output: repair_output.get_untracked(),
        };
        // The editors' own findings (unparsed numbers, duplicate names…) come first.
        let mut errs: Vec<FieldError> = [input_schema, output_schema]
            .into_iter()
            .filter_map(|s| s.blocking().map(|m| FieldError::new(s.field, m)))
            .collect();
        if let Err(more) = draft.validate() {
            let more: Vec<FieldError> = more
                .into_iter()
                .filter(|e| !errs.iter().any(|x| x.field == e.field))
                .collect();
            errs.extend(more);
        }
        if !errs.is_empty() {
            saved.set(None);
            client_errors.set(errs);
        } else {
            client_errors.set(Vec::new());
            save.dispatch(SaveAgent {
                id: id_for_submit.clone(),
                draft,
            });
        }
    };

    let text = |label: &'static str,
                field: &'static str,
                sig: RwSignal<String>,
                hint: &'static str| {
        let err_id = format!("{field}-error");
        view! {
            <label>{label}
                <input type="text" name=format!("draft[{field}]") value=sig.get_untracked() prop:value=move || sig.get()
                    on:input=move |ev| sig.set(event_target_value(&ev))
                    aria-invalid=move || errors.with(|e| e.iter().any(|x| x.field == field)).to_string()
                    aria-describedby=err_id placeholder=hint/>
            </label>
            <FieldMessage errors field/>
        }
    };
    let area = |label: &'static str,
                field: &'static str,
                sig: RwSignal<String>,
                rows: &'static str,
                hint: &'static str| {
        let err_id = format!("{field}-error");
        view! {
            <label>{label}
                <textarea name=format!("draft[{field}]") rows=rows prop:value=move || sig.get()
                    on:input=move |ev| sig.set(event_target_value(&ev))
                    aria-invalid=move || errors.with(|e| e.iter().any(|x| x.field == field)).to_string()
                    aria-describedby=err_id placeholder=hint spellcheck="false">{sig.get_untracked()}</textarea>
            </label>
            <FieldMessage errors field/>
        }
    };

    view! {
        <form class="agent-form" method="post" action=SaveAgent::url() on:submit=on_submit novalidate>
            <input type="hidden" name="id" value=id.clone().unwrap_or_default()/>
            {move || server_message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            {text("Name", "name", name, "Support triage")}
            {text("Slug (used by the API)", "slug", slug, "derived from the name")}
            {text("Description", "description", description, "What this agent does")}
            <div class="row">
                <label>"Provider"
                    <select name="draft[provider]" prop:value=move || provider.get()
                        on:change=move |ev| provider.set(event_target_value(&ev))>
                        {ProviderKind::ALL.iter().copied().map(|p| view! {
                            <option value=p.as_str() selected=provider.get_untracked() == p.as_str()>{p.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <div class="grow">{text("Model", "model", model, "gpt-4o-mini")}</div>
            </div>
            <FieldMessage errors field="provider"/>
            {area("System prompt", "system_prompt", system_prompt, "4", "You are a helpful assistant.")}
            <div class="row">
                <div class="grow">{text("Temperature (0–2)", "temperature", temperature, "0.7")}</div>
                <div class="grow">{text("Max tokens", "max_tokens", max_tokens, "1024")}</div>
            </div>
            <SchemaEditor state=input_schema label="Input schema" hint="What a run takes. Runs with input that does not match are refused before any provider call."/>
            <FieldMessage errors field="input_schema"/>
            {area("Prompt template (optional)", "prompt_template", prompt_template, "3", "Answer this question: {{ question }}")}
            <TemplateFields template=prompt_template input_schema=input_schema.text/>
            <SchemaEditor state=output_schema label="Output schema" hint="What the model must answer. Sent to the provider as structured output and checked on every run."/>
            <FieldMessage errors field="output_schema"/>
            {id.clone().map(|id| view! { <OutputImpact id output_schema=output_schema.text/> })}
            <label class="inline">
                <input type="checkbox" name="draft[repair_output]" value="true" checked=repair_output.get_untracked()
                    prop:checked=move || repair_output.get()
                    on:change=move |ev| repair_output.set(event_target_checked(&ev))/>
                " Repair invalid output once (the reply goes back with what was wrong; one more billed attempt)"
            </label>
            <div class="row">
                <button type="submit" class="primary" disabled=move || save.pending().get()>
                    {if is_new { "Create agent" } else { "Save changes" }}
                </button>
                {move || saved.get().map(|v| view! { <span class="ok" role="status">{format!("Saved as version {v}.")}</span> })}
            </div>
        </form>
    }
}

/// Which input fields the prompt template uses, and warnings for names the input schema does
/// not define; checked by the server (minijinja) a moment after typing stops.
#[component]
fn TemplateFields(template: RwSignal<String>, input_schema: RwSignal<String>) -> impl IntoView {
    let settled = RwSignal::new((template.get_untracked(), input_schema.get_untracked()));
    Effect::new(move |_| {
        let now = (template.get(), input_schema.get());
        set_timeout(
            // The page may be gone by then (a saved agent navigates away): its signals are
            // disposed, and reading one would panic and stop the app.
            move || {
                let current = (
                    template.try_get_untracked(),
                    input_schema.try_get_untracked(),
                );
                if let (Some(t), Some(i)) = current
                    && (t, i) == now
                {
                    settled.try_set(now);
                }
            },
            Duration::from_millis(300),
        );
    });
    let report = seeded(move || settled.get(), |(t, s)| template_report(t, s));
    view! {
        <div class="template-fields small" aria-live="polite">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match report.await {
                        Err(_) => ().into_any(),
                        Ok(r) if r.error.is_some() => view! { <p class="field-error" role="alert">{r.error}</p> }.into_any(),
                        Ok(r) if r.used.is_empty() => view! {
                            <p class="muted">"Without input fields in a template, the input JSON is the user message. Write {{ field }} to place a field."</p>
                        }.into_any(),
                        Ok(r) => view! {
                            <p class="muted" data-template-uses=r.used.join(",")>{format!("Uses: {}", r.used.join(", "))}</p>
                            {(!r.unknown.is_empty()).then(|| view! {
                                <p class="warn" role="alert">{format!("Not in the input schema: {} (renders empty).", r.unknown.join(", "))}</p>
                            })}
                        }.into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

/// Whether the agent's latest outputs would validate against the output schema being edited,
/// when it differs from the one the API runs; checked by the server a moment after typing stops.
#[component]
fn OutputImpact(id: String, output_schema: RwSignal<String>) -> impl IntoView {
    let settled = RwSignal::new(output_schema.get_untracked());
    Effect::new(move |_| {
        let now = output_schema.get();
        set_timeout(
            move || {
                if output_schema.try_get_untracked().as_ref() == Some(&now) {
                    settled.try_set(now);
                }
            },
            Duration::from_millis(500),
        );
    });
    let check = seeded(
        move || (id.clone(), settled.get()),
        |(id, schema)| output_schema_check(id, schema),
    );
    view! {
        <div class="output-impact small" aria-live="polite">
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match check.await {
                        Ok(Some(c)) if c.impact.failing > 0 => {
                            let when = match c.published {
                                Some(v) => format!("Saving makes a draft; the API keeps running version {v} until you publish this one."),
                                None => "The API runs the latest version: saving changes what it answers at once.".to_owned(),
                            };
                            view! {
                                <div class="notice" role="alert" data-impact=c.impact.failing.to_string()>
                                    <p>{format!("{} of this agent's last {} outputs would not validate against this output schema. {when}", c.impact.failing, c.impact.checked)}</p>
                                    <ul>{c.impact.examples.into_iter().map(|run| view! { <li><a href=format!("/runs/{run}")>{format!("Run {run}")}</a></li> }).collect_view()}</ul>
                                </div>
                            }.into_any()
                        }
                        Ok(Some(c)) if c.impact.checked > 0 => view! {
                            <p class="muted" data-impact="0">{format!("The agent's last {} outputs all validate against this output schema.", c.impact.checked)}</p>
                        }.into_any(),
                        _ => ().into_any(),
                    }
                })}
            </Transition>
        </div>
    }
}

/// Runs the agent — mock, or live against its provider with the workspace's key — streaming the
/// output as it arrives, with a Stop button; then the recorded run and its metrics.
#[component]
fn TestPanel(agent: Agent) -> impl IntoView {
    let input = RunInput::new(agent.config.input_schema.as_ref());
    let mode = RwSignal::new("mock".to_owned());
    let live = LiveRun::new();
    let agent_id = agent.id.clone();
    let runs_id = agent.id.clone();
    let runs = seeded(
        move || live.version.get(),
        move |_| list_agent_runs(runs_id.clone()),
    );
    let providers = seeded(|| (), |_| live_providers());
    let provider = agent.config.provider;
    // The estimate follows the input once typing pauses (not a request per keystroke).
    let typed = Memo::new(move |_| input.current_text());
    let paused = RwSignal::new(typed.get_untracked());
    Effect::new(move |_| {
        let text = typed.get();
        set_timeout(
            move || {
                if typed.get_untracked() == text {
                    paused.set(text);
                }
            },
            std::time::Duration::from_millis(400),
        );
    });
    let estimate_id = agent.id.clone();
    let estimate = seeded(
        move || (paused.get(), live.version.get()),
        move |(text, _)| crate::api::limits::estimate_run(estimate_id.clone(), text),
    );
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        // Input the browser finds invalid is not sent: the errors show inline.
        if let Some(text) = input.submit() {
            live.start(agent_id.clone(), text, mode.get_untracked(), "test_panel");
        }
    };

    view! {
        <section class="panel test-panel">
            <h2>"Test panel"</h2>
            <form method="post" action=RunAgent::url() on:submit=on_submit>
                <input type="hidden" name="agent_id" value=agent.id.clone()/>
                <fieldset class="mode">
                    <legend>"Mode"</legend>
                    <label class="inline">
                        <input type="radio" name="mode" value="mock" checked
                            on:change=move |_| mode.set("mock".to_owned())/>" Mock"
                    </label>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let ready = providers.await.map(|p| p.contains(&provider)).unwrap_or(false);
                            view! {
                                <label class="inline" class:muted=!ready>
                                    <input type="radio" name="mode" value="live" disabled=!ready
                                        on:change=move |_| mode.set("live".to_owned())/>
                                    {format!(" Live ({})", provider.label())}
                                </label>
                                {(!ready).then(|| view! {
                                    <span class="small muted">
                                        {format!("Live runs need a {} key: ", provider.label())}
                                        <a href="/settings/keys">"add one"</a>
                                    </span>
                                })}
                            }
                        })}
                    </Transition>
                </fieldset>
                <RunInputView input/>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        estimate.await.ok().map(|e| view! { <EstimateLine estimate=e/> })
                    })}
                </Transition>
                <RunButtons live/>
            </form>
            <LiveRunView live/>
            <h3>"Latest runs"</h3>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match runs.await {
                        Ok(list) => view! { <RunsTable runs=list/> }.into_any(),
                        Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// What a live run would cost, shown before Run: a range from the input alone to input plus
/// max tokens, and what is left of the budget.
#[component]
fn EstimateLine(estimate: galaxy_core::limits::RunEstimate) -> impl IntoView {
    use galaxy_core::pricing::format_cost;
    let tokens = format!(
        "{} input tokens{}, up to {} output tokens",
        estimate.input_tokens,
        if estimate.exact_tokens {
            ""
        } else {
            " (estimated)"
        },
        estimate.max_tokens
    );
    let cost = match (estimate.low_micros, estimate.high_micros) {
        (Some(low), Some(high)) => format!(
            "Estimated cost of a live run: {} – {}",
            format_cost(Some(low)),
            format_cost(Some(high))
        ),
        _ => "This model has no price: a live run's cost cannot be estimated".to_owned(),
    };
    let reserved = match (estimate.reserve_micros, estimate.high_micros) {
        (Some(r), Some(h)) if r > h => Some(format!(
            "; a live run holds up to {} of the budget while it runs (retries and a repair attempt \
             included)",
            format_cost(Some(r))
        )),
        _ => None,
    };
    let left = estimate
        .remaining_micros
        .map(|m| format!(" · Budget left this month: {}", format_cost(Some(m))));
    view! {
        <p class="small muted estimate" data-estimate="cost">
            {cost} " (" {tokens} {reserved} ")" {left}
        </p>
    }
}
