//! The retry loop: the one place that retries provider calls (live and mock alike).
//!
//! Up to `max_attempts` attempts. Retried: connection errors, timeouts, 408, 409, 429 and 5xx
//! (Anthropic's 529 included), unless the provider says `x-should-retry: false`. Never retried:
//! 400, 401, 403, 404, 422; an Anthropic 429 without `retry-after` (a spend cap, not a burst); and
//! anything after the first streamed token reached the caller. The wait is the provider's
//! `retry-after-ms` / `retry-after` when it gives one within the cap, else exponential backoff
//! (`base · 2ⁿ`, at most `max_backoff`) less up to 25 % jitter. The HTTP client itself never
//! retries. Every attempt is recorded: number, status, error class, time waited before it,
//! latency, tokens.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{ChatRequest, ChatResponse, FinishReason, Provider, ProviderError, StreamEvent, Usage};

/// Retry and timeout settings.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest provider-requested wait honoured; longer hints fall back to our own backoff.
    pub retry_after_cap: Duration,
    /// Whole attempt (non-streamed), or time to the first streamed event.
    pub attempt_timeout: Duration,
    /// Longest silence between two streamed events (after the first).
    pub stream_idle_timeout: Duration,
    /// Longest a whole streamed attempt may take.
    pub stream_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            retry_after_cap: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(120),
            stream_idle_timeout: Duration::from_secs(60),
            stream_timeout: Duration::from_secs(600),
        }
    }
}

/// One provider call inside a run.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRecord {
    pub number: u32,
    pub status: Option<u16>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    /// Time waited (backoff) before this attempt started.
    pub waited_ms: i64,
    pub latency_ms: i64,
    pub usage: Option<Usage>,
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Decision {
    Retry(Duration),
    Stop,
}

/// Whether and how long to wait after attempt `attempt` (1-based) failed with `err`.
/// `jitter` in `[0, 1)` takes up to 25 % off the computed backoff. Pure.
pub fn decide(
    err: &ProviderError,
    attempt: u32,
    streamed_tokens: bool,
    policy: &RetryPolicy,
    jitter: f64,
) -> Decision {
    if streamed_tokens || attempt >= policy.max_attempts {
        return Decision::Stop;
    }
    let (retryable, hint) = match err {
        ProviderError::Http {
            provider,
            status,
            retry_after,
            should_retry,
            ..
        } => {
            let never = matches!(status, 400 | 401 | 403 | 404 | 422);
            let spend_cap = *provider == "Anthropic" && *status == 429 && retry_after.is_none();
            let by_status = matches!(status, 408 | 409 | 429) || *status >= 500;
            let retryable = !never && !spend_cap && should_retry.unwrap_or(by_status);
            (retryable, *retry_after)
        }
        ProviderError::Connect(_) | ProviderError::Timeout | ProviderError::Stream(_) => {
            (true, None)
        }
        ProviderError::Event { .. } => (err.transient(), None),
        ProviderError::Decode(_) | ProviderError::TooLarge { .. } | ProviderError::KeyRevoked => {
            (false, None)
        }
    };
    if !retryable {
        return Decision::Stop;
    }
    match hint {
        Some(d) if d <= policy.retry_after_cap => Decision::Retry(d),
        _ => {
            let exp = policy
                .base_backoff
                .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
                .min(policy.max_backoff);
            Decision::Retry(exp.mul_f64(1.0 - 0.25 * jitter.clamp(0.0, 1.0)))
        }
    }
}

/// The result of executing one request, with every attempt.
#[derive(Debug)]
pub struct Execution {
    pub result: Result<ChatResponse, ProviderError>,
    pub attempts: Vec<AttemptRecord>,
    /// From the start of the first attempt to the first streamed token.
    pub ttft_ms: Option<i64>,
    pub cancelled: bool,
    /// What reached the caller before a streamed attempt failed (at most the output cap).
    pub partial_text: String,
}

/// One request to execute.
pub struct Call<'a> {
    pub http: &'a reqwest::Client,
    pub provider: &'a Provider,
    pub request: &'a ChatRequest,
    /// Streamed (deltas go to the observer as they arrive) or one whole answer.
    pub stream: bool,
    /// The run output cap: a longer answer fails the attempt as `output_too_large`.
    pub max_output_bytes: usize,
}

/// What the caller sees while a request executes.
pub trait Observer: Send {
    /// A piece of streamed output reached Galaxy.
    fn delta(&mut self, text: &str);
    /// An attempt ended (recorded as it happens, so a run that dies mid-way keeps its attempts).
    fn attempt(&mut self, _attempt: &AttemptRecord) {}
    /// Asked before every attempt after the first: `false` ends the call with
    /// [`ProviderError::KeyRevoked`] (the run's key was revoked meanwhile, on any instance).
    fn may_retry(&mut self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(std::future::ready(true))
    }
}

impl<F: FnMut(&str) + Send> Observer for F {
    fn delta(&mut self, text: &str) {
        self(text)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs `call` with retries. `cancel` stops waiting and reading at once (the run is then
/// cancelled).
pub async fn execute(
    call: Call<'_>,
    policy: &RetryPolicy,
    cancel: &CancellationToken,
    observer: &mut dyn Observer,
) -> Execution {
    let started = Instant::now();
    let provider_name = call.provider.name();
    let mut attempts = Vec::new();
    let mut waited = Duration::ZERO;
    let mut ttft_ms = None;
    let mut number = 0;
    let mut partial = String::new();
    loop {
        number += 1;
        let attempt_start = Instant::now();
        let mut streamed_tokens = false;
        // Usage the provider reported during this attempt, kept even when the attempt fails.
        let mut seen_usage: Option<Usage> = None;
        let outcome = tokio::select! {
            // A Stop wins over work that is ready at the same moment.
            biased;
            () = cancel.cancelled() => None,
            r = async {
                if call.stream {
                    run_stream(&call, policy, &mut partial, &mut seen_usage, &mut |t: &str| {
                        if ttft_ms.is_none() {
                            ttft_ms = Some(millis(started.elapsed()));
                        }
                        streamed_tokens = true;
                        observer.delta(t);
                    }).await
                } else {
                    match tokio::time::timeout(policy.attempt_timeout, call.provider.complete(call.http, call.request)).await {
                        Ok(Ok(r)) if r.text.len() > call.max_output_bytes => {
                            seen_usage = r.usage;
                            Err(ProviderError::TooLarge { limit: call.max_output_bytes })
                        }
                        Ok(r) => r,
                        Err(_) => Err(ProviderError::Timeout),
                    }
                }
            } => Some(r),
        };
        let latency = attempt_start.elapsed();
        crate::telemetry::provider_call(provider_name, latency);
        let latency_ms = millis(latency);
        let Some(result) = outcome else {
            let record = AttemptRecord {
                number,
                status: None,
                error_class: Some("cancelled".into()),
                error_message: None,
                waited_ms: millis(waited),
                latency_ms,
                usage: seen_usage,
            };
            observer.attempt(&record);
            attempts.push(record);
            return Execution {
                result: Err(ProviderError::Stream("cancelled".into())),
                attempts,
                ttft_ms,
                cancelled: true,
                partial_text: partial,
            };
        };
        match result {
            Ok(response) => {
                let record = AttemptRecord {
                    number,
                    status: Some(200),
                    error_class: None,
                    error_message: None,
                    waited_ms: millis(waited),
                    latency_ms,
                    usage: response.usage,
                };
                observer.attempt(&record);
                attempts.push(record);
                return Execution {
                    result: Ok(response),
                    attempts,
                    ttft_ms,
                    cancelled: false,
                    partial_text: String::new(),
                };
            }
            Err(err) => {
                let record = AttemptRecord {
                    number,
                    status: err.status(),
                    error_class: Some(err.class().to_owned()),
                    error_message: Some(err.to_string()),
                    waited_ms: millis(waited),
                    latency_ms,
                    usage: seen_usage,
                };
                observer.attempt(&record);
                attempts.push(record);
                match decide(&err, number, streamed_tokens, policy, rand::random::<f64>()) {
                    Decision::Stop => {
                        return Execution {
                            result: Err(err),
                            attempts,
                            ttft_ms,
                            cancelled: false,
                            partial_text: partial,
                        };
                    }
                    Decision::Retry(wait) => {
                        tracing::info!(
                            attempt = number,
                            wait_ms = millis(wait),
                            class = err.class(),
                            "retrying provider call"
                        );
                        crate::telemetry::retry(err.class());
                        tokio::select! {
                            () = cancel.cancelled() => {
                                return Execution {
                                    result: Err(err),
                                    attempts,
                                    ttft_ms,
                                    cancelled: true,
                                    partial_text: partial,
                                };
                            }
                            () = tokio::time::sleep(wait) => {}
                        }
                        if !observer.may_retry().await {
                            return Execution {
                                result: Err(ProviderError::KeyRevoked),
                                attempts,
                                ttft_ms,
                                cancelled: false,
                                partial_text: partial,
                            };
                        }
                        waited = wait;
                        partial.clear();
                    }
                }
            }
        }
    }
}

/// One streamed attempt, collected into a response while deltas go to `on_delta`; `text` holds
/// what arrived so far (at most the output cap) and `usage` the latest usage reported.
///
/// Deadlines: the stream must open and its first event arrive within `attempt_timeout` (a
/// reasoning model may think long before its first token); after that, no gap between events
/// (keep-alives count) may pass `stream_idle_timeout`, and the whole stream must end within
/// `stream_timeout`. A stream that ends without saying it finished (no finish reason, no end
/// marker) was cut off: that is an error, not a reply.
async fn run_stream(
    call: &Call<'_>,
    policy: &RetryPolicy,
    text: &mut String,
    usage: &mut Option<Usage>,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<ChatResponse, ProviderError> {
    let opened = Instant::now();
    let mut events = match tokio::time::timeout(
        policy.attempt_timeout,
        call.provider.stream(call.http, call.request),
    )
    .await
    {
        Ok(r) => r?,
        Err(_) => return Err(ProviderError::Timeout),
    };
    let mut finish: Option<FinishReason> = None;
    let mut done = false;
    let mut first = true;
    loop {
        let gap = if first {
            policy.attempt_timeout.saturating_sub(opened.elapsed())
        } else {
            policy.stream_idle_timeout
        };
        let gap = gap.min(policy.stream_timeout.saturating_sub(opened.elapsed()));
        let next = match tokio::time::timeout(gap, events.next()).await {
            Ok(n) => n,
            Err(_) => return Err(ProviderError::Timeout),
        };
        first = false;
        match next {
            None => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(StreamEvent::Delta(t))) => {
                if text.len().saturating_add(t.len()) > call.max_output_bytes {
                    return Err(ProviderError::TooLarge {
                        limit: call.max_output_bytes,
                    });
                }
                on_delta(&t);
                text.push_str(&t);
            }
            Some(Ok(StreamEvent::Usage(u))) => *usage = Some(u),
            Some(Ok(StreamEvent::Finish(f))) => finish = Some(f),
            Some(Ok(StreamEvent::KeepAlive)) => {}
            Some(Ok(StreamEvent::Done)) => done = true,
        }
    }
    if finish.is_none() && !done {
        return Err(ProviderError::Stream(
            "the stream ended before the provider said it had finished".into(),
        ));
    }
    Ok(ChatResponse {
        text: std::mem::take(text),
        usage: *usage,
        finish_reason: finish,
        model: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> ProviderError {
        ProviderError::Http {
            provider: "OpenAI",
            status,
            error_type: None,
            message: String::new(),
            retry_after: None,
            should_retry: None,
        }
    }

    #[test]
    fn status_classes() {
        let p = RetryPolicy::default();
        for s in [408, 409, 429, 500, 502, 503, 504, 529] {
            assert!(
                matches!(decide(&http(s), 1, false, &p, 0.0), Decision::Retry(_)),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 422] {
            assert_eq!(decide(&http(s), 1, false, &p, 0.0), Decision::Stop, "{s}");
        }
        assert!(matches!(
            decide(&ProviderError::Timeout, 1, false, &p, 0.0),
            Decision::Retry(_)
        ));
        assert!(matches!(
            decide(&ProviderError::Connect("x".into()), 2, false, &p, 0.0),
            Decision::Retry(_)
        ));
        assert_eq!(
            decide(&ProviderError::Decode("x".into()), 1, false, &p, 0.0),
            Decision::Stop
        );
        assert_eq!(
            decide(&http(500), 3, false, &p, 0.0),
            Decision::Stop,
            "attempts exhausted"
        );
        assert_eq!(
            decide(&http(500), 1, true, &p, 0.0),
            Decision::Stop,
            "tokens already streamed"
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let p = RetryPolicy {
            max_attempts: 10,
            ..RetryPolicy::default()
        };
        let wait = |n, j| match decide(&http(503), n, false, &p, j) {
            Decision::Retry(d) => d,
            Decision::Stop => panic!("should retry"),
        };
        assert_eq!(wait(1, 0.0), Duration::from_millis(500));
        assert_eq!(wait(2, 0.0), Duration::from_secs(1));
        assert_eq!(wait(3, 0.0), Duration::from_secs(2));
        assert_eq!(wait(6, 0.0), Duration::from_secs(8), "capped");
        assert_eq!(wait(1, 0.999_999).as_millis(), 375, "at most 25% jitter");
    }

    #[test]
    fn provider_hints_win_within_the_cap() {
        let p = RetryPolicy::default();
        let with = |retry_after, should_retry, provider, status| ProviderError::Http {
            provider,
            status,
            error_type: None,
            message: String::new(),
            retry_after,
            should_retry,
        };
        assert_eq!(
            decide(
                &with(Some(Duration::from_secs(7)), None, "OpenAI", 429),
                1,
                false,
                &p,
                0.5
            ),
            Decision::Retry(Duration::from_secs(7))
        );
        assert_eq!(
            decide(
                &with(Some(Duration::from_secs(600)), None, "OpenAI", 429),
                1,
                false,
                &p,
                0.0
            ),
            Decision::Retry(Duration::from_millis(500)),
            "a hint beyond the cap falls back to backoff"
        );
        assert_eq!(
            decide(&with(None, Some(false), "OpenAI", 503), 1, false, &p, 0.0),
            Decision::Stop
        );
        assert!(matches!(
            decide(&with(None, Some(true), "OpenAI", 418), 1, false, &p, 0.0),
            Decision::Retry(_)
        ));
        assert_eq!(
            decide(&with(None, Some(true), "OpenAI", 401), 1, false, &p, 0.0),
            Decision::Stop
        );
        assert_eq!(
            decide(&with(None, None, "Anthropic", 429), 1, false, &p, 0.0),
            Decision::Stop,
            "Anthropic 429 without retry-after is a spend cap"
        );
        assert!(matches!(
            decide(
                &with(Some(Duration::from_secs(1)), None, "Anthropic", 429),
                1,
                false,
                &p,
                0.0
            ),
            Decision::Retry(_)
        ));
    }
}
