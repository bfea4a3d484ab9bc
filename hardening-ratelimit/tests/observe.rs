//! What each store reports to the layer's observer: decisions (bypassed
//! keyless requests too), overflow-bucket use and tracked keys of the
//! in-memory store, and the Redis store's state and fallback decisions,
//! against an unreachable address and a real `redis-server` that dies and
//! comes back.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use bytes::Bytes;
use hardening_core::observe::RateLimitOutcome;
use hardening_core::{Clock, FakeClock, PeerAddr};
use hardening_ratelimit::{
    Header, InMemoryStore, MissingKey, Policy, Quota, RateLimitLayer, RateLimitStore,
};
use http::{Request, Response, StatusCode};
use support::observe::Recorder;
use tower::{service_fn, Layer, Service, ServiceExt};

type Body = http_body_util::Full<Bytes>;

fn app<St: RateLimitStore>(
    layer: RateLimitLayer<St>,
) -> impl Service<
    Request<Body>,
    Response = Response<hardening_ratelimit::RateLimitBody<Body>>,
    Error = Infallible,
> + Clone {
    layer.layer(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Body::new(Bytes::from_static(b"ok"))))
    }))
}

fn from(ip: &str) -> Request<Body> {
    let mut req = Request::get("/api/items").body(Body::default()).unwrap();
    let addr: SocketAddr = format!("{ip}:4000").parse().unwrap();
    req.extensions_mut().insert(PeerAddr(addr));
    req
}

async fn status<S>(app: &S, req: Request<Body>) -> StatusCode
where
    S: Service<
            Request<Body>,
            Response = Response<hardening_ratelimit::RateLimitBody<Body>>,
            Error = Infallible,
        > + Clone,
{
    app.clone().oneshot(req).await.unwrap().status()
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap())
}

#[tokio::test(flavor = "current_thread")]
async fn memory_store_reports_overflow_and_tracked_keys() {
    let recorder = Recorder::default();
    let clock = FakeClock::new();
    let layer = RateLimitLayer::builder()
        .policy(Policy::new("obs-mem", per_minute(1)))
        .clock(clock.clone())
        .observer(recorder.clone())
        .store(InMemoryStore::with_max_keys(2).unwrap())
        .build()
        .unwrap();
    let store_sweep = {
        let layer = layer.clone();
        move |now| layer.store().sweep(now)
    };
    let app = app(layer);
    let policy = recorder.policy("obs-mem");
    assert_eq!(
        policy.tracked_keys(),
        Some(0),
        "a reader is attached at build"
    );

    assert_eq!(status(&app, from("203.0.113.1")).await, StatusCode::OK);
    assert_eq!(status(&app, from("203.0.113.2")).await, StatusCode::OK);
    assert_eq!(policy.overflow(), 0);
    // The policy's share is full: newcomers share the overflow bucket (1/min).
    assert_eq!(status(&app, from("203.0.113.3")).await, StatusCode::OK);
    assert_eq!(
        status(&app, from("203.0.113.4")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(policy.overflow(), 2);
    assert_eq!(policy.tracked_keys(), Some(2));
    // A tracked client never touches the overflow bucket.
    assert_eq!(
        status(&app, from("203.0.113.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(policy.overflow(), 2);
    assert_eq!(policy.decisions(RateLimitOutcome::Admitted), 3);
    assert_eq!(policy.decisions(RateLimitOutcome::Rejected), 2);
    assert_eq!(policy.fallback(), 0);
    assert!(
        policy.states().is_empty(),
        "an in-memory store has no state"
    );

    clock.advance(Duration::from_secs(60));
    assert_eq!(store_sweep(clock.now()), 2);
    assert_eq!(policy.tracked_keys(), Some(0));
}

#[tokio::test(flavor = "current_thread")]
async fn allowed_keyless_requests_are_bypassed() {
    let recorder = Recorder::default();
    let layer = RateLimitLayer::builder()
        .policy(Policy::new("obs-keyless", per_minute(1)))
        .key(Header::named("x-api-key").unwrap())
        .missing_key(MissingKey::Allow)
        .clock(FakeClock::new())
        .observer(recorder.clone())
        .build()
        .unwrap();
    let app = app(layer);
    for _ in 0..3 {
        assert_eq!(status(&app, from("203.0.113.1")).await, StatusCode::OK);
    }
    let policy = recorder.policy("obs-keyless");
    assert_eq!(policy.decisions(RateLimitOutcome::Bypassed), 3);
    assert_eq!(policy.decisions(RateLimitOutcome::Admitted), 0);

    let mut keyed = from("203.0.113.1");
    keyed
        .headers_mut()
        .insert("x-api-key", "k1".parse().unwrap());
    assert_eq!(status(&app, keyed).await, StatusCode::OK);
    assert_eq!(policy.decisions(RateLimitOutcome::Admitted), 1);
    assert_eq!(policy.decisions(RateLimitOutcome::Bypassed), 3);
}

#[cfg(feature = "redis")]
mod redis {
    use std::time::Instant;

    use hardening_core::observe::StoreState;
    use hardening_ratelimit::store::FailurePolicy;
    use hardening_ratelimit::RedisStore;

    use super::support::redis::{unique_prefix, RedisServer};
    use super::*;

    /// Nothing listens on port 1: the first decision fails, the state goes
    /// to the failure policy's, and what the policy decides is counted.
    #[tokio::test(flavor = "current_thread")]
    async fn unreachable_redis_reports_each_failure_policy() {
        for (failure, state) in [
            (FailurePolicy::Local, StoreState::LocalFallback),
            (FailurePolicy::FailOpen, StoreState::FailOpen),
            (FailurePolicy::FailClosed, StoreState::FailClosed),
        ] {
            let recorder = Recorder::default();
            let store = RedisStore::builder("redis://127.0.0.1:1/")
                .failure_policy(failure)
                .timeout(Duration::from_millis(200))
                .build()
                .unwrap();
            let layer = RateLimitLayer::builder()
                .policy(Policy::new("obs-down", per_minute(2)))
                .clock(FakeClock::new())
                .observer(recorder.clone())
                .store(store)
                .build()
                .unwrap();
            let app = app(layer);
            let mut statuses = Vec::new();
            for _ in 0..3 {
                statuses.push(status(&app, from("203.0.113.1")).await);
            }
            let policy = recorder.policy("obs-down");
            assert_eq!(policy.states(), [state], "{failure:?}");
            match failure {
                FailurePolicy::Local => {
                    assert_eq!(statuses[2], StatusCode::TOO_MANY_REQUESTS);
                    assert_eq!(policy.fallback(), 3);
                    assert_eq!(policy.decisions(RateLimitOutcome::Admitted), 2);
                    assert_eq!(policy.decisions(RateLimitOutcome::Rejected), 1);
                    assert_eq!(policy.tracked_keys(), Some(1), "the local store's keys");
                }
                FailurePolicy::FailOpen => {
                    assert_eq!(statuses, [StatusCode::OK; 3]);
                    assert_eq!(policy.fallback(), 3);
                    assert_eq!(policy.decisions(RateLimitOutcome::Admitted), 3);
                    assert_eq!(policy.tracked_keys(), None, "no local store");
                }
                _ => {
                    assert_eq!(statuses, [StatusCode::SERVICE_UNAVAILABLE; 3]);
                    assert_eq!(policy.fallback(), 0, "an error is no decision");
                    assert_eq!(policy.decisions(RateLimitOutcome::StoreError), 3);
                }
            }
        }
    }

    /// A real `redis-server` killed and restarted: the state goes to
    /// `local_fallback` with the first failure and back to `up` with the
    /// first answer, once each.
    #[tokio::test(flavor = "current_thread")]
    async fn redis_going_down_and_back_is_reported() {
        let Some(mut server) = RedisServer::start("redis_going_down_and_back_is_reported") else {
            return;
        };
        let recorder = Recorder::default();
        let health_clock = FakeClock::new();
        let store = RedisStore::builder(server.url())
            .key_prefix(unique_prefix("obs-back"))
            .failure_policy(FailurePolicy::Local)
            .timeout(Duration::from_millis(500))
            .retry_interval(Duration::from_millis(100))
            .clock(health_clock.clone())
            .build()
            .unwrap();
        let layer = RateLimitLayer::builder()
            .policy(Policy::new("obs-back", per_minute(100_000)))
            .clock(FakeClock::new())
            .observer(recorder.clone())
            .store(store.clone())
            .build()
            .unwrap();
        let app = app(layer);
        let policy = recorder.policy("obs-back");

        assert_eq!(status(&app, from("203.0.113.1")).await, StatusCode::OK);
        assert!(store.is_redis_up());
        assert!(policy.states().is_empty(), "up from the start: no change");
        assert_eq!(policy.fallback(), 0);

        server.kill();
        for _ in 0..3 {
            assert_eq!(status(&app, from("203.0.113.1")).await, StatusCode::OK);
        }
        assert_eq!(policy.states(), [StoreState::LocalFallback]);
        assert_eq!(policy.fallback(), 3);

        server.restart().expect("restart redis-server");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !store.is_redis_up() {
            assert!(
                Instant::now() < deadline,
                "the store did not return to Redis"
            );
            health_clock.advance(Duration::from_millis(100));
            assert_eq!(status(&app, from("203.0.113.1")).await, StatusCode::OK);
            // let the connection manager's reconnect run
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(policy.states(), [StoreState::LocalFallback, StoreState::Up]);
        let fallback = policy.fallback();
        assert_eq!(status(&app, from("203.0.113.1")).await, StatusCode::OK);
        assert_eq!(policy.fallback(), fallback, "decided by Redis again");
        // the first request, the probe that found Redis back and the last one
        assert_eq!(policy.decisions(RateLimitOutcome::Admitted), fallback + 3);
        server.kill();
    }
}
