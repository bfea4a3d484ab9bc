//! The Redis store against a real `redis-server`: the Lua script against the
//! pure GCRA step, key expiry, script reloading, replicas sharing a limit,
//! the short-circuit, and what each failure policy does when Redis dies,
//! hangs or was never there.
#![cfg(feature = "redis")]

mod support;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardening_core::FakeClock;
use hardening_ratelimit::gcra::Gcra;
use hardening_ratelimit::store::{FailurePolicy, PolicyCheck, RedisStore};
use hardening_ratelimit::{Key, Policy, Quota};
use proptest::prelude::*;
use support::decide;
use support::redis::{connect, keys_under, unique_prefix, url, RedisServer};

/// The script as the store sends it: the shared prelude, then gcra.lua.
const SCRIPT: &str = concat!(
    include_str!("../src/store/redis/gcra_prelude.lua"),
    include_str!("../src/store/redis/gcra.lua")
);

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn builder(url: &str, prefix: &str) -> hardening_ratelimit::store::RedisStoreBuilder {
    RedisStore::builder(url)
        .key_prefix(prefix)
        .failure_policy(FailurePolicy::FailClosed)
        .timeout(Duration::from_secs(2))
}

// ---------------------------------------------------------------------------
// The script is the GCRA step

/// One run of the script at a chosen time (microseconds since the epoch).
fn eval_at(
    conn: &mut redis::Connection,
    keys: &[String],
    quotas: &[Quota],
    now_us: u64,
) -> Vec<i64> {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(SCRIPT).arg(keys.len());
    for k in keys {
        cmd.arg(k);
    }
    cmd.arg(now_us);
    for q in quotas {
        cmd.arg(q.period_nanos())
            .arg(q.window_nanos())
            .arg(q.burst().get());
    }
    cmd.query(conn).expect("script runs")
}

proptest! {
    // No regression file: a case fails when Redis is missing in CI, which
    // says nothing about the inputs.
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Over random quotas (periods that are not whole microseconds) and
    /// random request times, the script's decisions, outcomes and stored
    /// TATs equal the pure `Gcra` step's, for one policy and for two decided
    /// together (all or nothing).
    #[test]
    fn script_equals_the_gcra_step(
        periods in proptest::collection::vec((1u64..3_000_000_000, 1u32..12), 1..3),
        gaps_us in proptest::collection::vec(0u64..400_000, 1..80),
    ) {
        let Some(url) = url("script_equals_the_gcra_step") else { return Ok(()) };
        let mut conn = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
        let prefix = unique_prefix("script_equals_the_gcra_step");
        let quotas: Vec<Quota> = periods
            .iter()
            .map(|&(ns, burst)| Quota::with_period(Duration::from_nanos(ns)).unwrap().with_burst(nz(burst)))
            .collect();
        let gcras: Vec<Gcra> = quotas.iter().map(|q| Gcra::new(*q)).collect();
        let keys: Vec<String> = (0..quotas.len()).map(|i| format!("{prefix}{i}")).collect();
        let mut tats = vec![0u64; quotas.len()];
        let mut now_us = 1_700_000_000_000_000u64;
        for gap in gaps_us {
            now_us += gap;
            let now = now_us * 1000;
            let steps: Vec<_> = gcras.iter().zip(&tats).map(|(g, &t)| g.decide(t, now)).collect();
            let admitted = steps.iter().all(|s| s.allowed);
            let reply = eval_at(&mut conn, &keys, &quotas, now_us);
            prop_assert_eq!(reply.len(), 1 + 4 * quotas.len());
            prop_assert_eq!(reply[0] == 1, admitted);
            for (i, g) in gcras.iter().enumerate() {
                let expected = if admitted { steps[i] } else { g.peek(tats[i], now) };
                let got = &reply[1 + 4 * i..5 + 4 * i];
                prop_assert_eq!(got[0] == 1, expected.allowed, "allowed of {}", i);
                prop_assert_eq!(got[1] as u32, expected.remaining, "remaining of {}", i);
                prop_assert_eq!(got[2] as u64, expected.reset_after, "reset_after of {}", i);
                prop_assert_eq!(got[3] as u64, expected.retry_after, "retry_after of {}", i);
            }
            if admitted {
                for (i, step) in steps.iter().enumerate() {
                    tats[i] = step.tat;
                    let stored: String = redis::cmd("GET").arg(&keys[i]).query(&mut conn).unwrap();
                    prop_assert_eq!(stored.parse::<u64>().unwrap(), step.tat, "stored TAT of {}", i);
                }
            }
        }
        let _: () = redis::cmd("DEL").arg(&keys).query(&mut conn).unwrap();
    }
}

// ---------------------------------------------------------------------------
// What Redis holds

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_when_their_state_has_recovered() {
    let Some(url) = url("keys_expire_when_their_state_has_recovered") else {
        return;
    };
    let prefix = unique_prefix("expiry");
    let store = builder(&url, &prefix).build().unwrap();
    let mut conn = connect(&url).await;

    let slow = Policy::new("slow", Quota::per_minute(nz(5)));
    let fast = Policy::new(
        "fast",
        Quota::with_period(Duration::from_millis(40))
            .unwrap()
            .with_burst(nz(2)),
    );
    let alice = Key::user("alice");
    for _ in 0..3 {
        let d = decide(&store, &[PolicyCheck::new(&slow, &alice)], Duration::ZERO)
            .await
            .unwrap();
        assert!(d.is_allowed());
    }
    let slow_key = format!("{prefix}slow:{}", alice.to_storage_string());
    // three requests of 12 s each: recovered 36 s from now, and not later
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&slow_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((35_000..=36_000).contains(&pttl), "PTTL {pttl}");
    for _ in 0..2 {
        assert!(
            decide(&store, &[PolicyCheck::new(&slow, &alice)], Duration::ZERO)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    let full: i64 = redis::cmd("PTTL")
        .arg(&slow_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((59_000..=60_000).contains(&full), "PTTL {full}");
    // rejections write nothing, so they do not extend the expiry
    for _ in 0..3 {
        assert!(
            !decide(&store, &[PolicyCheck::new(&slow, &alice)], Duration::ZERO)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    let after: i64 = redis::cmd("PTTL")
        .arg(&slow_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        after <= full && after >= 59_000,
        "PTTL {after} after {full}"
    );

    let started = Instant::now();
    for _ in 0..2 {
        assert!(
            decide(&store, &[PolicyCheck::new(&fast, &alice)], Duration::ZERO)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    let fast_key = format!("{prefix}fast:{}", Key::user("alice").to_storage_string());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&fast_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 0 && pttl <= 80, "PTTL {pttl}");
    // every key has an expiry (TTL -1 would be a key kept forever)
    for key in keys_under(&mut conn, &prefix).await {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl > 0, "{key} has PTTL {ttl}");
    }
    // once the fast state has recovered (80 ms after the first request), its
    // key is gone
    tokio::time::sleep(Duration::from_millis(100).saturating_sub(started.elapsed())).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&fast_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    assert_eq!(keys_under(&mut conn, &prefix).await, vec![slow_key.clone()]);
    let _: () = redis::cmd("DEL")
        .arg(&slow_key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_is_reloaded_after_script_flush() {
    let Some(mut server) = RedisServer::start("script_is_reloaded_after_script_flush") else {
        return;
    };
    let url = server.url();
    let store = builder(&url, "reload:").build().unwrap();
    let p = Policy::new("p", Quota::per_hour(nz(10)));
    let k = Key::global();
    let mut conn = connect(&url).await;
    let d = decide(&store, &[PolicyCheck::new(&p, &k)], Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(d.outcomes()[0].remaining, 9);
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut conn)
        .await
        .unwrap();
    let d = decide(&store, &[PolicyCheck::new(&p, &k)], Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        d.outcomes()[0].remaining,
        8,
        "decided by Redis after reloading"
    );
    let sha = redis::Script::new(SCRIPT).get_hash().to_owned();
    let exists: Vec<i64> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(&sha)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(exists, [1]);
    assert_eq!(store.stats().failures, 0);
    server.kill();
}

// ---------------------------------------------------------------------------
// Replicas

/// Two stores ("replicas") whose clocks disagree by days share one limit
/// exactly, under concurrent load: Redis decides on its own clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_skewed_clocks_share_one_limit() {
    let Some(url) = url("replicas_with_skewed_clocks_share_one_limit") else {
        return;
    };
    let prefix = unique_prefix("replicas");
    let replicas = [
        (
            Arc::new(builder(&url, &prefix).build().unwrap()),
            Duration::ZERO,
        ),
        (
            Arc::new(builder(&url, &prefix).build().unwrap()),
            Duration::from_secs(3 * 86_400),
        ),
    ];
    let policy = Policy::new("api", Quota::per_hour(nz(50)));
    let admitted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (store, now) in &replicas {
        for _ in 0..8 {
            let (store, now, policy, admitted) = (
                Arc::clone(store),
                *now,
                policy.clone(),
                Arc::clone(&admitted),
            );
            tasks.push(tokio::spawn(async move {
                let key = Key::user("shared-user");
                for _ in 0..25 {
                    let d = decide(&*store, &[PolicyCheck::new(&policy, &key)], now)
                        .await
                        .unwrap();
                    if d.is_allowed() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(admitted.load(Ordering::Relaxed), 50);
    let mut conn = connect(&url).await;
    let _: () = redis::cmd("DEL")
        .arg(format!(
            "{prefix}api:{}",
            Key::user("shared-user").to_storage_string()
        ))
        .query_async(&mut conn)
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// Short-circuit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_circuit_spares_redis_a_flood() {
    let Some(url) = url("short_circuit_spares_redis_a_flood") else {
        return;
    };
    let prefix = unique_prefix("short-circuit");
    let store = builder(&url, &prefix).build().unwrap();
    let p = Policy::new("login", Quota::per_hour(nz(2)));
    let other = Policy::new("other", Quota::per_hour(nz(100)));
    let attacker = Key::ip("203.0.113.66".parse().unwrap(), 64);
    let now = Duration::from_secs(1000);
    let one = [PolicyCheck::new(&p, &attacker)];
    for _ in 0..2 {
        assert!(decide(&store, &one, now).await.unwrap().is_allowed());
    }
    let first = decide(&store, &one, now).await.unwrap();
    assert!(!first.is_allowed());
    assert_eq!(store.stats().round_trips, 3);
    for _ in 0..1000 {
        let d = decide(&store, &one, now).await.unwrap();
        assert!(!d.is_allowed());
        assert_eq!(d, first, "the same answer Redis gave");
    }
    let stats = store.stats();
    assert_eq!(stats.round_trips, 3, "no round trip for the flood");
    assert_eq!(stats.short_circuited, 1000);
    assert_eq!(store.short_circuit_len(), 1);
    // Later on the layer's clock the answer counts down.
    let later = decide(&store, &one, now + Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        later.retry_after(),
        first.retry_after() - Duration::from_secs(60)
    );
    // A request that also matches a policy not known to be limited asks Redis.
    let both = [
        PolicyCheck::new(&p, &attacker),
        PolicyCheck::new(&other, &attacker),
    ];
    let d = decide(&store, &both, now).await.unwrap();
    assert!(!d.is_allowed());
    assert_eq!(d.outcomes()[1].remaining, 100, "exact outcomes, from Redis");
    assert_eq!(store.stats().round_trips, 4);
    // Once the client may retry, Redis is asked again.
    let retry = first.retry_after();
    let _ = decide(&store, &one, now + retry).await.unwrap();
    assert_eq!(store.stats().round_trips, 5);

    // Without the short-circuit every request is a round trip.
    let plain = builder(&url, &prefix)
        .without_short_circuit()
        .build()
        .unwrap();
    for _ in 0..5 {
        assert!(!decide(&plain, &one, now).await.unwrap().is_allowed());
    }
    assert_eq!(plain.stats().round_trips, 5);
    assert_eq!(plain.short_circuit_len(), 0);

    // The short-circuit is bounded.
    let small = builder(&url, &prefix)
        .short_circuit_capacity(3)
        .build()
        .unwrap();
    let tight = Policy::new("tight", Quota::per_hour(nz(1)));
    for i in 0..10 {
        let k = Key::custom(format!("k{i}"));
        for _ in 0..2 {
            decide(&small, &[PolicyCheck::new(&tight, &k)], now)
                .await
                .unwrap();
        }
    }
    assert_eq!(small.short_circuit_len(), 3);
    let mut conn = connect(&url).await;
    let keys = keys_under(&mut conn, &prefix).await;
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// Failures

// The tracing events of a failing or evicting Redis are checked in
// `tests/redis_store_events.rs`, a binary of its own (see there why).

/// Redis that does not answer in time counts as down: the timeout bounds
/// the wait, the failure policy decides, and Redis is used again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_redis_times_out_into_the_failure_policy() {
    let Some(server) = RedisServer::start("slow_redis_times_out_into_the_failure_policy") else {
        return;
    };
    let url = server.url();
    let clock = FakeClock::new();
    let store = RedisStore::builder(url.as_str())
        .timeout(Duration::from_millis(50))
        .clock(clock.clone())
        .build()
        .unwrap();
    let p = Policy::new("api", Quota::per_hour(nz(5)));
    let k = Key::user("u");
    let c = [PolicyCheck::new(&p, &k)];
    assert!(decide(&store, &c, Duration::ZERO)
        .await
        .unwrap()
        .is_allowed());
    let mut admin = connect(&url).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(400)
        .arg("ALL")
        .query_async(&mut admin)
        .await
        .unwrap();
    let started = Instant::now();
    let d = decide(&store, &c, Duration::ZERO).await.unwrap();
    let waited = started.elapsed();
    assert!(d.is_allowed(), "decided locally");
    assert!(
        waited >= Duration::from_millis(50) && waited < Duration::from_millis(300),
        "{waited:?}"
    );
    assert!(!store.is_redis_up());
    assert_eq!(store.stats().failures, 1);
    // after the pause, Redis is back in use
    tokio::time::sleep(Duration::from_millis(450).saturating_sub(started.elapsed())).await;
    clock.advance(Duration::from_secs(1));
    let d = decide(&store, &c, Duration::ZERO).await.unwrap();
    assert!(store.is_redis_up());
    // the request that timed out may still have run in Redis when the pause
    // ended; either way the state is Redis's again
    assert!(d.outcomes()[0].remaining <= 3, "{d:?}");
}

/// Nothing listening: the store still builds, and decides by its policy at
/// once (connection refused), so a service starts while Redis is away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_at_startup() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let p = Policy::new("api", Quota::per_hour(nz(1)));
    let k = Key::user("u");
    let c = [PolicyCheck::new(&p, &k)];

    let closed = builder(&url, "x:").build().unwrap();
    let started = Instant::now();
    let err = decide(&closed, &c, Duration::ZERO).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        std::error::Error::source(&err).is_some(),
        "carries the Redis error: {err}"
    );
    assert!(closed.ping().await.is_err());

    let local = RedisStore::new(url.as_str()).unwrap();
    assert!(decide(&local, &c, Duration::ZERO)
        .await
        .unwrap()
        .is_allowed());
    assert!(!decide(&local, &c, Duration::ZERO)
        .await
        .unwrap()
        .is_allowed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_reports_a_healthy_redis() {
    let Some(url) = url("ping_reports_a_healthy_redis") else {
        return;
    };
    let store = RedisStore::new(url).unwrap();
    store.ping().await.unwrap();
}
