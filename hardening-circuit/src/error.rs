//! The error returned when a breaker rejects a call.

use std::fmt;
use std::time::Duration;

/// The circuit is open: the call was rejected without reaching the inner
/// service.
///
/// `retry_after` is how long until the breaker will admit a probe call (zero
/// when unknown, e.g. when forced open).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitOpen {
    /// Time until the breaker admits calls again.
    pub retry_after: Duration,
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

impl std::error::Error for CircuitOpen {}
