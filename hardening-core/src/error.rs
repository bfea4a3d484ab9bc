//! The configuration error every builder of the workspace returns.

use std::fmt;

/// A setting was refused when a layer, a policy or a check was built.
///
/// It names the type being configured ([`component`](Self::component)), the
/// builder method the user called ([`field`](Self::field); for an argument
/// of a constructor, the argument's name), the rejected value
/// ([`value`](Self::value)) and what the setting accepts
/// ([`expected`](Self::expected)), so the message alone is enough to fix the
/// configuration. Every crate of the workspace returns this type and
/// re-exports it as its own `ConfigError`; nothing fails at request time
/// because of configuration.
///
/// # Example
///
/// ```
/// use hardening_core::ConfigError;
///
/// let err = ConfigError::new("CircuitBreakerLayer", "failure_rate_threshold", 1.5, "a number in (0, 1]");
/// assert_eq!(err.field(), "failure_rate_threshold");
/// assert_eq!(err.value(), "1.5");
/// assert_eq!(
///     err.to_string(),
///     "invalid CircuitBreakerLayer setting `failure_rate_threshold` = `1.5`: expected a number in (0, 1]"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigError {
    component: &'static str,
    field: &'static str,
    value: String,
    expected: &'static str,
}

impl ConfigError {
    /// An error for `field` of `component`: `value` (written with `Display`;
    /// pass `format_args!("{d:?}")` for a `Duration`) is not what the setting
    /// accepts, which `expected` says ("at least 1", "a path such as /api").
    pub fn new(
        component: &'static str,
        field: &'static str,
        value: impl fmt::Display,
        expected: &'static str,
    ) -> Self {
        Self {
            component,
            field,
            value: value.to_string(),
            expected,
        }
    }

    /// The type being configured, e.g. `"CircuitBreakerLayer"` or `"Policy"`.
    pub fn component(&self) -> &'static str {
        self.component
    }

    /// The builder method whose argument was refused, e.g.
    /// `"failure_rate_threshold"`.
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
            "invalid {} setting `{}` = `{}`: expected {}",
            self.component, self.field, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn message_names_component_field_value_and_expectation() {
        let err = ConfigError::new(
            "retry",
            "deadline",
            format_args!("{:?}", Duration::ZERO),
            "more than zero",
        );
        assert_eq!(err.component(), "retry");
        assert_eq!(err.field(), "deadline");
        assert_eq!(err.value(), "0ns");
        assert_eq!(err.expected(), "more than zero");
        assert_eq!(
            err.to_string(),
            "invalid retry setting `deadline` = `0ns`: expected more than zero"
        );
    }
}
