//! The response body: the inner body holding the request's permit until it
//! ends or is dropped, or the limiter's own problem document.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::limiter::Permit;

pin_project! {
    /// The body of a [`ConcurrencyLimit`](crate::ConcurrencyLimit) response.
    ///
    /// Wraps the inner body and keeps the request counted in flight until
    /// the body has been read to its end (or failed) or is dropped: a
    /// response whose headers went out while the body still streams still
    /// holds its slot. Or: the `application/problem+json` document of a
    /// refusal.
    pub struct LoadShedBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B, permit: Option<Permit> },
        Own { data: Option<Bytes> },
    }
}

impl<B: Body> LoadShedBody<B> {
    pub(crate) fn inner(body: B, permit: Option<Permit>) -> Self {
        // An empty body ends before anyone polls it.
        let permit = permit.filter(|_| !body.is_end_stream());
        Self {
            kind: Kind::Inner { body, permit },
        }
    }
}

impl<B> LoadShedBody<B> {
    pub(crate) fn own(data: Bytes) -> Self {
        Self {
            kind: Kind::Own {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// Whether this body still holds a slot of the limit.
    pub fn holds_permit(&self) -> bool {
        matches!(
            &self.kind,
            Kind::Inner {
                permit: Some(_),
                ..
            }
        )
    }
}

impl<B> std::fmt::Debug for LoadShedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Inner { permit, .. } => f
                .debug_struct("LoadShedBody::Inner")
                .field("permit", permit)
                .finish(),
            Kind::Own { data } => f.debug_tuple("LoadShedBody::Own").field(data).finish(),
        }
    }
}

impl<B> Body for LoadShedBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { mut body, permit } => {
                let polled = body.as_mut().poll_frame(cx);
                match &polled {
                    Poll::Ready(None) | Poll::Ready(Some(Err(_))) => *permit = None,
                    Poll::Ready(Some(Ok(_))) if body.is_end_stream() => *permit = None,
                    _ => {}
                }
                polled
            }
            KindProj::Own { data } => {
                Poll::Ready(data.take().map(|d| Ok(Frame::data(B::Data::from(d)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body, .. } => body.is_end_stream(),
            Kind::Own { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body, .. } => body.size_hint(),
            Kind::Own { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}
