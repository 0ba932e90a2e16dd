//! The admit stage: the one place a prepared run can be refused for the workspace's limits before
//! any spend — and where a budget reservation is taken, to be settled by the record stage.
//!
//! The decision belongs to a [`Gate`]: the server's is the workspace limits gate
//! ([`LimitsGate`]: GCRA rate limits of requests and tokens, a reservation of a live run's most
//! possible cost against the monthly budget); [`AdmitAll`] admits everything (no limits). A
//! [`Refusal`] is recorded as a run with its status (no provider call, no spend) and comes back
//! as an error before anything is streamed; an [`Admission`] is settled once the run is on
//! record — its reservation to the run's actual cost, its token count to the tokens it used —
//! or, if it is dropped unsettled (the run never started), to nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{RunMode, RunStatus, RunTrigger};
use crate::error::CoreError;
use crate::limits::LimitSet;
pub use crate::limits::gate::RateHeaders;
use crate::limits::gate::{BudgetAsk, BudgetVerdict, Charge, LimitsGate, RateVerdict, Reservation};
use crate::pricing::{ModelPrice, cost_micros};
use crate::providers::Usage;
use crate::workspaces::Actor;

/// What a gate knows about the run it judges.
#[derive(Clone, Debug)]
pub struct AdmitRequest {
    pub run_id: String,
    /// Who starts it (a budget alert it raises is audited as theirs).
    pub actor: Actor,
    pub workspace_id: String,
    pub agent_id: String,
    pub mode: RunMode,
    pub trigger: RunTrigger,
    pub provider: String,
    pub model: String,
    /// The most output tokens the run may use (the agent's `max_tokens`).
    pub max_tokens: i64,
    /// Input tokens: counted by the model's tokenizer where there is one, else estimated (see
    /// `providers::tokens`).
    pub input_tokens: i64,
    /// A repair attempt may follow the first call (the worst case is two calls).
    pub may_repair: bool,
    /// Attempts of one call that may be billed (a provider that reports input usage and then
    /// fails is retried): the retry policy's most attempts.
    pub attempts: u32,
    /// The workspace's limits and overrides.
    pub limits: Arc<LimitSet>,
    /// The API token that starts the run (its override applies).
    pub api_token_id: Option<String>,
    /// The model's price, if it has one.
    pub price: Option<ModelPrice>,
}

/// What a repair attempt adds to its call's input beyond the first answer (the instruction and
/// the validation errors, bounded).
const REPAIR_PROMPT_TOKENS: i64 = 1_024;

impl AdmitRequest {
    /// The most the run can cost at `price`: its input and `max_tokens` of output, twice over
    /// with a repair attempt (whose input also holds the first answer), the input once more for
    /// each retry (an attempt that fails after its input was billed; output is never retried
    /// once it streamed).
    pub fn most_micros(&self, price: &ModelPrice) -> i64 {
        let (input, output) = if self.may_repair {
            (
                self.input_tokens
                    .saturating_mul(2)
                    .saturating_add(self.max_tokens)
                    .saturating_add(REPAIR_PROMPT_TOKENS),
                self.max_tokens.saturating_mul(2),
            )
        } else {
            (self.input_tokens, self.max_tokens)
        };
        let input = input.saturating_mul(i64::from(self.attempts.max(1)));
        cost_micros(Usage::reported(input, output), price)
    }
}

/// What a recorded run used, for its settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Used {
    /// `None`: its model has no price.
    pub cost_micros: Option<i64>,
    pub total_tokens: i64,
}

/// What an admission settles.
#[derive(Debug)]
struct Pending {
    gate: LimitsGate,
    actor: Actor,
    charge: Option<Charge>,
    reservation: Option<Reservation>,
}

impl Pending {
    async fn settle(self, used: Used) {
        if let Some(charge) = &self.charge {
            self.gate.correct_tokens(charge, used.total_tokens).await;
        }
        if let Some(r) = &self.reservation
            && let Err(e) = self.gate.settle(r, used.cost_micros, &self.actor).await
        {
            // Held until the sweep settles it from the recorded run.
            tracing::warn!(error = %e, run_id = r.run_id, "settling a run's reservation failed");
        }
    }
}

/// An admitted run: the rate windows after it was counted, and what is settled once it is on
/// record.
#[derive(Debug, Default)]
pub struct Admission {
    /// The tightest rate windows after this run was counted, over every limit that applies
    /// (the API's headers).
    pub rate: Option<RateHeaders>,
    pending: Option<Pending>,
    /// The run's task owns it: dropped unsettled, its reservation stays held (the sweep settles
    /// it from the run's row).
    running: bool,
}

impl Admission {
    /// Settles what admission counted and reserved to what the recorded run used.
    pub async fn settle(mut self, used: Used) {
        if let Some(pending) = self.pending.take() {
            pending.settle(used).await;
        }
    }

    /// Leaves the reservation held (the run could not be recorded: the sweep settles it from the
    /// run's row once that is final).
    pub fn keep(mut self) {
        self.pending = None;
    }

    /// Hands the admission to the run's task: from here on, only a settlement releases it.
    pub fn running(mut self) -> Admission {
        self.running = true;
        self
    }
}

impl Drop for Admission {
    // Dropped unsettled before its task owned it: the run never reached its provider (its start
    // failed or was abandoned).
    fn drop(&mut self) {
        if self.running {
            return;
        }
        if let Some(pending) = self.pending.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(pending.settle(Used {
                cost_micros: Some(0),
                total_tokens: 0,
            }));
        }
    }
}

/// What a refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Too many runs or tokens for now (`429`, with `Retry-After`).
    RateLimited,
    /// The run would pass a spend cap (`402`).
    BudgetExceeded,
    /// The limits could not be checked (Redis or the database did not answer): `503`, retry.
    Unavailable,
    /// The run could never fit the token limit (its input and `max_tokens` are more than a
    /// minute's worth): a field error, not worth retrying.
    TooLarge,
}

impl RefusalKind {
    /// The status of the recorded run.
    pub fn status(self) -> RunStatus {
        match self {
            RefusalKind::RateLimited => RunStatus::RateLimited,
            RefusalKind::BudgetExceeded => RunStatus::BudgetExceeded,
            RefusalKind::Unavailable => RunStatus::Failed,
            RefusalKind::TooLarge => RunStatus::RateLimited,
        }
    }

    /// The recorded run's error kind.
    pub fn error_kind(self) -> &'static str {
        match self {
            RefusalKind::RateLimited => "rate_limited",
            RefusalKind::BudgetExceeded => "budget_exceeded",
            RefusalKind::Unavailable => "limits_unavailable",
            RefusalKind::TooLarge => "over_token_limit",
        }
    }
}

/// Why a run was not admitted.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub kind: RefusalKind,
    /// What the person can do about it.
    pub message: String,
    /// When the caller may try again.
    pub retry_after: Option<Duration>,
}

impl Refusal {
    /// The error the caller gets (after the refused run is recorded).
    pub fn into_error(self) -> CoreError {
        match self.kind {
            RefusalKind::RateLimited => CoreError::RateLimited {
                // Whole seconds, rounded up: a client never retries early.
                retry_after_secs: self.retry_after.map_or(1, |d| {
                    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
                }),
            },
            RefusalKind::BudgetExceeded => CoreError::BudgetExceeded {
                message: self.message,
            },
            RefusalKind::Unavailable => CoreError::Busy {
                retry_after_secs: self.retry_after.map_or(5, |d| d.as_secs().max(1)),
            },
            RefusalKind::TooLarge => CoreError::field("max_tokens", &self.message),
        }
    }
}

/// A future a gate answers with.
pub type Verdict<'a> = Pin<Box<dyn Future<Output = Result<Admission, Refusal>> + Send + 'a>>;

/// Decides whether a prepared run goes ahead.
pub trait Gate: Send + Sync + std::fmt::Debug {
    fn admit<'a>(&'a self, run: &'a AdmitRequest) -> Verdict<'a>;
}

/// Admits every run: no limits configured.
#[derive(Debug, Default)]
pub struct AdmitAll;

impl Gate for AdmitAll {
    fn admit<'a>(&'a self, _run: &'a AdmitRequest) -> Verdict<'a> {
        Box::pin(std::future::ready(Ok(Admission::default())))
    }
}

/// Why the limits could not be checked.
fn unavailable(message: &str) -> Refusal {
    Refusal {
        kind: RefusalKind::Unavailable,
        message: message.to_owned(),
        retry_after: Some(crate::limiter::DOWN_FOR),
    }
}

impl Gate for LimitsGate {
    /// Rate first (in memory or one Redis call), then — for live runs — the budget (one
    /// database write); a run the budget refuses gets its rate units back.
    fn admit<'a>(&'a self, run: &'a AdmitRequest) -> Verdict<'a> {
        Box::pin(async move {
            let tokens = run.input_tokens.saturating_add(run.max_tokens);
            let api = run.trigger == RunTrigger::Api;
            let scoped = run
                .limits
                .for_run(&run.agent_id, run.api_token_id.as_deref());
            let counted = match self.take(&run.workspace_id, &scoped, tokens, api).await {
                RateVerdict::Allowed(counted) => counted,
                RateVerdict::Refused { wait, message } => {
                    return Err(Refusal {
                        kind: RefusalKind::RateLimited,
                        message,
                        retry_after: Some(wait),
                    });
                }
                RateVerdict::TooLarge(message) => {
                    return Err(Refusal {
                        kind: RefusalKind::TooLarge,
                        message,
                        retry_after: None,
                    });
                }
                RateVerdict::Unavailable => {
                    return Err(unavailable(
                        "The rate limiter (Redis) did not answer, so API runs are refused for \
                         now; try again in a few seconds.",
                    ));
                }
            };
            let (charge, rate) = counted.map_or((None, None), |(c, h)| (Some(c), Some(h)));
            let reservation = if run.mode == RunMode::Live {
                let ask = BudgetAsk {
                    workspace_id: &run.workspace_id,
                    run_id: &run.run_id,
                    scoped: &scoped,
                    model: &run.model,
                    most_micros: run.price.as_ref().map(|p| run.most_micros(p)),
                };
                let refused = match self.reserve(&ask).await {
                    Ok(BudgetVerdict::Reserved(r)) => Ok(r),
                    Ok(BudgetVerdict::Refused(message)) => Err(Refusal {
                        kind: RefusalKind::BudgetExceeded,
                        message,
                        retry_after: None,
                    }),
                    Err(e) => {
                        tracing::warn!(error = %e, "the budget could not be checked");
                        Err(unavailable(
                            "The workspace's budget could not be checked (the database did not \
                             answer); try again in a few seconds.",
                        ))
                    }
                };
                match refused {
                    Ok(r) => r,
                    Err(refusal) => {
                        if let Some(charge) = &charge {
                            self.give_back(charge).await;
                        }
                        return Err(refusal);
                    }
                }
            } else {
                None
            };
            let pending = (charge.is_some() || reservation.is_some()).then(|| Pending {
                gate: self.clone(),
                actor: run.actor.clone(),
                charge,
                reservation,
            });
            Ok(Admission {
                rate,
                pending,
                running: false,
            })
        })
    }
}
