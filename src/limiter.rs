//! Rate limiting shared by every instance through Redis (`--redis-url`): GCRA in one atomic Lua
//! script per decision — the theoretical arrival time of a key, kept with a TTL, read and
//! advanced on the Redis server's clock — so N servers behind one load balancer enforce one
//! limit. Each call is bounded by a short timeout; when Redis cannot answer, the caller decides
//! (the log-in and sign-up throttles fall back to their in-process limiters, so an outage
//! neither hangs nor opens the doors). The connection is made on first use and re-made after a
//! loss.

use std::time::Duration;

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
