//! Anthropic Messages. Structured output is a forced tool whose `input_schema` is the agent's
//! output schema; its `input` is the answer. Streaming reads `message_start` (input tokens),
//! `content_block_delta` (`text_delta` / `input_json_delta`), `message_delta` (output tokens and
//! stop reason) and `error` events. Wire types are private and follow Anthropic's documented shapes.

use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::check_status;
use super::http::{BodyLimits, read_json};
use super::sse;
use super::{
    ChatRequest, ChatResponse, Endpoint, EventStream, FinishReason, ProviderError, StreamEvent,
    Usage,
};

/// The API version Galaxy speaks.
pub const API_VERSION: &str = "2023-06-01";
const TOOL_NAME: &str = "output";

pub struct Anthropic {
    endpoint: Endpoint,
    limits: BodyLimits,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    max_tokens: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    system: &'a str,
    messages: Vec<WireMessage<'a>>,
    temperature: f64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Deserialize)]
pub(crate) struct WireResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Vec<WireBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        text: String,
    },
    ToolUse {
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<i64>,
    #[serde(default)]
    output_tokens: Option<i64>,
}

impl Anthropic {
    pub fn new(endpoint: Endpoint, limits: BodyLimits) -> Anthropic {
        Anthropic { endpoint, limits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.endpoint.base_url.trim_end_matches('/'))
    }

    fn body(&self, req: &ChatRequest, stream: bool) -> Value {
        let (tools, tool_choice) = match &req.output_schema {
            Some(schema) => (
                Some(json!([{
                    "name": TOOL_NAME,
                    "description": "Give the answer as this structured output.",
                    "input_schema": schema,
                }])),
                Some(json!({"type": "tool", "name": TOOL_NAME})),
            ),
            None => (None, None),
        };
        serde_json::to_value(WireRequest {
            model: &req.model,
            max_tokens: req.max_tokens,
            system: &req.system,
            messages: req
                .history
                .iter()
                .map(|turn| WireMessage {
                    role: turn.speaker.role(),
                    content: &turn.text,
                })
                .chain(std::iter::once(WireMessage {
                    role: "user",
                    content: &req.user,
                }))
                .collect(),
            temperature: req.temperature,
            stream,
            tools,
            tool_choice,
        })
        .unwrap_or(Value::Null)
    }

    /// The key header, marked sensitive (kept out of debug output and HPACK tables, as
    /// `bearer_auth` does for OpenAI). A key that is not a valid header value was refused
    /// when saved; sent as it is, the request fails with reqwest's builder error.
    fn with_auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = match reqwest::header::HeaderValue::from_str(self.endpoint.api_key.expose_secret())
        {
            Ok(mut key) => {
                key.set_sensitive(true);
                rb.header("x-api-key", key)
            }
            Err(_) => rb.header("x-api-key", self.endpoint.api_key.expose_secret()),
        };
        rb.header("anthropic-version", API_VERSION)
    }

    async fn send(
        &self,
        http: &reqwest::Client,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, ProviderError> {
        let resp = self
            .with_auth(http.post(self.url("messages")))
            .json(&self.body(req, stream))
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest(&e, "Anthropic"))?;
        self.check(resp).await
    }

    pub async fn complete(
        &self,
        http: &reqwest::Client,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let resp = self.send(http, req, false).await?;
        Ok(answer(read_json(resp, self.limits).await?))
    }

    pub async fn stream(
        &self,
        http: &reqwest::Client,
        req: &ChatRequest,
    ) -> Result<EventStream, ProviderError> {
        let resp = self.send(http, req, true).await?;
        // Input tokens arrive in message_start, output tokens in message_delta: keep both.
        let key = self.endpoint.api_key.clone();
        let events = sse::events(resp, self.limits)
            .scan(Usage::default(), move |usage, item| {
                let out: Vec<Result<StreamEvent, ProviderError>> = match item {
                    Err(e) => vec![Err(e)],
                    Ok(ev) => match serde_json::from_str::<Value>(&ev.data) {
                        Err(e) => vec![Err(ProviderError::Decode(format!("stream event: {e}")))],
                        Ok(v) => event(&v, usage, key.expose_secret()),
                    },
                };
                futures_util::future::ready(Some(futures_util::stream::iter(out)))
            })
            .flatten();
        Ok(Box::pin(events))
    }

    pub async fn check_key(&self, http: &reqwest::Client) -> Result<(), ProviderError> {
        let resp = self
            .with_auth(http.get(self.url("models")))
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest(&e, "Anthropic"))?;
        self.check(resp).await.map(|_| ())
    }
}

/// The answer of a whole (not streamed) response.
pub(crate) fn answer(wire: WireResponse) -> ChatResponse {
    let mut text = String::new();
    for block in wire.content {
        match block {
            WireBlock::Text { text: t } => text.push_str(&t),
            WireBlock::ToolUse { input } => text = input.to_string(),
            WireBlock::Other => {}
        }
    }
    ChatResponse {
        text,
        usage: wire
            .usage
            .map(|u| Usage::reported(u.input_tokens.unwrap_or(0), u.output_tokens.unwrap_or(0))),
        finish_reason: wire.stop_reason.as_deref().map(FinishReason::from_wire),
        model: wire.model,
    }
}

pub(crate) fn event(
    v: &Value,
    usage: &mut Usage,
    secret: &str,
) -> Vec<Result<StreamEvent, ProviderError>> {
    let read = |u: &Value, key: &str| u.get(key).and_then(Value::as_i64).map(|n| n.max(0));
    match v.get("type").and_then(Value::as_str).unwrap_or_default() {
        "message_start" => {
            let u = &v["message"]["usage"];
            if let Some(n) = read(u, "input_tokens") {
                usage.prompt_tokens = n;
            }
            if let Some(n) = read(u, "output_tokens") {
                usage.completion_tokens = n;
            }
            vec![Ok(StreamEvent::Usage(*usage))]
        }
        "content_block_delta" => {
            let d = &v["delta"];
            let text = match d.get("type").and_then(Value::as_str) {
                Some("text_delta") => d.get("text"),
                Some("input_json_delta") => d.get("partial_json"),
                _ => None,
            };
            match text.and_then(Value::as_str) {
                Some(t) if !t.is_empty() => vec![Ok(StreamEvent::Delta(t.to_owned()))],
                _ => Vec::new(),
            }
        }
        "message_delta" => {
            let mut out = Vec::new();
            if let Some(n) = read(&v["usage"], "output_tokens") {
                usage.completion_tokens = n;
            }
            if let Some(n) = read(&v["usage"], "input_tokens") {
                usage.prompt_tokens = n;
            }
            out.push(Ok(StreamEvent::Usage(*usage)));
            if let Some(r) = v["delta"].get("stop_reason").and_then(Value::as_str) {
                out.push(Ok(StreamEvent::Finish(FinishReason::from_wire(r))));
            }
            out
        }
        "error" => {
            let kind = v["error"]["type"].as_str().unwrap_or("error");
            let msg = v["error"]["message"].as_str().unwrap_or_default();
            vec![Err(ProviderError::event(kind, msg, secret))]
        }
        "ping" => vec![Ok(StreamEvent::KeepAlive)],
        "message_stop" => vec![Ok(StreamEvent::Done)],
        // content_block_start/stop and unknown events carry nothing we need.
        _ => Vec::new(),
    }
}

impl Anthropic {
    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, ProviderError> {
        check_status(resp, "Anthropic", self.endpoint.api_key.expose_secret()).await
    }
}
