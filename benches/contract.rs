//! Contract-check benchmark: the cost of validating a run's input, side by side in one run.
//!
//! * `compile + validate` — what a run paid before compiled schemas were cached: the schema is
//!   compiled by `jsonschema` on every run (the baseline).
//! * `cached validate` — the server now: the agent version's compiled schema from the cache.
//! * `browser model` — the browser's validator derived from the typed model (`Node::errors`),
//!   run natively here (in the browser it runs as WASM on each keystroke).
//!
//! Each is timed over valid and invalid inputs of a realistic contract (nested object, list of
//! objects, enum, pattern, limits). Prints a table; the numbers go to BENCHMARKS.md.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use galaxy_core::contract::import;
use galaxy_core::contract::{SchemaCache, compile};
use serde_json::{Value, json};

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 5, "maxLength": 2000},
            "tone": {"type": "string", "enum": ["formal", "casual", "brief"]},
            "order": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4,8}$"},
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "customer": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 80},
                    "tier": {"type": "string", "enum": ["free", "pro", "enterprise"]},
                    "since": {"type": "integer", "minimum": 2000}
                },
                "required": ["name"],
                "additionalProperties": false
            },
            "lines": {
                "type": "array",
                "maxItems": 50,
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string", "minLength": 1},
                        "qty": {"type": "integer", "minimum": 1},
                        "price": {"type": "number", "minimum": 0}
                    },
                    "required": ["sku", "qty"],
                    "additionalProperties": false
                }
            }
        },
        "required": ["question", "tone"],
        "additionalProperties": false
    })
}

fn inputs() -> Vec<Value> {
    let lines: Vec<Value> = (0..10)
        .map(|i| json!({"sku": format!("SKU-{i}"), "qty": i + 1, "price": 9.5}))
        .collect();
    vec![
        json!({"question": "Where is my order?", "tone": "casual", "order": "ABC-12345",
               "priority": 3, "customer": {"name": "Ann", "tier": "pro", "since": 2019},
               "lines": lines}),
        json!({"question": "Hi", "tone": "rude", "order": "abc", "priority": 9,
               "customer": {"tier": "gold", "extra": 1},
               "lines": [{"sku": "", "qty": 0}, {"qty": "2"}]}),
    ]
}

/// One validation path: input in, number of errors out.
type Check<'a> = Box<dyn Fn(&Value) -> usize + 'a>;

fn time(iters: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iters / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed() / iters
}

fn main() {
    let schema = schema();
    let inputs = inputs();
    let model = import(&schema);
    assert!(model.unsupported.is_empty());
    let model = model.node;
    let cache = SchemaCache::default();
    // The three must agree, or the comparison means nothing.
    for v in &inputs {
        let server = compile(&schema).unwrap().is_valid(v);
        assert_eq!(model.is_valid(v), server);
    }

    println!("Validating one run input (nested contract, 10 order lines), mean per input");
    println!("{:<44} {:>12} {:>12}", "path", "valid", "invalid");
    let rows: [(&str, Check); 3] = [
        (
            "compile + validate per run (baseline)",
            Box::new(|v| compile(&schema).unwrap().errors(v).len()),
        ),
        (
            "cached validate (server now)",
            Box::new(|v| {
                cache
                    .get("agent", 1, "input", &schema)
                    .unwrap()
                    .errors(v)
                    .len()
            }),
        ),
        (
            "browser model validator (Node::errors)",
            Box::new(|v| model.errors(v).len()),
        ),
    ];
    for (name, f) in &rows {
        let iters = if name.contains("baseline") {
            2_000
        } else {
            50_000
        };
        let t: Vec<Duration> = inputs
            .iter()
            .map(|v| {
                time(iters, || {
                    black_box(f(black_box(v)));
                })
            })
            .collect();
        println!("{name:<44} {:>12?} {:>12?}", t[0], t[1]);
    }
}
