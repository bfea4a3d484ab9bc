//! Prometheus / OpenMetrics metrics for tower HTTP services, with label sets
//! bounded by configuration, never by what clients send.
//!
//! Built on the official [`prometheus_client`] crate: you own the
//! [`Registry`](prometheus_client::registry::Registry), nothing is global.
//!
//! | piece | what it does |
//! |---|---|
//! | [`http::HttpMetricsLayer`] | OpenTelemetry HTTP server metrics: request duration until the body ends, active requests, optional body sizes; `http_route` from a route template, one fixed label for unmatched requests |
//! | [`exposition::MetricsService`] | the `/metrics` endpoint: OpenMetrics 1.0.0 or Prometheus text 0.0.4 by `Accept` |
//!
//! # Example
//!
//! ```
//! use hardening_metrics::http::HttpMetricsLayer;
//! use http::{Request, Response};
//! use prometheus_client::{encoding::text::encode, registry::Registry};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut registry = Registry::default();
//! let app = HttpMetricsLayer::new(&mut registry).layer(service_fn(|_req: Request<String>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(String::from("ok")))
//! }));
//! let req = Request::get("/wp-login.php").body(String::new()).unwrap();
//! drop(app.oneshot(req).await.unwrap());
//!
//! let mut text = String::new();
//! encode(&mut text, &registry).unwrap();
//! // The scanner's path is not a label value: unmatched requests share one.
//! assert!(text.contains(r#"http_route="_unmatched""#));
//! assert!(!text.contains("wp-login"));
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod error;
pub mod exposition;
pub mod http;
pub mod layers;

pub use error::ConfigError;
