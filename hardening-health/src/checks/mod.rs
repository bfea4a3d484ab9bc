//! Ready-made checks.
//!
//! - [`TcpCheck`]: a TCP connect to `host:port` (dependency).
//! - [`FunctionCheck`]: a synchronous function, such as a flag or a gauge.
//! - [`RedisPing`] (feature `redis`): Redis `PING` (dependency).
//! - [`BreakerCheck`] (feature `circuit`): the state of a `hardening-circuit`
//!   breaker (dependency).
//!
//! An `async` closure needs no wrapper: it is a
//! [`HealthCheck`](crate::HealthCheck) as it is.

#[cfg(feature = "circuit")]
mod circuit;
mod function;
#[cfg(feature = "redis")]
mod redis;
mod tcp;

#[cfg(feature = "circuit")]
pub use circuit::BreakerCheck;
pub use function::FunctionCheck;
#[cfg(feature = "redis")]
pub use redis::RedisPing;
pub use tcp::TcpCheck;
