//! A named quota applied to the requests it matches: [`Policy`].

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};

use hardening_core::PathPrefix;
use http::Method;

use crate::extract::KeyExtractor;
use crate::gcra::Gcra;
use crate::quota::Quota;
use crate::ConfigError;

/// A [`Quota`] with a name, applied to the requests whose path starts with a
/// prefix (and, optionally, that use one method), each client counted under
/// the [`Key`](crate::Key) its [`KeyExtractor`] returns.
///
/// The name appears in the `RateLimit-Policy` / `RateLimit` headers, the
/// `429` body and the logs, and it names the policy's state in a shared store:
/// two policies with the same name share state there (this is how replicas
/// share a limit). Names are 1 to 64 characters `A-Z a-z 0-9 _ - .`, unique
/// within a layer; the layer's builder checks this.
///
/// Path prefixes match whole segments: `/auth` matches `/auth` and
/// `/auth/login`, not `/authors`. A policy without a prefix matches every
/// path.
///
/// # Clone
///
/// Cheap: clones share the name and the key extractor.
///
/// # Example
///
/// ```
/// use std::num::NonZeroU32;
/// use http::Method;
/// use hardening_ratelimit::{Policy, Quota};
///
/// let login = Policy::new("login", Quota::per_minute(NonZeroU32::new(5).unwrap()))
///     .path_prefix("/auth")
///     .method(Method::POST);
/// assert!(login.matches(&Method::POST, "/auth/login"));
/// assert!(!login.matches(&Method::GET, "/auth/login"));
/// assert!(!login.matches(&Method::POST, "/authors"));
/// ```
#[derive(Clone)]
pub struct Policy {
    name: Arc<str>,
    id: PolicyId,
    quota: Quota,
    gcra: Gcra,
    /// `Err` holds a prefix that did not validate, for [`Policy::validate`].
    path_prefix: Option<Result<PathPrefix, Arc<str>>>,
    method: Option<Method>,
    key: Option<Arc<dyn KeyExtractor>>,
}

/// A process-wide number for a policy name: equal names, equal ids. The
/// in-memory store keys its state by `(PolicyId, Key)`, which is hashed and
/// compared faster than the name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId(u32);

impl PolicyId {
    /// The id of `name`, the same for every call with the same name.
    pub fn of(name: &str) -> Self {
        static IDS: OnceLock<Mutex<HashMap<Box<str>, u32>>> = OnceLock::new();
        let ids = IDS.get_or_init(Default::default);
        // A poisoned registry still holds consistent data (insertions are
        // single statements), so keep using it.
        let mut ids = ids.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = ids.get(name) {
            return PolicyId(*id);
        }
        let id = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        ids.insert(name.into(), id);
        PolicyId(id)
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// The id whose number is `n` (the in-memory store packs ids into its
    /// compact keys and reads them back).
    pub(crate) const fn from_raw(n: u32) -> Self {
        PolicyId(n)
    }
}

impl Policy {
    /// A policy named `name` enforcing `quota` on every request (narrow it with
    /// [`path_prefix`](Policy::path_prefix) and [`method`](Policy::method)).
    pub fn new(name: impl Into<Arc<str>>, quota: Quota) -> Self {
        let name = name.into();
        Self {
            id: PolicyId::of(&name),
            name,
            quota,
            gcra: Gcra::new(quota),
            path_prefix: None,
            method: None,
            key: None,
        }
    }

    /// The seed defaults of the `secure_api` example, and a sane start for an
    /// API: `auth` 5/min on `/auth`, `api` 60/min on `/api`, `llm` 20/min on
    /// `/llm`. They use the layer's key extractor unless you set one.
    pub fn defaults() -> [Policy; 3] {
        const fn nz(n: u32) -> NonZeroU32 {
            match NonZeroU32::new(n) {
                Some(n) => n,
                None => NonZeroU32::MIN,
            }
        }
        [
            Policy::new("auth", Quota::per_minute(nz(5))).path_prefix("/auth"),
            Policy::new("api", Quota::per_minute(nz(60))).path_prefix("/api"),
            Policy::new("llm", Quota::per_minute(nz(20))).path_prefix("/llm"),
        ]
    }

    /// Applies the policy only to paths under `prefix`, a [`PathPrefix`]
    /// (an absolute path such as `/api`; checked when the layer is built,
    /// and an invalid one matches nothing). A trailing `/` is ignored.
    pub fn path_prefix(mut self, prefix: impl AsRef<str>) -> Self {
        let prefix = prefix.as_ref();
        self.path_prefix = Some(PathPrefix::new(prefix).ok_or_else(|| Arc::from(prefix)));
        self
    }

    /// Applies the policy only to requests with this method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// Counts requests under the key `extractor` returns, instead of the
    /// layer's default extractor.
    pub fn key(mut self, extractor: impl KeyExtractor) -> Self {
        self.key = Some(Arc::new(extractor));
        self
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name, shared.
    pub fn name_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The id of the name.
    pub fn id(&self) -> PolicyId {
        self.id
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    /// The quota's GCRA parameters.
    pub fn gcra(&self) -> &Gcra {
        &self.gcra
    }

    /// The policy's own key extractor, if it has one.
    pub fn key_extractor(&self) -> Option<&Arc<dyn KeyExtractor>> {
        self.key.as_ref()
    }

    /// Whether a request with this method and path is subject to the policy.
    #[inline]
    pub fn matches(&self, method: &Method, path: &str) -> bool {
        if let Some(m) = &self.method {
            if m != method {
                return false;
            }
        }
        match &self.path_prefix {
            None => true,
            Some(Ok(prefix)) => prefix.matches(path),
            Some(Err(_)) => false,
        }
    }

    /// Checks the name and the path prefix (the layer's builder calls this).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `name` or `path_prefix` and the bad value.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !name_ok {
            return Err(ConfigError::new(
                "Policy",
                "name",
                &self.name,
                "1 to 64 characters A-Z a-z 0-9 _ - .",
            ));
        }
        if let Some(Err(prefix)) = &self.path_prefix {
            return Err(ConfigError::new(
                "Policy",
                "path_prefix",
                prefix,
                PathPrefix::EXPECTED,
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("quota", &self.quota)
            .field("path_prefix", &self.path_prefix)
            .field("method", &self.method)
            .field("key", &self.key.as_ref().map(|_| ".."))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> Quota {
        Quota::per_second(NonZeroU32::MIN)
    }

    #[test]
    fn prefix_matches_whole_segments() {
        let p = Policy::new("a", q()).path_prefix("/api/");
        assert!(p.matches(&Method::GET, "/api"));
        assert!(p.matches(&Method::GET, "/api/items"));
        assert!(!p.matches(&Method::GET, "/apix"));
        assert!(!p.matches(&Method::GET, "/"));
        let all = Policy::new("b", q()).path_prefix("/");
        assert!(all.matches(&Method::DELETE, "/anything"));
        assert!(Policy::new("c", q()).matches(&Method::GET, "/x"));
    }

    #[test]
    fn ids_follow_names() {
        assert_eq!(
            PolicyId::of("same-name"),
            Policy::new("same-name", q()).id()
        );
        assert_ne!(PolicyId::of("one"), PolicyId::of("two"));
    }

    #[test]
    fn validation_names_the_field() {
        let err = Policy::new("bad name", q()).validate().unwrap_err();
        assert_eq!((err.component(), err.field()), ("Policy", "name"));
        assert_eq!(err.value(), "bad name");
        assert!(Policy::new("", q()).validate().is_err());
        assert!(Policy::new("x".repeat(65), q()).validate().is_err());
        let err = Policy::new("ok", q())
            .path_prefix("api")
            .validate()
            .unwrap_err();
        assert_eq!(err.field(), "path_prefix");
        assert!(Policy::new("ok.v2_x-y", q())
            .path_prefix("/a")
            .validate()
            .is_ok());
        let names: Vec<_> = Policy::defaults()
            .iter()
            .map(|p| p.name().to_owned())
            .collect();
        assert_eq!(names, ["auth", "api", "llm"]);
    }
}
