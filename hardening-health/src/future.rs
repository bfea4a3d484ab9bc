//! Response futures.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use crate::answer::Answer;
use crate::body::HealthBody;

pin_project! {
    /// Response future of [`HealthEndpoints`](crate::HealthEndpoints).
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F },
        Health { answer: Answer },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F) -> Self {
        Self {
            kind: Kind::Inner { future },
        }
    }

    pub(crate) fn health(answer: Answer) -> Self {
        Self {
            kind: Kind::Health { answer },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: From<Bytes>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Health { answer } => {
                let response = ready!(Pin::new(answer).poll(cx));
                Poll::Ready(Ok(response.map(|body| B::from(body.into_bytes()))))
            }
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

/// Response future of [`HealthService`](crate::HealthService).
pub struct HealthFuture {
    answer: Answer,
}

impl HealthFuture {
    pub(crate) fn new(answer: Answer) -> Self {
        Self { answer }
    }
}

impl Future for HealthFuture {
    type Output = Result<Response<HealthBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.answer).poll(cx).map(Ok)
    }
}

impl std::fmt::Debug for HealthFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthFuture").finish_non_exhaustive()
    }
}
