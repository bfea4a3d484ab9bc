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
