//! [`SecurityHeadersLayer`]: presets and path-prefix profiles.

use std::sync::Arc;

use hardening_core::PathPrefix;
use tower_layer::Layer;

use super::builder::SecurityHeadersBuilder;
use super::service::SecurityHeaders;
use super::set::HeaderSet;
use crate::error::ConfigError;

/// Adds security headers to every response of the wrapped service.
///
/// [`strict()`](Self::strict) (also [`Default`]) suits HTML applications,
/// [`api()`](Self::api) JSON APIs; [`builder()`](Self::builder) starts from
/// the strict preset and changes any header. [`for_path_prefix`](Self::for_path_prefix)
/// serves another profile under a path prefix (an API under `/api`).
///
/// Responses of every status get the headers, errors and redirects included.
/// A header the handler already set is left alone unless its
/// [`HeaderMode`](crate::HeaderMode) says otherwise.
///
/// # Clone
///
/// Clones share the precomputed headers (one `Arc`).
#[derive(Clone, Debug)]
pub struct SecurityHeadersLayer {
    profiles: Arc<Profiles>,
}

/// The header sets of a layer: index 0 is the default, the others are chosen
/// by path prefix.
#[derive(Debug)]
pub(crate) struct Profiles {
    pub(crate) sets: Box<[HeaderSet]>,
    /// `(prefix, index into sets)`, longest prefix first.
    prefixes: Box<[(PathPrefix, usize)]>,
}

impl Profiles {
    pub(crate) fn single(set: HeaderSet) -> Self {
        Profiles {
            sets: Box::new([set]),
            prefixes: Box::new([]),
        }
    }

    /// The profile for a request path: the longest matching prefix, matched
    /// on whole segments (`/api` covers `/api` and `/api/items`, not `/apis`).
    pub(crate) fn select(&self, path: &str) -> usize {
        self.prefixes
            .iter()
            .find(|(prefix, _)| prefix.matches(path))
            .map_or(0, |(_, index)| *index)
    }
}

impl Default for SecurityHeadersLayer {
    fn default() -> Self {
        Self::strict()
    }
}

impl SecurityHeadersLayer {
    /// The preset for HTML applications (see the [crate docs](crate) for why
    /// each value):
    ///
    /// | header | value |
    /// |---|---|
    /// | `Content-Security-Policy` | [`ContentSecurityPolicy::strict`](crate::csp::ContentSecurityPolicy::strict) (`upgrade-insecure-requests` on HTTPS requests only) |
    /// | `Strict-Transport-Security` | `max-age=31536000; includeSubDomains` (HTTPS requests only) |
    /// | `X-Frame-Options` | `DENY` (derived from `frame-ancestors 'none'`) |
    /// | `X-Content-Type-Options` | `nosniff` |
    /// | `Referrer-Policy` | `strict-origin-when-cross-origin` |
    /// | `Permissions-Policy` | [`PermissionsPolicy::deny_all`](crate::permissions::PermissionsPolicy::deny_all) |
    /// | `Cross-Origin-Opener-Policy` | `same-origin` |
    /// | `Cross-Origin-Resource-Policy` | `same-origin` |
    /// | `Origin-Agent-Cluster` | `?1` |
    /// | `X-DNS-Prefetch-Control` | `off` |
    /// | `X-Permitted-Cross-Domain-Policies` | `none` |
    /// | `X-Download-Options` | `noopen` |
    /// | `X-XSS-Protection` | `0` |
    /// | `X-Powered-By`, `Server` | removed |
    pub fn strict() -> Self {
        Self::preset(SecurityHeadersBuilder::strict())
    }

    /// The preset for JSON APIs: what still matters when the body is data,
    /// not a document.
    ///
    /// | header | value |
    /// |---|---|
    /// | `Content-Security-Policy` | `default-src 'none'; frame-ancestors 'none'` |
    /// | `Strict-Transport-Security` | `max-age=31536000; includeSubDomains` (HTTPS requests only) |
    /// | `X-Frame-Options` | `DENY` |
    /// | `X-Content-Type-Options` | `nosniff` |
    /// | `Referrer-Policy` | `no-referrer` |
    /// | `Cross-Origin-Resource-Policy` | `same-origin` |
    /// | `X-Permitted-Cross-Domain-Policies` | `none` |
    /// | `Cache-Control` | `no-store` |
    /// | `X-Powered-By`, `Server` | removed |
    ///
    /// Headers that only govern documents (Permissions-Policy, COOP,
    /// Origin-Agent-Cluster, DNS prefetch, download options, XSS auditor)
    /// are left out; the CSP alone makes a response that is rendered anyway
    /// inert.
    pub fn api() -> Self {
        Self::preset(SecurityHeadersBuilder::api())
    }

    /// A builder starting from the [`strict`](Self::strict) preset.
    pub fn builder() -> SecurityHeadersBuilder {
        SecurityHeadersBuilder::strict()
    }

    /// A builder starting from the [`api`](Self::api) preset.
    pub fn api_builder() -> SecurityHeadersBuilder {
        SecurityHeadersBuilder::api()
    }

    fn preset(builder: SecurityHeadersBuilder) -> Self {
        match builder.build() {
            Ok(layer) => layer,
            // The presets are constants checked by the tests; this arm is
            // unreachable, and build time is not request time.
            Err(err) => unreachable!("preset failed to build: {err}"),
        }
    }

    pub(crate) fn from_profiles(profiles: Arc<Profiles>) -> Self {
        SecurityHeadersLayer { profiles }
    }

    /// Serves `profile`'s headers (its default profile) on requests whose
    /// path is `prefix` or below it, and this layer's elsewhere. Prefixes
    /// match whole segments: `/api` covers `/api` and `/api/items`, not
    /// `/apis`; the longest prefix wins.
    ///
    /// ```
    /// use hardening_headers::SecurityHeadersLayer;
    ///
    /// let layer = SecurityHeadersLayer::strict()
    ///     .for_path_prefix("/api", SecurityHeadersLayer::api())
    ///     .unwrap();
    /// # let _ = layer;
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPath`] when `prefix` is not an absolute path.
    pub fn for_path_prefix(
        self,
        prefix: &str,
        profile: SecurityHeadersLayer,
    ) -> Result<Self, ConfigError> {
        let prefix = normalize_prefix(prefix)?;
        let mut sets = self.profiles.sets.to_vec();
        let mut prefixes: Vec<(PathPrefix, usize)> = self
            .profiles
            .prefixes
            .iter()
            .filter(|(p, _)| *p != prefix)
            .cloned()
            .collect();
        sets.push(profile.profiles.sets[0].clone());
        prefixes.push((prefix, sets.len() - 1));
        prefixes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.as_str().len()));
        Ok(SecurityHeadersLayer {
            profiles: Arc::new(Profiles {
                sets: sets.into_boxed_slice(),
                prefixes: prefixes.into_boxed_slice(),
            }),
        })
    }
}

/// `prefix` as a [`PathPrefix`] (an absolute path of visible ASCII, without
/// query or fragment, trailing `/` dropped), or [`ConfigError::InvalidPath`].
pub(crate) fn normalize_prefix(prefix: &str) -> Result<PathPrefix, ConfigError> {
    PathPrefix::new(prefix).ok_or_else(|| ConfigError::InvalidPath {
        path: prefix.to_owned(),
    })
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders::new(inner, self.profiles.clone())
    }
}
