//! Settings → Limits & budget (admins): the workspace's rate limits and monthly budget, this
//! month's spend and reservations, and what is used of the rate windows now. Every change is
//! audited and reaches every instance with its next run.

use galaxy_core::limits::{LimitsDraft, RateWindow, UnpricedPolicy, UsageView};
use galaxy_core::pricing::format_cost;
use leptos::prelude::*;

use crate::api::agents::list_agents;
use crate::api::limits::{DeleteOverride, SaveLimits, SaveOverride, get_usage};
use crate::api::tokens::list_api_tokens;
use crate::components::{ErrorNotice, FieldMessage};

#[component]
pub fn LimitsPage() -> impl IntoView {
    let save = ServerAction::<SaveLimits>::new();
    let save_override = ServerAction::<SaveOverride>::new();
    let delete_override = ServerAction::<DeleteOverride>::new();
    let usage = Resource::new(
        move || {
            (
                save.version().get(),
                save_override.version().get(),
                delete_override.version().get(),
            )
        },
        |_| get_usage(),
    );
    let errors = Signal::derive(move || {
        save.value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.field_errors())
            .unwrap_or_default()
    });
    let message = move || {
        save.value()
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
    };
    let saved = move || matches!(save.value().get(), Some(Ok(_)));
    view! {
        <h1>"Limits & budget"</h1>
        <p class="muted">
            "Bound how much this workspace can run and spend. Rate limits count every run (mock and live); "
            "the budget counts live runs, each reserving its most possible cost when it starts and settling to its "
            "actual cost when it ends, so concurrent runs can never pass a hard cap. Months are UTC calendar months."
        </p>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match usage.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(u) => {
                        let draft = LimitsDraft::of(&u.limits);
                        view! {
                            <div class="columns">
                                <section class="panel">
                                    <h2>"This month (" {u.month.clone()} ")"</h2>
                                    <MonthUsage usage=u.clone()/>
                                </section>
                                <section class="panel">
                                    <h2>"Limits"</h2>
                                    <ActionForm action=save attr:class="limits-form">
                                        {move || message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                                        {move || saved().then(|| view! { <p class="notice" role="status">"Saved. New runs follow these limits."</p> })}
                                        <fieldset>
                                            <legend>"Rate"</legend>
                                            <div class="row">
                                                <div class="grow">
                                                    <label>"Requests per minute"<input type="text" inputmode="numeric" name="requests_per_minute" value=draft.requests_per_minute.clone() placeholder="no limit"/></label>
                                                    <FieldMessage errors field="requests_per_minute"/>
                                                </div>
                                                <div class="grow">
                                                    <label>"Burst (extra requests at once)"<input type="text" inputmode="numeric" name="burst" value=draft.burst.clone() placeholder="0"/></label>
                                                    <FieldMessage errors field="burst"/>
                                                </div>
                                            </div>
                                            <label>"Tokens per minute"<input type="text" inputmode="numeric" name="tokens_per_minute" value=draft.tokens_per_minute.clone() placeholder="no limit"/></label>
                                            <FieldMessage errors field="tokens_per_minute"/>
                                            <p class="small muted">"A quiet workspace may send a minute's worth of requests at once plus the burst, then one every 60 ÷ limit seconds. A run's tokens count as its input plus max tokens when it starts, corrected to what it used when it ends."</p>
                                        </fieldset>
                                        <fieldset>
                                            <legend>"Monthly budget"</legend>
                                            <div class="row">
                                                <div class="grow">
                                                    <label>"Budget (US $)"<input type="text" inputmode="decimal" name="monthly_budget_usd" value=draft.monthly_budget_usd.clone() placeholder="no budget"/></label>
                                                    <FieldMessage errors field="monthly_budget_usd"/>
                                                </div>
                                                <div class="grow">
                                                    <label>"Alert admins at (%)"<input type="text" inputmode="numeric" name="soft_alert_percent" value=draft.soft_alert_percent.clone() placeholder="no alert"/></label>
                                                    <FieldMessage errors field="soft_alert_percent"/>
                                                </div>
                                            </div>
                                            <label class="inline">
                                                <input type="checkbox" name="hard_cap" value="on" checked=draft.hard_cap/>
                                                " Hard cap: refuse live runs that could pass the budget"
                                            </label>
                                            <label>"Models without a price, under a hard cap (the workspace's, an agent's or a token's)"
                                                <select name="unpriced">
                                                    <option value="refuse" selected=u.limits.unpriced == UnpricedPolicy::Refuse>"Refuse them (their cost cannot be counted)"</option>
                                                    <option value="allow" selected=u.limits.unpriced == UnpricedPolicy::Allow>"Allow them, counted as runs of unknown cost"</option>
                                                </select>
                                            </label>
                                            <FieldMessage errors field="unpriced"/>
                                        </fieldset>
                                        <button type="submit" class="primary">"Save limits"</button>
                                    </ActionForm>
                                </section>
                            </div>
                            <Overrides usage=u.clone() save=save_override delete=delete_override/>
                        }
                        .into_any()
                    }
                }
            })}
        </Transition>
    }
}

fn window_text(w: Option<RateWindow>, unit: &str) -> String {
    match w {
        None => "no limit".to_owned(),
        Some(w) => format!(
            "{} of {} {unit} available now (limit {}/min; full again in {} s)",
            w.remaining,
            w.capacity,
            w.per_minute,
            (w.full_in_ms + 999) / 1000
        ),
    }
}

/// The month's spend against the budget, and the rate windows now.
#[component]
pub fn MonthUsage(usage: UsageView) -> impl IntoView {
    let budget = usage.limits.monthly_budget_micros;
    view! {
        <dl class="usage">
            <dt>"Spent"</dt><dd data-usage="spent">{format_cost(Some(usage.spent_micros))}</dd>
            <dt>"Reserved by runs in flight"</dt><dd data-usage="reserved">{format_cost(Some(usage.reserved_micros))}</dd>
            <dt>"Budget"</dt>
            <dd data-usage="budget">{match budget {
                None => "none".to_owned(),
                Some(b) => format!("{}{}", format_cost(Some(b)), if usage.limits.hard_cap { " (hard cap)" } else { " (alerts only)" }),
            }}</dd>
            <dt>"Left"</dt><dd data-usage="left">{usage.remaining_micros().map_or_else(|| "—".to_owned(), |m| format_cost(Some(m)))}</dd>
            <dt>"Runs / tokens"</dt><dd>{format!("{} runs, {} tokens", usage.runs, usage.tokens)}</dd>
            {(usage.unpriced_runs > 0).then(|| view! {
                <dt>"Unpriced live runs"</dt><dd>{format!("{} (cost unknown)", usage.unpriced_runs)}</dd>
            })}
            <dt>"Requests"</dt><dd data-usage="requests">{window_text(usage.requests, "requests")}</dd>
            <dt>"Tokens"</dt><dd data-usage="tokens">{window_text(usage.tokens_window, "tokens")}</dd>
        </dl>
        <SpendBar usage=usage.clone()/>
        <p class="small muted">{format!("The month resets on {} (UTC).", &galaxy_core::timefmt::format_utc(usage.resets_at)[..10])}</p>
    }
}

/// Spend against the budget, as a bar (a native meter: no inline style, which the pages' CSP
/// refuses).
#[component]
pub fn SpendBar(usage: UsageView) -> impl IntoView {
    usage.limits.monthly_budget_micros.map(|budget| {
        let spent = usage.spent_micros.min(budget.max(0));
        let label = format!(
            "{} of {} spent this month{}",
            format_cost(Some(usage.spent_micros)),
            format_cost(Some(budget)),
            if usage.reserved_micros > 0 {
                format!(
                    ", {} held by runs in flight",
                    format_cost(Some(usage.reserved_micros))
                )
            } else {
                String::new()
            }
        );
        let high = budget.saturating_mul(usage.limits.soft_alert_percent.unwrap_or(80)) / 100;
        view! {
            <meter class="spend-bar" min="0" max=budget.max(1).to_string() low=high.to_string()
                high=high.to_string() optimum="0" value=spent.to_string() aria-label=label.clone()
                title=label.clone()>{label.clone()}</meter>
            <p class="small" data-usage="bar">{label}</p>
        }
    })
}

/// Per-agent and per-token limits: the list, and a form to set one.
#[component]
fn Overrides(
    usage: UsageView,
    save: ServerAction<SaveOverride>,
    delete: ServerAction<DeleteOverride>,
) -> impl IntoView {
    let targets = Resource::new(
        || (),
        |_| async { (list_agents().await, list_api_tokens().await) },
    );
    let errors = Signal::derive(move || {
        save.value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.field_errors())
            .unwrap_or_default()
    });
    let message = move || {
        save.value()
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
    };
    let n = |v: Option<i64>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
    view! {
        <section class="panel">
            <h2>"Per agent and per API token"</h2>
            <p class="small muted">
                "An agent's or a token's own limits apply on top of the workspace's: a run needs room in each that applies. "
                "Their budgets are hard caps (models without a price follow the workspace's setting)."
            </p>
            {move || delete.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorNotice error/> })}
            {if usage.overrides.is_empty() {
                view! { <p class="muted">"None yet."</p> }.into_any()
            } else {
                view! {
                    <table class="overrides">
                        <thead><tr><th>"Target"</th><th class="num">"Requests/min"</th><th class="num">"Tokens/min"</th><th class="num">"Budget"</th><th class="num">"Spent under its budget"</th><th></th></tr></thead>
                        <tbody>
                            {usage.overrides.iter().map(|o| {
                                let target = galaxy_core::limits::scope_of(o.kind, &o.target_id);
                                let row_id = target.clone();
                                let kind = match o.kind {
                                    galaxy_core::limits::OverrideKind::Agent => "Agent",
                                    galaxy_core::limits::OverrideKind::Token => "API token",
                                };
                                view! {
                                    <tr data-override=row_id>
                                        <td>{format!("{kind} · {}", o.target_name)}</td>
                                        <td class="num">{n(o.requests_per_minute)}</td>
                                        <td class="num">{n(o.tokens_per_minute)}</td>
                                        <td class="num">{o.monthly_budget_micros.map_or_else(|| "—".to_owned(), |b| format_cost(Some(b)))}</td>
                                        <td class="num">{format_cost(Some(o.spent_micros))}</td>
                                        <td>
                                            <ActionForm action=delete>
                                                <input type="hidden" name="target" value=target/>
                                                <button type="submit" class="small-button danger">"Remove"</button>
                                            </ActionForm>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <h3>"Set an agent's or a token's limits"</h3>
            <ActionForm action=save>
                {move || message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let (agents, tokens) = targets.await;
                        let agents = agents.unwrap_or_default();
                        let tokens = tokens.unwrap_or_default();
                        view! {
                            <label>"Agent or token"
                                <select name="target">
                                    {agents.into_iter().map(|a| view! {
                                        <option value=format!("agent:{}", a.id)>{format!("Agent · {}", a.name)}</option>
                                    }).collect_view()}
                                    {tokens.into_iter().filter(|t| t.revoked_at.is_none()).map(|t| view! {
                                        <option value=format!("token:{}", t.id)>{format!("API token · {}", t.name)}</option>
                                    }).collect_view()}
                                </select>
                            </label>
                        }
                    })}
                </Transition>
                <FieldMessage errors field="target"/>
                <div class="row">
                    <div class="grow">
                        <label>"Its requests per minute"<input type="text" inputmode="numeric" name="requests_per_minute" placeholder="no limit"/></label>
                        <FieldMessage errors field="requests_per_minute"/>
                    </div>
                    <div class="grow">
                        <label>"Its tokens per minute"<input type="text" inputmode="numeric" name="tokens_per_minute" placeholder="no limit"/></label>
                        <FieldMessage errors field="tokens_per_minute"/>
                    </div>
                    <div class="grow">
                        <label>"Its monthly budget (US $)"<input type="text" inputmode="decimal" name="monthly_budget_usd" placeholder="no budget"/></label>
                        <FieldMessage errors field="monthly_budget_usd"/>
                    </div>
                </div>
                <button type="submit">"Save override"</button>
            </ActionForm>
        </section>
    }
}
