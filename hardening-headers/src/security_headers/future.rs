//! The response future of [`SecurityHeaders`](super::SecurityHeaders).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use super::layer::Profiles;
use crate::nonce::CspNonce;

pin_project! {
    /// Resolves to the inner service's response with the security headers
    /// added.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        profiles: Arc<Profiles>,
        index: usize,
        https: bool,
        nonce: Option<CspNonce>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(
        inner: F,
        profiles: Arc<Profiles>,
        index: usize,
        https: bool,
        nonce: Option<CspNonce>,
    ) -> Self {
        ResponseFuture {
            inner,
            profiles,
            index,
            https,
            nonce,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(set) = this.profiles.sets.get(*this.index) {
            set.apply(response.headers_mut(), *this.https, this.nonce.as_ref());
        }
        Poll::Ready(Ok(response))
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("https", &self.https)
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}
