//! [`ResponseBody`]: the response body, measured until it ends.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Buf;
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
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        exchange: Option<Exchange>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, exchange: Option<Exchange>) -> Self {
        Self { inner, exchange }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The wrapped body, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// Unwraps the body. The request is recorded now.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(exchange)) = (frame.data_ref(), this.exchange.as_mut()) {
                    exchange.sent(data.remaining());
                }
                // Servers stop polling once the body says it has ended.
                if this.inner.is_end_stream() {
                    this.exchange.take();
                }
            }
            Some(Err(_)) => {
                if let Some(mut exchange) = this.exchange.take() {
                    exchange.body_failed();
                }
            }
            None => {
                this.exchange.take();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody")
            .field("ended", &self.exchange.is_none())
            .finish_non_exhaustive()
    }
}
