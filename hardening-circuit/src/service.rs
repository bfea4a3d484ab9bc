//! [`CircuitBreaker`]: the service.

use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::breaker::{Breaker, CallPermit};
use crate::classify::{Classify, HttpClassifier};
use crate::error::CircuitOpen;
use crate::future::ResponseFuture;
use crate::reject::{BoxErrorRejection, Rejection};

/// A service behind a circuit breaker. Made by
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer).
///
/// When the breaker is not closed it decides in `poll_ready`: a half-open
/// probe permit is reserved there (and then the service waits for the inner
/// service to be ready); a rejected call is ready at once, without polling
/// the inner service, so an overloaded upstream cannot hold callers up.
/// `call` then forwards the request or answers the rejection. In the closed
/// state nothing is reserved and `call` admits with one atomic load (if the
/// breaker opened in between, that call is rejected).
///
/// # Clone
///
/// Clones share the breaker and clone the inner service; a permit reserved
/// by `poll_ready` stays with the instance that reserved it.
pub struct CircuitBreaker<S, C = HttpClassifier, R = BoxErrorRejection> {
    inner: S,
    gate: Gate,
    classify: C,
    _rejection: PhantomData<fn() -> R>,
}

/// The breaker and the admission `poll_ready` reserved for the next `call`;
/// dropping it hands an unused permit back (a separate type, so that
/// `into_inner` can move the inner service out).
struct Gate {
    breaker: Breaker,
    admission: Option<Result<CallPermit, CircuitOpen>>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some(Ok(call)) = self.admission.take() {
            self.breaker.cancel(call);
        }
    }
}

impl<S, C, R> CircuitBreaker<S, C, R> {
    pub(crate) fn new(inner: S, breaker: Breaker, classify: C) -> Self {
        Self {
            inner,
            gate: Gate {
                breaker,
                admission: None,
            },
            classify,
            _rejection: PhantomData,
        }
    }

    /// The breaker this service shares with its clones and its layer.
    pub fn breaker(&self) -> &Breaker {
        &self.gate.breaker
    }

    hardening_core::define_inner_service_accessors!();
}

impl<S, C, R, Req> Service<Req> for CircuitBreaker<S, C, R>
where
    S: Service<Req>,
    C: Classify<S::Response, S::Error> + Clone,
    R: Rejection<S::Response, S::Error>,
{
    type Response = S::Response;
    type Error = R::Error;
    type Future = ResponseFuture<S::Future, C, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if self.gate.admission.is_none() && !self.gate.breaker.admits_without_permit() {
            // Open, half-open or forced open: decide now, and reserve a
            // probe permit if one is granted. (Closed needs no reservation:
            // `call` takes its permit with one atomic load.)
            self.gate.admission = Some(self.gate.breaker.acquire());
        }
        if let Some(Err(_)) = self.gate.admission {
            // Rejected: ready at once, without waiting for the inner service.
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(error)) => {
                // A service that cannot become ready counts as a failed call.
                let result: Result<S::Response, S::Error> = Err(error);
                let call = match self.gate.admission.take() {
                    Some(Ok(call)) => Some(call),
                    Some(Err(_)) => None,
                    None => self.gate.breaker.acquire().ok(),
                };
                if let Some(call) = call {
                    if call.is_tracked() {
                        let outcome = self.classify.classify(&result);
                        self.gate.breaker.complete(call, outcome);
                    }
                }
                match result {
                    Err(error) => Poll::Ready(Err(R::error(error))),
                    Ok(_) => Poll::Ready(Ok(())),
                }
            }
        }
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let admission = match self.gate.admission.take() {
            Some(admission) => admission,
            None => self.gate.breaker.acquire(),
        };
        match admission {
            Ok(call) => {
                let guard = if call.is_tracked() {
                    Some(self.gate.breaker.guard_by_id(call))
                } else {
                    None
                };
                ResponseFuture::called(self.inner.call(req), guard, self.classify.clone())
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}

impl<S: Clone, C: Clone, R> Clone for CircuitBreaker<S, C, R> {
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            self.gate.breaker.clone(),
            self.classify.clone(),
        )
    }
}

impl<S: fmt::Debug, C, R> fmt::Debug for CircuitBreaker<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.gate.breaker)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::Future;
    use std::pin::pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use hardening_core::FakeClock;
    use tower::{service_fn, ServiceBuilder, ServiceExt};
    use tower_layer::Layer;

    use super::*;
    use crate::{BoxError, CircuitBreakerLayer, Outcome, SlidingWindow, State, StateChange};

    fn status(code: u16) -> http::Response<String> {
        http::Response::builder()
            .status(code)
            .body(String::new())
            .unwrap()
    }

    fn builder(clock: &FakeClock) -> crate::CircuitBreakerBuilder {
        CircuitBreakerLayer::builder()
            .sliding_window(SlidingWindow::count(4))
            .minimum_calls(2)
            .open_duration(Duration::from_secs(10))
            .jitter(0.0)
            .half_open_probes(1)
            .clock(clock.clone())
    }

    /// A service answering with the status stored in `code`, counting calls.
    fn upstream(
        code: Arc<AtomicUsize>,
        hits: Arc<AtomicUsize>,
    ) -> impl Service<
        http::Request<()>,
        Response = http::Response<String>,
        Error = Infallible,
        Future = impl Future<Output = Result<http::Response<String>, Infallible>> + Send,
    > + Clone {
        service_fn(move |_req: http::Request<()>| {
            hits.fetch_add(1, Ordering::SeqCst);
            let code = code.load(Ordering::SeqCst) as u16;
            async move { Ok::<_, Infallible>(status(code)) }
        })
    }

    #[tokio::test]
    async fn client_mode_rejects_with_a_boxed_circuit_open() {
        let clock = FakeClock::new();
        let code = Arc::new(AtomicUsize::new(500));
        let hits = Arc::new(AtomicUsize::new(0));
        let layer = builder(&clock).build().unwrap();
        let breaker = layer.breaker().clone();
        let svc = ServiceBuilder::new()
            .layer(layer)
            .service(upstream(code.clone(), hits.clone()));

        for _ in 0..2 {
            let resp = svc.clone().oneshot(http::Request::new(())).await.unwrap();
            assert_eq!(resp.status(), 500, "failures pass through unchanged");
        }
        assert_eq!(breaker.state(), State::Open);
        clock.advance(Duration::from_secs(4));
        let err: BoxError = svc
            .clone()
            .oneshot(http::Request::new(()))
            .await
            .unwrap_err();
        let open = err.downcast_ref::<CircuitOpen>().expect("a CircuitOpen");
        assert_eq!(open.retry_after, Duration::from_secs(6));
        assert_eq!(
            hits.load(Ordering::SeqCst),
            2,
            "the rejected call never reached upstream"
        );
        assert_eq!(breaker.metrics().rejections, 1);

        // Heal, wait out the open duration: the probe closes the breaker.
        code.store(200, Ordering::SeqCst);
        clock.advance(Duration::from_secs(6));
        let resp = svc.clone().oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(breaker.state(), State::Closed);
    }

    #[tokio::test]
    async fn server_mode_answers_503_with_retry_after_and_stays_infallible() {
        let clock = FakeClock::new();
        let code = Arc::new(AtomicUsize::new(503));
        let hits = Arc::new(AtomicUsize::new(0));
        let layer = builder(&clock).build().unwrap().into_response();
        let svc = ServiceBuilder::new()
            .layer(layer)
            .service(upstream(code, hits.clone()));
        for _ in 0..2 {
            svc.clone().oneshot(http::Request::new(())).await.unwrap();
        }
        clock.advance(Duration::from_millis(2500));
        let resp: http::Response<String> = match svc.oneshot(http::Request::new(())).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "8", "7.5 s rounded up");
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[derive(Debug, PartialEq)]
    enum ClientError {
        Open(CircuitOpen),
        Upstream,
    }
    impl From<CircuitOpen> for ClientError {
        fn from(open: CircuitOpen) -> Self {
            Self::Open(open)
        }
    }

    #[tokio::test]
    async fn error_mode_keeps_the_inner_error_type() {
        let clock = FakeClock::new();
        let layer = builder(&clock)
            .build()
            .unwrap()
            .classify(crate::ErrorsAreFailures)
            .into_error();
        let svc = ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|_: ()| async {
                Err::<(), _>(ClientError::Upstream)
            }));
        assert_eq!(svc.clone().oneshot(()).await, Err(ClientError::Upstream));
        assert_eq!(svc.clone().oneshot(()).await, Err(ClientError::Upstream));
        assert_eq!(
            svc.oneshot(()).await,
            Err(ClientError::Open(CircuitOpen {
                retry_after: Duration::from_secs(10)
            }))
        );
    }

    #[tokio::test]
    async fn a_closure_classifier_sees_the_whole_result() {
        let clock = FakeClock::new();
        // Count only bodies saying "overloaded" as failures.
        let layer = builder(&clock).build().unwrap().classify(
            |r: &Result<http::Response<String>, Infallible>| match r {
                Ok(resp) if resp.body() == "overloaded" => Outcome::Failure,
                _ => Outcome::Success,
            },
        );
        let breaker = layer.breaker().clone();
        let svc =
            ServiceBuilder::new()
                .layer(layer)
                .service(service_fn(|body: String| async move {
                    Ok::<_, Infallible>(http::Response::new(body))
                }));
        svc.clone().oneshot("ok".to_owned()).await.unwrap();
        svc.clone().oneshot("overloaded".to_owned()).await.unwrap();
        assert_eq!(breaker.state(), State::Open, "1 failure in 2 calls");
    }

    #[tokio::test]
    async fn an_open_breaker_does_not_wait_for_the_inner_service() {
        let clock = FakeClock::new();
        let layer = builder(&clock)
            .build()
            .unwrap()
            .classify(crate::ErrorsAreFailures);
        layer.breaker().force_open();
        // A service that is never ready.
        let never_ready = Pending(service_fn(|_: ()| async { Ok::<(), BoxError>(()) }));
        let mut svc = layer.layer(never_ready);
        let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
        assert!(err.is::<CircuitOpen>());
    }

    #[derive(Clone)]
    struct Pending<S>(S);
    impl<S: Service<()>> Service<()> for Pending<S> {
        type Response = S::Response;
        type Error = S::Error;
        type Future = S::Future;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            Poll::Pending
        }
        fn call(&mut self, req: ()) -> S::Future {
            self.0.call(req)
        }
    }

    #[tokio::test]
    async fn a_dropped_probe_gives_its_permit_back() {
        let clock = FakeClock::new();
        let layer = builder(&clock).build().unwrap();
        let breaker = layer.breaker().clone();
        let svc = ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|slow: bool| async move {
                if slow {
                    std::future::pending::<()>().await;
                }
                Ok::<_, BoxError>(http::Response::new(()))
            }));
        breaker.force_open();
        breaker.reset();
        // Trip with errors from a poll_ready-less path: use a failing status.
        let failing = ServiceBuilder::new()
            .layer(CircuitBreakerLayer::from_breaker(breaker.clone()))
            .service(service_fn(|_: bool| async {
                Ok::<_, BoxError>(http::Response::builder().status(500).body(()).unwrap())
            }));
        failing.clone().oneshot(false).await.unwrap();
        failing.oneshot(false).await.unwrap();
        assert_eq!(breaker.state(), State::Open);
        clock.advance(Duration::from_secs(10));

        // The single probe hangs; a second caller is rejected meanwhile.
        let mut probe = Box::pin(svc.clone().oneshot(true));
        assert!(futures_poll(probe.as_mut()).is_pending());
        assert_eq!(breaker.state(), State::HalfOpen);
        assert!(svc.clone().oneshot(false).await.is_err());
        // The caller gives up: its permit returns and the next call probes.
        drop(probe);
        let resp = svc.clone().oneshot(false).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(breaker.state(), State::Closed);
    }

    fn futures_poll<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        let waker = std::task::Waker::noop();
        f.poll(&mut Context::from_waker(waker))
    }

    #[tokio::test]
    async fn into_inner_gives_a_reserved_probe_permit_back() {
        let clock = FakeClock::new();
        let code = Arc::new(AtomicUsize::new(500));
        let hits = Arc::new(AtomicUsize::new(0));
        let layer = builder(&clock).build().unwrap();
        let svc = layer.layer(upstream(code.clone(), hits.clone()));
        svc.clone().oneshot(http::Request::new(())).await.unwrap();
        svc.clone().oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(svc.breaker().state(), State::Open);
        clock.advance(Duration::from_secs(10));
        code.store(200, Ordering::SeqCst);

        // poll_ready reserves the single probe; unwrapping the service must
        // not keep it, or the breaker would stay half-open forever.
        let mut reserved = svc.clone();
        let ready = futures_poll(pin!(std::future::poll_fn(|cx| reserved.poll_ready(cx))));
        assert!(matches!(ready, Poll::Ready(Ok(()))));
        assert!(matches!(reserved.gate.admission, Some(Ok(_))));
        let inner = reserved.into_inner();
        drop(inner);
        let resp = svc.clone().oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(svc.breaker().state(), State::Closed);
    }

    #[tokio::test]
    async fn clones_share_one_breaker_and_reservations_stay_per_instance() {
        let clock = FakeClock::new();
        let code = Arc::new(AtomicUsize::new(500));
        let hits = Arc::new(AtomicUsize::new(0));
        let layer = builder(&clock).build().unwrap();
        let a = layer.layer(upstream(code.clone(), hits.clone()));
        let b = layer.clone().layer(upstream(code, hits));
        a.clone().oneshot(http::Request::new(())).await.unwrap();
        b.clone().oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(a.breaker().state(), State::Open);
        assert_eq!(b.breaker().state(), State::Open);

        // A reserved probe permit is not cloned.
        let fresh = builder(&clock).build().unwrap();
        fresh.breaker().force_open();
        let mut svc = fresh.layer(upstream(
            Arc::new(AtomicUsize::new(200)),
            Arc::new(AtomicUsize::new(0)),
        ));
        let ready = futures_poll(pin!(std::future::poll_fn(|cx| svc.poll_ready(cx))));
        assert!(matches!(ready, Poll::Ready(Ok(()))));
        assert!(svc.gate.admission.is_some());
        assert!(svc.clone().gate.admission.is_none());
    }

    #[tokio::test]
    async fn disabled_breaker_passes_everything_and_counts_nothing() {
        let clock = FakeClock::new();
        let layer = builder(&clock).build().unwrap();
        let breaker = layer.breaker().clone();
        breaker.disable();
        let svc = layer.layer(upstream(
            Arc::new(AtomicUsize::new(500)),
            Arc::new(AtomicUsize::new(0)),
        ));
        for _ in 0..10 {
            assert_eq!(
                svc.clone()
                    .oneshot(http::Request::new(()))
                    .await
                    .unwrap()
                    .status(),
                500
            );
        }
        assert_eq!(breaker.state(), State::Disabled);
        assert_eq!(breaker.metrics().calls, 0);
    }

    /// The tracing event of each transition is checked in
    /// `tests/tracing_events.rs`, a binary of its own (see there why).
    #[tokio::test]
    async fn every_transition_calls_the_hook() {
        let clock = FakeClock::new();
        let seen: Arc<Mutex<Vec<StateChange>>> = Arc::default();
        let hook_seen = seen.clone();
        let layer = builder(&clock)
            .name("payments")
            .on_state_change(move |change| hook_seen.lock().unwrap().push(change.clone()))
            .build()
            .unwrap();
        let breaker = layer.breaker().clone();
        let code = Arc::new(AtomicUsize::new(500));
        let svc = layer.layer(upstream(code.clone(), Arc::new(AtomicUsize::new(0))));

        svc.clone().oneshot(http::Request::new(())).await.unwrap();
        svc.clone().oneshot(http::Request::new(())).await.unwrap();
        clock.advance(Duration::from_secs(10));
        code.store(200, Ordering::SeqCst);
        svc.clone().oneshot(http::Request::new(())).await.unwrap();
        breaker.force_open();
        breaker.disable();
        breaker.reset();

        let seen = seen.lock().unwrap();
        let path: Vec<_> = seen.iter().map(|c| (c.from, c.to, c.reason)).collect();
        use crate::Reason as R;
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
        assert_eq!(seen[0].breaker.as_deref(), Some("payments"));
        assert_eq!(seen[0].open_for, Some(Duration::from_secs(10)));
        assert_eq!(seen[1].at, Duration::from_secs(10));
    }
}
