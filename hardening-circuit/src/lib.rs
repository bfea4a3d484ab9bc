//! hardening-circuit (work in progress): circuit breaker and retry.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;

pub use error::CircuitOpen;
