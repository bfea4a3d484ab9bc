//! The errors of this crate: a rejected request and an invalid setting.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::priority::Priority;

/// The error type of services that box their errors, as tower's own
/// middleware does (`tower::BoxError` is the same type).
pub type BoxError = Box<dyn Error + Send + Sync>;

/// The concurrency limit was reached: the request was rejected at once,
/// without reaching the inner service.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_loadshed::{BoxError, Overloaded, Priority};
///
/// let err = Overloaded { priority: Priority::Sheddable, limit: 64, retry_after: Duration::from_millis(1500) };
/// assert_eq!(err.retry_after_secs(), 2);
/// let boxed: BoxError = Box::new(err);
/// assert_eq!(Overloaded::find(&*boxed), Some(&err));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Overloaded {
    /// The class of the rejected request.
    pub priority: Priority,
    /// The concurrency limit at the time of the rejection.
    pub limit: u32,
    /// How long the caller should wait before retrying.
    pub retry_after: Duration,
}

impl Overloaded {
    /// `retry_after` in whole seconds for a `Retry-After` header: rounded up,
    /// at least one.
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }

    /// Finds an `Overloaded` in `error` or in its chain of
    /// [`source`](Error::source)s, e.g. behind a [`BoxError`].
    pub fn find<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a Overloaded> {
        let mut current = Some(error);
        while let Some(err) = current {
            if let Some(o) = err.downcast_ref::<Overloaded>() {
                return Some(o);
            }
            current = err.source();
        }
        None
    }
}

impl fmt::Display for Overloaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "overloaded: {} request rejected at concurrency limit {}, retry after {}s",
            self.priority.as_str(),
            self.limit,
            self.retry_after_secs()
        )
    }
}

impl Error for Overloaded {}

pub use hardening_core::ConfigError;

/// A [`ConfigError`] for `field` of `component`, the value written by
/// `Debug` (durations and fractions read best that way).
pub(crate) fn invalid(
    component: &'static str,
    field: &'static str,
    value: impl fmt::Debug,
    expected: &'static str,
) -> ConfigError {
    ConfigError::new(component, field, format_args!("{value:?}"), expected)
}

/// Checks that `value` lies in `[lo, hi]` (and is not NaN).
pub(crate) fn check_range(
    component: &'static str,
    field: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    expected: &'static str,
) -> Result<f64, ConfigError> {
    if value.is_finite() && value >= lo && value <= hi {
        Ok(value)
    } else {
        Err(invalid(component, field, value, expected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one() {
        let secs = |ms| {
            Overloaded {
                priority: Priority::Default,
                limit: 1,
                retry_after: Duration::from_millis(ms),
            }
            .retry_after_secs()
        };
        assert_eq!(secs(0), 1);
        assert_eq!(secs(1000), 1);
        assert_eq!(secs(1001), 2);
    }

    #[test]
    fn check_range_rejects_nan_and_out_of_range() {
        assert!(check_range("T", "x", f64::NAN, 0.0, 1.0, "0..=1").is_err());
        assert!(check_range("T", "x", 1.5, 0.0, 1.0, "0..=1").is_err());
        assert_eq!(check_range("T", "x", 0.5, 0.0, 1.0, "0..=1"), Ok(0.5));
    }
}
