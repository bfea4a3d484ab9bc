//! The response future: polls the inner future holding the permit, records
//! the sample, and moves the permit into the body.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::LoadShedBody;
use crate::error::Overloaded;
use crate::limiter::{Outcome, Permit};
use crate::reject::Rejection;

pin_project! {
    /// The future of a [`ConcurrencyLimit`](crate::ConcurrencyLimit) call.
    ///
    /// Dropping it before it completes (a cancelled request) releases the
    /// request's slot.
    pub struct ResponseFuture<F, R> {
        #[pin]
        kind: Kind<F>,
        _rejection: PhantomData<fn() -> R>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner { #[pin] future: F, permit: Option<Permit> },
        Rejected { overloaded: Overloaded, problem: Bytes },
    }
}

impl<F, R> ResponseFuture<F, R> {
    pub(crate) fn inner(future: F, permit: Option<Permit>) -> Self {
        Self {
            kind: Kind::Inner { future, permit },
            _rejection: PhantomData,
        }
    }

    pub(crate) fn rejected(overloaded: Overloaded, problem: Bytes) -> Self {
        Self {
            kind: Kind::Rejected {
                overloaded,
                problem,
            },
            _rejection: PhantomData,
        }
    }
}

impl<F, R> std::fmt::Debug for ResponseFuture<F, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Inner { permit, .. } => f
                .debug_struct("ResponseFuture::Inner")
                .field("permit", permit)
                .finish(),
            Kind::Rejected { overloaded, .. } => f
                .debug_tuple("ResponseFuture::Rejected")
                .field(overloaded)
                .finish(),
        }
    }
}

/// Whether an answer says the inner service is overloaded.
fn outcome_of(status: StatusCode) -> Outcome {
    match status {
        StatusCode::TOO_MANY_REQUESTS
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Outcome::Dropped,
        _ => Outcome::Success,
    }
}

impl<F, B, E, R> Future for ResponseFuture<F, R>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
    R: Rejection<B, E>,
{
    type Output = Result<Response<LoadShedBody<B>>, R::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, permit } => match ready!(future.poll(cx)) {
                Ok(resp) => {
                    let mut permit = permit.take();
                    if let Some(p) = permit.as_mut() {
                        p.record(outcome_of(resp.status()));
                    }
                    Poll::Ready(Ok(resp.map(|body| crate::body::inner(body, permit))))
                }
                Err(err) => {
                    if let Some(mut p) = permit.take() {
                        p.record(Outcome::Dropped);
                    }
                    Poll::Ready(Err(R::error(err)))
                }
            },
            KindProj::Rejected {
                overloaded,
                problem,
            } => Poll::Ready(R::rejected(*overloaded, problem)),
        }
    }
}
