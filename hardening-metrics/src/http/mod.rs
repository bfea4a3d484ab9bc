//! HTTP server metrics after the OpenTelemetry HTTP semantic conventions.
//!
//! [`HttpMetricsLayer`] records, into a `prometheus_client` [`Registry`]:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `http_server_request_duration_seconds` | histogram, buckets 5 ms … 10 s ([`DURATION_BUCKETS`]) | `http_request_method`, `http_route`, `http_response_status_code`, `error_type` |
//! | `http_server_active_requests` | gauge | `http_request_method` |
//! | `http_server_request_body_size_bytes` | histogram, [opt-in](HttpMetricsBuilder::body_sizes) | as the duration |
//! | `http_server_response_body_size_bytes` | histogram, [opt-in](HttpMetricsBuilder::body_sizes) | as the duration |
//!
//! Every label has a bounded set of values, whatever clients send:
//!
//! - `http_request_method`: the nine standard methods and `PATCH`; any
//!   other method is `_OTHER`.
//! - `http_route`: the route *template* a [`ClassifyRoute`] names (axum's
//!   `MatchedPath` with the `axum` feature), [`UNMATCHED_ROUTE`] for
//!   requests that matched no route — never their path — and
//!   [`OVERFLOW_ROUTE`] past [`max_routes`](HttpMetricsBuilder::max_routes)
//!   distinct names.
//! - `http_response_status_code`: absent when the inner service failed.
//! - `error_type`: absent on success; the status code for 5xx responses,
//!   the inner service's error type name (`Error`, `Elapsed`) when it
//!   failed, [`BODY_ERROR`] when the body failed while streaming.
//!
//! A request is timed from `call` until its response body ends, fails or is
//! dropped, so streaming responses count in full. A request cancelled before
//! it had a response only leaves the active gauge.
//!
//! With axum, add the layer with `Router::layer` (or `route_layer`), so the
//! router has set `MatchedPath` when the layer sees the request.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_core::FakeClock;
//! use hardening_metrics::http::HttpMetricsLayer;
//! use http::{Request, Response};
//! use http_body_util::{BodyExt, Full};
//! use prometheus_client::{encoding::text::encode, registry::Registry};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let clock = FakeClock::new();
//! let mut registry = Registry::default();
//! let layer = HttpMetricsLayer::builder()
//!     .route_classifier(|_: &Request<Full<bytes::Bytes>>| Some("/hello"))
//!     .clock(clock.clone())
//!     .build(&mut registry)
//!     .unwrap();
//! let app = layer.layer(service_fn(|_req| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(Full::new(bytes::Bytes::from("hi"))))
//! }));
//!
//! let response = app.oneshot(Request::new(Full::default())).await.unwrap();
//! clock.advance(Duration::from_millis(20)); // streaming the body takes 20 ms
//! response.into_body().collect().await.unwrap();
//!
//! let mut text = String::new();
//! encode(&mut text, &registry).unwrap();
//! assert!(text.contains(
//!     r#"http_server_request_duration_seconds_sum{http_request_method="GET",http_route="/hello",http_response_status_code="200"} 0.02"#
//! ));
//! # }
//! ```
//!
//! [`Registry`]: prometheus_client::registry::Registry

mod body;
mod future;
mod instruments;
mod layer;
mod method;
mod route;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub(crate) use instruments::Buckets;
pub use instruments::{BODY_ERROR, BODY_SIZE_BUCKETS, DURATION_BUCKETS};
pub use layer::{HttpMetricsBuilder, HttpMetricsLayer, DEFAULT_MAX_ROUTES};
pub use route::{ClassifyRoute, DefaultRoute, OVERFLOW_ROUTE, UNMATCHED_ROUTE};
pub use service::HttpMetrics;

// The tests drive an axum router (MatchedPath), so they need the feature.
#[cfg(all(test, feature = "axum"))]
mod tests;
