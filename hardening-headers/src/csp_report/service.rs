//! [`CspReport`]: the service, and its response future, which reads the
//! report body up to the limit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::layer::Config;
use super::parse::{self, ReportFormat};

/// Answers violation reports at the configured path and passes every other
/// request to the inner service; made by
/// [`CspReportLayer`](super::CspReportLayer).
///
/// Reports are answered with empty bodies (`ResBody::default()`): `204` when
/// logged, `400` for a malformed body, `405` for a method other than `POST`,
/// `413` for a body over the limit, `415` for another content type.
///
/// # Clone
///
/// Clones the inner service; the configuration is shared.
#[derive(Clone, Debug)]
pub struct CspReport<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> CspReport<S> {
    pub(crate) fn new(inner: S, config: Arc<Config>) -> Self {
        CspReport { inner, config }
    }

    hardening_core::define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CspReport<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ReqBody: Body,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        if req.uri().path() != &*self.config.path {
            return ResponseFuture {
                kind: Kind::Inner {
                    future: self.inner.call(req),
                },
            };
        }
        if req.method() != Method::POST {
            let mut res = empty(StatusCode::METHOD_NOT_ALLOWED);
            res.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return ResponseFuture::ready(res);
        }
        let Some(format) = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| ReportFormat::from_content_type(v.as_bytes()))
        else {
            return ResponseFuture::ready(empty(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        };
        let max = self.config.max_body;
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return ResponseFuture::ready(empty(StatusCode::PAYLOAD_TOO_LARGE));
        }
        ResponseFuture {
            kind: Kind::Collect {
                body: req.into_body(),
                buf: Collected::Empty,
                format,
                max,
            },
        }
    }
}

fn empty<B: Default>(status: StatusCode) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = status;
    res
}

pin_project! {
    /// The inner service's response, or the answer to a report.
    pub struct ResponseFuture<F, ReqBody, ResBody> {
        #[pin]
        kind: Kind<F, ReqBody, ResBody>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, ReqBody, ResBody> {
        Inner {
            #[pin]
            future: F,
        },
        Collect {
            #[pin]
            body: ReqBody,
            buf: Collected,
            format: ReportFormat,
            max: usize,
        },
        Ready {
            response: Option<Response<ResBody>>,
        },
    }
}

impl<F, ReqBody, ResBody> ResponseFuture<F, ReqBody, ResBody> {
    fn ready(response: Response<ResBody>) -> Self {
        ResponseFuture {
            kind: Kind::Ready {
                response: Some(response),
            },
        }
    }
}

impl<F, ReqBody, ResBody, E> Future for ResponseFuture<F, ReqBody, ResBody>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ReqBody: Body,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // polled after completion: stay pending rather than panic
                None => Poll::Pending,
            },
            KindProj::Collect {
                mut body,
                buf,
                format,
                max,
            } => loop {
                match ready!(body.as_mut().poll_frame(cx)) {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            if buf.len() + data.remaining() > *max {
                                return Poll::Ready(Ok(empty(StatusCode::PAYLOAD_TOO_LARGE)));
                            }
                            buf.push(data);
                        }
                    }
                    Some(Err(_)) => {
                        return Poll::Ready(Ok(empty(StatusCode::BAD_REQUEST)));
                    }
                    None => {
                        return Poll::Ready(Ok(empty(receive(*format, buf.as_slice()))));
                    }
                }
            },
        }
    }
}

/// The body read so far: the first chunk as it came (a `Bytes` frame is
/// kept without a copy, and a small report is one frame), copied into one
/// buffer only when a second chunk arrives.
enum Collected {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Collected {
    fn len(&self) -> usize {
        match self {
            Collected::Empty => 0,
            Collected::One(b) => b.len(),
            Collected::Many(b) => b.len(),
        }
    }

    fn push(&mut self, mut data: impl Buf) {
        if !data.has_remaining() {
            return;
        }
        match self {
            // zero-copy for `Bytes` (and hyper's frames)
            Collected::Empty => *self = Collected::One(data.copy_to_bytes(data.remaining())),
            Collected::One(first) => {
                let mut buf = BytesMut::with_capacity((first.len() + data.remaining()) * 2);
                buf.extend_from_slice(first);
                extend(&mut buf, data);
                *self = Collected::Many(buf);
            }
            Collected::Many(buf) => extend(buf, data),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Collected::Empty => &[],
            Collected::One(b) => b,
            Collected::Many(b) => b,
        }
    }
}

fn extend(buf: &mut BytesMut, mut data: impl Buf) {
    while data.has_remaining() {
        let chunk = data.chunk();
        let n = chunk.len();
        buf.extend_from_slice(chunk);
        data.advance(n);
    }
}

/// Parses and logs a complete body; the status to answer.
fn receive(format: ReportFormat, body: &[u8]) -> StatusCode {
    match parse::parse(format, body) {
        Ok(violations) => {
            for v in violations.as_slice() {
                super::log(v);
            }
            StatusCode::NO_CONTENT
        }
        Err(reason) => {
            // the reason and size only: never the body, which is client bytes
            tracing::debug!(%reason, bytes = body.len(), "malformed csp report refused");
            StatusCode::BAD_REQUEST
        }
    }
}

impl<F, ReqBody, ResBody> std::fmt::Debug for ResponseFuture<F, ReqBody, ResBody> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
