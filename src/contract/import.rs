//! A hand-written JSON Schema read back into the model, listing every part the model cannot show
//! instead of dropping it.

use serde_json::{Map, Number, Value};

use super::{
    ANNOTATIONS, DIALECT, Field, Imported, Kind, Node, TypeName, check_pattern, escape_pointer,
};

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
            // Kept only when it is what the keyword must be: a bad one would make the exported
            // schema fail to compile (`"$schema": null`, found by the import property test).
            let fits = match k.as_str() {
                "$schema" => v.as_str() == Some(DIALECT),
                "title" | "$comment" => v.is_string(),
                "deprecated" | "readOnly" | "writeOnly" => v.is_boolean(),
                "examples" => v.is_array(),
                _ => false,
            };
            if fits {
                annotations.insert(k.clone(), v.clone());
            } else if k == "$schema" {
                unsupported.push(format!("{here}: a $schema other than {DIALECT}"));
            } else if k == "$id" {
                // Ids move the base of references; the model has no references to move.
                unsupported.push(format!("{here}: $id"));
            } else {
                unsupported.push(format!("{here}: {k} of the wrong type"));
            }
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
