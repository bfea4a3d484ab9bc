//! What callers get when the breaker rejects a call.
//!
//! The breaker's service type picks one of three [`Rejection`]s:
//!
//! | mode | `Service::Error` | a rejected call gets | for |
//! |---|---|---|---|
//! | [`BoxErrorRejection`] (default) | [`BoxError`] | `Err` holding a [`CircuitOpen`] | clients; composes with tower's middleware, which box errors too |
//! | [`ErrorRejection`] | the inner service's `E: From<CircuitOpen>` | `Err(E::from(open))` | clients with their own error enum |
//! | [`ResponseRejection`] | the inner service's error | `Ok(503)` with `Retry-After` | servers (axum, hyper): no `HandleErrorLayer` needed |
//!
//! Switch with [`CircuitBreakerLayer::into_response`](crate::CircuitBreakerLayer::into_response)
//! and [`CircuitBreakerLayer::into_error`](crate::CircuitBreakerLayer::into_error).

use crate::error::{BoxError, CircuitOpen};

/// Turns a rejection, and the inner service's errors, into the breaker
/// service's output.
pub trait Rejection<Res, E> {
    /// The breaker service's error type.
    type Error;

    /// The output for a call the breaker rejected.
    fn rejected(open: CircuitOpen) -> Result<Res, Self::Error>;

    /// Converts an error of the inner service.
    fn error(error: E) -> Self::Error;
}

/// Rejections are `Err(BoxError)` holding a [`CircuitOpen`] (find it with
/// `err.downcast_ref::<CircuitOpen>()` or [`CircuitOpen::find`]); the inner
/// service's errors are boxed.
#[derive(Clone, Copy, Debug, Default)]
pub struct BoxErrorRejection;

impl<Res, E> Rejection<Res, E> for BoxErrorRejection
where
    E: Into<BoxError>,
{
    type Error = BoxError;

    #[inline]
    fn rejected(open: CircuitOpen) -> Result<Res, BoxError> {
        Err(Box::new(open))
    }

    #[inline]
    fn error(error: E) -> BoxError {
        error.into()
    }
}

/// Keeps the inner service's error type, which must convert from
/// [`CircuitOpen`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ErrorRejection;

impl<Res, E> Rejection<Res, E> for ErrorRejection
where
    E: From<CircuitOpen>,
{
    type Error = E;

    #[inline]
    fn rejected(open: CircuitOpen) -> Result<Res, E> {
        Err(E::from(open))
    }

    #[inline]
    fn error(error: E) -> E {
        error
    }
}

/// Rejections are `503 Service Unavailable` responses with `Retry-After`
/// (see [`CircuitOpen::to_response`]); the inner service's errors pass
/// unchanged, so an `Infallible` service stays infallible.
#[derive(Clone, Copy, Debug, Default)]
pub struct ResponseRejection;

impl<B, E> Rejection<http::Response<B>, E> for ResponseRejection
where
    B: Default,
{
    type Error = E;

    #[inline]
    fn rejected(open: CircuitOpen) -> Result<http::Response<B>, E> {
        Ok(open.to_response())
    }

    #[inline]
    fn error(error: E) -> E {
        error
    }
}
