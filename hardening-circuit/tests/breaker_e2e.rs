//! A real flaky HTTP upstream on 127.0.0.1:0 and a real hyper client through
//! the breaker: it opens, fails fast, probes, and closes when the upstream
//! heals.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hardening_circuit::{
    BoxError, CircuitBreakerLayer, CircuitOpen, Reason, SlidingWindow, State, StateChange,
};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower::{Service, ServiceBuilder, ServiceExt};

/// An upstream that answers 500 while `failing`, else 200, counting hits.
struct Upstream {
    addr: SocketAddr,
    failing: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
}

async fn start_upstream() -> Upstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let failing = Arc::new(AtomicBool::new(true));
    let hits = Arc::new(AtomicUsize::new(0));
    let (f, h) = (failing.clone(), hits.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (f, h) = (f.clone(), h.clone());
            let svc = hyper::service::service_fn(move |_req: http::Request<Incoming>| {
                h.fetch_add(1, Ordering::SeqCst);
                let status = if f.load(Ordering::SeqCst) { 500 } else { 200 };
                async move {
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from_static(b"upstream")))
                            .unwrap(),
                    )
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Upstream {
        addr,
        failing,
        hits,
    }
}

type Client_ = Client<HttpConnector, Empty<Bytes>>;

async fn get<S>(svc: &mut S, addr: SocketAddr) -> Result<u16, BoxError>
where
    S: Service<http::Request<Empty<Bytes>>, Response = http::Response<Incoming>, Error = BoxError>,
{
    let req = http::Request::get(format!("http://{addr}/"))
        .body(Empty::new())
        .unwrap();
    let resp = svc.ready().await?.call(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok(status)
}

#[tokio::test]
async fn opens_fails_fast_probes_and_closes_when_the_upstream_heals() {
    const OPEN: Duration = Duration::from_millis(200);
    let upstream = start_upstream().await;
    let changes: Arc<Mutex<Vec<StateChange>>> = Arc::default();
    let hook = changes.clone();
    let layer = CircuitBreakerLayer::builder()
        .name("flaky")
        .sliding_window(SlidingWindow::time(Duration::from_secs(10), 10))
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .open_duration(OPEN)
        .jitter(0.0)
        .half_open_probes(2)
        .half_open_timeout(Duration::from_secs(5))
        .on_state_change(move |c| hook.lock().unwrap().push(c.clone()))
        .build()
        .unwrap();
    let breaker = layer.breaker().clone();
    let client: Client_ = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut svc = ServiceBuilder::new().layer(layer).service(client);

    // 1. The upstream fails: four 500s reach the caller, then the breaker opens.
    for _ in 0..4 {
        assert_eq!(get(&mut svc, upstream.addr).await.unwrap(), 500);
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 4);

    // 2. Open: calls fail fast with CircuitOpen and never reach the upstream.
    let started = Instant::now();
    for _ in 0..50 {
        let err = get(&mut svc, upstream.addr).await.unwrap_err();
        let open = err
            .downcast_ref::<CircuitOpen>()
            .expect("rejected by the breaker");
        assert!(open.retry_after <= OPEN);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "50 rejections are fast"
    );
    assert_eq!(upstream.hits.load(Ordering::SeqCst), 4);
    assert!(breaker.metrics().rejections >= 50);

    // 3. Still failing when the open duration passes: the probe fails and the
    //    breaker opens again, for twice as long.
    let hits = upstream.hits.load(Ordering::SeqCst);
    let mut probe_status = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe_status.is_none() {
        assert!(Instant::now() < deadline, "no probe admitted");
        match get(&mut svc, upstream.addr).await {
            Ok(status) => probe_status = Some(status),
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert_eq!(probe_status, Some(500));
    assert_eq!(
        upstream.hits.load(Ordering::SeqCst),
        hits + 1,
        "exactly one probe"
    );
    assert_eq!(breaker.state(), State::Open);

    // 4. The upstream heals. After the (longer) open duration, two probes
    //    succeed and the breaker closes.
    upstream.failing.store(false, Ordering::SeqCst);
    let mut successes = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while breaker.state() != State::Closed {
        assert!(Instant::now() < deadline, "breaker never closed");
        match get(&mut svc, upstream.addr).await {
            Ok(status) => {
                assert_eq!(status, 200);
                successes += 1;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert_eq!(successes, 2, "closed after exactly the two probes");
    for _ in 0..5 {
        assert_eq!(get(&mut svc, upstream.addr).await.unwrap(), 200);
    }
    // The hook runs before the call that caused the change returns.
    let changes = changes.lock().unwrap();
    let path: Vec<_> = changes.iter().map(|c| (c.from, c.to, c.reason)).collect();
    assert_eq!(
        path,
        [
            (State::Closed, State::Open, Reason::FailureRate),
            (State::Open, State::HalfOpen, Reason::OpenElapsed),
            (State::HalfOpen, State::Open, Reason::ProbeFailed),
            (State::Open, State::HalfOpen, Reason::OpenElapsed),
            (State::HalfOpen, State::Closed, Reason::ProbesSucceeded),
        ]
    );
    assert_eq!(changes[0].open_for, Some(OPEN));
    assert_eq!(changes[2].open_for, Some(OPEN * 2));
    assert!(changes
        .iter()
        .all(|c| c.breaker.as_deref() == Some("flaky")));
}

#[tokio::test]
async fn an_unreachable_upstream_trips_on_connection_errors() {
    // Bind then drop a listener: nothing listens on that port any more.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let layer = CircuitBreakerLayer::builder()
        .sliding_window(SlidingWindow::count(10))
        .minimum_calls(3)
        .build()
        .unwrap();
    let breaker = layer.breaker().clone();
    let client: Client_ = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut svc = ServiceBuilder::new().layer(layer).service(client);
    for _ in 0..3 {
        let err = get(&mut svc, addr).await.unwrap_err();
        assert!(
            CircuitOpen::find(&*err).is_none(),
            "a connection error: {err}"
        );
    }
    assert_eq!(breaker.state(), State::Open);
    let err = get(&mut svc, addr).await.unwrap_err();
    assert!(err.is::<CircuitOpen>());
}
