//! OpenAI Chat Completions, and any OpenAI-compatible endpoint (the same adapter with another base
//! URL, extra headers, and the quirks in [`OpenAi::is_compatible`] branches: `max_tokens` instead
//! of `max_completion_tokens`, and a `json_object` fallback when `json_schema` is refused).
//! Wire types are private to this module and follow OpenAI's documented shapes.

use futures_util::StreamExt;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::check_status;
use super::http::{BodyLimits, read_json};
use super::sse;
use super::{
    ChatRequest, ChatResponse, Endpoint, EventStream, FinishReason, ProviderError, ProviderKind,
    StreamEvent, Usage,
};

pub struct OpenAi {
    endpoint: Endpoint,
    limits: BodyLimits,
}

// ---- wire types (private) ----

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    temperature: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<i64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
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
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: Option<WireResponseMessage>,
    #[serde(default)]
    delta: Option<WireResponseMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireResponseMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Usage {
        Usage::reported(u.prompt_tokens, u.completion_tokens)
    }
}

/// How to ask for structured output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Structured {
    JsonSchema,
    JsonObject,
}

impl OpenAi {
    pub fn new(endpoint: Endpoint, limits: BodyLimits) -> OpenAi {
        OpenAi { endpoint, limits }
    }

    fn is_compatible(&self) -> bool {
        self.endpoint.kind == ProviderKind::OpenAiCompatible
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.endpoint.base_url.trim_end_matches('/'))
    }

    fn body(&self, req: &ChatRequest, stream: bool, structured: Structured) -> Value {
        let mut messages = Vec::new();
        if !req.system.is_empty() {
            messages.push(WireMessage {
                role: "system",
                content: &req.system,
            });
        }
        messages.extend(req.history.iter().map(|turn| WireMessage {
            role: turn.speaker.role(),
            content: &turn.text,
        }));
        messages.push(WireMessage {
            role: "user",
            content: &req.user,
        });
        let response_format = req.output_schema.as_ref().map(|schema| match structured {
            Structured::JsonSchema => json!({
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": false}
            }),
            Structured::JsonObject => json!({"type": "json_object"}),
        });
        let wire = WireRequest {
            model: &req.model,
            messages,
            temperature: req.temperature,
            max_completion_tokens: (!self.is_compatible()).then_some(req.max_tokens),
            max_tokens: self.is_compatible().then_some(req.max_tokens),
            stream,
            stream_options: stream.then(|| json!({"include_usage": true})),
            response_format,
        };
        serde_json::to_value(wire).unwrap_or(Value::Null)
    }

    fn request(&self, http: &reqwest::Client, url: String) -> reqwest::RequestBuilder {
        let mut rb = http
            .post(url)
            .bearer_auth(self.endpoint.api_key.expose_secret());
        for (k, v) in &self.endpoint.extra_headers {
            rb = rb.header(k, v);
        }
        rb
    }

    async fn send(
        &self,
        http: &reqwest::Client,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<reqwest::Response, ProviderError> {
        let url = self.url("chat/completions");
        let first = self
            .request(http, url.clone())
            .json(&self.body(req, stream, Structured::JsonSchema))
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest(&e, "the provider"))?;
        let resp = self.check(first).await;
        // Quirk hook: some compatible servers refuse json_schema; ask for a JSON object instead.
        match resp {
            Err(ProviderError::Http {
                status: 400,
                ref message,
                ..
            }) if self.is_compatible()
                && req.output_schema.is_some()
                && (message.contains("response_format") || message.contains("json_schema")) =>
            {
                let again = self
                    .request(http, url)
                    .json(&self.body(req, stream, Structured::JsonObject))
                    .send()
                    .await
                    .map_err(|e| ProviderError::from_reqwest(&e, "the provider"))?;
                self.check(again).await
            }
            other => other,
        }
    }

    pub async fn complete(
        &self,
        http: &reqwest::Client,
        req: &ChatRequest,
    ) -> Result<ChatResponse, ProviderError> {
        let resp = self.send(http, req, false).await?;
        answer(read_json(resp, self.limits).await?)
    }

    pub async fn stream(
        &self,
        http: &reqwest::Client,
        req: &ChatRequest,
    ) -> Result<EventStream, ProviderError> {
        let resp = self.send(http, req, true).await?;
        let key = self.endpoint.api_key.clone();
        let events = sse::events(resp, self.limits).flat_map(move |item| {
            let out: Vec<Result<StreamEvent, ProviderError>> = match item {
                Err(e) => vec![Err(e)],
                Ok(ev) if sse::is_done(&ev) => vec![Ok(StreamEvent::Done)],
                Ok(ev) => match serde_json::from_str::<Value>(&ev.data) {
                    Err(e) => vec![Err(ProviderError::Decode(format!("stream chunk: {e}")))],
                    Ok(v) if v.get("error").is_some() => {
                        let kind = v["error"]["type"]
                            .as_str()
                            .or_else(|| v["error"]["code"].as_str())
                            .unwrap_or("error");
                        let msg = v["error"]["message"].as_str().unwrap_or("error event");
                        vec![Err(ProviderError::event(kind, msg, key.expose_secret()))]
                    }
                    Ok(v) => chunk_events(v),
                },
            };
            futures_util::stream::iter(out)
        });
        Ok(Box::pin(events))
    }

    pub async fn check_key(&self, http: &reqwest::Client) -> Result<(), ProviderError> {
        let mut rb = http
            .get(self.url("models"))
            .bearer_auth(self.endpoint.api_key.expose_secret());
        for (k, v) in &self.endpoint.extra_headers {
            rb = rb.header(k, v);
        }
        let resp = rb
            .send()
            .await
            .map_err(|e| ProviderError::from_reqwest(&e, "the provider"))?;
        self.check(resp).await.map(|_| ())
    }
}

/// The answer of a whole (not streamed) response.
pub(crate) fn answer(wire: WireResponse) -> Result<ChatResponse, ProviderError> {
    let choice = wire.choices.into_iter().next();
    let (text, finish) = match choice {
        Some(c) => {
            let msg = c.message.unwrap_or(WireResponseMessage {
                content: None,
                refusal: None,
            });
            (
                msg.content.or(msg.refusal).unwrap_or_default(),
                c.finish_reason.as_deref().map(FinishReason::from_wire),
            )
        }
        None => return Err(ProviderError::Decode("no choices in the answer".into())),
    };
    Ok(ChatResponse {
        text,
        usage: wire.usage.map(Usage::from),
        finish_reason: finish,
        model: wire.model,
    })
}

pub(crate) fn chunk_events(v: Value) -> Vec<Result<StreamEvent, ProviderError>> {
    let Ok(chunk) = serde_json::from_value::<WireResponse>(v) else {
        return vec![Err(ProviderError::Decode("stream chunk shape".into()))];
    };
    let mut out = Vec::new();
    for c in chunk.choices {
        if let Some(text) = c
            .delta
            .and_then(|d| d.content.or(d.refusal))
            .filter(|t| !t.is_empty())
        {
            out.push(Ok(StreamEvent::Delta(text)));
        }
        if let Some(reason) = c.finish_reason {
            out.push(Ok(StreamEvent::Finish(FinishReason::from_wire(&reason))));
        }
    }
    if let Some(u) = chunk.usage {
        out.push(Ok(StreamEvent::Usage(u.into())));
    }
    out
}

impl OpenAi {
    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response, ProviderError> {
        check_status(resp, "OpenAI", self.endpoint.api_key.expose_secret()).await
    }
}
