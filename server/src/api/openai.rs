//! The OpenAI-compatible endpoint under `/v1`: `POST /v1/chat/completions` and `GET /v1/models`,
//! in exactly the wire format of OpenAI's Chat Completions, so the official SDKs work with only
//! `base_url` (`http://<galaxy>/v1`) and `api_key` (a Galaxy API token) set.
//!
//! The mapping (docs/API.md has it for users):
//! - `model` is `agent/<slug>` (or the bare slug, or the agent's id); `GET /v1/models` lists the
//!   workspace's agents that way.
//! - The last message must be the user's: its text (text parts joined by newlines) is the run's
//!   input — JSON matching the input schema for an agent that has one, any text otherwise. Earlier
//!   user and assistant messages go, in order, between the system prompt and the input; system and
//!   developer messages are appended to the agent's system prompt.
//! - The agent's system prompt, template, model, temperature, token limit and schemas apply; the
//!   caller's sampling parameters (`temperature`, `top_p`, `max_tokens`, …) are accepted and
//!   ignored. `response_format` (`json_object`, `json_schema`) is honoured for an agent without an
//!   output schema and refused (400, `param: response_format`) for one with its own. Tools,
//!   function calls, `n > 1` and non-text content are refused (400).
//! - Runs are live unless the request says `X-Galaxy-Mode: mock`; trigger `api`, the token's name
//!   on record, the run's id in `x-galaxy-run-id` and `chatcmpl-<run id>`.
//! - `usage` is the run's recorded tokens (the provider's, or the estimate when it gave none); a
//!   stream has it in a last chunk with empty `choices` when `stream_options.include_usage` is set,
//!   then `data: [DONE]`.
//! - Errors are `{"error": {"message", "type", "param", "code"}}` with the statuses the SDKs map:
//!   400 invalid request or input, 401 token, 403 scope, 404 unknown model, 429 rate limit (with
//!   `Retry-After`) or budget (`insufficient_quota`, not to be retried), 502 a failed run (recorded,
//!   not to be retried: the pipeline has retried already), 503 busy. A stream that fails after it
//!   started ends with one `data: {"error": …}` event, which the SDKs raise.

use std::convert::Infallible;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use galaxy_app::state::AppState;
use galaxy_core::CoreError;
use galaxy_core::agents::list_agents;
use galaxy_core::api_tokens::ApiScope;
use galaxy_core::providers::{Speaker, Turn};
use galaxy_core::runs::{
    Conversation, RunEvent, RunMode, RunRequest, RunStatus, RunTrigger, RunView, StartedRun,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::caller;

/// The `/v1` routes (nested by the router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/chat/completions", post(completions))
        .route("/models", get(models))
        .route("/models/{*id}", get(model))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// A known path with the wrong method, in the same shape.
async fn method_not_allowed() -> OpenAiError {
    OpenAiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "Not allowed: /v1/chat/completions takes POST, /v1/models GET.",
    )
    .code("method_not_allowed")
}

/// The agent a model name stands for: `agent/<slug>` or the bare slug (or id).
fn agent_named(model: &str) -> &str {
    model.strip_prefix("agent/").unwrap_or(model).trim()
}

/// A body over the server's limit, in OpenAI's shape (the router answers it before any handler
/// when `Content-Length` says so).
pub fn too_large() -> OpenAiError {
    OpenAiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        "The request body is larger than 1 MiB.",
    )
    .code("request_too_large")
}

/// Every path the OpenAI-compatible endpoint serves (for the route inventory tests).
pub const PATHS: &[(&str, &str)] = &[
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model}"),
];

/// Any other path under `/v1`.
pub async fn not_found() -> OpenAiError {
    OpenAiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "Galaxy serves /v1/chat/completions and /v1/models only.",
    )
    .code("unknown_url")
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An error in OpenAI's shape.
#[derive(Debug)]
pub struct OpenAiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<Box<str>>,
    retry_after: Option<u64>,
    /// Tell the SDKs not to retry (`x-should-retry: false`): the run is on record and retrying
    /// would spend again, or retrying cannot help.
    final_answer: bool,
    run_id: Option<Box<str>>,
}

impl OpenAiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> OpenAiError {
        OpenAiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
            final_answer: false,
            run_id: None,
        }
    }

    fn invalid(param: &'static str, message: impl Into<String>) -> OpenAiError {
        OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).param(param)
    }

    fn param(mut self, param: &'static str) -> OpenAiError {
        self.param = Some(param);
        self
    }

    fn code(mut self, code: impl Into<String>) -> OpenAiError {
        self.code = Some(code.into().into_boxed_str());
        self
    }

    fn final_answer(mut self) -> OpenAiError {
        self.final_answer = true;
        self
    }

    fn body(&self) -> Value {
        json!({ "error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }

    /// The error a recorded run that did not succeed stands for.
    fn from_run(run: &RunView) -> OpenAiError {
        let message = run.error_message.clone().unwrap_or_default();
        let mut error = match run.status {
            RunStatus::InputInvalid => OpenAiError::invalid(
                "messages",
                with_fields(
                    "The last user message does not match the agent's input schema",
                    run,
                ),
            )
            .code("input_invalid")
            .final_answer(),
            RunStatus::OutputInvalid => OpenAiError::new(
                StatusCode::BAD_GATEWAY,
                "server_error",
                with_fields("The model's answer does not match the output schema", run),
            )
            .code("output_invalid")
            .final_answer(),
            RunStatus::RateLimited => {
                OpenAiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", message)
                    .code("rate_limit_exceeded")
            }
            RunStatus::BudgetExceeded => {
                OpenAiError::new(StatusCode::TOO_MANY_REQUESTS, "insufficient_quota", message)
                    .code("insufficient_quota")
                    .final_answer()
            }
            _ => OpenAiError::new(
                StatusCode::BAD_GATEWAY,
                "server_error",
                if message.is_empty() {
                    "The run failed.".to_owned()
                } else {
                    message
                },
            )
            .code(
                run.error_kind
                    .clone()
                    .unwrap_or_else(|| "run_failed".into()),
            )
            .final_answer(),
        };
        error.run_id = Some(run.id.as_str().into());
        error
    }
}

/// `lead`, then each field error as `pointer: message`.
fn with_fields(lead: &str, run: &RunView) -> String {
    let fields: Vec<String> = run
        .field_errors
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect();
    if fields.is_empty() {
        format!("{lead}.")
    } else {
        format!("{lead}: {}", fields.join("; "))
    }
}

impl From<CoreError> for OpenAiError {
    fn from(e: CoreError) -> OpenAiError {
        match e {
            CoreError::Validation(fields) => {
                // The fields of a run request, in the caller's words (a live run without a
                // provider key is about no parameter).
                let param = match fields.first().map(|f| f.field.as_str()) {
                    Some("response_format") => Some("response_format"),
                    Some("mode") => None,
                    _ => Some("messages"),
                };
                let message = fields
                    .iter()
                    .map(|f| f.message.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                OpenAiError {
                    param,
                    ..OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
                        .code("invalid_value")
                }
            }
            CoreError::Unauthenticated | CoreError::InvalidCredentials => unauthenticated(),
            CoreError::Forbidden | CoreError::ReauthRequired => OpenAiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "This token may not do that (its scopes, or its creator's role, do not allow it).",
            )
            .code("insufficient_scope"),
            CoreError::NotFound => model_not_found(),
            CoreError::RateLimited { retry_after_secs } => OpenAiError {
                retry_after: Some(retry_after_secs),
                ..OpenAiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    format!("Too many requests; try again in {retry_after_secs} s."),
                )
                .code("rate_limit_exceeded")
            },
            CoreError::Busy { retry_after_secs } => OpenAiError {
                retry_after: Some(retry_after_secs),
                ..OpenAiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    format!(
                        "The server is busy, or cannot reach its rate limiter; try again in \
                         {retry_after_secs} s."
                    ),
                )
                .code("server_busy")
            },
            CoreError::BudgetExceeded { message } => {
                OpenAiError::new(StatusCode::TOO_MANY_REQUESTS, "insufficient_quota", message)
                    .code("insufficient_quota")
                    .final_answer()
            }
            // Not retried by the SDKs: it may come after the provider was paid (a run that could
            // not be recorded).
            CoreError::Internal(cause) => OpenAiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                galaxy_app::error::AppError::internal(&cause).to_string(),
            )
            .final_answer(),
        }
    }
}

fn unauthenticated() -> OpenAiError {
    OpenAiError::new(
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        "Send a valid Galaxy API token as the API key (a token that is revoked, expired or whose \
         creator left the workspace no longer works).",
    )
    .code("invalid_api_key")
}

fn model_not_found() -> OpenAiError {
    OpenAiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "No agent of this token's workspace has that name: use agent/<slug> (GET /v1/models \
         lists them).",
    )
    .param("model")
    .code("model_not_found")
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.final_answer {
            headers.insert(SHOULD_RETRY, HeaderValue::from_static("false"));
        }
        if let Some(id) = self
            .run_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            headers.insert(RUN_ID, id);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

const SHOULD_RETRY: HeaderName = HeaderName::from_static("x-should-retry");
const RUN_ID: HeaderName = HeaderName::from_static("x-galaxy-run-id");

// ---------------------------------------------------------------------------------------------
// The request

/// A Chat Completions request: the fields Galaxy reads. Every other field is accepted and
/// ignored (the agent's settings apply).
#[derive(Debug, Deserialize, ToSchema)]
struct ChatCompletionRequest {
    /// `agent/<slug>` (or the slug, or the agent's id).
    model: String,
    /// The conversation; the last message is the user's and is the run's input.
    messages: Vec<Message>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    /// `{"type": "json_object"}` or `{"type": "json_schema", "json_schema": {"schema": …}}`, for
    /// an agent without an output schema of its own.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    response_format: Option<Value>,
    #[serde(default)]
    n: Option<u64>,
    /// Refused unless empty: an agent's tools are part of its design.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    tools: Option<Vec<Value>>,
    /// Refused unless empty.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    functions: Option<Vec<Value>>,
    /// `["text"]` only.
    #[serde(default)]
    modalities: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
struct StreamOptions {
    /// Send the run's usage in a last chunk with empty `choices`.
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
struct Message {
    /// `system`, `developer`, `user` or `assistant`.
    role: String,
    #[serde(default)]
    content: Option<Content>,
    /// Refused: the caller cannot make an agent's tool calls.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    tool_calls: Option<Vec<Value>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    function_call: Option<Value>,
}

/// Text, or text parts (`{"type": "text", "text": …}`; other parts are refused).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize, ToSchema)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    /// The text of the content (text parts joined by newlines); other parts are refused.
    fn text(&self) -> Result<String, OpenAiError> {
        match self {
            Content::Text(text) => Ok(text.clone()),
            Content::Parts(parts) => {
                let mut texts = Vec::with_capacity(parts.len());
                for part in parts {
                    match (part.kind.as_str(), &part.text) {
                        ("text", Some(text)) => texts.push(text.as_str()),
                        ("text", None) => {
                            return Err(OpenAiError::invalid(
                                "messages",
                                "A text content part needs its text.",
                            ));
                        }
                        (other, _) => {
                            return Err(OpenAiError::invalid(
                                "messages",
                                format!(
                                    "Galaxy agents take text: content parts of type {} are not \
                                     supported.",
                                    printable(other)
                                ),
                            )
                            .code("unsupported_content"));
                        }
                    }
                }
                Ok(texts.join("\n"))
            }
        }
    }
}

/// At most 40 characters of something the caller sent, quoted, for a message.
fn printable(text: &str) -> String {
    let cut: String = text.chars().take(40).collect();
    format!("{cut:?}")
}

/// What a chat request asks Galaxy for.
#[derive(Debug, PartialEq)]
struct Asked {
    /// The agent's id or slug.
    agent: String,
    input: String,
    conversation: Conversation,
    stream: bool,
    include_usage: bool,
}

/// Reads a request into the run it asks for: every refusal is a 400 naming its parameter.
fn read_request(req: ChatCompletionRequest) -> Result<Asked, OpenAiError> {
    let agent = agent_named(&req.model).to_owned();
    if agent.is_empty() {
        return Err(model_not_found());
    }
    if req.tools.as_ref().is_some_and(|t| !t.is_empty())
        || req.functions.as_ref().is_some_and(|f| !f.is_empty())
    {
        return Err(OpenAiError::invalid(
            "tools",
            "Galaxy agents do not take tools or functions from the caller.",
        )
        .code("unsupported_parameter"));
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(OpenAiError::invalid(
            "n",
            "A Galaxy agent answers with one choice: n must be 1.",
        )
        .code("unsupported_parameter"));
    }
    if req
        .modalities
        .as_ref()
        .is_some_and(|m| m.iter().any(|m| m != "text"))
    {
        return Err(
            OpenAiError::invalid("modalities", "Galaxy agents answer in text only.")
                .code("unsupported_parameter"),
        );
    }
    let output_schema = match &req.response_format {
        None => None,
        Some(format) => response_schema(format)?,
    };

    let Some((last, earlier)) = req.messages.split_last() else {
        return Err(OpenAiError::invalid(
            "messages",
            "messages is empty: the last message must be the user's input.",
        ));
    };
    if last.role != "user" {
        return Err(OpenAiError::invalid(
            "messages",
            "The last message must be the user's (role \"user\"): it is the agent's input.",
        ));
    }
    let input = match &last.content {
        Some(content) => content.text()?,
        None => {
            return Err(OpenAiError::invalid(
                "messages",
                "The last user message has no content.",
            ));
        }
    };
    let mut system = Vec::new();
    let mut turns = Vec::new();
    for message in earlier {
        if message.tool_calls.as_ref().is_some_and(|t| !t.is_empty())
            || message.function_call.is_some()
        {
            return Err(OpenAiError::invalid(
                "messages",
                "Galaxy agents do not take tool calls from the caller.",
            )
            .code("unsupported_content"));
        }
        let text = match &message.content {
            Some(content) => content.text()?,
            None => String::new(),
        };
        // An empty message says nothing (and some providers refuse empty turns).
        if text.trim().is_empty()
            && matches!(
                message.role.as_str(),
                "system" | "developer" | "user" | "assistant"
            )
        {
            continue;
        }
        match message.role.as_str() {
            "system" | "developer" => system.push(text),
            "user" => turns.push(Turn {
                speaker: Speaker::User,
                text,
            }),
            "assistant" => turns.push(Turn {
                speaker: Speaker::Assistant,
                text,
            }),
            "tool" | "function" => {
                return Err(OpenAiError::invalid(
                    "messages",
                    "Galaxy agents do not take tool results from the caller.",
                )
                .code("unsupported_content"));
            }
            other => {
                return Err(OpenAiError::invalid(
                    "messages",
                    format!(
                        "Unknown role {}: use system, developer, user or assistant.",
                        printable(other)
                    ),
                ));
            }
        }
    }
    Ok(Asked {
        agent,
        input,
        conversation: Conversation {
            system: system.join("\n\n"),
            turns,
            output_schema,
        },
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

/// The JSON Schema a `response_format` asks for (`None` for plain text).
fn response_schema(format: &Value) -> Result<Option<Value>, OpenAiError> {
    let bad = |m: &str| OpenAiError::invalid("response_format", m);
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({ "type": "object" }))),
        Some("json_schema") => match format.pointer("/json_schema/schema") {
            Some(schema @ (Value::Object(_) | Value::Bool(_))) => Ok(Some(schema.clone())),
            _ => Err(bad(
                "response_format json_schema needs json_schema.schema, a JSON Schema object.",
            )),
        },
        _ => Err(bad(
            "response_format.type must be text, json_object or json_schema.",
        )),
    }
}

/// The run mode a request asks for: `X-Galaxy-Mode: mock` or `live` (the default).
fn mode(headers: &HeaderMap) -> Result<RunMode, OpenAiError> {
    match headers.get("x-galaxy-mode").map(HeaderValue::to_str) {
        None => Ok(RunMode::Live),
        Some(Ok(v)) if v.eq_ignore_ascii_case("live") => Ok(RunMode::Live),
        Some(Ok(v)) if v.eq_ignore_ascii_case("mock") => Ok(RunMode::Mock),
        Some(_) => Err(OpenAiError::invalid(
            "x-galaxy-mode",
            "X-Galaxy-Mode is live or mock.",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// The answers

#[derive(Serialize)]
struct Completion<'a> {
    id: String,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
    system_fingerprint: Option<&'static str>,
    /// Galaxy's own: where the run is on record.
    galaxy: Galaxy<'a>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AnswerMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AnswerMessage<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
}

#[derive(Serialize)]
struct Galaxy<'a> {
    run_id: &'a str,
    status: RunStatus,
    agent_version: i64,
    provider: &'a str,
    model: &'a str,
    cost_micros: Option<i64>,
    latency_ms: i64,
}

fn usage(run: &RunView) -> Usage {
    Usage {
        prompt_tokens: run.prompt_tokens,
        completion_tokens: run.completion_tokens,
        total_tokens: run.total_tokens,
    }
}

/// The run's `finish_reason` in OpenAI's words. A tool call is how Anthropic gives structured
/// output; the caller sees an answer, so it is `stop`.
fn finish_reason(run: &RunView) -> &'static str {
    match run.finish_reason.as_deref() {
        Some("length") => "length",
        Some("content_filter") => "content_filter",
        _ => "stop",
    }
}

fn completion_id(run_id: &str) -> String {
    format!("chatcmpl-{run_id}")
}

/// A succeeded run as a `chat.completion`.
fn completion(run: &RunView, model: &str) -> Response {
    let body = Completion {
        id: completion_id(&run.id),
        object: "chat.completion",
        created: run.created_at / 1000,
        model,
        choices: [Choice {
            index: 0,
            message: AnswerMessage {
                role: "assistant",
                content: run.output.as_deref().unwrap_or_default(),
                refusal: None,
            },
            logprobs: None,
            finish_reason: finish_reason(run),
        }],
        usage: usage(run),
        system_fingerprint: None,
        galaxy: Galaxy {
            run_id: &run.id,
            status: run.status,
            agent_version: run.agent_version,
            provider: &run.provider,
            model: &run.model,
            cost_micros: run.cost_micros,
            latency_ms: run.latency_ms,
        },
    };
    let mut response = Json(body).into_response();
    if let Ok(id) = HeaderValue::from_str(&run.id) {
        response.headers_mut().insert(RUN_ID, id);
    }
    response
}

/// What the stream of one run still has to say.
struct Streaming {
    started: Option<StartedRun>,
    /// An event taken before the stream began.
    first: Option<RunEvent>,
    /// Chunks ready to go, in order.
    queue: std::collections::VecDeque<Event>,
    /// Every chunk's opening, up to `"choices":` (id, object, created, model), serialised once.
    opening: String,
    include_usage: bool,
    /// Send the output in one piece when the run ends, not as it arrives: the run may repair
    /// its answer, and a stream cannot take text back.
    hold: bool,
}

impl Streaming {
    fn opening(id: &str, created: i64, model: &str) -> String {
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        format!(
            "{{\"id\":{},\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":{},\"system_fingerprint\":null,\"choices\":",
            quoted(id),
            quoted(model)
        )
    }

    /// One chunk with `delta` (a JSON object's text). Written out by hand from a prepared
    /// opening: this runs for every piece of every streamed answer.
    fn chunk(&self, delta: &str, finish_reason: Option<&str>) -> Event {
        Event::default().data(self.chunk_text(delta, finish_reason))
    }

    fn chunk_text(&self, delta: &str, finish_reason: Option<&str>) -> String {
        let mut chunk = String::with_capacity(self.opening.len() + delta.len() + 80);
        chunk.push_str(&self.opening);
        chunk.push_str("[{\"index\":0,\"delta\":");
        chunk.push_str(delta);
        chunk.push_str(",\"logprobs\":null,\"finish_reason\":");
        match finish_reason {
            Some(reason) => {
                chunk.push('"');
                chunk.push_str(reason);
                chunk.push('"');
            }
            None => chunk.push_str("null"),
        }
        chunk.push_str("}]");
        if self.include_usage {
            chunk.push_str(",\"usage\":null");
        }
        chunk.push('}');
        chunk
    }

    /// The delta that adds `text`.
    fn content(text: &str) -> String {
        format!(
            "{{\"content\":{}}}",
            serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
        )
    }

    /// The chunks that close a finished run.
    fn finish(&mut self, run: &RunView) {
        if run.status != RunStatus::Succeeded {
            let error = OpenAiError::from_run(run);
            self.queue
                .push_back(Event::default().data(error.body().to_string()));
            return;
        }
        if self.hold
            && let Some(output) = run.output.as_deref().filter(|o| !o.is_empty())
        {
            let whole = self.chunk(&Self::content(output), None);
            self.queue.push_back(whole);
        }
        let last = self.chunk("{}", Some(finish_reason(run)));
        self.queue.push_back(last);
        if self.include_usage {
            let usage = format!(
                "{}[],\"usage\":{}}}",
                self.opening,
                serde_json::to_string(&usage(run)).unwrap_or_else(|_| "null".into())
            );
            self.queue.push_back(Event::default().data(usage));
        }
        self.queue.push_back(Event::default().data("[DONE]"));
    }
}

/// A started run as `chat.completion.chunk` events. A run refused before its provider call has
/// already finished: that answers as an error, not a stream.
fn stream(mut started: StartedRun, model: &str, include_usage: bool) -> Response {
    let first = started.ready();
    if let Some(RunEvent::Finished(run)) = &first
        && run.status != RunStatus::Succeeded
    {
        return OpenAiError::from_run(run).into_response();
    }
    let run_id = started.run_id.clone();
    let hold = started.may_repair;
    let mut state = Streaming {
        started: Some(started),
        first,
        queue: std::collections::VecDeque::new(),
        opening: Streaming::opening(
            &completion_id(&run_id),
            galaxy_core::db::now_ms() / 1000,
            model,
        ),
        include_usage,
        hold,
    };
    let head = state.chunk("{\"role\":\"assistant\",\"content\":\"\"}", None);
    state.queue.push_back(head);
    let events = futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(event) = state.queue.pop_front() {
                return Some((Ok::<_, Infallible>(event), state));
            }
            let started = state.started.as_mut()?;
            let next = match state.first.take() {
                Some(event) => Some(event),
                None => started.next().await,
            };
            match next {
                // The run's events ended without its end: say so rather than stop silently.
                None => {
                    state.started = None;
                    let error = OpenAiError::from(CoreError::Internal(
                        "a run's events ended before it finished".into(),
                    ));
                    state
                        .queue
                        .push_back(Event::default().data(error.body().to_string()));
                }
                Some(RunEvent::Delta(_)) if state.hold => {}
                Some(RunEvent::Delta(text)) => {
                    let chunk = state.chunk(&Streaming::content(&text), None);
                    state.queue.push_back(chunk);
                }
                Some(RunEvent::Finished(run)) => {
                    state.started = None;
                    state.finish(&run);
                }
                Some(RunEvent::Failed(e)) => {
                    state.started = None;
                    let error = OpenAiError::from(e);
                    state
                        .queue
                        .push_back(Event::default().data(error.body().to_string()));
                }
            }
        }
    });
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    if let Ok(id) = HeaderValue::from_str(&run_id) {
        response.headers_mut().insert(RUN_ID, id);
    }
    response
}

// ---------------------------------------------------------------------------------------------
// The handlers

/// A chat completion by an agent, in OpenAI's wire format.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    params(("X-Galaxy-Mode" = Option<String>, Header, description = "`live` (the default) or `mock`.")),
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "A chat.completion object, or with stream: true chat.completion.chunk events ending in data: [DONE] (usage in a last chunk with stream_options.include_usage). The run's id is in x-galaxy-run-id.",
            content((Object = "application/json"), (String = "text/event-stream"))),
        (status = 400, description = "invalid_request_error: a parameter Galaxy cannot honour, or input_invalid (the run is on record).", body = Object),
        (status = 401, description = "authentication_error: no valid token.", body = Object),
        (status = 403, description = "permission_error: the token lacks the run scope.", body = Object),
        (status = 404, description = "model_not_found: no such agent in the token's workspace.", body = Object),
        (status = 413, description = "The body is larger than 1 MiB.", body = Object),
        (status = 429, description = "rate_limit_error (Retry-After) or insufficient_quota (the budget; x-should-retry: false).", body = Object),
        (status = 502, description = "The run failed, or its output missed the schema (on record; x-should-retry: false).", body = Object),
        (status = 503, description = "The server is busy (Retry-After).", body = Object),
    ),
    security(("bearer" = ["run"])))]
pub async fn completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OpenAiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller.require(ApiScope::Run)?.clone();
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => OpenAiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "The request body could not be read.",
        ),
    })?;
    let request: ChatCompletionRequest = serde_json::from_slice(&body).map_err(|e| {
        OpenAiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("The body is not a valid chat completion request: {e}"),
        )
    })?;
    let model = request.model.clone();
    let asked = read_request(request)?;
    let mode = mode(&headers)?;
    let run = RunRequest {
        agent_id: asked.agent,
        input: asked.input,
        mode,
        trigger: RunTrigger::Api,
        stream: asked.stream,
        api_token: Some(caller.token_ref()),
        conversation: Some(asked.conversation),
        version: None,
        model: None,
        replay_of: None,
    };
    let started = state.runs.start(&actor, run).await?;
    let rate = started.rate;
    let mut answer = if asked.stream {
        Ok(stream(started, &model, asked.include_usage))
    } else {
        let run = started.finished().await?;
        if run.status == RunStatus::Succeeded {
            Ok(completion(&run, &model))
        } else {
            Err(OpenAiError::from_run(&run))
        }
    };
    if let Ok(response) = &mut answer {
        super::add_rate_headers(response.headers_mut(), rate);
    }
    answer
}

/// An OpenAI model list.
#[derive(Serialize, ToSchema)]
pub struct ModelList {
    #[schema(value_type = String)]
    object: &'static str,
    data: Vec<Model>,
}

/// An agent as a model.
#[derive(Serialize, ToSchema)]
pub struct Model {
    id: String,
    #[schema(value_type = String)]
    object: &'static str,
    created: i64,
    #[schema(value_type = String)]
    owned_by: &'static str,
}

impl Model {
    /// The agent with `slug`, last changed at `updated_at` (ms), as a model.
    fn of(slug: &str, updated_at: i64) -> Model {
        Model {
            id: format!("agent/{slug}"),
            object: "model",
            created: updated_at / 1000,
            owned_by: "galaxy",
        }
    }
}

/// The workspace's agents, as models named `agent/<slug>`.
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses(
        (status = 200, description = "An OpenAI model list.", body = ModelList),
        (status = 401, description = "authentication_error: no valid token.", body = Object),
    ),
    security(("bearer" = ["read"]), ("bearer" = ["run"])))]
pub async fn models(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<ModelList>, OpenAiError> {
    let caller = caller(&state, &headers).await?;
    // A client with a run-only token lists the models it may call.
    let actor = caller
        .require(ApiScope::Read)
        .or_else(|_| caller.require(ApiScope::Run))?;
    let agents = list_agents(&state.db, actor).await?;
    let list = ModelList {
        object: "list",
        data: agents
            .into_iter()
            .map(|a| Model::of(&a.slug, a.updated_at))
            .collect(),
    };
    Ok(Json(list))
}

/// One agent as a model (`GET /v1/models/agent/<slug>`, the SDKs' `models.retrieve`).
#[utoipa::path(get, path = "/v1/models/{model}", tag = "openai",
    params(("model" = String, Path, description = "agent/<slug> (or the slug, or the agent's id).")),
    responses(
        (status = 200, description = "The agent as an OpenAI model.", body = Model),
        (status = 401, description = "authentication_error: no valid token.", body = Object),
        (status = 404, description = "model_not_found: no such agent in the token's workspace.", body = Object),
    ),
    security(("bearer" = ["read"]), ("bearer" = ["run"])))]
pub async fn model(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<Model>, OpenAiError> {
    let caller = caller(&state, &headers).await?;
    let actor = caller
        .require(ApiScope::Read)
        .or_else(|_| caller.require(ApiScope::Run))?;
    let agent = galaxy_core::agents::get_agent(&state.db, actor, agent_named(&id)).await?;
    Ok(Json(Model::of(&agent.config.slug, agent.updated_at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> Result<Asked, OpenAiError> {
        read_request(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn the_last_user_message_is_the_input_and_earlier_turns_are_the_history() {
        let asked = request(json!({
            "model": "agent/support-bot",
            "messages": [
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Bonjour"},
                {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
            ],
            "temperature": 1.5, "max_tokens": 3, "user": "ignored",
            "stream": true, "stream_options": {"include_usage": true}
        }))
        .unwrap();
        assert_eq!(asked.agent, "support-bot");
        assert_eq!(asked.input, "a\nb");
        assert_eq!(asked.conversation.system, "Answer in French.\n\nBe brief.");
        assert_eq!(
            asked.conversation.turns,
            vec![
                Turn {
                    speaker: Speaker::User,
                    text: "Hi".into()
                },
                Turn {
                    speaker: Speaker::Assistant,
                    text: "Bonjour".into()
                },
            ]
        );
        assert!(asked.stream && asked.include_usage);
        assert_eq!(asked.conversation.output_schema, None);
        // The bare slug names the agent too.
        let bare = request(
            json!({"model": "support-bot", "messages": [{"role": "user", "content": "x"}]}),
        )
        .unwrap();
        assert_eq!(bare.agent, "support-bot");
        assert!(!bare.stream && !bare.include_usage);
    }

    #[test]
    fn hand_written_chunks_are_the_json_they_stand_for() {
        let model = "agent/\"odd\"\u{2028}é";
        let state = Streaming {
            started: None,
            first: None,
            queue: Default::default(),
            opening: Streaming::opening("chatcmpl-1", 7, model),
            include_usage: true,
            hold: false,
        };
        let text = "line\n\"quoted\" \\ tab\t 🚀";
        let chunk: Value =
            serde_json::from_str(&state.chunk_text(&Streaming::content(text), None)).unwrap();
        assert_eq!(
            chunk,
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7,
                "model": model, "system_fingerprint": null,
                "choices": [{"index": 0, "delta": {"content": text}, "logprobs": null,
                    "finish_reason": null}],
                "usage": null})
        );
        let last: Value = serde_json::from_str(&state.chunk_text("{}", Some("length"))).unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "length");
        assert_eq!(last["choices"][0]["delta"], json!({}));
    }

    #[test]
    fn empty_messages_say_nothing() {
        let asked = request(json!({
            "model": "a",
            "messages": [
                {"role": "system", "content": ""},
                {"role": "system", "content": "Be kind."},
                {"role": "assistant", "content": null},
                {"role": "user", "content": "  "},
                {"role": "user", "content": "x"}
            ]
        }))
        .unwrap();
        assert_eq!(asked.conversation.system, "Be kind.");
        assert!(asked.conversation.turns.is_empty());
    }

    #[test]
    fn response_formats_become_schemas() {
        let with = |format: Value| {
            request(
                json!({"model": "a", "messages": [{"role": "user", "content": "x"}],
                "response_format": format}),
            )
            .map(|a| a.conversation.output_schema)
        };
        assert_eq!(with(json!({"type": "text"})).unwrap(), None);
        assert_eq!(
            with(json!({"type": "json_object"})).unwrap(),
            Some(json!({"type": "object"}))
        );
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        assert_eq!(
            with(json!({"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))
                .unwrap(),
            Some(schema)
        );
        for bad in [
            json!({"type": "json_schema", "json_schema": {"name": "x"}}),
            json!({"type": "yaml"}),
            json!("json"),
        ] {
            let e = with(bad.clone()).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(e.param, Some("response_format"), "{bad}");
        }
    }

    #[test]
    fn what_an_agent_cannot_take_is_refused_naming_the_parameter() {
        let cases = [
            (json!({"model": "a", "messages": []}), "messages"),
            (
                json!({"model": "a", "messages": [{"role": "assistant", "content": "x"}]}),
                "messages",
            ),
            (
                json!({"model": "a", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
                "messages",
            ),
            (
                json!({"model": "a", "messages": [{"role": "tool", "content": "r", "tool_call_id": "1"}, {"role": "user", "content": "x"}]}),
                "messages",
            ),
            (
                json!({"model": "a", "messages": [{"role": "wizard", "content": "r"}, {"role": "user", "content": "x"}]}),
                "messages",
            ),
            (
                json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}),
                "tools",
            ),
            (
                json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "n": 2}),
                "n",
            ),
            (
                json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "modalities": ["audio"]}),
                "modalities",
            ),
            (
                json!({"model": "agent/", "messages": [{"role": "user", "content": "x"}]}),
                "model",
            ),
        ];
        for (body, param) in cases {
            let e = request(body.clone()).unwrap_err();
            assert!(e.status.is_client_error(), "{body}");
            assert_eq!(e.param, Some(param), "{body}");
            assert!(!e.message.is_empty());
        }
        // An empty tools list is no tools.
        assert!(
            request(
                json!({"model": "a", "messages": [{"role": "user", "content": "x"}], "tools": []})
            )
            .is_ok()
        );
    }

    #[test]
    fn limits_and_budgets_answer_429_the_way_the_sdks_read_it() {
        let limited = OpenAiError::from(CoreError::RateLimited {
            retry_after_secs: 7,
        })
        .into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
        assert!(limited.headers().get(SHOULD_RETRY).is_none());
        let broke = OpenAiError::from(CoreError::BudgetExceeded {
            message: "The monthly budget is spent.".into(),
        });
        assert_eq!(broke.body()["error"]["code"], "insufficient_quota");
        let broke = broke.into_response();
        assert_eq!(broke.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(broke.headers()[SHOULD_RETRY], "false");
        let busy = OpenAiError::from(CoreError::Busy {
            retry_after_secs: 2,
        })
        .into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "2");
        // An internal error is a reference, never its cause.
        let internal = OpenAiError::from(CoreError::Internal("db password=hunter2".into()));
        assert!(!internal.body().to_string().contains("hunter2"));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn the_mode_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(mode(&headers).unwrap(), RunMode::Live);
        headers.insert("x-galaxy-mode", HeaderValue::from_static("Mock"));
        assert_eq!(mode(&headers).unwrap(), RunMode::Mock);
        headers.insert("x-galaxy-mode", HeaderValue::from_static("dry"));
        assert_eq!(mode(&headers).unwrap_err().param, Some("x-galaxy-mode"));
    }
}
