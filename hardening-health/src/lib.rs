//! Health probes that load balancers and Kubernetes can trust.
//!
//! A [`Health`] registry holds [`Check`]s and answers three endpoints:
//!
//! | path (default) | runs | answers |
//! |---|---|---|
//! | `/livez` | the process, plus checks explicitly marked [`Probes::LIVENESS`] (never dependency checks) | `200` unless a liveness check fails |
//! | `/readyz` | checks marked [`Probes::READINESS`] (the default) and the shutdown flag | `503` when a required check fails or the service drains |
//! | `/health` | every check and the shutdown flag | the full `application/health+json` report |
//!
//! Serve them with [`HealthLayer`] (probe paths answered, every other
//! request passed on) or the standalone [`HealthService`].
//!
//! - **The report** follows the IETF draft "Health Check Response Format for
//!   HTTP APIs": `status` `pass`/`warn`/`fail` (`200`/`200`/`503`),
//!   `version`, `releaseId`, `serviceId`, `description`, and `checks` keyed
//!   `component:measurement` with `componentType`, `observedValue`,
//!   `observedUnit`, `status`, `time` and `output`. Details go only to
//!   requests [`Details`] allows (default: loopback peers); everyone else
//!   gets `{"status":"..."}`.
//! - **Checks** implement [`HealthCheck`]; an `async` closure is one. Each
//!   has a timeout (default 1 s), a [`Criticality`] (`Required` → fail,
//!   `Degrading` → warn, `Informational` → report only), a cache TTL
//!   (default 1 s) and optional hysteresis ([`Check::fail_after`]). Checks run
//!   concurrently; concurrent probes share one run (single flight), so a
//!   thousand simultaneous probes cost each check one run per TTL. A check
//!   that panics or hangs is reported as `fail`; the endpoint keeps answering.
//! - **Built-in checks** in [`checks`]: TCP connect, a function, Redis `PING`
//!   (feature `redis`), the state of a `hardening-circuit` breaker (feature
//!   `circuit`).
//! - **Graceful shutdown**: [`Health::shutdown`] fails readiness at once while
//!   liveness stays `200`, and waits a drain delay so load balancers stop
//!   sending traffic; [`Health::shutdown_on`] plugs into axum's
//!   `with_graceful_shutdown`, and [`Health::shutdown_on_signals`] bounds the
//!   whole shutdown: a deadline after the drain, and a second signal, close
//!   what is still open ([`ShutdownPhases`]).
//! - Responses carry `Cache-Control: no-store` (or `max-age`, see
//!   [`HealthBuilder::cache_max_age`]).
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use axum::{body::Body, routing::get, Router};
//! use hardening_core::PeerAddr;
//! use hardening_health::{checks::TcpCheck, Check, Criticality, Health};
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let db = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let health = Health::builder()
//!     .service_id("orders")
//!     .release_id(env!("CARGO_PKG_VERSION"))
//!     .check(Check::new("db:responseTime", TcpCheck::from_socket_addr(db.local_addr().unwrap()))
//!         .component_type("datastore")
//!         .timeout(Duration::from_millis(300)))
//!     .check(Check::new("cache:ping", || async { Err::<(), _>("cache unreachable") })
//!         .criticality(Criticality::Degrading))
//!     .build()
//!     .unwrap();
//! let app = Router::new().route("/", get(|| async { "hi" })).layer(health.layer());
//!
//! // A load balancer sees the status only: degraded but serving.
//! let resp = app.clone().oneshot(http::Request::get("/readyz").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(resp.status(), 200);
//! assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), r#"{"status":"warn"}"#);
//!
//! // An operator on the machine sees why.
//! let mut req = http::Request::get("/health").body(Body::empty()).unwrap();
//! req.extensions_mut().insert(PeerAddr("127.0.0.1:50000".parse::<SocketAddr>().unwrap()));
//! let resp = app.clone().oneshot(req).await.unwrap();
//! assert_eq!(resp.headers()["content-type"], "application/health+json");
//! let body = resp.into_body().collect().await.unwrap().to_bytes();
//! let body = std::str::from_utf8(&body).unwrap();
//! assert!(body.contains(r#""cache:ping":[{"status":"fail""#));
//! assert!(body.contains(r#""output":"cache unreachable""#));
//!
//! // Shutting down: not ready any more, but alive.
//! let _drain = health.shutdown();
//! let ready = app.clone().oneshot(http::Request::get("/readyz").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(ready.status(), 503);
//! let live = app.oneshot(http::Request::get("/livez").body(Body::empty()).unwrap()).await.unwrap();
//! assert_eq!(live.status(), 200);
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod answer;
mod body;
mod check;
pub mod checks;
mod details;
mod future;
mod health;
mod layer;
mod observation;
mod report;
mod service;
mod shutdown;
mod slot;
mod status;

#[cfg(test)]
mod tests;

pub use body::HealthBody;
pub use check::{Check, HealthCheck, Probes};
pub use details::{Details, DetailsPredicate};
pub use future::{HealthFuture, ResponseFuture};
pub use hardening_core::ConfigError;
pub use health::{Health, HealthBuilder};
pub use layer::HealthLayer;
pub use observation::{IntoObservation, Observation, ObservedValue};
pub use report::{CheckReport, Probe, Report, HEALTH_JSON};
pub use service::{HealthEndpoints, HealthService};
pub use shutdown::{Drain, ShutdownPhases};
pub use status::{aggregate, Criticality, Status};
