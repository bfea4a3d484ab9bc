//! Answers to probe requests: the HTTP side of a [`Report`](crate::Report).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};

use crate::body::HealthBody;
use crate::details::Details;
use crate::health::Health;
use crate::report::{Probe, HEALTH_JSON};
use crate::status::Status;

type BoxResponseFuture = Pin<Box<dyn Future<Output = Response<HealthBody>> + Send>>;

/// A response to a probe, at hand or once checks have run.
pub(crate) enum Answer {
    Ready(Option<Response<HealthBody>>),
    Pending(BoxResponseFuture),
}

impl Future for Answer {
    type Output = Response<HealthBody>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            // Polled again after completion: answer rather than panic.
            Answer::Ready(response) => Poll::Ready(response.take().unwrap_or_else(gone)),
            Answer::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

fn gone() -> Response<HealthBody> {
    let mut response = Response::new(HealthBody::empty());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

static STATUS_BODIES: [&[u8]; 3] = [
    br#"{"status":"pass"}"#,
    br#"{"status":"warn"}"#,
    br#"{"status":"fail"}"#,
];

static HEALTH_JSON_VALUE: HeaderValue = HeaderValue::from_static(HEALTH_JSON);
static GET_HEAD: HeaderValue = HeaderValue::from_static("GET, HEAD");

/// Answers a request for `probe`.
pub(crate) fn answer<B>(health: &Health, probe: Probe, req: Request<B>) -> Answer {
    let head = match *req.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return Answer::Ready(Some(method_not_allowed(health))),
    };
    let inner = &*health.inner;
    let details = match &inner.details {
        Details::Never => false,
        Details::Always => true,
        Details::When(predicate) => {
            let (parts, _body) = req.into_parts();
            predicate(&parts)
        }
    };
    let cache_control = inner.cache_control.clone();
    if !details {
        if let Some(status) = health.status_now(probe) {
            return Answer::Ready(Some(status_response(status, head, cache_control)));
        }
        let report = health.probe(probe);
        return Answer::Pending(Box::pin(async move {
            status_response(report.await.status(), head, cache_control)
        }));
    }
    let report = health.probe(probe);
    Answer::Pending(Box::pin(async move {
        let report = report.await;
        let body = Bytes::from(report.to_json());
        json_response(report.status(), body, head, cache_control)
    }))
}

fn status_response(status: Status, head: bool, cache_control: HeaderValue) -> Response<HealthBody> {
    let body = Bytes::from_static(STATUS_BODIES[status as usize]);
    json_response(status, body, head, cache_control)
}

fn json_response(
    status: Status,
    body: Bytes,
    head: bool,
    cache_control: HeaderValue,
) -> Response<HealthBody> {
    let mut response = if head {
        let mut response = Response::new(HealthBody::empty());
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        response
    } else {
        Response::new(HealthBody::new(body))
    };
    *response.status_mut() = status.http_status();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HEALTH_JSON_VALUE.clone());
    headers.insert(CACHE_CONTROL, cache_control);
    response
}

fn method_not_allowed(health: &Health) -> Response<HealthBody> {
    let mut response = Response::new(HealthBody::empty());
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    let headers = response.headers_mut();
    headers.insert(ALLOW, GET_HEAD.clone());
    headers.insert(CACHE_CONTROL, health.inner.cache_control.clone());
    response
}

pub(crate) fn not_found() -> Response<HealthBody> {
    let mut response = Response::new(HealthBody::empty());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
