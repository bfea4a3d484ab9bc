//! Who is counted: the [`KeyExtractor`] strategy and the ready-made
//! extractors.
//!
//! A key extractor looks at a request and returns the [`Key`] it is counted
//! against, or `None` when it cannot tell (see [`MissingKey`]). Closures
//! `Fn(&RequestRef<'_>) -> Option<Key>` are extractors too.
//!
//! | extractor | key |
//! |---|---|
//! | [`PeerIp`] | the TCP peer address |
//! | [`ClientIp::trusting`] | the client address behind your reverse proxies |
//! | [`UserOrIp`] | the authenticated user, else the client address |
//! | [`Header`] | a header value, such as an API key |
//! | [`Global`] | one key for everybody |
//!
//! IP keys group IPv6 addresses by prefix (default `/64`), so a host cannot
//! rotate through its allocation to escape its limit.
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use hardening_core::{PeerAddr, TrustedProxies};
//! use hardening_ratelimit::{ClientIp, Key, KeyExtractor, RequestRef};
//!
//! let behind_lb = ClientIp::trusting(TrustedProxies::parse(["10.0.0.0/8"]).unwrap());
//!
//! let mut req = http::Request::builder()
//!     .header("x-forwarded-for", "6.6.6.6, 203.0.113.9")
//!     .body(())
//!     .unwrap();
//! req.extensions_mut().insert(PeerAddr("10.0.0.2:4000".parse::<SocketAddr>().unwrap()));
//! let key = behind_lb.extract(&RequestRef::from(&req));
//! assert_eq!(key, Some(Key::ip("203.0.113.9".parse().unwrap(), 64)));
//!
//! // A closure is an extractor too.
//! let tenant = |req: &RequestRef<'_>| {
//!     req.headers().get("x-tenant")?.to_str().ok().map(Key::custom)
//! };
//! assert_eq!(tenant.extract(&RequestRef::from(&req)), None);
//! ```

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

pub use hardening_core::RequestRef;
use hardening_core::TrustedProxies;
use http::header::HeaderName;

use crate::key::Key;
use crate::ConfigError;

/// Default IPv6 grouping prefix: one subscriber's usual allocation.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// Longest header value [`Header`] accepts as a key; longer values count as
/// missing, so a client cannot make the limiter store big keys.
pub const MAX_HEADER_KEY_LEN: usize = 256;

/// Chooses the [`Key`] a request is counted against.
///
/// Implemented by the ready-made extractors of this module and by closures
/// `Fn(&RequestRef<'_>) -> Option<Key> + Send + Sync + 'static`. Return
/// `None` when the request carries no usable key; the layer then applies its
/// [`MissingKey`] rule. Extractors run on every request: keep them cheap and
/// never panic.
///
/// # Why not `hardening_circuit::KeyExtractor`'s shape
///
/// The keyed circuit breaker has a trait of the same name for the same idea
/// (pick the key of a request), shaped `KeyExtractor<Req>` with an
/// associated key type borrowed from the request (`Cow<'a, Self::Key>`).
/// The two stay apart on purpose, because what each layer does with the key
/// differs:
///
/// - A rate-limit layer holds a *different* extractor per policy, so this
///   trait is object safe (`Arc<dyn KeyExtractor>`) and sees the request
///   through [`RequestRef`], independent of the body type; a generic
///   `Req` parameter would make each policy's type part of the layer's.
/// - Every policy must agree on one key type, [`Key`], because the store
///   needs its stable storage form (hashed text, grouped IPv6) and the
///   in-memory store packs IP keys into 16 bytes. A breaker only needs a
///   hashable key it can look up without allocating, hence the borrowed,
///   arbitrary key type there.
/// - [`needs_peer_addr`](Self::needs_peer_addr) (detecting a server that
///   does not record peers) has no meaning for a client-side breaker.
///
/// A shared trait in `hardening-core` would need an associated key type,
/// a request type parameter *and* a higher-ranked lifetime to stay object
/// safe here, and would add a method the breaker cannot use: more to learn
/// than two small traits. Both are closures in the common case, and both
/// return `None` for "no key" (here: the [`MissingKey`] rule; there: the
/// shared fallback breaker).
pub trait KeyExtractor: Send + Sync + 'static {
    /// The key of `req`, if it has one.
    fn extract(&self, req: &RequestRef<'_>) -> Option<Key>;

    /// Whether this extractor keys requests by the TCP peer address, so a
    /// request without one ([`RequestRef::peer_addr`] is `None`) means the
    /// server is not recording it (see [`MissingPeer`]). `false` by
    /// default; [`PeerIp`], [`ClientIp`] and a [`UserOrIp`] falling back to
    /// one of them say `true`.
    fn needs_peer_addr(&self) -> bool {
        false
    }
}

impl<F> KeyExtractor for F
where
    F: Fn(&RequestRef<'_>) -> Option<Key> + Send + Sync + 'static,
{
    fn extract(&self, req: &RequestRef<'_>) -> Option<Key> {
        self(req)
    }
}

impl<K: KeyExtractor + ?Sized> KeyExtractor for Arc<K> {
    fn extract(&self, req: &RequestRef<'_>) -> Option<Key> {
        (**self).extract(req)
    }

    fn needs_peer_addr(&self) -> bool {
        (**self).needs_peer_addr()
    }
}

/// What happens to a request whose key cannot be extracted (no peer address,
/// no header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// Count it under the one shared [`Key::unknown`] (the default): keyless
    /// requests share one quota, and never escape limiting.
    #[default]
    SharedKey,
    /// Let it through unlimited.
    Allow,
    /// Reject it with `429`.
    Reject,
}

/// What happens when an extractor that keys by the TCP peer address
/// ([`PeerIp`], [`ClientIp`], [`UserOrIp`] over one of them) finds none.
///
/// That is a server configuration error, never a client's doing: the
/// server does not record the peer (axum served without
/// `into_make_service_with_connect_info::<SocketAddr>()`, the `axum`
/// feature of this crate off, or plain hyper code that does not insert
/// [`PeerAddr`](hardening_core::PeerAddr)). Left alone, *every* client
/// then shares one [`Key::unknown`] bucket, so one client can lock all the
/// others out.
///
/// Either way a `tracing` event says so: a `warn` at the first such request
/// and then at most once a minute on the layer's clock (under `Reject`, an
/// `error`, equally rate-limited).
///
/// Detection relies on [`KeyExtractor::needs_peer_addr`]: an extractor of
/// your own that keys by the peer address should implement the trait and
/// return `true` there (a closure cannot, and is never reported).
///
/// # Example
///
/// ```
/// use std::num::NonZeroU32;
/// use hardening_ratelimit::{MissingPeer, Policy, Quota, RateLimitLayer};
/// use http::{Request, Response, StatusCode};
/// use tower::{service_fn, Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let svc = RateLimitLayer::builder()
///     .policy(Policy::new("api", Quota::per_minute(NonZeroU32::new(60).unwrap())))
///     .on_missing_peer(MissingPeer::Reject)
///     .build()
///     .unwrap()
///     .layer(service_fn(|_req: Request<()>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(String::new()))
///     }));
/// // No PeerAddr / ConnectInfo in the request: the server is misconfigured.
/// let res = svc.oneshot(Request::new(())).await.unwrap();
/// assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingPeer {
    /// Warn (rate-limited) and apply the [`MissingKey`] rule, by default
    /// the one shared [`Key::unknown`] bucket (the default, for
    /// compatibility).
    #[default]
    Warn,
    /// Answer `500 Internal Server Error` with an
    /// `application/problem+json` body, without calling the inner service,
    /// and log an `error`: the misconfiguration fails the first request of
    /// any smoke test instead of silently pooling all clients. Recommended
    /// in production.
    Reject,
}

fn check_prefix(component: &'static str, prefix: u8) -> Result<u8, ConfigError> {
    if (1..=128).contains(&prefix) {
        Ok(prefix)
    } else {
        Err(ConfigError::new(
            component,
            "with_ipv6_prefix",
            prefix,
            "a prefix length from 1 to 128, such as 64",
        ))
    }
}

/// The TCP peer address (IPv6 grouped by prefix). Use it when clients connect
/// directly; behind a reverse proxy every client would share the proxy's
/// address: use [`ClientIp::trusting`] there.
///
/// Reads [`PeerAddr`](hardening_core::PeerAddr) (insert it in plain hyper
/// serving code) or, with the `axum` feature, axum's
/// `ConnectInfo<SocketAddr>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerIp {
    ipv6_prefix: u8,
}

impl Default for PeerIp {
    fn default() -> Self {
        Self::new()
    }
}

impl PeerIp {
    /// The peer address, IPv6 grouped by `/64`.
    pub const fn new() -> Self {
        Self {
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }

    /// Groups IPv6 addresses by `/prefix` instead (`128` disables grouping).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] unless `prefix` is 1 to 128.
    pub fn with_ipv6_prefix(self, prefix: u8) -> Result<Self, ConfigError> {
        Ok(Self {
            ipv6_prefix: check_prefix("PeerIp", prefix)?,
        })
    }
}

impl KeyExtractor for PeerIp {
    #[inline]
    fn extract(&self, req: &RequestRef<'_>) -> Option<Key> {
        req.peer_addr()
            .map(|peer| Key::ip(peer.ip(), self.ipv6_prefix))
    }

    fn needs_peer_addr(&self) -> bool {
        true
    }
}

/// The client address behind trusted reverse proxies: the forwarding header
/// (`X-Forwarded-For` or `Forwarded`, as configured on the
/// [`TrustedProxies`]) is walked right to left skipping only trusted proxy
/// CIDRs, and ignored entirely when the peer is not a trusted proxy, so a
/// client can never choose its own key. The resolution is
/// [`TrustedProxies::client_ip_from`]'s.
///
/// # Clone
///
/// Copies the trusted network list.
#[derive(Clone, Debug)]
pub struct ClientIp {
    proxies: TrustedProxies,
    ipv6_prefix: u8,
}

impl ClientIp {
    /// The client address, believing the forwarding headers of `proxies`.
    pub fn trusting(proxies: TrustedProxies) -> Self {
        Self {
            proxies,
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }

    /// Groups IPv6 addresses by `/prefix` instead of `/64`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] unless `prefix` is 1 to 128.
    pub fn with_ipv6_prefix(mut self, prefix: u8) -> Result<Self, ConfigError> {
        self.ipv6_prefix = check_prefix("ClientIp", prefix)?;
        Ok(self)
    }

    /// The client address of a request (ungrouped).
    pub fn client_ip(&self, req: &RequestRef<'_>) -> Option<IpAddr> {
        let peer = req.peer_addr()?;
        Some(self.proxies.client_ip_from(peer.ip(), req.headers()))
    }
}

impl KeyExtractor for ClientIp {
    fn extract(&self, req: &RequestRef<'_>) -> Option<Key> {
        self.client_ip(req).map(|ip| Key::ip(ip, self.ipv6_prefix))
    }

    fn needs_peer_addr(&self) -> bool {
        true
    }
}

/// The authenticated user of a request: a request extension your
/// authentication middleware inserts once it has verified the credentials.
/// [`UserOrIp`] reads it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AuthenticatedUser(pub Arc<str>);

impl AuthenticatedUser {
    /// A user id.
    pub fn new(id: impl Into<Arc<str>>) -> Self {
        Self(id.into())
    }
}

/// The authenticated user ([`AuthenticatedUser`] extension) when there is
/// one, else the `fallback` extractor (the client address) for anonymous
/// requests. Put the authentication middleware *outside* (before) the rate
/// limit layer so the extension is set when the limiter runs.
#[derive(Clone, Debug)]
pub struct UserOrIp<F = ClientIp> {
    fallback: F,
}

impl<F: KeyExtractor> UserOrIp<F> {
    /// Users by id, anonymous requests by `fallback`
    /// (`ClientIp::trusting(..)` or `PeerIp::new()`).
    pub fn new(fallback: F) -> Self {
        Self { fallback }
    }
}

impl<F: KeyExtractor> KeyExtractor for UserOrIp<F> {
    fn extract(&self, req: &RequestRef<'_>) -> Option<Key> {
        match req.extensions().get::<AuthenticatedUser>() {
            Some(user) => Some(Key::user(user.0.clone())),
            None => self.fallback.extract(req),
        }
    }

    fn needs_peer_addr(&self) -> bool {
        self.fallback.needs_peer_addr()
    }
}

/// The value of one request header, such as an API key. A missing, empty,
/// non-visible-ASCII or longer than [`MAX_HEADER_KEY_LEN`] value counts as
/// no key.
///
/// Only use it for headers that are verified (an API key checked by an
/// earlier layer) or where a client choosing its own key is harmless: a
/// client can send a different value with each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    name: HeaderName,
}

impl Header {
    /// The value of header `name`.
    pub fn new(name: HeaderName) -> Self {
        Self { name }
    }

    /// The value of the header named `name`.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `name` is not a valid header name.
    pub fn named(name: &str) -> Result<Self, ConfigError> {
        HeaderName::try_from(name)
            .map(Self::new)
            .map_err(|_| ConfigError::new("Header", "named", name, "a valid HTTP header name"))
    }
}

impl KeyExtractor for Header {
    fn extract(&self, req: &RequestRef<'_>) -> Option<Key> {
        let value = req.headers().get(&self.name)?.to_str().ok()?.trim();
        if value.is_empty() || value.len() > MAX_HEADER_KEY_LEN {
            return None;
        }
        Some(Key::header_value(value))
    }
}

/// One key for every request: a global limit on a route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Global;

impl KeyExtractor for Global {
    fn extract(&self, _req: &RequestRef<'_>) -> Option<Key> {
        Some(Key::global())
    }
}

impl fmt::Debug for dyn KeyExtractor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyExtractor")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardening_core::PeerAddr;
    use http::Request;
    use std::net::SocketAddr;

    fn req(peer: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("/login");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut r = b.body(()).unwrap();
        r.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
        r
    }

    fn ip_key(s: &str) -> Option<Key> {
        Some(Key::ip(s.parse().unwrap(), 64))
    }

    #[test]
    fn forged_forwarded_for_from_untrusted_peer_is_ignored() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8"]).unwrap();
        let r = req("198.51.100.7:5000", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            ClientIp::trusting(proxies.clone()).extract(&(&r).into()),
            ip_key("198.51.100.7")
        );
        // With nobody trusted, the header never matters.
        let r = req("10.0.0.1:5000", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(
            ClientIp::trusting(TrustedProxies::none()).extract(&(&r).into()),
            ip_key("10.0.0.1")
        );
        // PeerIp never reads headers.
        assert_eq!(PeerIp::new().extract(&(&r).into()), ip_key("10.0.0.1"));
    }

    #[test]
    fn chain_through_trusted_proxies_yields_the_real_client() {
        let proxies = TrustedProxies::parse(["10.0.0.0/8", "192.168.0.0/16"]).unwrap();
        let r = req(
            "10.0.0.2:1",
            &[(
                "x-forwarded-for",
                "6.6.6.6, 203.0.113.9, 192.168.1.1, 10.9.9.9",
            )],
        );
        let ex = ClientIp::trusting(proxies);
        assert_eq!(ex.extract(&(&r).into()), ip_key("203.0.113.9"));
        assert_eq!(
            ex.client_ip(&(&r).into()),
            Some("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn ipv6_prefix_is_configurable_and_validated() {
        let r = req("[2001:db8:1:2:3::9]:1", &[]);
        assert_eq!(
            PeerIp::new().extract(&(&r).into()),
            Some(Key::ip("2001:db8:1:2::".parse().unwrap(), 64))
        );
        let wide = PeerIp::new().with_ipv6_prefix(48).unwrap();
        assert_eq!(
            wide.extract(&(&r).into()),
            Some(Key::ip("2001:db8:1::".parse().unwrap(), 48))
        );
        assert!(PeerIp::new().with_ipv6_prefix(0).is_err());
        let err = ClientIp::trusting(TrustedProxies::none())
            .with_ipv6_prefix(129)
            .unwrap_err();
        assert_eq!(err.field(), "with_ipv6_prefix");
        assert_eq!(err.component(), "ClientIp");
    }

    #[test]
    fn user_or_ip() {
        let ex = UserOrIp::new(PeerIp::new());
        let mut r = req("203.0.113.1:1", &[]);
        assert_eq!(ex.extract(&(&r).into()), ip_key("203.0.113.1"));
        r.extensions_mut().insert(AuthenticatedUser::new("alice"));
        assert_eq!(ex.extract(&(&r).into()), Some(Key::user("alice")));
    }

    #[cfg(feature = "axum")]
    #[test]
    fn reads_axum_connect_info() {
        let mut r = Request::new(());
        let addr: SocketAddr = "198.51.100.4:9".parse().unwrap();
        r.extensions_mut().insert(axum::extract::ConnectInfo(addr));
        assert_eq!(PeerIp::new().extract(&(&r).into()), ip_key("198.51.100.4"));
    }

    #[test]
    fn header_global_and_missing() {
        let ex = Header::named("x-api-key").unwrap();
        assert_eq!(
            ex.extract(&(&req("1.1.1.1:1", &[("x-api-key", " k1 ")])).into()),
            Some(Key::header_value("k1"))
        );
        assert_eq!(ex.extract(&(&req("1.1.1.1:1", &[])).into()), None);
        let long = "a".repeat(MAX_HEADER_KEY_LEN + 1);
        assert_eq!(
            ex.extract(&(&req("1.1.1.1:1", &[("x-api-key", &long)])).into()),
            None
        );
        assert!(Header::named("bad header").is_err());
        let no_peer = Request::new(());
        assert_eq!(Global.extract(&(&no_peer).into()), Some(Key::global()));
        assert_eq!(PeerIp::new().extract(&(&no_peer).into()), None);
    }
}

#[cfg(test)]
mod hostile_headers {
    use super::*;
    use hardening_core::PeerAddr;
    use http::{HeaderValue, Request};
    use proptest::prelude::*;

    fn with_header(name: &'static str, value: HeaderValue, peer: &str) -> Request<()> {
        let mut r = Request::new(());
        r.headers_mut().append(name, value);
        r.extensions_mut().insert(PeerAddr(peer.parse().unwrap()));
        r
    }

    fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..(MAX_HEADER_KEY_LEN * 2)),
            // visible ASCII with the separators a key name could abuse
            "[ -~]{0,300}".prop_map(String::into_bytes),
            "[:a-z0-9 \t]{0,40}".prop_map(String::into_bytes),
        ]
    }

    proptest! {
        /// `Header` over arbitrary bytes: never a panic; a key exactly when
        /// the trimmed value is non-empty visible ASCII of at most
        /// `MAX_HEADER_KEY_LEN` bytes; always a header-value key (never a
        /// user's, an IP's or the shared `unknown`); and two different
        /// values never share a key or a storage name, whatever separators
        /// they contain.
        #[test]
        fn header_keys_are_exact_and_never_collide(a in header_bytes(), b in header_bytes()) {
            let ex = Header::named("x-api-key").unwrap();
            let extract = |bytes: &[u8]| -> Option<(String, Option<Key>)> {
                let value = HeaderValue::from_bytes(bytes).ok()?;
                let r = with_header("x-api-key", value.clone(), "192.0.2.1:1");
                let key = ex.extract(&(&r).into());
                Some((value.to_str().map(|s| s.trim().to_owned()).unwrap_or_default(), key))
            };
            let (Some((va, ka)), Some((vb, kb))) = (extract(&a), extract(&b)) else {
                return Ok(());
            };
            for (value, key) in [(&va, &ka), (&vb, &kb)] {
                let usable = !value.is_empty() && value.len() <= MAX_HEADER_KEY_LEN;
                prop_assert_eq!(key.is_some(), usable, "{:?}", value);
                if let Some(key) = key {
                    prop_assert_eq!(key, &Key::header_value(value.as_str()));
                    prop_assert_ne!(key, &Key::user(value.as_str()));
                    prop_assert_ne!(key, &Key::unknown());
                    prop_assert!(key.as_ip().is_none());
                    prop_assert!(key.to_storage_string().starts_with("hdr:"));
                }
            }
            if let (Some(ka), Some(kb)) = (&ka, &kb) {
                prop_assert_eq!(ka == kb, va == vb);
                prop_assert_eq!(ka.to_storage_string() == kb.to_storage_string(), va == vb);
            }
        }

        /// No header a client sends changes `PeerIp`, `UserOrIp` (users come
        /// from an extension only) or a `ClientIp` whose peer is not a
        /// trusted proxy: the key stays the peer's.
        #[test]
        fn client_headers_never_pick_an_ip_or_user_key(
            bytes in header_bytes(),
            name in prop::sample::select(vec![
                "x-forwarded-for", "forwarded", "x-real-ip", "authorization", "x-user",
                "x-api-key",
            ]),
        ) {
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                return Ok(());
            };
            let r = with_header(name, value, "198.51.100.7:5000");
            let peer = Some(Key::ip("198.51.100.7".parse().unwrap(), 64));
            let view = RequestRef::from(&r);
            prop_assert_eq!(PeerIp::new().extract(&view), peer.clone());
            prop_assert_eq!(UserOrIp::new(PeerIp::new()).extract(&view), peer.clone());
            let untrusted = ClientIp::trusting(TrustedProxies::parse(["10.0.0.0/8"]).unwrap());
            prop_assert_eq!(untrusted.extract(&view), peer.clone());
            prop_assert_eq!(UserOrIp::new(untrusted).extract(&view), peer);
        }
    }
}
