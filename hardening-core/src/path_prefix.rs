//! [`PathPrefix`]: a request-path prefix that matches whole segments.
//!
//! # Example
//!
//! ```
//! use hardening_core::PathPrefix;
//!
//! let api = PathPrefix::new("/api/").unwrap();
//! assert_eq!(api.as_str(), "/api");
//! assert!(api.matches("/api"));
//! assert!(api.matches("/api/items"));
//! assert!(!api.matches("/apis"));
//! assert!(PathPrefix::new("api").is_none());
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// An absolute path prefix such as `/api`, matched on whole segments: `/api`
/// covers `/api` and `/api/items`, not `/apis`; `/` covers every path.
///
/// Built with [`new`](Self::new), which normalises (a trailing `/` is
/// dropped, except for `/` itself) and validates: the prefix starts with `/`
/// and holds visible ASCII only, without `?` or `#` (a request path never
/// contains those). Matching compares bytes of the raw request path; it does
/// not decode percent-escapes or resolve `..`.
///
/// # Clone
///
/// Cheap: clones share the text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathPrefix(Arc<str>);

impl PathPrefix {
    /// What [`new`](Self::new) accepts, worded for a
    /// [`ConfigError`](crate::ConfigError)'s `expected`.
    pub const EXPECTED: &'static str =
        "an absolute path of visible ASCII without `?` or `#`, such as /api";

    /// The normalised prefix, or `None` when `prefix` is not an absolute path
    /// of visible ASCII without `?` or `#` (see [`EXPECTED`](Self::EXPECTED)).
    pub fn new(prefix: &str) -> Option<Self> {
        let valid = prefix.starts_with('/')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#'));
        if !valid {
            return None;
        }
        Some(PathPrefix(Arc::from(match prefix.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        })))
    }

    /// The normalised prefix, e.g. `/api`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` is the prefix or below it, on a segment boundary.
    pub fn matches(&self, path: &str) -> bool {
        let prefix: &str = &self.0;
        prefix == "/"
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

impl FromStr for PathPrefix {
    type Err = crate::ConfigError;

    /// [`new`](Self::new), with a [`ConfigError`](crate::ConfigError) for
    /// the field `path_prefix`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PathPrefix::new(s)
            .ok_or_else(|| crate::ConfigError::new("PathPrefix", "path_prefix", s, Self::EXPECTED))
    }
}

impl AsRef<str> for PathPrefix {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PathPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for PathPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_trailing_slashes() {
        assert_eq!(PathPrefix::new("/api/").unwrap().as_str(), "/api");
        assert_eq!(PathPrefix::new("/api//").unwrap().as_str(), "/api");
        assert_eq!(PathPrefix::new("/").unwrap().as_str(), "/");
        assert_eq!(PathPrefix::new("//").unwrap().as_str(), "/");
        assert_eq!(PathPrefix::new("/a/b").unwrap().as_str(), "/a/b");
    }

    #[test]
    fn refuses_what_a_request_path_cannot_hold() {
        for bad in ["", "api", "/a b", "/a?b", "/a#b", "/é", "/a\tb", "*"] {
            assert!(PathPrefix::new(bad).is_none(), "{bad:?}");
        }
        let err = "api".parse::<PathPrefix>().unwrap_err();
        assert_eq!(err.field(), "path_prefix");
        assert_eq!(err.value(), "api");
    }

    #[test]
    fn matches_whole_segments_only() {
        let api = PathPrefix::new("/api").unwrap();
        assert!(api.matches("/api"));
        assert!(api.matches("/api/"));
        assert!(api.matches("/api/items/1"));
        assert!(!api.matches("/apis"));
        assert!(!api.matches("/ap"));
        assert!(!api.matches("/"));
        assert!(!api.matches("/v1/api"));
        let root = PathPrefix::new("/").unwrap();
        assert!(root.matches("/"));
        assert!(root.matches("/anything/at/all"));
    }

    proptest! {
        /// A prefix matches exactly the paths equal to it or continuing with
        /// `/` after it, for arbitrary segments on both sides.
        #[test]
        fn matching_is_on_segment_boundaries(
            prefix in "(/[a-z]{1,4}){1,3}",
            rest in "[a-z/]{0,8}",
        ) {
            let p = PathPrefix::new(&prefix).unwrap();
            let path = format!("{prefix}{rest}");
            let expected = rest.is_empty() || rest.starts_with('/');
            prop_assert_eq!(p.matches(&path), expected);
        }

        /// Arbitrary input never panics; what is accepted is normalised,
        /// matches itself and is stable under a second normalisation.
        #[test]
        fn arbitrary_input_normalises_stably(input in ".{0,40}", path in ".{0,40}") {
            if let Some(p) = PathPrefix::new(&input) {
                prop_assert!(p.as_str() == "/" || !p.as_str().ends_with('/'));
                prop_assert!(p.matches(p.as_str()));
                prop_assert_eq!(PathPrefix::new(p.as_str()), Some(p.clone()));
                let _ = p.matches(&path);
            }
        }
    }
}
