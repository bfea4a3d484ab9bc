//! Configuration errors.

use std::fmt;

/// A setting of the rate limiter is invalid. Names the setting and the
/// offending value, and says what was expected.
///
/// Returned by the builders at build time, never at request time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    value: String,
    expected: &'static str,
}

impl ConfigError {
    pub(crate) fn new(
        field: &'static str,
        value: impl fmt::Display,
        expected: &'static str,
    ) -> Self {
        Self {
            field,
            value: value.to_string(),
            expected,
        }
    }

    /// The setting, e.g. `"policy name"` or `"Quota::new count"`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        &self.value
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
