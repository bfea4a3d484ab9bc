//! A circuit breaker for tower services that never lets a failing upstream
//! take the service down.
//!
//! Wrap an outbound client (hyper, reqwest's tower service, any
//! [`Service`](tower_service::Service)) or a server route in a
//! [`CircuitBreakerLayer`]. While the upstream is healthy, calls pass at the
//! cost of a few atomic operations. When the share of failed (or slow) calls
//! in a sliding window reaches a threshold, the breaker *opens* and calls
//! fail fast with [`CircuitOpen`] (or, in server mode, a `503` with
//! `Retry-After`) instead of piling up on a dead upstream. After the open
//! duration, a few *probe* calls are let through: if they all succeed the
//! breaker closes, else it opens again, for longer.
//!
//! ```text
//!            rate ≥ threshold (≥ minimum calls)
//!            or N consecutive failures
//!   Closed ─────────────────────────────────────► Open ◄──────────┐
//!     ▲                                             │  open duration │ a probe fails,
//!     │ all probes succeed                          ▼  passed        │ or probes time out
//!     └─────────────────────────────────────── HalfOpen ───────────┘
//!
//!   ForcedOpen / Disabled: set by hand, left by `reset()`
//! ```
//!
//! - Rules: failure rate (default 50 %) over a count- or time-based
//!   [`SlidingWindow`] (default 30 s), only after a minimum number of calls
//!   (default 20); optional consecutive failures; slow-call duration and
//!   rate. See [`CircuitBreakerBuilder`] for every setting and default.
//! - Open duration: 30 s, doubling on each repeated trip up to 300 s, shortened
//!   by random jitter so replicas do not probe in lockstep.
//! - Half-open: exactly N probes (default 3) are admitted, reserved with
//!   compare-and-swap so concurrent callers can never exceed N.
//! - [`Classify`]: decide from the whole `Result<Response, Error>` whether a
//!   call succeeded, failed or does not count ([`HttpClassifier`] by default:
//!   errors and 5xx fail, 4xx succeed, 429 and 503 configurable).
//! - [`Breaker`]: a handle shared by the layer and every service clone, with
//!   [`state`](Breaker::state), [`metrics`](Breaker::metrics),
//!   [`force_open`](Breaker::force_open), [`disable`](Breaker::disable) and
//!   [`reset`](Breaker::reset).
//! - [`KeyedCircuitBreakerLayer`]: one breaker per upstream host (or any
//!   key), with a bounded number of keys.
//! - Every state change emits a `tracing` event with target
//!   `hardening_circuit` and calls the optional
//!   [`on_state_change`](CircuitBreakerBuilder::on_state_change) hook.
//! - [`retry`]: a second product in its own namespace, retry with backoff,
//!   a shared budget and `Retry-After` ([`retry::RetryLayer`]), meant to sit
//!   inside the breaker.
//!
//! # Cost
//!
//! The closed state takes no lock, allocates nothing and boxes no future
//! ([`ResponseFuture`] is hand-written). With the default time-based window
//! it does not even do an atomic read-modify-write: each thread counts its
//! calls in a stripe of the window that only it writes, and the response
//! future finds its breaker through a per-thread cache instead of holding a
//! reference count. The rate rules are re-checked only when the window holds
//! a failure or slow call and something could have changed the verdict.
//! Transitions (rare) take a mutex.
//!
//! # Errors and rejections
//!
//! By default the service's error type is [`BoxError`], as with tower's own
//! middleware (`Timeout`, `LoadShed`, `Buffer`): it stacks with them in one
//! `ServiceBuilder` and wraps any client whose error converts into it. A
//! rejection is a boxed [`CircuitOpen`]; find it with
//! `err.downcast_ref::<CircuitOpen>()` or [`CircuitOpen::find`]. Servers
//! use [`CircuitBreakerLayer::into_response`] instead (rejections become
//! `503` responses, the error type stays the inner one), and clients with an
//! error enum implementing `From<CircuitOpen>` can keep it with
//! [`CircuitBreakerLayer::into_error`]. See [`reject`].
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_circuit::{CircuitBreakerLayer, CircuitOpen, FakeClock, SlidingWindow, State};
//! use tower::{service_fn, BoxError, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let clock = FakeClock::new();
//! let layer = CircuitBreakerLayer::builder()
//!     .sliding_window(SlidingWindow::count(10))
//!     .minimum_calls(4)
//!     .open_duration(Duration::from_secs(10))
//!     .jitter(0.0)
//!     .half_open_probes(1)
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! let breaker = layer.breaker().clone();
//! let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
//! let flag = healthy.clone();
//! let client = tower::ServiceBuilder::new().layer(layer).service(service_fn(
//!     move |_req: http::Request<()>| {
//!         let status = if flag.load(std::sync::atomic::Ordering::SeqCst) { 200 } else { 500 };
//!         async move { Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap()) }
//!     },
//! ));
//! let get = || client.clone().oneshot(http::Request::new(()));
//!
//! for _ in 0..4 {
//!     assert_eq!(get().await.unwrap().status(), 500);
//! }
//! assert_eq!(breaker.state(), State::Open);
//! let err = get().await.unwrap_err();
//! assert_eq!(
//!     err.downcast_ref::<CircuitOpen>(),
//!     Some(&CircuitOpen { retry_after: Duration::from_secs(10) })
//! );
//!
//! // The upstream heals; after the open duration one probe closes the breaker.
//! healthy.store(true, std::sync::atomic::Ordering::SeqCst);
//! clock.advance(Duration::from_secs(10));
//! assert_eq!(get().await.unwrap().status(), 200);
//! assert_eq!(breaker.state(), State::Closed);
//! # }
//! ```
//!
//! # Server mode
//!
//! ```
//! use hardening_circuit::CircuitBreakerLayer;
//! use tower::{service_fn, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let layer = CircuitBreakerLayer::new().into_response();
//! layer.breaker().force_open();
//! let route = tower::ServiceBuilder::new().layer(layer).service(service_fn(
//!     |_req: http::Request<()>| async {
//!         Ok::<_, std::convert::Infallible>(http::Response::new(String::from("hello")))
//!     },
//! ));
//! let resp = route.oneshot(http::Request::new(())).await.unwrap();
//! assert_eq!(resp.status(), 503);
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod breaker;
mod classify;
mod config;
mod error;
mod future;
mod keyed;
mod layer;
mod machine;
pub mod reject;
pub mod retry;
mod service;
mod state;
mod stripe;
mod window;

pub use breaker::Breaker;
pub use classify::{Classify, ErrorsAreFailures, HttpClassifier, Outcome};
pub use config::{CircuitBreakerBuilder, DefaultRandom, RandomSource, SlidingWindow};
pub use error::{BoxError, CircuitOpen};
pub use future::ResponseFuture;
pub use hardening_core::clock::{Clock, CoarseMonotonicClock, FakeClock, MonotonicClock};
pub use hardening_core::ConfigError;
pub use keyed::{KeyExtractor, KeyedCircuitBreaker, KeyedCircuitBreakerLayer, UriAuthority};
pub use layer::CircuitBreakerLayer;
pub use service::CircuitBreaker;
pub use state::{Metrics, Reason, State, StateChange};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
