//! The one HTTP client for provider calls, where the first-party providers live, and how much an
//! answer may hold.
//!
//! Two clients, one for the operator's URLs and one for URLs users typed, whose DNS resolver
//! applies the egress policy (see [`super::egress`]). Both have a connect timeout, `TCP_NODELAY`,
//! pooled connections, no redirects, no proxy from the environment, and no retries (reqwest has none; the retry loop in [`super::retry`] is
//! the only one). Bodies are read through [`read_capped`], so no answer can make the server hold
//! more than the run output cap allows.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::egress::{EgressPolicy, GuardedResolver};
use super::{ProviderError, ProviderKind};
use crate::error::CoreError;

/// Where the first-party providers live. Operators may point them elsewhere (a proxy, or a
/// local fake in tests); users never choose the URL a stored OpenAI/Anthropic key goes to.
#[derive(Clone, Debug)]
pub struct ProviderUrls {
    pub openai: String,
    pub anthropic: String,
}

impl Default for ProviderUrls {
    fn default() -> Self {
        ProviderUrls {
            openai: "https://api.openai.com/v1".into(),
            anthropic: "https://api.anthropic.com".into(),
        }
    }
}

/// The clients, the URLs and the egress policy together: what every provider call needs.
#[derive(Clone, Debug)]
pub struct ProviderHttp {
    /// For the operator's URLs (the first-party providers, or what the operator set instead).
    pub client: reqwest::Client,
    /// For URLs users typed: its resolver connects only where [`EgressPolicy`] allows.
    pub user_client: reqwest::Client,
    pub urls: ProviderUrls,
    pub egress: Arc<EgressPolicy>,
}

impl ProviderHttp {
    pub fn new(urls: ProviderUrls, egress: EgressPolicy) -> Result<ProviderHttp, CoreError> {
        let egress = Arc::new(egress);
        Ok(ProviderHttp {
            client: provider_http_client(None)?,
            user_client: provider_http_client(Some(GuardedResolver {
                policy: egress.clone(),
            }))?,
            urls,
            egress,
        })
    }

    /// The client for a key of this kind: OpenAI-compatible endpoints are the users' own.
    pub fn client_for(&self, kind: ProviderKind) -> &reqwest::Client {
        match kind {
            ProviderKind::OpenAiCompatible => &self.user_client,
            ProviderKind::OpenAi | ProviderKind::Anthropic => &self.client,
        }
    }
}

/// An HTTP client for provider calls; `guard` resolves names for user endpoints.
pub fn provider_http_client(guard: Option<GuardedResolver>) -> Result<reqwest::Client, CoreError> {
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy();
    let builder = match guard {
        Some(resolver) => builder.dns_resolver(Arc::new(resolver)),
        None => builder,
    };
    builder
        .build()
        .map_err(|e| CoreError::Internal(format!("http client: {e}")))
}

/// How much one provider answer may hold, derived from the run output cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimits {
    /// The run output cap: text (or JSON) a run may produce, in bytes.
    pub max_output_bytes: usize,
}

impl BodyLimits {
    /// Envelope allowance on top of the output (JSON structure, escaping, usage, ids).
    const SLACK: usize = 64 * 1024;

    pub fn new(max_output_bytes: usize) -> BodyLimits {
        BodyLimits { max_output_bytes }
    }

    /// A whole non-streamed body: the output JSON-escaped (at worst six bytes a byte for
    /// control characters; twice is typical) plus its envelope.
    pub fn max_body_bytes(self) -> usize {
        self.max_output_bytes
            .saturating_mul(2)
            .saturating_add(Self::SLACK)
    }

    /// One server-sent event (a line, or a whole event): at most the whole output, escaped,
    /// plus its envelope — as much as a whole non-streamed body.
    pub fn max_event_bytes(self) -> usize {
        self.max_body_bytes()
    }

    /// A whole stream: each delta of a few characters arrives in an envelope of ~150 bytes.
    pub fn max_stream_bytes(self) -> usize {
        self.max_output_bytes
            .saturating_mul(64)
            .saturating_add(Self::SLACK)
    }
}

/// Reads a body, refusing it ([`ProviderError::TooLarge`]) as soon as it passes `limit` bytes;
/// nothing beyond the limit is buffered.
pub async fn read_capped(resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, ProviderError> {
    if resp
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(ProviderError::TooLarge { limit });
    }
    let mut out = Vec::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ProviderError::from_reqwest(&e, "the provider"))?;
        if out.len().saturating_add(chunk.len()) > limit {
            return Err(ProviderError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// Reads a JSON body of at most `limits.max_body_bytes()`.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    resp: reqwest::Response,
    limits: BodyLimits,
) -> Result<T, ProviderError> {
    let body = read_capped(resp, limits.max_body_bytes()).await?;
    serde_json::from_slice(&body).map_err(|e| ProviderError::Decode(e.to_string()))
}
