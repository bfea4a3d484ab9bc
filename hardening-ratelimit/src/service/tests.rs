//! Tests of the tower wiring: every behaviour through `oneshot`. The tracing
//! events are checked in `tests/tracing_events.rs`, a binary of its own.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use hardening_core::{FakeClock, PeerAddr, TrustedProxies};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceExt};

use crate::store::{Decision, MaybeReady, PolicyCheck, RateLimitStore, StoreError};
use crate::{
    AuthenticatedUser, ClientIp, Global, InMemoryStore, Key, MissingKey, Policy, Quota,
    RateLimitLayer, UserOrIp,
};

type Body = Full<Bytes>;

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn req(method: Method, path: &str, peer: Option<&str>) -> Request<Body> {
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::default())
        .unwrap();
    if let Some(peer) = peer {
        r.extensions_mut()
            .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    }
    r
}

fn get(path: &str, peer: &str) -> Request<Body> {
    req(Method::GET, path, Some(peer))
}

fn ok_service(
) -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible, Future: Send>
       + Clone {
    service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    })
}

async fn send<S>(svc: &S, r: Request<Body>) -> Response<crate::RateLimitBody<Body>>
where
    S: tower::Service<
            Request<Body>,
            Response = Response<crate::RateLimitBody<Body>>,
            Error = Infallible,
        > + Clone,
{
    match svc.clone().oneshot(r).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

async fn body_string(res: Response<crate::RateLimitBody<Body>>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header<'a>(res: &'a Response<crate::RateLimitBody<Body>>, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

fn auth_layer(clock: &FakeClock) -> RateLimitLayer {
    RateLimitLayer::builder()
        .policies(Policy::defaults())
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn sixth_login_in_a_minute_is_limited_with_headers() {
    let clock = FakeClock::new();
    let svc = auth_layer(&clock).layer(ok_service());
    for remaining in (0..5).rev() {
        let res = send(
            &svc,
            req(Method::POST, "/auth/login", Some("203.0.113.9:1")),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "ratelimit-policy"), Some("\"auth\";q=5;w=60"));
        let expected = format!("\"auth\";r={remaining};t={}", 12 * (5 - remaining));
        assert_eq!(header(&res, "ratelimit"), Some(expected.as_str()));
        clock.advance(Duration::from_millis(100));
    }
    let res = send(
        &svc,
        req(Method::POST, "/auth/login", Some("203.0.113.9:1")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // 12 s period minus the 0.5 s that passed: 11.5 s, rounded up.
    assert_eq!(header(&res, "retry-after"), Some("12"));
    assert_eq!(header(&res, "ratelimit-policy"), Some("\"auth\";q=5;w=60"));
    assert_eq!(header(&res, "ratelimit"), Some("\"auth\";r=0;t=60"));
    assert_eq!(
        header(&res, "content-type"),
        Some("application/problem+json")
    );
    let body = body_string(res).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], 429);
    assert_eq!(json["policy"], "auth");

    // another client is unaffected; other routes are unaffected
    let res = send(
        &svc,
        req(Method::POST, "/auth/login", Some("203.0.113.10:1")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = send(&svc, get("/", "203.0.113.9:1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "ratelimit").is_none(), "no policy matched");

    // one period later, exactly one more login
    clock.advance(Duration::from_millis(11_500));
    let res = send(
        &svc,
        req(Method::POST, "/auth/login", Some("203.0.113.9:1")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = send(
        &svc,
        req(Method::POST, "/auth/login", Some("203.0.113.9:1")),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn burst_then_steady_rate() {
    let clock = FakeClock::new();
    let quota = Quota::per_second(nz(2)).with_burst(nz(4));
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("burst", quota))
        .clock(clock.clone())
        .build()
        .unwrap()
        .layer(ok_service());
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += usize::from(
            send(&svc, get("/x", "192.0.2.1:1"))
                .await
                .status()
                .is_success(),
        );
    }
    assert_eq!(admitted, 4);
    // 2 per second afterwards
    for _ in 0..3 {
        clock.advance(Duration::from_millis(500));
        assert!(send(&svc, get("/x", "192.0.2.1:1"))
            .await
            .status()
            .is_success());
        assert_eq!(
            send(&svc, get("/x", "192.0.2.1:1")).await.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

#[tokio::test]
async fn retry_after_rounds_up_and_is_never_zero() {
    let clock = FakeClock::new();
    let quota = Quota::with_period(Duration::from_millis(1500)).unwrap();
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("slow", quota))
        .clock(clock.clone())
        .build()
        .unwrap()
        .layer(ok_service());
    assert!(send(&svc, get("/", "192.0.2.1:1"))
        .await
        .status()
        .is_success());
    let res = send(&svc, get("/", "192.0.2.1:1")).await;
    assert_eq!(header(&res, "retry-after"), Some("2"), "1.5 s rounds up");
    assert_eq!(header(&res, "ratelimit-policy"), Some("\"slow\";q=1;w=2"));
    clock.advance(Duration::from_millis(1499));
    let res = send(&svc, get("/", "192.0.2.1:1")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&res, "retry-after"),
        Some("1"),
        "1 ms left is 1 s, not 0"
    );
    clock.advance(Duration::from_millis(1));
    assert!(send(&svc, get("/", "192.0.2.1:1"))
        .await
        .status()
        .is_success());
}

#[tokio::test]
async fn several_policies_reject_without_consuming_the_others() {
    let clock = FakeClock::new();
    let layer = RateLimitLayer::builder()
        .policy(Policy::new("per-ip", Quota::per_minute(nz(2))))
        .policy(
            Policy::new("api-users", Quota::per_minute(nz(10)))
                .path_prefix("/api")
                .key(UserOrIp::new(crate::PeerIp::new())),
        )
        .clock(clock.clone())
        .legacy_headers(true)
        .build()
        .unwrap();
    let svc = layer.layer(ok_service());
    let as_alice = || {
        let mut r = get("/api/items", "198.51.100.1:1");
        r.extensions_mut().insert(AuthenticatedUser::new("alice"));
        r
    };
    let res = send(&svc, as_alice()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        header(&res, "ratelimit-policy"),
        Some("\"per-ip\";q=2;w=60, \"api-users\";q=10;w=60")
    );
    assert_eq!(
        header(&res, "ratelimit"),
        Some("\"per-ip\";r=1;t=30, \"api-users\";r=9;t=6")
    );
    assert_eq!(header(&res, "x-ratelimit-limit"), Some("2"));
    assert_eq!(header(&res, "x-ratelimit-remaining"), Some("1"));
    assert_eq!(header(&res, "x-ratelimit-reset"), Some("30"));
    assert!(send(&svc, as_alice()).await.status().is_success());
    for _ in 0..5 {
        let res = send(&svc, as_alice()).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            header(&res, "ratelimit"),
            Some("\"per-ip\";r=0;t=60, \"api-users\";r=8;t=12"),
            "api-users was not charged for rejected requests"
        );
        assert_eq!(header(&res, "retry-after"), Some("30"));
    }
    // alice from another address still has 8 left under api-users
    let mut r = get("/api/items", "198.51.100.2:1");
    r.extensions_mut().insert(AuthenticatedUser::new("alice"));
    let res = send(&svc, r).await;
    assert_eq!(
        header(&res, "ratelimit"),
        Some("\"per-ip\";r=1;t=30, \"api-users\";r=7;t=18")
    );
}

#[tokio::test]
async fn headers_on_allowed_can_be_switched_off() {
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("quiet", Quota::per_minute(nz(1))))
        .headers_on_allowed(false)
        .clock(FakeClock::new())
        .build()
        .unwrap()
        .layer(ok_service());
    let res = send(&svc, get("/", "192.0.2.1:1")).await;
    assert!(res.headers().is_empty());
    assert_eq!(body_string(res).await, "ok");
    let res = send(&svc, get("/", "192.0.2.1:1")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&res, "ratelimit").is_some(), "429s always say why");
    assert!(header(&res, "x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn forged_forwarded_for_cannot_pick_a_fresh_key() {
    let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("auth", Quota::per_minute(nz(2))))
        .key(ClientIp::trusting(proxies))
        .clock(FakeClock::new())
        .build()
        .unwrap()
        .layer(ok_service());
    // An attacker connecting directly forges a new X-Forwarded-For each time.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let mut r = get("/login", "203.0.113.66:1");
        r.headers_mut()
            .insert("x-forwarded-for", format!("1.2.3.{i}").parse().unwrap());
        statuses.push(send(&svc, r).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
    // Behind the trusted load balancer, clients are told apart ...
    for client in ["198.51.100.1", "198.51.100.2"] {
        let mut r = get("/login", "10.0.0.2:1");
        r.headers_mut().insert(
            "x-forwarded-for",
            format!("6.6.6.6, {client}").parse().unwrap(),
        );
        assert!(send(&svc, r).await.status().is_success());
    }
    // ... and what a client prepends itself is ignored.
    for i in 0..2 {
        let mut r = get("/login", "10.0.0.2:1");
        r.headers_mut().insert(
            "x-forwarded-for",
            format!("9.9.9.{i}, 198.51.100.1").parse().unwrap(),
        );
        let status = send(&svc, r).await.status();
        assert_eq!(status.as_u16(), [200, 429][i]);
    }
}

#[tokio::test]
async fn missing_keys_follow_the_rule() {
    let build = |rule| {
        RateLimitLayer::builder()
            .policy(Policy::new("nokey", Quota::per_minute(nz(1))))
            .missing_key(rule)
            .clock(FakeClock::new())
            .build()
            .unwrap()
            .layer(ok_service())
    };
    let shared = build(MissingKey::SharedKey);
    assert!(send(&shared, req(Method::GET, "/", None))
        .await
        .status()
        .is_success());
    assert_eq!(
        send(&shared, req(Method::GET, "/", None)).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "keyless requests share one bucket"
    );
    assert!(send(&shared, get("/", "192.0.2.1:1"))
        .await
        .status()
        .is_success());

    let allow = build(MissingKey::Allow);
    for _ in 0..3 {
        let res = send(&allow, req(Method::GET, "/", None)).await;
        assert!(res.status().is_success());
        assert!(header(&res, "ratelimit").is_none());
    }
    let reject = build(MissingKey::Reject);
    let res = send(&reject, req(Method::GET, "/", None)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&res, "retry-after"), Some("60"));
}

#[tokio::test]
async fn bypass_and_off_switch() {
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("bp", Quota::per_minute(nz(1))))
        .bypass_cidr("10.0.0.0/8")
        .bypass_cidr("2001:db8::/32")
        .bypass_key(Key::ip("192.0.2.7".parse().unwrap(), 64))
        .clock(FakeClock::new())
        .build()
        .unwrap()
        .layer(ok_service());
    for peer in ["10.1.2.3:1", "[2001:db8::5]:1", "192.0.2.7:1"] {
        for _ in 0..3 {
            let res = send(&svc, get("/", peer)).await;
            assert!(res.status().is_success(), "{peer}");
            assert!(header(&res, "ratelimit").is_none());
        }
    }
    assert!(send(&svc, get("/", "192.0.2.8:1"))
        .await
        .status()
        .is_success());
    assert!(!send(&svc, get("/", "192.0.2.8:1"))
        .await
        .status()
        .is_success());

    let off = RateLimitLayer::builder()
        .policy(Policy::new("off", Quota::per_minute(nz(1))))
        .enabled(false)
        .build()
        .unwrap()
        .layer(ok_service());
    for _ in 0..5 {
        let res = send(&off, get("/", "192.0.2.8:1")).await;
        assert!(res.status().is_success());
        assert!(res.headers().is_empty());
    }
}

#[test]
fn invalid_configuration_is_an_error() {
    let q = Quota::per_minute(nz(1));
    let err = RateLimitLayer::builder().build().unwrap_err();
    assert_eq!((err.component(), err.field()), ("RateLimitLayer", "policy"));
    let err = RateLimitLayer::builder()
        .policy(Policy::new("dup", q))
        .policy(Policy::new("dup", q))
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.value()), ("policy", "dup"));
    let err = RateLimitLayer::builder()
        .policy(Policy::new("x", q))
        .bypass_cidr("10.0.0.0/33")
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.value()), ("bypass_cidr", "10.0.0.0/33"));
    let err = RateLimitLayer::builder()
        .policy(Policy::new("has space", q))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("has space"));
}

#[tokio::test]
async fn clones_share_one_limiter() {
    let layer = RateLimitLayer::builder()
        .policy(Policy::new("global", Quota::per_minute(nz(3))))
        .key(Global)
        .clock(FakeClock::new())
        .build()
        .unwrap();
    let a = layer.layer(ok_service());
    let b = layer.clone().layer(ok_service());
    let c = a.clone();
    let mut admitted = 0;
    for svc in [&a, &b, &c, &a, &b] {
        admitted += usize::from(
            send(svc, get("/", "192.0.2.1:1"))
                .await
                .status()
                .is_success(),
        );
    }
    assert_eq!(admitted, 3);
    assert_eq!(layer.store().tracked_keys(), 1);
}

/// A store that answers asynchronously (like a networked one), or fails.
struct SlowStore {
    inner: InMemoryStore,
    fail: bool,
}

impl RateLimitStore for SlowStore {
    type Future = Pin<Box<dyn Future<Output = Result<Decision, StoreError>> + Send>>;

    fn check(&self, checks: &[PolicyCheck<'_>], now: Duration) -> MaybeReady<Self::Future> {
        let result = if self.fail {
            Err(StoreError::new("down").with_retry_after(Duration::from_millis(2500)))
        } else {
            match self.inner.check(checks, now) {
                MaybeReady::Ready(r) => r,
                MaybeReady::Pending(_) => Err(StoreError::new("unexpected")),
            }
        };
        MaybeReady::Pending(Box::pin(async move {
            tokio::task::yield_now().await;
            result
        }))
    }
}

#[tokio::test]
async fn asynchronous_stores_and_store_failures() {
    let slow = RateLimitLayer::builder()
        .policy(Policy::new("slow-store", Quota::per_minute(nz(1))))
        .store(SlowStore {
            inner: InMemoryStore::new(),
            fail: false,
        })
        .clock(FakeClock::new())
        .build()
        .unwrap()
        .layer(ok_service());
    let res = send(&slow, get("/", "192.0.2.1:1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "ratelimit"), Some("\"slow-store\";r=0;t=60"));
    assert_eq!(body_string(res).await, "ok");
    let res = send(&slow, get("/", "192.0.2.1:1")).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    let failing = RateLimitLayer::builder()
        .policy(Policy::new("down-store", Quota::per_minute(nz(1))))
        .store(SlowStore {
            inner: InMemoryStore::new(),
            fail: true,
        })
        .build()
        .unwrap()
        .layer(ok_service());
    let res = send(&failing, get("/", "192.0.2.1:1")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&res, "retry-after"), Some("3"));
    assert_eq!(
        header(&res, "content-type"),
        Some("application/problem+json")
    );
}

/// Issue 11, item 8: a flood of distinct clients under `auth` fills
/// `auth`'s share of the store and its overflow bucket, and nothing
/// else: a fresh `llm` client gets its whole quota, and every `llm`
/// decision (status and headers) equals the one a store without the
/// flood makes.
#[tokio::test]
async fn a_flood_under_one_policy_never_changes_another() {
    async fn llm_run<S>(svc: &S, clock: &FakeClock) -> Vec<(StatusCode, Option<String>)>
    where
        S: tower::Service<
                Request<Body>,
                Response = Response<crate::RateLimitBody<Body>>,
                Error = Infallible,
            > + Clone,
    {
        let mut seen = Vec::new();
        for i in 0..25 {
            let peer = if i % 5 == 4 {
                "198.51.100.2:1"
            } else {
                "198.51.100.1:1"
            };
            let res = send(svc, req(Method::POST, "/llm/complete", Some(peer))).await;
            seen.push((res.status(), header(&res, "ratelimit").map(str::to_owned)));
            clock.advance(Duration::from_millis(250));
        }
        seen
    }
    let build = |clock: &FakeClock| {
        RateLimitLayer::builder()
            .policies(Policy::defaults())
            .store(InMemoryStore::with_max_keys(100).unwrap())
            .clock(clock.clone())
            .build()
            .unwrap()
    };

    let flooded_clock = FakeClock::new();
    let flooded = build(&flooded_clock);
    let svc = flooded.clone().layer(ok_service());
    // 1000 distinct clients keep 1000 `auth` keys alive (5/min each:
    // nothing recovers while the clock stands still): ten times the cap.
    for i in 0u32..1000 {
        let peer = SocketAddr::from((std::net::Ipv4Addr::from(0x0a00_0000 + i), 1));
        let mut r = req(Method::POST, "/auth/login", None);
        r.extensions_mut().insert(PeerAddr(peer));
        send(&svc, r).await;
    }
    let [auth, _api, llm] = Policy::defaults();
    let store = flooded.store();
    assert_eq!(store.tracked_keys_for(&auth), 100, "auth is at its cap");
    assert_eq!(store.overflowed_for(&auth), 900);
    // the flood's newcomers share auth's overflow bucket (5/min)
    let mut r = req(Method::POST, "/auth/login", Some("10.99.0.1:1"));
    r.extensions_mut()
        .insert(PeerAddr("10.99.0.1:1".parse().unwrap()));
    assert_eq!(send(&svc, r).await.status(), StatusCode::TOO_MANY_REQUESTS);

    // A fresh llm client: its whole burst of 20, from its own bucket.
    let flooded_llm = llm_run(&svc, &flooded_clock).await;
    assert_eq!(store.tracked_keys_for(&llm), 2);
    assert_eq!(store.overflowed_for(&llm), 0, "no llm request overflowed");
    let admitted = flooded_llm
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert!(admitted >= 20, "full quota: {flooded_llm:?}");
    assert_eq!(
        flooded_llm[0].1.as_deref(),
        Some("\"llm\";r=19;t=3"),
        "first request sees the whole burst"
    );

    // The same llm traffic on a store that saw no flood decides the same.
    let calm_clock = FakeClock::new();
    let calm = build(&calm_clock).layer(ok_service());
    assert_eq!(llm_run(&calm, &calm_clock).await, flooded_llm);
}
