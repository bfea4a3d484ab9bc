//! The errors the retry layer itself produces: an attempt or the whole call
//! ran out of time.

use std::fmt;
use std::time::Duration;

/// One attempt took longer than the per-attempt timeout and was abandoned.
///
/// It is an attempt's outcome like any other error: the default classifier
/// retries it, and it is returned when it was the last attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptTimeout {
    /// The per-attempt timeout that elapsed.
    pub timeout: Duration,
    /// Which attempt timed out (1 for the first call).
    pub attempt: u32,
}

impl fmt::Display for AttemptTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "attempt {} timed out after {:?}",
            self.attempt, self.timeout
        )
    }
}

impl std::error::Error for AttemptTimeout {}

/// The overall deadline passed while an attempt was in flight (or while the
/// service was not ready for the next one). The attempt was abandoned and no
/// further attempt is made.
///
/// When the deadline would pass during a backoff wait instead, no error is
/// made up: the last real outcome is returned at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeadlineExceeded {
    /// The configured deadline.
    pub deadline: Duration,
    /// Attempts started, including the abandoned one.
    pub attempts: u32,
}

impl fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "retry deadline of {:?} exceeded after {} attempt(s)",
            self.deadline, self.attempts
        )
    }
}

impl std::error::Error for DeadlineExceeded {}

/// The response future was polled again after it completed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PolledAfterCompletion;

impl fmt::Display for PolledAfterCompletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("retry future polled after completion")
    }
}

impl std::error::Error for PolledAfterCompletion {}
