//! The limits gate: what the run pipeline's admit stage asks before a run may spend — a rate
//! limit decision (GCRA buckets of requests and tokens per workspace, in Redis when the server
//! has one, else in this process) and a budget reservation (in the database, see [`budget`]).
//! The pipeline owns the order and the settlement; this is the arithmetic and the storage.
//!
//! When Redis does not answer (each call is bounded by a short timeout, and a failed Redis is
//! left alone for a few seconds), [`RedisDown`] decides: `closed` (the default) refuses API runs
//! with a clear, retryable error and counts the test panel's runs here; `local` counts every run
//! here (then each instance enforces the limit on its own until Redis is back).

use std::sync::Arc;
use std::time::Duration;

use crate::db::Db;
use crate::error::CoreError;
use crate::limiter::{Bucket, BucketState, Buckets, SharedLimiter};

use super::budget::{self, AlertAt, Hold, Spent};
use super::{LimitSettings, RateWindow, UnpricedPolicy};

crate::string_enum! {
    /// What the gate does while Redis does not answer.
    pub enum RedisDown("when Redis is down") {
        /// Refuse API runs (503, retry later); count the test panel's runs in this process.
        Closed = "closed",
        /// Count every run in this process (each instance then has its own limit).
        Local = "local",
    }
}

/// The rate windows after a decision (the API's `x-ratelimit-*` headers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub requests: Option<RateWindow>,
    pub tokens: Option<RateWindow>,
}

/// Where a run's rate units were counted, to correct them there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    Shared,
    Local,
}

/// Units a run was charged, for [`LimitsGate::give_back`] and [`LimitsGate::correct_tokens`].
#[derive(Clone, Debug)]
pub struct Charge {
    pub counted: Counted,
    /// The request buckets charged one each: key and µs per request.
    pub requests: Vec<(String, i64)>,
    /// The token buckets charged: key, µs per token, tokens charged.
    pub tokens: Vec<(String, i64, i64)>,
}

/// The limits that apply to a run, each with its scope (`""`: the workspace's; `agent:<id>`,
/// `token:<id>`), the workspace's first.
pub type Scoped<'a> = [(String, &'a LimitSettings)];

/// How a scope's limit is named in a message.
fn scope_name(scope: &str) -> &'static str {
    match scope.split_once(':').map(|(kind, _)| kind) {
        None => "the workspace",
        Some("agent") => "this agent",
        Some(_) => "this API token",
    }
}

/// What the rate limit decided.
#[derive(Debug)]
pub enum RateVerdict {
    /// Counted (or no limit: `None`).
    Allowed(Option<(Charge, RateHeaders)>),
    Refused {
        wait: Duration,
        message: String,
    },
    /// Redis did not answer and the policy refuses.
    Unavailable,
    /// The run is more tokens than the limit allows in a minute: it can never pass.
    TooLarge(String),
}

/// Why a budget reservation was refused.
#[derive(Debug)]
pub enum BudgetVerdict {
    /// Reserved (`Some`: settle it), or nothing to reserve.
    Reserved(Option<Reservation>),
    Refused(String),
}

/// A live run's reservation, settled once when the run ends.
#[derive(Clone, Debug)]
pub struct Reservation {
    pub workspace_id: String,
    pub run_id: String,
    pub alert: Option<AlertAt>,
}

struct Inner {
    db: Db,
    shared: Option<Arc<SharedLimiter>>,
    local: Buckets,
    redis_down: RedisDown,
    instance_id: Option<String>,
}

/// The gate. Cheap to clone.
#[derive(Clone)]
pub struct LimitsGate(Arc<Inner>);

impl std::fmt::Debug for LimitsGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LimitsGate")
            .field("shared", &self.0.shared.is_some())
            .field("redis_down", &self.0.redis_down)
            .finish_non_exhaustive()
    }
}

const MINUTE_US: i64 = 60_000_000;

/// µs per unit for `per_minute` units a minute (rounded up: never faster than the limit).
fn every_us(per_minute: i64) -> i64 {
    let per_minute = per_minute.max(1);
    (MINUTE_US + per_minute - 1) / per_minute
}

fn window(per_minute: i64, capacity: i64, state: BucketState) -> RateWindow {
    RateWindow {
        per_minute,
        capacity,
        remaining: state.remaining.min(capacity),
        // Rounded up: a client told "full in 0 s" finds it full.
        full_in_ms: (state.reset_us.max(0) + 999) / 1000,
    }
}

/// Whole seconds, rounded up, at least one.
fn secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

impl LimitsGate {
    /// A gate on `db`, counting in `shared` (Redis) when given.
    pub fn new(
        db: Db,
        shared: Option<Arc<SharedLimiter>>,
        redis_down: RedisDown,
        instance_id: Option<String>,
    ) -> LimitsGate {
        LimitsGate(Arc::new(Inner {
            db,
            shared,
            local: Buckets::default(),
            redis_down,
            instance_id,
        }))
    }

    /// The database the gate reserves in.
    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// The buckets of a run of `tokens` tokens: per scope, requests then tokens (each when
    /// limited), with their limits per minute and whether they count requests.
    fn buckets(workspace_id: &str, scoped: &Scoped<'_>, tokens: i64) -> Vec<(Bucket, i64, bool)> {
        let key = |scope: &str, unit: &str| {
            if scope.is_empty() {
                format!("rate:{workspace_id}:{unit}")
            } else {
                format!("rate:{workspace_id}:{scope}:{unit}")
            }
        };
        let mut out = Vec::new();
        for (scope, limits) in scoped {
            if let (Some(rpm), Some(capacity)) =
                (limits.requests_per_minute, limits.request_capacity())
            {
                out.push((
                    Bucket {
                        key: key(scope, "requests"),
                        every_us: every_us(rpm),
                        capacity,
                        cost: 1,
                    },
                    rpm,
                    true,
                ));
            }
            if let Some(tpm) = limits.tokens_per_minute {
                out.push((
                    Bucket {
                        key: key(scope, "tokens"),
                        every_us: every_us(tpm),
                        capacity: tpm,
                        cost: tokens.max(0),
                    },
                    tpm,
                    false,
                ));
            }
        }
        out
    }

    /// The windows to report: per unit, the bucket with the least left.
    fn headers(buckets: &[(Bucket, i64, bool)], states: &[BucketState]) -> RateHeaders {
        let mut headers = RateHeaders::default();
        for ((bucket, per_minute, requests), state) in buckets.iter().zip(states) {
            let w = window(*per_minute, bucket.capacity, *state);
            let slot = if *requests {
                &mut headers.requests
            } else {
                &mut headers.tokens
            };
            if slot.is_none_or(|known| w.remaining < known.remaining) {
                *slot = Some(w);
            }
        }
        headers
    }

    /// Counts one run of `tokens` tokens against every rate limit that applies to it (all or
    /// none). `api`: the run comes from the API (refused while Redis is down under
    /// [`RedisDown::Closed`]).
    pub async fn take(
        &self,
        workspace_id: &str,
        scoped: &Scoped<'_>,
        tokens: i64,
        api: bool,
    ) -> RateVerdict {
        let buckets = Self::buckets(workspace_id, scoped, tokens);
        if buckets.is_empty() {
            return RateVerdict::Allowed(None);
        }
        for (scope, limits) in scoped {
            if let Some(tpm) = limits.tokens_per_minute
                && tokens > tpm
            {
                return RateVerdict::TooLarge(format!(
                    "This run may use {tokens} tokens (its input and max_tokens), more than \
                     {}'s limit of {tpm} tokens per minute: lower the agent's max tokens or \
                     raise the limit.",
                    scope_name(scope)
                ));
            }
        }
        let plain: Vec<Bucket> = buckets.iter().map(|(b, ..)| b.clone()).collect();
        let (taken, counted) = match &self.0.shared {
            Some(shared) => match shared.take(&plain).await {
                Ok(taken) => (taken, Counted::Shared),
                Err(_) if api && self.0.redis_down == RedisDown::Closed => {
                    return RateVerdict::Unavailable;
                }
                Err(_) => (self.0.local.take(&plain), Counted::Local),
            },
            None => (self.0.local.take(&plain), Counted::Local),
        };
        if taken.wait_us > 0 {
            let wait = Duration::from_micros(u64::try_from(taken.wait_us).unwrap_or(u64::MAX));
            // Name the limits that are full (the buckets without room for this run).
            let prefix = format!("rate:{workspace_id}:");
            let what: Vec<String> = buckets
                .iter()
                .zip(&taken.states)
                .filter(|((bucket, ..), state)| state.remaining < bucket.cost)
                .map(|((bucket, per_minute, requests), _)| {
                    let unit = if *requests { "requests" } else { "tokens" };
                    let scope = bucket
                        .key
                        .strip_prefix(&prefix)
                        .and_then(|rest| rest.strip_suffix(unit))
                        .map_or("", |rest| rest.trim_end_matches(':'));
                    format!("{}: {per_minute} {unit} per minute", scope_name(scope))
                })
                .collect();
            return RateVerdict::Refused {
                wait,
                message: format!(
                    "The rate limit is reached ({}); try again in {} s.",
                    what.join("; "),
                    secs(wait)
                ),
            };
        }
        let headers = Self::headers(&buckets, &taken.states);
        let charge = Charge {
            counted,
            requests: buckets
                .iter()
                .filter(|(_, _, requests)| *requests)
                .map(|(b, ..)| (b.key.clone(), b.every_us))
                .collect(),
            tokens: buckets
                .iter()
                .filter(|(_, _, requests)| !*requests)
                .map(|(b, ..)| (b.key.clone(), b.every_us, b.cost))
                .collect(),
        };
        RateVerdict::Allowed(Some((charge, headers)))
    }

    async fn adjust(&self, counted: Counted, key: &str, every_us: i64, units: i64) {
        if units == 0 {
            return;
        }
        match (counted, &self.0.shared) {
            (Counted::Shared, Some(shared)) => {
                if let Err(e) = shared.adjust(key, every_us, units).await {
                    tracing::warn!(error = %e, "a rate-limit correction was lost");
                }
            }
            _ => self.0.local.adjust(key, every_us, units),
        }
    }

    /// Gives back what `charge` counted (a run refused after it was counted).
    pub async fn give_back(&self, charge: &Charge) {
        for (key, every) in &charge.requests {
            self.adjust(charge.counted, key, *every, -1).await;
        }
        for (key, every, tokens) in &charge.tokens {
            self.adjust(charge.counted, key, *every, -tokens).await;
        }
    }

    /// Corrects the tokens `charge` counted to the `used` ones (fewer: given back).
    pub async fn correct_tokens(&self, charge: &Charge, used: i64) {
        for (key, every, tokens) in &charge.tokens {
            self.adjust(charge.counted, key, *every, used.max(0) - tokens)
                .await;
        }
    }

    /// The workspace's own rate windows now (requests, tokens), without counting anything.
    pub async fn windows(
        &self,
        workspace_id: &str,
        limits: &LimitSettings,
    ) -> (Option<RateWindow>, Option<RateWindow>) {
        let scoped = [(String::new(), limits)];
        let buckets = Self::buckets(workspace_id, &scoped, 0);
        if buckets.is_empty() {
            return (None, None);
        }
        let plain: Vec<Bucket> = buckets.iter().map(|(b, ..)| b.clone()).collect();
        let states = match &self.0.shared {
            Some(shared) => match shared.peek(&plain).await {
                Ok(states) => states,
                Err(_) => self.0.local.peek(&plain),
            },
            None => self.0.local.peek(&plain),
        };
        let headers = Self::headers(&buckets, &states);
        (headers.requests, headers.tokens)
    }

    /// Reserves a live run's most possible cost (`None`: its model has no price) against every
    /// budget that applies: the workspace's (always kept, a hard cap when set so) and each
    /// override's (always a hard cap) — all or none.
    pub async fn reserve(&self, ask: &BudgetAsk<'_>) -> Result<BudgetVerdict, CoreError> {
        let Some((_, workspace)) = ask.scoped.first() else {
            return Ok(BudgetVerdict::Reserved(None));
        };
        let caps: Vec<(&str, Option<i64>)> = ask
            .scoped
            .iter()
            .filter_map(|(scope, limits)| {
                if scope.is_empty() {
                    Some((scope.as_str(), limits.cap_micros()))
                } else {
                    limits
                        .monthly_budget_micros
                        .map(|cap| (scope.as_str(), Some(cap)))
                }
            })
            .collect();
        // The workspace's policy for unpriced models holds for every cap that applies (allowed:
        // they pass caps and are counted as runs of unknown cost).
        let capped = caps.iter().any(|(_, cap)| cap.is_some());
        let amount = match ask.most_micros {
            Some(m) => m,
            None if capped && workspace.unpriced == UnpricedPolicy::Refuse => {
                return Ok(BudgetVerdict::Refused(format!(
                    "The model {} has no price, so its cost cannot be counted against a hard \
                     budget cap: add a price for it in Prices, or allow unpriced models in \
                     Settings → Limits & budget.",
                    ask.model
                )));
            }
            None => 0,
        };
        let (month, resets_at) = crate::timefmt::month_of(crate::db::now_ms());
        let holds: Vec<Hold<'_>> = caps
            .iter()
            .map(|(scope, cap)| Hold {
                workspace_id: ask.workspace_id,
                scope,
                run_id: ask.run_id,
                month: &month,
                amount_micros: amount,
                cap_micros: *cap,
                instance_id: self.0.instance_id.as_deref(),
            })
            .collect();
        if let Some(i) = budget::reserve_all(&self.0.db, &holds).await? {
            let (scope, cap) = caps.get(i).copied().unwrap_or(("", None));
            let ledger = budget::scope_ledger(&self.0.db, ask.workspace_id, scope, &month).await?;
            let money = |m: i64| crate::pricing::format_cost(Some(m));
            let what = if amount > 0 {
                format!(
                    "This run could cost up to {}, more than is left of",
                    money(amount)
                )
            } else {
                "Nothing is left of".to_owned()
            };
            return Ok(BudgetVerdict::Refused(format!(
                "{what} {}'s monthly budget of {} ({} spent, {} held by runs in flight). The \
                 budget resets on {} (UTC); an admin can raise it in Settings → Limits & budget.",
                scope_name(scope),
                money(cap.unwrap_or(0)),
                money(ledger.spent_micros),
                money(ledger.reserved_micros),
                &crate::timefmt::format_utc(resets_at)[..10]
            )));
        }
        Ok(BudgetVerdict::Reserved(Some(Reservation {
            workspace_id: ask.workspace_id.to_owned(),
            run_id: ask.run_id.to_owned(),
            alert: match (
                workspace.monthly_budget_micros,
                workspace.soft_alert_percent,
            ) {
                (Some(budget_micros), Some(percent)) => Some(AlertAt {
                    budget_micros,
                    percent,
                }),
                (Some(budget_micros), None) if workspace.hard_cap => Some(AlertAt {
                    budget_micros,
                    percent: 100,
                }),
                _ => None,
            },
        })))
    }

    /// Settles `reservation` to what the run spent (`None`: unpriced); raises the soft alert
    /// (audited by `actor`) when this settlement reaches it.
    pub async fn settle(
        &self,
        reservation: &Reservation,
        spent: Option<i64>,
        actor: &crate::workspaces::Actor,
    ) -> Result<(), CoreError> {
        let spent = spent.map_or(Spent::Unpriced, Spent::Micros);
        let raised = budget::settle(
            &self.0.db,
            &reservation.workspace_id,
            &reservation.run_id,
            spent,
            reservation.alert.map(|a| (a, actor)),
        )
        .await?;
        if raised == Some(true) {
            tracing::warn!(
                workspace_id = reservation.workspace_id,
                "the workspace reached its budget alert"
            );
        }
        Ok(())
    }
}

/// What a budget reservation is for.
#[derive(Debug)]
pub struct BudgetAsk<'a> {
    pub workspace_id: &'a str,
    pub run_id: &'a str,
    /// The limits that apply, the workspace's first.
    pub scoped: &'a Scoped<'a>,
    pub model: &'a str,
    /// The run's most possible cost (`None`: the model has no price).
    pub most_micros: Option<i64>,
}
