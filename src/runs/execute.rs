//! The execute stage: one provider call path for mock and live runs alike — the retry loop with
//! the run's provider (`Provider::Mock` or the agent's provider with the opened key) — then the
//! output checked against the output schema (on the CPU pool when large), and, for an agent that
//! asks for it, one repair attempt that shows the model its reply and what was wrong, counted and
//! billed as an attempt.

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::RunStatus;
use super::context::Shared;
use super::outcome::{Outcome, join_errors};
use super::prepare::Call;
use crate::contract::CompiledSchema;
use crate::providers::ChatRequest;
use crate::providers::retry::{self, Observer};
use crate::validation::FieldError;

/// Outputs at least this long are parsed and validated on the CPU pool.
const POOL_OUTPUT_BYTES: usize = 16 * 1024;

/// Calls the provider (with retries), checks the output, repairs it once when asked to. Every
/// way this can end is an outcome to record.
pub(super) async fn execute(
    shared: &Shared,
    call: &Call,
    stream: bool,
    repair: bool,
    cancel: &CancellationToken,
    observer: &mut dyn Observer,
) -> Outcome {
    let first = attempt(shared, call, &call.chat, stream, cancel, observer).await;
    if first.status == RunStatus::OutputInvalid && repair {
        return repair_once(shared, first, call, stream, cancel, observer).await;
    }
    first
}

/// One execution of `request`, its output checked.
async fn attempt(
    shared: &Shared,
    call: &Call,
    request: &ChatRequest,
    stream: bool,
    cancel: &CancellationToken,
    observer: &mut dyn Observer,
) -> Outcome {
    let exec = retry::execute(
        retry::Call {
            http: &call.http,
            provider: &call.provider,
            request,
            stream,
            max_output_bytes: shared.config.max_output_bytes,
        },
        &shared.config.policy,
        cancel,
        observer,
    )
    .await;
    let outcome = Outcome::from_execution(exec, request);
    validate_output(shared, outcome, call.output_schema.clone()).await
}

/// What checking an output found.
struct Checked {
    is_json: bool,
    /// The JSON pretty-printed, when that stays within the output cap.
    pretty: Option<String>,
    errors: Vec<FieldError>,
}

fn check_output(schema: &CompiledSchema, text: &str, cap: usize) -> Checked {
    match serde_json::from_str::<Value>(text) {
        Err(e) => Checked {
            is_json: false,
            pretty: None,
            errors: vec![FieldError::new(
                "/",
                format!("The output is not JSON ({e})."),
            )],
        },
        Ok(value) => Checked {
            is_json: true,
            pretty: serde_json::to_string_pretty(&value)
                .ok()
                .filter(|p| p.len() <= cap),
            errors: schema.errors(&value),
        },
    }
}

/// Checks a successful output against the output schema (JSON is stored pretty-printed); a run
/// already judged is returned as it is. If the check itself cannot run (the CPU pool is full
/// past its time limit), the reply stays on record with what it cost, marked unchecked.
async fn validate_output(
    shared: &Shared,
    mut o: Outcome,
    schema: Option<std::sync::Arc<CompiledSchema>>,
) -> Outcome {
    let (Some(schema), RunStatus::Succeeded, Some(text)) = (schema, o.status, o.output.as_ref())
    else {
        return o;
    };
    let cap = shared.config.max_output_bytes;
    let checked = if text.len() >= POOL_OUTPUT_BYTES {
        let text = text.clone();
        match shared
            .config
            .cpu
            .run(move || check_output(&schema, &text, cap))
            .await
        {
            Ok(checked) => checked,
            Err(e) => {
                tracing::warn!(error = %e, "the output could not be checked");
                o.status = RunStatus::Failed;
                o.error_kind = Some("output_unchecked".into());
                o.error_message = Some(format!(
                    "The reply could not be checked against the output schema ({e}); the server \
                     is busy. It is kept here unchecked, with what it cost."
                ));
                return o;
            }
        }
    } else {
        check_output(&schema, text, cap)
    };
    let Checked {
        is_json,
        pretty,
        errors,
    } = checked;
    if is_json {
        o.output_is_json = true;
        if let Some(pretty) = pretty {
            o.output = Some(pretty);
        }
    }
    if !errors.is_empty() {
        // The reply, its usage and attempts stay on record, marked invalid.
        o.status = RunStatus::OutputInvalid;
        o.error_kind = Some("output_invalid".into());
        o.error_message = Some(join_errors(&errors));
        o.field_errors = errors;
    }
    o
}

/// The one repair attempt: the model sees its reply and what was wrong with it, and is asked
/// again. Counted as an attempt; tokens of both calls are billed.
async fn repair_once(
    shared: &Shared,
    mut first: Outcome,
    call: &Call,
    stream: bool,
    cancel: &CancellationToken,
    observer: &mut dyn Observer,
) -> Outcome {
    if let Some(last) = first.attempts.last_mut() {
        last.error_class = Some("output_invalid".into());
        last.error_message = first.error_message.clone();
    }
    let request = ChatRequest {
        user: format!(
            "{}\n\nYour previous reply was:\n{}\n\nIt does not match the required JSON \
             Schema:\n{}\n\nReply again with only JSON that matches the schema.",
            call.chat.user,
            first.output.as_deref().unwrap_or_default(),
            first.error_message.as_deref().unwrap_or_default(),
        ),
        ..call.chat.clone()
    };
    if !observer.may_retry().await {
        first.error_message = Some(format!(
            "{}\nNo repair attempt was made: the provider key was revoked during the run.",
            first.error_message.unwrap_or_default()
        ));
        return first;
    }
    observer.delta("\n\n[repair attempt]\n");
    let mut second = attempt(shared, call, &request, stream, cancel, observer).await;
    let offset = u32::try_from(first.attempts.len()).unwrap_or(0);
    for a in &mut second.attempts {
        a.number = a.number.saturating_add(offset);
    }
    let mut attempts = std::mem::take(&mut first.attempts);
    attempts.append(&mut second.attempts);
    let usage = first.usage.plus(second.usage);
    let usage_reported = first.usage_reported && second.usage_reported;
    let first_ttft = first.ttft_ms;
    let mut out = match second.status {
        RunStatus::Succeeded | RunStatus::OutputInvalid | RunStatus::Cancelled => second,
        // The repair call itself failed: keep the invalid output and say why.
        _ => {
            let why = second.error_message.unwrap_or_default();
            first.error_message = Some(format!(
                "{}\nThe repair attempt failed: {why}",
                first.error_message.unwrap_or_default()
            ));
            first
        }
    };
    out.attempts = attempts;
    out.usage = usage;
    out.usage_reported = usage_reported;
    out.ttft_ms = first_ttft.or(out.ttft_ms);
    out
}
