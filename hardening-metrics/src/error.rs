//! The error returned for invalid configuration.

/// The workspace's one configuration error ([`hardening_core::ConfigError`]):
/// a metrics builder names its component, the builder method, the rejected
/// value and what was expected.
///
/// ```
/// use hardening_metrics::http::HttpMetricsLayer;
/// use prometheus_client::registry::Registry;
///
/// let mut registry = Registry::default();
/// let err = HttpMetricsLayer::builder()
///     .max_routes(0)
///     .build(&mut registry)
///     .unwrap_err();
/// assert_eq!(err.component(), "HttpMetricsLayer");
/// assert_eq!(err.field(), "max_routes");
/// assert_eq!(err.value(), "0");
/// assert!(err.to_string().contains("at least 1"));
/// ```
pub use hardening_core::ConfigError;
