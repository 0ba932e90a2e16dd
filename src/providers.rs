//! Model providers. Shared with the browser: the provider kinds, token usage, finish reasons and
//! the [`mock`] generator (the input form draws example values with it).
//!
//! On the server every provider — OpenAI (also serving OpenAI-compatible endpoints), Anthropic,
//! and the built-in mock — sits behind one [`Provider`] enum with the same `complete`/`stream`
//! calls, so a mock run takes the same path through the one retry loop ([`retry`]) as a live
//! one. Around them: the HTTP client and where first-party providers live ([`http`]), what can go
//! wrong and how provider error bodies are read ([`error`]), and one SSE reader ([`sse`]). Every
//! answer is bounded by the run output cap ([`BodyLimits`]): bodies, streams, single events and
//! error bodies.

use serde::{Deserialize, Serialize};

#[cfg(feature = "server")]
pub mod anthropic;
#[cfg(feature = "server")]
pub mod egress;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod http;
pub mod mock;
#[cfg(feature = "server")]
pub mod openai;
#[cfg(feature = "server")]
pub mod retry;
#[cfg(feature = "testing")]
pub mod scripted;
#[cfg(feature = "server")]
pub mod sse;
#[cfg(feature = "server")]
pub mod tokens;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod untrusted_tests;

pub use mock::{MockOutput, MockReply, mock_reply, mock_value};
#[cfg(feature = "server")]
pub use server::*;

/// The run output cap unless the operator sets another (`GALAXY_MAX_RUN_OUTPUT_BYTES`): text or
/// JSON one run may produce, from any provider or the mock.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;

crate::string_enum! {
    /// The providers an agent can target.
    pub enum ProviderKind("provider") {
        OpenAi = "openai",
        Anthropic = "anthropic",
        OpenAiCompatible = "openai_compatible",
    }
}

impl ProviderKind {
    /// Parses a form's provider field, adding the field error when it is not one of ours.
    pub fn parse_field(
        s: &str,
        errors: &mut Vec<crate::validation::FieldError>,
    ) -> Option<ProviderKind> {
        let kind = ProviderKind::parse(s.trim()).ok();
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

/// Tokens a provider reported (or Galaxy estimated). Never negative; sums saturate, so a provider
/// reporting a count near `i64::MAX` cannot wrap a total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

impl Usage {
    /// Usage from counts a provider sent: negative counts read as zero.
    pub fn reported(prompt_tokens: i64, completion_tokens: i64) -> Usage {
        Usage {
            prompt_tokens: prompt_tokens.max(0),
            completion_tokens: completion_tokens.max(0),
        }
    }

    pub fn total(self) -> i64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// Both calls' tokens (a run with a repair attempt bills both).
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            prompt_tokens: self.prompt_tokens.saturating_add(other.prompt_tokens),
            completion_tokens: self
                .completion_tokens
                .saturating_add(other.completion_tokens),
        }
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
            other => FinishReason::Other(other.chars().take(40).collect()),
        }
    }

    /// As stored on the run.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolUse => "tool_use",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(s) => s,
        }
    }
}

/// Estimated tokens in `text`: about four characters a token, at least one for non-empty text.
pub fn estimate_tokens(text: &str) -> i64 {
    let chars = text.chars().count();
    i64::try_from(chars.div_ceil(4)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod shared_tests {
    use super::*;

    #[test]
    fn provider_names_round_trip() {
        for p in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(p.as_str()), Ok(*p));
            let json = serde_json::to_string(p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
        assert!(ProviderKind::parse("gemini").is_err());
    }

    #[test]
    fn token_estimate_is_about_four_chars() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a"), 1);
        assert_eq!(estimate_tokens("abcdefgh"), 2);
        assert_eq!(estimate_tokens("ééééé"), 2);
    }

    #[test]
    fn usage_saturates_and_is_never_negative() {
        let huge = Usage::reported(i64::MAX - 1, i64::MAX);
        assert_eq!(huge.total(), i64::MAX);
        assert_eq!(huge.plus(huge), Usage::reported(i64::MAX, i64::MAX));
        assert_eq!(Usage::reported(-5, 3), Usage::reported(0, 3));
        assert_eq!(FinishReason::from_wire("tool_calls").as_str(), "tool_use");
        assert_eq!(FinishReason::from_wire(&"z".repeat(500)).as_str().len(), 40);
    }
}

#[cfg(feature = "server")]
pub use error::{StreamScrub, scrub};

#[cfg(feature = "server")]
mod server {
    use std::pin::Pin;

    use futures_util::Stream;
    use secrecy::SecretString;
    use serde_json::Value;

    use super::ProviderKind;
    pub use super::error::ProviderError;
    use super::http::BodyLimits;
    use super::{FinishReason, Usage};
    use crate::cpu::CpuPool;

    /// One chat call, provider-agnostic.
    #[derive(Clone, Debug, PartialEq)]
    pub struct ChatRequest {
        pub model: String,
        pub system: String,
        /// Earlier turns of the conversation, sent between the system prompt and `user` (the
        /// OpenAI-compatible endpoint's multi-turn callers; empty otherwise).
        pub history: Vec<Turn>,
        pub user: String,
        pub temperature: f64,
        pub max_tokens: i64,
        /// When set, the provider is asked for structured output valid against this schema.
        pub output_schema: Option<Value>,
    }

    impl ChatRequest {
        /// The prompt's size in tokens, estimated (for admission, and when a provider reports no
        /// usage).
        pub fn estimated_input_tokens(&self) -> i64 {
            self.history.iter().fold(
                super::estimate_tokens(&self.system)
                    .saturating_add(super::estimate_tokens(&self.user)),
                |sum, turn| sum.saturating_add(super::estimate_tokens(&turn.text)),
            )
        }
    }

    /// Who said an earlier turn.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Speaker {
        User,
        Assistant,
    }

    impl Speaker {
        /// The role on both providers' wires.
        pub fn role(self) -> &'static str {
            match self {
                Speaker::User => "user",
                Speaker::Assistant => "assistant",
            }
        }
    }

    /// An earlier turn of a conversation.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Turn {
        pub speaker: Speaker,
        pub text: String,
    }

    /// A whole (non-streamed, or fully collected) answer.
    #[derive(Clone, Debug, PartialEq)]
    pub struct ChatResponse {
        /// The text, or the JSON text of the structured output.
        pub text: String,
        /// What the provider reported; `None` when it reported nothing (the mock never does):
        /// the run then estimates.
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
        /// The provider is still there (Anthropic's `ping`): resets the idle timeout.
        KeepAlive,
        /// The provider says the stream is complete (OpenAI's `[DONE]`, Anthropic's
        /// `message_stop`).
        Done,
    }

    pub type EventStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ProviderError>> + Send>>;

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

    /// The longest a key check (test connection) may take, connection included.
    pub const CHECK_KEY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

    /// Every provider behind one enum: chosen from the credential's kind, or the mock.
    pub enum Provider {
        OpenAi(super::openai::OpenAi),
        Anthropic(super::anthropic::Anthropic),
        Mock(super::mock::MockProvider),
        /// A scripted provider for tests: panics, hangs and errors on cue.
        #[cfg(feature = "testing")]
        Scripted(super::scripted::Scripted),
    }

    impl Provider {
        /// The provider a stored key's endpoint reaches.
        pub fn new(endpoint: Endpoint, limits: BodyLimits) -> Provider {
            match endpoint.kind {
                ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => {
                    Provider::OpenAi(super::openai::OpenAi::new(endpoint, limits))
                }
                ProviderKind::Anthropic => {
                    Provider::Anthropic(super::anthropic::Anthropic::new(endpoint, limits))
                }
            }
        }

        /// The built-in mock: generation on the bounded CPU pool, bounded by `limits`.
        pub fn mock(cpu: CpuPool, limits: BodyLimits) -> Provider {
            Provider::Mock(super::mock::MockProvider::new(cpu, limits))
        }

        /// The name used in error messages and metrics.
        pub fn name(&self) -> &'static str {
            match self {
                Provider::OpenAi(_) => "OpenAI",
                Provider::Anthropic(_) => "Anthropic",
                Provider::Mock(_) => "mock",
                #[cfg(feature = "testing")]
                Provider::Scripted(_) => "scripted",
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
                Provider::Mock(p) => p.complete(request).await,
                #[cfg(feature = "testing")]
                Provider::Scripted(p) => p.complete(request).await,
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
                Provider::Mock(p) => p.stream(request).await,
                #[cfg(feature = "testing")]
                Provider::Scripted(p) => p.stream(request).await,
            }
        }

        /// A cheap authenticated call (list models) to check a key.
        /// Calls the provider's cheap "list models" with the key, within [`CHECK_KEY_TIMEOUT`].
        pub async fn check_key(&self, http: &reqwest::Client) -> Result<(), ProviderError> {
            let check = async {
                match self {
                    Provider::OpenAi(p) => p.check_key(http).await,
                    Provider::Anthropic(p) => p.check_key(http).await,
                    Provider::Mock(_) => Ok(()),
                    #[cfg(feature = "testing")]
                    Provider::Scripted(_) => Ok(()),
                }
            };
            tokio::time::timeout(CHECK_KEY_TIMEOUT, check)
                .await
                .unwrap_or(Err(ProviderError::Timeout))
        }
    }
}
