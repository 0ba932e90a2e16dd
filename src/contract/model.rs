//! The model as JSON Schema ([`Node::to_schema`]), what keeps an editor state from being saved
//! ([`Node::problems`]), and the starting value of a generated form ([`Node::initial_value`]).

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::{Kind, Node, check_pattern, cmp_numbers};

impl Node {
    /// The node as JSON Schema.
    pub fn to_schema(&self) -> Value {
        let mut out = Map::new();
        let put_u = |out: &mut Map<String, Value>, k: &str, v: &Option<u64>| {
            if let Some(v) = v {
                out.insert(k.to_owned(), json!(v));
            }
        };
        match &self.kind {
            Kind::String {
                min_length,
                max_length,
                pattern,
            } => {
                out.insert("type".into(), json!("string"));
                put_u(&mut out, "minLength", min_length);
                put_u(&mut out, "maxLength", max_length);
                if let Some(p) = pattern {
                    out.insert("pattern".into(), json!(p));
                }
            }
            Kind::Number { minimum, maximum } | Kind::Integer { minimum, maximum } => {
                let t = if matches!(self.kind, Kind::Number { .. }) {
                    "number"
                } else {
                    "integer"
                };
                out.insert("type".into(), json!(t));
                if let Some(m) = minimum {
                    out.insert("minimum".into(), Value::Number(m.clone()));
                }
                if let Some(m) = maximum {
                    out.insert("maximum".into(), Value::Number(m.clone()));
                }
            }
            Kind::Boolean => {
                out.insert("type".into(), json!("boolean"));
            }
            Kind::Enum { values } => {
                out.insert("type".into(), json!("string"));
                out.insert("enum".into(), json!(values));
            }
            Kind::Object { fields, additional } => {
                out.insert("type".into(), json!("object"));
                let props: Map<String, Value> = fields
                    .iter()
                    .map(|f| (f.name.clone(), f.node.to_schema()))
                    .collect();
                out.insert("properties".into(), Value::Object(props));
                let required: Vec<&str> = fields
                    .iter()
                    .filter(|f| f.required)
                    .map(|f| f.name.as_str())
                    .collect();
                if !required.is_empty() {
                    out.insert("required".into(), json!(required));
                }
                if !additional {
                    out.insert("additionalProperties".into(), json!(false));
                }
            }
            Kind::Array {
                items,
                min_items,
                max_items,
            } => {
                out.insert("type".into(), json!("array"));
                out.insert("items".into(), items.to_schema());
                put_u(&mut out, "minItems", min_items);
                put_u(&mut out, "maxItems", max_items);
            }
        }
        if !self.description.is_empty() {
            out.insert("description".into(), json!(self.description));
        }
        if let Some(d) = &self.default {
            out.insert("default".into(), d.clone());
        }
        for (k, v) in &self.annotations {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }

    /// The node as pretty JSON Schema text.
    pub fn to_schema_text(&self) -> String {
        serde_json::to_string_pretty(&self.to_schema()).unwrap_or_default()
    }

    /// What is wrong with the model itself (an editor state that cannot be saved), as
    /// `(path, message)` pairs; `path` names the field (`customer.age`, `items[]`).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        self.collect_problems("", &mut out);
        out
    }

    fn collect_problems(&self, path: &str, out: &mut Vec<(String, String)>) {
        let mut problem = |m: String| {
            out.push((
                if path.is_empty() {
                    "(root)".to_owned()
                } else {
                    path.to_owned()
                },
                m,
            ));
        };
        match &self.kind {
            Kind::String {
                min_length,
                max_length,
                pattern,
            } => {
                if let (Some(a), Some(b)) = (min_length, max_length)
                    && a > b
                {
                    problem("the minimum length is larger than the maximum length".into());
                }
                if let Some(p) = pattern
                    && let Err(m) = check_pattern(p)
                {
                    problem(m);
                }
            }
            Kind::Number { minimum, maximum } | Kind::Integer { minimum, maximum } => {
                if let (Some(a), Some(b)) = (minimum, maximum)
                    && cmp_numbers(a, b) == Ordering::Greater
                {
                    problem("the minimum is larger than the maximum".into());
                }
            }
            Kind::Boolean => {}
            Kind::Enum { values } => {
                if values.is_empty() {
                    problem("list at least one allowed value".into());
                }
                for (i, v) in values.iter().enumerate() {
                    if values[..i].contains(v) {
                        problem(format!("the value \"{v}\" is listed twice"));
                    }
                }
            }
            Kind::Object { fields, .. } => {
                for (i, f) in fields.iter().enumerate() {
                    let name = f.name.trim();
                    let child = if path.is_empty() {
                        f.name.clone()
                    } else {
                        format!("{path}.{}", f.name)
                    };
                    if name.is_empty() {
                        out.push((
                            if path.is_empty() {
                                "(root)".to_owned()
                            } else {
                                path.to_owned()
                            },
                            format!("field {} has no name", i + 1),
                        ));
                    } else if name != f.name {
                        out.push((
                            child.clone(),
                            "a field name cannot start or end with spaces".into(),
                        ));
                    } else if fields[..i].iter().any(|g| g.name == f.name) {
                        out.push((child.clone(), "two fields have this name".into()));
                    }
                    f.node.collect_problems(&child, out);
                }
            }
            Kind::Array {
                items,
                min_items,
                max_items,
            } => {
                if let (Some(a), Some(b)) = (min_items, max_items)
                    && a > b
                {
                    problem("the minimum number of items is larger than the maximum".into());
                }
                items.collect_problems(&format!("{path}[]"), out);
            }
        }
    }

    /// A value for a new form: the default when there is one. Objects hold their fields with
    /// defaults and their required objects, lists and yes/no fields (as no); an optional field stays absent until the
    /// user fills it. For list items, scalars start empty (`""`, `false`, or `null` for numbers
    /// and choices, which the validator reports until the user picks one).
    pub fn initial_value(&self) -> Value {
        if let Some(d) = &self.default {
            return d.clone();
        }
        match &self.kind {
            Kind::Object { fields, .. } => Value::Object(
                fields
                    .iter()
                    .filter(|f| {
                        f.node.default.is_some()
                            || (f.required
                                && matches!(
                                    f.node.kind,
                                    Kind::Object { .. } | Kind::Array { .. } | Kind::Boolean
                                ))
                    })
                    .map(|f| (f.name.clone(), f.node.initial_value()))
                    .collect(),
            ),
            Kind::Array { .. } => json!([]),
            Kind::Boolean => json!(false),
            Kind::String { .. } => json!(""),
            _ => Value::Null,
        }
    }
}
