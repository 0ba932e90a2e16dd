//! The metrics Galaxy records, in one place: names, labels and units. Recorded through the
//! `metrics` facade (a no-op until the server installs its Prometheus recorder), so the core never
//! depends on how they are exported. Labels are closed sets (status, mode, trigger, provider kind,
//! error class): no label ever carries an id, a model name or user text, so the number of series
//! stays bounded.

use std::time::Duration;

/// Runs finished, by status, mode, trigger and provider.
pub const RUNS: &str = "galaxy_runs_total";
/// Wall time of a run, from admission to its commit.
pub const RUN_SECONDS: &str = "galaxy_run_duration_seconds";
/// Time to the first streamed token.
pub const TTFT_SECONDS: &str = "galaxy_run_ttft_seconds";
/// One provider call (an attempt).
pub const PROVIDER_CALL_SECONDS: &str = "galaxy_provider_call_duration_seconds";
/// Retries by error class.
pub const RETRIES: &str = "galaxy_provider_retries_total";
/// Tokens, by provider, mode and kind (`prompt`, `completion`).
pub const TOKENS: &str = "galaxy_tokens_total";
/// Cost in micro-dollars, by provider and mode (unpriced runs add nothing; mock runs add what
/// the run would have cost, as estimated).
pub const COST_MICROS: &str = "galaxy_cost_microdollars_total";
/// Runs in flight.
pub const IN_FLIGHT: &str = "galaxy_runs_in_flight";
/// Runs written per recorder commit.
pub const RECORDER_BATCH: &str = "galaxy_recorder_batch_size";
/// Writes waiting for the recorder.
pub const RECORDER_QUEUE: &str = "galaxy_recorder_queue_depth";
/// Time of one recorder commit.
pub const RECORDER_COMMIT_SECONDS: &str = "galaxy_recorder_commit_duration_seconds";

/// Time of one stage of a run: `auth` (session and membership), `prepare`, `admit`, `start`
/// (the `running` row committed), `first_token`, `record` (the finished row committed).
pub const STAGE_SECONDS: &str = "galaxy_run_stage_duration_seconds";

/// Histogram buckets for stages, in seconds: 25 µs to 1 s.
pub const STAGE_BUCKETS: &[f64] = &[
    0.000025, 0.00005, 0.0001, 0.00015, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.0015,
    0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.1, 1.0,
];

/// Histogram buckets for latencies, in seconds: 0.5 ms to 2 min.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];
/// Histogram buckets for batch sizes.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// What one finished run adds to the metrics.
pub struct FinishedRun<'a> {
    /// The run's status, mode and trigger (their stored names).
    pub status: &'static str,
    pub mode: &'static str,
    pub trigger: &'static str,
    pub provider: &'a str,
    pub duration: Duration,
    pub ttft_ms: Option<i64>,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_micros: Option<i64>,
}

pub fn run_finished(run: &FinishedRun<'_>) {
    let provider = run.provider.to_owned();
    metrics::counter!(RUNS, "status" => run.status, "mode" => run.mode,
        "trigger" => run.trigger, "provider" => provider.clone())
    .increment(1);
    metrics::histogram!(RUN_SECONDS, "mode" => run.mode, "provider" => provider.clone())
        .record(run.duration.as_secs_f64());
    if let Some(ms) = run.ttft_ms {
        metrics::histogram!(TTFT_SECONDS, "provider" => provider.clone())
            .record(Duration::from_millis(u64::try_from(ms).unwrap_or(0)).as_secs_f64());
    }
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    let mode = run.mode;
    metrics::counter!(TOKENS, "provider" => provider.clone(), "mode" => mode, "kind" => "prompt")
        .increment(count(run.prompt_tokens));
    metrics::counter!(TOKENS, "provider" => provider.clone(), "mode" => mode, "kind" => "completion")
        .increment(count(run.completion_tokens));
    if let Some(cost) = run.cost_micros {
        metrics::counter!(COST_MICROS, "provider" => provider, "mode" => mode)
            .increment(count(cost));
    }
}

/// One provider call of `provider` (an adapter name: `OpenAI`, `Anthropic`, `mock`).
pub fn provider_call(provider: &'static str, took: Duration) {
    metrics::histogram!(PROVIDER_CALL_SECONDS, "provider" => provider).record(took.as_secs_f64());
}

/// A retry after an error of `class`.
pub fn retry(class: &'static str) {
    metrics::counter!(RETRIES, "class" => class).increment(1);
}

pub fn in_flight(n: usize) {
    metrics::gauge!(IN_FLIGHT).set(n as f64);
}

/// One stage of a run took `took`.
pub fn stage(stage: &'static str, took: Duration) {
    metrics::histogram!(STAGE_SECONDS, "stage" => stage).record(took.as_secs_f64());
}

pub fn recorder_commit(batch: usize, took: Duration) {
    metrics::histogram!(RECORDER_BATCH).record(batch as f64);
    metrics::histogram!(RECORDER_COMMIT_SECONDS).record(took.as_secs_f64());
}

pub fn recorder_queue(depth: usize) {
    metrics::gauge!(RECORDER_QUEUE).set(depth as f64);
}
