//! Editing helpers: paths into nodes ([`Step`]) and into values ([`Seg`]), JSON pointers, and
//! what a user typed into the editor's and the form's number fields.

use serde_json::{Map, Number, Value};

use super::{Field, Kind, Node, TypeName};

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

/// JSON Pointer escaping of one reference token.
pub fn escape_pointer(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
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
