//! The error returned for invalid configuration.

use std::fmt;

/// A setting was rejected when the health registry or a check was built.
///
/// It names the setting ([`field`](Self::field)), the rejected value
/// ([`value`](Self::value)) and what was expected, so the message alone is
/// enough to fix the configuration:
///
/// ```
/// use hardening_health::Health;
///
/// let err = Health::builder().readiness_path("readyz").build().unwrap_err();
/// assert_eq!(err.field(), "readiness_path");
/// assert_eq!(err.value(), "readyz");
/// assert!(err.to_string().contains("starts with `/`"));
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

    /// The setting that was rejected, e.g. `"check.timeout"`.
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
