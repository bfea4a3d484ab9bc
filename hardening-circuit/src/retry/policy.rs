//! The decision after each attempt: retry after a delay ([`Next::Retry`]) or
//! return the outcome, and why ([`Stop`]).

use std::time::Duration;

use hardening_core::observe::{RetryAfterUse, RetryObserver, RetryOutcome};
use hardening_core::retry_after;
use http::StatusCode;

use super::classify::{is_circuit_open, AttemptOutcome, Decision};
use super::config::Config;

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait this long, then send the next attempt.
    Retry { delay: Duration },
    /// Hand the outcome to the caller.
    Return(Stop),
}

/// Why the outcome is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The classifier accepted it (success, or a failure not worth retrying).
    Classified,
    CircuitOpen,
    Overloaded,
    AttemptsExhausted,
    RetryAfterTooLong,
    DeadlineTooClose,
    BudgetExhausted,
}

impl Stop {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stop::Classified => "classified as final",
            Stop::CircuitOpen => "circuit open",
            Stop::Overloaded => "upstream marked the response as overloaded",
            Stop::AttemptsExhausted => "max attempts reached",
            Stop::RetryAfterTooLong => "Retry-After exceeds max_retry_after",
            Stop::DeadlineTooClose => "the wait would pass the deadline",
            Stop::BudgetExhausted => "retry budget exhausted",
        }
    }
}

/// Tells `observer` what was decided.
#[cold]
fn report(observer: &dyn RetryObserver, next: Next, server_delay: bool) {
    let outcome = match next {
        Next::Retry { .. } => {
            if server_delay {
                observer.retry_after(RetryAfterUse::Honoured);
            }
            RetryOutcome::Retried
        }
        Next::Return(Stop::Classified) => RetryOutcome::Returned,
        Next::Return(Stop::CircuitOpen | Stop::Overloaded) => RetryOutcome::Overloaded,
        Next::Return(Stop::AttemptsExhausted) => RetryOutcome::AttemptsExhausted,
        Next::Return(Stop::RetryAfterTooLong) => {
            observer.retry_after(RetryAfterUse::Capped);
            RetryOutcome::RetryAfterTooLong
        }
        Next::Return(Stop::DeadlineTooClose) => RetryOutcome::DeadlineTooClose,
        Next::Return(Stop::BudgetExhausted) => RetryOutcome::BudgetExhausted,
    };
    observer.attempt(outcome);
}

impl Config {
    /// The decision after attempt number `attempt` (1-based) ended with
    /// `outcome`. `previous` is the previous backoff wait, `remaining` the
    /// time left before the deadline. Withdraws from the budget when it
    /// decides to retry.
    pub(crate) fn after_attempt(
        &self,
        attempt: u32,
        outcome: AttemptOutcome<'_>,
        previous: Duration,
        remaining: Option<Duration>,
    ) -> Next {
        let (next, server_delay) = self.decide(attempt, outcome, previous, remaining);
        if let Some(observer) = &self.observer {
            report(&**observer, next, server_delay);
        }
        next
    }

    /// The decision, and whether the upstream asked for a delay.
    fn decide(
        &self,
        attempt: u32,
        outcome: AttemptOutcome<'_>,
        previous: Duration,
        remaining: Option<Duration>,
    ) -> (Next, bool) {
        let next = self.decide_inner(attempt, outcome, previous, remaining);
        let asked = matches!(
            outcome,
            AttemptOutcome::Response { status, headers }
                if (status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::SERVICE_UNAVAILABLE)
                    && headers.contains_key(http::header::RETRY_AFTER)
        );
        (next, asked)
    }

    fn decide_inner(
        &self,
        attempt: u32,
        outcome: AttemptOutcome<'_>,
        previous: Duration,
        remaining: Option<Duration>,
    ) -> Next {
        if let AttemptOutcome::Error(err) = outcome {
            if is_circuit_open(err) {
                return Next::Return(Stop::CircuitOpen);
            }
        }
        if self.classifier.classify(outcome) == Decision::Return {
            return Next::Return(Stop::Classified);
        }
        if attempt >= self.max_attempts {
            return Next::Return(Stop::AttemptsExhausted);
        }
        let mut server_delay = None;
        if let AttemptOutcome::Response { status, headers } = outcome {
            if let Some(marker) = &self.overload_header {
                if headers.contains_key(marker) {
                    return Next::Return(Stop::Overloaded);
                }
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                server_delay = retry_after::from_headers(headers, self.clock.system_time());
            }
        }
        let delay = match server_delay {
            Some(wait) if wait > self.max_retry_after => {
                return Next::Return(Stop::RetryAfterTooLong)
            }
            Some(wait) => wait,
            None => self
                .backoff
                .delay(attempt, previous, self.random.0.next_fraction()),
        };
        if remaining.is_some_and(|left| delay >= left) {
            return Next::Return(Stop::DeadlineTooClose);
        }
        if let Some(budget) = &self.budget {
            if !budget.try_withdraw() {
                return Next::Return(Stop::BudgetExhausted);
            }
        }
        Next::Retry { delay }
    }
}
