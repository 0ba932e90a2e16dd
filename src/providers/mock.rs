//! The mock provider: answers without a network call and without a key, deterministically for a
//! given agent and input, so a new user sees the whole product work before adding a key. Its output
//! is valid against the agent's output schema when there is one; token counts are estimates (about
//! four characters a token).
//!
//! The generator is shared (the browser draws example inputs with it) and bounded: at most
//! [`MAX_MOCK_VALUES`] values, [`MAX_MOCK_DEPTH`] levels, and a byte budget — a contract whose
//! reply would exceed the run output cap ends as `output_too_large` instead of filling memory. On
//! the server, [`MockProvider`] answers through the same `complete`/`stream` calls as a real
//! provider (generation on the bounded CPU pool, then the reply streamed in pieces over a
//! realistic latency), so a mock run takes the live path through the retry loop.

use serde_json::{Map, Value, json};

use super::estimate_tokens;

/// What the mock provider answers.
#[derive(Clone, Debug, PartialEq)]
pub struct MockReply {
    /// JSON when the agent has an output schema, otherwise text.
    pub output: MockOutput,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// How long a real call of this size might take; the executor waits this long.
    pub simulated_latency_ms: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum MockOutput {
    Json(Value),
    Text(String),
}

impl MockOutput {
    /// The output as stored and shown (JSON pretty-printed).
    pub fn render(&self) -> String {
        match self {
            MockOutput::Json(v) => serde_json::to_string_pretty(v).unwrap_or_default(),
            MockOutput::Text(t) => t.clone(),
        }
    }
}

/// Runs the mock provider: `system_prompt` and `user_message` are what a real provider would get.
pub fn mock_reply(
    model: &str,
    system_prompt: &str,
    user_message: &str,
    output_schema: Option<&Value>,
) -> MockReply {
    let unbounded = mock_reply_within(
        model,
        system_prompt,
        user_message,
        output_schema,
        usize::MAX,
    );
    unbounded.unwrap_or_else(|_| MockReply {
        output: MockOutput::Text(String::new()),
        prompt_tokens: 0,
        completion_tokens: 0,
        simulated_latency_ms: 0,
    })
}

/// The rendered reply would be larger than the byte budget given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLarge;

/// [`mock_reply`] with the rendered output at most `max_bytes` long.
pub fn mock_reply_within(
    model: &str,
    system_prompt: &str,
    user_message: &str,
    output_schema: Option<&Value>,
    max_bytes: usize,
) -> Result<MockReply, TooLarge> {
    let seed = fnv1a(user_message.as_bytes()) ^ fnv1a(system_prompt.as_bytes()).rotate_left(17);
    let output = match output_schema {
        Some(schema) => MockOutput::Json(mock_value_within(schema, seed, max_bytes)?),
        None => MockOutput::Text(mock_text(model, user_message, seed)),
    };
    let rendered = output.render();
    if rendered.len() > max_bytes {
        return Err(TooLarge);
    }
    let prompt_tokens =
        estimate_tokens(system_prompt).saturating_add(estimate_tokens(user_message));
    let completion_tokens = estimate_tokens(&rendered).max(1);
    let simulated_latency_ms = (80 + 4 * u64::try_from(completion_tokens).unwrap_or(0)).min(1_200);
    Ok(MockReply {
        output,
        prompt_tokens,
        completion_tokens,
        simulated_latency_ms,
    })
}

const WORDS: [&str; 16] = [
    "agent",
    "galaxy",
    "signal",
    "orbit",
    "vector",
    "prompt",
    "token",
    "answer",
    "model",
    "schema",
    "stream",
    "budget",
    "latency",
    "record",
    "workspace",
    "insight",
];

fn mock_text(model: &str, user_message: &str, seed: u64) -> String {
    let words: Vec<&str> = (0..6)
        .map(|i| WORDS[usize::try_from(seed.rotate_left(i * 7) % 16).unwrap_or(0)])
        .collect();
    let chars = user_message.chars().count();
    format!(
        "Mock reply from {model} to a {chars}-character message: {}. \
         Switch to live mode to call the real provider.",
        words.join(" ")
    )
}

/// Deterministic 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const MAX_MOCK_DEPTH: usize = 12;

/// A value valid against `schema` for the keywords the mock understands (type, const, enum,
/// properties/required, items/minItems/maxItems, minimum/maximum and their exclusive forms,
/// multipleOf, minLength/maxLength, common formats, local `$ref`, anyOf/oneOf/allOf first branch).
/// The run validates the result like any provider's output: a schema the mock cannot satisfy
/// gives an `output_invalid` run, not a wrong success. Generation is bounded: at most
/// [`MAX_MOCK_VALUES`] values, [`MAX_MOCK_DEPTH`] levels and [`EXAMPLE_BYTES`] of JSON, so no
/// schema can make it exhaust memory or time.
pub fn mock_value(root: &Value, schema: &Value, seed: u64, depth: usize) -> Value {
    let mut budget = Budget::new(EXAMPLE_BYTES);
    generate(root, schema, seed, depth, &mut budget)
}

/// A value valid against `schema` whose JSON text is at most `max_bytes` long, or [`TooLarge`]
/// as soon as the generator knows it cannot be (long before it would be built).
pub fn mock_value_within(schema: &Value, seed: u64, max_bytes: usize) -> Result<Value, TooLarge> {
    let mut budget = Budget::new(max_bytes);
    let value = generate(schema, schema, seed, 0, &mut budget);
    if budget.exceeded {
        Err(TooLarge)
    } else {
        Ok(value)
    }
}

/// Most values one mock reply holds (strings, numbers, items… all count).
pub const MAX_MOCK_VALUES: usize = 10_000;
/// Byte budget of an example value drawn for a form.
pub const EXAMPLE_BYTES: usize = 256 * 1024;

/// What generation may still spend: values and bytes of JSON text (a lower bound of the
/// rendered size; the rendered reply is checked against the cap once more).
struct Budget {
    values: usize,
    bytes: usize,
    exceeded: bool,
}

impl Budget {
    fn new(bytes: usize) -> Budget {
        Budget {
            values: MAX_MOCK_VALUES,
            bytes,
            exceeded: false,
        }
    }

    /// Takes `n` bytes; false (and marked exceeded) when they are not there.
    fn spend(&mut self, n: usize) -> bool {
        match self.bytes.checked_sub(n) {
            Some(rest) => {
                self.bytes = rest;
                true
            }
            None => {
                self.bytes = 0;
                self.exceeded = true;
                false
            }
        }
    }
}

fn generate(root: &Value, schema: &Value, seed: u64, depth: usize, budget: &mut Budget) -> Value {
    if depth > MAX_MOCK_DEPTH || budget.values == 0 || budget.exceeded {
        return Value::Null;
    }
    budget.values -= 1;
    generate_one(root, schema, seed, depth, budget)
}

/// Bytes of `v` as JSON text, counted without building the text.
fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    match serde_json::to_writer(&mut n, v) {
        Ok(()) => n.0,
        Err(_) => usize::MAX,
    }
}

/// `v`, paid for whole (a scalar, or a value taken from the schema as it is); `Null` when the
/// budget cannot pay.
fn paid(budget: &mut Budget, v: &Value) -> Value {
    if budget.spend(json_len(v)) {
        v.clone()
    } else {
        Value::Null
    }
}

fn generate_one(
    root: &Value,
    schema: &Value,
    seed: u64,
    depth: usize,
    budget: &mut Budget,
) -> Value {
    // `$ref` and combinators recurse here directly: the depth limit also ends `$ref` cycles.
    if depth > MAX_MOCK_DEPTH {
        return Value::Null;
    }
    let Some(obj) = schema.as_object() else {
        return Value::Null;
    };
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix('#'))
        .and_then(|p| root.pointer(p))
    {
        return generate_one(root, target, seed, depth + 1, budget);
    }
    // Values taken from the schema pay their whole size before they are copied.
    if let Some(c) = obj.get("const") {
        return paid(budget, c);
    }
    if let Some(options) = obj
        .get("enum")
        .and_then(Value::as_array)
        .filter(|o| !o.is_empty())
    {
        let i = usize::try_from(seed % options.len() as u64).unwrap_or(0);
        return paid(budget, &options[i]);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(first) = obj
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return generate_one(root, first, seed, depth + 1, budget);
        }
    }
    let ty = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if obj.contains_key("properties") => "object",
        _ if obj.contains_key("items") => "array",
        _ => "string",
    };
    match ty {
        "object" => {
            let mut out = Map::new();
            if !budget.spend(2) {
                return Value::Object(out);
            }
            if let Some(props) = obj.get("properties").and_then(Value::as_object) {
                for (i, (name, prop)) in props.iter().enumerate() {
                    // `"name":` and a comma.
                    if !budget.spend(name.len() + 4) {
                        break;
                    }
                    let s = seed.rotate_left(u32::try_from(i % 64).unwrap_or(0))
                        ^ fnv1a(name.as_bytes());
                    out.insert(name.clone(), generate(root, prop, s, depth + 1, budget));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let max = obj
                .get("maxItems")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX);
            // At least `min`, else one or two items when allowed; within the budget.
            let n = min
                .max((1 + seed % 2).min(max))
                .min(u64::try_from(budget.values).unwrap_or(u64::MAX));
            if !budget.spend(2) {
                return Value::Array(Vec::new());
            }
            let item_schema = obj.get("items").cloned().unwrap_or_else(|| json!({}));
            Value::Array(
                (0..n)
                    .map_while(|i| {
                        (budget.values > 0 && !budget.exceeded && budget.spend(1)).then(|| {
                            generate(root, &item_schema, seed.wrapping_add(i), depth + 1, budget)
                        })
                    })
                    .collect(),
            )
        }
        "integer" => paid(budget, &json!(mock_number(obj, seed, true) as i64)),
        "number" => paid(budget, &json!(mock_number(obj, seed, false))),
        "boolean" => paid(budget, &json!(seed.is_multiple_of(2))),
        "null" => paid(budget, &Value::Null),
        _ => match mock_string(obj, seed, budget.bytes) {
            Some(s) => {
                if budget.spend(s.len() + 2) {
                    Value::String(s)
                } else {
                    Value::Null
                }
            }
            None => {
                budget.exceeded = true;
                Value::Null
            }
        },
    }
}

fn mock_number(obj: &Map<String, Value>, seed: u64, integer: bool) -> f64 {
    let get = |k: &str| obj.get(k).and_then(Value::as_f64);
    let step = if integer { 1.0 } else { 0.5 };
    let mut lo = get("minimum").unwrap_or(f64::NEG_INFINITY);
    if let Some(x) = get("exclusiveMinimum") {
        lo = lo.max(x + step);
    }
    let mut hi = get("maximum").unwrap_or(f64::INFINITY);
    if let Some(x) = get("exclusiveMaximum") {
        hi = hi.min(x - step);
    }
    let base = (seed % 100) as f64;
    let mut v = match (lo.is_finite(), hi.is_finite()) {
        (true, true) => lo + (hi - lo) * (base / 100.0),
        (true, false) => lo + base,
        (false, true) => hi - base,
        (false, false) => base,
    };
    if integer {
        v = v.ceil();
        if v > hi {
            v = hi.floor();
        }
    }
    if let Some(m) = get("multipleOf").filter(|m| *m > 0.0) {
        let k = (v / m).ceil();
        v = k * m;
        if v > hi {
            v = (k - 1.0) * m;
        }
    }
    v
}

/// A string for `obj`, or `None` when its minimum length alone exceeds `room` bytes.
fn mock_string(obj: &Map<String, Value>, seed: u64, room: usize) -> Option<String> {
    let format = obj.get("format").and_then(Value::as_str);
    let mut s = match format {
        Some("date-time") => "2026-01-01T00:00:00Z".to_owned(),
        Some("date") => "2026-01-01".to_owned(),
        Some("time") => "12:00:00Z".to_owned(),
        Some("email") => "someone@example.com".to_owned(),
        Some("uri") | Some("url") => "https://example.com/".to_owned(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_owned(),
        _ => WORDS[usize::try_from(seed % 16).unwrap_or(0)].to_owned(),
    };
    let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0);
    if usize::try_from(min).map_or(true, |m| m > room) {
        return None;
    }
    let max = obj.get("maxLength").and_then(Value::as_u64);
    #[cfg(feature = "server")]
    if let Some(found) = obj
        .get("pattern")
        .and_then(Value::as_str)
        .and_then(|p| matching_string(p, min, max, seed))
    {
        return Some(found);
    }
    let min = usize::try_from(min).unwrap_or(0);
    let have = s.chars().count();
    if have < min {
        s.extend(std::iter::repeat_n('x', min - have));
    }
    if let Some(max) = max.and_then(|m| usize::try_from(m).ok()) {
        s = s.chars().take(max).collect();
    }
    Some(s)
}

/// Longest shortest-match of a pattern the mock draws strings from.
#[cfg(feature = "server")]
const MAX_DRAWN_CHARS: usize = 256;

/// A string matching `pattern` (searched, as JSON Schema does) with a length in `min..=max`,
/// drawn deterministically from `seed`; `None` when 64 draws find none.
#[cfg(feature = "server")]
fn matching_string(pattern: &str, min: u64, max: Option<u64>, seed: u64) -> Option<String> {
    use rand::SeedableRng;
    use rand::distr::Distribution;

    // The validators read \d and \w as ASCII and `.` as ECMA-262 does; so does the generator.
    let ascii = crate::contract::ecma_dot(pattern)
        .replace("\\\\", "\u{0}")
        .replace("\\d", "[0-9]")
        .replace("\\D", "[^0-9]")
        .replace("\\w", "[A-Za-z0-9_]")
        .replace("\\W", "[^A-Za-z0-9_]")
        .replace('\u{0}', "\\\\");
    let hir = regex_syntax::Parser::new().parse(&ascii).ok()?;
    // A pattern whose shortest match is long (`(a{1000}){1000}`), or longer than `maxLength`
    // allows, is not drawn at all: 64 draws of it would be work no budget pays for.
    let shortest = hir.properties().minimum_len()?;
    if shortest > MAX_DRAWN_CHARS || max.is_some_and(|m| shortest as u64 > m) {
        return None;
    }
    let check = crate::contract::browser_regex(pattern).ok()?;
    let generator = rand_regex::Regex::with_hir(without_anchors(hir), 8).ok()?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..64).find_map(|_| {
        let s: String = generator.sample(&mut rng);
        let n = s.chars().count() as u64;
        (n >= min && max.is_none_or(|m| n <= m) && check.is_match(&s)).then_some(s)
    })
}

/// The pattern with anchors and boundaries made empty: the generator cannot place them, and a
/// string matching the rest whole also matches the anchored pattern (checked after drawing).
#[cfg(feature = "server")]
fn without_anchors(hir: regex_syntax::hir::Hir) -> regex_syntax::hir::Hir {
    use regex_syntax::hir::{Capture, Hir, HirKind, Repetition};
    match hir.into_kind() {
        HirKind::Look(_) => Hir::empty(),
        HirKind::Concat(parts) => Hir::concat(parts.into_iter().map(without_anchors).collect()),
        HirKind::Alternation(parts) => {
            Hir::alternation(parts.into_iter().map(without_anchors).collect())
        }
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(without_anchors(*r.sub)),
            ..r
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(without_anchors(*c.sub)),
            ..c
        }),
        HirKind::Empty => Hir::empty(),
        HirKind::Literal(l) => Hir::literal(l.0),
        HirKind::Class(c) => Hir::class(c),
    }
}

#[cfg(feature = "server")]
pub use server::MockProvider;

#[cfg(feature = "server")]
mod server {
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::{MockReply, mock_reply_within};
    use crate::cpu::CpuPool;
    use crate::providers::http::BodyLimits;
    use crate::providers::{
        ChatRequest, ChatResponse, EventStream, FinishReason, ProviderError, StreamEvent,
    };

    /// The mock behind [`crate::providers::Provider::Mock`].
    pub struct MockProvider {
        cpu: CpuPool,
        limits: BodyLimits,
    }

    /// Pieces a streamed mock reply arrives in.
    const PIECES: usize = 8;

    impl MockProvider {
        pub fn new(cpu: CpuPool, limits: BodyLimits) -> MockProvider {
            MockProvider { cpu, limits }
        }

        /// The reply, generated on the bounded CPU pool within the output cap.
        async fn reply(&self, request: &ChatRequest) -> Result<MockReply, ProviderError> {
            let (model, system, user, schema) = (
                request.model.clone(),
                request.system.clone(),
                request.user.clone(),
                request.output_schema.clone(),
            );
            let limit = self.limits.max_output_bytes;
            self.cpu
                .run(move || mock_reply_within(&model, &system, &user, schema.as_ref(), limit))
                .await
                .map_err(|e| ProviderError::Decode(format!("the mock reply failed: {e}")))?
                .map_err(|_| ProviderError::TooLarge { limit })
        }

        pub async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
            let reply = self.reply(request).await?;
            tokio::time::sleep(Duration::from_millis(reply.simulated_latency_ms)).await;
            Ok(ChatResponse {
                text: reply.output.render(),
                usage: None,
                finish_reason: Some(FinishReason::Stop),
                model: Some(request.model.clone()),
            })
        }

        /// The reply in [`PIECES`] pieces spread over its simulated latency.
        pub async fn stream(&self, request: &ChatRequest) -> Result<EventStream, ProviderError> {
            let reply = self.reply(request).await?;
            let pause = Duration::from_millis(reply.simulated_latency_ms.div_ceil(PIECES as u64));
            let pieces = split_pieces(&reply.output.render(), PIECES);
            let deltas = futures_util::stream::iter(pieces).then(move |piece| async move {
                tokio::time::sleep(pause).await;
                Ok(StreamEvent::Delta(piece))
            });
            let finish = futures_util::stream::iter([
                Ok(StreamEvent::Finish(FinishReason::Stop)),
                Ok(StreamEvent::Done),
            ]);
            Ok(Box::pin(deltas.chain(finish)))
        }
    }

    /// Splits text into at most `n` pieces on character boundaries.
    fn split_pieces(text: &str, n: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        if chars.is_empty() {
            return Vec::new();
        }
        let size = chars.len().div_ceil(n.max(1));
        chars.chunks(size).map(|c| c.iter().collect()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "server")]
    mod generated {
        use proptest::prelude::*;

        use crate::contract::compile;
        use crate::contract::tests::strategies::node;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

            /// Mock output is valid against every output schema the editor can produce.
            #[test]
            fn mock_output_always_validates(model in node(false), seed in any::<u64>()) {
                let schema = model.to_schema();
                let value = super::super::mock_value(&schema, &schema, seed, 0);
                let server = compile(&schema).unwrap();
                prop_assert!(server.is_valid(&value), "schema {}\nvalue {}\n{:?}", schema, value, server.errors(&value));
                prop_assert!(model.is_valid(&value));
            }
        }
    }

    #[test]
    fn text_reply_is_deterministic_and_input_dependent() {
        let a = mock_reply("gpt-4o-mini", "be brief", "hello", None);
        let b = mock_reply("gpt-4o-mini", "be brief", "hello", None);
        let c = mock_reply("gpt-4o-mini", "be brief", "something else entirely", None);
        assert_eq!(a, b);
        assert_ne!(a.output, c.output);
        assert_eq!(a.prompt_tokens, 2 + 2);
        assert!(a.completion_tokens > 5);
        assert!(a.simulated_latency_ms >= 80 && a.simulated_latency_ms <= 1_200);
        assert!(a.output.render().starts_with("Mock reply from gpt-4o-mini"));
    }

    #[test]
    fn generation_is_bounded() {
        let nested = json!({"type": "array", "minItems": 10000,
            "items": {"type": "array", "minItems": 10000, "items": {"type": "string", "minLength": 5}}});
        let v = mock_value(&nested, &nested, 1, 0);
        let count = |v: &Value| -> usize {
            fn walk(v: &Value) -> usize {
                1 + match v {
                    Value::Array(a) => a.iter().map(walk).sum(),
                    Value::Object(o) => o.values().map(walk).sum(),
                    _ => 0,
                }
            }
            walk(v)
        };
        assert!(count(&v) <= MAX_MOCK_VALUES, "{}", count(&v));
        #[cfg(feature = "server")]
        {
            let huge = json!({"type": "string", "pattern": "^(a{1000}){1000}$"});
            let s = mock_value(&huge, &huge, 1, 0);
            assert!(
                s.as_str().unwrap().len() < 100,
                "not drawn from the pattern"
            );
        }
    }

    #[test]
    fn json_reply_follows_constraints() {
        let schema = json!({
            "type": "object",
            "properties": {
                "label": {"enum": ["spam", "ham"]},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "count": {"type": "integer", "exclusiveMinimum": 10, "multipleOf": 5},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 8}, "minItems": 2},
                "code": {"type": "string", "maxLength": 2},
                "ok": {"type": "boolean"},
                "when": {"type": "string", "format": "date-time"},
                "ref": {"$ref": "#/$defs/x"}
            },
            "$defs": {"x": {"type": "integer", "minimum": 3, "maximum": 3}},
            "required": ["label", "score"]
        });
        let reply = mock_reply("m", "", "in", Some(&schema));
        let MockOutput::Json(v) = reply.output else {
            panic!("expected JSON");
        };
        assert!(["spam", "ham"].contains(&v["label"].as_str().unwrap()));
        let score = v["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score));
        let count = v["count"].as_i64().unwrap();
        assert!(count > 10 && count % 5 == 0, "{count}");
        let tags = v["tags"].as_array().unwrap();
        assert_eq!(tags.len(), 2);
        assert!(tags.iter().all(|t| t.as_str().unwrap().len() >= 8));
        assert!(v["code"].as_str().unwrap().len() <= 2);
        assert!(v["ok"].is_boolean());
        assert_eq!(v["when"], "2026-01-01T00:00:00Z");
        assert_eq!(v["ref"], 3);
    }
}
