//! The tracing events of the breaker and the retry layer, captured with a
//! thread-local subscriber.
//!
//! Its own test binary, and every test in it installs its subscriber before
//! it emits anything. tracing caches each callsite's interest globally, and
//! while exactly one `Dispatch` is registered in the process, the first
//! thread to hit a callsite computes that interest from *its own* default
//! subscriber (tracing-core 0.1.36, `Rebuilder::JustOne`; tokio-rs/tracing
//! issue 3611). In the library's unit-test binary a parallel test with no
//! subscriber reached the retry callsite first, cached `Interest::never()`,
//! and the capturing test saw no event: `rebuild_interest_cache()` after
//! installing the subscriber does not help, because the poisoning
//! registration can come after it. Here no thread without a capturing
//! subscriber ever reaches these callsites.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hardening_circuit::retry::RetryLayer;
use hardening_circuit::{
    BoxError, CircuitBreakerLayer, FakeClock, Reason, SlidingWindow, State, StateChange,
};
use hardening_testkit::LogBuffer;
use http::{Request, Response};
use http_body_util::Full;
use tower::{service_fn, Layer, ServiceExt};

/// Installs a `fmt` subscriber writing plain lines (`LEVEL target: message
/// fields`) into the returned buffer, for as long as the guard lives.
fn capture(max_level: tracing::Level) -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    let logs = LogBuffer::new();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_max_level(max_level)
        .with_target(true)
        .without_time()
        .with_ansi(false)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

#[tokio::test]
async fn every_breaker_transition_emits_a_tracing_event() {
    let (logs, _guard) = capture(tracing::Level::TRACE);
    let clock = FakeClock::new();
    let seen: Arc<Mutex<Vec<StateChange>>> = Arc::default();
    let hook_seen = seen.clone();
    let layer = CircuitBreakerLayer::builder()
        .name("payments")
        .sliding_window(SlidingWindow::count(4))
        .minimum_calls(2)
        .open_duration(Duration::from_secs(10))
        .jitter(0.0)
        .half_open_probes(1)
        .clock(clock.clone())
        .on_state_change(move |change| hook_seen.lock().unwrap().push(change.clone()))
        .build()
        .unwrap();
    let breaker = layer.breaker().clone();
    let code = Arc::new(Mutex::new(500));
    let answer = code.clone();
    let svc = layer.layer(service_fn(move |_req: Request<()>| {
        let status = *answer.lock().unwrap();
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(status)
                    .body(String::new())
                    .unwrap(),
            )
        }
    }));

    svc.clone().oneshot(Request::new(())).await.unwrap();
    svc.clone().oneshot(Request::new(())).await.unwrap();
    clock.advance(Duration::from_secs(10));
    *code.lock().unwrap() = 200;
    svc.clone().oneshot(Request::new(())).await.unwrap();
    breaker.force_open();
    breaker.disable();
    breaker.reset();

    let path: Vec<_> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.from, c.to, c.reason))
        .collect();
    use Reason as R;
    use State as S;
    assert_eq!(
        path,
        [
            (S::Closed, S::Open, R::FailureRate),
            (S::Open, S::HalfOpen, R::OpenElapsed),
            (S::HalfOpen, S::Closed, R::ProbesSucceeded),
            (S::Closed, S::ForcedOpen, R::ForcedOpen),
            (S::ForcedOpen, S::Disabled, R::Disabled),
            (S::Disabled, S::Closed, R::Reset),
        ]
    );
    let logs = logs.contents();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 6, "{logs}");
    assert!(
        lines.iter().all(|l| l.contains("hardening_circuit:")),
        "{logs}"
    );
    let opened = lines[0];
    assert!(opened.starts_with(" WARN"), "{opened}");
    assert!(opened.contains("circuit breaker opened"), "{opened}");
    assert!(opened.contains("breaker=\"payments\""), "{opened}");
    assert!(opened.contains("to=\"open\""), "{opened}");
    assert!(opened.contains("open_for_ms=10000"), "{opened}");
    assert!(lines[1].contains("circuit breaker state changed"), "{logs}");
    assert!(lines[1].contains("to=\"half_open\""), "{logs}");
}

#[tokio::test(start_paused = true)]
async fn each_retry_emits_a_tracing_event() {
    let (logs, _guard) = capture(tracing::Level::INFO);
    // 503, then a transport error, then 200.
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    let upstream = service_fn(move |_req: Request<Full<Bytes>>| {
        let n = {
            let mut calls = counted.lock().unwrap();
            *calls += 1;
            *calls
        };
        async move {
            match n {
                1 => Ok(Response::builder()
                    .status(503)
                    .body(Full::new(Bytes::new()))
                    .unwrap()),
                2 => Err::<_, BoxError>(Box::new(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset",
                ))),
                _ => Ok(Response::new(Full::new(Bytes::new()))),
            }
        }
    });
    let layer = RetryLayer::builder()
        .random(|| 0.5)
        .no_budget()
        .build()
        .unwrap();
    let req = Request::get("http://upstream/x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = layer.layer(upstream).oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(*calls.lock().unwrap(), 3);

    let logs = logs.contents();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 2, "{logs}");
    for line in &lines {
        assert!(line.contains("hardening_circuit:"), "{line}");
        assert!(line.contains("retrying request"), "{line}");
    }
    assert!(lines[0].contains("attempt=2"), "{}", lines[0]);
    assert!(lines[0].contains("delay_ms=50"), "{}", lines[0]);
    assert!(lines[0].contains("reason=status 503"), "{}", lines[0]);
    assert!(lines[1].contains("attempt=3"), "{}", lines[1]);
    assert!(lines[1].contains("delay_ms=100"), "{}", lines[1]);
    assert!(lines[1].contains("reason=error: reset"), "{}", lines[1]);
}
