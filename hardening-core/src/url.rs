//! [`mask_password`]: a connection URL fit for an error message or a log.
//!
//! # Example
//!
//! ```
//! use hardening_core::url::mask_password;
//!
//! assert_eq!(mask_password("redis://app:s3cret@cache:6379/0"), "redis://app:***@cache:6379/0");
//! assert_eq!(mask_password("redis://cache:6379/0"), "redis://cache:6379/0");
//! ```

use std::borrow::Cow;

/// `scheme://user:secret@host/…` → `scheme://user:***@host/…`, so a
/// password never reaches an error message or a log.
///
/// The user info is everything before the last `@` that comes before any
/// `?` or `#`; a password holding an unescaped `/` is masked too (at worst
/// an `@` in a path masks more than the password). A URL without `://` or
/// without user info is returned unchanged, without allocating. A user info
/// without `:` is treated as a password (`redis://secret@host`, as the Redis
/// client reads it).
pub fn mask_password(url: &str) -> Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Cow::Borrowed(url);
    };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return Cow::Borrowed(url);
    };
    let userinfo = &rest[..at];
    let user = userinfo.split_once(':').map_or("", |(user, _)| user);
    Cow::Owned(format!("{scheme}://{user}:***{}", &rest[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn masks_the_password_and_keeps_the_rest() {
        assert_eq!(
            mask_password("redis://user:s3cret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(mask_password("redis://:s3cret@host/"), "redis://:***@host/");
        assert_eq!(mask_password("rediss://s3cret@host"), "rediss://:***@host");
        assert_eq!(
            mask_password("redis://u:p@ss@host/1"),
            "redis://u:***@host/1"
        );
        assert_eq!(mask_password("redis://u:pa/ss@host"), "redis://u:***@host");
        assert_eq!(mask_password("redis://host:6379/"), "redis://host:6379/");
        assert_eq!(
            mask_password("redis://host/0?x=a@b"),
            "redis://host/0?x=a@b"
        );
        assert_eq!(mask_password("not a url"), "not a url");
        assert!(matches!(mask_password("redis://h"), Cow::Borrowed(_)));
    }

    proptest! {
        /// Whatever the password, it is gone from the masked URL, and the
        /// host part survives.
        #[test]
        fn the_password_never_survives(
            user in "[a-z]{0,6}",
            password in "[A-Za-z0-9/@:%!]{1,24}",
            host in "[a-z]{1,10}(:[0-9]{1,5})?(/[0-9])?",
        ) {
            let url = format!("redis://{user}:{password}@{host}");
            let masked = mask_password(&url);
            prop_assert_eq!(masked.as_ref(), format!("redis://{user}:***@{host}"));
        }

        /// Arbitrary input never panics.
        #[test]
        fn arbitrary_input(url in ".{0,64}") {
            let _ = mask_password(&url);
        }
    }
}
