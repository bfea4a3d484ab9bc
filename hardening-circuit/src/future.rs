//! The response future of [`CircuitBreaker`](crate::CircuitBreaker) and
//! [`KeyedCircuitBreaker`](crate::KeyedCircuitBreaker).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use pin_project_lite::pin_project;

use crate::breaker::CallGuard;
use crate::classify::Classify;
use crate::error::CircuitOpen;
use crate::reject::Rejection;

pin_project! {
    /// The response future of a circuit-broken service: the inner future,
    /// whose result is classified and recorded when it finishes, or an
    /// immediate rejection.
    ///
    /// Dropping it before it finishes gives a half-open probe permit back.
    pub struct ResponseFuture<F, C, R> {
        #[pin]
        kind: Kind<F, C>,
        _rejection: PhantomData<fn() -> R>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, C> {
        Called {
            #[pin]
            future: F,
            guard: Option<CallGuard>,
            classify: C,
        },
        Rejected {
            open: CircuitOpen,
        },
    }
}

impl<F, C, R> ResponseFuture<F, C, R> {
    #[inline]
    pub(crate) fn called(future: F, guard: Option<CallGuard>, classify: C) -> Self {
        Self {
            kind: Kind::Called {
                future,
                guard,
                classify,
            },
            _rejection: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn rejected(open: CircuitOpen) -> Self {
        Self {
            kind: Kind::Rejected { open },
            _rejection: PhantomData,
        }
    }
}

impl<F, C, R, Res, E> Future for ResponseFuture<F, C, R>
where
    F: Future<Output = Result<Res, E>>,
    C: Classify<Res, E>,
    R: Rejection<Res, E>,
{
    type Output = Result<Res, R::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called {
                future,
                guard,
                classify,
            } => {
                let result = ready!(future.poll(cx));
                if let Some(guard) = guard {
                    guard.complete(classify.classify(&result));
                }
                Poll::Ready(result.map_err(R::error))
            }
            KindProj::Rejected { open } => Poll::Ready(R::rejected(*open)),
        }
    }
}

impl<F, C, R> fmt::Debug for ResponseFuture<F, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.kind {
            Kind::Called { .. } => "called",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
