//! The recorder: one task that writes every run row, committing many runs per transaction
//! (group commit).
//!
//! A run hands its row (the `running` row when it starts, the final row with its attempts when it
//! ends) to the recorder and waits for the commit: a run is acknowledged only after its row is
//! durable. The recorder takes everything that is waiting — up to [`MAX_BATCH`] writes — and
//! commits it in one transaction (or a few, each under [`MAX_COMMIT_BYTES`] of text): at one run
//! in flight that is one commit per write, under load one commit carries many runs, so SQLite's
//! single writer stops being the queue every run waits in. A batch the database refuses (one bad
//! row: a constraint) is retried write by write, so one run's failure is never another's; a batch
//! lost to the database itself (down, busy past its timeout: see `db::is_transient`) fails as a
//! whole, and each run retries its own write ([`Recorder::write_retrying`]; a repeated write is
//! harmless, see `store`). A panic while committing fails its batch, never the recorder. On
//! SQLite a commit is one text (`BEGIN; …; COMMIT`, see `db::Writes`), so it costs one trip to
//! SQLite's worker thread; a batch that is one statement (`running` rows only) goes without
//! `BEGIN`/`COMMIT`.
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
/// Most text (inputs, outputs, messages) in one commit, past its first run: a commit's copies
/// of the rows (bound values, the database's own) stay bounded whatever the runs hold.
const MAX_COMMIT_BYTES: usize = 8 << 20;
/// Waits before each try of a write that must not be lost (the first goes at once).
pub(super) const RETRY_WAITS_MS: [u64; 4] = [0, 200, 1_000, 3_000];
/// How often a key's last use is written, at most.
const MARK_USED_EVERY: Duration = Duration::from_secs(60);

/// One write: a run's row, its new attempts, the key it used.
#[derive(Clone)]
pub(super) struct Write {
    pub run: RunRow,
    pub attempts: Vec<AttemptRow>,
    pub used_key: Option<UsedKey>,
}

/// A key a run used, in its workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct UsedKey {
    pub workspace_id: String,
    pub credential_id: String,
}

impl Write {
    /// The bytes of text this write carries (what a commit copies).
    fn text_bytes(&self) -> usize {
        let run = &self.run;
        let texts = [&run.output, &run.error_message]
            .iter()
            .filter_map(|t| t.as_ref().map(String::len))
            .sum::<usize>();
        let attempts = self
            .attempts
            .iter()
            .filter_map(|a| a.error_message.as_ref().map(String::len))
            .sum::<usize>();
        run.input.len() + texts + attempts + 512
    }
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
        if !self.enqueue(Job { write, done }) {
            tracing::warn!("the run recorder has stopped; a write was lost");
        }
    }

    /// Queues `job`, counted in the queue depth; false when the recorder has stopped.
    fn enqueue(&self, job: Job) -> bool {
        let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        crate::telemetry::recorder_queue(depth);
        if self.jobs.send(job).is_err() {
            self.depth.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
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
            let run_id = write.run.id.clone();
            if let Err(e) = recorder.write_retrying(write).await {
                tracing::error!(run_id, error = %e, "a run write was lost");
            }
        });
    }

    /// Writes `write`, trying again after [`RETRY_WAITS_MS`] if the database fails (busy,
    /// restarting), and returns once it is committed or the last try failed. Safe to repeat: a
    /// try that committed but reported an error is not undone by the next (see `store`).
    pub async fn write_retrying(&self, write: Write) -> Result<(), CoreError> {
        let mut last = CoreError::Internal("not written".into());
        for wait in RETRY_WAITS_MS {
            // (No timer for the first try: a zero sleep still waits for the next tick, ~1 ms.)
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            match self.write(write.clone()).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(run_id = write.run.id, error = %e, "run write failed");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Writes `write` and returns once it is committed.
    pub async fn write(&self, write: Write) -> Result<(), CoreError> {
        let (done, committed) = oneshot::channel();
        if !self.enqueue(Job { write, done }) {
            return Err(CoreError::Internal("the run recorder has stopped".into()));
        }
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
        while !batch.is_empty() {
            let take = within_bytes(batch.iter().map(|job| job.write.text_bytes()));
            let group: Vec<Job> = batch.drain(..take).collect();
            commit_group(&db, group, &mut marked).await;
        }
    }
}

/// How many of the first writes (of these sizes) one commit takes: at most
/// [`MAX_COMMIT_BYTES`] of text, at least one.
fn within_bytes(sizes: impl Iterator<Item = usize>) -> usize {
    let mut bytes = 0usize;
    let mut take = 0;
    for size in sizes {
        bytes = bytes.saturating_add(size);
        if take > 0 && bytes > MAX_COMMIT_BYTES {
            break;
        }
        take += 1;
    }
    take
}

/// Commits `group` and answers each of its runs.
async fn commit_group(db: &Db, group: Vec<Job>, marked: &mut HashMap<String, Instant>) {
    let n = group.len();
    let started = Instant::now();
    // Keys due for a `last_used_at` write in this commit.
    let now = Instant::now();
    let mut due = Vec::new();
    for job in &group {
        if let Some(key) = &job.write.used_key
            && marked
                .get(&key.credential_id)
                .is_none_or(|at| now.duration_since(*at) >= MARK_USED_EVERY)
        {
            marked.insert(key.credential_id.clone(), now);
            due.push(key.clone());
        }
    }
    if marked.len() > 10_000 {
        marked.clear();
    }
    let writes: Vec<&Write> = group.iter().map(|j| &j.write).collect();
    match guarded(commit(db, &writes, &due)).await {
        Ok(()) => {
            for job in group {
                let _ = job.done.send(Ok(()));
            }
        }
        Err(e @ sqlx::Error::Database(_)) if n > 1 && !crate::db::is_transient(&e) => {
            tracing::warn!(error = %e, writes = n, "batched run write refused; writing one by one");
            for job in group {
                let keys: Vec<UsedKey> = job
                    .write
                    .used_key
                    .iter()
                    .filter(|k| due.contains(k))
                    .cloned()
                    .collect();
                let result = guarded(commit(db, &[&job.write], &keys)).await;
                let _ = job.done.send(result.map_err(CoreError::from));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, writes = n, "batched run write failed");
            // Not written: due again at the next write that uses them.
            for key in &due {
                marked.remove(&key.credential_id);
            }
            let e = CoreError::from(e);
            for job in group {
                let _ = job.done.send(Err(CoreError::Internal(e.to_string())));
            }
        }
    }
    crate::telemetry::recorder_commit(n, started.elapsed());
}

/// `commit`, with a panic in it turned into an error of that batch: the recorder task lives on.
async fn guarded(
    commit: impl std::future::Future<Output = Result<(), sqlx::Error>>,
) -> Result<(), sqlx::Error> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(commit)
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!("a run write panicked");
            Err(sqlx::Error::Protocol("the run write panicked".into()))
        })
}

/// Writes the latest row of each run, every attempt and the keys' last use in one commit (on
/// SQLite one round trip). SQLite's limit on bound values is per statement, and the statements
/// stay under it: at most [`MAX_BATCH`] run rows in one, attempts split by `push_attempts`.
async fn commit(db: &Db, writes: &[&Write], used_keys: &[UsedKey]) -> Result<(), sqlx::Error> {
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
        crate::credentials::mark_used(&mut batch, &key.workspace_id, &key.credential_id, at);
    }
    batch.commit(db).await
}

#[cfg(test)]
mod tests {
    use super::{MAX_COMMIT_BYTES, within_bytes};

    #[test]
    fn a_commit_takes_runs_up_to_its_byte_budget_and_always_one() {
        let mb = 1 << 20;
        assert_eq!(within_bytes([1_000; 256].into_iter()), 256);
        assert_eq!(within_bytes([mb; 256].into_iter()), MAX_COMMIT_BYTES / mb);
        assert_eq!(
            within_bytes([100 * mb, 1].into_iter()),
            1,
            "one huge run alone"
        );
        assert_eq!(within_bytes([1, usize::MAX, 1].into_iter()), 1);
        assert_eq!(within_bytes(std::iter::empty()), 0);
    }
}
