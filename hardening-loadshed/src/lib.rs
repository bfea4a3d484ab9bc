//! Adaptive concurrency limits and priority load shedding for tower HTTP
//! services.
//!
//! Rate limits protect a service from one client and breakers from one
//! upstream; this crate protects it from *too much total work*. A
//! [`ConcurrencyLimitLayer`] counts the requests in flight and refuses the
//! rest **at once** — it never queues, so an overloaded replica answers
//! `503` quickly instead of getting slower for everybody until its probes
//! time out.
//!
//! - Admission is one compare-and-swap on a packed counter (lock-free); a
//!   request's slot is held until its response body ends or is dropped, or
//!   its future is cancelled.
//! - The limit is [`Fixed`](algorithm::Fixed) or follows the service's
//!   latency: [`Aimd`](algorithm::Aimd), [`Vegas`](algorithm::Vegas),
//!   [`Gradient2`](algorithm::Gradient2) (pure controllers in
//!   [`algorithm`], fed one window of samples at a time).
//! - Requests are classified ([`Classify`], [`PathClassifier`], closures)
//!   as [`Priority::Critical`], [`Priority::Default`] or
//!   [`Priority::Sheddable`]; [`Shares`] reserve part of the limit so
//!   sheddable work is refused first and critical work keeps room.
//!   [`bypass_path`](ConcurrencyLimitLayerBuilder::bypass_path) exempts
//!   health probes.
//! - Refusals: `503` + `Retry-After` + `application/problem+json` in server
//!   mode (no `HandleErrorLayer`), or an [`Overloaded`] error in client mode
//!   ([`reject`]).
//! - [`throttle`]: client-side adaptive throttling (Google SRE) for outbound
//!   calls.
//! - Limit changes emit rate-limited `tracing` events (target
//!   `hardening_loadshed`) and call an optional hook; [`Limiter`] exposes
//!   the limit, in-flight counts and rejections by class for metrics.
//!
//! # Example
//!
//! ```
//! use hardening_loadshed::{ConcurrencyLimitLayer, PathClassifier, Priority, Shares};
//! use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let layer = ConcurrencyLimitLayer::builder()
//!     .limit(2)
//!     .classify(PathClassifier::new().critical("/auth").sheddable("/llm"))
//!     .shares(Shares::new(0.5, 0.0).unwrap()) // one of the two slots kept for critical
//!     .bypass_path("/healthz")
//!     .build()
//!     .unwrap();
//! let limiter = layer.limiter().clone();
//! let mut svc = ServiceBuilder::new().layer(layer).service(service_fn(|_req: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(bytes::Bytes::from("ok"))))
//! }));
//!
//! // A sheddable request holds one slot until its body is dropped.
//! let llm = svc.ready().await.unwrap().call(http::Request::get("/llm/chat").body(()).unwrap()).await.unwrap();
//! assert_eq!(limiter.in_flight().sheddable, 1);
//! // A second one is refused at once: the other slot is critical's reserve.
//! let refused = svc.ready().await.unwrap().call(http::Request::get("/llm/chat").body(()).unwrap()).await.unwrap();
//! assert_eq!(refused.status(), 503);
//! assert_eq!(refused.headers()["retry-after"], "1");
//! assert_eq!(refused.headers()["content-type"], "application/problem+json");
//! // Critical requests and probes still get through.
//! let auth = svc.ready().await.unwrap().call(http::Request::get("/auth/login").body(()).unwrap()).await.unwrap();
//! assert_eq!(auth.status(), 200);
//! let probe = svc.ready().await.unwrap().call(http::Request::get("/healthz").body(()).unwrap()).await.unwrap();
//! assert_eq!(probe.status(), 200);
//! drop((llm, auth));
//! assert_eq!(limiter.in_flight().total(), 0);
//! # }
//! ```
//!
//! # Ordering
//!
//! `ServiceBuilder` runs layers top to bottom. Put the limiter after the
//! cheap rejections (rate limits, authentication of the request's shape)
//! and before the work: a request refused by a rate limit should not take a
//! slot, and the slot should cover everything expensive.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod algorithm;
mod body;
mod error;
mod future;
mod layer;
mod limiter;
pub mod priority;
pub mod reject;
mod sampling;
mod service;
#[cfg(test)]
mod tests;
pub mod throttle;

pub use body::LoadShedBody;
pub use error::{BoxError, ConfigError, Overloaded};
pub use future::ResponseFuture;
pub use hardening_core::clock::{Clock, FakeClock, MonotonicClock};
pub use layer::{ConcurrencyLimitLayer, ConcurrencyLimitLayerBuilder};
pub use limiter::{LimitChange, Limiter, Outcome, Permit};
pub use priority::{Classify, InFlight, PathClassifier, Priority, RequestRef, Shares};
pub use sampling::MAX_SAMPLE_EVERY;
pub use service::ConcurrencyLimit;
