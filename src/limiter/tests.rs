//! The shared limiter against the real Redis the suite runs (127.0.0.1:6379, or
//! `GALAXY_TEST_REDIS_URL`): exact GCRA counts shared by two limiters (two instances), costs, and
//! a Redis that does not answer coming back as `Unavailable` within the timeout, not a hang.

use super::*;

fn redis_url() -> String {
    std::env::var("GALAXY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A prefix no other test (or run) uses.
fn prefix() -> String {
    format!("galaxy-test:{}", crate::db::new_id())
}

#[tokio::test]
async fn two_instances_share_one_budget() {
    let prefix = prefix();
    let a = SharedLimiter::new(&redis_url(), &prefix).unwrap();
    let b = SharedLimiter::new(&redis_url(), &prefix).unwrap();
    let minute = Duration::from_secs(60);
    // 5 at once, then one a minute: 3 through A and 2 through B use it up.
    for limiter in [&a, &a, &a, &b, &b] {
        assert_eq!(limiter.check("k", minute, 5, 1).await.unwrap(), Ok(()));
    }
    for limiter in [&a, &b] {
        let wait = limiter.check("k", minute, 5, 1).await.unwrap().unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= minute, "{wait:?}");
    }
    // Other keys are untouched; a cost counts its units.
    assert_eq!(a.check("other", minute, 5, 5).await.unwrap(), Ok(()));
    assert!(b.check("other", minute, 5, 1).await.unwrap().is_err());
    assert!(a.check("big", minute, 5, 6).await.unwrap().is_err());
    // Flags.
    assert!(!a.has_flag("seen").await.unwrap());
    b.set_flag("seen", minute).await.unwrap();
    assert!(a.has_flag("seen").await.unwrap());
    // Keys are hashed: Redis never holds what they name (emails, addresses) in plain text.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 3, "k, other and seen: {keys:?}");
    assert!(
        keys.iter()
            .all(|k| !k.contains("seen") && !k.ends_with(":k")),
        "{keys:?}"
    );
}

#[tokio::test]
async fn a_fast_limit_replenishes() {
    let limiter = SharedLimiter::new(&redis_url(), &prefix()).unwrap();
    let every = Duration::from_millis(50);
    assert_eq!(limiter.check("k", every, 1, 1).await.unwrap(), Ok(()));
    assert!(limiter.check("k", every, 1, 1).await.unwrap().is_err());
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(limiter.check("k", every, 1, 1).await.unwrap(), Ok(()));
}

#[tokio::test]
async fn a_redis_that_does_not_answer_is_unavailable_not_a_hang() {
    // A port that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let limiter = SharedLimiter::new(&format!("redis://{addr}"), &prefix()).unwrap();
    let started = std::time::Instant::now();
    let answer = limiter.check("k", Duration::from_secs(1), 1, 1).await;
    assert!(answer.is_err(), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // Known to be down: the next calls do not wait for it again.
    let again = std::time::Instant::now();
    assert!(limiter.has_flag("k").await.is_err());
    assert!(
        limiter
            .check("k", Duration::from_secs(1), 1, 1)
            .await
            .is_err()
    );
    assert!(
        again.elapsed() < Duration::from_millis(50),
        "{:?}",
        again.elapsed()
    );
    // Nothing listening at all: the same.
    let closed = SharedLimiter::new("redis://127.0.0.1:9", &prefix()).unwrap();
    assert!(
        closed
            .check("k", Duration::from_secs(1), 1, 1)
            .await
            .is_err()
    );
    assert!(SharedLimiter::new("not a url", "x").is_err());
    assert!(SharedLimiter::new("http://127.0.0.1:6379", "x").is_err());
}
