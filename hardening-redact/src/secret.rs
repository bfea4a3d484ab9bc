//! [`Secret`]: a value that never prints.

use std::fmt;

use crate::redactor::REDACTED;

/// Wraps a value so that `Debug` and `Display` print `[REDACTED]`.
///
/// Use it for passwords, tokens and keys in request and config structs:
/// a careless `tracing::info!(?login)` then cannot leak them. Read the value
/// with [`expose_secret`](Self::expose_secret), which is easy to grep for.
///
/// With the `serde` feature, `Secret<T>` deserializes as `T` and serializes
/// as the string `"[REDACTED]"`, so echoing a struct back (into a log, a
/// response or an error report) does not leak the value either.
///
/// # Clone
///
/// Cloning clones the wrapped value.
///
/// # Example
///
/// ```
/// use hardening_redact::Secret;
///
/// let password = Secret::new(String::from("hunter2"));
/// assert_eq!(format!("{password:?} {password}"), "[REDACTED] [REDACTED]");
/// assert_eq!(password.expose_secret(), "hunter2");
/// ```
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Secret(value)
    }

    /// The wrapped value.
    pub fn expose_secret(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(feature = "serde")]
impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

#[cfg(feature = "serde")]
impl<T> serde::Serialize for Secret<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = Secret::new(vec![1, 2, 3]);
        assert_eq!(format!("{s:?}"), "[REDACTED]");
        assert_eq!(
            format!("{:#?}", Some(s.clone())),
            "Some(\n    [REDACTED],\n)"
        );
        assert_eq!(s.into_inner(), vec![1, 2, 3]);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_reads_value_and_writes_placeholder() {
        #[derive(serde::Deserialize, serde::Serialize)]
        struct Login {
            user: String,
            password: Secret<String>,
        }
        let login: Login = serde_json::from_str(r#"{"user":"a","password":"hunter2"}"#).unwrap();
        assert_eq!(login.password.expose_secret(), "hunter2");
        assert_eq!(
            serde_json::to_string(&login).unwrap(),
            r#"{"user":"a","password":"[REDACTED]"}"#
        );
    }
}
