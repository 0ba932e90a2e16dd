//! The smallest valid instance of a schema, in bytes of JSON text: a lower bound, so that an
//! output contract whose every valid reply is larger than the run output cap is refused when the
//! agent is saved (no run of it could ever succeed, and the mock would have to produce it).
//!
//! Reads the keywords that force size (`minLength`, `minItems`, `required`, `minProperties`,
//! `const`, `enum`, local `$ref`, `allOf`/`anyOf`/`oneOf`, `type`); anything else counts as the
//! smallest JSON value. Saturating arithmetic and a depth limit keep it cheap on any schema.

use serde_json::Value;

/// Deepest nesting (and `$ref` chain) followed; deeper parts count as the smallest value.
const MAX_DEPTH: usize = 64;

/// A lower bound on the length of the JSON text of every instance valid against `schema`.
pub fn min_instance_bytes(schema: &Value) -> u64 {
    min_bytes(schema, schema, 0)
}

fn text_len(v: &Value) -> u64 {
    serde_json::to_string(v).map_or(1, |s| s.len() as u64)
}

fn count(obj: &serde_json::Map<String, Value>, key: &str) -> u64 {
    obj.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn min_bytes(root: &Value, schema: &Value, depth: usize) -> u64 {
    let Some(obj) = schema.as_object() else {
        return 1;
    };
    if depth > MAX_DEPTH {
        return 1;
    }
    let deeper = |s: &Value| min_bytes(root, s, depth + 1);
    if let Some(c) = obj.get("const") {
        return text_len(c);
    }
    if let Some(options) = obj.get("enum").and_then(Value::as_array) {
        return options.iter().map(text_len).min().unwrap_or(1);
    }
    let mut floor = 1u64;
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
    {
        floor = floor.max(deeper(target));
    }
    if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
        floor = floor.max(all.iter().map(deeper).max().unwrap_or(1));
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(any) = obj.get(key).and_then(Value::as_array) {
            floor = floor.max(any.iter().map(deeper).min().unwrap_or(1));
        }
    }
    let types: Vec<&str> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.is_empty() {
        return floor;
    }
    let own = types
        .iter()
        .map(|t| match *t {
            // Quotes plus at least one byte per character.
            "string" => 2u64.saturating_add(count(obj, "minLength")),
            "array" => {
                let n = count(obj, "minItems");
                let item = obj.get("items").map_or(1, deeper);
                // Brackets, items and the commas between them.
                2u64.saturating_add(n.saturating_mul(item.saturating_add(1)))
                    .saturating_sub(u64::from(n > 0))
            }
            "object" => {
                let props = obj.get("properties").and_then(Value::as_object);
                let required: Vec<&str> = obj
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                // `"name":value,` for each required property.
                let by_required = required.iter().fold(0u64, |sum, name| {
                    let value = props.and_then(|p| p.get(*name)).map_or(1, deeper);
                    sum.saturating_add(name.len() as u64 + 4)
                        .saturating_add(value)
                });
                // `"":0,` is the smallest member.
                let by_count = count(obj, "minProperties").saturating_mul(5);
                2u64.saturating_add(by_required.max(by_count))
                    .saturating_sub(u64::from(!required.is_empty() || by_count > 0))
            }
            "boolean" | "null" => 4,
            _ => 1,
        })
        .min()
        .unwrap_or(1);
    floor.max(own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exact(schema: Value, smallest: Value) {
        assert_eq!(
            min_instance_bytes(&schema),
            serde_json::to_string(&smallest).unwrap().len() as u64,
            "{schema}"
        );
    }

    #[test]
    fn lower_bounds_match_the_smallest_instances() {
        exact(json!({"type": "string", "minLength": 3}), json!("abc"));
        exact(json!({"type": "integer"}), json!(0));
        exact(json!({"type": "boolean"}), json!(true));
        exact(
            json!({"type": "array", "minItems": 3, "items": {"type": "string", "minLength": 1}}),
            json!(["a", "b", "c"]),
        );
        exact(json!({"type": "array"}), json!([]));
        exact(
            json!({"type": "object", "properties": {"ab": {"type": "string"}, "c": {"type": "integer"}},
                   "required": ["ab", "c"]}),
            json!({"ab": "", "c": 0}),
        );
        exact(json!({"type": "object"}), json!({}));
        exact(json!({"enum": ["long one", "s"]}), json!("s"));
        exact(
            json!({"$defs": {"w": {"type": "string", "minLength": 4}}, "$ref": "#/$defs/w"}),
            json!("wxyz"),
        );
        exact(
            json!({"anyOf": [{"type": "string", "minLength": 9}, {"type": "integer"}]}),
            json!(0),
        );
    }

    #[test]
    fn the_300_mb_contract_is_seen_as_huge_and_nothing_overflows() {
        let huge = json!({"type": "array", "minItems": 10_000,
            "items": {"type": "string", "minLength": 10_000}});
        assert!(min_instance_bytes(&huge) > 100_000_000);
        let absurd = json!({"type": "array", "minItems": u64::MAX,
            "items": {"type": "array", "minItems": u64::MAX, "items": {"type": "string", "minLength": u64::MAX}}});
        assert!(min_instance_bytes(&absurd) >= u64::MAX - 1, "saturated");
        let cyclic = json!({"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"});
        assert_eq!(min_instance_bytes(&cyclic), 1);
    }
}
