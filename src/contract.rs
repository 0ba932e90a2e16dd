//! Typed agent contracts: the model behind the visual schema editor and the generated input form.
//!
//! A [`Node`] is what the editor shows (a type, its constraints, and for objects an ordered list
//! of [`Field`]s). It converts to JSON Schema ([`Node::to_schema`]) — the JSON Schema value is what
//! is stored, compiled by the server and sent to providers — and back ([`import`]), reporting the
//! parts of a hand-written schema the model cannot show instead of dropping them.
//!
//! [`Node::errors`] is the browser's validator. It is derived from the model, not from a general
//! JSON Schema engine (the `jsonschema` crate alone would add ~700 KB gzip to the WASM bundle), and
//! gives the same verdict as the server's `jsonschema` validator for every schema the model can
//! produce — `contract_agreement` in the tests proves it with generated schemas and instances.
//! Patterns are limited to a portable subset ([`check_pattern`]) on which `regex-lite` (browser)
//! and the server's ECMA-262 translation agree.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value, json};

use crate::validation::FieldError;

/// The types the editor offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TypeName {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    Enum,
}

impl TypeName {
    pub const ALL: [TypeName; 7] = [
        TypeName::String,
        TypeName::Number,
        TypeName::Integer,
        TypeName::Boolean,
        TypeName::Enum,
        TypeName::Object,
        TypeName::Array,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TypeName::String => "string",
            TypeName::Number => "number",
            TypeName::Integer => "integer",
            TypeName::Boolean => "boolean",
            TypeName::Object => "object",
            TypeName::Array => "array",
            TypeName::Enum => "enum",
        }
    }

    pub fn parse(s: &str) -> Option<TypeName> {
        TypeName::ALL.into_iter().find(|t| t.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            TypeName::String => "Text",
            TypeName::Number => "Number",
            TypeName::Integer => "Whole number",
            TypeName::Boolean => "Yes / no",
            TypeName::Object => "Object",
            TypeName::Array => "List",
            TypeName::Enum => "One of",
        }
    }
}

/// A type with its constraints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Kind {
    String {
        min_length: Option<u64>,
        max_length: Option<u64>,
        pattern: Option<String>,
    },
    Number {
        minimum: Option<Number>,
        maximum: Option<Number>,
    },
    Integer {
        minimum: Option<Number>,
        maximum: Option<Number>,
    },
    Boolean,
    /// A string that is one of `values`.
    Enum {
        values: Vec<String>,
    },
    Object {
        fields: Vec<Field>,
        /// Whether properties other than `fields` are accepted.
        additional: bool,
    },
    Array {
        items: Box<Node>,
        min_items: Option<u64>,
        max_items: Option<u64>,
    },
}

/// One node of a contract: a type, its constraints and annotations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub kind: Kind,
    pub description: String,
    pub default: Option<Value>,
    /// Keywords that do not change validation (title, examples, $comment…), kept as written.
    pub annotations: Map<String, Value>,
}

/// A named property of an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub required: bool,
    pub node: Node,
}

/// A schema read back into the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub node: Node,
    /// Parts the model cannot show, as `pointer: what` lines. When not empty, the model is only
    /// an approximation: the editor shows the schema read-only and the browser leaves checking to
    /// the server.
    pub unsupported: Vec<String>,
}

/// Keywords that never change validation.
const ANNOTATIONS: [&str; 8] = [
    "title",
    "examples",
    "$comment",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
    "$id",
];

/// The JSON Schema dialect the server validates with (also the default without `$schema`).
pub const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

impl Kind {
    pub fn type_name(&self) -> TypeName {
        match self {
            Kind::String { .. } => TypeName::String,
            Kind::Number { .. } => TypeName::Number,
            Kind::Integer { .. } => TypeName::Integer,
            Kind::Boolean => TypeName::Boolean,
            Kind::Enum { .. } => TypeName::Enum,
            Kind::Object { .. } => TypeName::Object,
            Kind::Array { .. } => TypeName::Array,
        }
    }

    /// An unconstrained kind of type `t`.
    pub fn empty(t: TypeName) -> Kind {
        match t {
            TypeName::String => Kind::String {
                min_length: None,
                max_length: None,
                pattern: None,
            },
            TypeName::Number => Kind::Number {
                minimum: None,
                maximum: None,
            },
            TypeName::Integer => Kind::Integer {
                minimum: None,
                maximum: None,
            },
            TypeName::Boolean => Kind::Boolean,
            TypeName::Enum => Kind::Enum { values: Vec::new() },
            TypeName::Object => Kind::Object {
                fields: Vec::new(),
                additional: false,
            },
            TypeName::Array => Kind::Array {
                items: Box::new(Node::new(TypeName::String)),
                min_items: None,
                max_items: None,
            },
        }
    }
}

impl Node {
    /// A node of type `t` without constraints.
    pub fn new(t: TypeName) -> Node {
        Node {
            kind: Kind::empty(t),
            description: String::new(),
            default: None,
            annotations: Map::new(),
        }
    }

    /// An object with no fields: the starting point of a new contract.
    pub fn empty_object() -> Node {
        Node::new(TypeName::Object)
    }

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

    /// Every violation of `instance`, as field errors at JSON pointers (`/` for the root). A
    /// missing required field is reported at the field's own pointer, so a form can show it next
    /// to the field. Empty means valid — the same verdict as the server's `jsonschema` validator.
    pub fn errors(&self, instance: &Value) -> Vec<FieldError> {
        let mut out = Vec::new();
        self.check(instance, "", &mut out);
        out
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.errors(instance).is_empty()
    }

    fn check(&self, v: &Value, at: &str, out: &mut Vec<FieldError>) {
        let mut fail = |m: String| {
            out.push(FieldError::new(if at.is_empty() { "/" } else { at }, m));
        };
        match &self.kind {
            Kind::String {
                min_length,
                max_length,
                pattern,
            } => {
                let Some(s) = v.as_str() else {
                    return fail("Enter text.".into());
                };
                match outside(s.chars().count() as u64, *min_length, *max_length) {
                    Some(Limit::Below(min)) => fail(format!("Use at least {min} characters.")),
                    Some(Limit::Above(max)) => fail(format!("Use at most {max} characters.")),
                    None => {}
                }
                if let Some(p) = pattern {
                    // A pattern outside the portable subset is a model problem; the form cannot
                    // be submitted with it, so it does not also fail here.
                    if let Ok(re) = regex_lite::Regex::new(p)
                        && !re.is_match(s)
                    {
                        fail(format!("Must match the pattern {p}."));
                    }
                }
            }
            Kind::Number { minimum, maximum } | Kind::Integer { minimum, maximum } => {
                let Some(n) = v.as_number() else {
                    return fail("Enter a number.".into());
                };
                if matches!(self.kind, Kind::Integer { .. }) && !is_integer(n) {
                    return fail("Enter a whole number.".into());
                }
                if let Some(min) = minimum
                    && cmp_numbers(n, min) == Ordering::Less
                {
                    fail(format!("Must be at least {min}."));
                }
                if let Some(max) = maximum
                    && cmp_numbers(n, max) == Ordering::Greater
                {
                    fail(format!("Must be at most {max}."));
                }
            }
            Kind::Boolean => {
                if !v.is_boolean() {
                    fail("Choose yes or no.".into());
                }
            }
            Kind::Enum { values } => match v.as_str() {
                Some(s) if values.iter().any(|x| x == s) => {}
                _ => fail(format!("Choose one of: {}.", values.join(", "))),
            },
            Kind::Object { fields, additional } => {
                let Some(map) = v.as_object() else {
                    return fail("Must be an object.".into());
                };
                for f in fields {
                    let child = format!("{at}/{}", escape_pointer(&f.name));
                    match map.get(&f.name) {
                        Some(x) => f.node.check(x, &child, out),
                        None if f.required => out.push(FieldError::new(child, "Required.")),
                        None => {}
                    }
                }
                if !additional {
                    for k in map.keys() {
                        if !fields.iter().any(|f| &f.name == k) {
                            out.push(FieldError::new(
                                if at.is_empty() { "/" } else { at },
                                format!("Unexpected field \"{k}\"."),
                            ));
                        }
                    }
                }
            }
            Kind::Array {
                items,
                min_items,
                max_items,
            } => {
                let Some(list) = v.as_array() else {
                    return fail("Must be a list.".into());
                };
                match outside(list.len() as u64, *min_items, *max_items) {
                    Some(Limit::Below(min)) => fail(format!("Add at least {min} items.")),
                    Some(Limit::Above(max)) => fail(format!("Use at most {max} items.")),
                    None => {}
                }
                for (i, x) in list.iter().enumerate() {
                    items.check(x, &format!("{at}/{i}"), out);
                }
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

/// One step from a node to a node inside it: an object's field, or an array's item type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Field(usize),
    Items,
}

impl Node {
    /// The node at `path`, if the path leads somewhere.
    pub fn at(&self, path: &[Step]) -> Option<&Node> {
        match path.split_first() {
            None => Some(self),
            Some((Step::Field(i), rest)) => match &self.kind {
                Kind::Object { fields, .. } => fields.get(*i)?.node.at(rest),
                _ => None,
            },
            Some((Step::Items, rest)) => match &self.kind {
                Kind::Array { items, .. } => items.at(rest),
                _ => None,
            },
        }
    }

    pub fn at_mut(&mut self, path: &[Step]) -> Option<&mut Node> {
        match path.split_first() {
            None => Some(self),
            Some((Step::Field(i), rest)) => match &mut self.kind {
                Kind::Object { fields, .. } => fields.get_mut(*i)?.node.at_mut(rest),
                _ => None,
            },
            Some((Step::Items, rest)) => match &mut self.kind {
                Kind::Array { items, .. } => items.at_mut(rest),
                _ => None,
            },
        }
    }

    /// The fields of an object node (empty for other kinds).
    pub fn fields_mut(&mut self) -> Option<&mut Vec<Field>> {
        match &mut self.kind {
            Kind::Object { fields, .. } => Some(fields),
            _ => None,
        }
    }

    /// Changes the type, keeping description and annotations; a default that no longer fits
    /// the type is dropped.
    pub fn set_type(&mut self, t: TypeName) {
        if self.kind.type_name() != t {
            self.kind = Kind::empty(t);
            if self.default.as_ref().is_some_and(|d| !self.is_valid(d)) {
                self.default = None;
            }
        }
    }

    /// A fresh name for a new field of this object: `field_1`, `field_2`…
    pub fn new_field_name(&self) -> String {
        let taken = |n: &str| match &self.kind {
            Kind::Object { fields, .. } => fields.iter().any(|f| f.name == n),
            _ => false,
        };
        (1..)
            .map(|i| format!("field_{i}"))
            .find(|n| !taken(n))
            .unwrap_or_default()
    }
}

/// One step into a JSON value: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// The JSON pointer of a value path (`""` for the root), as validation errors name it.
pub fn pointer(path: &[Seg]) -> String {
    path.iter()
        .map(|s| match s {
            Seg::Key(k) => format!("/{}", escape_pointer(k)),
            Seg::Index(i) => format!("/{i}"),
        })
        .collect()
}

/// The value at `path`, if there is one.
pub fn get_path<'a>(root: &'a Value, path: &[Seg]) -> Option<&'a Value> {
    path.iter().try_fold(root, |v, s| match s {
        Seg::Key(k) => v.get(k),
        Seg::Index(i) => v.get(*i),
    })
}

pub fn get_path_mut<'a>(root: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    path.iter().try_fold(root, |v, s| match s {
        Seg::Key(k) => v.get_mut(k),
        Seg::Index(i) => v.get_mut(*i),
    })
}

/// Sets (or with `None` removes) the value at `path`, creating objects on the way.
pub fn set_path(root: &mut Value, path: &[Seg], new: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        if let Some(v) = new {
            *root = v;
        }
        return;
    };
    let mut v = root;
    for s in parents {
        v = match s {
            Seg::Key(k) => {
                if !v.is_object() {
                    *v = Value::Object(Map::new());
                }
                match v.as_object_mut() {
                    Some(m) => m.entry(k.clone()).or_insert(Value::Null),
                    None => return,
                }
            }
            Seg::Index(i) => match v.get_mut(*i) {
                Some(x) => x,
                None => return,
            },
        };
    }
    match (last, new) {
        (Seg::Key(k), Some(x)) => {
            if !v.is_object() {
                *v = Value::Object(Map::new());
            }
            if let Some(m) = v.as_object_mut() {
                m.insert(k.clone(), x);
            }
        }
        (Seg::Key(k), None) => {
            if let Some(m) = v.as_object_mut() {
                m.shift_remove(k);
            }
        }
        (Seg::Index(i), Some(x)) => {
            if let Some(slot) = v.get_mut(*i) {
                *slot = x;
            }
        }
        (Seg::Index(i), None) => {
            if let Some(a) = v.as_array_mut()
                && *i < a.len()
            {
                a.remove(*i);
            }
        }
    }
}

/// The limit a count breaks.
enum Limit {
    Below(u64),
    Above(u64),
}

/// Whether `n` is outside `min..=max` (a model with min above max is a model problem; either
/// breach makes the value invalid, as it does for the server).
fn outside(n: u64, min: Option<u64>, max: Option<u64>) -> Option<Limit> {
    match (min, max) {
        (Some(min), _) if n < min => Some(Limit::Below(min)),
        (_, Some(max)) if n > max => Some(Limit::Above(max)),
        _ => None,
    }
}

/// Reads a JSON Schema into the model. `unsupported` lists what could not be represented.
pub fn import(schema: &Value) -> Imported {
    let mut unsupported = Vec::new();
    let node = import_node(schema, "", &mut unsupported);
    Imported { node, unsupported }
}

fn import_node(schema: &Value, at: &str, unsupported: &mut Vec<String>) -> Node {
    let here = if at.is_empty() { "/" } else { at };
    let Some(obj) = schema.as_object() else {
        unsupported.push(format!("{here}: a schema that is not an object"));
        return Node::new(TypeName::String);
    };
    let mut used: Vec<&str> = vec!["type", "description", "default"];
    let mut note = |what: String| unsupported.push(format!("{here}: {what}"));
    let u64_of = |k: &str, note: &mut dyn FnMut(String)| -> Option<u64> {
        let v = obj.get(k)?;
        match v.as_u64() {
            Some(n) => Some(n),
            None => match v.as_f64() {
                Some(f) if f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 => Some(f as u64),
                _ => {
                    note(format!("{k} is not a whole number"));
                    None
                }
            },
        }
    };
    let num_of = |k: &str, note: &mut dyn FnMut(String)| -> Option<Number> {
        let v = obj.get(k)?;
        match v {
            Value::Number(n) => Some(n.clone()),
            _ => {
                note(format!("{k} is not a number"));
                None
            }
        }
    };

    let declared = obj.get("type");
    let t = match declared {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            note("a list of types".into());
            "string"
        }
        None if obj.contains_key("enum") => "string",
        None if obj.contains_key("properties") => "object",
        None if obj.contains_key("items") => "array",
        None => {
            note("no type".into());
            "string"
        }
    };
    let kind = match t {
        "string" if obj.contains_key("enum") => {
            used.push("enum");
            let values: Option<Vec<String>> = obj
                .get("enum")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_owned)).collect());
            match values {
                Some(values) => Kind::Enum { values },
                None => {
                    note("enum values that are not all text".into());
                    Kind::Enum { values: Vec::new() }
                }
            }
        }
        "string" => {
            used.extend(["minLength", "maxLength", "pattern"]);
            let pattern = match obj.get("pattern") {
                None => None,
                Some(Value::String(p)) => {
                    if let Err(m) = check_pattern(p) {
                        note(m);
                    }
                    Some(p.clone())
                }
                Some(_) => {
                    note("pattern is not text".into());
                    None
                }
            };
            Kind::String {
                min_length: u64_of("minLength", &mut note),
                max_length: u64_of("maxLength", &mut note),
                pattern,
            }
        }
        "number" | "integer" => {
            used.extend(["minimum", "maximum"]);
            let minimum = num_of("minimum", &mut note);
            let maximum = num_of("maximum", &mut note);
            if t == "number" {
                Kind::Number { minimum, maximum }
            } else {
                Kind::Integer { minimum, maximum }
            }
        }
        "boolean" => Kind::Boolean,
        "object" => {
            used.extend(["properties", "required", "additionalProperties"]);
            let mut fields = Vec::new();
            let required: Vec<&str> = match obj.get("required") {
                None => Vec::new(),
                Some(r) => match r
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                {
                    Some(r) => r,
                    None => {
                        note("required is not a list of names".into());
                        Vec::new()
                    }
                },
            };
            match obj.get("properties") {
                None => {}
                Some(Value::Object(props)) => {
                    for (name, prop) in props {
                        let child = format!("{at}/properties/{}", escape_pointer(name));
                        fields.push(Field {
                            name: name.clone(),
                            required: required.contains(&name.as_str()),
                            node: import_node(prop, &child, unsupported),
                        });
                    }
                }
                Some(_) => unsupported.push(format!("{here}: properties is not an object")),
            }
            let mut note = |what: String| unsupported.push(format!("{here}: {what}"));
            for r in &required {
                if !fields.iter().any(|f| f.name == *r) {
                    note(format!("required field \"{r}\" without a definition"));
                }
            }
            let additional = match obj.get("additionalProperties") {
                None | Some(Value::Bool(true)) => true,
                Some(Value::Bool(false)) => false,
                Some(_) => {
                    note("additionalProperties with a schema".into());
                    true
                }
            };
            Kind::Object { fields, additional }
        }
        "array" => {
            used.extend(["items", "minItems", "maxItems"]);
            let items = match obj.get("items") {
                Some(s @ Value::Object(_)) => import_node(s, &format!("{at}/items"), unsupported),
                Some(_) => {
                    unsupported.push(format!("{here}: items that is not a schema"));
                    Node::new(TypeName::String)
                }
                None => {
                    unsupported.push(format!("{here}: a list without an item type"));
                    Node::new(TypeName::String)
                }
            };
            let mut note = |what: String| unsupported.push(format!("{here}: {what}"));
            Kind::Array {
                items: Box::new(items),
                min_items: u64_of("minItems", &mut note),
                max_items: u64_of("maxItems", &mut note),
            }
        }
        other => {
            unsupported.push(format!("{here}: the type \"{other}\""));
            Kind::empty(TypeName::String)
        }
    };
    let mut annotations = Map::new();
    for (k, v) in obj {
        if used.contains(&k.as_str()) {
            continue;
        }
        if ANNOTATIONS.contains(&k.as_str()) {
            if k == "$schema" && v.as_str() != Some(DIALECT) {
                unsupported.push(format!("{here}: a $schema other than {DIALECT}"));
            }
            annotations.insert(k.clone(), v.clone());
        } else {
            unsupported.push(format!("{here}: {k}"));
        }
    }
    let description = match obj.get("description") {
        None => String::new(),
        Some(Value::String(d)) => d.clone(),
        Some(_) => {
            unsupported.push(format!("{here}: description is not text"));
            String::new()
        }
    };
    Node {
        kind,
        description,
        default: obj.get("default").cloned(),
        annotations,
    }
}

/// Checks that a pattern is in the portable subset both validators read the same way: it must
/// compile, and must not use `\s`/`\S` (Unicode whitespace differs), word boundaries, Unicode
/// classes, escapes by code, back-references, or `(?…)` groups and flags.
pub fn check_pattern(p: &str) -> Result<(), String> {
    if p.chars().count() > 500 {
        return Err("the pattern is too long (500 characters at most)".into());
    }
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(
                    e @ ('s' | 'S' | 'b' | 'B' | 'p' | 'P' | 'u' | 'x' | 'c' | 'k' | '0'..='9'),
                ) => {
                    return Err(format!(
                        "the pattern uses \\{e}, which browsers and the server read differently; \
                         use a character class such as [ \\t] or [0-9] instead"
                    ));
                }
                Some(_) => {}
                None => return Err("the pattern ends with a lone \\".into()),
            }
        } else if c == '(' && chars.clone().next() == Some('?') {
            return Err("the pattern uses a (?…) group, which is not supported here".into());
        }
    }
    regex_lite::Regex::new(p)
        .map(|_| ())
        .map_err(|e| format!("the pattern is not a valid regular expression: {e}"))
}

/// JSON Pointer escaping of one reference token.
pub fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// Integer per JSON Schema 2020-12: a number with no fractional part (`1.0` counts).
pub fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

/// Exact comparison of two JSON numbers (integers beyond 2^53 are not rounded).
pub fn cmp_numbers(a: &Number, b: &Number) -> Ordering {
    fn int(n: &Number) -> Option<i128> {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    }
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(x), None) => cmp_int_float(x, b.as_f64().unwrap_or(0.0)),
        (None, Some(y)) => cmp_int_float(y, a.as_f64().unwrap_or(0.0)).reverse(),
        (None, None) => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
    }
}

fn cmp_int_float(i: i128, f: f64) -> Ordering {
    const LIMIT: f64 = 1.0e30; // far beyond every i64/u64, well inside i128
    if f >= LIMIT {
        return Ordering::Less;
    }
    if f <= -LIMIT {
        return Ordering::Greater;
    }
    let t = f.trunc();
    // Exact: |t| < 1e30 < 2^127 and t has no fraction.
    let ti = t as i128;
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        other => other,
    }
}

/// Turns what a user typed into a number input into a JSON value: blank is `None`, a number is a
/// number, anything else stays text (and the validator says it is not a number).
pub fn typed_number(text: &str) -> Option<Value> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    Some(
        serde_json::from_str::<Number>(t)
            .map(Value::Number)
            .unwrap_or_else(|_| Value::String(text.to_owned())),
    )
}

/// Parses a constraint typed in the editor: blank is `None`.
pub fn parse_limit(text: &str) -> Result<Option<Number>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    serde_json::from_str::<Number>(t)
        .map(Some)
        .map_err(|_| format!("\"{t}\" is not a number"))
}

/// Parses a count typed in the editor (lengths, item counts): blank is `None`.
pub fn parse_count(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<u64>()
        .map(Some)
        .map_err(|_| format!("\"{t}\" is not a whole number of 0 or more"))
}

#[cfg(test)]
pub(crate) mod tests;
