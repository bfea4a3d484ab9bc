//! Circuit breakers and retries.

use std::sync::Arc;

use super::label_enum;

label_enum! {
    /// The state of a circuit breaker, as an observer sees it.
    pub enum BreakerState {
        /// Calls pass and are counted.
        Closed => "closed",
        /// Calls are rejected until the open duration passes.
        Open => "open",
        /// A few probe calls decide whether to close again.
        HalfOpen => "half_open",
        /// Opened by hand: every call is rejected until reset.
        ForcedOpen => "forced_open",
        /// Switched off by hand: every call passes, nothing is counted.
        Disabled => "disabled",
    }
}

label_enum! {
    /// How one call through a breaker went.
    pub enum CallOutcome {
        /// Admitted and classified a success.
        Success => "success",
        /// Admitted and classified a failure.
        Failure => "failure",
        /// Admitted and slower than the slow-call duration (whatever its
        /// classification).
        Slow => "slow",
        /// Refused because the breaker is open (or forced open, or
        /// half-open with every probe taken).
        Rejected => "rejected",
    }
}

label_enum! {
    /// What the retry layer did after one attempt.
    pub enum RetryOutcome {
        /// The attempt's outcome went to the caller as it was (a success,
        /// or a failure not worth retrying).
        Returned => "returned",
        /// Another attempt follows.
        Retried => "retried",
        /// Worth retrying, but it was the last attempt allowed.
        AttemptsExhausted => "attempts_exhausted",
        /// Worth retrying, but the retry budget was empty.
        BudgetExhausted => "budget_exhausted",
        /// Worth retrying, but the wait would pass the deadline.
        DeadlineTooClose => "deadline_too_close",
        /// The upstream's `Retry-After` asked for longer than allowed.
        RetryAfterTooLong => "retry_after_too_long",
        /// The upstream is overloaded (its marker header) or its breaker is
        /// open: not retried.
        Overloaded => "overloaded",
    }
}

label_enum! {
    /// What the retry layer did with an upstream's `Retry-After`.
    pub enum RetryAfterUse {
        /// Waited as asked.
        Honoured => "honoured",
        /// Asked for longer than `max_retry_after`: the response was
        /// returned instead of waiting.
        Capped => "capped",
    }
}

/// Hands out the observer of each circuit breaker, by its name.
///
/// Called once per breaker when it is built (for a keyed layer: when the
/// breaker of a new key is made, so the names are bounded by the layer's
/// `max_keys`). An unnamed breaker is bound with the name `""`.
pub trait CircuitObserver: Send + Sync + 'static {
    /// The observer of the breaker called `name`.
    fn breaker(&self, name: &str) -> Arc<dyn BreakerObserver>;
}

impl<F> CircuitObserver for F
where
    F: Fn(&str) -> Arc<dyn BreakerObserver> + Send + Sync + 'static,
{
    fn breaker(&self, name: &str) -> Arc<dyn BreakerObserver> {
        self(name)
    }
}

/// What one circuit breaker reports.
pub trait BreakerObserver: Send + Sync + 'static {
    /// The breaker moved from `from` to `to` (outside its lock).
    fn transition(&self, from: BreakerState, to: BreakerState) {
        let _ = (from, to);
    }

    /// One call was admitted and finished, or was rejected. A slow call
    /// reports [`CallOutcome::Slow`] in addition to its success or failure.
    fn call(&self, outcome: CallOutcome) {
        let _ = outcome;
    }
}

/// What a retry layer reports (bound to one layer; the backend names it).
pub trait RetryObserver: Send + Sync + 'static {
    /// The decision after one attempt.
    fn attempt(&self, outcome: RetryOutcome) {
        let _ = outcome;
    }

    /// An upstream's `Retry-After` was honoured or capped.
    fn retry_after(&self, used: RetryAfterUse) {
        let _ = used;
    }
}
