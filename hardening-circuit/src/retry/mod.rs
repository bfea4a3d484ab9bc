//! Retry with backoff, jitter, a deadline, a shared budget and `Retry-After`,
//! for outbound HTTP calls. Start at [`RetryLayer`], which documents the
//! behaviour and how it composes with the circuit breaker.
//!
//! The names are short because they live in this module, as tower's do in
//! `tower::retry`: import `hardening_circuit::retry` and write
//! `retry::RetryLayer`, `retry::Budget`; a glob import of the crate root
//! never brings a `Retry` that shadows `tower::retry::Retry`.
//!
//! ```
//! use hardening_circuit::*;
//! use tower::retry::*;
//!
//! // `Retry` is tower's: the crate root exports no retry names.
//! fn takes_towers_retry<P, S>(_: Retry<P, S>) {}
//! let layer = hardening_circuit::retry::RetryLayer::builder().build().unwrap();
//! let _ = (layer, CircuitBreakerLayer::builder());
//! ```

mod backoff;
mod body;
mod budget;
mod classify;
mod config;
mod error;
mod future;
mod layer;
mod policy;
mod service;

pub use backoff::Backoff;
pub use body::{ReplayBody, ReplayableBody};
pub use budget::{Budget, BudgetBuilder};
pub use classify::{
    AttemptOutcome, Classify, Decision, DefaultClassifier, IdempotentRequests, RetryableRequest,
    IDEMPOTENCY_KEY,
};
pub use error::{AttemptTimeout, DeadlineExceeded};
pub use future::ResponseFuture;
pub use hardening_core::ConfigError;
pub use layer::{RetryBuilder, RetryLayer, DEFAULT_OVERLOAD_HEADER};
pub use service::Retry;

#[cfg(test)]
mod tests;
