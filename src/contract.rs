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
//!
//! The parts: [`model`] (the model as JSON Schema, its problems, form defaults), [`validate`]
//! (the browser's validator and exact number comparison), [`import`] (JSON Schema back into the
//! model), [`edit`] (paths into nodes and values, typed editor input), [`pattern`] (the portable
//! pattern rule), [`text`] (schema text as typed: size, depth, JSON) and [`size`] (the smallest
//! valid instance, for the run output cap); on the server, [`compiled`] (schemas compiled by
//! `jsonschema`, cached per agent version).

#[cfg(feature = "server")]
mod compiled;
mod edit;
mod import;
mod model;
mod pattern;
mod size;
mod text;
mod validate;

#[cfg(feature = "server")]
pub use compiled::*;
pub use edit::*;
pub use import::import;
pub use pattern::*;
pub use size::*;
pub use text::*;
pub use validate::{cmp_numbers, is_integer};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

crate::string_enum! {
    /// The types the editor offers, in the order it lists them.
    pub enum TypeName("type") {
        String = "string",
        Number = "number",
        Integer = "integer",
        Boolean = "boolean",
        Enum = "enum",
        Object = "object",
        Array = "array",
    }
}

impl TypeName {
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
}

#[cfg(test)]
pub(crate) mod tests;
