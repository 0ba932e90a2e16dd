//! Rate limiting shared by every instance through Redis (`--redis-url`): GCRA in one atomic Lua
//! script per decision — the theoretical arrival time of a key, kept with a TTL, read and
//! advanced on the Redis server's clock — so N servers behind one load balancer enforce one
//! limit. Each call is bounded by a short timeout; when Redis cannot answer, the caller decides
//! (the log-in and sign-up throttles fall back to their in-process limiters, so an outage
//! neither hangs nor opens the doors). The connection is made on first use and re-made after a
//! loss.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// How long one decision may take before Redis counts as unavailable.
pub const TIMEOUT: Duration = Duration::from_millis(250);
/// How long Redis is left alone after it failed to answer.
pub const DOWN_FOR: Duration = Duration::from_secs(5);

/// GCRA over `KEYS[1]`: `ARGV[1]` ms per unit, `ARGV[2]` units allowed at once, `ARGV[3]` units
/// asked for. Answers 0 (allowed, counted) or the ms until the units would be allowed.
const GCRA: &str = r"
local every = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + every * cost
local allow_at = new_tat - every * burst
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, new_tat - now))
return 0
";

/// GCRA over several buckets at once, all or nothing: bucket `i` is `KEYS[i]` with
/// `ARGV[3i-2]` µs per unit, `ARGV[3i-1]` units of capacity and `ARGV[3i]` units asked for.
/// Answers `{wait_us, remaining_1, reset_us_1, remaining_2, reset_us_2, …}`: `wait_us` 0 when
/// every bucket had room (all are charged), else the µs until they would (none is charged).
/// The same arithmetic as [`Buckets::take`].
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats, news = {}, {}
local wait = 0
for i = 1, n do
  local every = tonumber(ARGV[3 * i - 2])
  local cap = tonumber(ARGV[3 * i - 1])
  local cost = tonumber(ARGV[3 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  tats[i] = tat
  news[i] = tat + every * cost
  local allow_at = news[i] - every * cap
  if allow_at - now > wait then wait = allow_at - now end
end
local out = {wait}
for i = 1, n do
  local every = tonumber(ARGV[3 * i - 2])
  local cap = tonumber(ARGV[3 * i - 1])
  local tat = tats[i]
  if wait == 0 then
    tat = news[i]
    redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
  end
  local left = math.floor((now + every * cap - tat) / every)
  if left < 0 then left = 0 end
  out[#out + 1] = left
  out[#out + 1] = tat - now
end
return out
";

/// Moves `KEYS[1]`'s arrival time by `ARGV[1]` µs per unit × `ARGV[2]` units (negative: gives
/// units back), never before now. The same arithmetic as [`Buckets::adjust`].
const ADJUST: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
tat = tat + tonumber(ARGV[1]) * tonumber(ARGV[2])
if tat <= now then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
return 0
";

/// The buckets' state without charging them (read-only: no key is written): answers
/// `{remaining_1, reset_us_1, …}` as [`TAKE`] would with no cost.
const PEEK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i = 1, #KEYS do
  local every = tonumber(ARGV[2 * i - 1])
  local cap = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local left = math.floor((now + every * cap - tat) / every)
  if left < 0 then left = 0 end
  out[#out + 1] = left
  out[#out + 1] = tat - now
end
return out
";

/// One GCRA bucket of a decision: `capacity` units at once, one more every `every_us` µs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub key: String,
    pub every_us: i64,
    pub capacity: i64,
    pub cost: i64,
}

/// A bucket after a decision: units left, and µs until it is full again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BucketState {
    pub remaining: i64,
    pub reset_us: i64,
}

/// What [`Buckets::take`] (or [`SharedLimiter::take`]) decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    /// 0 when every bucket was charged; else µs until all would have room (none was charged).
    pub wait_us: i64,
    /// Each bucket afterwards, in the order asked.
    pub states: Vec<BucketState>,
}

/// The arithmetic of one multi-bucket decision over arrival times `tats` (µs; 0 = never seen)
/// at `now`: returns the decision and the arrival times to keep (unchanged when refused).
fn decide(buckets: &[Bucket], tats: &[i64], now: i64) -> (Taken, Vec<i64>) {
    let start: Vec<i64> = tats.iter().map(|t| (*t).max(now)).collect();
    let charged: Vec<i64> = buckets
        .iter()
        .zip(&start)
        .map(|(b, tat)| tat.saturating_add(b.every_us.saturating_mul(b.cost)))
        .collect();
    let wait_us = buckets
        .iter()
        .zip(&charged)
        .map(|(b, new)| new.saturating_sub(b.every_us.saturating_mul(b.capacity)) - now)
        .fold(0, i64::max);
    let kept = if wait_us == 0 { charged } else { start };
    let states = buckets
        .iter()
        .zip(&kept)
        .map(|(b, tat)| BucketState {
            remaining: ((now + b.every_us.saturating_mul(b.capacity) - tat) / b.every_us.max(1))
                .max(0),
            reset_us: tat - now,
        })
        .collect();
    (Taken { wait_us, states }, kept)
}

/// Most keys [`Buckets`] holds before it forgets the full ones.
const LOCAL_KEYS: usize = 100_000;

/// GCRA buckets in this process (no Redis): the arithmetic of the Redis scripts, on a monotonic
/// clock. Bounded: past [`LOCAL_KEYS`] keys, the buckets that are full again (an arrival time
/// in the past means exactly that) are forgotten.
#[derive(Debug)]
pub struct Buckets {
    origin: Instant,
    tats: Mutex<HashMap<String, i64>>,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            origin: Instant::now(),
            tats: Mutex::new(HashMap::new()),
        }
    }
}

impl Buckets {
    fn now(&self) -> i64 {
        // Starts at one second: 0 stays "never seen".
        i64::try_from(self.origin.elapsed().as_micros()).unwrap_or(i64::MAX) + 1_000_000
    }

    /// Charges every bucket `cost` units, or none (see [`Taken`]).
    pub fn take(&self, buckets: &[Bucket]) -> Taken {
        let now = self.now();
        // A panic elsewhere while holding the lock leaves the map as it was: keep counting.
        let mut tats = self
            .tats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if tats.len() >= LOCAL_KEYS {
            tats.retain(|_, tat| *tat > now);
        }
        let known: Vec<i64> = buckets
            .iter()
            .map(|b| tats.get(&b.key).copied().unwrap_or(0))
            .collect();
        let (taken, kept) = decide(buckets, &known, now);
        if taken.wait_us == 0 {
            for (b, tat) in buckets.iter().zip(kept) {
                tats.insert(b.key.clone(), tat);
            }
        }
        taken
    }

    /// Charges (`units` > 0) or gives back (`units` < 0) units of `key`, never beyond full.
    pub fn adjust(&self, key: &str, every_us: i64, units: i64) {
        let now = self.now();
        let mut tats = self
            .tats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tat = tats.get(key).copied().unwrap_or(0).max(now);
        let moved = tat.saturating_add(every_us.saturating_mul(units));
        if moved <= now {
            tats.remove(key);
        } else {
            tats.insert(key.to_owned(), moved);
        }
    }

    /// The buckets' state without charging them.
    pub fn peek(&self, buckets: &[Bucket]) -> Vec<BucketState> {
        let now = self.now();
        let tats = self
            .tats
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let known: Vec<i64> = buckets
            .iter()
            .map(|b| tats.get(&b.key).copied().unwrap_or(0))
            .collect();
        drop(tats);
        let free: Vec<Bucket> = buckets
            .iter()
            .map(|b| Bucket {
                cost: 0,
                ..b.clone()
            })
            .collect();
        decide(&free, &known, now).0.states
    }
}

/// Redis could not answer in time (down, unreachable, or failing).
#[derive(Debug, thiserror::Error)]
#[error("the shared limiter (Redis) is unavailable: {0}")]
pub struct Unavailable(String);

/// A limiter whose state lives in Redis, under keys starting with its prefix.
pub struct SharedLimiter {
    client: redis::Client,
    conn: tokio::sync::OnceCell<ConnectionManager>,
    prefix: String,
    script: redis::Script,
    take: redis::Script,
    adjust: redis::Script,
    peek: redis::Script,
    /// Until when (Unix ms) Redis is not tried again after a failure.
    down_until_ms: std::sync::atomic::AtomicI64,
}

impl std::fmt::Debug for SharedLimiter {
    // The URL may hold a password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl SharedLimiter {
    /// A limiter on the Redis at `url` (checked, not yet connected); keys start with `prefix`.
    pub fn new(url: &str, prefix: &str) -> Result<SharedLimiter, String> {
        let expected = || "expected a Redis URL such as redis://127.0.0.1:6379".to_owned();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(expected());
        }
        let client = redis::Client::open(url).map_err(|_| expected())?;
        Ok(SharedLimiter {
            client,
            conn: tokio::sync::OnceCell::new(),
            prefix: prefix.to_owned(),
            script: redis::Script::new(GCRA),
            take: redis::Script::new(TAKE),
            adjust: redis::Script::new(ADJUST),
            peek: redis::Script::new(PEEK),
            down_until_ms: std::sync::atomic::AtomicI64::new(0),
        })
    }

    /// Where `key`'s state lives: its SHA-256 (the keys name emails and addresses: Redis never
    /// holds them in plain text), under the prefix.
    fn redis_key(&self, key: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", self.prefix)
    }

    /// Refuses at once while Redis is known to be down (for [`DOWN_FOR`] after a failure), so an
    /// outage costs callers nothing but their fallback.
    fn refuse_while_down(&self) -> Result<(), Unavailable> {
        let until = self
            .down_until_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if crate::db::now_ms() < until {
            return Err(Unavailable("down a moment ago; not tried again yet".into()));
        }
        Ok(())
    }

    /// Notes a failure: Redis is left alone for [`DOWN_FOR`].
    fn failed(&self, e: Unavailable) -> Unavailable {
        let until = crate::db::now_ms()
            .saturating_add(i64::try_from(DOWN_FOR.as_millis()).unwrap_or(i64::MAX));
        let before = self
            .down_until_ms
            .swap(until, std::sync::atomic::Ordering::Relaxed);
        if before < crate::db::now_ms() {
            tracing::warn!(error = %e, "Redis is unavailable: limits count per instance for now");
        }
        e
    }

    async fn conn(&self) -> Result<ConnectionManager, Unavailable> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(TIMEOUT))
                    .set_response_timeout(Some(TIMEOUT))
                    .set_number_of_retries(1);
                tokio::time::timeout(
                    TIMEOUT * 2,
                    self.client.get_connection_manager_with_config(config),
                )
                .await
                .map_err(|_| Unavailable("connecting timed out".into()))?
                .map_err(|e| Unavailable(e.category().to_owned()))
            })
            .await?;
        Ok(conn.clone())
    }

    /// One question to Redis: refused at once while Redis is known to be down, bounded by
    /// [`TIMEOUT`], and a failure noted.
    async fn ask<T, Fut>(&self, op: impl FnOnce(ConnectionManager) -> Fut) -> Result<T, Unavailable>
    where
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        self.refuse_while_down()?;
        let answer = async {
            let conn = self.conn().await?;
            tokio::time::timeout(TIMEOUT, op(conn))
                .await
                .map_err(|_| Unavailable("timed out".into()))?
                .map_err(|e| Unavailable(e.category().to_owned()))
        };
        answer.await.map_err(|e| self.failed(e))
    }

    /// Counts `cost` units against `key`'s budget — `burst` at once, one more every `every` —
    /// or answers how long until they would fit.
    pub async fn check(
        &self,
        key: &str,
        every: Duration,
        burst: u32,
        cost: u32,
    ) -> Result<Result<(), Duration>, Unavailable> {
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX).max(1);
        let mut call = self.script.key(self.redis_key(key));
        call.arg(every_ms).arg(burst.max(1)).arg(cost);
        let wait: i64 = self
            .ask(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(match u64::try_from(wait) {
            Ok(0) | Err(_) => Ok(()),
            Ok(ms) => Err(Duration::from_millis(ms)),
        })
    }

    /// Charges every bucket, or none, in one atomic script on Redis's clock (see [`Taken`]).
    pub async fn take(&self, buckets: &[Bucket]) -> Result<Taken, Unavailable> {
        let mut call = self.take.prepare_invoke();
        for b in buckets {
            call.key(self.redis_key(&b.key));
            call.arg(b.every_us.max(1)).arg(b.capacity).arg(b.cost);
        }
        let out: Vec<i64> = self
            .ask(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        let Some((wait_us, rest)) = out.split_first() else {
            return Err(self.failed(Unavailable("an empty answer".into())));
        };
        Ok(Taken {
            wait_us: *wait_us,
            states: rest
                .chunks(2)
                .map(|p| BucketState {
                    remaining: p.first().copied().unwrap_or(0),
                    reset_us: p.get(1).copied().unwrap_or(0),
                })
                .collect(),
        })
    }

    /// Charges (`units` > 0) or gives back (`units` < 0) units of `key` (see [`Buckets::adjust`]).
    pub async fn adjust(&self, key: &str, every_us: i64, units: i64) -> Result<(), Unavailable> {
        let mut call = self.adjust.key(self.redis_key(key));
        call.arg(every_us.max(1)).arg(units);
        self.ask(|mut conn| async move { call.invoke_async::<i64>(&mut conn).await })
            .await
            .map(|_| ())
    }

    /// The buckets' state without charging them (nothing is written).
    pub async fn peek(&self, buckets: &[Bucket]) -> Result<Vec<BucketState>, Unavailable> {
        let mut call = self.peek.prepare_invoke();
        for b in buckets {
            call.key(self.redis_key(&b.key));
            call.arg(b.every_us.max(1)).arg(b.capacity);
        }
        let out: Vec<i64> = self
            .ask(|mut conn| async move { call.invoke_async(&mut conn).await })
            .await?;
        Ok(out
            .chunks(2)
            .map(|p| BucketState {
                remaining: p.first().copied().unwrap_or(0),
                reset_us: p.get(1).copied().unwrap_or(0),
            })
            .collect())
    }

    /// Sets flag `key` for `ttl`.
    pub async fn set_flag(&self, key: &str, ttl: Duration) -> Result<(), Unavailable> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set = redis::cmd("SET")
            .arg(self.redis_key(key))
            .arg(1)
            .arg("PX")
            .arg(ttl_ms)
            .to_owned();
        self.ask(|mut conn| async move { set.query_async::<()>(&mut conn).await })
            .await
    }

    /// Whether flag `key` is set.
    pub async fn has_flag(&self, key: &str) -> Result<bool, Unavailable> {
        let exists = redis::cmd("EXISTS").arg(self.redis_key(key)).to_owned();
        let found: i64 = self
            .ask(|mut conn| async move { exists.query_async(&mut conn).await })
            .await?;
        Ok(found > 0)
    }
}

#[cfg(test)]
mod tests;
