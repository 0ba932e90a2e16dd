//! The run pipeline: [`Runs::start`] takes a [`RunRequest`] through the stages and hands back a
//! [`StartedRun`] whose events end with the committed [`RunView`].
//!
//! ```text
//! RunRequest ─ prepare ─▶ Prepared ─ admit ─▶ Admission ─ running row ─▶ (task) execute ─▶ Outcome ─ record ─▶ RunView
//!                 │ refused (input_invalid, template)                ─────────────────────────▶ record ─▶ RunView
//!                 └ error (not found, no key, too large, refused by the gate) ─▶ the caller, before any stream
//! ```
//!
//! Once the `running` row is committed, the run executes on its own task: a caller that goes away
//! (a closed tab, a dropped HTTP request) does not stop it, and it always ends recorded — an
//! error of a stage or a panic becomes a `failed` row with the attempts (and spend) so far, a
//! Stop a `cancelled` one — and leaves the in-flight registry. Output reaches the caller through
//! a bounded channel: deltas the caller has not taken yet are merged (what waits is bounded by
//! the output cap, twice with a repair attempt), so a slow reader never holds the run and never
//! grows memory past that.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::admit::{Admission, AdmitRequest, RateHeaders, Used};
use super::catalog::Catalog;
use super::context::{RunRequest, RunsConfig, Shared};
use super::in_flight::InFlight;
use super::outcome::Outcome;
use super::prepare::{Call, Plan, Prepared, prepare};
use super::record::{RunHead, finish};
use super::recorder::{RETRY_WAITS_MS, Recorder, Write};
use super::store::RunRow;
use super::{RunStatus, RunView, execute};
use crate::agents::SaveRules;
use crate::contract::SchemaCache;
use crate::db::{Db, new_id, now_ms};
use crate::error::CoreError;
use crate::providers::StreamScrub;
use crate::providers::http::ProviderHttp;
use crate::providers::retry::{AttemptRecord, Observer};
use crate::vault::Vault;
use crate::workspaces::Actor;

/// Something that happens during a run.
#[derive(Debug)]
pub enum RunEvent {
    /// Output as it arrives (pieces a slow reader had not taken yet arrive merged).
    Delta(String),
    /// The run ended and is committed.
    Finished(Box<RunView>),
    /// The run ended but could not be recorded (the database failed).
    Failed(CoreError),
}

/// A run that has started: its id (for Stop) and its events.
#[derive(Debug)]
pub struct StartedRun {
    pub run_id: String,
    /// The run may make a repair attempt (an output schema and `repair_output`): its deltas can
    /// then hold a first, invalid answer and a `[repair attempt]` marker before the final one,
    /// which callers that cannot take streamed text back (the OpenAI-compatible stream) hold.
    pub may_repair: bool,
    /// The workspace's rate windows after this run was counted (`None`: no rate limit).
    pub rate: Option<RateHeaders>,
    events: mpsc::Receiver<RunEvent>,
}

impl StartedRun {
    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<RunEvent> {
        self.events.recv().await
    }

    /// The next event if one is already there (a run refused before any provider call has
    /// finished by the time it is started), without waiting.
    pub fn ready(&mut self) -> Option<RunEvent> {
        self.events.try_recv().ok()
    }

    /// Waits for the end of the run, skipping its output.
    pub async fn finished(mut self) -> Result<RunView, CoreError> {
        while let Some(event) = self.events.recv().await {
            match event {
                RunEvent::Delta(_) => {}
                RunEvent::Finished(run) => return Ok(*run),
                RunEvent::Failed(e) => return Err(e),
            }
        }
        Err(CoreError::Internal("the run ended without a result".into()))
    }
}

/// The run pipeline. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Runs(Arc<Shared>);

/// Events a run buffers for its reader.
const EVENTS: usize = 64;
/// How long the end of a run waits for a reader that takes nothing.
const READER_WAIT: Duration = Duration::from_secs(30);

impl Runs {
    /// The pipeline, with its recorder task started on the current runtime.
    pub fn new(db: Db, vault: Arc<Vault>, http: ProviderHttp, config: RunsConfig) -> Runs {
        Runs(Arc::new(Shared {
            recorder: Recorder::start(db.clone()),
            db,
            vault,
            http,
            config,
            schemas: SchemaCache::default(),
            in_flight: InFlight::default(),
            catalog: Catalog::default(),
        }))
    }

    /// What saving an agent checks (the same CPU pool and output cap as runs).
    pub fn save_rules(&self) -> SaveRules {
        SaveRules {
            cpu: self.0.config.cpu.clone(),
            max_output_bytes: self.0.config.max_output_bytes,
        }
    }

    /// Input/output schemas compiled once per agent version.
    pub fn schemas(&self) -> &SchemaCache {
        &self.0.schemas
    }

    /// Runs in flight.
    pub fn in_flight(&self) -> &InFlight {
        &self.0.in_flight
    }

    /// Stops a running run of the caller's workspace — executing here, or on another instance
    /// sharing the database (the Stop is forwarded to it); false when there is none; viewers are
    /// refused.
    pub async fn cancel(&self, actor: &Actor, run_id: &str) -> Result<bool, CoreError> {
        if self.0.in_flight.cancel(actor, run_id)? {
            return Ok(true);
        }
        super::remote_stop::forward(&self.0.db, actor, run_id).await
    }

    /// Starts a run: prepares and admits it, commits its `running` row and executes it on its own
    /// task. Every error found before the provider call comes back here; invalid input is not an
    /// error but a recorded `input_invalid` run, whose events hold just its end.
    ///
    /// A caller that goes away half-way (a dropped HTTP request) leaves either no run, a run that
    /// goes on to its recorded end, or — if it left between the `running` row and the hand-over
    /// to the run's task — a run recorded as cancelled; never a registered run that nobody
    /// executes. A panic on the way is an internal error, not a dead connection.
    pub async fn start(&self, actor: &Actor, request: RunRequest) -> Result<StartedRun, CoreError> {
        std::panic::AssertUnwindSafe(start(self.0.clone(), actor, request))
            .catch_unwind()
            .await
            .map_err(|_| CoreError::Internal("starting a run panicked".into()))?
    }
    /// Starts a run and waits for its end. The run goes on (and is recorded) if the caller stops
    /// waiting.
    pub async fn run(&self, actor: &Actor, request: RunRequest) -> Result<RunView, CoreError> {
        self.start(actor, request).await?.finished().await
    }

    /// What a live run of `agent_id` on `input` would cost, before it is run (builders): its
    /// input tokens counted as admission counts them, the cost from the input alone to input
    /// plus `max_tokens`, what admission would reserve, and what is left of the budget.
    pub async fn estimate(
        &self,
        actor: &Actor,
        agent_id: &str,
        input: &str,
    ) -> Result<crate::limits::RunEstimate, CoreError> {
        let shared = &self.0;
        let request = RunRequest::new(
            agent_id,
            input,
            super::RunMode::Mock,
            super::RunTrigger::TestPanel,
        );
        let prepared = prepare(shared, actor, request).await?;
        let config = &prepared.agent.config;
        let (chat, may_repair) = match &prepared.plan {
            Plan::Call(call) => (
                call.chat.clone(),
                config.repair_output && call.output_schema.is_some(),
            ),
            // Input the schema refuses: estimated as typed.
            Plan::Refused(_) => (
                crate::providers::ChatRequest {
                    model: config.model.clone(),
                    system: config.system_prompt.clone(),
                    history: Vec::new(),
                    user: input.to_owned(),
                    temperature: 0.0,
                    max_tokens: config.max_tokens,
                    output_schema: None,
                },
                false,
            ),
        };
        let input_tokens = input_tokens(shared, &chat, config.provider).await?;
        let overrides = shared.catalog.prices(&shared.db, actor).await?;
        let price = crate::pricing::find_price(
            &overrides,
            crate::pricing::shipped_table(),
            config.provider.as_str(),
            &config.model,
        );
        let limits = shared.catalog.limits(&shared.db, actor).await?;
        let ask = AdmitRequest {
            run_id: String::new(),
            actor: actor.clone(),
            workspace_id: actor.workspace_id.clone(),
            agent_id: prepared.agent.id.clone(),
            mode: super::RunMode::Live,
            trigger: super::RunTrigger::TestPanel,
            provider: config.provider.as_str().to_owned(),
            model: config.model.clone(),
            max_tokens: chat.max_tokens,
            input_tokens,
            may_repair,
            attempts: shared.config.policy.max_attempts,
            limits: limits.clone(),
            api_token_id: None,
            price: price.cloned(),
        };
        let cost = |prompt: i64, completion: i64| {
            price.map(|p| {
                crate::pricing::cost_micros(
                    crate::providers::Usage::reported(prompt, completion),
                    p,
                )
            })
        };
        // What is left of the tightest budget that applies to a run from here (the workspace's,
        // the agent's).
        let mut remaining_micros: Option<i64> = None;
        let (month, _) = crate::timefmt::month_of(now_ms());
        for (scope, settings) in limits.for_run(&prepared.agent.id, None) {
            let Some(budget) = settings.monthly_budget_micros else {
                continue;
            };
            let ledger = crate::limits::budget::scope_ledger(
                &shared.db,
                &actor.workspace_id,
                &scope,
                &month,
            )
            .await?;
            let left = budget
                .saturating_sub(ledger.spent_micros)
                .saturating_sub(ledger.reserved_micros)
                .max(0);
            remaining_micros = Some(remaining_micros.map_or(left, |r: i64| r.min(left)));
        }
        Ok(crate::limits::RunEstimate {
            input_tokens,
            exact_tokens: crate::providers::tokens::exact_for(config.provider, &config.model),
            max_tokens: chat.max_tokens,
            low_micros: cost(input_tokens, 0),
            high_micros: cost(input_tokens, chat.max_tokens),
            reserve_micros: price.map(|p| ask.most_micros(p)),
            remaining_micros,
        })
    }

    /// Waits up to `wait` for the runs in flight to end (they are recorded as they end), then
    /// records the ones still going as `interrupted` (the server is stopping) and returns how
    /// many those were.
    pub async fn drain(&self, wait: Duration) -> usize {
        let deadline = Instant::now() + wait;
        while !self.0.in_flight.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = self.0.in_flight.ids();
        if !left.is_empty()
            && let Err(e) = super::store::mark_interrupted_ids(&self.0.db, &left).await
        {
            tracing::error!(error = %e, "runs still in flight could not be marked interrupted");
        }
        left.len()
    }
}

/// The stages up to the spawned execution (see [`Runs::start`]).
#[tracing::instrument(skip(shared, actor, request), fields(agent_id = %request.agent_id, mode = %request.mode))]
async fn start(
    shared: Arc<Shared>,
    actor: &Actor,
    request: RunRequest,
) -> Result<StartedRun, CoreError> {
    let started = Instant::now();
    let prepared = prepare(&shared, actor, request).await?;
    crate::telemetry::stage("prepare", started.elapsed());
    let head = RunHead {
        id: new_id(),
        actor: prepared.actor.clone(),
        agent_id: prepared.agent.id.clone(),
        agent_name: prepared.agent.config.name.clone(),
        agent_version: prepared.agent.version,
        mode: prepared.request.mode,
        trigger: prepared.request.trigger,
        input: prepared.request.input.clone(),
        provider: prepared.agent.config.provider.as_str().to_owned(),
        model: prepared.agent.config.model.clone(),
        credential_id: match &prepared.plan {
            Plan::Call(call) => call.credential_id.clone(),
            Plan::Refused(_) => None,
        },
        api_token: prepared.request.api_token.clone(),
        conversation: prepared
            .request
            .conversation
            .as_ref()
            .and_then(|c| c.record()),
        instance_id: shared.config.instance_id.clone(),
        replay_of: prepared.request.replay_of.clone(),
        created_at: now_ms(),
        started,
    };
    let (events, rx) = mpsc::channel(EVENTS);
    let Prepared {
        plan,
        agent,
        request,
        ..
    } = prepared;
    let call = match plan {
        Plan::Refused(outcome) => {
            let run = finish(&shared, &head, outcome, None).await?;
            let _ = events.try_send(RunEvent::Finished(Box::new(run)));
            return Ok(StartedRun {
                run_id: head.id,
                may_repair: false,
                rate: None,
                events: rx,
            });
        }
        Plan::Call(call) => call,
    };
    let admitting = Instant::now();
    let limits = shared.catalog.limits(&shared.db, &head.actor).await?;
    let overrides = shared.catalog.prices(&shared.db, &head.actor).await?;
    let price = crate::pricing::find_price(
        &overrides,
        crate::pricing::shipped_table(),
        &head.provider,
        &head.model,
    )
    .cloned();
    let gate_request = AdmitRequest {
        run_id: head.id.clone(),
        actor: head.actor.clone(),
        workspace_id: head.actor.workspace_id.clone(),
        agent_id: head.agent_id.clone(),
        mode: head.mode,
        trigger: head.trigger,
        provider: head.provider.clone(),
        model: head.model.clone(),
        max_tokens: call.chat.max_tokens,
        input_tokens: input_tokens(&shared, &call.chat, agent.config.provider).await?,
        may_repair: agent.config.repair_output && call.output_schema.is_some(),
        attempts: shared.config.policy.max_attempts,
        limits,
        api_token_id: head.api_token.as_ref().map(|t| t.id.clone()),
        price,
    };
    let verdict = shared.config.gate.admit(&gate_request).await;
    crate::telemetry::stage("admit", admitting.elapsed());
    let admission = match verdict {
        Ok(admission) => admission,
        Err(refusal) => {
            let status = refusal.kind.status();
            let kind = refusal.kind.error_kind();
            let outcome = Outcome::refused(status, kind, refusal.message.clone());
            finish(&shared, &head, outcome, None).await?;
            return Err(refusal.into_error());
        }
    };
    // Registered before anyone learns the id: a Stop right after `started` finds the run.
    let cancel = shared
        .in_flight
        .register(&head.id, &head.actor.workspace_id);
    let registered = Registered {
        in_flight: shared.in_flight.clone(),
        run_id: head.id.clone(),
    };
    let mut unclaimed = Unclaimed {
        recorder: shared.recorder.clone(),
        head: Some(head),
        ending: Ending::CallerGone,
    };
    let running = unclaimed.head.as_ref().map(RunHead::running_row);
    let writing = Instant::now();
    if let Some(run) = running {
        let written = shared
            .recorder
            .write_retrying(Write {
                run,
                attempts: Vec::new(),
                used_key: None,
            })
            .await;
        if let Err(e) = written {
            // The row may have landed all the same (a commit whose answer was lost): the drop
            // of `unclaimed` ends it as failed (or records nothing if it did not).
            unclaimed.ending = Ending::NotStarted;
            return Err(e);
        }
    }
    crate::telemetry::stage("start", writing.elapsed());
    let Some(head) = unclaimed.head.take() else {
        return Err(CoreError::Internal("a run lost its head".into()));
    };
    let run_id = head.id.clone();
    let may_repair = gate_request.may_repair;
    let rate = admission.rate;
    let job = Job {
        repair: agent.config.repair_output,
        stream: request.stream,
        head,
        call,
        cancel,
        admission: admission.running(),
        registered,
    };
    tokio::spawn(drive(shared, job, events).instrument(tracing::Span::current()));
    Ok(StartedRun {
        run_id,
        may_repair,
        rate,
        events: rx,
    })
}

/// Texts at least this long are tokenized on the CPU pool.
const POOL_TOKENIZE_BYTES: usize = 16 * 1024;

/// The run's input tokens as admission counts them (`providers::tokens`), off the async workers
/// for a long prompt.
async fn input_tokens(
    shared: &Shared,
    chat: &crate::providers::ChatRequest,
    provider: crate::providers::ProviderKind,
) -> Result<i64, CoreError> {
    let bytes = chat.system.len()
        + chat.user.len()
        + chat.history.iter().map(|t| t.text.len()).sum::<usize>();
    let model = chat.model.clone();
    if bytes < POOL_TOKENIZE_BYTES {
        return Ok(crate::providers::tokens::input_tokens(
            provider, &model, chat,
        ));
    }
    let chat = chat.clone();
    shared
        .config
        .cpu
        .run(move || crate::providers::tokens::input_tokens(provider, &model, &chat))
        .await
        .map_err(super::prepare::cpu_error)
}

/// A run whose `running` row is (being) written but whose task has not started: if the start is
/// dropped here (its caller went away), the row is ended as cancelled, without waiting.
struct Unclaimed {
    recorder: Recorder,
    head: Option<RunHead>,
    ending: Ending,
}

/// Why a run ends before its task starts.
enum Ending {
    CallerGone,
    NotStarted,
}

impl Drop for Unclaimed {
    fn drop(&mut self) {
        let Some(head) = self.head.take() else { return };
        let (status, kind, message) = match self.ending {
            Ending::CallerGone => (
                RunStatus::Cancelled,
                "cancelled",
                "The caller went away before the run started.",
            ),
            Ending::NotStarted => (
                RunStatus::Failed,
                "internal",
                "The run could not be started: the database did not answer.",
            ),
        };
        let run = RunRow {
            status,
            error_kind: Some(kind.into()),
            error_message: Some(message.into()),
            finished_at: Some(now_ms()),
            ..head.running_row()
        };
        self.recorder.write_from_drop(Write {
            run,
            attempts: Vec::new(),
            used_key: None,
        });
    }
}

/// A run's place in the in-flight registry, given up however the run ends (a panic included).
struct Registered {
    in_flight: InFlight,
    run_id: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.in_flight.finish(&self.run_id);
    }
}

/// What a run's task owns.
struct Job {
    head: RunHead,
    call: Call,
    stream: bool,
    repair: bool,
    cancel: CancellationToken,
    /// Settled to what the run used once it is recorded.
    admission: Admission,
    registered: Registered,
}

/// What a run's task passes to its reader: deltas merged while the channel is full, with the
/// run's key scrubbed out as the stored copy is (a provider that echoes it never shows it to the
/// browser, even split across deltas).
struct Sink {
    events: mpsc::Sender<RunEvent>,
    pending: String,
    reader_gone: bool,
    scrub: StreamScrub,
}

impl Sink {
    fn push(&mut self, text: &str) {
        if self.reader_gone {
            return;
        }
        let text = self.scrub.push(text);
        if text.is_empty() {
            return;
        }
        self.pending.push_str(&text);
        match self
            .events
            .try_send(RunEvent::Delta(std::mem::take(&mut self.pending)))
        {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(RunEvent::Delta(back))) => self.pending = back,
            Err(_) => self.reader_gone = true,
        }
    }

    /// Sends what is pending and then `last`, waiting a bounded time for the reader.
    async fn close(mut self, last: RunEvent) {
        if self.reader_gone {
            return;
        }
        let mut pending = std::mem::take(&mut self.pending);
        pending.push_str(&self.scrub.finish());
        if !pending.is_empty()
            && !matches!(
                self.events
                    .send_timeout(RunEvent::Delta(pending), READER_WAIT)
                    .await,
                Ok(())
            )
        {
            return;
        }
        let _ = self.events.send_timeout(last, READER_WAIT).await;
    }
}

/// The observer of a run's provider calls: deltas to the reader, attempts kept as they end —
/// numbered across the first call and the repair — so a run that dies mid-way is recorded with
/// them and what they spent.
struct Watch<'a> {
    sink: &'a mut Sink,
    /// The database and the run's key, checked before every retry (revoked: no more attempts).
    key: Option<(&'a Db, &'a str, &'a str)>,
    attempts: &'a Mutex<Vec<AttemptRecord>>,
    /// When the run's task started, until its first token.
    first_token: Option<Instant>,
}

impl Observer for Watch<'_> {
    fn delta(&mut self, text: &str) {
        if let Some(since) = self.first_token.take() {
            crate::telemetry::stage("first_token", since.elapsed());
        }
        self.sink.push(text);
    }

    fn may_retry(&mut self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        let key = self.key;
        Box::pin(async move {
            let Some((db, workspace_id, credential_id)) = key else {
                return true;
            };
            match crate::credentials::still_usable(db, workspace_id, credential_id).await {
                Ok(active) => active,
                Err(e) => {
                    // Unknown: go on (the key was good when the run started).
                    tracing::warn!(error = %e, "checking the run's key before a retry failed");
                    true
                }
            }
        })
    }

    fn attempt(&mut self, attempt: &AttemptRecord) {
        if let Ok(mut a) = self.attempts.lock() {
            let number = u32::try_from(a.len() + 1).unwrap_or(u32::MAX);
            a.push(AttemptRecord {
                number,
                ..attempt.clone()
            });
        }
    }
}

/// Tries to record a finished run: a few times over a few seconds if the database fails (a busy
/// or restarting database), catching a panic of the record stage; the row stays `running` (and
/// becomes `interrupted` at the next start) only if the database stays down.
async fn record(
    shared: &Shared,
    head: &RunHead,
    outcome: Outcome,
    secret: Option<&SecretString>,
) -> RunEvent {
    let mut last = None;
    for (i, wait) in RETRY_WAITS_MS.into_iter().enumerate() {
        // (No timer for the first try: a zero sleep still waits for the next timer tick, ~1 ms.)
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        // The last try writes a bare failed row, in case the outcome itself was the trouble.
        let this = if i + 1 < RETRY_WAITS_MS.len() {
            outcome.clone()
        } else {
            Outcome::internal(Vec::new())
        };
        let tried = std::panic::AssertUnwindSafe(finish(shared, head, this, secret))
            .catch_unwind()
            .await;
        match tried {
            // A retry after a try that committed but reported an error changes nothing (see
            // `store`): answer with what is on record.
            Ok(Ok(run)) if i > 0 => {
                let stored = super::get_run(&shared.db, &head.actor, &head.id).await;
                return RunEvent::Finished(Box::new(stored.unwrap_or(run)));
            }
            Ok(Ok(run)) => return RunEvent::Finished(Box::new(run)),
            Ok(Err(e)) => {
                tracing::warn!(run_id = head.id, error = %e, "recording a finished run failed");
                last = Some(e);
            }
            Err(_) => {
                tracing::error!(run_id = head.id, "recording a finished run panicked");
                last = Some(CoreError::Internal("recording the run panicked".into()));
            }
        }
    }
    tracing::error!(run_id = head.id, "a finished run could not be recorded");
    RunEvent::Failed(last.unwrap_or_else(|| CoreError::Internal("not recorded".into())))
}

/// A run's own task: execute, then record whatever happened.
async fn drive(shared: Arc<Shared>, job: Job, events: mpsc::Sender<RunEvent>) {
    let secrets: Vec<&str> = job.call.secret.iter().map(|s| s.expose_secret()).collect();
    let mut sink = Sink {
        events,
        pending: String::new(),
        reader_gone: false,
        scrub: StreamScrub::new(&secrets),
    };
    let attempts = Mutex::new(Vec::new());
    let executed = {
        let mut watch = Watch {
            sink: &mut sink,
            key: job
                .call
                .credential_id
                .as_deref()
                .map(|id| (&shared.db, job.head.actor.workspace_id.as_str(), id)),
            attempts: &attempts,
            first_token: Some(Instant::now()),
        };
        std::panic::AssertUnwindSafe(execute::execute(
            &shared,
            &job.call,
            job.stream,
            job.repair,
            &job.cancel,
            &mut watch,
        ))
        .catch_unwind()
        .await
    };
    let outcome = match executed {
        Ok(outcome) => outcome,
        Err(_) => {
            tracing::error!(run_id = job.head.id, "run panicked");
            Outcome::internal(attempts.lock().map(|a| a.clone()).unwrap_or_default())
        }
    };
    let recording = Instant::now();
    let last = record(&shared, &job.head, outcome, job.call.secret.as_ref()).await;
    crate::telemetry::stage("record", recording.elapsed());
    match &last {
        RunEvent::Finished(run) => {
            job.admission
                .settle(Used {
                    cost_micros: run.cost_micros,
                    total_tokens: run.total_tokens,
                })
                .await;
        }
        _ => job.admission.keep(),
    }
    // Out of the registry once it is on record: draining at shutdown waits for the commit.
    drop(job.registered);
    sink.close(last).await;
}
