//! [`HttpMetrics`]: the service the layer produces.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::body::ResponseBody;
use super::future::ResponseFuture;
use super::instruments::{Exchange, HttpInstruments};
use super::method::MethodLabel;
use super::route::ClassifyRoute;

/// Records HTTP server metrics for `S`; made by
/// [`HttpMetricsLayer`](super::HttpMetricsLayer).
///
/// # Clone
///
/// Clones the inner service; the metric families, the route table and the
/// classifier are shared.
#[derive(Debug)]
pub struct HttpMetrics<S, R> {
    inner: S,
    instruments: Arc<HttpInstruments>,
    classify: Arc<R>,
}

impl<S: Clone, R> Clone for HttpMetrics<S, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            instruments: self.instruments.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl<S, R> HttpMetrics<S, R> {
    pub(crate) fn new(inner: S, instruments: Arc<HttpInstruments>, classify: Arc<R>) -> Self {
        Self {
            inner,
            instruments,
            classify,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for HttpMetrics<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: ClassifyRoute<ReqBody>,
    ReqBody: Body,
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let method = MethodLabel::of(req.method());
        let route = self.instruments.routes.label(self.classify.classify(&req));
        let request_size = if self.instruments.body_sizes() {
            req.body().size_hint().exact()
        } else {
            None
        };
        let exchange = Exchange::start(self.instruments.clone(), method, route, request_size);
        ResponseFuture::new(self.inner.call(req), exchange)
    }
}
