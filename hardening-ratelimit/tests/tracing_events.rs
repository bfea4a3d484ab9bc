//! The tracing events of the rate limit layer: rejections (with keys
//! redacted, in full or omitted) and requests without a peer address.
//!
//! Its own test binary, and every test in it installs its capturing
//! subscriber before anything is emitted: tracing caches each callsite's
//! interest globally, and while exactly one `Dispatch` is registered in the
//! process, the first thread to hit a callsite computes that interest from
//! its own default subscriber (tracing-core 0.1.36, tokio-rs/tracing issue
//! 3611). In the library's unit-test binary, a parallel test rejecting a
//! request with no subscriber could cache `Interest::never()` for the
//! "request rate limited" event while a capturing test ran; rebuilding the
//! interest cache after installing the subscriber does not close that.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardening_core::{FakeClock, PeerAddr};
use hardening_ratelimit::{
    AuthenticatedUser, KeyLogging, Policy, Quota, RateLimitBody, RateLimitLayer, UserOrIp,
};
use hardening_testkit::LogBuffer;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, Layer, ServiceExt};

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

async fn send<S>(svc: &S, r: Request<Body>) -> Response<RateLimitBody<Body>>
where
    S: tower::Service<Request<Body>, Response = Response<RateLimitBody<Body>>, Error = Infallible>
        + Clone,
{
    match svc.clone().oneshot(r).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

async fn body_string(res: Response<RateLimitBody<Body>>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header<'a>(res: &'a Response<RateLimitBody<Body>>, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Runs `f` on a current-thread runtime with a capturing subscriber (every
/// level) and returns what was logged.
fn capture_logs<F: Future<Output = ()>>(f: impl FnOnce() -> F) -> String {
    let logs = LogBuffer::new();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || rt.block_on(f()));
    logs.contents()
}

/// Two requests from one client against a limit of one a minute: what the
/// rejection logs with `logging`.
fn logs_of(logging: KeyLogging) -> String {
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("logged", Quota::per_minute(nz(1))))
        .log_keys(logging)
        .clock(FakeClock::new())
        .build()
        .unwrap()
        .layer(ok_service());
    capture_logs(|| async {
        send(&svc, get("/", "203.0.113.77:1")).await;
        send(&svc, get("/", "203.0.113.77:1")).await;
    })
}

#[test]
fn rejections_are_logged_without_full_keys() {
    let logs = logs_of(KeyLogging::default());
    assert_eq!(logs.matches("request rate limited").count(), 1, "{logs}");
    assert!(logs.contains("hardening_ratelimit"), "{logs}");
    assert!(logs.contains("policy=\"logged\""), "{logs}");
    assert!(logs.contains("203.0.113.0/24"), "{logs}");
    assert!(!logs.contains("203.0.113.77"), "{logs}");
    assert!(logs_of(KeyLogging::Full).contains("ip:203.0.113.77"));
    assert!(!logs_of(KeyLogging::Omitted).contains("203.0.113"));
}

/// Issue 11, item 12: a server that records no peer address is reported
/// at the first request and then at most once a minute of the layer's
/// clock; the requests keep the `MissingKey` rule (one shared bucket).
#[test]
fn missing_peer_addresses_warn_once_a_minute() {
    let clock = FakeClock::new();
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("nopeer", Quota::per_minute(nz(2))))
        .policy(
            Policy::new("hdr", Quota::per_minute(nz(100)))
                .path_prefix("/h")
                .key(hardening_ratelimit::Header::named("x-api-key").unwrap()),
        )
        .clock(clock.clone())
        .build()
        .unwrap()
        .layer(ok_service());
    let mut statuses = Vec::new();
    let logs = capture_logs(|| async {
        for _ in 0..3 {
            statuses.push(send(&svc, req(Method::GET, "/", None)).await.status());
        }
        clock.advance(Duration::from_secs(59));
        send(&svc, req(Method::GET, "/", None)).await;
        assert_eq!(
            send(&svc, get("/", "192.0.2.1:1")).await.status(),
            StatusCode::OK,
            "requests with a peer are unaffected"
        );
        clock.advance(Duration::from_secs(1));
        send(&svc, req(Method::GET, "/", None)).await;
    });
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "every client shares the unknown bucket, as before"
    );
    let warnings = logs.matches("request without a peer address").count();
    assert_eq!(warnings, 2, "first request, then 60 s later: {logs}");
    assert!(logs.contains("WARN"), "{logs}");
    assert!(
        logs.contains("MissingPeer::Reject"),
        "names the fix: {logs}"
    );

    // An extractor that does not read the peer never warns about it.
    let clock = FakeClock::new();
    let hdr_only = RateLimitLayer::builder()
        .policy(
            Policy::new("hdr-only", Quota::per_minute(nz(100)))
                .key(hardening_ratelimit::Header::named("x-api-key").unwrap()),
        )
        .clock(clock)
        .build()
        .unwrap()
        .layer(ok_service());
    let logs = capture_logs(|| async {
        send(&hdr_only, req(Method::GET, "/", None)).await;
    });
    assert!(!logs.contains("peer address"), "{logs}");
}

/// `MissingPeer::Reject` turns the misconfiguration into a `500` with a
/// problem body (the inner service is not called) and an `error` log;
/// `UserOrIp` falling back to the peer is covered, a request with a peer
/// is not affected.
#[test]
fn missing_peer_addresses_can_be_rejected() {
    let called = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let inner = {
        let called = called.clone();
        service_fn(move |_req: Request<Body>| {
            called.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok")))) }
        })
    };
    let svc = RateLimitLayer::builder()
        .policy(Policy::new("strict-peer", Quota::per_minute(nz(100))))
        .key(UserOrIp::new(hardening_ratelimit::PeerIp::new()))
        .on_missing_peer(hardening_ratelimit::MissingPeer::Reject)
        .clock(FakeClock::new())
        .build()
        .unwrap()
        .layer(inner);
    let mut body = String::new();
    let logs = capture_logs(|| async {
        let res = send(&svc, req(Method::GET, "/", None)).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            header(&res, "content-type"),
            Some("application/problem+json")
        );
        body = body_string(res).await;
        assert_eq!(
            send(&svc, get("/", "192.0.2.1:1")).await.status(),
            StatusCode::OK
        );
        // an authenticated user needs no peer address
        let mut r = req(Method::GET, "/", None);
        r.extensions_mut().insert(AuthenticatedUser::new("carol"));
        assert_eq!(send(&svc, r).await.status(), StatusCode::OK);
    });
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], 500);
    assert_eq!(called.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert!(logs.contains("ERROR"), "{logs}");
    assert!(logs.contains("rejected with 500"), "{logs}");
}
