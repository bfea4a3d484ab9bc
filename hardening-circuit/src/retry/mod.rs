//! Retry with backoff, jitter, a deadline, a shared budget and `Retry-After`,
//! for outbound HTTP calls. Start at [`RetryLayer`], which documents the
//! behaviour and how it composes with the circuit breaker.

mod backoff;
mod body;
mod budget;
mod classify;
mod config;
mod future;
mod layer;
mod service;
mod timeout;

pub use backoff::Backoff;
pub use body::{ReplayBody, ReplayableBody};
pub use budget::{RetryBudget, RetryBudgetBuilder};
pub use classify::{
    AttemptOutcome, ClassifyRetry, DefaultRetryClassifier, IdempotentRequests, RetryDecision,
    RetryableRequest, IDEMPOTENCY_KEY,
};
pub use future::RetryFuture;
pub use layer::{RetryBuilder, RetryLayer, DEFAULT_OVERLOAD_HEADER};
pub use service::Retry;
pub use timeout::{AttemptTimeout, DeadlineExceeded};

#[cfg(test)]
mod tests;
