//! Settings → Prices: the workspace's price overrides next to the shipped price table. Costs are
//! computed from these at run time; a model with no price is "unpriced", never $0.

use galaxy_core::pricing::{ModelPrice, PRICE_TABLE_VERSION, format_usd_per_mtok, shipped_prices};
use galaxy_core::providers::ProviderKind;
use leptos::prelude::*;

use crate::api::prices::{DeletePrice, SetPrice, list_prices};
use crate::components::{ErrorNotice, FieldMessage};

fn provider_label(p: &str) -> &'static str {
    ProviderKind::parse(p).map_or("?", ProviderKind::label)
}

#[component]
pub fn PricesPage() -> impl IntoView {
    let set = ServerAction::<SetPrice>::new();
    let delete = ServerAction::<DeletePrice>::new();
    let prices = Resource::new(
        move || (set.version().get(), delete.version().get()),
        |_| list_prices(),
    );
    let errors = Signal::derive(move || {
        set.value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.field_errors())
            .unwrap_or_default()
    });
    let message = move || {
        set.value()
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
    };
    view! {
        <h1>"Prices"</h1>
        <p class="muted">
            "Run costs use your workspace's prices first, then Galaxy's table (version " {PRICE_TABLE_VERSION}
            "). A model with no price is shown as unpriced, never as $0. A model ending in * covers every model with that prefix."
        </p>
        <div class="columns">
            <section class="panel">
                <h2>"Set a price"</h2>
                <ActionForm action=set>
                    {move || message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                    <label>"Provider"
                        <select name="provider">
                            {ProviderKind::ALL.iter().copied().map(|p| view! { <option value=p.as_str()>{p.label()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>"Model"<input type="text" name="model" placeholder="gpt-4o-mini or llama-3*"/></label>
                    <FieldMessage errors field="model"/>
                    <div class="row">
                        <div class="grow">
                            <label>"Input $ per million tokens"<input type="text" name="input_price" placeholder="0.15"/></label>
                            <FieldMessage errors field="input_price"/>
                        </div>
                        <div class="grow">
                            <label>"Output $ per million tokens"<input type="text" name="output_price" placeholder="0.60"/></label>
                            <FieldMessage errors field="output_price"/>
                        </div>
                    </div>
                    <button type="submit" class="primary">"Save price"</button>
                </ActionForm>
                <h2>"Your prices"</h2>
                {move || delete.value().get().and_then(|r| r.err()).map(|error| view! { <ErrorNotice error/> })}
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match prices.await {
                            Err(error) => view! { <ErrorNotice error/> }.into_any(),
                            Ok(list) if list.is_empty() => view! { <p class="muted">"None yet."</p> }.into_any(),
                            Ok(list) => view! { <PriceTable list delete=Some(delete)/> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
            <section class="panel">
                <h2>"Galaxy's table"</h2>
                <PriceTable list=shipped_prices() delete=None/>
            </section>
        </div>
    }
}

#[component]
fn PriceTable(list: Vec<ModelPrice>, delete: Option<ServerAction<DeletePrice>>) -> impl IntoView {
    view! {
        <table class="prices">
            <thead><tr><th>"Provider"</th><th>"Model"</th><th class="num">"Input $/M"</th><th class="num">"Output $/M"</th><th>"Since"</th><th></th></tr></thead>
            <tbody>
                {list.into_iter().map(|p| {
                    let (provider, model) = (p.provider.clone(), p.model.clone());
                    view! {
                        <tr>
                            <td>{provider_label(&p.provider)}</td>
                            <td><code>{p.model.clone()}</code></td>
                            <td class="num">{format_usd_per_mtok(p.input_micros_per_mtok)}</td>
                            <td class="num">{format_usd_per_mtok(p.output_micros_per_mtok)}</td>
                            <td>{p.effective.clone()}</td>
                            <td>{delete.map(|action| view! {
                                <ActionForm action>
                                    <input type="hidden" name="provider" value=provider/>
                                    <input type="hidden" name="model" value=model/>
                                    <button type="submit" class="small-button danger">"Remove"</button>
                                </ActionForm>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
