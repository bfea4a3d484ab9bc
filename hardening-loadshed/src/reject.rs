//! What callers get when the limiter refuses a request.
//!
//! | mode | `Service::Error` | a refused request gets | for |
//! |---|---|---|---|
//! | [`ResponseRejection`] (default) | the inner service's | `Ok(503)` with `Retry-After` and an `application/problem+json` body | servers (axum, hyper): no `HandleErrorLayer` |
//! | [`BoxErrorRejection`] | [`BoxError`] | `Err` holding an [`Overloaded`] | clients; stacks with tower's middleware and the breaker, which box errors too |
//! | [`ErrorRejection`] | the inner `E: From<Overloaded>` | `Err(E::from(overloaded))` | clients with their own error enum |

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::body::LoadShedBody;
use crate::error::{BoxError, Overloaded};

static PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

/// Turns a refusal, and the inner service's errors, into the service's
/// output.
pub trait Rejection<B, E> {
    /// The service's error type.
    type Error;

    /// The output for a refused request; `problem` is the problem document
    /// for its class.
    fn rejected(
        overloaded: Overloaded,
        problem: &Bytes,
    ) -> Result<Response<LoadShedBody<B>>, Self::Error>;

    /// Converts an error of the inner service.
    fn error(error: E) -> Self::Error;
}

/// Refusals are `503 Service Unavailable` responses with `Retry-After` and
/// an `application/problem+json` body; inner errors pass unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResponseRejection;

impl<B, E> Rejection<B, E> for ResponseRejection {
    type Error = E;

    fn rejected(overloaded: Overloaded, problem: &Bytes) -> Result<Response<LoadShedBody<B>>, E> {
        let mut resp = Response::new(LoadShedBody::own(problem.clone()));
        *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = resp.headers_mut();
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from(overloaded.retry_after_secs()),
        );
        headers.insert(CONTENT_TYPE, PROBLEM_JSON.clone());
        Ok(resp)
    }

    #[inline]
    fn error(error: E) -> E {
        error
    }
}

/// Refusals are `Err(BoxError)` holding an [`Overloaded`] (find it with
/// [`Overloaded::find`]); inner errors are boxed.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxErrorRejection;

impl<B, E: Into<BoxError>> Rejection<B, E> for BoxErrorRejection {
    type Error = BoxError;

    fn rejected(
        overloaded: Overloaded,
        _problem: &Bytes,
    ) -> Result<Response<LoadShedBody<B>>, BoxError> {
        Err(Box::new(overloaded))
    }

    #[inline]
    fn error(error: E) -> BoxError {
        error.into()
    }
}

/// Keeps the inner error type, which converts from [`Overloaded`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorRejection;

impl<B, E: From<Overloaded>> Rejection<B, E> for ErrorRejection {
    type Error = E;

    fn rejected(overloaded: Overloaded, _problem: &Bytes) -> Result<Response<LoadShedBody<B>>, E> {
        Err(E::from(overloaded))
    }

    #[inline]
    fn error(error: E) -> E {
        error
    }
}

/// The problem document of a refused request of class `class`.
pub(crate) fn problem_body(class: &str, retry_after_secs: u64) -> Bytes {
    Bytes::from(format!(
        "{{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\
         \"detail\":\"The server is at its concurrency limit; retry after {retry_after_secs} s.\",\
         \"priority\":\"{class}\"}}"
    ))
}
