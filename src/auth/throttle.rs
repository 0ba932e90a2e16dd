//! Throttles for the two doors anyone can knock on: log-in and sign-up. Checked before any
//! password hashing — in memory, per instance, or, with `--redis-url`, shared by every instance
//! through Redis ([`crate::limiter`]: the same limits, one count). When Redis cannot answer, the
//! in-memory limiters decide (an outage neither hangs log-in nor lifts the limits).
//!
//! **Log-in** must not become a way to lock a victim out, so nothing is counted per account
//! alone at a rate an attacker can reach cheaply:
//! - per (account, client): 5 at once, then one every 12 s — one guesser at one account;
//! - per client: 30 a minute — one guesser at many accounts;
//! - per account from every client together: 20 at once, then one a minute — a botnet at one
//!   account. A client that logged in to the account successfully before (remembered in memory
//!   for 30 days) is not held by this ceiling, so an attack on an account does not keep its
//!   owner out.
//!
//! **Sign-up**: per client (10 an hour by default, `GALAXY_SIGNUPS_PER_CLIENT_PER_HOUR`) and
//! for the whole instance (600 an hour). Sign-ups also hash on at most half of the hashing
//! slots (see `Passwords`), so a flood cannot starve log-ins.
//!
//! Memory is bounded: keys whose limits have replenished are forgotten when a limiter holds many
//! (at most once a second), and a limiter that still holds [`MAX_KEYS`] refuses new attempts as
//! busy rather than grow. Clients are counted by address, IPv6 by /64 ([`throttle_key`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use super::client::throttle_key;
use crate::db::now_ms;
use crate::error::CoreError;
use crate::limiter::{SharedLimiter, Unavailable};

/// Keys a limiter holds before it refuses attempts under new keys.
pub const MAX_KEYS: usize = 100_000;
/// Keys past which replenished ones are swept out.
const SWEEP_ABOVE: usize = 10_000;
/// How long a successful log-in makes its client known to the account.
const KNOWN_FOR_MS: i64 = 30 * 24 * 3600 * 1000;
/// Known (account, client) pairs remembered at most.
const KNOWN_MAX: usize = 50_000;

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

fn quota(burst: u32, one_every: Duration) -> Quota {
    Quota::with_period(one_every)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(nonzero(burst))
}

/// A refusal, with when to try again (at least a second).
fn refused(not_until: governor::NotUntil<governor::clock::QuantaInstant>) -> CoreError {
    CoreError::RateLimited {
        retry_after_secs: not_until
            .wait_time_from(DefaultClock::default().now())
            .as_secs()
            .max(1),
    }
}

/// A keyed limiter that stays bounded in memory.
struct Keyed {
    limiter: DefaultKeyedRateLimiter<String>,
    swept_at_ms: AtomicI64,
}

impl Keyed {
    fn new(quota: Quota) -> Keyed {
        Keyed {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            swept_at_ms: AtomicI64::new(0),
        }
    }

    fn check(&self, key: &str) -> Result<(), CoreError> {
        if self.limiter.len() > SWEEP_ABOVE {
            let now = now_ms();
            let last = self.swept_at_ms.load(Ordering::Relaxed);
            if now - last >= 1000
                && self
                    .swept_at_ms
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                self.limiter.retain_recent();
            }
            if self.limiter.len() >= MAX_KEYS {
                return Err(CoreError::Busy {
                    retry_after_secs: 60,
                });
            }
        }
        self.limiter.check_key(&key.to_owned()).map_err(refused)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// Log-in throttling (see the module docs).
pub struct LoginThrottle {
    per_pair: Keyed,
    per_client: Keyed,
    per_account: Keyed,
    /// The same limits, for the shared counts.
    quotas: [Quota; 3],
    /// (account, client) pairs that logged in successfully, with when.
    known: Mutex<HashMap<String, i64>>,
}

impl std::fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginThrottle")
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(
            quota(5, Duration::from_secs(12)),
            quota(30, Duration::from_secs(2)),
            quota(20, Duration::from_secs(60)),
        )
    }
}

fn pair_key(email: &str, client: Option<IpAddr>) -> String {
    let client = client.map(throttle_key).unwrap_or_default();
    format!("{client} {email}")
}

impl LoginThrottle {
    /// Limits per (account, client), per client and per account.
    pub fn new(per_pair: Quota, per_client: Quota, per_account: Quota) -> LoginThrottle {
        LoginThrottle {
            per_pair: Keyed::new(per_pair),
            per_client: Keyed::new(per_client),
            per_account: Keyed::new(per_account),
            quotas: [per_pair, per_client, per_account],
            known: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt at `email` (normalised, at most 254 bytes) from `client`, or refuses
    /// it. A request without a client address (in-process tests) skips the per-client limit.
    pub fn check(&self, email: &str, client: Option<IpAddr>) -> Result<(), CoreError> {
        let pair = pair_key(email, client);
        if let Some(client) = client {
            self.per_client.check(&throttle_key(client))?;
        }
        self.per_pair.check(&pair)?;
        if !self.is_known(&pair) {
            self.per_account.check(email)?;
        }
        Ok(())
    }

    /// Remembers that `client` logged in to `email`: the per-account ceiling no longer holds it.
    pub fn succeeded(&self, email: &str, client: Option<IpAddr>) {
        let now = now_ms();
        let Ok(mut known) = self.known.lock() else {
            return;
        };
        if known.len() >= KNOWN_MAX {
            known.retain(|_, at| now - *at < KNOWN_FOR_MS);
        }
        if known.len() >= KNOWN_MAX {
            // Still full of recent pairs: forget the oldest tenth.
            let mut times: Vec<i64> = known.values().copied().collect();
            times.sort_unstable();
            let cut = times[times.len() / 10];
            known.retain(|_, at| *at > cut);
        }
        known.insert(pair_key(email, client), now);
    }

    /// [`LoginThrottle::check`] counted in Redis, shared by every instance.
    pub async fn check_shared(
        &self,
        shared: &SharedLimiter,
        email: &str,
        client: Option<IpAddr>,
    ) -> Result<Result<(), CoreError>, Unavailable> {
        let [per_pair, per_client, per_account] = self.quotas;
        let pair = pair_key(email, client);
        if let Some(client) = client {
            let key = format!("login:client:{}", throttle_key(client));
            if let Err(wait) = count(shared, &key, per_client).await? {
                return Ok(Err(limited(wait)));
            }
        }
        if let Err(wait) = count(shared, &format!("login:pair:{pair}"), per_pair).await? {
            return Ok(Err(limited(wait)));
        }
        let known = self.is_known(&pair) || shared.has_flag(&format!("login:known:{pair}")).await?;
        if !known
            && let Err(wait) = count(shared, &format!("login:account:{email}"), per_account).await?
        {
            return Ok(Err(limited(wait)));
        }
        Ok(Ok(()))
    }

    /// [`LoginThrottle::succeeded`], remembered in Redis too.
    pub async fn succeeded_shared(
        &self,
        shared: &SharedLimiter,
        email: &str,
        client: Option<IpAddr>,
    ) -> Result<(), Unavailable> {
        self.succeeded(email, client);
        let known_for = Duration::from_millis(u64::try_from(KNOWN_FOR_MS).unwrap_or(u64::MAX));
        shared
            .set_flag(
                &format!("login:known:{}", pair_key(email, client)),
                known_for,
            )
            .await
    }

    fn is_known(&self, pair: &str) -> bool {
        self.known
            .lock()
            .ok()
            .and_then(|known| known.get(pair).copied())
            .is_some_and(|at| now_ms() - at < KNOWN_FOR_MS)
    }
}

/// Sign-up throttling: per client and for the whole instance.
pub struct SignupThrottle {
    per_client: Keyed,
    global: DefaultDirectRateLimiter,
    /// The same limits, for the shared counts: per client, for everyone.
    quotas: [Quota; 2],
}

impl std::fmt::Debug for SignupThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignupThrottle")
    }
}

impl Default for SignupThrottle {
    fn default() -> Self {
        SignupThrottle::per_hour(10, 600)
    }
}

impl SignupThrottle {
    /// `per_client` sign-ups an hour from one client (all at once if it likes), `global` an
    /// hour for the instance.
    pub fn per_hour(per_client: u32, global: u32) -> SignupThrottle {
        let (per_client, global) = (
            Quota::per_hour(nonzero(per_client)),
            Quota::per_hour(nonzero(global)),
        );
        SignupThrottle {
            per_client: Keyed::new(per_client),
            global: DefaultDirectRateLimiter::direct(global),
            quotas: [per_client, global],
        }
    }

    /// Counts a sign-up from `client`, or refuses it.
    pub fn check(&self, client: Option<IpAddr>) -> Result<(), CoreError> {
        if let Some(client) = client {
            self.per_client.check(&throttle_key(client))?;
        }
        self.global
            .check()
            .map_err(|not_until| CoreError::RateLimited {
                retry_after_secs: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1),
            })
    }
}

impl SignupThrottle {
    /// [`SignupThrottle::check`] counted in Redis, shared by every instance (the global limit
    /// then holds for all of them together).
    pub async fn check_shared(
        &self,
        shared: &SharedLimiter,
        client: Option<IpAddr>,
    ) -> Result<Result<(), CoreError>, Unavailable> {
        let [per_client, global] = self.quotas;
        if let Some(client) = client {
            let key = format!("signup:client:{}", throttle_key(client));
            if let Err(wait) = count(shared, &key, per_client).await? {
                return Ok(Err(limited(wait)));
            }
        }
        Ok(count(shared, "signup:all", global).await?.map_err(limited))
    }
}

/// One attempt against `quota` under `key`, in Redis.
async fn count(
    shared: &SharedLimiter,
    key: &str,
    quota: Quota,
) -> Result<Result<(), Duration>, Unavailable> {
    shared
        .check(key, quota.replenish_interval(), quota.burst_size().get(), 1)
        .await
}

/// A shared refusal: try again after `wait` (whole seconds, at least one).
fn limited(wait: Duration) -> CoreError {
    CoreError::RateLimited {
        retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    fn slow() -> Duration {
        Duration::from_secs(3600)
    }

    #[test]
    fn a_guesser_is_held_per_account_and_client_without_locking_the_owner_out() {
        let t = LoginThrottle::new(quota(3, slow()), quota(100, slow()), quota(100, slow()));
        for _ in 0..3 {
            t.check("victim@example.com", ip("198.51.100.1")).unwrap();
        }
        assert!(matches!(
            t.check("victim@example.com", ip("198.51.100.1")),
            Err(CoreError::RateLimited { .. })
        ));
        // The owner, from their own address, is not held by the guesser's attempts.
        t.check("victim@example.com", ip("203.0.113.5")).unwrap();
        // Nor is the guesser's address held for other accounts by this limit.
        t.check("other@example.com", ip("198.51.100.1")).unwrap();
    }

    #[test]
    fn one_client_is_held_across_accounts() {
        let t = LoginThrottle::new(quota(100, slow()), quota(4, slow()), quota(100, slow()));
        for n in 0..4 {
            t.check(&format!("u{n}@example.com"), ip("198.51.100.1"))
                .unwrap();
        }
        assert!(matches!(
            t.check("u9@example.com", ip("198.51.100.1")),
            Err(CoreError::RateLimited { .. })
        ));
        // A neighbour in the same IPv6 /64 is the same client; another /64 is not.
        let v6 = LoginThrottle::new(quota(100, slow()), quota(1, slow()), quota(100, slow()));
        v6.check("a@example.com", ip("2001:db8:0:1::1")).unwrap();
        assert!(v6.check("b@example.com", ip("2001:db8:0:1::2")).is_err());
        v6.check("b@example.com", ip("2001:db8:0:2::2")).unwrap();
    }

    #[test]
    fn many_clients_at_one_account_meet_its_ceiling_but_a_known_client_passes() {
        let t = LoginThrottle::new(quota(100, slow()), quota(100, slow()), quota(5, slow()));
        // The owner logged in before from home.
        t.check("victim@example.com", ip("203.0.113.5")).unwrap();
        t.succeeded("victim@example.com", ip("203.0.113.5"));
        for n in 0..4 {
            t.check("victim@example.com", ip(&format!("198.51.100.{n}")))
                .unwrap();
        }
        assert!(matches!(
            t.check("victim@example.com", ip("198.51.100.200")),
            Err(CoreError::RateLimited { .. })
        ));
        // The botnet filled the account's ceiling; the owner still gets in from home.
        t.check("victim@example.com", ip("203.0.113.5")).unwrap();
    }

    #[test]
    fn limiter_memory_is_bounded() {
        // Keys that replenished at once are swept out; the map does not keep one per email.
        let t = LoginThrottle::new(
            quota(1, Duration::from_nanos(1)),
            quota(1, Duration::from_nanos(1)),
            quota(1, Duration::from_nanos(1)),
        );
        for n in 0..(SWEEP_ABOVE + 500) {
            t.check(&format!("u{n}@example.com"), None).unwrap();
            if n % 1000 == 0 {
                t.per_pair.swept_at_ms.store(0, Ordering::Relaxed);
            }
        }
        t.per_pair.swept_at_ms.store(0, Ordering::Relaxed);
        t.check("last@example.com", None).unwrap();
        assert!(t.per_pair.len() < SWEEP_ABOVE, "{}", t.per_pair.len());
    }

    #[test]
    fn sign_ups_are_held_per_client_and_for_the_instance() {
        let s = SignupThrottle::per_hour(2, 3);
        s.check(ip("198.51.100.1")).unwrap();
        s.check(ip("198.51.100.1")).unwrap();
        assert!(matches!(
            s.check(ip("198.51.100.1")),
            Err(CoreError::RateLimited { .. })
        ));
        s.check(ip("198.51.100.2")).unwrap();
        // The instance's ceiling holds every client, including a new one.
        assert!(matches!(
            s.check(ip("198.51.100.3")),
            Err(CoreError::RateLimited { .. })
        ));
    }
}
