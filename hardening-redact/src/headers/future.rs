use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::HeaderName;
use http::Response;
use pin_project_lite::pin_project;

use super::mark;

pin_project! {
    /// Response future of [`SensitiveHeaders`](super::SensitiveHeaders):
    /// marks the response headers when the inner future completes.
    pub struct ResponseFuture<F> {
        #[pin]
        pub(crate) inner: F,
        pub(crate) names: Arc<[HeaderName]>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut resp = ready!(this.inner.poll(cx))?;
        mark(resp.headers_mut(), this.names);
        Poll::Ready(Ok(resp))
    }
}
