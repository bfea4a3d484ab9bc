//! Response bodies for middleware that answers some requests itself and
//! keeps state alive until the inner service's body has been sent.
//!
//! - [`ResponseBody`]: the inner service's body, or a document the layer
//!   wrote itself (a `429`/`503` problem+json). Its `Data` is the inner
//!   body's, so the layer's `Response` type stays `Response<ResponseBody<B>>`
//!   whichever branch answered.
//! - [`GuardedBody`]: just the inner body with its guard, for layers that
//!   never answer themselves.
//! - [`BodyGuard`]: state carried by the inner branch until the body ends,
//!   fails or is dropped (a client that went away). A concurrency permit is
//!   released, a request is recorded: at the *end of the body*, not when the
//!   headers go out.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! use bytes::Bytes;
//! use hardening_core::body::{BodyGuard, ResponseBody};
//! use http_body_util::{BodyExt, Full};
//!
//! struct InFlight(Arc<AtomicUsize>);
//! impl BodyGuard for InFlight {}
//! impl Drop for InFlight {
//!     fn drop(&mut self) {
//!         self.0.fetch_sub(1, Ordering::Relaxed);
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let in_flight = Arc::new(AtomicUsize::new(1));
//! let body = ResponseBody::guarded(
//!     Full::new(Bytes::from_static(b"hello")),
//!     InFlight(in_flight.clone()),
//! );
//! assert!(body.holds_guard());
//! let bytes = body.collect().await.unwrap().to_bytes();
//! assert_eq!(bytes, "hello");
//! assert_eq!(in_flight.load(Ordering::Relaxed), 0);
//! # });
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

/// State a [`ResponseBody`] holds until the inner body ends.
///
/// The guard is dropped exactly once: after the last frame, after an error,
/// or when the body itself is dropped unfinished. Put the release in
/// `Drop`; the two hooks observe the stream on the way (both default to
/// nothing). `()` is the guard of a body that holds nothing.
pub trait BodyGuard {
    /// A data frame of `len` bytes is passing.
    fn on_data(&mut self, len: usize) {
        let _ = len;
    }

    /// The inner body failed; the guard is dropped right after.
    fn on_error(&mut self) {}
}

impl BodyGuard for () {}

pin_project! {
    /// The inner service's body, holding a [`BodyGuard`] until it ends,
    /// fails or is dropped.
    pub struct GuardedBody<B, G> {
        #[pin]
        body: B,
        guard: Option<G>,
    }
}

impl<B: Body, G> GuardedBody<B, G> {
    /// `body`, holding `guard` until it ends. A body that has already ended
    /// drops the guard at once: servers never poll it.
    pub fn new(body: B, guard: G) -> Self {
        let guard = (!body.is_end_stream()).then_some(guard);
        Self { body, guard }
    }
}

impl<B, G> GuardedBody<B, G> {
    /// `body`, holding nothing.
    pub fn unguarded(body: B) -> Self {
        Self { body, guard: None }
    }

    /// Whether the guard is still held (the body has not ended).
    pub fn holds_guard(&self) -> bool {
        self.guard.is_some()
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.body
    }

    /// The wrapped body, mutably.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.body
    }

    /// Unwraps the body; the guard is dropped now.
    pub fn into_inner(self) -> B {
        self.body
    }
}

impl<B, G> fmt::Debug for GuardedBody<B, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedBody")
            .field("holds_guard", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

impl<B, G> Body for GuardedBody<B, G>
where
    B: Body,
    G: BodyGuard,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.body.as_mut().poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(g)) = (frame.data_ref(), this.guard.as_mut()) {
                    g.on_data(data.remaining());
                }
                // Servers stop polling once the body says it ended.
                if this.body.is_end_stream() {
                    this.guard.take();
                }
            }
            Some(Err(_)) => {
                if let Some(mut g) = this.guard.take() {
                    g.on_error();
                }
            }
            None => {
                this.guard.take();
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

pin_project! {
    /// The body of a response that passed through a hardening layer: the
    /// inner service's body (with an optional [`BodyGuard`]), or the
    /// layer's own document.
    pub struct ResponseBody<B, G = ()> {
        #[pin]
        kind: Kind<B, G>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B, G> {
        Inner { #[pin] body: GuardedBody<B, G> },
        Own { data: Option<Bytes> },
    }
}

impl<B, G> ResponseBody<B, G> {
    /// The inner service's body, holding nothing.
    pub fn inner(body: B) -> Self {
        Self {
            kind: Kind::Inner {
                body: GuardedBody::unguarded(body),
            },
        }
    }

    /// A document the layer answers with itself (empty for no body).
    pub fn own(data: Bytes) -> Self {
        Self {
            kind: Kind::Own {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    /// Whether the guard is still held (the inner body has not ended).
    pub fn holds_guard(&self) -> bool {
        matches!(&self.kind, Kind::Inner { body } if body.holds_guard())
    }

    /// Whether this is the layer's own document rather than the inner body.
    pub fn is_own(&self) -> bool {
        matches!(&self.kind, Kind::Own { .. })
    }
}

impl<B: Body, G> ResponseBody<B, G> {
    /// The inner service's body, holding `guard` until it ends (see
    /// [`GuardedBody::new`]).
    pub fn guarded(body: B, guard: G) -> Self {
        Self {
            kind: Kind::Inner {
                body: GuardedBody::new(body, guard),
            },
        }
    }
}

impl<B, G> fmt::Debug for ResponseBody<B, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner { body } => f.debug_tuple("ResponseBody::Inner").field(body).finish(),
            Kind::Own { data } => f.debug_tuple("ResponseBody::Own").field(data).finish(),
        }
    }
}

impl<B, G> Body for ResponseBody<B, G>
where
    B: Body,
    B::Data: From<Bytes>,
    G: BodyGuard,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Own { data } => {
                Poll::Ready(data.take().map(|d| Ok(Frame::data(B::Data::from(d)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Own { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Own { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    #[derive(Default)]
    struct Log(Arc<Mutex<Vec<String>>>);
    impl BodyGuard for Log {
        fn on_data(&mut self, len: usize) {
            self.0.lock().unwrap().push(format!("data {len}"));
        }
        fn on_error(&mut self) {
            self.0.lock().unwrap().push("error".into());
        }
    }
    impl Drop for Log {
        fn drop(&mut self) {
            self.0.lock().unwrap().push("drop".into());
        }
    }

    fn log() -> (Log, Arc<Mutex<Vec<String>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        (Log(events.clone()), events)
    }

    fn stream(
        frames: Vec<Result<&'static str, &'static str>>,
    ) -> impl Body<Data = Bytes, Error = &'static str> {
        StreamBody::new(futures_util::stream::iter(
            frames
                .into_iter()
                .map(|f| f.map(|s| Frame::data(Bytes::from_static(s.as_bytes())))),
        ))
    }

    #[tokio::test]
    async fn guard_sees_every_frame_and_drops_at_the_end() {
        let (guard, events) = log();
        let body = ResponseBody::guarded(stream(vec![Ok("ab"), Ok("cde")]), guard);
        assert!(body.holds_guard());
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(bytes, "abcde");
        assert_eq!(*events.lock().unwrap(), ["data 2", "data 3", "drop"]);
    }

    #[tokio::test]
    async fn guard_drops_when_the_body_ends_with_its_last_frame() {
        let (guard, events) = log();
        let mut body = ResponseBody::guarded(Full::new(Bytes::from_static(b"x")), guard);
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "x");
        // Full says it ended after its one frame: no further poll needed.
        assert!(!body.holds_guard());
        assert_eq!(*events.lock().unwrap(), ["data 1", "drop"]);
    }

    #[tokio::test]
    async fn an_error_is_reported_then_the_guard_dropped() {
        let (guard, events) = log();
        let body = ResponseBody::guarded(stream(vec![Ok("a"), Err("reset")]), guard);
        assert_eq!(body.collect().await.unwrap_err(), "reset");
        assert_eq!(*events.lock().unwrap(), ["data 1", "error", "drop"]);
    }

    #[test]
    fn dropping_an_unfinished_body_drops_the_guard() {
        let (guard, events) = log();
        let body = ResponseBody::guarded(stream(vec![Ok("a")]), guard);
        drop(body);
        assert_eq!(*events.lock().unwrap(), ["drop"]);
    }

    #[test]
    fn an_empty_body_never_holds_the_guard() {
        let (guard, events) = log();
        let body = ResponseBody::guarded(http_body_util::Empty::<Bytes>::new(), guard);
        assert!(!body.holds_guard());
        assert_eq!(*events.lock().unwrap(), ["drop"]);
    }

    #[tokio::test]
    async fn own_documents_are_sent_once_with_an_exact_size() {
        let body: ResponseBody<Full<Bytes>> = ResponseBody::own(Bytes::from_static(b"{}"));
        assert!(body.is_own());
        assert_eq!(body.size_hint().exact(), Some(2));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "{}");
        let empty: ResponseBody<Full<Bytes>> = ResponseBody::own(Bytes::new());
        assert!(empty.is_end_stream());
    }
}
