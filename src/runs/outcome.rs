//! How a run ended, before it is priced and written: the hand-off from the execute stage (or a
//! refusal in prepare) to the record stage.

use crate::contract::MAX_ERRORS;
use crate::providers::retry::{AttemptRecord, Execution};
use crate::providers::{ChatRequest, Usage, estimate_tokens};
use crate::runs::RunStatus;
use crate::validation::FieldError;

/// Most bytes of the joined field messages kept as a run's error message.
const MAX_JOINED_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug)]
pub(super) struct Outcome {
    pub status: RunStatus,
    pub output: Option<String>,
    pub output_is_json: bool,
    pub error_kind: Option<String>,
    pub error_message: Option<String>,
    pub usage: Usage,
    /// Usage came from the provider (else Galaxy estimated it).
    pub usage_reported: bool,
    pub attempts: Vec<AttemptRecord>,
    pub ttft_ms: Option<i64>,
    pub finish_reason: Option<String>,
    pub field_errors: Vec<FieldError>,
}

/// Field messages as one text, `pointer: message` per line, bounded.
pub(super) fn join_errors(errors: &[FieldError]) -> String {
    let mut out = String::new();
    for e in errors.iter().take(MAX_ERRORS) {
        let line = format!("{}: {}", e.field, e.message);
        if out.len() + line.len() + 1 > MAX_JOINED_BYTES {
            out.push_str("\n…");
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line);
    }
    out
}

impl Outcome {
    /// A run that ended without output (a refusal, a failure before any call).
    pub fn refused(status: RunStatus, kind: &str, message: String) -> Outcome {
        Outcome {
            status,
            output: None,
            output_is_json: false,
            error_kind: Some(kind.to_owned()),
            error_message: Some(message),
            usage: Usage::default(),
            usage_reported: false,
            attempts: Vec::new(),
            ttft_ms: None,
            finish_reason: None,
            field_errors: Vec::new(),
        }
    }

    pub fn input_invalid(errors: Vec<FieldError>) -> Outcome {
        let mut o = Outcome::refused(
            RunStatus::InputInvalid,
            "input_invalid",
            join_errors(&errors),
        );
        o.field_errors = errors;
        o
    }

    /// A run that stopped on an internal error or a panic after its `running` row was written:
    /// failed, with the attempts (and their tokens) made so far, so spend stays on record.
    pub fn internal(attempts: Vec<AttemptRecord>) -> Outcome {
        let mut o = Outcome::refused(
            RunStatus::Failed,
            "internal",
            "The run stopped on an internal error. It is on record with what it spent; \
             try again, and tell the operator if it keeps happening."
                .to_owned(),
        );
        o.usage = attempts
            .iter()
            .filter_map(|a| a.usage)
            .fold(Usage::default(), Usage::plus);
        o.usage_reported = o.usage != Usage::default();
        o.attempts = attempts;
        o
    }

    /// The outcome of one execution of `request`.
    pub fn from_execution(exec: Execution, request: &ChatRequest) -> Outcome {
        let Execution {
            result,
            attempts,
            ttft_ms,
            cancelled,
            partial_text,
        } = exec;
        let partial = (!partial_text.is_empty()).then_some(partial_text);
        match result {
            Ok(resp) => {
                let usage_reported = resp.usage.is_some();
                let usage = resp.usage.unwrap_or_else(|| {
                    Usage::reported(
                        request.estimated_input_tokens(),
                        estimate_tokens(&resp.text),
                    )
                });
                Outcome {
                    status: RunStatus::Succeeded,
                    output: Some(resp.text),
                    output_is_json: false,
                    error_kind: None,
                    error_message: None,
                    usage,
                    usage_reported,
                    attempts,
                    ttft_ms,
                    finish_reason: resp.finish_reason.map(|f| f.as_str().to_owned()),
                    field_errors: Vec::new(),
                }
            }
            Err(e) => {
                let mut o = if cancelled {
                    Outcome::refused(
                        RunStatus::Cancelled,
                        "cancelled",
                        "Stopped by the user.".into(),
                    )
                } else {
                    let status = if e.status() == Some(429) {
                        RunStatus::RateLimited
                    } else {
                        RunStatus::Failed
                    };
                    Outcome::refused(status, e.class(), e.explain())
                };
                // What the stopped or failed calls spent: the usage providers reported, or —
                // when output was streamed and no usage came — an estimate of it.
                let reported = attempts
                    .iter()
                    .filter_map(|a| a.usage)
                    .fold(Usage::default(), Usage::plus);
                if reported != Usage::default() {
                    o.usage = reported;
                    o.usage_reported = true;
                } else if let Some(text) = &partial {
                    o.usage =
                        Usage::reported(request.estimated_input_tokens(), estimate_tokens(text));
                }
                o.attempts = attempts;
                o.ttft_ms = ttft_ms;
                o.output = partial;
                o
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_messages_are_bounded() {
        let errors: Vec<FieldError> = (0..500)
            .map(|i| FieldError::new(format!("/{i}"), "m".repeat(400)))
            .collect();
        let joined = join_errors(&errors);
        assert!(joined.len() <= MAX_JOINED_BYTES + 4, "{}", joined.len());
        assert!(joined.ends_with('…'));
        assert_eq!(
            join_errors(&errors[..2]),
            format!("/0: {0}\n/1: {0}", "m".repeat(400))
        );
    }
}
