//! Schema text as a user typed it: the shape checks (size, depth, JSON, an object) that the browser
//! and the server apply alike, so both refuse the same texts with the same messages.

use serde_json::Value;

/// Largest schema text accepted, in bytes.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Deepest nesting of arrays/objects accepted in a schema.
pub const MAX_SCHEMA_DEPTH: usize = 32;

/// Parses the text of an optional schema field: blank means "no schema".
pub fn parse_schema_text(text: &str) -> Result<Option<Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(format!(
            "schema is too large ({} KiB; the limit is {} KiB)",
            text.len().div_ceil(1024),
            MAX_SCHEMA_BYTES / 1024
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    check_schema_shape(&value)?;
    Ok(Some(value))
}

/// The shape rules of a schema already parsed (an object, nested at most [`MAX_SCHEMA_DEPTH`]
/// levels); its size is the caller's to check against [`MAX_SCHEMA_BYTES`].
pub fn check_schema_shape(value: &Value) -> Result<(), String> {
    if !value.is_object() {
        return Err("a schema must be a JSON object, like {\"type\": \"object\"}".to_owned());
    }
    if depth(value) > MAX_SCHEMA_DEPTH {
        return Err(format!(
            "schema is nested too deeply (the limit is {MAX_SCHEMA_DEPTH} levels)"
        ));
    }
    Ok(())
}

/// Nesting depth of arrays and objects (a scalar is 0, `{}` is 1).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The `"type"` a schema declares, when it declares exactly one.
pub fn declared_type(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blank_means_no_schema() {
        assert_eq!(parse_schema_text("  \n"), Ok(None));
    }

    #[test]
    fn refuses_non_json_non_object_deep_and_large() {
        assert!(
            parse_schema_text("{")
                .unwrap_err()
                .starts_with("not valid JSON")
        );
        assert!(
            parse_schema_text("[1]")
                .unwrap_err()
                .contains("JSON object")
        );
        let deep = format!(
            "{}{}",
            "{\"a\":".repeat(40),
            "1".to_owned() + &"}".repeat(40)
        );
        assert!(
            parse_schema_text(&deep)
                .unwrap_err()
                .contains("nested too deeply")
        );
        let large = format!("{{\"description\": \"{}\"}}", "x".repeat(MAX_SCHEMA_BYTES));
        assert!(parse_schema_text(&large).unwrap_err().contains("too large"));
    }

    #[test]
    fn accepts_an_object_schema() {
        let v = parse_schema_text(r#"{"type":"object"}"#).unwrap();
        assert_eq!(v, Some(json!({"type": "object"})));
        assert_eq!(declared_type(&json!({"type": "string"})), Some("string"));
        assert_eq!(depth(&json!({"a": [1, {"b": 2}]})), 3);
    }
}
