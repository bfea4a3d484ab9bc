//! The Redis store over TLS (`rediss://`, cargo feature `redis-tls`) against
//! real `redis-server`s with a CA and certificate made in the run: a CA
//! file on the builder, an ACL user, the password masked in every error, and
//! a Redis Cluster over TLS (with `redis-cluster`).
#![cfg(feature = "redis-tls")]

mod support;

use std::num::NonZeroU32;
use std::time::Duration;

use hardening_ratelimit::store::{FailurePolicy, PolicyCheck, RedisStore};
use hardening_ratelimit::{Key, Policy, Quota};
use hardening_testkit::redis::{tls_url, unique_prefix, RedisServer};
use support::decide;

fn quota(n: u32) -> Quota {
    Quota::per_hour(NonZeroU32::new(n).unwrap())
}

/// Every message of an error and its sources, for "is the secret in it".
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = format!("{err} / {err:?}");
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(&format!(" / {s} / {s:?}"));
        source = s.source();
    }
    text
}

async fn admitted_of_three(store: &RedisStore, prefix: &str) -> usize {
    let p = Policy::new("api", quota(2));
    let k = Key::user(prefix);
    let mut admitted = 0;
    for _ in 0..3 {
        let d = decide(store, &[PolicyCheck::new(&p, &k)], Duration::ZERO)
            .await
            .expect("decided by Redis");
        admitted += usize::from(d.is_allowed());
    }
    admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_a_ca_file_decides_in_redis() {
    let Some(server) = RedisServer::start_tls("rediss_with_a_ca_file_decides_in_redis") else {
        return;
    };
    let store = RedisStore::builder(server.tls_url())
        .ca_file(server.ca_file())
        .failure_policy(FailurePolicy::FailClosed)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    store.ping().await.expect("PING over TLS");
    assert_eq!(admitted_of_three(&store, "tls").await, 2);
    assert!(store.is_redis_up());
    assert_eq!(store.stats().failures, 0);
    // the state is in the TLS server (seen through its plain admin port)
    assert_eq!(server.command("DBSIZE").as_deref(), Some(":1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused() {
    let Some(server) = RedisServer::start_tls("an_untrusted_certificate_is_refused") else {
        return;
    };
    // the platform's roots do not know the run's CA
    let store = RedisStore::builder(server.tls_url())
        .failure_policy(FailurePolicy::FailClosed)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let p = Policy::new("api", quota(2));
    let k = Key::global();
    let err = decide(&store, &[PolicyCheck::new(&p, &k)], Duration::ZERO)
        .await
        .unwrap_err();
    assert!(!store.is_redis_up(), "{err}");
    assert_eq!(server.command("DBSIZE").as_deref(), Some(":0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_user_over_tls_and_the_password_never_shows() {
    let Some(server) = RedisServer::start_tls("acl_user_over_tls_and_the_password_never_shows")
    else {
        return;
    };
    assert_eq!(
        server
            .command("ACL SETUSER limiter on >limiter-s3cret ~* +@all")
            .as_deref(),
        Some("+OK")
    );
    assert_eq!(
        server.command("ACL SETUSER default off").as_deref(),
        Some("+OK")
    );
    let url = server
        .tls_url()
        .replace("rediss://", "rediss://limiter:limiter-s3cret@");
    let store = RedisStore::builder(url.as_str())
        .ca_file(server.ca_file())
        .failure_policy(FailurePolicy::FailClosed)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    assert_eq!(admitted_of_three(&store, "acl").await, 2);
    assert!(!format!("{store:?}").contains("limiter-s3cret"));

    // a wrong password: refused, and masked everywhere it could appear
    let wrong = server
        .tls_url()
        .replace("rediss://", "rediss://limiter:wr0ng-pa55word@");
    let store = RedisStore::builder(wrong.as_str())
        .ca_file(server.ca_file())
        .failure_policy(FailurePolicy::FailClosed)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let p = Policy::new("api", quota(2));
    let k = Key::global();
    let err = decide(&store, &[PolicyCheck::new(&p, &k)], Duration::ZERO)
        .await
        .unwrap_err();
    let text = chain(&err);
    assert!(!text.contains("wr0ng-pa55word"), "{text}");
    let err = store.ping().await.unwrap_err();
    let text = chain(&err);
    assert!(!text.contains("wr0ng-pa55word"), "{text}");
    assert!(format!("{store:?}").len() > 10 && !format!("{store:?}").contains("wr0ng"));

    // configuration errors mask it too
    let err = RedisStore::builder(wrong.replace("rediss://", "redisss://"))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "url");
    assert!(!err.to_string().contains("wr0ng-pa55word"), "{err}");
}

#[test]
fn ca_file_is_checked_at_build() {
    let missing = std::env::temp_dir().join(unique_prefix("no-such-ca").replace(':', "-"));
    let err = RedisStore::builder("rediss://127.0.0.1:6380/")
        .ca_file(&missing)
        .build()
        .unwrap_err();
    assert_eq!((err.component(), err.field()), ("RedisStore", "ca_file"));
    let not_pem = std::env::temp_dir().join(unique_prefix("not-pem").replace(':', "-"));
    std::fs::write(&not_pem, "hello").unwrap();
    let err = RedisStore::builder("rediss://127.0.0.1:6380/")
        .ca_file(&not_pem)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "ca_file");
    assert!(err.to_string().contains("CERTIFICATE"), "{err}");
    let err = RedisStore::builder("redis://127.0.0.1:6379/")
        .ca_file(&not_pem)
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "ca_file");
    assert!(err.to_string().contains("rediss://"), "{err}");
    std::fs::remove_file(&not_pem).unwrap();
}

/// The TLS server of the run (`REDIS_TLS_URL`, `REDIS_TLS_CA`; .ci/run
/// starts one with `--port 0`, so TLS is the only way in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_tls_redis_shares_limits() {
    let Some((url, ca)) = tls_url("the_runs_tls_redis_shares_limits") else {
        return;
    };
    let prefix = unique_prefix("tls-ci");
    let build = || {
        RedisStore::builder(url.as_str())
            .ca_file(&ca)
            .key_prefix(prefix.as_str())
            .failure_policy(FailurePolicy::FailClosed)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let p = Policy::new("api", quota(3));
    let k = Key::user("shared");
    let mut admitted = 0;
    for i in 0..6 {
        let store = if i % 2 == 0 { &a } else { &b };
        let d = decide(store, &[PolicyCheck::new(&p, &k)], Duration::ZERO)
            .await
            .expect("decided by the TLS Redis");
        admitted += usize::from(d.is_allowed());
    }
    assert_eq!(admitted, 3, "two replicas, one limit over TLS");
}

/// A Redis Cluster over TLS (`--tls-cluster yes`): `rediss://` seeds and a
/// CA file; the client learns the nodes' TLS ports from `CLUSTER SLOTS`.
#[cfg(feature = "redis-cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_decides_over_rediss_seeds() {
    use hardening_testkit::redis::RedisCluster;

    let Some(cluster) = RedisCluster::start_tls("a_tls_cluster_decides_over_rediss_seeds") else {
        return;
    };
    let prefix = unique_prefix("tls-cluster");
    let build = |ca: Option<std::path::PathBuf>| {
        let builder = RedisStore::cluster_builder(cluster.tls_urls())
            .key_prefix(prefix.as_str())
            .failure_policy(FailurePolicy::FailClosed)
            .timeout(Duration::from_secs(2));
        match ca {
            Some(ca) => builder.ca_file(ca),
            None => builder,
        }
        .build()
        .unwrap()
    };
    let store = build(Some(cluster.ca_file()));
    store.ping().await.expect("PING every primary over TLS");
    let p = Policy::new("api", quota(2));
    let mut admitted = 0;
    for client in 0..20 {
        let k = Key::user(format!("u{client}"));
        for _ in 0..3 {
            let d = decide(&store, &[PolicyCheck::new(&p, &k)], Duration::ZERO)
                .await
                .expect("decided by the TLS cluster");
            admitted += usize::from(d.is_allowed());
        }
    }
    assert_eq!(admitted, 40);
    let in_cluster: usize = cluster
        .primaries()
        .iter()
        .map(|n| {
            cluster
                .cli(n.port, &["DBSIZE"])
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(in_cluster, 20, "one key per client, on the primaries");

    // without the CA the cluster's certificates are not trusted
    let untrusted = build(None);
    let k = Key::user("u0");
    assert!(
        decide(&untrusted, &[PolicyCheck::new(&p, &k)], Duration::ZERO)
            .await
            .is_err()
    );
    // mixing TLS and plain seeds is a configuration error
    let mut mixed = cluster.tls_urls();
    mixed.push(cluster.urls()[0].clone());
    let err = RedisStore::cluster_builder(mixed).build().unwrap_err();
    assert_eq!(err.field(), "cluster_builder");
}
