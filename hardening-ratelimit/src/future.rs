//! The response future of [`RateLimit`](crate::RateLimit).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::limiter::{Checks, Limiter, Verdict};
use crate::response::HeaderBlock;
use crate::store::RateLimitStore;
use crate::RateLimitBody;

pin_project! {
    /// Response future of [`RateLimit`](crate::RateLimit): the inner
    /// service's response with rate-limit headers added, or the layer's own
    /// `429` / `503`.
    pub struct ResponseFuture<S, ReqB, St>
    where
        S: Service<Request<ReqB>>,
        St: RateLimitStore,
    {
        #[pin]
        state: State<S, ReqB, St>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB, St>
    where
        S: Service<Request<ReqB>>,
        St: RateLimitStore,
    {
        Inner {
            #[pin]
            future: S::Future,
            headers: Option<Box<HeaderBlock>>,
        },
        Respond {
            response: Option<Box<Response<Bytes>>>,
        },
        Deciding {
            decision: Pin<Box<St::Future>>,
            pending: Option<Box<PendingCall<S, ReqB, St>>>,
        },
    }
}

/// What a decision that is still pending needs to finish the call.
pub(crate) struct PendingCall<S, ReqB, St> {
    pub(crate) request: Request<ReqB>,
    pub(crate) service: S,
    pub(crate) limiter: Arc<Limiter<St>>,
    pub(crate) checks: Checks,
}

impl<S, ReqB, St> ResponseFuture<S, ReqB, St>
where
    S: Service<Request<ReqB>>,
    St: RateLimitStore,
{
    pub(crate) fn inner(future: S::Future, headers: Option<Box<HeaderBlock>>) -> Self {
        Self {
            state: State::Inner { future, headers },
        }
    }

    pub(crate) fn respond(response: Box<Response<Bytes>>) -> Self {
        Self {
            state: State::Respond {
                response: Some(response),
            },
        }
    }

    pub(crate) fn deciding(decision: St::Future, pending: PendingCall<S, ReqB, St>) -> Self {
        Self {
            state: State::Deciding {
                decision: Box::pin(decision),
                pending: Some(Box::new(pending)),
            },
        }
    }
}

impl<S, ReqB, ResB, St> Future for ResponseFuture<S, ReqB, St>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    St: RateLimitStore,
{
    type Output = Result<Response<RateLimitBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Inner { future, headers } => {
                    let mut res = ready!(future.poll(cx))?.map(RateLimitBody::inner);
                    if let Some(headers) = headers.take() {
                        headers.apply(res.headers_mut());
                    }
                    return Poll::Ready(Ok(res));
                }
                StateProj::Respond { response } => {
                    let res = match response.take() {
                        Some(res) => *res,
                        None => polled_after_completion(),
                    };
                    return Poll::Ready(Ok(res.map(RateLimitBody::own)));
                }
                StateProj::Deciding { decision, pending } => {
                    let result = ready!(decision.as_mut().poll(cx));
                    let Some(call) = pending.take() else {
                        let res = polled_after_completion();
                        return Poll::Ready(Ok(res.map(RateLimitBody::own)));
                    };
                    let mut call = *call;
                    let next = match call.limiter.finish(&call.checks, result) {
                        Verdict::Admit(headers) => State::Inner {
                            future: call.service.call(call.request),
                            headers,
                        },
                        Verdict::Reject(response) => State::Respond {
                            response: Some(response),
                        },
                    };
                    state.set(next);
                }
            }
        }
    }
}

/// A future polled again after it completed is a caller bug; answer 500
/// rather than panic.
fn polled_after_completion() -> Response<Bytes> {
    let mut res = Response::new(Bytes::new());
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res
}
