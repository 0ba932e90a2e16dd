//! Agent input/output contracts as JSON Schema.
//!
//! The shared part checks the *shape* of a schema a user typed (size, depth, JSON, an object) so the
//! browser and the server refuse the same texts with the same messages. The server part compiles a
//! schema with the `jsonschema` crate — with a retriever that refuses every external `$ref`, so a
//! user's schema can never make the server fetch anything — and validates instances, giving one
//! message per failing location.

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
    if !value.is_object() {
        return Err("a schema must be a JSON object, like {\"type\": \"object\"}".to_owned());
    }
    if depth(&value) > MAX_SCHEMA_DEPTH {
        return Err(format!(
            "schema is nested too deeply (the limit is {MAX_SCHEMA_DEPTH} levels)"
        ));
    }
    Ok(Some(value))
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

#[cfg(feature = "server")]
pub use server::*;

#[cfg(feature = "server")]
mod server {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::validation::FieldError;

    /// Refuses every external reference: schemas are self-contained.
    struct NoRemoteRefs;

    impl jsonschema::Retrieve for NoRemoteRefs {
        fn retrieve(
            &self,
            uri: &jsonschema::Uri<String>,
        ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
            Err(format!("external $ref {uri} is not allowed; define it under $defs").into())
        }
    }

    /// A compiled schema.
    pub struct CompiledSchema(jsonschema::Validator);

    type CacheKey = (String, i64, &'static str);
    type CacheMap = HashMap<CacheKey, Arc<CompiledSchema>>;

    /// Compiled schemas of agent versions, so a schema is compiled once per version rather than
    /// once per run. A version never changes, so entries never go stale; the cache is cleared
    /// when it reaches [`SchemaCache::CAPACITY`] entries.
    #[derive(Clone, Debug, Default)]
    pub struct SchemaCache(Arc<Mutex<CacheMap>>);

    impl SchemaCache {
        pub const CAPACITY: usize = 1024;

        /// The compiled `which` schema ("input"/"output") of version `version` of agent
        /// `agent_id`, compiling `schema` on first use.
        pub fn get(
            &self,
            agent_id: &str,
            version: i64,
            which: &'static str,
            schema: &Value,
        ) -> Result<Arc<CompiledSchema>, String> {
            let key = (agent_id.to_owned(), version, which);
            if let Some(found) = self.0.lock().ok().and_then(|m| m.get(&key).cloned()) {
                return Ok(found);
            }
            let compiled = Arc::new(compile(schema)?);
            if let Ok(mut map) = self.0.lock() {
                if map.len() >= Self::CAPACITY {
                    map.clear();
                }
                map.insert(key, compiled.clone());
            }
            Ok(compiled)
        }

        pub fn len(&self) -> usize {
            self.0.lock().map(|m| m.len()).unwrap_or(0)
        }

        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    impl std::fmt::Debug for CompiledSchema {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("CompiledSchema")
        }
    }

    /// Compiles `schema`, refusing external `$ref`s; the error is a user-facing message.
    pub fn compile(schema: &Value) -> Result<CompiledSchema, String> {
        jsonschema::options()
            .with_retriever(NoRemoteRefs)
            .build(schema)
            .map(CompiledSchema)
            .map_err(|e| format!("not a valid JSON Schema: {e}"))
    }

    impl CompiledSchema {
        /// Every violation of `instance`, as field errors: `field` is the JSON pointer of the
        /// failing location (`/` for the root), `message` what is wrong there.
        pub fn errors(&self, instance: &Value) -> Vec<FieldError> {
            self.0
                .iter_errors(instance)
                .take(50)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    FieldError::new(
                        if path.is_empty() {
                            "/".to_owned()
                        } else {
                            path
                        },
                        e.to_string(),
                    )
                })
                .collect()
        }

        pub fn is_valid(&self, instance: &Value) -> bool {
            self.0.is_valid(instance)
        }
    }
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

    #[cfg(feature = "server")]
    #[test]
    fn compile_refuses_remote_refs_and_reports_paths() {
        let err = compile(&json!({"$ref": "https://example.com/s.json"})).unwrap_err();
        assert!(err.contains("not a valid JSON Schema"), "{err}");
        assert!(compile(&json!({"type": 12})).is_err());
        let s = compile(&json!({
            "type": "object",
            "properties": {"age": {"type": "integer", "minimum": 0}},
            "required": ["age"]
        }))
        .unwrap();
        assert!(s.is_valid(&json!({"age": 3})));
        let errs = s.errors(&json!({"age": -1}));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "/age");
        let errs = s.errors(&json!({}));
        assert_eq!(errs[0].field, "/");
        assert!(errs[0].message.contains("age"), "{}", errs[0].message);
    }

    #[cfg(feature = "server")]
    #[test]
    fn cache_compiles_once_per_version() {
        let cache = SchemaCache::default();
        let a = cache
            .get("agent", 1, "input", &json!({"type": "string"}))
            .unwrap();
        // Same version: the cached schema, even if asked with another value.
        let b = cache
            .get("agent", 1, "input", &json!({"type": "integer"}))
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        let c = cache
            .get("agent", 2, "input", &json!({"type": "integer"}))
            .unwrap();
        assert!(c.is_valid(&json!(3)) && !c.is_valid(&json!("x")));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("agent", 3, "input", &json!({"type": 1})).is_err());
        assert_eq!(cache.len(), 2);
    }
}
