//! Tests of the tower glue, driven with `tower::ServiceExt`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hardening_core::clock::{Clock, FakeClock};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, BoxError, Service, ServiceExt};

use crate::algorithm::{Aimd, Gradient2};
use crate::{ConcurrencyLimitLayer, LimitChange, Overloaded, PathClassifier, Priority, Shares};

/// A body of `frames` one-byte frames, to see when the slot is released.
struct Frames {
    left: u8,
}

impl Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
    }
}

fn get(path: &str) -> Request<()> {
    Request::get(path).body(()).unwrap()
}

fn ok_service(
    calls: Arc<AtomicUsize>,
) -> impl Service<Request<()>, Response = Response<Frames>, Error = Infallible, Future: Send> + Clone
{
    service_fn(move |_req: Request<()>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Frames { left: 2 })) }
    })
}

#[tokio::test]
async fn refuses_at_once_with_503_retry_after_and_problem_json() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = ConcurrencyLimitLayer::builder()
        .limit(1)
        .retry_after(Duration::from_millis(2500))
        .build()
        .unwrap();
    let svc = layer.layer(ok_service(calls.clone()));
    let first = svc.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(first.status(), 200);
    let refused = svc.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "3");
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.contains("\"status\":503"), "{text}");
    assert!(text.contains("\"priority\":\"default\""), "{text}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a refused request never reaches the inner service"
    );
    assert_eq!(layer.limiter().rejected(Priority::Default), 1);
    drop(first);
    assert_eq!(svc.oneshot(get("/")).await.unwrap().status(), 200);
}

use tower_layer::Layer;

#[tokio::test]
async fn slot_is_held_until_the_body_ends_not_at_headers() {
    let layer = ConcurrencyLimitLayer::new(1).unwrap();
    let limiter = layer.limiter().clone();
    let svc = layer.layer(ok_service(Arc::default()));
    let resp = svc.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(
        limiter.in_flight().total(),
        1,
        "headers are out, body still to come"
    );
    let mut body = resp.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    assert_eq!(frame.into_data().unwrap(), "x");
    assert_eq!(limiter.in_flight().total(), 1);
    body.frame().await.unwrap().unwrap();
    assert!(body.frame().await.is_none());
    assert_eq!(
        limiter.in_flight().total(),
        0,
        "released at the end of the body"
    );
    assert!(!body.holds_guard());
}

#[tokio::test]
async fn dropping_the_body_or_an_empty_body_releases_the_slot() {
    let layer = ConcurrencyLimitLayer::new(1).unwrap();
    let limiter = layer.limiter().clone();
    let svc = layer.layer(ok_service(Arc::default()));
    let resp = svc.clone().oneshot(get("/")).await.unwrap();
    drop(resp);
    assert_eq!(limiter.in_flight().total(), 0);

    let empty = ConcurrencyLimitLayer::new(1).unwrap();
    let limiter = empty.limiter().clone();
    let svc = empty.layer(service_fn(|_req: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let resp = svc.oneshot(get("/")).await.unwrap();
    assert_eq!(
        limiter.in_flight().total(),
        0,
        "an empty body is over before it is read"
    );
    drop(resp);
}

#[tokio::test]
async fn cancelling_the_response_future_releases_the_slot() {
    let layer = ConcurrencyLimitLayer::new(1).unwrap();
    let limiter = layer.limiter().clone();
    let mut svc = layer.layer(service_fn(|_req: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    }));
    let fut = svc.ready().await.unwrap().call(get("/"));
    assert_eq!(limiter.in_flight().total(), 1);
    let timed_out = tokio::time::timeout(Duration::from_millis(1), fut);
    tokio::time::pause();
    assert!(timed_out.await.is_err());
    assert_eq!(limiter.in_flight().total(), 0);
}

#[tokio::test]
async fn inner_errors_release_the_slot_and_pass_through() {
    let layer = ConcurrencyLimitLayer::new(1).unwrap();
    let limiter = layer.limiter().clone();
    let svc = layer.layer(service_fn(|_req: Request<()>| async {
        Err::<Response<Full<Bytes>>, &'static str>("boom")
    }));
    assert_eq!(svc.oneshot(get("/")).await.unwrap_err(), "boom");
    assert_eq!(limiter.in_flight().total(), 0);
}

#[tokio::test]
async fn client_modes_return_typed_errors() {
    let layer = ConcurrencyLimitLayer::new(1).unwrap().into_box_error();
    let svc = layer.layer(service_fn(|_req: Request<()>| async {
        Ok::<_, BoxError>(Response::new(Full::new(Bytes::from("ok"))))
    }));
    let held = svc.clone().oneshot(get("/")).await.unwrap();
    let err = svc.clone().oneshot(get("/")).await.unwrap_err();
    assert_eq!(
        Overloaded::find(&*err),
        Some(&Overloaded {
            priority: Priority::Default,
            limit: 1,
            retry_after: Duration::from_secs(1)
        })
    );
    drop(held);

    #[derive(Debug, PartialEq)]
    enum ClientError {
        Overloaded(u32),
    }
    impl From<Overloaded> for ClientError {
        fn from(o: Overloaded) -> Self {
            ClientError::Overloaded(o.limit)
        }
    }
    let layer = ConcurrencyLimitLayer::new(1).unwrap().into_error();
    let svc = layer.layer(service_fn(|_req: Request<()>| async {
        Ok::<_, ClientError>(Response::new(Full::new(Bytes::from("ok"))))
    }));
    let held = svc.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(
        svc.oneshot(get("/")).await.unwrap_err(),
        ClientError::Overloaded(1)
    );
    drop(held);
}

#[tokio::test]
async fn priorities_shed_sheddable_first_and_probes_are_never_shed() {
    let layer = ConcurrencyLimitLayer::builder()
        .limit(4)
        .classify(PathClassifier::new().critical("/auth").sheddable("/llm"))
        .shares(Shares::new(0.25, 0.25).unwrap())
        .bypass_path("/healthz")
        .build()
        .unwrap();
    let limiter = layer.limiter().clone();
    let svc = layer.layer(ok_service(Arc::default()));
    let status = |path: &'static str| {
        let svc = svc.clone();
        async move { svc.oneshot(get(path)).await.unwrap() }
    };
    let mut held = vec![];
    held.push(status("/llm").await);
    held.push(status("/llm").await);
    assert_eq!(
        status("/llm").await.status(),
        503,
        "sheddable may use 2 of 4"
    );
    held.push(status("/").await);
    assert_eq!(status("/").await.status(), 503, "default may use 3 of 4");
    held.push(status("/auth").await);
    assert!(held.iter().all(|r| r.status() == 200));
    assert_eq!(
        status("/auth").await.status(),
        503,
        "the limit holds for critical too"
    );
    for _ in 0..10 {
        assert_eq!(
            status("/healthz").await.status(),
            200,
            "probes bypass the limit"
        );
    }
    assert_eq!(limiter.in_flight().total(), 4);
    assert_eq!(limiter.rejected(Priority::Sheddable), 1);
    assert_eq!(limiter.rejected(Priority::Critical), 1);
}

#[tokio::test]
async fn an_adaptive_limit_moves_with_measured_latency_on_a_fake_clock() {
    let clock = FakeClock::new();
    let changes = Arc::new(Mutex::new(Vec::<LimitChange>::new()));
    let seen = changes.clone();
    let layer = ConcurrencyLimitLayer::builder()
        .algorithm(
            Gradient2::builder()
                .initial_limit(10)
                .probe_interval(None)
                .build()
                .unwrap(),
        )
        .window(Duration::from_millis(100))
        .min_samples(5)
        .clock(clock.clone())
        .on_limit_change(move |c| seen.lock().unwrap().push(*c))
        .build()
        .unwrap();
    let limiter = layer.limiter().clone();
    let latency = Arc::new(Mutex::new(Duration::from_millis(10)));
    let (c, l) = (clock.clone(), latency.clone());
    let mut svc = layer.layer(service_fn(move |_req: Request<()>| {
        let (c, d) = (c.clone(), *l.lock().unwrap());
        let done = c.now() + d;
        async move {
            // The request takes `d` on the fake clock, from its start.
            if c.now() < done {
                c.set(done);
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    }));
    // Ten requests in flight at once per window, each taking 10 ms.
    for _ in 0..3 {
        let futs: Vec<_> = (0..10).map(|_| svc.call(get("/"))).collect();
        for f in futs {
            f.await.unwrap();
        }
        clock.advance(Duration::from_millis(100));
    }
    assert!(
        limiter.limit() > 10,
        "low latency, busy windows: the limit grew to {}",
        limiter.limit()
    );
    let grown = limiter.limit();
    *latency.lock().unwrap() = Duration::from_millis(200);
    for _ in 0..3 {
        let futs: Vec<_> = (0..10).map(|_| svc.call(get("/"))).collect();
        for f in futs {
            f.await.unwrap();
        }
        clock.advance(Duration::from_millis(100));
    }
    assert!(
        limiter.limit() < grown,
        "slow answers: the limit fell to {}",
        limiter.limit()
    );
    let changes = changes.lock().unwrap();
    assert!(changes.len() >= 2);
    assert!(changes
        .iter()
        .all(|c| c.algorithm == "gradient2" && c.from != c.to));
}

#[tokio::test]
async fn overload_answers_count_as_drops_for_aimd() {
    let clock = FakeClock::new();
    let layer = ConcurrencyLimitLayer::builder()
        .algorithm(Aimd::builder().initial_limit(20).build().unwrap())
        .window(Duration::from_millis(10))
        .min_samples(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let limiter = layer.limiter().clone();
    let svc = layer.layer(service_fn(|_req: Request<()>| async {
        let mut resp = Response::new(Full::new(Bytes::new()));
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        Ok::<_, Infallible>(resp)
    }));
    for _ in 0..3 {
        clock.advance(Duration::from_millis(10));
        svc.clone().oneshot(get("/")).await.unwrap();
    }
    // 20 × 0.9³ = 14.6
    assert_eq!(limiter.limit(), 15);
}

#[test]
fn builder_errors_name_the_field() {
    let field = |b: crate::ConcurrencyLimitLayerBuilder| b.build().unwrap_err().field();
    assert_eq!(field(ConcurrencyLimitLayer::builder().limit(0)), "limit");
    assert_eq!(
        field(ConcurrencyLimitLayer::builder().retry_after(Duration::ZERO)),
        "retry_after"
    );
    assert_eq!(
        field(ConcurrencyLimitLayer::builder().window(Duration::ZERO)),
        "window"
    );
    assert_eq!(
        field(ConcurrencyLimitLayer::builder().min_samples(0)),
        "min_samples"
    );
    assert_eq!(
        field(ConcurrencyLimitLayer::builder().bypass_path("healthz")),
        "bypass_path"
    );
}

/// A controller that keeps the windows it is fed and never moves.
#[derive(Debug)]
struct Recorder(Arc<Mutex<Vec<crate::algorithm::WindowSample>>>);

impl crate::algorithm::LimitAlgorithm for Recorder {
    fn limit(&self) -> u32 {
        1000
    }
    fn bounds(&self) -> (u32, u32) {
        (1000, 1000)
    }
    fn update(&mut self, window: &crate::algorithm::WindowSample) -> u32 {
        self.0.lock().unwrap().push(*window);
        1000
    }
    fn name(&self) -> &'static str {
        "recorder"
    }
}

#[test]
fn heavy_traffic_times_a_sample_light_traffic_every_request() {
    // Own thread: the sampler's state is per thread.
    std::thread::spawn(|| {
        let clock = FakeClock::new();
        let windows = Arc::new(Mutex::new(Vec::new()));
        let layer = ConcurrencyLimitLayer::builder()
            .algorithm(Recorder(windows.clone()))
            .window(Duration::from_millis(100))
            .min_samples(10)
            .clock(clock.clone())
            .build()
            .unwrap();
        let limiter = layer.limiter().clone();
        assert_eq!(limiter.sample_every(), 1);
        let us = Duration::from_micros;
        // One request: 2 µs on the fake clock; `drop` answers 503.
        let request = |drop: bool| {
            let mut p = limiter.try_acquire(Priority::Default).unwrap();
            let timed = p.is_timed();
            clock.advance(us(2));
            p.record(if drop {
                crate::Outcome::Dropped
            } else {
                crate::Outcome::Success
            });
            timed
        };
        // A busy window: 10,000 requests, one in 1,000 dropped; every one
        // is timed, then the request after the window's end closes it.
        let busy = || {
            let mut timed = 0;
            for i in 0..10_000 {
                timed += u32::from(request(i % 1000 == 999));
            }
            clock.advance(Duration::from_millis(100));
            let before = windows.lock().unwrap().len();
            let mut closing = 0;
            while windows.lock().unwrap().len() == before {
                timed += u32::from(request(false));
                closing += 1;
                assert!(closing < 300, "a timed request comes within 2 × every");
            }
            timed
        };
        assert_eq!(busy(), 10_001);
        let w = windows.lock().unwrap()[0];
        assert_eq!((w.samples, w.dropped, w.max_in_flight), (10_001, 10, 1));
        assert_eq!((w.min_rtt, w.avg_rtt), (us(2), us(2)));
        // 10,001 requests / 256 wanted: one in 39 from now on.
        assert_eq!(limiter.sample_every(), 39);

        let timed = busy();
        let w = windows.lock().unwrap()[1];
        assert!((200..=320).contains(&timed), "about 10,000 / 39: {timed}");
        assert_eq!(w.samples, timed, "only timed requests are samples");
        assert_eq!(w.dropped, 10, "every drop counts, timed or not");
        assert_eq!((w.min_rtt, w.avg_rtt, w.max_in_flight), (us(2), us(2), 1));
        assert_eq!(limiter.sample_every(), timed * 39 / 256);

        // Light traffic: 20 requests, of which maybe none timed. The first
        // timed request after the window's end closes it (each timed
        // request stands for `every`, so the window counts as ≥ min_samples)
        // and the period falls back to 1: every request is timed again.
        for _ in 0..20 {
            request(false);
        }
        clock.advance(Duration::from_millis(100));
        let mut n = 0;
        while windows.lock().unwrap().len() == 2 {
            request(false);
            n += 1;
            assert!(n < 300);
        }
        assert!(windows.lock().unwrap()[2].samples < 10);
        assert_eq!(limiter.sample_every(), 1);
        assert!((0..20).all(|_| request(false)));
        assert_eq!(limiter.in_flight().total(), 0);
    })
    .join()
    .unwrap();
}

#[test]
fn a_fixed_limit_times_nothing_and_permits_stay_two_words() {
    let layer = ConcurrencyLimitLayer::new(4).unwrap();
    let mut p = layer.limiter().try_acquire(Priority::Sheddable).unwrap();
    assert!(!p.is_timed());
    assert_eq!(p.priority(), Priority::Sheddable);
    p.record(crate::Outcome::Dropped);
    assert_eq!(layer.limiter().sample_every(), 0);
    assert_eq!(layer.limiter().in_flight().sheddable, 1);
    drop(p);
    assert_eq!(layer.limiter().in_flight().total(), 0);
    // The response future and body carry an `Option<Permit>`: two words
    // keep them small enough to move without a `memcpy` call.
    assert_eq!(std::mem::size_of::<Option<crate::Permit>>(), 16);
}
