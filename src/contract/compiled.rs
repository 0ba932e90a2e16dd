//! Schemas compiled on the server by the `jsonschema` crate, and the cache that compiles each
//! agent version's schemas once.
//!
//! A user's schema can never make the server fetch anything (every external `$ref` is refused),
//! patterns follow the portable rule the browser applies ([`check_pattern`]) — so they never need
//! backtracking and `fancy-regex` hands them to its linear-time engine (with size and backtrack
//! limits as the backstop; `fancy-regex` reads `.` as the browser's `regex-lite` does, which the
//! agreement property test checks) — and validation messages are bounded: at most
//! [`MAX_ERRORS`] per instance, each at most [`MAX_MESSAGE_CHARS`] characters, and the instance
//! itself is never copied into a message (a 100 KiB string in the input stays out of it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{check_pattern, escape_pointer};
use crate::validation::FieldError;

/// Most violations reported for one instance.
pub const MAX_ERRORS: usize = 50;
/// Longest message (and field pointer) of one violation, in characters.
pub const MAX_MESSAGE_CHARS: usize = 300;
/// Largest compiled program and lazy-DFA cache of one pattern, in bytes.
const MAX_PATTERN_BYTES: usize = 1024 * 1024;
/// Most backtracking steps of one match (only patterns with look-around or back-references
/// backtrack, and the portable rule refuses both; this is the backstop).
const MAX_BACKTRACK: usize = 10_000;

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

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema")
    }
}

/// Compiles `schema`: patterns must follow the portable rule, external `$ref`s are refused; the
/// error is a user-facing message. CPU-bound on user data: callers run it on the bounded pool
/// ([`crate::cpu`]).
pub fn compile(schema: &Value) -> Result<CompiledSchema, String> {
    if let Some(problem) = pattern_problems(schema, "").into_iter().next() {
        return Err(problem);
    }
    jsonschema::options()
        .with_retriever(NoRemoteRefs)
        .with_pattern_options(
            jsonschema::PatternOptions::fancy_regex()
                .backtrack_limit(MAX_BACKTRACK)
                .size_limit(MAX_PATTERN_BYTES)
                .dfa_size_limit(MAX_PATTERN_BYTES),
        )
        .build(schema)
        .map(CompiledSchema)
        .map_err(|e| bounded(format!("not a valid JSON Schema: {}", e.masked())))
}

/// Every `pattern` and `patternProperties` key outside the portable rule, as `pointer: why`.
/// Data keywords (`const`, `enum`, `default`, `examples`) are not schemas and are skipped.
fn pattern_problems(schema: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let here = |at: &str| {
        if at.is_empty() {
            "/".to_owned()
        } else {
            at.to_owned()
        }
    };
    match schema {
        Value::Object(map) => {
            for (k, v) in map {
                let child = format!("{at}/{}", escape_pointer(k));
                match (k.as_str(), v) {
                    ("const" | "enum" | "default" | "examples", _) => {}
                    ("pattern", Value::String(p)) => {
                        if let Err(m) = check_pattern(p) {
                            out.push(format!("{}: {m}", here(at)));
                        }
                    }
                    ("patternProperties", Value::Object(props)) => {
                        for (p, sub) in props {
                            if let Err(m) = check_pattern(p) {
                                out.push(format!("{child}: {m}"));
                            }
                            out.extend(pattern_problems(
                                sub,
                                &format!("{child}/{}", escape_pointer(p)),
                            ));
                        }
                    }
                    _ => out.extend(pattern_problems(v, &child)),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.extend(pattern_problems(v, &format!("{at}/{i}")));
            }
        }
        _ => {}
    }
    out
}

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters.
fn bounded(text: String) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_MESSAGE_CHARS - 1).collect();
    cut.push('…');
    cut
}

impl CompiledSchema {
    /// Every violation of `instance` (at most [`MAX_ERRORS`]), as field errors: `field` is the
    /// JSON pointer of the failing location (`/` for the root), `message` what is wrong there,
    /// without the instance's value.
    pub fn errors(&self, instance: &Value) -> Vec<FieldError> {
        self.0
            .iter_errors(instance)
            .take(MAX_ERRORS)
            .map(|e| {
                let path = e.instance_path().to_string();
                FieldError::new(
                    if path.is_empty() {
                        "/".to_owned()
                    } else {
                        bounded(path)
                    },
                    bounded(e.masked().to_string()),
                )
            })
            .collect()
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.0.is_valid(instance)
    }
}

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
    /// `agent_id`, if it was compiled before.
    pub fn cached(
        &self,
        agent_id: &str,
        version: i64,
        which: &'static str,
    ) -> Option<Arc<CompiledSchema>> {
        let key = (agent_id.to_owned(), version, which);
        self.0.lock().ok().and_then(|m| m.get(&key).cloned())
    }

    /// The compiled schema, compiling `schema` on first use.
    pub fn get(
        &self,
        agent_id: &str,
        version: i64,
        which: &'static str,
        schema: &Value,
    ) -> Result<Arc<CompiledSchema>, String> {
        if let Some(found) = self.cached(agent_id, version, which) {
            return Ok(found);
        }
        let compiled = Arc::new(compile(schema)?);
        self.insert(agent_id, version, which, compiled.clone());
        Ok(compiled)
    }

    /// Keeps a schema compiled elsewhere (on the bounded pool).
    pub fn insert(
        &self,
        agent_id: &str,
        version: i64,
        which: &'static str,
        compiled: Arc<CompiledSchema>,
    ) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= Self::CAPACITY {
                map.clear();
            }
            map.insert((agent_id.to_owned(), version, which), compiled);
        }
    }

    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn patterns_follow_the_portable_rule_everywhere() {
        for schema in [
            json!({"type": "string", "pattern": "^(?=a)b$"}),
            json!({"type": "object", "properties": {"x": {"type": "string", "pattern": "\\s+"}}}),
            json!({"type": "object", "patternProperties": {"(a)\\1": {"type": "string"}}}),
            json!({"$defs": {"d": {"pattern": "\\bword"}}}),
        ] {
            let err = compile(&schema).unwrap_err();
            assert!(
                err.contains("browsers and the server") || err.contains("(?…)"),
                "{schema}: {err}"
            );
        }
        // A property named "pattern" and data keywords are not patterns.
        assert!(
            compile(
                &json!({"type": "object", "properties": {"pattern": {"type": "string"}},
                "default": {"pattern": "(?=x)"}})
            )
            .is_ok()
        );
        let ok = compile(&json!({"type": "string", "pattern": "^[a-z]+-[0-9]{2}$"})).unwrap();
        assert!(ok.is_valid(&json!("ab-12")) && !ok.is_valid(&json!("ab-1")));
    }

    #[test]
    fn messages_are_bounded_and_never_copy_the_instance() {
        let s = compile(&json!({
            "type": "array",
            "items": {"type": "string", "maxLength": 3, "pattern": "^[a-z]+$"}
        }))
        .unwrap();
        let huge = "X".repeat(100_000);
        let instance = json!(vec![huge.clone(); 200]);
        let errors = s.errors(&instance);
        assert_eq!(errors.len(), MAX_ERRORS);
        for e in &errors {
            assert!(
                e.message.chars().count() <= MAX_MESSAGE_CHARS,
                "{}",
                e.message
            );
            assert!(!e.message.contains("XXXX"), "{}", e.message);
        }
        let total: usize = errors.iter().map(|e| e.message.len() + e.field.len()).sum();
        assert!(total < 50 * 2 * MAX_MESSAGE_CHARS);
        // A long property name in a pointer is cut too.
        let strict = compile(
            &json!({"type": "object", "properties": {"k": {"type": "integer"}},
            "patternProperties": {"^k": {"type": "integer"}}}),
        )
        .unwrap();
        let key = format!("k{}", "y".repeat(5_000));
        let errs = strict.errors(&json!({ key: "not a number" }));
        assert!(errs[0].field.chars().count() <= MAX_MESSAGE_CHARS);
    }

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
        assert!(Arc::ptr_eq(&a, &b));
        let c = cache
            .get("agent", 2, "input", &json!({"type": "integer"}))
            .unwrap();
        assert!(c.is_valid(&json!(3)) && !c.is_valid(&json!("x")));
        assert_eq!(cache.len(), 2);
        assert!(cache.get("agent", 3, "input", &json!({"type": 1})).is_err());
        assert_eq!(cache.len(), 2);
    }
}
