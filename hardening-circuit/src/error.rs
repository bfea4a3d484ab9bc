//! The rejection of an open breaker. (Invalid configuration is
//! [`hardening_core::ConfigError`], re-exported at the crate root.)

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// The error type of services that box their errors, as tower's own
/// middleware does (`tower::BoxError` is the same type).
pub type BoxError = Box<dyn Error + Send + Sync>;

/// The circuit is open: the call was rejected without reaching the inner
/// service.
///
/// `retry_after` is how long until the breaker will admit a probe call (zero
/// when unknown, e.g. when forced open).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_circuit::{BoxError, CircuitOpen};
///
/// let open = CircuitOpen { retry_after: Duration::from_millis(1500) };
/// assert_eq!(open.retry_after_secs(), Some(2));
///
/// // Behind a boxed error (the default error of `CircuitBreaker`), find it again:
/// let err: BoxError = Box::new(open);
/// assert_eq!(CircuitOpen::find(&*err), Some(&open));
///
/// // Servers answer 503 with `Retry-After`:
/// let resp: http::Response<String> = open.to_response();
/// assert_eq!(resp.status(), 503);
/// assert_eq!(resp.headers()["retry-after"], "2");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CircuitOpen {
    /// Time until the breaker admits calls again.
    pub retry_after: Duration,
}

impl CircuitOpen {
    /// `retry_after` in whole seconds for a `Retry-After` header: rounded up
    /// and at least one; `None` when `retry_after` is zero (unknown).
    pub fn retry_after_secs(&self) -> Option<u64> {
        if self.retry_after.is_zero() {
            return None;
        }
        Some(hardening_core::retry_after::seconds(self.retry_after))
    }

    /// A `503 Service Unavailable` response with an empty body and a
    /// `Retry-After` header (omitted when `retry_after` is zero, as when the
    /// breaker was forced open).
    pub fn to_response<B: Default>(&self) -> http::Response<B> {
        let mut resp = http::Response::new(B::default());
        *resp.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
        if let Some(secs) = self.retry_after_secs() {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        resp
    }

    /// Finds a `CircuitOpen` in `error` or in its chain of
    /// [`source`](Error::source)s, e.g. behind a [`BoxError`] or an error that
    /// wraps it.
    pub fn find<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a CircuitOpen> {
        let mut current = Some(error);
        while let Some(err) = current {
            if let Some(open) = err.downcast_ref::<CircuitOpen>() {
                return Some(open);
            }
            current = err.source();
        }
        None
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "circuit open: call rejected, retry after {:.3}s",
            self.retry_after.as_secs_f64()
        )
    }
}

impl Error for CircuitOpen {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let secs = |ms| {
            CircuitOpen {
                retry_after: Duration::from_millis(ms),
            }
            .retry_after_secs()
        };
        assert_eq!(secs(0), None);
        assert_eq!(secs(1), Some(1));
        assert_eq!(secs(1000), Some(1));
        assert_eq!(secs(1001), Some(2));
        assert_eq!(secs(30_000), Some(30));
    }

    #[test]
    fn forced_open_response_has_no_retry_after() {
        let resp: http::Response<()> = CircuitOpen {
            retry_after: Duration::ZERO,
        }
        .to_response();
        assert_eq!(resp.status(), 503);
        assert!(resp.headers().get("retry-after").is_none());
    }

    #[derive(Debug)]
    struct Wrapper(CircuitOpen);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapped")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn find_walks_the_source_chain() {
        let open = CircuitOpen {
            retry_after: Duration::from_secs(3),
        };
        let err: BoxError = Box::new(Wrapper(open));
        assert_eq!(CircuitOpen::find(&*err), Some(&open));
        let other: BoxError = "nope".into();
        assert_eq!(CircuitOpen::find(&*other), None);
    }
}
