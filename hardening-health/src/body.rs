//! Response bodies.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The body of a health response: one chunk of JSON (empty for `HEAD` and
/// `405`).
#[derive(Clone, Debug, Default)]
pub struct HealthBody {
    data: Option<Bytes>,
}

impl HealthBody {
    pub(crate) fn new(data: Bytes) -> Self {
        Self {
            data: (!data.is_empty()).then_some(data),
        }
    }

    pub(crate) fn empty() -> Self {
        Self { data: None }
    }

    /// The whole body.
    pub fn into_bytes(self) -> Bytes {
        self.data.unwrap_or_default()
    }
}

impl Body for HealthBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.data.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
