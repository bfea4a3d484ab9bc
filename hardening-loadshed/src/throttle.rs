//! Client-side adaptive throttling (Google SRE book, "Handling Overload").
//!
//! A client that keeps sending to an overloaded backend makes it worse,
//! even when every request is refused cheaply. [`AdaptiveThrottleLayer`]
//! counts, over a sliding window (default 2 minutes), the `requests` it was
//! asked to send and the `accepts` the backend answered without an overload
//! signal (an error, `429` or `503`), and refuses a new request locally with
//! probability
//!
//! ```text
//! max(0, (requests − K × accepts) / (requests + 1))
//! ```
//!
//! With `K = 2` (the default) nothing is refused while more than half the
//! requests are accepted; when the backend refuses everything, the
//! probability approaches 1 but a few requests still get through, enough to
//! notice the recovery.
//! Local refusals count as requests, so the probability rises with the
//! backend's refusals and falls as it accepts again.
//!
//! Refusals are `Err(BoxError)` holding a [`Throttled`] (tower's
//! convention), so the layer stacks with a breaker and a retry layer: put
//! it inside the retry layer so each attempt is throttled, and treat
//! `Throttled` as not retryable.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_loadshed::throttle::{AdaptiveThrottleLayer, Throttled};
//! use hardening_loadshed::FakeClock;
//! use tower::{service_fn, BoxError, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let layer = AdaptiveThrottleLayer::builder()
//!     .k(2.0)
//!     .clock(FakeClock::new())
//!     .random(|| 0.5) // deterministic: refuse when the probability is above 0.5
//!     .build()
//!     .unwrap();
//! let throttle = layer.throttle().clone();
//! let backend = service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, BoxError>(http::Response::builder().status(503).body(()).unwrap())
//! });
//! let client = layer.layer(backend);
//! let mut refused = 0;
//! for _ in 0..10 {
//!     if let Err(e) = client.clone().oneshot(http::Request::new(())).await {
//!         assert!(e.downcast_ref::<Throttled>().is_some());
//!         refused += 1;
//!     }
//! }
//! // Every answer was 503: after n requests the probability is n / (n + 1),
//! // above 0.5 from the third request on, so those are refused locally.
//! assert_eq!(refused, 8);
//! assert!(throttle.probability() > 0.9);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hardening_core::clock::{duration_to_nanos, Clock, MonotonicClock};
use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{check_range, invalid, BoxError, ConfigError};

/// The component named in this module's configuration errors.
const COMPONENT: &str = "AdaptiveThrottleLayer";

/// The request was refused locally by the adaptive throttle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttled {
    /// The refusal probability at the time.
    pub probability: f64,
}

impl fmt::Display for Throttled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "throttled locally: the backend is refusing requests (refusal probability {:.2})",
            self.probability
        )
    }
}

impl std::error::Error for Throttled {}

/// The pure core: requests and accepts over a sliding window of buckets,
/// taking `now` as an argument.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_loadshed::throttle::ThrottleWindow;
///
/// let mut w = ThrottleWindow::new(2.0, Duration::from_secs(120), 12);
/// let now = Duration::from_secs(1);
/// for _ in 0..10 { w.record_request(now); }
/// for _ in 0..2 { w.record_accept(now); }
/// // (10 − 2 × 2) / (10 + 1)
/// assert!((w.probability(now) - 6.0 / 11.0).abs() < 1e-9);
/// // Two minutes later the window has forgotten them.
/// assert_eq!(w.probability(now + Duration::from_secs(121)), 0.0);
/// ```
#[derive(Clone, Debug)]
pub struct ThrottleWindow {
    k: f64,
    bucket: u64,
    /// (bucket index, requests, accepts)
    buckets: Vec<(u64, u64, u64)>,
}

impl ThrottleWindow {
    /// A window of `window` split into `buckets` buckets, with multiplier
    /// `k`. `buckets` is at least 1 and the window at least one nanosecond
    /// per bucket.
    pub fn new(k: f64, window: Duration, buckets: usize) -> Self {
        let buckets = buckets.max(1);
        let bucket = (duration_to_nanos(window) / buckets as u64).max(1);
        Self {
            k,
            bucket,
            buckets: vec![(u64::MAX, 0, 0); buckets],
        }
    }

    fn slot(&mut self, now: Duration) -> &mut (u64, u64, u64) {
        let index = duration_to_nanos(now) / self.bucket;
        let n = self.buckets.len();
        let slot = &mut self.buckets[(index % n as u64) as usize];
        if slot.0 != index {
            *slot = (index, 0, 0);
        }
        slot
    }

    fn totals(&self, now: Duration) -> (u64, u64) {
        let index = duration_to_nanos(now) / self.bucket;
        let n = self.buckets.len() as u64;
        self.buckets
            .iter()
            .filter(|(i, _, _)| *i != u64::MAX && *i <= index && index - *i < n)
            .fold((0, 0), |(r, a), (_, br, ba)| (r + br, a + ba))
    }

    /// Counts a request (sent or refused locally).
    pub fn record_request(&mut self, now: Duration) {
        self.slot(now).1 += 1;
    }

    /// Counts an accepted request.
    pub fn record_accept(&mut self, now: Duration) {
        self.slot(now).2 += 1;
    }

    /// `max(0, (requests − K·accepts) / (requests + 1))` over the window.
    pub fn probability(&self, now: Duration) -> f64 {
        let (requests, accepts) = self.totals(now);
        let requests = requests as f64;
        ((requests - self.k * accepts as f64) / (requests + 1.0)).max(0.0)
    }
}

struct Shared {
    window: Mutex<ThrottleWindow>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Fn() -> f64 + Send + Sync>,
}

/// The throttle shared by a layer and its services.
///
/// # Clone
///
/// Clones share one window.
#[derive(Clone)]
pub struct Throttle {
    shared: Arc<Shared>,
}

impl fmt::Debug for Throttle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Throttle")
            .field("probability", &self.probability())
            .finish()
    }
}

impl Throttle {
    fn window(&self) -> std::sync::MutexGuard<'_, ThrottleWindow> {
        self.shared
            .window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The current refusal probability.
    pub fn probability(&self) -> f64 {
        self.window().probability(self.shared.clock.now())
    }

    /// Counts a request and decides whether to send it.
    ///
    /// # Errors
    ///
    /// [`Throttled`] when it is refused locally.
    pub fn admit(&self) -> Result<(), Throttled> {
        let now = self.shared.clock.now();
        let probability = {
            let mut w = self.window();
            let p = w.probability(now);
            w.record_request(now);
            p
        };
        if probability > 0.0 && (self.shared.random)() < probability {
            Err(Throttled { probability })
        } else {
            Ok(())
        }
    }

    /// Counts an accepted request.
    pub fn accepted(&self) {
        let now = self.shared.clock.now();
        self.window().record_accept(now);
    }
}

/// Client-side adaptive throttling for outbound calls; see the [module
/// docs](self).
///
/// # Clone
///
/// Clones, and every service they make, share one [`Throttle`].
#[derive(Clone, Debug)]
pub struct AdaptiveThrottleLayer {
    throttle: Throttle,
}

impl AdaptiveThrottleLayer {
    /// A builder: `k` 2, window 120 s in 12 buckets, the system clock, a
    /// thread-local random source.
    pub fn builder() -> AdaptiveThrottleBuilder {
        AdaptiveThrottleBuilder::default()
    }

    /// The shared throttle.
    pub fn throttle(&self) -> &Throttle {
        &self.throttle
    }
}

impl<S> Layer<S> for AdaptiveThrottleLayer {
    type Service = AdaptiveThrottle<S>;

    fn layer(&self, inner: S) -> AdaptiveThrottle<S> {
        AdaptiveThrottle {
            inner,
            throttle: self.throttle.clone(),
        }
    }
}

/// Builds an [`AdaptiveThrottleLayer`].
pub struct AdaptiveThrottleBuilder {
    k: f64,
    window: Duration,
    buckets: usize,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Fn() -> f64 + Send + Sync>,
}

impl fmt::Debug for AdaptiveThrottleBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveThrottleBuilder")
            .field("k", &self.k)
            .field("window", &self.window)
            .field("buckets", &self.buckets)
            .finish_non_exhaustive()
    }
}

impl Default for AdaptiveThrottleBuilder {
    fn default() -> Self {
        Self {
            k: 2.0,
            window: Duration::from_secs(120),
            buckets: 12,
            clock: Arc::new(MonotonicClock::new()),
            random: Arc::new(rand::random::<f64>),
        }
    }
}

impl AdaptiveThrottleBuilder {
    /// The multiplier `K`, in `1..=10`: lower throttles earlier.
    pub fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }

    /// The sliding window.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The buckets of the window, `1..=1000`.
    pub fn buckets(mut self, buckets: usize) -> Self {
        self.buckets = buckets;
        self
    }

    /// The clock of the window.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The random source: uniform in `0..1`; a request is refused when it
    /// returns less than the probability.
    pub fn random(mut self, random: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.random = Arc::new(random);
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `k`, `window` (zero, or shorter than one
    /// millisecond per bucket) or `buckets`.
    pub fn build(self) -> Result<AdaptiveThrottleLayer, ConfigError> {
        let k = check_range(COMPONENT, "k", self.k, 1.0, 10.0, "1..=10")?;
        if !(1..=1000).contains(&self.buckets) {
            return Err(invalid(COMPONENT, "buckets", self.buckets, "1..=1000"));
        }
        if self.window < Duration::from_millis(self.buckets as u64) {
            return Err(invalid(
                COMPONENT,
                "window",
                self.window,
                "at least 1 ms per bucket",
            ));
        }
        Ok(AdaptiveThrottleLayer {
            throttle: Throttle {
                shared: Arc::new(Shared {
                    window: Mutex::new(ThrottleWindow::new(k, self.window, self.buckets)),
                    clock: self.clock,
                    random: self.random,
                }),
            },
        })
    }
}

/// The service made by [`AdaptiveThrottleLayer`].
#[derive(Clone, Debug)]
pub struct AdaptiveThrottle<S> {
    inner: S,
    throttle: Throttle,
}

impl<S> AdaptiveThrottle<S> {
    /// A reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// A mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, Req, B> Service<Req> for AdaptiveThrottle<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<B>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        match self.throttle.admit() {
            Ok(()) => ResponseFuture {
                kind: Kind::Sent {
                    future: self.inner.call(req),
                    throttle: self.throttle.clone(),
                },
            },
            Err(throttled) => ResponseFuture {
                kind: Kind::Refused { throttled },
            },
        }
    }
}

pin_project! {
    /// The future of an [`AdaptiveThrottle`] call.
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Sent { #[pin] future: F, throttle: Throttle },
        Refused { throttled: Throttled },
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("throttle::ResponseFuture")
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<B>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Sent { future, throttle } => {
                let out = ready!(future.poll(cx));
                if let Ok(resp) = &out {
                    if !matches!(
                        resp.status(),
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                    ) {
                        throttle.accepted();
                    }
                }
                Poll::Ready(out.map_err(Into::into))
            }
            KindProj::Refused { throttled } => Poll::Ready(Err(Box::new(*throttled))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardening_core::clock::FakeClock;
    use std::sync::atomic::{AtomicU16, Ordering};
    use tower::{service_fn, ServiceExt};

    #[test]
    fn probability_follows_the_formula_and_forgets_old_buckets() {
        let mut w = ThrottleWindow::new(2.0, Duration::from_secs(10), 10);
        let t = Duration::from_secs;
        for _ in 0..4 {
            w.record_request(t(0));
        }
        w.record_accept(t(0));
        // (4 − 2) / 5
        assert!((w.probability(t(0)) - 0.4).abs() < 1e-9);
        for _ in 0..6 {
            w.record_request(t(5));
        }
        // (10 − 2) / 11
        assert!((w.probability(t(9)) - 8.0 / 11.0).abs() < 1e-9);
        // At 10 s the first bucket has left the window: 6 / 7.
        assert!((w.probability(t(10)) - 6.0 / 7.0).abs() < 1e-9);
        assert_eq!(w.probability(t(30)), 0.0);
        // Mostly accepted: nothing is refused.
        let mut ok = ThrottleWindow::new(2.0, Duration::from_secs(10), 10);
        for _ in 0..100 {
            ok.record_request(t(1));
        }
        for _ in 0..50 {
            ok.record_accept(t(1));
        }
        assert_eq!(ok.probability(t(1)), 0.0);
    }

    #[tokio::test]
    async fn refuses_locally_while_the_backend_refuses_and_recovers_when_it_accepts() {
        let clock = FakeClock::new();
        let status = Arc::new(AtomicU16::new(503));
        let s = status.clone();
        let layer = AdaptiveThrottleLayer::builder()
            .window(Duration::from_secs(10))
            .buckets(10)
            .clock(clock.clone())
            .random(|| 0.9)
            .build()
            .unwrap();
        let throttle = layer.throttle().clone();
        let client = layer.layer(service_fn(move |_req: ()| {
            let code = s.load(Ordering::SeqCst);
            async move { Ok::<_, BoxError>(Response::builder().status(code).body(()).unwrap()) }
        }));
        let mut sent = 0;
        for _ in 0..100 {
            match client.clone().oneshot(()).await {
                Ok(_) => sent += 1,
                Err(e) => assert!(e.downcast_ref::<Throttled>().is_some()),
            }
        }
        // With n earlier refusals the probability is n / (n + 1): above 0.9
        // from n = 10 on, so exactly 10 requests reach the backend.
        assert_eq!(sent, 10);
        assert!(throttle.probability() > 0.9);
        // The backend heals; the window forgets the refusals.
        status.store(200, Ordering::SeqCst);
        clock.advance(Duration::from_secs(11));
        for _ in 0..100 {
            assert_eq!(client.clone().oneshot(()).await.unwrap().status(), 200);
        }
        assert_eq!(throttle.probability(), 0.0);
    }

    #[test]
    fn invalid_settings_name_the_field() {
        let field = |b: AdaptiveThrottleBuilder| b.build().unwrap_err().field();
        assert_eq!(field(AdaptiveThrottleLayer::builder().k(0.5)), "k");
        assert_eq!(
            field(AdaptiveThrottleLayer::builder().buckets(0)),
            "buckets"
        );
        assert_eq!(
            field(AdaptiveThrottleLayer::builder().window(Duration::from_millis(5))),
            "window"
        );
    }
}
