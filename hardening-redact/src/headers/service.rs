use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::HeaderName;
use http::{Request, Response};
use tower_service::Service;

use super::{mark, ResponseFuture};

/// Marks credential headers sensitive on the request and on the response.
/// Made by [`SensitiveHeadersLayer`](super::SensitiveHeadersLayer).
///
/// # Clone
///
/// Clones clone the inner service and share the header list.
#[derive(Debug, Clone)]
pub struct SensitiveHeaders<S> {
    pub(crate) inner: S,
    pub(crate) names: Arc<[HeaderName]>,
}

impl<S> SensitiveHeaders<S> {
    hardening_core::define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SensitiveHeaders<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        mark(req.headers_mut(), &self.names);
        ResponseFuture {
            inner: self.inner.call(req),
            names: self.names.clone(),
        }
    }
}
