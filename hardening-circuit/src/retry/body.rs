//! Request bodies that can be sent again: the [`ReplayableBody`] trait and
//! the [`ReplayBody`] buffer for streaming bodies.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use http::{HeaderMap, Request};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{Empty, Full};

use crate::BoxError;

/// A request body that can produce a copy of itself for another attempt.
///
/// The retry layer takes a copy of the request (method, URI, version,
/// headers, extensions and [`try_replay`](ReplayableBody::try_replay) of the
/// body) before each attempt that may be followed by another; a request whose
/// body gives `None` is sent once and never retried.
///
/// Implemented for [`Full`], [`Empty`], [`String`] and [`ReplayBody`] (which
/// makes any streaming body replayable up to a size limit). Implement it for
/// your own body types when a copy is cheap.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hardening_circuit::retry::ReplayableBody;
///
/// let body = Full::new(Bytes::from_static(b"{\"q\":1}"));
/// assert!(body.try_replay().is_some());
/// assert!(body.can_replay());
/// ```
pub trait ReplayableBody: Body + Sized {
    /// A body that yields the same frames again, or `None` if this one
    /// cannot be replayed.
    fn try_replay(&self) -> Option<Self>;

    /// Whether this copy can still be sent, checked after an earlier attempt
    /// has used a sibling copy. Default `true`; [`ReplayBody`] answers
    /// `false` once the earlier attempt read past its limit.
    fn can_replay(&self) -> bool {
        true
    }
}

impl<D: Buf + Clone> ReplayableBody for Full<D> {
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D: Buf> ReplayableBody for Empty<D> {
    fn try_replay(&self) -> Option<Self> {
        Some(Empty::new())
    }
}

impl ReplayableBody for String {
    fn try_replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// A copy of `req` for another attempt, if its body can be replayed.
#[inline]
pub(crate) fn copy_request<B: ReplayableBody>(req: &Request<B>) -> Option<Request<B>> {
    let body = req.body().try_replay()?;
    let mut copy = Request::new(body);
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    // `Request::new` filled the head with an empty `HeaderMap` and empty
    // `Extensions`; neither allocates (`HeaderMap::new` documents it,
    // `Extensions::new` is a `const fn`), so forgetting them leaks nothing
    // and skips their drop glue on this per-request path.
    std::mem::forget(std::mem::replace(copy.headers_mut(), req.headers().clone()));
    std::mem::forget(std::mem::replace(
        copy.extensions_mut(),
        req.extensions().clone(),
    ));
    Some(copy)
}

/// Makes a streaming body replayable by recording it, up to `limit` bytes,
/// while the first attempt sends it.
///
/// Nothing is read ahead: the first attempt streams the body as it comes and
/// the chunks it reads are kept (as cheap [`Bytes`] handles). A retry replays
/// the recorded chunks, then goes on reading the original stream where the
/// earlier attempt stopped. If the body grows past `limit`, the recording is
/// dropped and the body is streamed through intact — the request is sent
/// once, not retried, and no byte is lost. A body whose size hint already
/// exceeds the limit is never recorded.
///
/// Copies are meant to be read one after another, as retries are; a copy
/// polled while another still holds the stream waits until that one is
/// dropped or finished.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use bytes::Bytes;
/// use http_body_util::{BodyExt, Full};
/// use hardening_circuit::retry::{ReplayBody, ReplayableBody};
///
/// let body = ReplayBody::new(Full::new(Bytes::from_static(b"hello")), 1024);
/// let copy = body.try_replay().unwrap();
/// assert_eq!(body.collect().await.unwrap().to_bytes(), "hello");
/// assert!(copy.can_replay());
/// assert_eq!(copy.collect().await.unwrap().to_bytes(), "hello");
/// # }
/// ```
pub struct ReplayBody<B> {
    shared: Arc<Shared<B>>,
    /// The recording, while this copy is the one reading.
    held: Option<Recording<B>>,
    /// Recorded chunks this copy has already yielded.
    position: usize,
    trailers_sent: bool,
    done: bool,
}

struct Shared<B> {
    state: Mutex<SharedState<B>>,
    /// Set once the recording is incomplete for good (over the limit, or the
    /// source failed).
    unreplayable: AtomicBool,
    limit: usize,
    size_hint: SizeHint,
}

struct SharedState<B> {
    /// `None` while a copy holds it.
    recording: Option<Recording<B>>,
    waiting: Option<Waker>,
}

struct Recording<B> {
    /// The rest of the original stream; `None` once it ended or failed.
    source: Option<Pin<Box<B>>>,
    chunks: Vec<Bytes>,
    trailers: Option<HeaderMap>,
    recorded: usize,
    overflowed: bool,
    failed: bool,
}

impl<B: Body> ReplayBody<B> {
    /// Wraps `body`, recording up to `limit` bytes of it for replay.
    pub fn new(body: B, limit: usize) -> Self {
        let size_hint = body.size_hint();
        let too_big = size_hint.lower() > limit as u64;
        let recording = Recording {
            source: Some(Box::pin(body)),
            chunks: Vec::new(),
            trailers: None,
            recorded: 0,
            overflowed: too_big,
            failed: false,
        };
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(SharedState {
                    recording: Some(recording),
                    waiting: None,
                }),
                unreplayable: AtomicBool::new(too_big),
                limit,
                size_hint,
            }),
            held: None,
            position: 0,
            trailers_sent: false,
            done: false,
        }
    }

    /// The limit given to [`new`](ReplayBody::new).
    pub fn limit(&self) -> usize {
        self.shared.limit
    }
}

impl<B> Shared<B> {
    fn lock(&self) -> MutexGuard<'_, SharedState<B>> {
        // The lock is never held across user code that could panic, but stay
        // total anyway.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<B> ReplayBody<B> {
    fn release(&mut self) {
        if let Some(recording) = self.held.take() {
            let waker = {
                let mut state = self.shared.lock();
                state.recording = Some(recording);
                state.waiting.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<B> Drop for ReplayBody<B> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayBody")
            .field("limit", &self.shared.limit)
            .field(
                "replayable",
                &!self.shared.unreplayable.load(Ordering::Acquire),
            )
            .finish()
    }
}

/// Why a copy cannot be replayed.
#[derive(Debug)]
struct NotReplayable(&'static str);

impl fmt::Display for NotReplayable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request body cannot be replayed: {}", self.0)
    }
}

impl std::error::Error for NotReplayable {}

impl<B> Body for ReplayBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        // `ReplayBody` is `Unpin`: the source is boxed.
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.held.is_none() {
            let mut state = this.shared.lock();
            match state.recording.take() {
                Some(recording) => {
                    drop(state);
                    let fresh = this.position == 0 && !this.trailers_sent;
                    let started = recording.recorded > 0 || recording.source.is_none();
                    if fresh && started && (recording.overflowed || recording.failed) {
                        // Put it back: another copy may still need it.
                        this.held = Some(recording);
                        this.release();
                        this.done = true;
                        return Poll::Ready(Some(Err(Box::new(NotReplayable(
                            "an earlier attempt read past the replay limit or the body failed",
                        )))));
                    }
                    this.held = Some(recording);
                }
                None => {
                    state.waiting = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
        let Some(recording) = this.held.as_mut() else {
            return Poll::Pending;
        };

        // 1. Replay what earlier attempts recorded.
        if !recording.overflowed {
            if let Some(chunk) = recording.chunks.get(this.position) {
                this.position += 1;
                return Poll::Ready(Some(Ok(Frame::data(chunk.clone()))));
            }
        }

        // 2. Read on from the original stream, recording as we go.
        if let Some(source) = recording.source.as_mut() {
            let polled = source.as_mut().poll_frame(cx);
            let frame = match polled {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(frame) => frame,
            };
            match frame {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(mut data) => {
                        let bytes = data.copy_to_bytes(data.remaining());
                        if !recording.overflowed {
                            recording.recorded = recording.recorded.saturating_add(bytes.len());
                            if recording.recorded > this.shared.limit {
                                recording.overflowed = true;
                                recording.chunks = Vec::new();
                                this.shared.unreplayable.store(true, Ordering::Release);
                            } else {
                                recording.chunks.push(bytes.clone());
                                this.position = recording.chunks.len();
                            }
                        }
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            recording.trailers = Some(trailers.clone());
                            this.trailers_sent = true;
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        // A frame neither data nor trailers: nothing to pass on.
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                },
                Some(Err(err)) => {
                    recording.source = None;
                    recording.failed = true;
                    this.shared.unreplayable.store(true, Ordering::Release);
                    this.done = true;
                    this.release();
                    return Poll::Ready(Some(Err(err.into())));
                }
                None => {
                    recording.source = None;
                }
            }
        }

        // 3. The source is exhausted: trailers, then the end.
        if let Some(recording) = this.held.as_ref() {
            if recording.failed {
                this.done = true;
                this.release();
                return Poll::Ready(Some(Err(Box::new(NotReplayable(
                    "the original body failed",
                )))));
            }
            if !this.trailers_sent {
                if let Some(trailers) = recording.trailers.clone() {
                    this.trailers_sent = true;
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            }
        }
        this.done = true;
        this.release();
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.shared.size_hint.exact() == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        self.shared.size_hint
    }
}

impl<B> ReplayableBody for ReplayBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn try_replay(&self) -> Option<Self> {
        if self.shared.unreplayable.load(Ordering::Acquire) {
            return None;
        }
        Some(Self {
            shared: Arc::clone(&self.shared),
            held: None,
            position: 0,
            trailers_sent: false,
            done: false,
        })
    }

    fn can_replay(&self) -> bool {
        !self.shared.unreplayable.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::collections::VecDeque;
    use std::convert::Infallible;

    /// A streaming body of unknown length, yielding the given frames.
    pub(crate) struct Frames<E>(VecDeque<Result<Frame<Bytes>, E>>);

    impl<E: Unpin> Body for Frames<E> {
        type Data = Bytes;
        type Error = E;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
            Poll::Ready(self.get_mut().0.pop_front())
        }
    }

    fn stream(chunks: &[&'static str]) -> Frames<Infallible> {
        Frames(
            chunks
                .iter()
                .map(|c| Ok(Frame::data(Bytes::from_static(c.as_bytes()))))
                .collect(),
        )
    }

    #[tokio::test]
    async fn replays_a_stream_within_the_limit() {
        let body = ReplayBody::new(stream(&["ab", "cd", "ef"]), 6);
        let copy = body.try_replay().unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abcdef");
        assert!(copy.can_replay());
        let third = copy.try_replay().unwrap();
        assert_eq!(copy.collect().await.unwrap().to_bytes(), "abcdef");
        assert_eq!(third.collect().await.unwrap().to_bytes(), "abcdef");
    }

    #[tokio::test]
    async fn over_the_limit_streams_through_intact_but_cannot_replay() {
        let body = ReplayBody::new(stream(&["abc", "def", "ghi"]), 5);
        let copy = body.try_replay().unwrap();
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abcdefghi");
        assert!(!copy.can_replay());
        assert!(copy.try_replay().is_none());
        // Polling it anyway is an error, never a wrong body.
        assert!(copy.collect().await.is_err());
    }

    #[tokio::test]
    async fn a_known_size_over_the_limit_is_never_recorded() {
        let body = ReplayBody::new(Full::new(Bytes::from_static(b"0123456789")), 4);
        assert!(!body.can_replay());
        assert!(body.try_replay().is_none());
        assert_eq!(body.size_hint().exact(), Some(10));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "0123456789");
    }

    #[tokio::test]
    async fn a_retry_continues_where_a_partial_attempt_stopped() {
        let mut first = ReplayBody::new(stream(&["a", "b", "c", "d"]), 100);
        let second = first.try_replay().unwrap();
        // The first attempt reads two chunks, then fails and is dropped.
        let f1 = first.frame().await.unwrap().unwrap().into_data().unwrap();
        let f2 = first.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!((&f1[..], &f2[..]), (&b"a"[..], &b"b"[..]));
        drop(first);
        assert_eq!(second.collect().await.unwrap().to_bytes(), "abcd");
    }

    #[tokio::test]
    async fn a_copy_waits_for_the_holder_to_finish() {
        let mut first = ReplayBody::new(stream(&["x", "y"]), 100);
        let second = first.try_replay().unwrap();
        let _ = first.frame().await.unwrap().unwrap();
        let waiter = tokio::spawn(async move { second.collect().await.unwrap().to_bytes() });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(first);
        assert_eq!(waiter.await.unwrap(), "xy");
    }

    #[tokio::test]
    async fn trailers_are_replayed() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "42".parse().unwrap());
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"data"))),
            Ok(Frame::trailers(trailers.clone())),
        ];
        let body = ReplayBody::new(Frames(frames.into()), 100);
        let copy = body.try_replay().unwrap();
        let first = body.collect().await.unwrap();
        assert_eq!(first.trailers(), Some(&trailers));
        let second = copy.collect().await.unwrap();
        assert_eq!(second.trailers(), Some(&trailers));
        assert_eq!(second.to_bytes(), "data");
    }

    #[tokio::test]
    async fn a_failing_source_is_not_replayed() {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"part"))),
            Err(std::io::Error::other("client went away")),
        ];
        let body = ReplayBody::new(Frames(frames.into()), 100);
        let copy = body.try_replay().unwrap();
        let err = body.collect().await.unwrap_err();
        assert!(err.to_string().contains("client went away"));
        assert!(!copy.can_replay());
    }

    #[test]
    fn simple_bodies_copy_themselves() {
        assert!(Full::new(Bytes::from_static(b"x")).try_replay().is_some());
        assert!(Empty::<Bytes>::new().try_replay().is_some());
        assert_eq!(String::from("s").try_replay().as_deref(), Some("s"));
    }

    #[test]
    fn copy_request_keeps_the_head_and_extensions() {
        #[derive(Clone, Debug, PartialEq)]
        struct Tag(u8);
        let mut req = Request::builder()
            .method("PUT")
            .uri("http://example.com/a?b=c")
            .version(http::Version::HTTP_2)
            .header("x-one", "1")
            .body(String::from("payload"))
            .unwrap();
        req.extensions_mut().insert(Tag(7));
        let copy = copy_request(&req).unwrap();
        assert_eq!(copy.method(), req.method());
        assert_eq!(copy.uri(), req.uri());
        assert_eq!(copy.version(), req.version());
        assert_eq!(copy.headers(), req.headers());
        assert_eq!(copy.extensions().get::<Tag>(), Some(&Tag(7)));
        assert_eq!(copy.body(), "payload");
    }
}
