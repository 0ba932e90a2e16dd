//! The visual JSON Schema editor of the agent builder, for the input and the output contract.
//!
//! The schema *text* is the source of truth (it is what the form saves). The visual tab edits a
//! [`Node`] model and writes the text after every change; the JSON tab edits the text and reads
//! it back into the model when it parses, so the two stay in sync both ways and a typing error
//! in the JSON tab never loses anything. A schema with parts the model cannot show stays
//! editable as JSON, with the parts listed.
//!
//! Controls are uncontrolled: typing changes the model without re-rendering, so focus and caret
//! stay put; structural changes (add, remove, reorder, change type) bump `shape`, which
//! re-renders the tree and puts focus back on the control that was used.

use std::collections::BTreeMap;

use galaxy_core::contract::parse_schema_text;
use galaxy_core::contract::{
    Field, Kind, Node, Step, TypeName, import, parse_count, parse_limit, typed_number,
};
use leptos::prelude::*;
use serde_json::Value;

/// The editor's state; `Copy`, so every control's handler can hold it.
#[derive(Clone, Copy)]
pub struct SchemaState {
    /// `input_schema` or `output_schema`: the form field the text is saved as.
    pub field: &'static str,
    pub text: RwSignal<String>,
    model: RwSignal<Option<Node>>,
    unsupported: RwSignal<Vec<String>>,
    json_error: RwSignal<Option<String>>,
    /// Constraint inputs that do not parse, by control id.
    bad: RwSignal<BTreeMap<String, String>>,
    shape: RwSignal<u32>,
    json_tab: RwSignal<bool>,
    focus: RwSignal<Option<String>>,
}

impl SchemaState {
    pub fn new(field: &'static str, text: String) -> SchemaState {
        let state = SchemaState {
            field,
            text: RwSignal::new(text.clone()),
            model: RwSignal::new(None),
            unsupported: RwSignal::new(Vec::new()),
            json_error: RwSignal::new(None),
            bad: RwSignal::new(BTreeMap::new()),
            shape: RwSignal::new(0),
            json_tab: RwSignal::new(false),
            focus: RwSignal::new(None),
        };
        state.load_text(&text);
        if state.json_error.get_untracked().is_some() {
            state.json_tab.set(true);
        }
        state
    }

    /// Reads the text into the model (keeping the model when the text does not parse).
    fn load_text(self, text: &str) {
        match parse_schema_text(text) {
            Ok(None) => {
                self.model.set(None);
                self.unsupported.set(Vec::new());
                self.json_error.set(None);
            }
            Ok(Some(value)) => {
                let imported = import(&value);
                self.model.set(Some(imported.node));
                self.unsupported.set(imported.unsupported);
                self.json_error.set(None);
            }
            Err(m) => self.json_error.set(Some(m)),
        }
        self.bad.set(BTreeMap::new());
        self.shape.update(|v| *v += 1);
    }

    /// Applies a visual edit to the node at `path` and rewrites the text. `focus` (a control
    /// id) marks a structural change: the tree re-renders and that control gets focus.
    fn edit(self, path: &[Step], focus: Option<String>, f: impl FnOnce(&mut Node)) {
        self.model.update(|m| {
            if let Some(node) = m.as_mut().and_then(|root| root.at_mut(path)) {
                f(node);
            }
        });
        if let Some(m) = self.model.get_untracked() {
            self.text.set(m.to_schema_text());
        }
        if let Some(id) = focus {
            // The tree is rebuilt from the model: inputs that did not parse show the model's
            // values again, so their messages go too.
            self.bad.set(BTreeMap::new());
            self.focus.set(Some(id));
            self.shape.update(|v| *v += 1);
        }
    }

    fn set_model(self, model: Option<Node>) {
        self.text
            .set(model.as_ref().map(Node::to_schema_text).unwrap_or_default());
        self.model.set(model);
        self.unsupported.set(Vec::new());
        self.bad.set(BTreeMap::new());
        self.shape.update(|v| *v += 1);
    }

    /// What stops the form from saving, if anything: JSON that does not parse, a constraint
    /// that is not a number, or a model problem (duplicate names, min above max…).
    pub fn blocking(self) -> Option<String> {
        if let Some(e) = self.json_error.get_untracked() {
            return Some(format!("Fix the JSON: {e}"));
        }
        if let Some(m) = self.bad.with_untracked(|b| b.values().next().cloned()) {
            return Some(format!("Fix the fields: {m}"));
        }
        if !self.unsupported.with_untracked(Vec::is_empty) {
            return None; // the server compiles hand-written schemas
        }
        self.model
            .with_untracked(|m| m.as_ref().map(Node::problems))
            .unwrap_or_default()
            .first()
            .map(|(path, m)| format!("Fix the fields: {path}: {m}"))
    }
}

/// A control id unique in the page: the schema field, the path, what it edits.
fn cid(field: &str, path: &[Step], what: &str) -> String {
    let mut s = format!("{field}-r");
    for step in path {
        match step {
            Step::Field(i) => s.push_str(&format!("-f{i}")),
            Step::Items => s.push_str("-i"),
        }
    }
    s.push('-');
    s.push_str(what);
    s
}

fn with(path: &[Step], step: Step) -> Vec<Step> {
    let mut p = path.to_vec();
    p.push(step);
    p
}

#[cfg(feature = "hydrate")]
fn focus_by_id(id: &str) {
    use wasm_bindgen::JsCast;
    if let Some(el) = document()
        .get_element_by_id(id)
        .and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

#[cfg(not(feature = "hydrate"))]
fn focus_by_id(_id: &str) {}

/// The editor: a Fields tab (visual) and a JSON tab over the same schema.
#[component]
pub fn SchemaEditor(state: SchemaState, label: &'static str, hint: &'static str) -> impl IntoView {
    let field = state.field;
    Effect::new(move |_| {
        state.shape.track();
        if let Some(id) = state.focus.get_untracked() {
            state.focus.set(None);
            request_animation_frame(move || focus_by_id(&id));
        }
    });
    let tab = move |json: bool, text: &'static str| {
        view! {
            <button type="button" role="tab" class="tab" id=format!("{field}-tab-{}", if json { "json" } else { "fields" })
                aria-selected=move || (state.json_tab.get() == json).to_string()
                tabindex=move || if state.json_tab.get() == json { "0" } else { "-1" }
                on:click=move |_| state.json_tab.set(json)
                on:keydown=move |ev| {
                    // Arrow keys move between the two tabs (WAI-ARIA tabs pattern).
                    if matches!(ev.key().as_str(), "ArrowLeft" | "ArrowRight" | "Home" | "End") {
                        ev.prevent_default();
                        let other = !json;
                        state.json_tab.set(other);
                        focus_by_id(&format!("{field}-tab-{}", if other { "json" } else { "fields" }));
                    }
                }>{text}</button>
        }
    };
    let problems = move || {
        let list = state
            .model
            .with(|m| m.as_ref().map(Node::problems))
            .unwrap_or_default();
        (!list.is_empty() && state.unsupported.with(Vec::is_empty)).then(|| {
            view! {
                <ul class="schema-problems" role="alert">
                    {list.into_iter().map(|(p, m)| view! { <li>{format!("{p}: {m}")}</li> }).collect_view()}
                </ul>
            }
        })
    };
    view! {
        <fieldset class="schema-editor" data-schema=field>
            <legend>{label}</legend>
            <p class="small muted">{hint}</p>
            <input type="hidden" name=format!("draft[{field}]") value=move || state.text.get()/>
            <div class="tabs" role="tablist" aria-label=label>
                {tab(false, "Fields")}
                {tab(true, "JSON")}
            </div>
            <div role="tabpanel">
                {move || if state.json_tab.get() { json_tab(state) } else { visual_tab(state) }}
            </div>
            {problems}
        </fieldset>
    }
}

fn json_tab(state: SchemaState) -> AnyView {
    let field = state.field;
    view! {
        <label>"JSON Schema"
            <textarea class="code" rows="12" spellcheck="false" data-json=field
                aria-invalid=move || state.json_error.with(Option::is_some).to_string()
                prop:value=move || state.text.get()
                on:input=move |ev| {
                    let t = event_target_value(&ev);
                    state.text.set(t.clone());
                    state.load_text(&t);
                }>{state.text.get_untracked()}</textarea>
        </label>
        {move || state.json_error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
        {move || {
            let u = state.unsupported.get();
            (!u.is_empty()).then(|| view! {
                <div class="notice" role="note">
                    <p>"The Fields tab cannot show these parts (the server still enforces them):"</p>
                    <ul>{u.into_iter().map(|x| view! { <li><code>{x}</code></li> }).collect_view()}</ul>
                </div>
            })
        }}
    }
    .into_any()
}

fn visual_tab(state: SchemaState) -> AnyView {
    let field = state.field;
    (move || {
        state.shape.track();
        let unsupported = state.unsupported.get_untracked();
        match state.model.get_untracked() {
            None if state.json_error.with_untracked(Option::is_some) => view! {
                <p class="field-error">"The JSON tab has an error; fix it there to see the fields."</p>
            }
            .into_any(),
            None => view! {
                <p class="muted">{if field == "input_schema" {
                    "No input schema: any text is accepted."
                } else {
                    "No output schema: the reply is free text."
                }}</p>
                <button type="button" id=cid(field, &[], "define")
                    on:click=move |_| {
                        let mut root = Node::empty_object();
                        if let Some(fields) = root.fields_mut() {
                            fields.push(Field { name: "field_1".into(), required: true, node: Node::new(TypeName::String) });
                        }
                        state.focus.set(Some(cid(field, &[Step::Field(0)], "name")));
                        state.set_model(Some(root));
                    }>"Define fields"</button>
            }
            .into_any(),
            Some(_) if !unsupported.is_empty() => view! {
                <div class="notice" role="note">
                    <p>"This schema uses parts the Fields tab cannot show; edit it in the JSON tab. The server enforces all of it."</p>
                    <ul>{unsupported.into_iter().map(|x| view! { <li><code>{x}</code></li> }).collect_view()}</ul>
                </div>
            }
            .into_any(),
            Some(root) => view! {
                <div class="row">
                    {type_select(state, &[], root.kind.type_name(), "Type")}
                    <button type="button" class="link" on:click=move |_| state.set_model(None)>"Remove schema"</button>
                </div>
                {node_body(state, &[], &root)}
            }
            .into_any(),
        }
    })
    .into_any()
}

fn type_select(
    state: SchemaState,
    path: &[Step],
    current: TypeName,
    label: &'static str,
) -> AnyView {
    let id = cid(state.field, path, "type");
    let path = path.to_vec();
    let focus = id.clone();
    view! {
        <label>{label}
            <select id=id on:change=move |ev| {
                if let Ok(t) = TypeName::parse(&event_target_value(&ev)) {
                    state.edit(&path, Some(focus.clone()), |n| n.set_type(t));
                }
            }>
                {TypeName::ALL.iter().copied().map(|t| view! {
                    <option value=t.as_str() selected=t == current>{t.label()}</option>
                }).collect_view()}
            </select>
        </label>
    }
    .into_any()
}

/// A text input editing one part of the node at `path`. `apply` gets the text and answers an
/// error message when it does not parse.
fn text_input(
    state: SchemaState,
    path: &[Step],
    what: &'static str,
    label: &'static str,
    value: String,
    class: &'static str,
    apply: fn(&mut Node, &str) -> Result<(), String>,
) -> AnyView {
    let id = cid(state.field, path, what);
    let err_id = format!("{id}-error");
    let key = id.clone();
    let key_view = id.clone();
    let path = path.to_vec();
    view! {
        <label class=class>{label}
            <input type="text" id=id value=value aria-describedby=err_id.clone()
                on:input=move |ev| {
                    let text = event_target_value(&ev);
                    // Check on a copy first: a bad value changes nothing.
                    let checked = state.model.with_untracked(|m| {
                        m.as_ref().and_then(|root| root.at(&path)).cloned().map(|mut n| apply(&mut n, &text))
                    });
                    match checked {
                        Some(Err(m)) => state.bad.update(|b| { b.insert(key.clone(), m); }),
                        _ => {
                            state.bad.update(|b| { b.remove(&key); });
                            state.edit(&path, None, |n| { let _ = apply(n, &text); });
                        }
                    }
                }/>
        </label>
        {move || state.bad.with(|b| b.get(&key_view).cloned()).map(|m| view! {
            <p class="field-error" id=err_id.clone() role="alert">{m}</p>
        })}
    }
    .into_any()
}

fn opt_text(n: &Option<impl ToString>) -> String {
    n.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Constraints, description, default and nested parts of the node at `path`.
fn node_body(state: SchemaState, path: &[Step], node: &Node) -> AnyView {
    let constraints = match &node.kind {
        Kind::String { min_length, max_length, pattern } => view! {
            <div class="row constraints">
                {text_input(state, path, "minlen", "Min length", opt_text(min_length), "grow", |n, t| {
                    let v = parse_count(t)?;
                    if let Kind::String { min_length, .. } = &mut n.kind { *min_length = v; }
                    Ok(())
                })}
                {text_input(state, path, "maxlen", "Max length", opt_text(max_length), "grow", |n, t| {
                    let v = parse_count(t)?;
                    if let Kind::String { max_length, .. } = &mut n.kind { *max_length = v; }
                    Ok(())
                })}
                {text_input(state, path, "pattern", "Pattern (regular expression)", pattern.clone().unwrap_or_default(), "grow2", |n, t| {
                    if let Kind::String { pattern, .. } = &mut n.kind {
                        *pattern = (!t.is_empty()).then(|| t.to_owned());
                    }
                    Ok(())
                })}
            </div>
        }
        .into_any(),
        Kind::Number { minimum, maximum } | Kind::Integer { minimum, maximum } => view! {
            <div class="row constraints">
                {text_input(state, path, "min", "Minimum", opt_text(minimum), "grow", |n, t| {
                    let v = parse_limit(t)?;
                    if let Kind::Number { minimum, .. } | Kind::Integer { minimum, .. } = &mut n.kind { *minimum = v; }
                    Ok(())
                })}
                {text_input(state, path, "max", "Maximum", opt_text(maximum), "grow", |n, t| {
                    let v = parse_limit(t)?;
                    if let Kind::Number { maximum, .. } | Kind::Integer { maximum, .. } = &mut n.kind { *maximum = v; }
                    Ok(())
                })}
            </div>
        }
        .into_any(),
        Kind::Boolean => ().into_any(),
        Kind::Enum { values } => {
            let id = cid(state.field, path, "values");
            let p = path.to_vec();
            view! {
                <label>"Allowed values (one per line)"
                    <textarea id=id rows="3" spellcheck="false" on:input=move |ev| {
                        let text = event_target_value(&ev);
                        state.edit(&p, None, |n| {
                            if let Kind::Enum { values } = &mut n.kind {
                                *values = text.lines().map(|l| l.trim_end_matches('\r').to_owned()).filter(|l| !l.is_empty()).collect();
                            }
                        });
                    }>{values.join("\n")}</textarea>
                </label>
            }
            .into_any()
        }
        Kind::Object { fields, additional } => {
            let p = path.to_vec();
            let add_path = path.to_vec();
            let count = fields.len();
            let field = state.field;
            view! {
                <ol class="schema-fields">
                    {fields.iter().enumerate().map(|(i, f)| field_row(state, path, i, count, f)).collect_view()}
                </ol>
                <div class="row">
                    <button type="button" id=cid(field, path, "add") on:click=move |_| {
                        let focus = cid(field, &with(&add_path, Step::Field(count)), "name");
                        state.edit(&add_path, Some(focus), |n| {
                            let name = n.new_field_name();
                            if let Some(fields) = n.fields_mut() {
                                fields.push(Field { name, required: false, node: Node::new(TypeName::String) });
                            }
                        });
                    }>"Add field"</button>
                    <label class="inline">
                        <input type="checkbox" checked=*additional on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            state.edit(&p, None, |n| if let Kind::Object { additional, .. } = &mut n.kind { *additional = on; });
                        }/>" Allow other fields"
                    </label>
                </div>
            }
            .into_any()
        }
        Kind::Array { items, min_items, max_items } => {
            let items_path = with(path, Step::Items);
            view! {
                <div class="row constraints">
                    {text_input(state, path, "minitems", "Min items", opt_text(min_items), "grow", |n, t| {
                        let v = parse_count(t)?;
                        if let Kind::Array { min_items, .. } = &mut n.kind { *min_items = v; }
                        Ok(())
                    })}
                    {text_input(state, path, "maxitems", "Max items", opt_text(max_items), "grow", |n, t| {
                        let v = parse_count(t)?;
                        if let Kind::Array { max_items, .. } = &mut n.kind { *max_items = v; }
                        Ok(())
                    })}
                </div>
                <div class="schema-items">
                    {type_select(state, &items_path, items.kind.type_name(), "Each item is")}
                    {node_body(state, &items_path, items)}
                </div>
            }
            .into_any()
        }
    };
    let default = match &node.kind {
        Kind::String { .. } | Kind::Enum { .. } => Some(text_input(
            state,
            path,
            "default",
            "Default",
            node.default
                .as_ref()
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            "grow",
            |n, t| {
                n.default = (!t.is_empty()).then(|| Value::String(t.to_owned()));
                Ok(())
            },
        )),
        Kind::Number { .. } | Kind::Integer { .. } | Kind::Boolean => Some(text_input(
            state,
            path,
            "default",
            "Default",
            opt_text(&node.default),
            "grow",
            |n, t| {
                let v = match (&n.kind, t.trim()) {
                    (_, "") => None,
                    (Kind::Boolean, "true") => Some(Value::Bool(true)),
                    (Kind::Boolean, "false") => Some(Value::Bool(false)),
                    (Kind::Boolean, _) => return Err("the default is true or false".into()),
                    _ => match typed_number(t) {
                        Some(v @ Value::Number(_)) => Some(v),
                        _ => return Err(format!("\"{}\" is not a number", t.trim())),
                    },
                };
                n.default = v;
                Ok(())
            },
        )),
        _ => None,
    };
    view! {
        <div class="row">
            {text_input(state, path, "desc", "Description", node.description.clone(), "grow2", |n, t| {
                n.description = t.to_owned();
                Ok(())
            })}
            {default}
        </div>
        {constraints}
    }
    .into_any()
}

/// One field of an object: name, type, required, move and remove, then its body.
fn field_row(state: SchemaState, parent: &[Step], i: usize, count: usize, f: &Field) -> AnyView {
    let field = state.field;
    let path = with(parent, Step::Field(i));
    let name_id = cid(field, &path, "name");
    let (p_name, p_req) = (parent.to_vec(), parent.to_vec());
    let (p_up, p_down, p_del) = (parent.to_vec(), parent.to_vec(), parent.to_vec());
    // Names change as the user types (without a re-render): labels read the model.
    let parent_path = parent.to_vec();
    let name = move || {
        state
            .model
            .with(|m| {
                m.as_ref()
                    .and_then(|root| root.at(&parent_path))
                    .and_then(|n| match &n.kind {
                        Kind::Object { fields, .. } => fields.get(i).map(|f| f.name.clone()),
                        _ => None,
                    })
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("field {}", i + 1))
    };
    let up_id = cid(field, &path, "up");
    let down_id = cid(field, &path, "down");
    view! {
        <li class="schema-field" data-field=name.clone()>
            <div class="row">
                <label class="grow">"Name"
                    <input type="text" id=name_id value=f.name.clone() spellcheck="false" autocomplete="off"
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            state.edit(&p_name, None, |n| if let Some(fields) = n.fields_mut() && let Some(f) = fields.get_mut(i) { f.name = v; });
                        }/>
                </label>
                {type_select(state, &path, f.node.kind.type_name(), "Type")}
                <label class="inline">
                    <input type="checkbox" checked=f.required on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        state.edit(&p_req, None, |n| if let Some(fields) = n.fields_mut() && let Some(f) = fields.get_mut(i) { f.required = on; });
                    }/>" Required"
                </label>
                <span class="field-actions">
                    <button type="button" id=up_id aria-label={ let name = name.clone(); move || format!("Move {} up", name()) } disabled=i == 0
                        on:click=move |_| {
                            let focus = cid(field, &with(&p_up, Step::Field(i.saturating_sub(1))), "up");
                            state.edit(&p_up, Some(focus), |n| if let Some(fields) = n.fields_mut() && i > 0 { fields.swap(i, i - 1); });
                        }>"↑"</button>
                    <button type="button" id=down_id aria-label={ let name = name.clone(); move || format!("Move {} down", name()) } disabled=i + 1 == count
                        on:click=move |_| {
                            let focus = cid(field, &with(&p_down, Step::Field(i + 1)), "down");
                            state.edit(&p_down, Some(focus), |n| if let Some(fields) = n.fields_mut() && i + 1 < fields.len() { fields.swap(i, i + 1); });
                        }>"↓"</button>
                    <button type="button" class="danger" aria-label={ let name = name.clone(); move || format!("Remove {}", name()) }
                        on:click=move |_| {
                            let focus = if count > 1 {
                                cid(field, &with(&p_del, Step::Field(i.min(count - 2))), "name")
                            } else {
                                cid(field, &p_del, "add")
                            };
                            state.edit(&p_del, Some(focus), |n| if let Some(fields) = n.fields_mut() && i < fields.len() { fields.remove(i); });
                        }>"✕"</button>
                </span>
            </div>
            {node_body(state, &path, &f.node)}
        </li>
    }
    .into_any()
}
