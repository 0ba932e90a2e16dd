//! The run input form generated from an agent's input schema, used wherever an agent is run
//! from the UI (test panel, dashboard quick run).
//!
//! One control per field (text, number, checkbox, choice; fieldsets for objects; add/remove for
//! lists), required markers, and inline errors as the user types from [`Node::errors`] — the
//! same verdict the server will give. A raw-JSON mode edits the same value as text. Input the
//! browser finds invalid is not sent. A schema the form cannot represent falls back to raw JSON
//! (the server checks it).

use std::collections::HashSet;

use galaxy_core::contract::{Kind, Node, Seg, get_path, import, pointer, set_path, typed_number};
use galaxy_core::providers::mock_value;
use galaxy_core::validation::FieldError;
use leptos::prelude::*;
use serde_json::Value;

/// The input of one run being prepared.
#[derive(Clone, Copy)]
pub struct RunInput {
    /// The form's model; `None` when there is no schema or the form cannot show it.
    model: StoredValue<Option<Node>>,
    unsupported: StoredValue<Vec<String>>,
    has_schema: bool,
    value: RwSignal<Value>,
    raw: RwSignal<String>,
    raw_mode: RwSignal<bool>,
    raw_error: RwSignal<Option<String>>,
    touched: RwSignal<HashSet<String>>,
    attempted: RwSignal<bool>,
    shape: RwSignal<u32>,
}

impl RunInput {
    pub fn new(schema: Option<&Value>) -> RunInput {
        let (model, unsupported, raw) = match schema {
            None => (None, Vec::new(), "Hello! What can you do?".to_owned()),
            Some(s) => {
                let imported = import(s);
                if imported.unsupported.is_empty() {
                    let initial = imported.node.initial_value();
                    let raw = serde_json::to_string_pretty(&initial).unwrap_or_default();
                    (Some(imported.node), Vec::new(), raw)
                } else {
                    let example = mock_value(s, s, 7, 0);
                    let raw = serde_json::to_string_pretty(&example).unwrap_or_default();
                    (None, imported.unsupported, raw)
                }
            }
        };
        let value = model
            .as_ref()
            .map(Node::initial_value)
            .unwrap_or(Value::Null);
        RunInput {
            raw_mode: RwSignal::new(model.is_none()),
            model: StoredValue::new(model),
            unsupported: StoredValue::new(unsupported),
            has_schema: schema.is_some(),
            value: RwSignal::new(value),
            raw: RwSignal::new(raw),
            raw_error: RwSignal::new(None),
            touched: RwSignal::new(HashSet::new()),
            attempted: RwSignal::new(false),
            shape: RwSignal::new(0),
        }
    }

    /// The input as it would be sent now (tracked: a view or resource using it follows edits).
    pub fn current_text(&self) -> String {
        if !self.has_schema || self.raw_mode.get() || self.model.get_value().is_none() {
            self.raw.get()
        } else {
            self.value
                .with(|v| serde_json::to_string_pretty(v).unwrap_or_default())
        }
    }

    /// The input to send, or `None` when the browser found it invalid (the errors are then
    /// shown inline and nothing is sent).
    pub fn submit(self) -> Option<String> {
        self.attempted.set(true);
        let Some(model) = self.model.get_value() else {
            return Some(self.raw.get_untracked());
        };
        if self.raw_mode.get_untracked() {
            let text = self.raw.get_untracked();
            match serde_json::from_str::<Value>(&text) {
                Err(e) => {
                    self.raw_error
                        .set(Some(format!("The input is not JSON: {e}.")));
                    None
                }
                Ok(v) => {
                    let errs = model.errors(&v);
                    if errs.is_empty() {
                        self.raw_error.set(None);
                        Some(text)
                    } else {
                        self.raw_error.set(Some(
                            errs.iter()
                                .map(|e| format!("{}: {}", e.field, e.message))
                                .collect::<Vec<_>>()
                                .join("\n"),
                        ));
                        None
                    }
                }
            }
        } else {
            let v = self.value.get_untracked();
            model
                .errors(&v)
                .is_empty()
                .then(|| serde_json::to_string_pretty(&v).unwrap_or_default())
        }
    }

    fn to_raw(self) {
        self.raw
            .set(serde_json::to_string_pretty(&self.value.get_untracked()).unwrap_or_default());
        self.raw_error.set(None);
        self.raw_mode.set(true);
    }

    fn to_form(self) {
        match serde_json::from_str::<Value>(&self.raw.get_untracked()) {
            Ok(v) => {
                self.value.set(v);
                self.raw_error.set(None);
                self.raw_mode.set(false);
                self.shape.update(|s| *s += 1);
            }
            Err(e) => self.raw_error.set(Some(format!(
                "Fix the JSON before going back to the form: {e}."
            ))),
        }
    }

    fn set(self, path: &[Seg], v: Option<Value>) {
        self.touched.update(|t| {
            t.insert(pointer(path));
        });
        self.value.update(|root| set_path(root, path, v));
    }
}

/// The form (or raw JSON) for a [`RunInput`]. `name` is the form field holding the JSON for
/// submissions without JavaScript.
#[component]
pub fn RunInputView(input: RunInput) -> impl IntoView {
    let errors = Memo::new(move |_| {
        let v = input.value.get();
        input
            .model
            .with_value(|m| m.as_ref().map(|m| m.errors(&v)))
            .unwrap_or_default()
    });
    let has_form = input.model.with_value(Option::is_some);
    let unsupported = input.unsupported.get_value();
    view! {
        {(!unsupported.is_empty()).then(|| view! {
            <div class="notice" role="note">
                <p>"The input schema uses parts a form cannot show, so enter JSON; the server checks it."</p>
                <ul>{unsupported.into_iter().map(|x| view! { <li><code>{x}</code></li> }).collect_view()}</ul>
            </div>
        })}
        {has_form.then(|| view! {
            <div class="row">
                <span class="small muted">{move || if input.raw_mode.get() { "Editing raw JSON" } else { "Fields marked * are required" }}</span>
                <button type="button" class="link" aria-pressed=move || input.raw_mode.get().to_string()
                    on:click=move |_| if input.raw_mode.get_untracked() { input.to_form() } else { input.to_raw() }>
                    {move || if input.raw_mode.get() { "Back to the form" } else { "Edit as JSON" }}
                </button>
            </div>
        })}
        {move || if input.raw_mode.get() {
            view! {
                <label>{if input.has_schema { "Input (JSON matching the input schema)" } else { "Input" }}
                    <textarea name="input" rows="6" spellcheck="false" class="code"
                        aria-invalid=move || input.raw_error.with(Option::is_some).to_string()
                        prop:value=move || input.raw.get()
                        on:input=move |ev| { input.raw.set(event_target_value(&ev)); input.raw_error.set(None); }>{input.raw.get_untracked()}</textarea>
                </label>
                {move || input.raw_error.get().map(|e| view! { <pre class="field-error" role="alert">{e}</pre> })}
            }
            .into_any()
        } else {
            view! {
                <input type="hidden" name="input" value=move || serde_json::to_string(&input.value.get()).unwrap_or_default()/>
                <div class="input-form">
                    {move || {
                        input.shape.track();
                        input.model.with_value(|m| m.as_ref().map(|m| control(input, errors, m, Vec::new(), "Input".into(), false)))
                    }}
                </div>
            }
            .into_any()
        }}
    }
}

fn messages_at(errors: &[FieldError], ptr: &str) -> Vec<String> {
    let key = if ptr.is_empty() { "/" } else { ptr };
    errors
        .iter()
        .filter(|e| e.field == key)
        .map(|e| e.message.clone())
        .collect()
}

/// The messages to show at one pointer: none until the control was used or a run attempted.
fn shown_messages(input: RunInput, errors: Memo<Vec<FieldError>>, ptr: &str) -> Vec<String> {
    if input.attempted.get() || input.touched.with(|t| t.contains(ptr)) {
        errors.with(|e| messages_at(e, ptr))
    } else {
        Vec::new()
    }
}

/// Inline errors for one pointer.
fn error_line(input: RunInput, errors: Memo<Vec<FieldError>>, ptr: String, id: String) -> AnyView {
    (move || {
        let list = shown_messages(input, errors, &ptr);
        (!list.is_empty()).then(|| view! {
            <p class="field-error" id=id.clone() role="alert" data-error-for=ptr.clone()>{list.join(" ")}</p>
        })
    })
    .into_any()
}

fn dom_id(ptr: &str) -> String {
    let mut s = String::from("in");
    for c in ptr.chars() {
        s.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    s
}

/// The control for the value at `path`, described by `node`.
fn control(
    input: RunInput,
    errors: Memo<Vec<FieldError>>,
    node: &Node,
    path: Vec<Seg>,
    label: String,
    required: bool,
) -> AnyView {
    let ptr = pointer(&path);
    let id = dom_id(&ptr);
    let err_id = format!("{id}-error");
    let current = input.value.with_untracked(|v| get_path(v, &path).cloned());
    // A list item or the root cannot be absent: emptied, it holds an empty value instead.
    let in_list = path.is_empty() || matches!(path.last(), Some(Seg::Index(_)));
    let invalid = {
        let ptr = ptr.clone();
        move || (!shown_messages(input, errors, &ptr).is_empty()).to_string()
    };
    let marker = required.then(|| view! { <span class="req" aria-hidden="true">" *"</span> });
    let hint = (!node.description.is_empty())
        .then(|| view! { <span class="hint">{node.description.clone()}</span> });
    let err = error_line(input, errors, ptr.clone(), err_id.clone());
    match &node.kind {
        Kind::String { max_length, .. } => {
            let text = current
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let short = max_length.is_some_and(|m| m <= 120);
            let on_input = move |ev: leptos::ev::Event| {
                let t = event_target_value(&ev);
                let v = if t.is_empty() && !in_list {
                    None
                } else {
                    Some(Value::String(t))
                };
                input.set(&path, v);
            };
            let field = if short {
                view! { <input type="text" id=id value=text aria-invalid=invalid aria-required=required.to_string() aria-describedby=err_id on:input=on_input/> }.into_any()
            } else {
                view! { <textarea id=id rows="2" aria-invalid=invalid aria-required=required.to_string() aria-describedby=err_id on:input=on_input>{text}</textarea> }.into_any()
            };
            view! { <label>{label}{marker}{hint}{field}</label>{err} }.into_any()
        }
        Kind::Number { .. } | Kind::Integer { .. } => {
            let text = match &current {
                Some(Value::Null) | None => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            let mode = if matches!(node.kind, Kind::Integer { .. }) {
                "numeric"
            } else {
                "decimal"
            };
            view! {
                <label>{label}{marker}{hint}
                    <input type="text" inputmode=mode id=id value=text aria-invalid=invalid aria-required=required.to_string() aria-describedby=err_id
                        on:input=move |ev| {
                            let v = typed_number(&event_target_value(&ev)).or(in_list.then_some(Value::Null));
                            input.set(&path, v);
                        }/>
                </label>
                {err}
            }
            .into_any()
        }
        Kind::Boolean => {
            let on = current.as_ref().and_then(Value::as_bool).unwrap_or(false);
            view! {
                <label class="inline">
                    <input type="checkbox" id=id checked=on aria-describedby=err_id
                        on:change=move |ev| input.set(&path, Some(Value::Bool(event_target_checked(&ev))))/>
                    " "{label}{marker}{hint}
                </label>
                {err}
            }
            .into_any()
        }
        Kind::Enum { values } => {
            let chosen = current
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            view! {
                <label>{label}{marker}{hint}
                    <select id=id aria-invalid=invalid aria-required=required.to_string() aria-describedby=err_id
                        on:change=move |ev| {
                            let t = event_target_value(&ev);
                            let v = if t.is_empty() { in_list.then_some(Value::Null) } else { Some(Value::String(t)) };
                            input.set(&path, v);
                        }>
                        <option value="" selected=chosen.is_empty()>"— choose —"</option>
                        {values.iter().map(|v| view! { <option value=v.clone() selected=*v == chosen>{v.clone()}</option> }).collect_view()}
                    </select>
                </label>
                {err}
            }
            .into_any()
        }
        Kind::Object { fields, .. } => {
            let root = path.is_empty();
            let inner = fields
                .iter()
                .map(|f| {
                    let mut p = path.clone();
                    p.push(Seg::Key(f.name.clone()));
                    control(input, errors, &f.node, p, f.name.clone(), f.required)
                })
                .collect_view();
            if root {
                view! { <div class="fields">{hint}{inner}</div>{err} }.into_any()
            } else {
                view! {
                    <fieldset class="nested" id=id>
                        <legend>{label}{marker}</legend>
                        {hint}{inner}
                    </fieldset>
                    {err}
                }
                .into_any()
            }
        }
        Kind::Array { items, .. } => {
            let len = current
                .as_ref()
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let rows = (0..len)
                .map(|i| {
                    let mut p = path.clone();
                    p.push(Seg::Index(i));
                    let remove_path = p.clone();
                    let label = format!("Item {}", i + 1);
                    view! {
                        <li>
                            {control(input, errors, items, p, label.clone(), false)}
                            <button type="button" class="link" aria-label=format!("Remove {label}")
                                on:click=move |_| { input.set(&remove_path, None); input.shape.update(|s| *s += 1); }>"Remove"</button>
                        </li>
                    }
                })
                .collect_view();
            let new_item = items.initial_value();
            let add_path = path.clone();
            view! {
                <fieldset class="nested" id=id>
                    <legend>{label.clone()}{marker}</legend>
                    {hint}
                    <ol class="items">{rows}</ol>
                    <button type="button" on:click=move |_| {
                        input.value.update(|root| {
                            if get_path(root, &add_path).and_then(Value::as_array).is_none() {
                                set_path(root, &add_path, Some(Value::Array(Vec::new())));
                            }
                            if let Some(Value::Array(a)) = galaxy_core::contract::get_path_mut(root, &add_path) {
                                a.push(new_item.clone());
                            }
                        });
                        input.touched.update(|t| { t.insert(pointer(&add_path)); });
                        input.shape.update(|s| *s += 1);
                    }>{format!("Add to {label}")}</button>
                </fieldset>
                {err}
            }
            .into_any()
        }
    }
}
