//! hardening-circuit (work in progress): circuit breaker and retry.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod retry;

pub use error::CircuitOpen;
pub use retry::{
    is_circuit_open, AttemptOutcome, AttemptTimeout, Backoff, ClassifyRetry, DeadlineExceeded,
    DefaultRetryClassifier, IdempotentRequests, RandomSource, ReplayBody, ReplayableBody, Retry,
    RetryBudget, RetryBudgetBuilder, RetryBuilder, RetryConfigError, RetryDecision, RetryFuture,
    RetryLayer, RetryableRequest, ThreadRandom, DEFAULT_OVERLOAD_HEADER, IDEMPOTENCY_KEY,
};
