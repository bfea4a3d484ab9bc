//! [`CircuitBreaker`]: the service.

use std::fmt;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::breaker::{Breaker, CallGuard, CallPermit};
use crate::classify::{Classify, HttpClassifier};
use crate::error::CircuitOpen;
use crate::future::ResponseFuture;
use crate::reject::{BoxErrorRejection, Rejection};

/// A service behind a circuit breaker. Made by
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer).
///
/// The breaker decides in `poll_ready`: an admitted call reserves its permit
/// there (and then waits for the inner service to be ready); a rejected call
/// is ready at once, without polling the inner service, so an overloaded
/// upstream cannot hold callers up. `call` then forwards the request or
/// answers the rejection.
///
/// # Clone
///
/// Clones share the breaker and clone the inner service; a permit reserved
/// by `poll_ready` stays with the instance that reserved it.
pub struct CircuitBreaker<S, C = HttpClassifier, R = BoxErrorRejection> {
    inner: S,
    breaker: Breaker,
    classify: C,
    admission: Option<Result<CallPermit, CircuitOpen>>,
    _rejection: PhantomData<fn() -> R>,
}

impl<S, C, R> CircuitBreaker<S, C, R> {
    pub(crate) fn new(inner: S, breaker: Breaker, classify: C) -> Self {
        Self {
            inner,
            breaker,
            classify,
            admission: None,
            _rejection: PhantomData,
        }
    }

    /// The breaker this service shares with its clones and its layer.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
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
        let admission = self.admission.get_or_insert_with(|| self.breaker.acquire());
        if admission.is_err() {
            return Poll::Ready(Ok(()));
        }
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(error)) => {
                // A service that cannot become ready counts as a failed call.
                let result: Result<S::Response, S::Error> = Err(error);
                if let Some(Ok(call)) = self.admission.take() {
                    if call.is_tracked() {
                        let outcome = self.classify.classify(&result);
                        self.breaker.complete(call, outcome);
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
        // Called without `poll_ready` (a contract violation): decide now.
        let admission = self
            .admission
            .take()
            .unwrap_or_else(|| self.breaker.acquire());
        match admission {
            Ok(call) => {
                let guard = if call.is_tracked() {
                    Some(CallGuard::new(self.breaker.clone(), call))
                } else {
                    None
                };
                ResponseFuture::called(self.inner.call(req), guard, self.classify.clone())
            }
            Err(open) => ResponseFuture::rejected(open),
        }
    }
}

impl<S, C, R> Drop for CircuitBreaker<S, C, R> {
    fn drop(&mut self) {
        if let Some(Ok(call)) = self.admission.take() {
            self.breaker.cancel(call);
        }
    }
}

impl<S: Clone, C: Clone, R> Clone for CircuitBreaker<S, C, R> {
    fn clone(&self) -> Self {
        Self::new(
            self.inner.clone(),
            self.breaker.clone(),
            self.classify.clone(),
        )
    }
}

impl<S: fmt::Debug, C, R> fmt::Debug for CircuitBreaker<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.breaker)
            .finish_non_exhaustive()
    }
}
