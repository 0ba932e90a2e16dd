//! What can go wrong talking to a provider, and how a provider's error answer is read: its status,
//! a short message from a JSON body in the providers' shape (never the raw body), and the retry
//! hints (`retry-after-ms`, `retry-after`, `x-should-retry`). Hints are read saturating: a header
//! such as `retry-after: 1e20` becomes "a very long wait", which the retry loop then refuses to
//! honour, never a panic.

use std::time::Duration;

use super::http::read_capped;

/// Replaces every occurrence of each secret in `text`, and a start of one (8 characters or
/// more) where the text ends — what is left of a key in a message cut short. Secrets shorter
/// than 8 characters are ignored: they would redact ordinary words.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 8) {
        out = out.replace(s, "[redacted]");
        let cut = (8..s.len())
            .rev()
            .filter(|n| s.is_char_boundary(*n))
            .find(|n| out.ends_with(&s[..*n]));
        if let Some(n) = cut {
            out.truncate(out.len() - n);
            out.push_str("[redacted]");
        }
    }
    out
}

/// [`scrub`] for text that arrives in pieces (a streamed answer on its way to the browser): a
/// key split across two pieces is still caught, because the tail of a piece that could begin a
/// secret is held back until the next piece shows whether it does. What is held is at most one
/// secret's length; [`StreamScrub::finish`] lets it go (scrubbed) at the end.
#[derive(Debug, Default)]
pub struct StreamScrub {
    secrets: Vec<String>,
    held: String,
}

impl StreamScrub {
    /// A scrubber for these secrets (those shorter than 8 characters are ignored, as in
    /// [`scrub`]).
    pub fn new(secrets: &[&str]) -> StreamScrub {
        StreamScrub {
            secrets: secrets
                .iter()
                .filter(|s| s.len() >= 8)
                .map(|s| (*s).to_owned())
                .collect(),
            held: String::new(),
        }
    }

    /// The part of everything pushed so far that can be shown now, secrets replaced.
    pub fn push(&mut self, piece: &str) -> String {
        if self.secrets.is_empty() {
            return piece.to_owned();
        }
        self.held.push_str(piece);
        let mut text = std::mem::take(&mut self.held);
        for s in &self.secrets {
            if text.contains(s.as_str()) {
                text = text.replace(s.as_str(), "[redacted]");
            }
        }
        // Hold back the longest tail that is the start of a secret.
        let keep = self
            .secrets
            .iter()
            .filter_map(|s| {
                (1..s.len())
                    .rev()
                    .filter(|n| s.is_char_boundary(*n))
                    .find(|n| text.ends_with(&s[..*n]))
            })
            .max()
            .unwrap_or(0);
        self.held = text.split_off(text.len() - keep);
        text
    }

    /// What was held back, now that no more is coming (a cut-off start of a key of 8
    /// characters or more is still redacted).
    pub fn finish(&mut self) -> String {
        let held = std::mem::take(&mut self.held);
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        scrub(&held, &secrets)
    }
}

/// Longest wait a hint can ask for (longer hints are capped here, then judged by the policy).
const MAX_HINT: Duration = Duration::from_secs(24 * 3600);
/// Most bytes of an error body read (the rest is never downloaded).
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Longest provider message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// What went wrong talking to a provider. Messages come from the provider; the run scrubs stored
/// keys out of them before they are stored or shown.
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
    /// The stream broke (a read failed, or it ended early).
    #[error("the stream failed: {0}")]
    Stream(String),
    /// The provider sent an error event in the stream.
    #[error("the provider reported an error ({kind}): {message}")]
    Event { kind: String, message: String },
    /// The answer is larger than the run output cap allows (bytes).
    #[error("the answer is larger than the run output cap of {limit} bytes")]
    TooLarge { limit: usize },
    /// The run's key was revoked while it was retrying: no further attempt was made.
    #[error("the provider key was revoked during the run")]
    KeyRevoked,
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
            ProviderError::Event { .. } if self.transient() => "provider_down",
            ProviderError::Event { .. } => "provider_error",
            ProviderError::TooLarge { .. } => "output_too_large",
            ProviderError::KeyRevoked => "key_revoked",
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
            "timeout" => {
                "The provider did not answer in time; try again, or lower max tokens.".to_owned()
            }
            "connect" => {
                "Could not reach the provider. Check the endpoint and the network.".to_owned()
            }
            "bad_request" => format!("The provider refused the request. ({detail})"),
            "key_revoked" => "The provider key was revoked while this run was retrying, so no \
                further attempt was made. Add or rotate a key in Settings → Provider keys."
                .to_owned(),
            "output_too_large" => format!(
                "The reply was cut off: {detail}. Ask for a shorter reply (lower max tokens, or a \
                 smaller output contract); an operator can raise GALAXY_MAX_RUN_OUTPUT_BYTES."
            ),
            _ => format!("The provider call failed. ({detail})"),
        }
    }

    /// An error event that says the provider is busy or failing (worth a retry), rather than
    /// refusing the request.
    pub fn transient(&self) -> bool {
        match self {
            ProviderError::Event { kind, .. } => matches!(
                kind.as_str(),
                "overloaded_error" | "api_error" | "server_error" | "rate_limit_error"
            ),
            _ => false,
        }
    }

    /// An error event of a stream, from its type and message (both cut, the key scrubbed out).
    pub fn event(kind: &str, message: &str, secret: &str) -> ProviderError {
        ProviderError::Event {
            kind: cut(kind, 60),
            message: cut(&scrub(message, &[secret]), MAX_MESSAGE_CHARS),
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
        } else if e.is_decode() || e.is_body() {
            ProviderError::Decode(without_url(e))
        } else {
            ProviderError::Connect(what.to_owned())
        }
    }
}

/// reqwest errors print the URL; ours may carry nothing secret, but keep messages short.
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// A duration from seconds a provider sent, saturating at [`MAX_HINT`]; `None` for a negative,
/// NaN or unreadable value.
fn hint_secs(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).map_or(MAX_HINT, |d| d.min(MAX_HINT)))
}

/// Reads `retry-after-ms`, then `retry-after` (seconds or an HTTP date).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(d) = get("retry-after-ms")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|ms| hint_secs(ms / 1000.0))
    {
        return Some(d);
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return hint_secs(secs);
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .min(MAX_HINT),
    )
}

/// `x-should-retry: true|false`, when present.
pub fn should_retry(headers: &reqwest::header::HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()? {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
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

fn cut(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// The type and message of an error body in the providers' JSON shape — the key scrubbed out
/// before the message is cut to [`MAX_MESSAGE_CHARS`], so no part of it survives — or, for any
/// other body, only its size: an error page is summarised, never echoed.
pub fn summarise_error_body(body: &[u8], secret: &str) -> (Option<String>, String) {
    match serde_json::from_slice::<WireErrorBody>(body) {
        Ok(b) => (
            b.error.kind.map(|k| cut(&scrub(&k, &[secret]), 60)),
            cut(&scrub(&b.error.message, &[secret]), MAX_MESSAGE_CHARS),
        ),
        Err(_) if body.is_empty() => (None, "no error message".to_owned()),
        Err(_) => (
            None,
            format!(
                "an answer that is not a provider error ({} bytes)",
                body.len()
            ),
        ),
    }
}

/// Passes a success through; turns an error status into a [`ProviderError`] with the
/// provider's message (the key `secret` scrubbed out) and retry hints. At most
/// [`MAX_ERROR_BODY_BYTES`] of the body are read.
pub(crate) async fn check_status(
    resp: reqwest::Response,
    provider: &'static str,
    secret: &str,
) -> Result<reqwest::Response, ProviderError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = retry_after(resp.headers());
    let should_retry = should_retry(resp.headers());
    let body = match read_capped(resp, MAX_ERROR_BODY_BYTES).await {
        Ok(body) => body,
        Err(ProviderError::TooLarge { .. }) => b"(an error body too large to read)".to_vec(),
        Err(_) => Vec::new(),
    };
    let (error_type, message) = summarise_error_body(&body, secret);
    Err(ProviderError::Http {
        provider,
        status: status.as_u16(),
        error_type,
        message,
        retry_after,
        should_retry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_hints_saturate_instead_of_panicking() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1e20")])),
            Some(MAX_HINT)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "1e300")])),
            Some(MAX_HINT)
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "inf")])),
            Some(MAX_HINT)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "NaN")])), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-3")])), None);
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "-1"), ("retry-after", "2")])),
            Some(Duration::from_secs(2)),
            "an unusable ms hint falls back to retry-after"
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after-ms", "250")])),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[(
                "retry-after",
                "Wed, 21 Oct 2015 07:28:00 GMT"
            )])),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(should_retry(&headers(&[("x-should-retry", "maybe")])), None);
    }

    #[test]
    fn error_bodies_are_summarised_never_echoed() {
        let (kind, message) = summarise_error_body(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            "sk-none-0000000000",
        );
        assert_eq!(
            (kind.as_deref(), message.as_str()),
            (Some("overloaded_error"), "Overloaded")
        );
        let html = format!("<html>{}</html>", "x".repeat(10_000));
        let (kind, message) = summarise_error_body(html.as_bytes(), "sk-none-0000000000");
        assert_eq!(kind, None);
        assert_eq!(
            message,
            "an answer that is not a provider error (10013 bytes)"
        );
    }

    #[test]
    fn a_key_split_across_streamed_pieces_never_reaches_the_reader() {
        let key = "sk-live-abcdef123456";
        // Every way of cutting a text that holds the key twice into three pieces.
        let text = format!("before {key} middle {key}after");
        let chars: Vec<char> = text.chars().collect();
        for a in 0..chars.len() {
            for b in a..chars.len() {
                let pieces = [
                    chars[..a].iter().collect::<String>(),
                    chars[a..b].iter().collect::<String>(),
                    chars[b..].iter().collect::<String>(),
                ];
                let mut s = StreamScrub::new(&[key]);
                let mut shown = String::new();
                for p in &pieces {
                    let out = s.push(p);
                    assert!(!out.contains("abcdef123456"), "{pieces:?}: {out}");
                    shown.push_str(&out);
                }
                shown.push_str(&s.finish());
                assert_eq!(
                    shown, "before [redacted] middle [redacted]after",
                    "{pieces:?}"
                );
            }
        }
        // Text that only looks like the start of a key is shown in full in the end.
        let mut s = StreamScrub::new(&[key]);
        assert_eq!(s.push("ask sk-li"), "ask ");
        assert_eq!(s.push("ke that!"), "sk-like that!");
        assert_eq!(s.finish(), "");
        // Only the tail that could start the key waits ("s"), and comes out at the end.
        assert_eq!(s.push("yes"), "ye");
        assert_eq!(s.finish(), "s");
        // A stream cut off inside a key shows none of it.
        let mut s = StreamScrub::new(&[key]);
        assert_eq!(s.push("x sk-live-abcdef1"), "x ");
        assert_eq!(s.finish(), "[redacted]");
        // No secrets: pieces pass through untouched and nothing is held.
        let mut none = StreamScrub::new(&["short"]);
        assert_eq!(none.push("s"), "s");
    }

    #[test]
    fn scrub_removes_secrets_whole_and_cut_off() {
        assert_eq!(
            scrub(
                "Incorrect API key provided: sk-abcdef123456. Try again.",
                &["sk-abcdef123456", "short"],
            ),
            "Incorrect API key provided: [redacted]. Try again."
        );
        assert_eq!(
            scrub("…the key was sk-abcdef12", &["sk-abcdef123456"]),
            "…the key was [redacted]",
            "a cut-off key is scrubbed too"
        );
        assert_eq!(
            scrub("ends with sk-abc", &["sk-abcdef123456"]),
            "ends with sk-abc",
            "fewer than 8 characters of a key are not a key"
        );
    }

    #[test]
    fn a_key_echoed_across_the_cut_is_scrubbed_whole() {
        // The key straddles the 500th character of the message: scrubbed before the cut.
        let key = "sk-echoed-key-0123456789abcdef";
        let message = format!("{} {key} and more", "x".repeat(490));
        let body = serde_json::json!({"error": {"type": "auth", "message": message}}).to_string();
        let (_, kept) = summarise_error_body(body.as_bytes(), key);
        assert!(!kept.contains("sk-echoed"), "{kept}");
        assert!(kept.ends_with(" [redacted"), "scrubbed, then cut: {kept}");
        let event = ProviderError::event("error", &message, key);
        assert!(!event.to_string().contains("sk-echoed"), "{event}");
    }
}
