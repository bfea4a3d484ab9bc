//! The [`RateLimit`] service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use crate::extract::RequestRef;
use crate::future::{PendingCall, ResponseFuture};
use crate::limiter::{Limiter, Plan, Verdict};
use crate::store::{MaybeReady, RateLimitStore};
use crate::RateLimitBody;

/// The service [`RateLimitLayer`](crate::RateLimitLayer) wraps around an
/// inner service.
///
/// # Clone
///
/// Clones share the limiter (policies, store, clock) and clone the inner
/// service.
pub struct RateLimit<S, St> {
    inner: S,
    limiter: Arc<Limiter<St>>,
}

impl<S, St> RateLimit<S, St> {
    pub(crate) fn new(inner: S, limiter: Arc<Limiter<St>>) -> Self {
        Self { inner, limiter }
    }

    hardening_core::define_inner_service_accessors!();
}

impl<S: Clone, St> Clone for RateLimit<S, St> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            limiter: self.limiter.clone(),
        }
    }
}

impl<S: fmt::Debug, St> fmt::Debug for RateLimit<S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, St, ReqB, ResB> Service<Request<ReqB>> for RateLimit<S, St>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    St: RateLimitStore,
{
    type Response = Response<RateLimitBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB, St>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let limiter = &*self.limiter;
        let checks = match limiter.plan(&RequestRef::from(&req)) {
            Plan::Pass => return ResponseFuture::inner(self.inner.call(req), None),
            Plan::Respond(response) => return ResponseFuture::respond(response),
            Plan::Check(checks) => checks,
        };
        match limiter.check(&checks) {
            MaybeReady::Ready(result) => match limiter.finish(&checks, result) {
                Verdict::Admit(headers) => ResponseFuture::inner(self.inner.call(req), headers),
                Verdict::Reject(response) => ResponseFuture::respond(response),
            },
            MaybeReady::Pending(decision) => {
                // The inner service was made ready by `poll_ready`; take that
                // one into the future and keep a fresh clone here.
                let clone = self.inner.clone();
                let service = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::deciding(
                    decision,
                    PendingCall {
                        request: req,
                        service,
                        limiter: self.limiter.clone(),
                        checks,
                    },
                )
            }
        }
    }
}

#[cfg(test)]
mod tests;
