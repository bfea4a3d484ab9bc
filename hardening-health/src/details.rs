//! Who may see the full report.
//!
//! Check names, outputs, versions and latencies tell an attacker what runs
//! behind the service, so by default only requests from the machine itself
//! see them; everyone else gets the status alone (`{"status":"pass"}`).
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use hardening_core::PeerAddr;
//! use hardening_health::Details;
//!
//! let (mut local, _) = http::Request::new(()).into_parts();
//! local.extensions.insert(PeerAddr("127.0.0.1:5000".parse::<SocketAddr>().unwrap()));
//! let (mut remote, _) = http::Request::new(()).into_parts();
//! remote.extensions.insert(PeerAddr("203.0.113.7:5000".parse::<SocketAddr>().unwrap()));
//!
//! let details = Details::default(); // loopback peers only
//! assert!(details.allows(&local));
//! assert!(!details.allows(&remote));
//!
//! let token = Details::bearer_token("s3cret").unwrap();
//! let (with_token, _) = http::Request::builder()
//!     .header("authorization", "Bearer s3cret")
//!     .body(())
//!     .unwrap()
//!     .into_parts();
//! assert!(token.allows(&with_token));
//! assert!(!token.allows(&remote));
//! ```

use std::fmt;
use std::sync::Arc;

use hardening_core::proxy::{is_loopback, peer_addr};
use hardening_core::TrustedProxies;
use http::header::{AUTHORIZATION, FORWARDED};
use http::request::Parts;
use http::HeaderName;

use crate::error::ConfigError;

/// Decides, per request, whether the response shows the full report.
pub type DetailsPredicate = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// When health responses show details (checks, outputs, version) rather than
/// the status alone.
///
/// The default is [`Details::loopback`].
///
/// # Clone
///
/// Clones share the predicate.
#[derive(Clone)]
pub enum Details {
    /// Status only, to everyone.
    Never,
    /// The full report to everyone (only behind a network boundary you trust).
    Always,
    /// The full report to requests the predicate accepts.
    When(DetailsPredicate),
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

impl Details {
    /// Details to requests `predicate` accepts.
    pub fn when(predicate: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        Details::When(Arc::new(predicate))
    }

    /// Details to requests whose TCP peer is a loopback address (IPv4-mapped
    /// `::ffff:127.0.0.1` included, see [`is_loopback`]) and that carry no
    /// `Forwarded` / `X-Forwarded-For` header (a request relayed by a reverse
    /// proxy on the same host also arrives from loopback; its forwarding
    /// header keeps it out). Behind such a proxy use
    /// [`loopback_client`](Self::loopback_client). Needs the peer address as
    /// [`PeerAddr`](hardening_core::PeerAddr) or, with feature `axum`, axum's
    /// `ConnectInfo<SocketAddr>` (see [`peer_addr`]); without one, no
    /// details.
    pub fn loopback() -> Self {
        Details::when(|parts| {
            !parts.headers.contains_key(FORWARDED)
                && !parts.headers.contains_key(&X_FORWARDED_FOR)
                && peer_addr(&parts.extensions).is_some_and(|peer| is_loopback(peer.ip()))
        })
    }

    /// Details to requests whose client, resolved through `proxies` (see
    /// [`TrustedProxies::client_ip_from`]), is a loopback address (the same
    /// [`is_loopback`] test, IPv4-mapped forms included). Use it when a
    /// reverse proxy on the same host relays requests: give it the
    /// [`TrustedProxies`] the rest of the service uses, so the client that
    /// sees details is the client the rate limits and the HTTPS redirect
    /// see.
    pub fn loopback_client(proxies: TrustedProxies) -> Self {
        Details::when(move |parts| {
            peer_addr(&parts.extensions)
                .is_some_and(|peer| is_loopback(proxies.client_ip_from(peer.ip(), &parts.headers)))
        })
    }

    /// Details to requests carrying `Authorization: Bearer <token>`
    /// (compared in constant time).
    ///
    /// # Errors
    ///
    /// An empty token, or one with characters a header cannot carry.
    pub fn bearer_token(token: impl Into<String>) -> Result<Self, ConfigError> {
        let token = token.into();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError::new(
                "details.bearer_token",
                if token.is_empty() { "" } else { "<redacted>" },
                "a non-empty token of visible ASCII characters",
            ));
        }
        let expected: Arc<[u8]> = token.into_bytes().into();
        Ok(Details::when(move |parts| {
            parts
                .headers
                .get(AUTHORIZATION)
                .and_then(|v| bearer(v.as_bytes()))
                .is_some_and(|given| constant_time_eq(given, &expected))
        }))
    }

    /// Whether a request with these parts gets details.
    pub fn allows(&self, parts: &Parts) -> bool {
        match self {
            Details::Never => false,
            Details::Always => true,
            Details::When(predicate) => predicate(parts),
        }
    }
}

impl Default for Details {
    fn default() -> Self {
        Details::loopback()
    }
}

impl fmt::Debug for Details {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Details::Never => f.write_str("Never"),
            Details::Always => f.write_str("Always"),
            Details::When(_) => f.write_str("When(..)"),
        }
    }
}

fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// Compares without an early exit, so the time taken does not tell how much
/// of a guess was right (the length may leak; tokens should be long).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardening_core::PeerAddr;

    fn parts(peer: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder();
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        if !peer.is_empty() {
            parts.extensions.insert(PeerAddr(peer.parse().unwrap()));
        }
        parts
    }

    #[test]
    fn never_and_always() {
        let p = parts("127.0.0.1:1", &[]);
        assert!(!Details::Never.allows(&p));
        assert!(Details::Always.allows(&parts("8.8.8.8:1", &[])));
    }

    #[test]
    fn loopback_rules() {
        let d = Details::loopback();
        assert!(d.allows(&parts("127.0.0.1:1", &[])));
        assert!(d.allows(&parts("[::1]:1", &[])));
        assert!(!d.allows(&parts("192.0.2.1:1", &[])));
        assert!(!d.allows(&parts("", &[])), "no peer address, no details");
        assert!(!d.allows(&parts("127.0.0.1:1", &[("x-forwarded-for", "203.0.113.1")])));
        assert!(!d.allows(&parts("127.0.0.1:1", &[("forwarded", "for=203.0.113.1")])));
        // issue 11 item 5: a dual-stack socket reports IPv4 loopback mapped
        assert!(d.allows(&parts("[::ffff:127.0.0.1]:1", &[])));
        assert!(!d.allows(&parts("[::ffff:192.0.2.1]:1", &[])));
    }

    #[test]
    fn loopback_client_behind_local_proxy() {
        let d = Details::loopback_client(TrustedProxies::loopback());
        assert!(!d.allows(&parts("127.0.0.1:1", &[("x-forwarded-for", "203.0.113.1")])));
        assert!(d.allows(&parts("127.0.0.1:1", &[])));
        // an untrusted peer cannot claim to be local
        assert!(!d.allows(&parts("203.0.113.1:1", &[("x-forwarded-for", "127.0.0.1")])));
        // mapped loopback, as peer and as forwarded client
        assert!(d.allows(&parts("[::ffff:127.0.0.1]:1", &[])));
        assert!(d.allows(&parts(
            "127.0.0.1:1",
            &[("x-forwarded-for", "::ffff:127.0.0.1")]
        )));
        assert!(!d.allows(&parts(
            "[::ffff:127.0.0.1]:1",
            &[("x-forwarded-for", "203.0.113.1")]
        )));
    }

    /// Issue 11 item 2 as it reached `/health`: a remote client prepending
    /// one obs-text byte to the line the local proxy appends to must not
    /// become the proxy (and see the loopback-only report).
    #[test]
    fn obs_text_does_not_turn_a_remote_client_into_the_local_proxy() {
        let d = Details::loopback_client(TrustedProxies::loopback());
        let (mut p, ()) = http::Request::builder()
            .header(
                "x-forwarded-for",
                http::HeaderValue::from_bytes(b"\x80, 203.0.113.7").unwrap(),
            )
            .body(())
            .unwrap()
            .into_parts();
        p.extensions
            .insert(PeerAddr("127.0.0.1:40000".parse().unwrap()));
        assert!(!d.allows(&p));
    }

    #[test]
    fn bearer_tokens() {
        let d = Details::bearer_token("abc123").unwrap();
        assert!(d.allows(&parts("", &[("authorization", "Bearer abc123")])));
        assert!(d.allows(&parts("", &[("authorization", "bearer  abc123 ")])));
        assert!(!d.allows(&parts("", &[("authorization", "Bearer abc124")])));
        assert!(!d.allows(&parts("", &[("authorization", "Bearer abc12")])));
        assert!(!d.allows(&parts("", &[("authorization", "Basic abc123")])));
        assert!(!d.allows(&parts("", &[("authorization", "Bear")])));
        assert!(!d.allows(&parts("", &[])));
        let err = Details::bearer_token("").unwrap_err();
        assert_eq!(err.field(), "details.bearer_token");
        let err = Details::bearer_token("has space").unwrap_err();
        assert!(
            !err.to_string().contains("has space"),
            "a token never appears in errors"
        );
    }
}
