//! The service: classify, admit or refuse, call.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use crate::body::LoadShedBody;
use crate::future::ResponseFuture;
use crate::layer::LayerConfig;
use crate::limiter::Limiter;
use crate::priority::Priority;
use crate::reject::{Rejection, ResponseRejection};

/// The service made by [`ConcurrencyLimitLayer`](crate::ConcurrencyLimitLayer).
///
/// `poll_ready` is the inner service's: the limit is checked in `call`, so a
/// refusal never waits.
///
/// # Clone
///
/// Clones share the limiter; the inner service is cloned.
pub struct ConcurrencyLimit<S, R = ResponseRejection> {
    inner: S,
    limiter: Limiter,
    config: Arc<LayerConfig>,
    _rejection: std::marker::PhantomData<fn() -> R>,
}

impl<S, R> ConcurrencyLimit<S, R> {
    pub(crate) fn from_parts(inner: S, limiter: Limiter, config: Arc<LayerConfig>) -> Self {
        Self {
            inner,
            limiter,
            config,
            _rejection: std::marker::PhantomData,
        }
    }

    /// The shared limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

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

impl<S: Clone, R> Clone for ConcurrencyLimit<S, R> {
    fn clone(&self) -> Self {
        Self::from_parts(
            self.inner.clone(),
            self.limiter.clone(),
            Arc::clone(&self.config),
        )
    }
}

impl<S: fmt::Debug, R> fmt::Debug for ConcurrencyLimit<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit")
            .field("inner", &self.inner)
            .field("limiter", &self.limiter)
            .finish()
    }
}

impl<S, ReqBody, ResBody, R> Service<Request<ReqBody>> for ConcurrencyLimit<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body,
    R: Rejection<ResBody, S::Error>,
{
    type Response = Response<LoadShedBody<ResBody>>;
    type Error = R::Error;
    type Future = ResponseFuture<S::Future, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(R::error)
    }

    #[inline]
    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if !self.config.plain {
            return self.call_routed(req);
        }
        self.admit(Priority::Default, req)
    }
}

impl<S, R> ConcurrencyLimit<S, R> {
    /// Admits or refuses `req` as `priority`.
    #[inline]
    fn admit<ReqBody, ResBody>(
        &mut self,
        priority: Priority,
        req: Request<ReqBody>,
    ) -> ResponseFuture<S::Future, R>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        match self.limiter.try_acquire(priority) {
            Ok(permit) => ResponseFuture::inner(self.inner.call(req), Some(permit)),
            Err(overloaded) => ResponseFuture::rejected(overloaded, self.config.problem(priority)),
        }
    }

    /// A layer with bypass paths or a classifier: route `req` first (out of
    /// line, so that the plain path never takes the request's address).
    #[inline(never)]
    fn call_routed<ReqBody, ResBody>(
        &mut self,
        req: Request<ReqBody>,
    ) -> ResponseFuture<S::Future, R>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    {
        match self.config.route(&req) {
            Some(priority) => self.admit(priority, req),
            None => ResponseFuture::inner(self.inner.call(req), None),
        }
    }
}
