//! Property tests for what providers (and users' own endpoints) send back, which is untrusted
//! bytes: the SSE reader, the mapping of streamed chunks and whole answers, and error bodies.
//! Whatever arrives, nothing panics, nothing grows past its limit, the way bytes are split into
//! chunks changes nothing, and no error message carries the key.

use futures_util::StreamExt;
use proptest::prelude::*;
use serde_json::Value;

use super::http::BodyLimits;
use super::sse::{SseEvent, events_from, is_done};
use super::{ProviderError, Usage, anthropic, openai};

const LIMITS: BodyLimits = BodyLimits {
    max_output_bytes: 2048,
};
const SECRET: &str = "sk-untrusted-secret-0123456789";

/// Bytes that look like an event stream often enough to reach every state of the parser, with
/// invalid UTF-8, split multi-byte characters, CR/LF variants and the key mixed in.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"event: message_delta\n".to_vec()),
        Just(b": keep-alive\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"[DONE]".to_vec()),
        Just(br#"{"choices":[{"delta":{"content":"hi"}}]}"#.to_vec()),
        Just("é€😀".as_bytes().to_vec()),
        Just(vec![0xff, 0xfe]),
        Just(vec![0xe2, 0x82]),
        Just(SECRET.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..40),
        "[a-z {}\":,]{0,300}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

/// `bytes` cut at `cuts` (positions taken modulo the length).
fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    if bytes.is_empty() {
        return vec![Vec::new()];
    }
    let mut at: Vec<usize> = cuts.iter().map(|c| c % bytes.len()).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

fn read(chunks: Vec<Vec<u8>>) -> Vec<Result<SseEvent, String>> {
    let stream = futures_util::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let events: Vec<Result<SseEvent, ProviderError>> =
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(events_from(stream, LIMITS).collect());
    events
        .into_iter()
        .map(|e| e.map_err(|e| e.class().to_owned()))
        .collect()
}

/// JSON of any shape, with the keys providers use, so mapping code meets near-misses of every
/// field: wrong types, nulls, huge numbers, missing parts.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        Just(Value::from(SECRET)),
        ".{0,20}".prop_map(Value::from),
        prop::sample::select(vec![
            "message_start",
            "content_block_delta",
            "message_delta",
            "message_stop",
            "error",
            "text_delta",
            "input_json_delta",
            "ping",
            "stop",
            "tool_use",
            "text",
        ])
        .prop_map(Value::from),
    ];
    let keys = prop::sample::select(vec![
        "choices",
        "delta",
        "content",
        "refusal",
        "finish_reason",
        "usage",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "message",
        "model",
        "type",
        "text",
        "index",
        "input_tokens",
        "output_tokens",
        "partial_json",
        "stop_reason",
        "error",
        "input",
    ]);
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

fn no_secret(e: &ProviderError) -> bool {
    !e.to_string().contains(SECRET) && !e.explain().contains(SECRET)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Any bytes, cut anywhere: the reader ends, every event is within the limits, nothing
    /// follows an error or `[DONE]`, and a stream the reader accepts reads the same however
    /// its chunks were cut. (A refused stream is refused however it is cut, unless the cut let
    /// it complete first; how many events came before the refusal depends on the cut, since
    /// the guard refuses whole chunks.)
    #[test]
    fn the_sse_reader_reads_the_same_events_however_the_bytes_are_cut(
        bytes in stream_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = read(vec![bytes.clone()]);
        let cut = read(split(&bytes, &cuts));
        for events in [&whole, &cut] {
            for event in events.iter().flatten() {
                prop_assert!(event.data.len() <= LIMITS.max_event_bytes());
            }
            let stop = events
                .iter()
                .position(|e| e.is_err() || e.as_ref().is_ok_and(is_done));
            if let Some(stop) = stop {
                prop_assert_eq!(stop + 1, events.len(), "{:?}", events);
            }
        }
        if whole.iter().all(Result::is_ok) {
            prop_assert_eq!(&whole, &cut);
        } else {
            // Refused too — or, when the cut let `[DONE]` through before the chunk that the
            // guard refused whole, complete before the bad bytes.
            prop_assert!(
                cut.last().is_some_and(|e| e.as_ref().is_err() || e.as_ref().is_ok_and(is_done)),
                "{:?} vs {:?}", whole, cut
            );
        }
    }

    /// OpenAI's streamed chunks and whole answers: any JSON maps to events or an error, never
    /// a panic, and no error carries the key.
    #[test]
    fn openai_mapping_takes_any_json(v in json()) {
        for event in openai::chunk_events(v.clone()) {
            if let Err(e) = event {
                prop_assert!(no_secret(&e));
            }
        }
        if let Ok(wire) = serde_json::from_value::<openai::WireResponse>(v)
            && let Err(e) = openai::answer(wire)
        {
            prop_assert!(no_secret(&e));
        }
    }

    /// Anthropic's events and whole answers, likewise; usage never goes negative.
    #[test]
    fn anthropic_mapping_takes_any_json(v in json()) {
        let mut usage = Usage::default();
        for event in anthropic::event(&v, &mut usage, SECRET) {
            if let Err(e) = event {
                prop_assert!(no_secret(&e), "{}", e);
            }
        }
        prop_assert!(usage.prompt_tokens >= 0 && usage.completion_tokens >= 0);
        if let Ok(wire) = serde_json::from_value::<anthropic::WireResponse>(v) {
            let _ = anthropic::answer(wire);
        }
    }

    /// Error bodies: any bytes are summarised in a few hundred characters, without the key.
    #[test]
    fn error_bodies_are_summarised_without_the_key(
        body in prop_oneof![
            stream_bytes(),
            json().prop_map(|v| serde_json::json!({ "error": v }).to_string().into_bytes()),
            json().prop_map(|v| serde_json::json!({ "error": { "message": v, "type": v } }).to_string().into_bytes()),
            ".{0,40}".prop_map(|m| serde_json::json!({ "error": { "message": format!("{m}{SECRET}{m}") } }).to_string().into_bytes()),
        ],
    ) {
        let (kind, message) = super::error::summarise_error_body(&body, SECRET);
        prop_assert!(!message.contains(SECRET), "{}", message);
        prop_assert!(message.chars().count() <= 500, "{}", message.len());
        if let Some(kind) = kind {
            prop_assert!(!kind.contains(SECRET) && kind.chars().count() <= 60);
        }
    }
}
