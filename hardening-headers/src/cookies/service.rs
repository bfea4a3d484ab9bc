//! [`SecureCookies`]: the service, and its response future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use hardening_core::Scheme;
use http::header::{Entry, SET_COOKIE};
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::layer::Shared;

/// Rewrites the `Set-Cookie` headers of the inner service's responses; made
/// by [`SecureCookiesLayer`](super::SecureCookiesLayer).
///
/// # Clone
///
/// Clones the inner service; the configuration is shared.
#[derive(Clone, Debug)]
pub struct SecureCookies<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> SecureCookies<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        SecureCookies { inner, shared }
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecureCookies<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let https = self.shared.proxies.scheme(&req) == Scheme::Https;
        ResponseFuture {
            future: self.inner.call(req),
            shared: self.shared.clone(),
            https,
        }
    }
}

pin_project! {
    /// The inner service's response, with its cookies hardened.
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        shared: Arc<Shared>,
        https: bool,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.future.poll(cx))?;
        harden(response.headers_mut(), this.shared, *this.https);
        Poll::Ready(Ok(response))
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

/// Rewrites every `Set-Cookie` value in place.
pub(crate) fn harden(headers: &mut http::HeaderMap, shared: &Shared, https: bool) {
    if let Entry::Occupied(mut entry) = headers.entry(SET_COOKIE) {
        for value in entry.iter_mut() {
            if let Some(rewritten) = shared.policy.rewrite(value.as_bytes(), https) {
                // Only visible ASCII was added and nothing was split, so the
                // bytes stay a valid value; if not, keep the original.
                if let Ok(new) = HeaderValue::from_bytes(&rewritten) {
                    let sensitive = value.is_sensitive();
                    *value = new;
                    value.set_sensitive(sensitive);
                }
            }
        }
    }
}
