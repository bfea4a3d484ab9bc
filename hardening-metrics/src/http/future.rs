//! The response future of [`HttpMetrics`](super::HttpMetrics).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

use super::body::ResponseBody;
use super::instruments::Exchange;

pin_project! {
    /// The inner service's future; its response gets a measured
    /// [`ResponseBody`], its error is recorded with `error_type`.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        exchange: Option<Exchange>,
    }
}

impl<F> ResponseFuture<F> {
    #[inline]
    pub(crate) fn new(inner: F, exchange: Exchange) -> Self {
        Self {
            inner,
            exchange: Some(exchange),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // `None` only if polled again after completion (a caller bug):
        // nothing is recorded twice.
        let mut exchange = this.exchange.take();
        Poll::Ready(match result {
            Ok(response) => {
                if let Some(exchange) = exchange.as_mut() {
                    exchange.responded(response.status());
                }
                Ok(response.map(|body| ResponseBody::new(body, exchange)))
            }
            Err(err) => {
                if let Some(exchange) = exchange.as_mut() {
                    exchange.failed::<E>();
                }
                Err(err)
            }
        })
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
