//! [`ResponseBody`]: the response body, measured until it ends.

use std::pin::Pin;
use std::task::{Context, Poll};

use hardening_core::body::{BodyGuard, GuardedBody};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::instruments::Exchange;

pin_project! {
    /// The body of a response that passed through
    /// [`HttpMetrics`](super::HttpMetrics).
    ///
    /// It counts the bytes sent and records the request when the body ends,
    /// fails, or is dropped (a client that went away): the duration covers
    /// the whole response, not just its headers.
    #[derive(Debug)]
    pub struct ResponseBody<B> {
        #[pin]
        inner: GuardedBody<B, Exchange>,
    }
}

impl BodyGuard for Exchange {
    #[inline]
    fn on_data(&mut self, len: usize) {
        self.sent(len);
    }

    fn on_error(&mut self) {
        self.body_failed();
    }
}

impl<B: Body> ResponseBody<B> {
    pub(crate) fn new(inner: B, exchange: Option<Exchange>) -> Self {
        let inner = match exchange {
            Some(exchange) => GuardedBody::new(inner, exchange),
            None => GuardedBody::unguarded(inner),
        };
        Self { inner }
    }
}

impl<B> ResponseBody<B> {
    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        self.inner.get_ref()
    }

    /// The wrapped body, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        self.inner.get_mut()
    }

    /// Unwraps the body. The request is recorded now.
    pub fn into_inner(self) -> B {
        self.inner.into_inner()
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
