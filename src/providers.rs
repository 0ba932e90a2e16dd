//! Model providers. Shared with the browser: the provider kinds, token usage and finish reasons.
//! The built-in [`mock`] provider answers without a network call or key. On the server, the real
//! adapters sit behind one [`Provider`] enum ([`openai`] also serves OpenAI-compatible endpoints,
//! [`anthropic`]), all reading streams through one SSE reader ([`sse`]).

use serde::{Deserialize, Serialize};

#[cfg(feature = "server")]
pub mod anthropic;
pub mod mock;
#[cfg(feature = "server")]
pub mod openai;
#[cfg(feature = "server")]
pub mod sse;

pub use mock::{MockOutput, MockReply, mock_reply, mock_value};
#[cfg(feature = "server")]
pub use server::*;

/// The providers an agent can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
    #[serde(rename = "openai_compatible")]
    OpenAiCompatible,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::OpenAiCompatible,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAiCompatible => "openai_compatible",
        }
    }

    pub fn parse(s: &str) -> Option<ProviderKind> {
        ProviderKind::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Parses a form's provider field, adding the field error when it is not one of ours.
    pub fn parse_field(
        s: &str,
        errors: &mut Vec<crate::validation::FieldError>,
    ) -> Option<ProviderKind> {
        let kind = ProviderKind::parse(s.trim());
        if kind.is_none() {
            errors.push(crate::validation::FieldError::new(
                "provider",
                "Choose OpenAI, Anthropic or OpenAI-compatible.",
            ));
        }
        kind
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OpenAI",
            ProviderKind::Anthropic => "Anthropic",
            ProviderKind::OpenAiCompatible => "OpenAI-compatible",
        }
    }
}

/// Tokens a provider reported (or the mock estimated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

impl Usage {
    pub fn total(self) -> i64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// Why generation stopped, normalised across providers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ToolUse,
    ContentFilter,
    Other(String),
}

impl FinishReason {
    /// From OpenAI's `finish_reason` or Anthropic's `stop_reason`.
    pub fn from_wire(s: &str) -> FinishReason {
        match s {
            "stop" | "end_turn" | "stop_sequence" => FinishReason::Stop,
            "length" | "max_tokens" => FinishReason::Length,
            "tool_calls" | "tool_use" | "function_call" => FinishReason::ToolUse,
            "content_filter" | "refusal" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

/// Estimated tokens in `text`: about four characters a token, at least one for non-empty text.
pub fn estimate_tokens(text: &str) -> i64 {
    let chars = text.chars().count();
    i64::try_from(chars.div_ceil(4)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(p.as_str()), Some(p));
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert_eq!(ProviderKind::parse("gemini"), None);
    }

    #[test]
    fn token_estimate_is_about_four_chars() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abcdefgh"), 2);
        assert_eq!(estimate_tokens("ééééé"), 2);
    }
}

#[cfg(feature = "server")]
mod server {
    use std::pin::Pin;
    use std::time::Duration;

    use futures_util::Stream;
    use secrecy::SecretString;
    use serde_json::Value;

    use super::{FinishReason, ProviderKind, Usage};

    /// One chat call, provider-agnostic.
    #[derive(Clone, Debug, PartialEq)]
    pub struct ChatRequest {
        pub model: String,
        pub system: String,
        pub user: String,
        pub temperature: f64,
        pub max_tokens: i64,
        /// When set, the provider is asked for structured output valid against this schema.
        pub output_schema: Option<Value>,
    }

    /// A whole (non-streamed, or fully collected) answer.
    #[derive(Clone, Debug, PartialEq)]
    pub struct ChatResponse {
        /// The text, or the JSON text of the structured output.
        pub text: String,
        pub usage: Option<Usage>,
        pub finish_reason: Option<FinishReason>,
        pub model: Option<String>,
    }

    /// One item of a streamed answer.
    #[derive(Clone, Debug, PartialEq)]
    pub enum StreamEvent {
        /// Text (or partial JSON of structured output) to append.
        Delta(String),
        /// Usage, when the provider reports it (may come more than once; later values win).
        Usage(Usage),
        Finish(FinishReason),
    }

    pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

    /// What went wrong talking to a provider. Messages come from the provider; the executor
    /// scrubs stored keys out of them before they are stored or shown.
    #[derive(Clone, Debug, PartialEq, thiserror::Error)]
    pub enum ProviderError {
        /// The provider answered with an error status.
        #[error("{provider} answered {status}{}: {message}", error_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
        Http {
            provider: &'static str,
            status: u16,
            error_type: Option<String>,
            message: String,
            /// From `retry-after-ms` / `retry-after` (seconds or HTTP date).
            retry_after: Option<Duration>,
            /// From `x-should-retry`, when present.
            should_retry: Option<bool>,
        },
        /// No connection could be made.
        #[error("could not connect to {0}")]
        Connect(String),
        /// The attempt took longer than its timeout.
        #[error("the provider did not answer in time")]
        Timeout,
        /// The answer could not be read.
        #[error("unexpected answer from the provider: {0}")]
        Decode(String),
        /// The stream broke or carried an error event.
        #[error("the stream failed: {0}")]
        Stream(String),
    }

    impl ProviderError {
        /// A short, stable class name for records and the UI.
        pub fn class(&self) -> &'static str {
            match self {
                ProviderError::Http {
                    status: 401 | 403, ..
                } => "auth",
                ProviderError::Http { status: 429, .. } => "rate_limited",
                ProviderError::Http {
                    status: 400 | 404 | 422,
                    ..
                } => "bad_request",
                ProviderError::Http { status: 408, .. } => "timeout",
                ProviderError::Http { status: 529, .. } => "overloaded",
                ProviderError::Http { status, .. } if *status >= 500 => "provider_down",
                ProviderError::Http { .. } => "http",
                ProviderError::Connect(_) => "connect",
                ProviderError::Timeout => "timeout",
                ProviderError::Decode(_) => "decode",
                ProviderError::Stream(_) => "stream",
            }
        }

        /// What a person can do about it (the provider's own words follow).
        pub fn explain(&self) -> String {
            let detail = self.to_string();
            match self.class() {
                "auth" => format!(
                    "The provider rejected the key. Check it, or rotate it in Settings → Provider keys. ({detail})"
                ),
                "rate_limited" => {
                    format!("Rate limited by the provider; try again shortly. ({detail})")
                }
                "provider_down" | "overloaded" => {
                    format!("The provider is down or overloaded; try again later. ({detail})")
                }
                "timeout" => "The provider did not answer in time; try again, or lower max tokens."
                    .to_owned(),
                "connect" => {
                    "Could not reach the provider. Check the endpoint and the network.".to_owned()
                }
                "bad_request" => format!("The provider refused the request. ({detail})"),
                _ => format!("The provider call failed. ({detail})"),
            }
        }

        pub fn status(&self) -> Option<u16> {
            match self {
                ProviderError::Http { status, .. } => Some(*status),
                _ => None,
            }
        }

        pub(crate) fn from_reqwest(e: &reqwest::Error, what: &str) -> ProviderError {
            if e.is_timeout() {
                ProviderError::Timeout
            } else if e.is_connect() {
                ProviderError::Connect(what.to_owned())
            } else if e.is_decode() || e.is_body() {
                ProviderError::Decode(e.without_url_string())
            } else {
                ProviderError::Connect(what.to_owned())
            }
        }
    }

    trait WithoutUrl {
        fn without_url_string(&self) -> String;
    }

    impl WithoutUrl for reqwest::Error {
        /// reqwest errors print the URL; ours may carry nothing secret, but keep messages short.
        fn without_url_string(&self) -> String {
            let mut e = self.to_string();
            if let Some(url) = self.url() {
                e = e.replace(url.as_str(), "<url>");
            }
            e
        }
    }

    /// Reads `retry-after-ms`, then `retry-after` (seconds or an HTTP date).
    pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        if let Some(ms) = get("retry-after-ms")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
        {
            return Some(Duration::from_secs_f64(ms / 1000.0));
        }
        let value = get("retry-after")?;
        if let Ok(secs) = value.parse::<f64>() {
            return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
        }
        let when = httpdate::parse_http_date(value).ok()?;
        Some(
            when.duration_since(std::time::SystemTime::now())
                .unwrap_or_default(),
        )
    }

    /// Both providers' error bodies: `{"error": {"type": …, "message": …}}` (Anthropic adds a
    /// top-level `"type": "error"`, which is ignored).
    #[derive(serde::Deserialize)]
    struct WireErrorBody {
        error: WireError,
    }

    #[derive(serde::Deserialize)]
    struct WireError {
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        message: String,
    }

    /// Passes a success through; turns an error status into a [`ProviderError`] with the
    /// provider's message and retry hints.
    pub(crate) async fn check_status(
        resp: reqwest::Response,
        provider: &'static str,
    ) -> Result<reqwest::Response, ProviderError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = retry_after(resp.headers());
        let should_retry = should_retry(resp.headers());
        let text = resp.text().await.unwrap_or_default();
        let (error_type, message) = match serde_json::from_str::<WireErrorBody>(&text) {
            Ok(b) => (b.error.kind, b.error.message),
            Err(_) => (None, text.chars().take(500).collect()),
        };
        Err(ProviderError::Http {
            provider,
            status: status.as_u16(),
            error_type,
            message,
            retry_after,
            should_retry,
        })
    }

    /// `x-should-retry: true|false`, when present.
    pub fn should_retry(headers: &reqwest::header::HeaderMap) -> Option<bool> {
        match headers.get("x-should-retry")?.to_str().ok()? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Where and how to reach a provider: the credential's kind, base URL and key.
    pub struct Endpoint {
        pub kind: ProviderKind,
        pub base_url: String,
        pub api_key: SecretString,
        /// Extra headers for OpenAI-compatible endpoints.
        pub extra_headers: Vec<(String, String)>,
    }

    impl std::fmt::Debug for Endpoint {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Endpoint")
                .field("kind", &self.kind)
                .field("base_url", &self.base_url)
                .finish_non_exhaustive()
        }
    }

    impl ProviderKind {
        /// The public API's base URL (OpenAI-compatible endpoints bring their own).
        pub fn default_base_url(self) -> Option<&'static str> {
            match self {
                ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
                ProviderKind::Anthropic => Some("https://api.anthropic.com"),
                ProviderKind::OpenAiCompatible => None,
            }
        }
    }

    /// The provider adapters behind one enum (chosen from the credential's kind).
    pub enum Provider {
        OpenAi(super::openai::OpenAi),
        Anthropic(super::anthropic::Anthropic),
    }

    impl Provider {
        pub fn new(endpoint: Endpoint) -> Provider {
            match endpoint.kind {
                ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                    Provider::OpenAi(super::openai::OpenAi::new(endpoint))
                }
                ProviderKind::Anthropic => {
                    Provider::Anthropic(super::anthropic::Anthropic::new(endpoint))
                }
            }
        }

        pub async fn complete(
            &self,
            http: &reqwest::Client,
            request: &ChatRequest,
        ) -> Result<ChatResponse, ProviderError> {
            match self {
                Provider::OpenAi(p) => p.complete(http, request).await,
                Provider::Anthropic(p) => p.complete(http, request).await,
            }
        }

        /// Starts a streamed call. Errors the provider reports with its status (auth, quota…)
        /// come back here, before any event.
        pub async fn stream(
            &self,
            http: &reqwest::Client,
            request: &ChatRequest,
        ) -> Result<EventStream, ProviderError> {
            match self {
                Provider::OpenAi(p) => p.stream(http, request).await,
                Provider::Anthropic(p) => p.stream(http, request).await,
            }
        }

        /// A cheap authenticated call (list models) to check a key.
        pub async fn check_key(&self, http: &reqwest::Client) -> Result<(), ProviderError> {
            match self {
                Provider::OpenAi(p) => p.check_key(http).await,
                Provider::Anthropic(p) => p.check_key(http).await,
            }
        }
    }
}
