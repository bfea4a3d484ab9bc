//! The Redis store on a real Redis Cluster (cargo feature `redis-cluster`):
//! two replicas sharing exact limits, keys spread over every primary by
//! their hash tags, requests whose policies span slots (all-or-nothing per
//! slot, refunds across slots), a primary killed under traffic, and a slot
//! migrated while deciding (ASK, MOVED) and a `redis-cli --cluster reshard`
//! under load.
//!
//! The cluster is the run's (`REDIS_CLUSTER_URLS`, as `.ci/run` starts it)
//! for tests that leave it as they found it, and one of the test's own
//! ([`RedisCluster::start`]) for tests that kill or reshard nodes.
#![cfg(feature = "redis-cluster")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hardening_core::PeerAddr;
use hardening_ratelimit::store::{FailurePolicy, PolicyCheck, RedisStore, RedisStoreBuilder};
use hardening_ratelimit::{Key, Policy, Quota, RateLimitLayer};
use hardening_testkit::redis::{cluster_urls, unique_prefix, RedisCluster};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use support::decide;
use tower::{service_fn, Layer, ServiceExt};

fn quota(n: u32) -> Quota {
    Quota::per_hour(NonZeroU32::new(n).unwrap())
}

fn builder(urls: &[String], prefix: &str) -> RedisStoreBuilder {
    RedisStore::cluster_builder(urls.iter().cloned())
        .key_prefix(prefix)
        .failure_policy(FailurePolicy::FailClosed)
        .timeout(Duration::from_secs(2))
}

/// The run's cluster, or (outside CI, when `REDIS_CLUSTER_URLS` is unset) a
/// cluster of the test's own, kept alive by the second value.
fn shared_cluster(test: &str) -> Option<(Vec<String>, Option<RedisCluster>)> {
    if std::env::var_os("REDIS_CLUSTER_URLS").is_some() || std::env::var_os("CI").is_some() {
        return cluster_urls(test).map(|urls| (urls, None));
    }
    let cluster = RedisCluster::start(test)?;
    Some((cluster.urls(), Some(cluster)))
}

fn ip(i: usize) -> Key {
    Key::ip(
        format!("198.51.{}.{}", (i / 250) % 250, i % 250 + 1)
            .parse()
            .unwrap(),
        64,
    )
}

/// Every key under `prefix` on each primary reachable from `urls`
/// (`SCAN` per node: keys live on the primary of their slot).
async fn keys_per_primary(urls: &[String], prefix: &str) -> Vec<Vec<String>> {
    let mut per_primary = Vec::new();
    for url in urls {
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let role: Vec<redis::Value> = redis::cmd("ROLE").query_async(&mut conn).await.unwrap();
        if !matches!(&role[0], redis::Value::BulkString(r) if r == b"master") {
            continue;
        }
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        per_primary.push(keys);
    }
    per_primary
}

// ---------------------------------------------------------------------------
// Sharing, layout, cross-slot semantics (the run's cluster)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_share_exact_limits_and_spread_over_every_primary() {
    let test = "two_stores_share_exact_limits_and_spread_over_every_primary";
    let Some((urls, _own)) = shared_cluster(test) else {
        return;
    };
    let prefix = unique_prefix("cluster-share");
    let a = builder(&urls, &prefix).build().unwrap();
    let b = builder(&urls, &prefix).build().unwrap();
    assert!(a.is_cluster());
    a.ping().await.expect("PING every primary");
    let api = Policy::new("api", quota(3));
    let clients = 90;
    let mut admitted = vec![0; clients];
    for round in 0..5 {
        for (i, count) in admitted.iter_mut().enumerate() {
            // the two "replicas" take turns
            let store = if (round + i) % 2 == 0 { &a } else { &b };
            let key = ip(i);
            let d = decide(store, &[PolicyCheck::new(&api, &key)], Duration::ZERO)
                .await
                .expect("decided by the cluster");
            *count += usize::from(d.is_allowed());
        }
    }
    assert!(admitted.iter().all(|&n| n == 3), "{admitted:?}");
    for store in [&a, &b] {
        let stats = store.stats();
        assert_eq!((stats.failures, stats.fallbacks), (0, 0), "{stats:?}");
    }

    let per_primary = keys_per_primary(&urls, &prefix).await;
    assert_eq!(per_primary.len(), 3, "three primaries");
    for keys in &per_primary {
        assert!(
            keys.len() >= 10,
            "every primary holds a share of 90 clients: {:?}",
            per_primary.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
    let all: Vec<&String> = per_primary.iter().flatten().collect();
    assert_eq!(all.len(), clients);
    assert!(
        all.contains(&&format!("{prefix}api:{{ip:198.51.0.1}}")),
        "{:?}",
        &all[..3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_on_one_client_are_all_or_nothing_in_one_slot() {
    let test = "policies_on_one_client_are_all_or_nothing_in_one_slot";
    let Some((urls, _own)) = shared_cluster(test) else {
        return;
    };
    let store = builder(&urls, &unique_prefix("cluster-one-slot"))
        .build()
        .unwrap();
    let auth = Policy::new("auth", quota(1));
    let login = Policy::new("login", quota(5));
    let client = ip(7);
    let both = [
        PolicyCheck::new(&auth, &client),
        PolicyCheck::new(&login, &client),
    ];
    let d = decide(&store, &both, Duration::ZERO).await.unwrap();
    assert!(d.is_allowed());
    assert_eq!(d.outcomes()[1].remaining, 4);
    let d = decide(&store, &both, Duration::ZERO).await.unwrap();
    assert!(!d.is_allowed(), "auth has nothing left");
    assert!(d.outcomes()[1].allowed, "login would admit");
    assert_eq!(d.outcomes()[1].remaining, 4, "and consumed nothing");
    let d = decide(&store, &[PolicyCheck::new(&login, &client)], Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(d.outcomes()[0].remaining, 3);
    assert_eq!(store.stats().round_trips, 3, "one script call per request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_on_clients_in_different_slots_refund_a_rejection() {
    let test = "policies_on_clients_in_different_slots_refund_a_rejection";
    let Some((urls, _own)) = shared_cluster(test) else {
        return;
    };
    let prefix = unique_prefix("cluster-cross-slot");
    let store = builder(&urls, &prefix).build().unwrap();
    let by_ip = Policy::new("auth", quota(2));
    let by_user = Policy::new("api", quota(10));
    let client = ip(11);
    let user = Key::user("alice");
    let both = [
        PolicyCheck::new(&by_ip, &client),
        PolicyCheck::new(&by_user, &user),
    ];
    for expected_user_remaining in [9, 8] {
        let d = decide(&store, &both, Duration::ZERO).await.unwrap();
        assert!(d.is_allowed());
        assert_eq!(d.outcomes()[1].remaining, expected_user_remaining);
    }
    // the IP is out: the user's slot admitted, then got its unit back
    for _ in 0..3 {
        let d = decide(&store, &both, Duration::ZERO).await.unwrap();
        assert!(!d.is_allowed());
        assert!(!d.outcomes()[0].allowed);
        assert!(d.outcomes()[0].retry_after > Duration::ZERO);
        assert!(d.outcomes()[1].allowed, "the user's policy would admit");
        assert_eq!(d.outcomes()[1].remaining, 8, "and has consumed nothing");
    }
    let d = decide(&store, &[PolicyCheck::new(&by_user, &user)], Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(
        d.outcomes()[0].remaining,
        7,
        "Redis agrees: 2 consumed, then this one"
    );

    // the other way round: the user is out, the IP's unit comes back
    let other = ip(12);
    let user_limited = Policy::new("api1", quota(1));
    let checks = [
        PolicyCheck::new(&by_ip, &other),
        PolicyCheck::new(&user_limited, &user),
    ];
    assert!(decide(&store, &checks, Duration::ZERO)
        .await
        .unwrap()
        .is_allowed());
    for _ in 0..3 {
        let d = decide(&store, &checks, Duration::ZERO).await.unwrap();
        assert!(!d.is_allowed());
        assert_eq!(d.outcomes()[0].remaining, 1, "the IP keeps its second unit");
    }
    let stats = store.stats();
    assert_eq!((stats.failures, stats.fallbacks), (0, 0), "{stats:?}");
}

/// Under concurrency a cross-slot request may be rejected because of a
/// unit another request holds until its refund: never more admitted than
/// the quota, sometimes fewer. Sequentially the count is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_slot_requests_never_admit_beyond_any_quota() {
    let test = "cross_slot_requests_never_admit_beyond_any_quota";
    let Some((urls, _own)) = shared_cluster(test) else {
        return;
    };
    let prefix = unique_prefix("cluster-cross-concurrent");
    let stores = [
        builder(&urls, &prefix).build().unwrap(),
        builder(&urls, &prefix).build().unwrap(),
    ];
    let by_ip = Policy::new("auth", quota(3));
    let by_user = Policy::new("api", quota(20));
    let admitted = Arc::new(AtomicUsize::new(0));
    let per_ip: Arc<Vec<AtomicUsize>> = Arc::new((0..10).map(|_| AtomicUsize::new(0)).collect());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = stores[t % 2].clone();
        let (by_ip, by_user) = (by_ip.clone(), by_user.clone());
        let (admitted, per_ip) = (Arc::clone(&admitted), Arc::clone(&per_ip));
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let n = (t + i) % 10;
                let client = ip(100 + n);
                let user = Key::user("bob");
                let checks = [
                    PolicyCheck::new(&by_ip, &client),
                    PolicyCheck::new(&by_user, &user),
                ];
                let d = decide(&store, &checks, Duration::ZERO).await.unwrap();
                if d.is_allowed() {
                    admitted.fetch_add(1, Ordering::Relaxed);
                    per_ip[n].fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let admitted = admitted.load(Ordering::Relaxed);
    assert!(admitted <= 20, "the user's quota holds: {admitted}");
    assert!(admitted >= 10, "most of it is used: {admitted}");
    for n in per_ip.iter() {
        assert!(n.load(Ordering::Relaxed) <= 3);
    }
    // sequentially, with every IP fresh, the user's remaining quota is spent exactly
    let d = decide(
        &stores[0],
        &[PolicyCheck::new(&by_user, &Key::user("bob"))],
        Duration::ZERO,
    )
    .await
    .unwrap();
    let left = if d.is_allowed() {
        d.outcomes()[0].remaining as usize + 1
    } else {
        0
    };
    assert_eq!(
        admitted + left,
        20,
        "refunds leave nothing consumed by rejections"
    );
}

fn replica(
    urls: &[String],
    prefix: &str,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<hardening_ratelimit::RateLimitBody<Full<Bytes>>>,
    Error = Infallible,
    Future: Send,
> + Clone
       + Send
       + 'static {
    let store = builder(urls, prefix).build().unwrap();
    RateLimitLayer::builder()
        .policy(Policy::new("api", quota(40)).path_prefix("/api"))
        .store(store)
        .build()
        .unwrap()
        .layer(service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_layers_over_the_cluster_admit_exactly_the_quota() {
    let test = "two_layers_over_the_cluster_admit_exactly_the_quota";
    let Some((urls, _own)) = shared_cluster(test) else {
        return;
    };
    let prefix = unique_prefix("cluster-layers");
    let replicas = [replica(&urls, &prefix), replica(&urls, &prefix)];
    let mut tasks = Vec::new();
    for svc in &replicas {
        for port in 0..6 {
            let svc = svc.clone();
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..10 {
                    let mut req = Request::get("/api/x").body(Full::default()).unwrap();
                    let peer: SocketAddr =
                        format!("203.0.113.77:{}", 40000 + port).parse().unwrap();
                    req.extensions_mut().insert(PeerAddr(peer));
                    let res = svc.clone().oneshot(req).await.unwrap();
                    match res.status() {
                        StatusCode::OK => ok += 1,
                        StatusCode::TOO_MANY_REQUESTS => {}
                        other => panic!("unexpected {other}"),
                    }
                }
                ok
            }));
        }
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap();
    }
    assert_eq!(ok, 40, "the quota, between both replicas");
}

#[test]
fn cluster_builder_validates() {
    let err = RedisStore::cluster_builder(Vec::<String>::new())
        .build()
        .unwrap_err();
    assert_eq!(
        (err.component(), err.field()),
        ("RedisStore", "cluster_builder")
    );
    let err = RedisStore::cluster_builder(["redis://:hunter2@127.0.0.1:7000/", "http://x/"])
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "cluster_builder");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = RedisStore::cluster_builder(["redis://:hunter2@127.0.0.1:7000/3"])
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "cluster_builder");
    assert!(err.to_string().contains("database 0"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = RedisStore::cluster_builder(["redis://127.0.0.1:7000/"])
        .key_prefix("app:{rl}:")
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "key_prefix");
    let err = RedisStore::cluster_builder(["redis://127.0.0.1:7000/"])
        .timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "timeout");
    // braces are fine in a standalone prefix
    assert!(RedisStore::builder("redis://127.0.0.1/")
        .key_prefix("{a}")
        .build()
        .is_ok());
    let store = RedisStore::cluster_builder(["redis://127.0.0.1:7000/", "redis://127.0.0.1:7001/"])
        .build()
        .unwrap();
    assert!(store.is_cluster());
}

// ---------------------------------------------------------------------------
// Topology changes (a cluster of the test's own)

/// Decides for `clients` clients in a loop until `stop`, counting
/// decisions and errors.
fn traffic(
    store: RedisStore,
    policy: Policy,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let (mut decided, mut errors) = (0, 0);
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let key = ip(i % clients);
            match decide(&store, &[PolicyCheck::new(&policy, &key)], Duration::ZERO).await {
                Ok(_) => decided += 1,
                Err(_) => errors += 1,
            }
            i += 1;
            tokio::task::yield_now().await;
        }
        (decided, errors)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_primary_falls_back_then_returns_to_the_cluster() {
    let test = "a_killed_primary_falls_back_then_returns_to_the_cluster";
    let Some(mut cluster) = RedisCluster::start(test) else {
        return;
    };
    let prefix = unique_prefix("cluster-failover");
    let store = RedisStore::cluster_builder(cluster.urls())
        .key_prefix(&prefix)
        .failure_policy(FailurePolicy::Local)
        .timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(200))
        .retry_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let api = Policy::new("api", quota(1_000_000));
    let key0 = format!("{prefix}api:{{ip:198.51.0.1}}");
    decide(&store, &[PolicyCheck::new(&api, &ip(0))], Duration::ZERO)
        .await
        .expect("decided");
    assert_eq!(store.stats().fallbacks, 0);

    let stop = Arc::new(AtomicBool::new(false));
    let load = traffic(store.clone(), api.clone(), 60, Arc::clone(&stop));
    let slot = cluster.key_slot(&key0);
    let old = cluster.primary_of(slot);
    let before = store.stats();
    cluster.kill(old.port);
    let old_id = old.id.clone();
    let cluster = tokio::task::spawn_blocking(move || {
        cluster
            .wait_until("the replica took over", Duration::from_secs(30), |c| {
                c.is_ok()
                    && c.primaries()
                        .iter()
                        .any(|n| n.serves(slot) && n.id != old.id)
            })
            .expect("failover, as CLUSTER NODES shows it");
        cluster
    })
    .await
    .unwrap();
    let new = cluster.primary_of(slot);
    assert_ne!(new.id, old_id);
    assert_eq!(new.primary_id, None);

    // Decisions return to the cluster by themselves: poll (with a deadline)
    // until a run of decisions for the failed-over slot needs no fallback.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let f0 = store.stats().fallbacks;
        let mut clean = true;
        for _ in 0..20 {
            decide(&store, &[PolicyCheck::new(&api, &ip(0))], Duration::ZERO)
                .await
                .expect("Local never errors");
            clean &= store.is_redis_up();
        }
        if clean && store.stats().fallbacks == f0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still falling back: {:?}",
            store.stats()
        );
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::Relaxed);
    let (decided, errors) = load.await.unwrap();
    let after = store.stats();
    assert_eq!(
        errors, 0,
        "the failure policy answered every request in the gap"
    );
    assert!(decided > 0);
    assert!(
        after.failures > before.failures,
        "the dead primary was noticed: {after:?}"
    );
    assert!(
        after.fallbacks > before.fallbacks,
        "and covered by the local store: {after:?}"
    );
    // the client's state is on the promoted replica now
    assert_eq!(
        cluster.cli(new.port, &["EXISTS", &key0]).as_deref(),
        Some("1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migrated_while_deciding_stays_exact() {
    let test = "a_slot_migrated_while_deciding_stays_exact";
    let Some(cluster) = RedisCluster::start(test) else {
        return;
    };
    let prefix = unique_prefix("cluster-migrate");
    let store = builder(&cluster.urls(), &prefix).build().unwrap();
    let api = Policy::new("api", quota(10));
    let client = ip(3);
    let key = format!("{prefix}api:{{ip:198.51.0.4}}");
    let slot = cluster.key_slot(&key);
    let from = cluster.primary_of(slot);
    let to = cluster
        .primaries()
        .into_iter()
        .find(|n| n.id != from.id)
        .unwrap();
    let mut admitted = 0;
    let step = |n: usize| {
        let store = store.clone();
        let (api, client) = (api.clone(), client.clone());
        async move {
            let mut admitted = 0;
            for _ in 0..n {
                let d = decide(&store, &[PolicyCheck::new(&api, &client)], Duration::ZERO)
                    .await
                    .expect("no decision error while the slot moves");
                admitted += usize::from(d.is_allowed());
            }
            admitted
        }
    };
    admitted += step(3).await;
    assert_eq!(
        cluster.cli(from.port, &["EXISTS", &key]).as_deref(),
        Some("1")
    );
    cluster.begin_migration(slot, &from, &to).unwrap();
    admitted += step(2).await; // the source still holds the key
    assert_eq!(cluster.migrate_keys(slot, &from, &to, 100).unwrap(), 1);
    admitted += step(2).await; // the source answers ASK: the target decides
    cluster.finish_migration(slot, &to).unwrap();
    // (only now does the target answer a plain client for the slot; while
    // importing, it answers MOVED to anyone who did not send ASKING)
    assert_eq!(
        cluster.cli(to.port, &["EXISTS", &key]).as_deref(),
        Some("1")
    );
    admitted += step(6).await; // the old owner answers MOVED
    assert_eq!(admitted, 10, "exactly the quota across the move");
    let stats = store.stats();
    assert_eq!((stats.failures, stats.fallbacks), (0, 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reshard_under_load_keeps_every_limit_exact() {
    let test = "a_reshard_under_load_keeps_every_limit_exact";
    let Some(cluster) = RedisCluster::start(test) else {
        return;
    };
    let prefix = unique_prefix("cluster-reshard");
    let store = builder(&cluster.urls(), &prefix).build().unwrap();
    let api = Policy::new("api", quota(4));
    let clients = 400;
    // every client spends one unit before the reshard
    for i in 0..clients {
        let key = ip(i);
        assert!(
            decide(&store, &[PolicyCheck::new(&api, &key)], Duration::ZERO)
                .await
                .unwrap()
                .is_allowed()
        );
    }
    let primaries = cluster.primaries();
    let (from, to) = (primaries[0].clone(), primaries[1].clone());
    let moved_slots = from
        .slots
        .iter()
        .map(|&(a, b)| b - a + 1)
        .sum::<u16>()
        .min(600);
    let dbsize =
        |c: &RedisCluster, port| c.cli(port, &["DBSIZE"]).unwrap().parse::<usize>().unwrap();
    let to_before = dbsize(&cluster, to.port);
    let to_port = to.port;
    let reshard = tokio::task::spawn_blocking(move || {
        cluster.reshard(&from, &to, moved_slots).map(|()| cluster)
    });
    // deciding all the while: every client asks once per round, until the
    // reshard is over (and at least 3 rounds: enough to spend every quota)
    let mut admitted = vec![1usize; clients];
    let mut rounds = 0;
    while rounds < 3 || !reshard.is_finished() {
        rounds += 1;
        assert!(rounds < 10_000, "the reshard never ends");
        for (i, n) in admitted.iter_mut().enumerate() {
            let key = ip(i);
            let d = decide(&store, &[PolicyCheck::new(&api, &key)], Duration::ZERO)
                .await
                .expect("no decision error during the reshard");
            *n += usize::from(d.is_allowed());
        }
    }
    let cluster = reshard.await.unwrap().expect("redis-cli --cluster reshard");
    assert!(
        dbsize(&cluster, to_port) > to_before,
        "live keys moved with their slots"
    );
    assert!(admitted.iter().all(|&n| n == 4), "{admitted:?}");
    let stats = store.stats();
    assert_eq!((stats.failures, stats.fallbacks), (0, 0), "{stats:?}");
    drop(cluster);
}
