//! The recorder: one task that writes every run row, committing many runs per transaction
//! (group commit).
//!
//! A run hands its row (the `running` row when it starts, the final row with its attempts when it
//! ends) to the recorder and waits for the commit: a run is acknowledged only after its row is
//! durable. The recorder takes everything that is waiting — up to [`MAX_BATCH`] writes — into one
//! transaction: at one run in flight that is one commit per write, under load one commit carries
//! many runs, so SQLite's single writer stops being the queue every run waits in. A batch the
//! database refuses (one bad row: a constraint) is retried write by write, so one run's failure is
//! never another's; a batch lost to the database itself (down, busy past its timeout: see
//! `db::is_transient`) fails as a whole, and each run retries its own write. On SQLite a commit
//! is one text (`BEGIN; …; COMMIT`, see `db::Writes`), so it costs one trip to SQLite's worker
//! thread; a batch that is one statement (`running` rows only) goes without `BEGIN`/`COMMIT`.
//!
//! The queue holds at most two writes per run in flight (start, finish): it grows only with the
//! runs in flight. A key's `last_used_at` is written at most once a minute per key (it is
//! informational; a run writes it in its own commit when due).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::store::{AttemptRow, RunRow, push_attempts, push_runs};
use crate::db::{Db, Writes, now_ms};
use crate::error::CoreError;

/// Most writes taken into one commit.
pub(super) const MAX_BATCH: usize = 256;
/// Waits before each try of a write that must not be lost (the first goes at once).
pub(super) const RETRY_WAITS_MS: [u64; 4] = [0, 200, 1_000, 3_000];
/// How often a key's last use is written, at most.
const MARK_USED_EVERY: Duration = Duration::from_secs(60);

/// One write: a run's row, its new attempts, the key it used.
#[derive(Clone)]
pub(super) struct Write {
    pub run: RunRow,
    pub attempts: Vec<AttemptRow>,
    pub used_key: Option<String>,
}

struct Job {
    write: Write,
    done: oneshot::Sender<Result<(), CoreError>>,
}

/// The handle runs write through.
#[derive(Clone, Debug)]
pub(super) struct Recorder {
    jobs: mpsc::UnboundedSender<Job>,
    depth: Arc<AtomicUsize>,
}

impl Recorder {
    /// Starts the recorder task on the current runtime; it ends when the last handle is dropped.
    pub fn start(db: Db) -> Recorder {
        let (jobs, rx) = mpsc::unbounded_channel();
        let depth = Arc::new(AtomicUsize::new(0));
        tokio::spawn(record_forever(db, rx, depth.clone()));
        Recorder { jobs, depth }
    }

    /// Queues `write` without waiting for it (from a `Drop`: nothing may wait there).
    pub fn write_detached(&self, write: Write) {
        let (done, _) = oneshot::channel();
        let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        crate::telemetry::recorder_queue(depth);
        if self.jobs.send(Job { write, done }).is_err() {
            tracing::warn!("the run recorder has stopped; a write was lost");
        }
    }

    /// Writes `write` from a `Drop` (nothing may wait there): in a task of its own that retries a
    /// few times over a few seconds if the database fails, or queued once when no runtime is
    /// left to run that task.
    pub fn write_from_drop(&self, write: Write) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.write_detached(write);
            return;
        };
        let recorder = self.clone();
        runtime.spawn(async move {
            for wait in RETRY_WAITS_MS {
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                match recorder.write(write.clone()).await {
                    Ok(()) => return,
                    Err(e) => tracing::warn!(run_id = write.run.id, error = %e, "run write failed"),
                }
            }
        });
    }

    /// Writes `write` and returns once it is committed.
    pub async fn write(&self, write: Write) -> Result<(), CoreError> {
        let (done, committed) = oneshot::channel();
        let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        crate::telemetry::recorder_queue(depth);
        self.jobs
            .send(Job { write, done })
            .map_err(|_| CoreError::Internal("the run recorder has stopped".into()))?;
        committed
            .await
            .map_err(|_| CoreError::Internal("the run recorder dropped a write".into()))?
    }
}

async fn record_forever(db: Db, mut rx: mpsc::UnboundedReceiver<Job>, depth: Arc<AtomicUsize>) {
    let mut marked: HashMap<String, Instant> = HashMap::new();
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let n = rx.recv_many(&mut batch, MAX_BATCH).await;
        if n == 0 {
            return;
        }
        let left = depth.fetch_sub(n, Ordering::Relaxed).saturating_sub(n);
        crate::telemetry::recorder_queue(left);
        let started = Instant::now();
        // Keys due for a `last_used_at` write in this batch.
        let now = Instant::now();
        let mut due = Vec::new();
        for job in &batch {
            if let Some(key) = &job.write.used_key
                && marked
                    .get(key)
                    .is_none_or(|at| now.duration_since(*at) >= MARK_USED_EVERY)
            {
                marked.insert(key.clone(), now);
                due.push(key.clone());
            }
        }
        if marked.len() > 10_000 {
            marked.clear();
        }
        let writes: Vec<&Write> = batch.iter().map(|j| &j.write).collect();
        match commit(&db, &writes, &due).await {
            Ok(()) => {
                for job in batch.drain(..) {
                    let _ = job.done.send(Ok(()));
                }
            }
            Err(e @ sqlx::Error::Database(_)) if n > 1 && !crate::db::is_transient(&e) => {
                tracing::warn!(error = %e, writes = n, "batched run write refused; writing one by one");
                for job in batch.drain(..) {
                    let keys: Vec<String> = job
                        .write
                        .used_key
                        .iter()
                        .filter(|k| due.contains(k))
                        .cloned()
                        .collect();
                    let result = commit(&db, &[&job.write], &keys).await;
                    let _ = job.done.send(result.map_err(CoreError::from));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, writes = n, "batched run write failed");
                let e = CoreError::from(e);
                for job in batch.drain(..) {
                    let _ = job.done.send(Err(CoreError::Internal(e.to_string())));
                }
            }
        }
        crate::telemetry::recorder_commit(n, started.elapsed());
    }
}

/// Writes the latest row of each run, every attempt and the keys' last use in one commit (on
/// SQLite one round trip). SQLite's limit on bound values is per statement, and the statements
/// stay under it: at most [`MAX_BATCH`] run rows in one, attempts split by `push_attempts`.
async fn commit(db: &Db, writes: &[&Write], used_keys: &[String]) -> Result<(), sqlx::Error> {
    // Each run once, as its latest row (a run's `running` row and its end never share a batch
    // today — the end waits for the start's commit — but a batch must not depend on that).
    let mut latest: HashMap<&str, usize> = HashMap::new();
    for (i, w) in writes.iter().enumerate() {
        latest.insert(w.run.id.as_str(), i);
    }
    let rows: Vec<&RunRow> = writes
        .iter()
        .enumerate()
        .filter(|(i, w)| latest.get(w.run.id.as_str()) == Some(i))
        .map(|(_, w)| &w.run)
        .collect();
    let attempts: Vec<&AttemptRow> = writes.iter().flat_map(|w| &w.attempts).collect();
    let mut batch = Writes::new(db.backend());
    push_runs(&mut batch, &rows);
    push_attempts(&mut batch, &attempts);
    let at = now_ms();
    for key in used_keys {
        crate::credentials::mark_used(&mut batch, key, at);
    }
    batch.commit(db).await
}
