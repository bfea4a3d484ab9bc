//! The response future of [`HttpsRedirect`](super::HttpsRedirect).

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::{Entry, STRICT_TRANSPORT_SECURITY};
use http::{HeaderValue, Response};
use pin_project_lite::pin_project;

pin_project! {
    /// The inner service's response (with HSTS added for HTTPS requests), or
    /// the redirect / 400 decided up front.
    pub struct ResponseFuture<F, B> {
        #[pin]
        kind: Kind<F, B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B> {
        Inner {
            #[pin]
            future: F,
            hsts: Option<HeaderValue>,
        },
        Ready {
            response: Option<Response<B>>,
        },
    }
}

impl<F, B> ResponseFuture<F, B> {
    pub(crate) fn inner(future: F, hsts: Option<HeaderValue>) -> Self {
        ResponseFuture {
            kind: Kind::Inner { future, hsts },
        }
    }

    pub(crate) fn ready(response: Response<B>) -> Self {
        ResponseFuture {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future, hsts } => {
                let mut response = ready!(future.poll(cx))?;
                if let Some(hsts) = hsts.take() {
                    if let Ok(Entry::Vacant(slot)) =
                        response.headers_mut().try_entry(STRICT_TRANSPORT_SECURITY)
                    {
                        let _ = slot.try_insert(hsts);
                    }
                }
                Poll::Ready(Ok(response))
            }
            KindProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // polled after completion: stay pending rather than panic
                None => Poll::Pending,
            },
        }
    }
}

impl<F, B> std::fmt::Debug for ResponseFuture<F, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
