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

mod buckets {
    use super::*;
    use proptest::prelude::*;

    fn bucket(key: &str, every_us: i64, capacity: i64, cost: i64) -> Bucket {
        Bucket {
            key: key.into(),
            every_us,
            capacity,
            cost,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// Over any arrivals, what a bucket lets through by time t is at most its capacity plus
        /// what refills by then; a refusal changes nothing; remaining never exceeds capacity.
        #[test]
        fn gcra_never_lets_more_through_than_capacity_plus_refill(
            every in 1i64..5_000,
            capacity in 1i64..50,
            steps in proptest::collection::vec((0i64..20_000, 1i64..8), 1..200),
        ) {
            let b = |cost| vec![bucket("k", every, capacity, cost)];
            let mut tats = vec![0];
            let start = 1_000_000;
            let mut now = start;
            let mut let_through = 0;
            for (dt, cost) in steps {
                now += dt;
                let (taken, kept) = decide(&b(cost), &tats, now);
                if taken.wait_us == 0 {
                    let_through += cost;
                } else {
                    prop_assert!(taken.wait_us > 0);
                    prop_assert_eq!(kept[0], tats[0].max(now));
                }
                prop_assert!(taken.states[0].remaining <= capacity);
                prop_assert!(let_through <= capacity + (now - start) / every + 1);
                tats = kept;
            }
        }
    }

    #[test]
    fn several_buckets_are_charged_all_or_none() {
        let now = 1_000_000;
        let two = [bucket("r", 1_000, 3, 1), bucket("t", 10, 100, 60)];
        let (first, tats) = decide(&two, &[0, 0], now);
        assert_eq!(first.wait_us, 0);
        assert_eq!(
            first.states,
            [
                BucketState {
                    remaining: 2,
                    reset_us: 1_000
                },
                BucketState {
                    remaining: 40,
                    reset_us: 600
                }
            ]
        );
        // The token bucket has 40 left: a second run of 60 is refused, and the request bucket is
        // not charged for it.
        let (second, kept) = decide(&two, &tats, now);
        assert_eq!(second.wait_us, 200);
        assert_eq!(kept, tats);
        // Adjusting gives units back, never beyond full.
        let local = Buckets::default();
        assert_eq!(local.take(&two).wait_us, 0);
        assert!(local.take(&two).wait_us > 0);
        local.adjust("t", 10, -60);
        assert_eq!(local.take(&two).wait_us, 0);
        local.adjust("t", 10, -1_000_000);
        assert_eq!(local.peek(&two)[1].remaining, 100);
    }

    /// Redis's script and the in-process buckets decide alike (within one slow window, so the two
    /// clocks cannot differ in what they allow).
    #[tokio::test]
    async fn redis_decides_as_the_process_does() {
        let shared = SharedLimiter::new(&redis_url(), &prefix()).unwrap();
        let local = Buckets::default();
        let minute = 60_000_000;
        let asks = [
            [
                bucket("r", minute / 5, 5, 1),
                bucket("t", minute / 1000, 1000, 400),
            ],
            [
                bucket("r", minute / 5, 5, 1),
                bucket("t", minute / 1000, 1000, 400),
            ],
            [
                bucket("r", minute / 5, 5, 1),
                bucket("t", minute / 1000, 1000, 400),
            ],
            [
                bucket("r", minute / 5, 5, 1),
                bucket("t", minute / 1000, 1000, 100),
            ],
            [
                bucket("r", minute / 5, 5, 1),
                bucket("t", minute / 1000, 1000, 100),
            ],
            [
                bucket("r", minute / 5, 5, 1),
                bucket("t", minute / 1000, 1000, 1),
            ],
        ];
        for (i, ask) in asks.iter().enumerate() {
            let there = shared.take(ask).await.unwrap();
            let here = local.take(ask);
            assert_eq!(there.wait_us == 0, here.wait_us == 0, "ask {i}");
            let remaining = |t: &Taken| t.states.iter().map(|s| s.remaining).collect::<Vec<_>>();
            assert_eq!(remaining(&there), remaining(&here), "ask {i}");
        }
        shared.adjust("t", minute / 1000, -500).await.unwrap();
        local.adjust("t", minute / 1000, -500);
        let peek = shared.peek(&asks[0]).await.unwrap();
        assert_eq!(
            peek.iter().map(|s| s.remaining).collect::<Vec<_>>(),
            local
                .peek(&asks[0])
                .iter()
                .map(|s| s.remaining)
                .collect::<Vec<_>>()
        );
    }
}
