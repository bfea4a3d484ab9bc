//! The Redis store's warnings, against a real `redis-server`: once per
//! interval while Redis is down, and once for an eviction policy that can
//! drop live limiter state.
//!
//! Its own test binary, and every test in it installs its capturing
//! subscriber before the store emits anything: tracing caches each
//! callsite's interest globally, and while exactly one `Dispatch` is
//! registered in the process, the first thread to hit a callsite computes
//! that interest from its own default subscriber (tracing-core 0.1.36,
//! tokio-rs/tracing issue 3611). Next to the other store tests, a parallel
//! test with Redis away and no subscriber could cache `Interest::never()`
//! for the store's warning while a capturing test ran.
#![cfg(feature = "redis")]

mod support;

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use hardening_core::FakeClock;
use hardening_ratelimit::store::{FailurePolicy, PolicyCheck, RedisStore};
use hardening_ratelimit::{Key, Policy, Quota};
use hardening_testkit::LogBuffer;
use support::decide;
use support::redis::{connect, keys_under, RedisServer};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

/// `WARN` lines of target `hardening_ratelimit` in `logs` (written by
/// tracing-subscriber's default `fmt` format).
fn warnings(logs: &LogBuffer) -> usize {
    logs.contents()
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace().skip(1);
            words.next() == Some("WARN") && words.next() == Some("hardening_ratelimit:")
        })
        .count()
}

/// Redis killed mid-test: each failure policy does what it says, warns once
/// per interval, and every store goes back to Redis after the restart.
#[tokio::test(flavor = "current_thread")]
async fn failure_policies_when_redis_dies_and_returns() {
    let Some(mut server) = RedisServer::start("failure_policies_when_redis_dies_and_returns")
    else {
        return;
    };
    let logs = LogBuffer::new();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Rebuild the callsite interest cache with this subscriber live, so a
    // callsite registered concurrently by a parallel test cannot miss it.
    tracing::callsite::rebuild_interest_cache();
    let url = server.url();
    let clock = FakeClock::new();
    let build = |policy| {
        RedisStore::builder(url.as_str())
            .key_prefix(format!("dies:{policy:?}:"))
            .failure_policy(policy)
            .timeout(Duration::from_millis(500))
            .retry_interval(Duration::from_millis(100))
            .warn_interval(Duration::from_secs(10))
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let open = build(FailurePolicy::FailOpen);
    let closed = build(FailurePolicy::FailClosed);
    let local = build(FailurePolicy::Local);
    let p = Policy::new("api", Quota::per_hour(nz(3)));
    let k = Key::user("u");
    let c = [PolicyCheck::new(&p, &k)];
    let now = Duration::from_secs(5);

    // Redis up: all three limit through Redis.
    for store in [&open, &closed, &local] {
        for _ in 0..3 {
            assert!(decide(store, &c, now).await.unwrap().is_allowed());
        }
        let d = decide(store, &c, now).await.unwrap();
        assert!(!d.is_allowed());
        assert!(store.is_redis_up());
    }
    let before = warnings(&logs);
    server.kill();
    let now = now + Duration::from_secs(7200); // past every short-circuit

    // FailOpen admits, as a fresh client would be.
    for _ in 0..10 {
        let d = decide(&open, &c, now).await.unwrap();
        assert!(d.is_allowed());
        assert_eq!(d.outcomes()[0].remaining, 2);
    }
    assert!(!open.is_redis_up());
    assert_eq!(
        open.stats().failures,
        1,
        "then it stops asking until the retry interval"
    );
    assert_eq!(open.stats().fallbacks, 10);

    // FailClosed decides nothing: the layer answers 503.
    for _ in 0..10 {
        let started = Instant::now();
        let err = decide(&closed, &c, now).await.unwrap_err();
        assert!(err.to_string().contains("Redis"), "{err}");
        assert!(started.elapsed() < Duration::from_millis(500));
    }
    assert_eq!(closed.stats().failures, 1);

    // Local limits in-process: the quota again, per replica.
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += usize::from(decide(&local, &c, now).await.unwrap().is_allowed());
    }
    assert_eq!(admitted, 3);
    assert_eq!(local.local_store().unwrap().tracked_keys(), 1);

    // One warning per store, not one per failure or per request.
    assert_eq!(warnings(&logs) - before, 3);

    // A probe per retry interval while Redis stays down.
    clock.advance(Duration::from_millis(100));
    assert!(decide(&closed, &c, now).await.is_err());
    assert!(decide(&closed, &c, now).await.is_err());
    assert_eq!(closed.stats().failures, 2, "one probe, one failure");
    assert_eq!(
        warnings(&logs) - before,
        3,
        "still within the warn interval"
    );

    // Redis returns (empty): every store goes back to it by itself.
    server.restart().expect("restart redis-server");
    for store in [&open, &closed, &local] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            clock.advance(Duration::from_millis(100));
            let d = decide(store, &c, now).await;
            if store.is_redis_up() {
                let d = d.expect("decided by Redis");
                assert!(d.is_allowed());
                assert_eq!(
                    d.outcomes()[0].remaining,
                    2,
                    "fresh state in the restarted Redis"
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{:?} did not return to Redis",
                store.failure_policy()
            );
            // let the connection manager's reconnect run
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut conn = connect(&url).await;
    let keys = keys_under(&mut conn, "dies:").await;
    assert_eq!(
        keys.len(),
        3,
        "each store wrote to the restarted Redis: {keys:?}"
    );
    server.kill();
}

/// `maxmemory-policy allkeys-lru` can evict live limiter state: the store
/// says so once, after Redis first decided; `volatile-ttl` is quiet.
#[tokio::test(flavor = "current_thread")]
async fn an_allkeys_eviction_policy_is_warned_about() {
    let Some(server) = RedisServer::start("an_allkeys_eviction_policy_is_warned_about") else {
        return;
    };
    let logs = LogBuffer::new();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    let p = Policy::new("api", Quota::per_hour(nz(5)));
    let k = Key::user("u");
    let c = [PolicyCheck::new(&p, &k)];
    for (policy, warned) in [("volatile-ttl", false), ("allkeys-lru", true)] {
        let set = format!("CONFIG SET maxmemory-policy {policy}");
        assert_eq!(server.command(&set).as_deref(), Some("+OK"));
        let store = RedisStore::builder(server.url())
            .key_prefix(format!("evict-{policy}:"))
            .failure_policy(FailurePolicy::FailClosed)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        for _ in 0..2 {
            assert!(decide(&store, &c, Duration::ZERO)
                .await
                .unwrap()
                .is_allowed());
        }
        // The check runs in a task of its own; give it its round trip.
        let deadline = Instant::now() + Duration::from_secs(5);
        while warned && !logs.contents().contains("allkeys-lru") && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // (A late warning for volatile-ttl would still be caught by the
        // count below, taken after the allkeys-lru round has waited.)
        let text = logs.contents();
        assert_eq!(text.contains(policy), warned, "{policy}: {text}");
    }
    let text = logs.contents();
    assert_eq!(text.matches("may evict").count(), 1, "{text}");
    assert!(text.contains("WARN"), "{text}");
}
