//! Two `RateLimitLayer` "replicas" sharing one Redis, end to end through the
//! tower layer: exactly the quota between them under concurrent load, and
//! `503` with `Retry-After` when Redis dies under `FailClosed`.
#![cfg(feature = "redis")]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use bytes::Bytes;
use hardening_core::PeerAddr;
use hardening_ratelimit::store::FailurePolicy;
use hardening_ratelimit::{Policy, Quota, RateLimitLayer, RedisStore};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use support::redis::{connect, keys_under, unique_prefix, url, RedisServer};
use tower::{service_fn, Layer, ServiceExt};

type Body = Full<Bytes>;

fn replica(
    url: &str,
    prefix: &str,
    failure_policy: FailurePolicy,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<hardening_ratelimit::RateLimitBody<Body>>,
    Error = Infallible,
    Future: Send,
> + Clone
       + Send
       + 'static {
    let store = RedisStore::builder(url)
        .key_prefix(prefix)
        .failure_policy(failure_policy)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let quota = Quota::per_hour(NonZeroU32::new(50).unwrap());
    RateLimitLayer::builder()
        .policy(Policy::new("api", quota).path_prefix("/api"))
        .store(store)
        .build()
        .unwrap()
        .layer(service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }))
}

fn request(peer: &str) -> Request<Body> {
    let mut req = Request::get("/api/items").body(Body::default()).unwrap();
    req.extensions_mut()
        .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_layers_sharing_redis_admit_exactly_the_quota() {
    let Some(url) = url("two_layers_sharing_redis_admit_exactly_the_quota") else {
        return;
    };
    let prefix = unique_prefix("layers");
    let replicas = [
        replica(&url, &prefix, FailurePolicy::FailClosed),
        replica(&url, &prefix, FailurePolicy::FailClosed),
    ];
    let mut tasks = Vec::new();
    for svc in &replicas {
        for port in 0..8 {
            let svc = svc.clone();
            tasks.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..20 {
                    // one client (one IP), many connections
                    let res = svc
                        .clone()
                        .oneshot(request(&format!("203.0.113.5:{}", 40000 + port)))
                        .await
                        .unwrap();
                    if res.status() == StatusCode::TOO_MANY_REQUESTS {
                        assert!(res.headers().contains_key("retry-after"));
                    }
                    statuses.push(res.status());
                }
                statuses
            }));
        }
    }
    let mut ok = 0;
    let mut limited = 0;
    for task in tasks {
        for status in task.await.unwrap() {
            match status {
                StatusCode::OK => ok += 1,
                StatusCode::TOO_MANY_REQUESTS => limited += 1,
                other => panic!("unexpected {other}"),
            }
        }
    }
    assert_eq!(ok, 50, "the quota, between both replicas");
    assert_eq!(limited, 2 * 8 * 20 - 50);
    let mut conn = connect(&url).await;
    let keys = keys_under(&mut conn, &prefix).await;
    assert_eq!(keys, [format!("{prefix}api:ip:203.0.113.5")]);
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_layer_answers_503_while_redis_is_down() {
    let Some(mut server) = RedisServer::start("fail_closed_layer_answers_503_while_redis_is_down")
    else {
        return;
    };
    let svc = replica(&server.url(), "closed:", FailurePolicy::FailClosed);
    let res = svc.clone().oneshot(request("192.0.2.1:1")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    server.kill();
    let res = svc.clone().oneshot(request("192.0.2.1:1")).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "1");

    let open = replica(&server.url(), "open:", FailurePolicy::FailOpen);
    for _ in 0..60 {
        let res = open.clone().oneshot(request("192.0.2.1:1")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "fail-open admits");
    }
}

/// Issue 11, item 7: user ids, API keys and custom keys reach Redis only as
/// SHA-256. Every key the layer wrote, as `SCAN` lists it, is checked for
/// the raw identities, and the whole database is searched for them too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_keys_reach_redis_only_hashed() {
    use hardening_ratelimit::{AuthenticatedUser, Header, Key, PeerIp, UserOrIp};

    let Some(url) = url("text_keys_reach_redis_only_hashed") else {
        return;
    };
    let prefix = unique_prefix("hashed");
    // Unique per run, so a search of the whole database finds only ours.
    let nonce = prefix.len() * 7919 + std::process::id() as usize;
    let user = format!("alice.{nonce}@example.com");
    let api_key = format!("sk_live_{nonce}_4eC39HqLyjWDarjtT1zdp7dc");
    let tenant = format!("tenant-{nonce}:with:colons");

    let store = RedisStore::builder(&url)
        .key_prefix(prefix.as_str())
        .failure_policy(FailurePolicy::FailClosed)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let quota = Quota::per_hour(NonZeroU32::new(50).unwrap());
    let tenant_key = tenant.clone();
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("api", quota).path_prefix("/api"))
        .policy(
            Policy::new("keys", quota)
                .path_prefix("/keys")
                .key(Header::named("x-api-key").unwrap()),
        )
        .policy(Policy::new("tenant", quota).path_prefix("/tenant").key(
            move |_: &hardening_ratelimit::RequestRef<'_>| Some(Key::custom(tenant_key.as_str())),
        ))
        .key(UserOrIp::new(PeerIp::new()))
        .store(store)
        .build()
        .unwrap()
        .layer(service_fn(|_req: Request<Body>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }));

    let mut as_user = request("203.0.113.5:1");
    as_user
        .extensions_mut()
        .insert(AuthenticatedUser::new(user.as_str()));
    let mut with_key = Request::get("/keys/1").body(Body::default()).unwrap();
    with_key
        .headers_mut()
        .insert("x-api-key", api_key.parse().unwrap());
    with_key
        .extensions_mut()
        .insert(PeerAddr("203.0.113.6:1".parse::<SocketAddr>().unwrap()));
    let mut tenant_req = Request::get("/tenant/1").body(Body::default()).unwrap();
    tenant_req
        .extensions_mut()
        .insert(PeerAddr("203.0.113.7:1".parse::<SocketAddr>().unwrap()));
    for req in [as_user, with_key, tenant_req] {
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    let mut conn = connect(&url).await;
    let mut keys = keys_under(&mut conn, &prefix).await;
    keys.sort();
    let mut expected = vec![
        format!(
            "{prefix}api:{}",
            Key::user(user.as_str()).to_storage_string()
        ),
        format!(
            "{prefix}keys:{}",
            Key::header_value(api_key.as_str()).to_storage_string()
        ),
        format!(
            "{prefix}tenant:{}",
            Key::custom(tenant.as_str()).to_storage_string()
        ),
    ];
    expected.sort();
    assert_eq!(keys, expected);
    for key in &keys {
        let name = &key[prefix.len()..];
        for secret in [&user, &api_key, &tenant, &"alice".to_owned()] {
            assert!(!name.contains(secret.as_str()), "{secret} in {key}");
        }
        // `<policy>:<kind>:<64 hex digits>`: nothing of the value survives.
        let digest = name.rsplit(':').next().unwrap();
        assert_eq!(digest.len(), 64, "{key}");
        assert!(digest.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    }
    // And nowhere in the whole database, under any prefix.
    for needle in [&user, &api_key, &tenant] {
        let pattern = needle.replace(':', "\\:");
        assert!(
            keys_under(&mut conn, &format!("*{pattern}"))
                .await
                .is_empty(),
            "{needle} found in Redis"
        );
    }
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .unwrap();
}
