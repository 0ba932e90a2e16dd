//! The bounded pool for CPU-heavy work on user-controlled data: schema compilation, validating
//! large inputs and outputs, template rendering and mock generation run here, never on the async
//! workers, so a run with a pathological contract cannot stall the server for everyone else.
//!
//! At most `workers` jobs run at once (on tokio's blocking threads); more wait for a slot without
//! holding a worker. Each job has a time limit covering its wait and its work: when it passes,
//! the caller gets [`CpuError::TimedOut`] at once. The job itself cannot be interrupted, so every
//! job given to the pool must bound its own work as well (minijinja's fuel, the mock's budget,
//! schema size limits, the linear-time regex engine) — the time limit is the backstop, the
//! budgets are the bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// Why a job gave no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CpuError {
    #[error("the work took longer than {} ms", .0.as_millis())]
    TimedOut(Duration),
    #[error("the work failed")]
    Failed,
}

impl From<CpuError> for crate::error::CoreError {
    /// The pool could not take the work in time: the server is busy (the work itself is
    /// bounded, so a timeout means a queue), not the caller's fault.
    fn from(e: CpuError) -> Self {
        tracing::warn!(error = %e, "CPU pool busy");
        crate::error::CoreError::Busy {
            retry_after_secs: 2,
        }
    }
}

/// The pool. Cheap to clone; clones share the slots.
#[derive(Clone, Debug)]
pub struct CpuPool {
    slots: Arc<Semaphore>,
    limit: Duration,
}

impl Default for CpuPool {
    /// One slot per core, 10 s per job.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        CpuPool::new(cores, Duration::from_secs(10))
    }
}

impl CpuPool {
    pub fn new(workers: usize, limit: Duration) -> CpuPool {
        CpuPool {
            slots: Arc::new(Semaphore::new(workers.max(1))),
            limit,
        }
    }

    /// Runs `work` off the async workers within the pool's bounds.
    pub async fn run<T, F>(&self, work: F) -> Result<T, CpuError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let slots = self.slots.clone();
        let job = async move {
            let slot = slots.acquire_owned().await.map_err(|_| CpuError::Failed)?;
            tokio::task::spawn_blocking(move || {
                // The slot stays taken until the work ends, even if the caller stopped waiting.
                let _slot = slot;
                work()
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "CPU job panicked");
                CpuError::Failed
            })
        };
        match tokio::time::timeout(self.limit, job).await {
            Ok(result) => result,
            Err(_) => Err(CpuError::TimedOut(self.limit)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    /// On a single-threaded runtime, ten heavy jobs leave the runtime free: a timer set while
    /// they run fires on time (were the jobs on the async worker, it would wait for all of them).
    #[tokio::test(flavor = "current_thread")]
    async fn heavy_jobs_never_stall_the_async_workers_and_run_two_at_a_time() {
        let pool = CpuPool::new(2, Duration::from_secs(30));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..10)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(150));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let tick = Instant::now();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let late = tick.elapsed();
        for j in jobs {
            j.await.unwrap().unwrap();
        }
        assert!(
            late < Duration::from_millis(400),
            "the runtime was blocked for {late:?} (10 jobs × 150 ms would be ≥ 1.5 s inline)"
        );
        assert_eq!(most.load(Ordering::SeqCst), 2, "at most two jobs at once");
    }

    #[tokio::test]
    async fn a_job_past_its_limit_answers_at_once_and_panics_are_errors() {
        let pool = CpuPool::new(1, Duration::from_millis(50));
        let r = pool
            .run(|| std::thread::sleep(Duration::from_millis(400)))
            .await;
        assert_eq!(r, Err(CpuError::TimedOut(Duration::from_millis(50))));
        let pool = CpuPool::new(1, Duration::from_secs(5));
        let r: Result<(), _> = pool.run(|| panic!("boom")).await;
        assert_eq!(r, Err(CpuError::Failed));
        assert_eq!(pool.run(|| 2 + 2).await, Ok(4));
    }
}
