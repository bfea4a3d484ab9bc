//! The error returned for invalid configuration.

use std::fmt;

/// A setting was rejected when a metrics layer was built.
///
/// It names the builder method ([`field`](Self::field)), the rejected value
/// ([`value`](Self::value)) and what was expected:
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
/// assert_eq!(err.field(), "max_routes");
/// assert_eq!(err.value(), "0");
/// assert!(err.to_string().contains("at least 1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: String,
    expected: &'static str,
}

impl ConfigError {
    pub(crate) fn new(
        field: &'static str,
        value: impl Into<String>,
        expected: &'static str,
    ) -> Self {
        Self {
            field,
            value: value.into(),
            expected,
        }
    }

    /// The builder method whose value was rejected, e.g. `"max_routes"`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the setting accepts.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} `{}`: expected {}",
            self.field, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}
