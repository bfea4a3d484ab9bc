//! [`SecurityHeaders`]: the service the layer produces.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use hardening_core::Scheme;

use super::future::ResponseFuture;
use super::layer::Profiles;
use crate::nonce::CspNonce;

/// Adds security headers to the responses of `S`; made by
/// [`SecurityHeadersLayer`](crate::SecurityHeadersLayer).
///
/// # Clone
///
/// Clones the inner service; the precomputed headers are shared.
#[derive(Clone, Debug)]
pub struct SecurityHeaders<S> {
    inner: S,
    profiles: Arc<Profiles>,
}

impl<S> SecurityHeaders<S> {
    pub(crate) fn new(inner: S, profiles: Arc<Profiles>) -> Self {
        SecurityHeaders { inner, profiles }
    }

    hardening_core::define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityHeaders<S>
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
        let index = self.profiles.select(req.uri().path());
        let (https, nonce) = match self.profiles.sets.get(index) {
            Some(set) => {
                let https = set.needs_scheme && set.proxies.scheme(&req) == Scheme::Https;
                let nonce = set.nonce.then(|| {
                    let nonce = CspNonce::generate();
                    req.extensions_mut().insert(nonce);
                    nonce
                });
                (https, nonce)
            }
            None => (false, None),
        };
        ResponseFuture::new(
            self.inner.call(req),
            self.profiles.clone(),
            index,
            https,
            nonce,
        )
    }
}
