//! Behaviour of the retry service, driven on Tokio's paused clock (and a
//! `FakeClock` for wall-clock dates and the budget window).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hardening_core::clock::{Clock, FakeClock};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full};
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt};

use super::*;
use crate::CircuitOpen;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const MS: Duration = Duration::from_millis(1);

/// What the fake upstream does on one call.
enum Step {
    Status(u16),
    StatusWith(u16, &'static str, String),
    Fail(BoxError),
    Hang,
}

/// What the fake upstream saw on one call.
#[derive(Debug)]
struct Seen {
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

/// A scripted upstream: plays `script` in order, then answers 200. Every
/// response carries the attempt number in `x-served` and its body.
#[derive(Clone)]
struct Upstream {
    script: Arc<Mutex<VecDeque<Step>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    fn new(script: impl IntoIterator<Item = Step>) -> Self {
        Self {
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            seen: Arc::default(),
        }
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Time between consecutive calls.
    fn gaps(&self) -> Vec<Duration> {
        let seen = self.seen.lock().unwrap();
        seen.windows(2).map(|w| w[1].at - w[0].at).collect()
    }

    fn bodies(&self) -> Vec<Bytes> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.body.clone())
            .collect()
    }
}

impl<B> Service<Request<B>> for Upstream
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Debug,
{
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let n = {
                let mut seen = this.seen.lock().unwrap();
                seen.push(Seen {
                    method: parts.method,
                    headers: parts.headers,
                    body,
                    at: Instant::now(),
                });
                seen.len()
            };
            let step = this.script.lock().unwrap().pop_front();
            let respond = |status: u16| {
                Response::builder()
                    .status(status)
                    .header("x-served", n.to_string())
                    .body(Full::new(Bytes::from(format!("attempt {n}"))))
                    .unwrap()
            };
            match step {
                None => Ok(respond(200)),
                Some(Step::Status(s)) => Ok(respond(s)),
                Some(Step::StatusWith(s, name, value)) => {
                    let mut res = respond(s);
                    res.headers_mut().insert(name, value.parse().unwrap());
                    Ok(res)
                }
                Some(Step::Fail(err)) => Err(err),
                Some(Step::Hang) => std::future::pending().await,
            }
        })
    }
}

fn get() -> Request<Full<Bytes>> {
    Request::get("http://upstream/x")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// A layer with exact jitter (r = 0.5) and no budget unless a test sets one.
fn builder() -> RetryBuilder {
    RetryLayer::builder().random(|| 0.5).no_budget()
}

async fn run(
    layer: &RetryLayer,
    upstream: &Upstream,
    req: Request<Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    layer.layer(upstream.clone()).oneshot(req).await
}

async fn text(res: Response<Full<Bytes>>) -> String {
    let body = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

fn io_error(msg: &str) -> BoxError {
    Box::new(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        msg.to_owned(),
    ))
}

// ---- attempts, classification, final outcome -------------------------------

#[tokio::test(start_paused = true)]
async fn a_get_failing_twice_succeeds_on_the_third_attempt() {
    let upstream = Upstream::new([Step::Status(503), Step::Status(502)]);
    let layer = builder().build().unwrap();
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(upstream.calls(), 3);
    // Full jitter at r = 0.5: 0.5 × 100 ms, then 0.5 × 200 ms.
    assert_eq!(upstream.gaps(), vec![50 * MS, 100 * MS]);
}

#[tokio::test(start_paused = true)]
async fn max_attempts_counts_the_first_call_and_the_last_response_is_returned_unchanged() {
    let upstream = Upstream::new([
        Step::Status(503),
        Step::Status(503),
        Step::StatusWith(504, "x-last", "yes".into()),
        Step::Status(503),
    ]);
    let layer = builder().build().unwrap();
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(upstream.calls(), 3);
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(res.headers()["x-served"], "3");
    assert_eq!(res.headers()["x-last"], "yes");
    assert_eq!(text(res).await, "attempt 3");

    let upstream = Upstream::new([Step::Status(503), Step::Status(503)]);
    let once = builder().max_attempts(1).build().unwrap();
    let res = run(&once, &upstream, get()).await.unwrap();
    assert_eq!((upstream.calls(), res.status().as_u16()), (1, 503));
}

#[tokio::test(start_paused = true)]
async fn only_the_default_statuses_are_retried() {
    for (status, attempts) in [
        (408, 3),
        (429, 3),
        (502, 3),
        (503, 3),
        (504, 3),
        (500, 1),
        (501, 1),
        (400, 1),
        (404, 1),
        (409, 1),
    ] {
        let upstream = Upstream::new([Step::Status(status), Step::Status(status)]);
        let layer = builder().build().unwrap();
        let res = run(&layer, &upstream, get()).await.unwrap();
        assert_eq!(upstream.calls(), attempts, "status {status}");
        if attempts == 1 {
            assert_eq!(res.status().as_u16(), status);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn errors_are_retried_and_the_last_real_error_is_returned() {
    let upstream = Upstream::new([Step::Fail(io_error("reset 1")), Step::Status(200)]);
    let layer = builder().build().unwrap();
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!((upstream.calls(), res.status().as_u16()), (2, 200));

    let upstream = Upstream::new([
        Step::Fail(io_error("reset 1")),
        Step::Fail(io_error("reset 2")),
        Step::Fail(io_error("reset 3")),
    ]);
    let err = run(&layer, &upstream, get()).await.unwrap_err();
    assert_eq!(upstream.calls(), 3);
    let io = err.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(io.to_string(), "reset 3");
}

#[tokio::test(start_paused = true)]
async fn circuit_open_is_never_retried() {
    let open = CircuitOpen {
        retry_after: Duration::from_secs(5),
    };
    let upstream = Upstream::new([Step::Fail(Box::new(open))]);
    // Even a classifier that retries everything cannot retry it.
    let layer = builder()
        .classify(|_: AttemptOutcome<'_>| Decision::Retry)
        .build()
        .unwrap();
    let start = Instant::now();
    let err = run(&layer, &upstream, get()).await.unwrap_err();
    assert_eq!(upstream.calls(), 1);
    assert_eq!(Instant::now() - start, Duration::ZERO);
    assert_eq!(err.downcast_ref::<CircuitOpen>(), Some(&open));
}

#[tokio::test(start_paused = true)]
async fn overload_marked_responses_are_never_retried() {
    let upstream = Upstream::new([Step::StatusWith(503, "x-envoy-overloaded", "true".into())]);
    let layer = builder().build().unwrap();
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!((upstream.calls(), res.status().as_u16()), (1, 503));

    // A custom marker replaces the default one.
    let layer = builder().overload_header("x-do-not-retry").build().unwrap();
    let upstream = Upstream::new([Step::StatusWith(503, "x-do-not-retry", "1".into())]);
    run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(upstream.calls(), 1);
    let upstream = Upstream::new([Step::StatusWith(503, "x-envoy-overloaded", "1".into())]);
    run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_custom_classifier_decides() {
    let layer = builder()
        .classify(|outcome: AttemptOutcome<'_>| match outcome {
            AttemptOutcome::Response { status, .. } if status == 500 => Decision::Retry,
            _ => Decision::Return,
        })
        .build()
        .unwrap();
    let upstream = Upstream::new([Step::Status(500), Step::Status(503)]);
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!((upstream.calls(), res.status().as_u16()), (2, 503));
}

// ---- idempotency -------------------------------------------------------------

fn request(method: &str, key: Option<&str>) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(method)
        .uri("http://upstream/orders");
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    req.body(Full::new(Bytes::from_static(b"{\"item\":42}")))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn only_idempotent_methods_or_keyed_requests_are_retried() {
    let layer = builder().build().unwrap();
    for (method, key, attempts) in [
        ("GET", None, 2),
        ("HEAD", None, 2),
        ("OPTIONS", None, 2),
        ("PUT", None, 2),
        ("DELETE", None, 2),
        ("TRACE", None, 2),
        ("POST", None, 1),
        ("PATCH", None, 1),
        ("POST", Some("k-1"), 2),
        ("PATCH", Some("k-2"), 2),
    ] {
        let upstream = Upstream::new([Step::Status(503)]);
        run(&layer, &upstream, request(method, key)).await.unwrap();
        assert_eq!(upstream.calls(), attempts, "{method} key={key:?}");
        assert!(upstream
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.method.as_str() == method));
    }
}

#[tokio::test(start_paused = true)]
async fn a_post_that_fails_to_connect_is_still_sent_once() {
    let layer = builder().build().unwrap();
    let upstream = Upstream::new([Step::Fail(io_error("refused"))]);
    let err = run(&layer, &upstream, request("POST", None))
        .await
        .unwrap_err();
    assert_eq!(upstream.calls(), 1);
    assert_eq!(err.to_string(), "refused");
}

#[tokio::test(start_paused = true)]
async fn a_custom_request_rule_decides() {
    let layer = builder()
        .retryable_requests(|m: &Method, uri: &http::Uri, _: &HeaderMap| {
            m == Method::POST && uri.path() == "/orders"
        })
        .build()
        .unwrap();
    let upstream = Upstream::new([Step::Status(503)]);
    run(&layer, &upstream, request("POST", None)).await.unwrap();
    assert_eq!(upstream.calls(), 2);
    let upstream = Upstream::new([Step::Status(503)]);
    run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(upstream.calls(), 1);
}

// ---- backoff shapes through the service --------------------------------------

#[tokio::test(start_paused = true)]
async fn every_backoff_shape_waits_what_its_formula_says() {
    // r = 0.5 throughout; three retries each.
    let cases = [
        // full jitter: 0.5 × min(cap, 100 ms × 2ⁿ⁻¹)
        (
            Backoff::exponential(100 * MS, 300 * MS),
            [50 * MS, 100 * MS, 150 * MS],
        ),
        // equal jitter: c/2 + 0.5 × c/2
        (
            Backoff::equal_jitter(100 * MS, 10_000 * MS),
            [75 * MS, 150 * MS, 300 * MS],
        ),
        // decorrelated: min(cap, base + 0.5 × (3 × previous − base))
        (
            Backoff::decorrelated(100 * MS, 500 * MS),
            [200 * MS, 350 * MS, 500 * MS],
        ),
        // linear: min(cap, step × n)
        (
            Backoff::linear(40 * MS, 100 * MS),
            [40 * MS, 80 * MS, 100 * MS],
        ),
        (Backoff::constant(70 * MS), [70 * MS, 70 * MS, 70 * MS]),
        (Backoff::immediate(), [Duration::ZERO; 3]),
    ];
    for (backoff, expected) in cases {
        let upstream = Upstream::new([Step::Status(503), Step::Status(503), Step::Status(503)]);
        let layer = builder().max_attempts(4).backoff(backoff).build().unwrap();
        let res = run(&layer, &upstream, get()).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(upstream.gaps(), expected.to_vec(), "{backoff:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn jitter_comes_from_the_random_source() {
    let values = Arc::new(Mutex::new(VecDeque::from([0.0, 0.99, 0.25])));
    let source = values.clone();
    let layer = RetryLayer::builder()
        .no_budget()
        .max_attempts(4)
        .random(move || source.lock().unwrap().pop_front().unwrap_or(0.0))
        .build()
        .unwrap();
    let upstream = Upstream::new([Step::Status(503), Step::Status(503), Step::Status(503)]);
    run(&layer, &upstream, get()).await.unwrap();
    // 0 × 100 ms, 0.99 × 200 ms, 0.25 × 400 ms.
    assert_eq!(upstream.gaps(), vec![Duration::ZERO, 198 * MS, 100 * MS]);
}

// ---- Retry-After -------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_replaces_the_backoff() {
    let upstream = Upstream::new([Step::StatusWith(503, "retry-after", "3".into())]);
    let layer = builder().build().unwrap();
    run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(upstream.gaps(), vec![Duration::from_secs(3)]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_is_measured_on_the_clock() {
    let clock = FakeClock::new();
    let date = httpdate::fmt_http_date(clock.system_time() + Duration::from_secs(7));
    let upstream = Upstream::new([Step::StatusWith(429, "retry-after", date)]);
    let layer = builder().clock(clock.clone()).build().unwrap();
    run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(upstream.gaps(), vec![Duration::from_secs(7)]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_only_read_on_429_and_503() {
    let upstream = Upstream::new([Step::StatusWith(502, "retry-after", "9".into())]);
    let layer = builder().build().unwrap();
    run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(upstream.gaps(), vec![50 * MS]);
    // An invalid value falls back to the backoff.
    let upstream = Upstream::new([Step::StatusWith(503, "retry-after", "soon".into())]);
    run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(upstream.gaps(), vec![50 * MS]);
}

#[tokio::test(start_paused = true)]
async fn retry_after_above_the_maximum_returns_the_response_at_once() {
    let upstream = Upstream::new([Step::StatusWith(429, "retry-after", "60".into())]);
    let layer = builder()
        .max_retry_after(Duration::from_secs(10))
        .build()
        .unwrap();
    let start = Instant::now();
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(Instant::now() - start, Duration::ZERO);
    assert_eq!((upstream.calls(), res.status().as_u16()), (1, 429));
    assert_eq!(res.headers()["retry-after"], "60");
}

// ---- deadline and attempt timeout -------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_wait_that_would_pass_the_deadline_returns_the_last_response_at_once() {
    // Retry-After 3 s with 2 s left.
    let upstream = Upstream::new([Step::StatusWith(503, "retry-after", "3".into())]);
    let layer = builder().deadline(Duration::from_secs(2)).build().unwrap();
    let start = Instant::now();
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(Instant::now() - start, Duration::ZERO);
    assert_eq!((upstream.calls(), res.status().as_u16()), (1, 503));

    // Backoff 400 ms with 1 s deadline: the 2nd wait (at 400 ms + 400 ms)
    // fits, the 3rd would end at 1.2 s and does not.
    let upstream = Upstream::new([Step::Status(503), Step::Status(503), Step::Status(502)]);
    let layer = builder()
        .max_attempts(5)
        .backoff(Backoff::constant(400 * MS))
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(Instant::now() - start, 800 * MS);
    assert_eq!((upstream.calls(), res.status().as_u16()), (3, 502));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_hanging_attempt() {
    let upstream = Upstream::new([Step::Status(503), Step::Hang]);
    let layer = builder()
        .backoff(Backoff::constant(100 * MS))
        .deadline(Duration::from_millis(500))
        .build()
        .unwrap();
    let start = Instant::now();
    let err = run(&layer, &upstream, get()).await.unwrap_err();
    assert_eq!(Instant::now() - start, 500 * MS);
    let exceeded = err.downcast_ref::<DeadlineExceeded>().unwrap();
    assert_eq!(
        *exceeded,
        DeadlineExceeded {
            deadline: 500 * MS,
            attempts: 2
        }
    );
    assert_eq!(upstream.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_timeout_abandons_the_attempt_and_retries() {
    let upstream = Upstream::new([Step::Hang, Step::Status(200)]);
    let layer = builder()
        .backoff(Backoff::constant(10 * MS))
        .attempt_timeout(200 * MS)
        .build()
        .unwrap();
    let start = Instant::now();
    let res = run(&layer, &upstream, get()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(Instant::now() - start, 210 * MS);
    assert_eq!(upstream.gaps(), vec![210 * MS]);

    // When the last attempt times out, its timeout is the outcome.
    let upstream = Upstream::new([Step::Hang, Step::Hang]);
    let layer = builder()
        .max_attempts(2)
        .backoff(Backoff::immediate())
        .attempt_timeout(50 * MS)
        .build()
        .unwrap();
    let err = run(&layer, &upstream, get()).await.unwrap_err();
    assert_eq!(
        err.downcast_ref::<AttemptTimeout>(),
        Some(&AttemptTimeout {
            timeout: 50 * MS,
            attempt: 2
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_request_still_gets_its_timeouts() {
    let upstream = Upstream::new([Step::Hang]);
    let layer = builder().attempt_timeout(80 * MS).build().unwrap();
    let err = run(&layer, &upstream, request("POST", None))
        .await
        .unwrap_err();
    assert!(err.is::<AttemptTimeout>());
    assert_eq!(upstream.calls(), 1);
}

// ---- budget ------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_budget_is_shared_by_all_clones_and_refills_with_the_window() {
    let clock = FakeClock::new();
    let budget = Budget::builder()
        .ratio(0.0)
        .floor(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let layer = builder().budget(budget.clone()).build().unwrap();
    let upstream = Upstream::new((0..20).map(|_| Step::Status(503)));
    let mut a = layer.layer(upstream.clone());
    let mut b = layer.clone().layer(upstream.clone());

    // Call 1 (clone a) spends both retries of the floor.
    ServiceExt::<Request<Full<Bytes>>>::ready(&mut a)
        .await
        .unwrap()
        .call(get())
        .await
        .unwrap();
    assert_eq!(upstream.calls(), 3);
    // Clone b finds the shared budget empty: one attempt only.
    ServiceExt::<Request<Full<Bytes>>>::ready(&mut b)
        .await
        .unwrap()
        .call(get())
        .await
        .unwrap();
    assert_eq!(upstream.calls(), 4);
    assert_eq!(budget.available(), 0);

    // Once the window has passed, retries are possible again.
    clock.advance(Duration::from_secs(11));
    b.oneshot(get()).await.unwrap();
    assert_eq!(upstream.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn the_default_budget_allows_ten_percent_of_retryable_requests() {
    let clock = FakeClock::new();
    let layer = RetryLayer::builder()
        .random(|| 0.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let budget = layer.budget().unwrap().clone();
    assert_eq!(budget.available(), 10);
    // 100 successful GETs raise the allowance by 10; POSTs do not count.
    let ok = Upstream::new([]);
    for _ in 0..100 {
        run(&layer, &ok, get()).await.unwrap();
        run(&layer, &ok, request("POST", None)).await.unwrap();
    }
    assert_eq!(budget.available(), 20);
    // An outage: every call fails; only 20 retries are granted in total.
    let down = Upstream::new((0..1000).map(|_| Step::Status(503)));
    for _ in 0..30 {
        run(&layer, &down, get()).await.unwrap();
    }
    // 30 first attempts + 20 retries (+3 from the 30 new deposits).
    assert_eq!(down.calls(), 30 + 23);
}

// ---- bodies ------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn full_and_string_bodies_are_replayed_byte_for_byte() {
    let upstream = Upstream::new([Step::Status(503), Step::Status(503)]);
    let layer = builder().build().unwrap();
    run(&layer, &upstream, request("PUT", None)).await.unwrap();
    assert_eq!(
        upstream.bodies(),
        vec![Bytes::from_static(b"{\"item\":42}"); 3]
    );

    let upstream = Upstream::new([Step::Status(503)]);
    let req = Request::put("http://upstream/s")
        .body(String::from("text body"))
        .unwrap();
    layer.layer(upstream.clone()).oneshot(req).await.unwrap();
    assert_eq!(upstream.bodies(), vec![Bytes::from_static(b"text body"); 2]);

    let upstream = Upstream::new([Step::Status(503)]);
    let req = Request::delete("http://upstream/e")
        .body(Empty::<Bytes>::new())
        .unwrap();
    layer.layer(upstream.clone()).oneshot(req).await.unwrap();
    assert_eq!(upstream.bodies(), vec![Bytes::new(); 2]);
}

/// A streaming body of unknown length.
struct Chunks(VecDeque<Bytes>);

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn streaming(method: &str, chunks: &[&'static str], limit: usize) -> Request<ReplayBody<Chunks>> {
    let body = Chunks(
        chunks
            .iter()
            .map(|c| Bytes::from_static(c.as_bytes()))
            .collect(),
    );
    Request::builder()
        .method(method)
        .uri("http://upstream/upload")
        .header("idempotency-key", "upload-1")
        .body(ReplayBody::new(body, limit))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_within_the_limit_is_replayed() {
    let upstream = Upstream::new([Step::Status(503), Step::Status(503)]);
    let layer = builder().build().unwrap();
    let res = layer
        .layer(upstream.clone())
        .oneshot(streaming("POST", &["part1-", "part2-", "part3"], 64))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        upstream.bodies(),
        vec![Bytes::from_static(b"part1-part2-part3"); 3]
    );
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_over_the_limit_is_sent_once_intact() {
    let upstream = Upstream::new([Step::Status(503), Step::Status(503)]);
    let layer = builder().build().unwrap();
    let res = layer
        .layer(upstream.clone())
        .oneshot(streaming("PUT", &["0123456789", "abcdefghij", "KLM"], 12))
        .await
        .unwrap();
    // Not retried: the 503 comes back as is, and the upstream got every byte.
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        upstream.bodies(),
        vec![Bytes::from_static(b"0123456789abcdefghijKLM")]
    );
}

// ---- attempt header and tracing ----------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_attempt_header_is_off_by_default_and_counts_when_on() {
    let upstream = Upstream::new([Step::Status(503)]);
    let layer = builder().build().unwrap();
    run(&layer, &upstream, get()).await.unwrap();
    assert!(upstream
        .seen
        .lock()
        .unwrap()
        .iter()
        .all(|s| !s.headers.contains_key("x-retry-attempt")));

    let upstream = Upstream::new([Step::Status(503), Step::Status(503)]);
    let layer = builder().attempt_header("x-retry-attempt").build().unwrap();
    run(&layer, &upstream, get()).await.unwrap();
    let numbers: Vec<String> = upstream
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.headers["x-retry-attempt"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(numbers, ["1", "2", "3"]);
}

// Each retry's tracing event is checked in `tests/tracing_events.rs`, a
// binary of its own (see there why).

// ---- readiness ---------------------------------------------------------------

/// Ready only every other poll, to exercise the wait for readiness before a
/// retry.
#[derive(Clone)]
struct Sluggish {
    inner: Upstream,
    polls: Arc<Mutex<u32>>,
}

impl Service<Request<Full<Bytes>>> for Sluggish {
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = <Upstream as Service<Request<Full<Bytes>>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let mut polls = self.polls.lock().unwrap();
        *polls += 1;
        if *polls % 2 == 1 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    }

    fn call(&mut self, req: Request<Full<Bytes>>) -> Self::Future {
        self.inner.call(req)
    }
}

#[tokio::test(start_paused = true)]
async fn retries_wait_for_the_service_to_be_ready() {
    let upstream = Upstream::new([Step::Status(503), Step::Status(503)]);
    let svc = Sluggish {
        inner: upstream.clone(),
        polls: Arc::default(),
    };
    let layer = builder().build().unwrap();
    let res = layer.layer(svc.clone()).oneshot(get()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(upstream.calls(), 3);
    assert!(*svc.polls.lock().unwrap() >= 6);
}
