//! The admit stage: the one place a prepared run can be refused for the workspace's limits before
//! any spend — and where a budget reservation is taken, to be settled by the record stage.
//!
//! The decision belongs to a [`Gate`]. Galaxy ships [`AdmitAll`] until the limits and budgets
//! issue adds its gate (GCRA rate limits per workspace, a reservation of the run's maximum cost);
//! the pipeline already does the rest: a [`Refusal`] is recorded as a run with its status (no
//! provider call, no spend) and comes back as an error before anything is streamed.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::{RunMode, RunStatus, RunTrigger};
use crate::error::CoreError;

/// What a gate knows about the run it judges.
#[derive(Clone, Debug)]
pub struct AdmitRequest {
    pub workspace_id: String,
    pub agent_id: String,
    pub mode: RunMode,
    pub trigger: RunTrigger,
    pub provider: String,
    pub model: String,
    /// The most output tokens the run may use (the agent's `max_tokens`).
    pub max_tokens: i64,
    /// Input tokens, estimated from the system prompt and the rendered user message.
    pub input_tokens: i64,
}

/// An admitted run; carries what the record stage settles (a budget reservation).
#[derive(Debug, Default)]
pub struct Admission {}

impl Admission {
    /// Settles what admission reserved, once the run is on record (nothing is reserved yet).
    pub fn settle(self) {}
}

/// What a refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// Too many runs or tokens for now (`429`, with `Retry-After`).
    RateLimited,
    /// The run would pass a spend cap (`402`).
    BudgetExceeded,
}

impl RefusalKind {
    /// The status of the recorded run.
    pub fn status(self) -> RunStatus {
        match self {
            RefusalKind::RateLimited => RunStatus::RateLimited,
            RefusalKind::BudgetExceeded => RunStatus::BudgetExceeded,
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
