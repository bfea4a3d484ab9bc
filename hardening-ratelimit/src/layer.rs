//! [`RateLimitLayer`] and its builder.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use hardening_core::clock::CoarseMonotonicClock;
use hardening_core::observe::RateLimitObserver;
use hardening_core::Clock;
use ipnet::IpNet;
use tower_layer::Layer;

use crate::extract::{KeyExtractor, MissingKey, MissingPeer, PeerIp};
use crate::key::Key;
use crate::limiter::Limiter;
use crate::policy::Policy;
use crate::response::PolicyEntry;
use crate::service::RateLimit;
use crate::store::{InMemoryStore, RateLimitStore};
use crate::ConfigError;

/// How keys appear in the `tracing` event of a rejection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyLogging {
    /// IPs cut to their network (`/24`, `/48`), user ids and header values
    /// replaced by a fingerprint (the default); see [`Key::redacted`].
    #[default]
    Redacted,
    /// The whole key, in clear (user ids and header values as given, unlike
    /// the hashed names a shared store uses). Logs then hold personal data
    /// (IP addresses, user ids) and possibly secrets (API keys).
    Full,
    /// No key at all.
    Omitted,
}

/// Rate limits a tower HTTP service by one or more [`Policy`]s.
///
/// Each request is checked against every policy that matches it (path
/// prefix, optional method), each counting the client under its
/// [`KeyExtractor`]'s key, in **one** all-or-nothing store decision: the
/// request is limited if any policy says no, and then no policy consumes
/// quota.
///
/// A limited request gets `429 Too Many Requests` with `Retry-After` (whole
/// seconds, rounded up, never 0), `RateLimit-Policy` and `RateLimit` headers
/// (draft-ietf-httpapi-ratelimit-headers) and an `application/problem+json`
/// body; the inner service is not called. Admitted responses carry the
/// `RateLimit-Policy` / `RateLimit` headers too, unless switched off with
/// [`RateLimitBuilder::headers_on_allowed`]. Errors are responses, so no
/// `HandleErrorLayer` is needed.
///
/// # Ordering
///
/// In a `ServiceBuilder` (or axum `Router::layer` calls, read bottom-up) put
/// it after whatever must see every request (logging, security headers,
/// health probes that must never be throttled) and after the authentication
/// middleware that inserts [`AuthenticatedUser`](crate::AuthenticatedUser)
/// for [`UserOrIp`](crate::UserOrIp).
///
/// # Clone
///
/// Clones share one limiter: the policies, the store (its state) and the
/// clock sit behind one `Arc`. Every service the layer makes, and every clone
/// of those services, counts against the same quotas.
///
/// # Example
///
/// ```
/// use std::net::SocketAddr;
/// use std::num::NonZeroU32;
/// use hardening_core::{FakeClock, PeerAddr};
/// use hardening_ratelimit::{Policy, Quota, RateLimitLayer};
/// use http::{Request, Response, StatusCode};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = RateLimitLayer::builder()
///     .policy(Policy::new("login", Quota::per_minute(NonZeroU32::new(2).unwrap())).path_prefix("/auth"))
///     .clock(FakeClock::new())
///     .build()
///     .unwrap();
/// let svc = layer.layer(service_fn(|_req: Request<()>| async {
///     Ok::<_, std::convert::Infallible>(Response::new(String::from("welcome")))
/// }));
///
/// let login = || {
///     let mut req = Request::post("/auth/login").body(()).unwrap();
///     req.extensions_mut().insert(PeerAddr("203.0.113.9:5000".parse::<SocketAddr>().unwrap()));
///     req
/// };
/// let ok = svc.clone().oneshot(login()).await.unwrap();
/// assert_eq!(ok.status(), StatusCode::OK);
/// assert_eq!(ok.headers()["ratelimit"], "\"login\";r=1;t=30");
/// svc.clone().oneshot(login()).await.unwrap();
///
/// let limited = svc.clone().oneshot(login()).await.unwrap();
/// assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(limited.headers()["retry-after"], "30");
/// assert_eq!(limited.headers()["ratelimit-policy"], "\"login\";q=2;w=60");
/// # }
/// ```
pub struct RateLimitLayer<St = InMemoryStore> {
    limiter: Arc<Limiter<St>>,
}

impl<St> Clone for RateLimitLayer<St> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
        }
    }
}

impl<St> fmt::Debug for RateLimitLayer<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitLayer")
            .field(
                "policies",
                &self
                    .limiter
                    .entries
                    .iter()
                    .map(|e| &e.policy)
                    .collect::<Vec<_>>(),
            )
            .field("enabled", &self.limiter.enabled)
            .finish_non_exhaustive()
    }
}

impl RateLimitLayer<InMemoryStore> {
    /// A builder with the defaults: in-memory store, coarse monotonic clock, keys by
    /// [`PeerIp`], headers on admitted responses, no legacy headers, keyless
    /// requests under the shared [`Key::unknown`], keys redacted in logs.
    pub fn builder() -> RateLimitBuilder<InMemoryStore> {
        RateLimitBuilder {
            policies: Vec::new(),
            key: Arc::new(PeerIp::new()),
            store: InMemoryStore::new(),
            clock: Arc::new(CoarseMonotonicClock::new()),
            enabled: true,
            headers_on_allowed: true,
            legacy_headers: false,
            missing_key: MissingKey::default(),
            missing_peer: MissingPeer::default(),
            bypass_keys: Vec::new(),
            bypass_nets: Vec::new(),
            key_logging: KeyLogging::default(),
            observer: None,
        }
    }
}

impl<St> RateLimitLayer<St> {
    /// The store holding the limiter's state (to inspect or sweep it).
    pub fn store(&self) -> &St {
        &self.limiter.store
    }

    /// The decision core (for unit tests).
    #[cfg(test)]
    pub(crate) fn limiter(&self) -> &Limiter<St> {
        &self.limiter
    }

    /// The policies, in the order they were added.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.limiter.entries.iter().map(|e| &e.policy)
    }
}

impl<S, St> Layer<S> for RateLimitLayer<St> {
    type Service = RateLimit<S, St>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::new(inner, self.limiter.clone())
    }
}

/// Builds a [`RateLimitLayer`]; see [`RateLimitLayer::builder`].
pub struct RateLimitBuilder<St> {
    policies: Vec<Policy>,
    key: Arc<dyn KeyExtractor>,
    store: St,
    clock: Arc<dyn Clock>,
    enabled: bool,
    headers_on_allowed: bool,
    legacy_headers: bool,
    missing_key: MissingKey,
    missing_peer: MissingPeer,
    bypass_keys: Vec<Key>,
    bypass_nets: Vec<String>,
    key_logging: KeyLogging,
    observer: Option<Arc<dyn RateLimitObserver>>,
}

impl<St> fmt::Debug for RateLimitBuilder<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitBuilder")
            .field("policies", &self.policies)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl<St> RateLimitBuilder<St> {
    /// Reports every decision (admitted, rejected, bypassed, store error)
    /// of each policy to `observer` (e.g. `hardening-metrics`'
    /// `LayerMetrics::ratelimit`), bound once per policy by its name when
    /// the layer is built, and hands each policy's observer to the store
    /// ([`RateLimitStore::observe`]) for its state, fallback, overflow and
    /// tracked-key figures. Without one the request path pays one branch.
    pub fn observer(mut self, observer: impl RateLimitObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Adds a policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policies.push(policy);
        self
    }

    /// Adds several policies (e.g. [`Policy::defaults`]).
    pub fn policies(mut self, policies: impl IntoIterator<Item = Policy>) -> Self {
        self.policies.extend(policies);
        self
    }

    /// The key extractor of policies that have none of their own (default:
    /// [`PeerIp`]).
    pub fn key(mut self, extractor: impl KeyExtractor) -> Self {
        self.key = Arc::new(extractor);
        self
    }

    /// Keeps state in `store` instead of a default [`InMemoryStore`] (e.g.
    /// `InMemoryStore::with_max_keys(..)`, or a shared store).
    pub fn store<St2: RateLimitStore>(self, store: St2) -> RateLimitBuilder<St2> {
        RateLimitBuilder {
            policies: self.policies,
            key: self.key,
            store,
            clock: self.clock,
            enabled: self.enabled,
            headers_on_allowed: self.headers_on_allowed,
            legacy_headers: self.legacy_headers,
            missing_key: self.missing_key,
            missing_peer: self.missing_peer,
            bypass_keys: self.bypass_keys,
            bypass_nets: self.bypass_nets,
            key_logging: self.key_logging,
            observer: self.observer,
        }
    }

    /// Reads time from `clock` (default: [`CoarseMonotonicClock`]). Each
    /// decided request reads it once. The coarse clock costs 4.4 ns a read
    /// on the benchmark VM against 25.5 ns for
    /// [`MonotonicClock`](hardening_core::MonotonicClock) (`RL_PROFILE=clocks`
    /// in `benches/benches/ratelimit.rs`), and its resolution of a few
    /// milliseconds is finer than the period of any practical per-client
    /// quota. Tests pass a [`FakeClock`](hardening_core::FakeClock) and keep
    /// a clone to move time.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// `false` turns rate limiting off entirely: every request passes
    /// through untouched (for test environments). Default `true`.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Whether admitted responses carry `RateLimit-Policy` / `RateLimit`
    /// (default `true`). `429`s always carry them.
    pub fn headers_on_allowed(mut self, on: bool) -> Self {
        self.headers_on_allowed = on;
        self
    }

    /// Whether to add the legacy `X-RateLimit-Limit`, `X-RateLimit-Remaining`
    /// and `X-RateLimit-Reset` (seconds) headers, for the matching policy
    /// with the fewest remaining requests (default `false`).
    pub fn legacy_headers(mut self, on: bool) -> Self {
        self.legacy_headers = on;
        self
    }

    /// What to do with requests whose key cannot be extracted (default:
    /// [`MissingKey::SharedKey`]).
    pub fn missing_key(mut self, rule: MissingKey) -> Self {
        self.missing_key = rule;
        self
    }

    /// What to do when a key extractor that needs the TCP peer address
    /// finds none, i.e. the server does not record it (default:
    /// [`MissingPeer::Warn`], a rate-limited warning, then the
    /// [`missing_key`](Self::missing_key) rule). [`MissingPeer::Reject`]
    /// answers `500` instead, so the misconfiguration cannot go unnoticed.
    pub fn on_missing_peer(mut self, rule: MissingPeer) -> Self {
        self.missing_peer = rule;
        self
    }

    /// Never limits requests counted under `key` (a monitoring user, an
    /// internal API key).
    pub fn bypass_key(mut self, key: Key) -> Self {
        self.bypass_keys.push(key);
        self
    }

    /// Never limits requests whose IP key lies inside `cidr`
    /// (`"10.0.0.0/8"`, `"2001:db8::/32"` or a single address). Checked when
    /// the layer is built. An IPv6 key grouped by `/64` is bypassed when its
    /// whole `/64` lies inside `cidr`.
    pub fn bypass_cidr(mut self, cidr: impl Into<String>) -> Self {
        self.bypass_nets.push(cidr.into());
        self
    }

    /// How keys appear in rejection logs (default: [`KeyLogging::Redacted`]).
    pub fn log_keys(mut self, logging: KeyLogging) -> Self {
        self.key_logging = logging;
        self
    }

    /// Builds the layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when there is no policy, when a policy's name or
    /// path prefix is invalid, when two policies share a name, or when a
    /// bypass CIDR does not parse.
    pub fn build(self) -> Result<RateLimitLayer<St>, ConfigError>
    where
        St: RateLimitStore,
    {
        if self.policies.is_empty() {
            return Err(ConfigError::new(
                "RateLimitLayer",
                "policy",
                "none",
                "at least one Policy",
            ));
        }
        let mut names = HashSet::new();
        for p in &self.policies {
            p.validate()?;
            if !names.insert(p.name().to_owned()) {
                return Err(ConfigError::new(
                    "RateLimitLayer",
                    "policy",
                    p.name(),
                    "a name used by one policy of the layer only",
                ));
            }
        }
        let bypass_nets = self
            .bypass_nets
            .iter()
            .map(|s| {
                let t = s.trim();
                t.parse::<IpNet>()
                    .or_else(|_| t.parse::<IpAddr>().map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| {
                        ConfigError::new(
                            "RateLimitLayer",
                            "bypass_cidr",
                            s,
                            "a CIDR such as 10.0.0.0/8 or an IP address",
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let observers = self.observer.as_ref().map(|o| {
            self.policies
                .iter()
                .map(|p| {
                    let observer = o.policy(p.name());
                    self.store.observe(p, &observer);
                    observer
                })
                .collect::<Box<[_]>>()
        });
        let entries = self
            .policies
            .into_iter()
            .map(|p| {
                let extractor = p
                    .key_extractor()
                    .cloned()
                    .unwrap_or_else(|| self.key.clone());
                PolicyEntry::new(p, extractor)
            })
            .collect();
        Ok(RateLimitLayer {
            limiter: Arc::new(Limiter {
                entries,
                store: self.store,
                clock: self.clock,
                enabled: self.enabled,
                headers_on_allowed: self.headers_on_allowed,
                legacy_headers: self.legacy_headers,
                missing_key: self.missing_key,
                missing_peer: self.missing_peer,
                missing_peer_logged: AtomicU64::new(0),
                bypass_keys: self.bypass_keys,
                bypass_nets,
                key_logging: self.key_logging,
                observers,
            }),
        })
    }
}
