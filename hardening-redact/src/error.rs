//! Configuration errors.

/// A [`RedactorBuilder`](crate::RedactorBuilder) setting that cannot be used.
/// Every variant names the offending setting and value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A custom pattern is not a valid regular expression.
    #[error("invalid pattern `{name}`: {source}")]
    InvalidPattern {
        /// The name given to the pattern.
        name: String,
        /// Why the regex crate rejected it.
        #[source]
        source: Box<regex::Error>,
    },
    /// A custom pattern matches the empty string, so it would match everywhere.
    #[error("pattern `{name}` matches the empty string")]
    EmptyMatchPattern {
        /// The name given to the pattern.
        name: String,
    },
    /// Two custom patterns share a name.
    #[error("duplicate pattern name `{name}`")]
    DuplicatePattern {
        /// The repeated name.
        name: String,
    },
    /// A sensitive field name has fewer than two ASCII letters or digits.
    #[error("invalid sensitive field name `{name}`: needs at least two ASCII letters or digits")]
    InvalidFieldName {
        /// The rejected name.
        name: String,
    },
    /// `remove_sensitive_field` named a field that is not in the list.
    #[error("cannot remove sensitive field name `{name}`: it is not in the list")]
    UnknownFieldName {
        /// The name that was not found.
        name: String,
    },
    /// The replacement text is empty or spans lines.
    #[error("invalid replacement text `{text}`: must be non-empty and on one line")]
    InvalidReplacement {
        /// The rejected text.
        text: String,
    },
    /// The fingerprint key is too short to keep fingerprints unguessable.
    #[error("fingerprint key is {len} bytes; at least 16 are required")]
    FingerprintKeyTooShort {
        /// The length that was given.
        len: usize,
    },
}
