//! The redirect decision: a pure function of the configuration and the
//! request head.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::HOST;
use http::{HeaderValue, Method, Request, StatusCode};

use hardening_core::observe::RedirectObserver;
use hardening_core::proxy::is_loopback;
use hardening_core::{PathPrefix, Scheme, TrustedProxies};

use crate::host::check_host;

/// Which permanent redirect status is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RedirectStatus {
    /// `308 Permanent Redirect` for every method: the browser repeats the
    /// same method with the same body.
    #[default]
    PermanentRedirect,
    /// `301 Moved Permanently` for `GET` and `HEAD` (understood by very old
    /// clients), `308` for everything else (a 301 may turn a POST into a GET).
    MovedPermanentlyForGetHead,
}

/// An allowed host: exact (`example.com`) or every subdomain of a domain
/// (`*.example.com`, stored as `.example.com`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HostPattern {
    Exact(Box<str>),
    Subdomains(Box<str>),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(h) => h.eq_ignore_ascii_case(host),
            HostPattern::Subdomains(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

/// The validated redirect configuration.
#[derive(Clone, Debug)]
pub(crate) struct RedirectPolicy {
    pub(crate) hosts: Box<[HostPattern]>,
    pub(crate) canonical: Option<Box<str>>,
    pub(crate) proxies: TrustedProxies,
    pub(crate) exempt_paths: Box<[Box<str>]>,
    pub(crate) exempt_prefixes: Box<[PathPrefix]>,
    pub(crate) exempt_localhost: bool,
    /// `""` for 443, else `":PORT"`.
    pub(crate) port_suffix: Box<str>,
    pub(crate) status: RedirectStatus,
    pub(crate) hsts: Option<HeaderValue>,
    pub(crate) observer: Option<Arc<dyn RedirectObserver>>,
}

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Hand the request on; `https` says whether it arrived over HTTPS (and
    /// so whether HSTS may be added).
    Pass { https: bool },
    /// Answer with a redirect to `location`.
    Redirect {
        status: StatusCode,
        location: HeaderValue,
    },
    /// Answer `400 Bad Request`: the host is not ours.
    Reject,
}

impl RedirectPolicy {
    pub(crate) fn decide<B>(&self, req: &Request<B>) -> Decision {
        if self.proxies.scheme(req) == Scheme::Https {
            return Decision::Pass { https: true };
        }
        if self.is_exempt_path(req.uri().path()) {
            return Decision::Pass { https: false };
        }
        let host = match request_host(req) {
            Ok(host) => host,
            Err(()) => return Decision::Reject,
        };
        if self.exempt_localhost {
            if let Some(host) = host {
                // the client resolved behind the trusted proxies, not the TCP
                // peer: a proxy on this host relays remote clients from loopback
                if is_loopback_host(host) && self.proxies.client_ip(req).is_some_and(is_loopback) {
                    return Decision::Pass { https: false };
                }
            }
        }
        let target = match host {
            Some(host) => {
                if !self.hosts.iter().any(|p| p.matches(host)) {
                    return Decision::Reject;
                }
                host
            }
            None => match &self.canonical {
                Some(canonical) => canonical,
                None => return Decision::Reject,
            },
        };
        // `OPTIONS *` and authority-form targets have no path to keep
        let path = req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str())
            .filter(|p| p.starts_with('/'))
            .unwrap_or("/");
        let mut location =
            String::with_capacity(8 + target.len() + self.port_suffix.len() + path.len());
        location.push_str("https://");
        for c in target.chars() {
            location.push(c.to_ascii_lowercase());
        }
        location.push_str(&self.port_suffix);
        location.push_str(path);
        match HeaderValue::try_from(location) {
            Ok(location) => Decision::Redirect {
                status: self.status_for(req.method()),
                location,
            },
            Err(_) => Decision::Reject,
        }
    }

    fn status_for(&self, method: &Method) -> StatusCode {
        match self.status {
            RedirectStatus::MovedPermanentlyForGetHead
                if method == Method::GET || method == Method::HEAD =>
            {
                StatusCode::MOVED_PERMANENTLY
            }
            _ => StatusCode::PERMANENT_REDIRECT,
        }
    }

    fn is_exempt_path(&self, path: &str) -> bool {
        self.exempt_paths.iter().any(|p| p.as_ref() == path)
            || self
                .exempt_prefixes
                .iter()
                .any(|prefix| prefix.matches(path))
    }
}

/// The host the client asked for, without port and trailing dot: from an
/// absolute request URI (HTTP/2 `:authority`, absolute-form) or the `Host`
/// header. `Ok(None)` when there is none (HTTP/1.0); `Err` when it is
/// malformed, carries user info, or `Host` is repeated.
fn request_host<B>(req: &Request<B>) -> Result<Option<&str>, ()> {
    let authority = match req.uri().authority() {
        Some(authority) => authority.as_str(),
        None => {
            let mut values = req.headers().get_all(HOST).iter();
            let Some(value) = values.next() else {
                return Ok(None);
            };
            if values.next().is_some() {
                return Err(());
            }
            value.to_str().map_err(|_| ())?
        }
    };
    split_host(authority).map(Some)
}

fn split_host(authority: &str) -> Result<&str, ()> {
    if authority.contains('@') {
        return Err(());
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(())?;
        let (host, rest) = authority.split_at(end + 1);
        (host, rest.strip_prefix(':'))
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
    }
    if port.is_none() && authority.len() != host.len() {
        return Err(());
    }
    check_host(host).map_err(|_| ())?;
    Ok(host.strip_suffix('.').unwrap_or(host))
}

fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost")
        || host
            .len()
            .checked_sub(".localhost".len())
            .and_then(|i| host.get(i..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(".localhost"))
    {
        return true;
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    literal.parse::<IpAddr>().is_ok_and(is_loopback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Characters and pieces that turn a host into something else: user
    /// info, paths, backslashes (which browsers read as `/`), line breaks,
    /// percent-encoding, brackets, ports, non-ASCII.
    fn hostile_authority() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            any::<char>().prop_map(String::from),
            proptest::sample::select(vec![
                "@",
                "\\",
                "/",
                "\r\n",
                "\n",
                "%2F",
                "%40",
                "%00",
                ":",
                "::",
                "[",
                "]",
                ".",
                "..",
                "-",
                "#",
                "?",
                " ",
                "\t",
                "*",
                "example.com",
                "evil.com",
                "localhost",
                "127.0.0.1",
                "[::1]",
                "[::ffff:127.0.0.1]",
                ":443",
                ":99999",
                "[fe80::1%25eth0]",
                "xn--",
                "\u{ff0e}",
                "\u{2024}",
                "é",
            ])
            .prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
    }

    proptest! {
        /// Whatever the client sends as authority, an accepted host is a
        /// plain DNS name or IP literal taken from its start: no user info,
        /// path, backslash, line break, percent sign or non-ASCII, and
        /// `https://HOST/` names exactly that host.
        #[test]
        fn accepted_hosts_cannot_point_elsewhere(authority in hostile_authority()) {
            if let Ok(host) = split_host(&authority) {
                prop_assert!(!host.is_empty() && host.len() <= 253);
                prop_assert!(authority.starts_with(host));
                let plain = host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
                let literal = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
                prop_assert!(plain || literal, "{:?}", host);
                let target: http::Uri = format!("https://{host}/").parse().unwrap();
                prop_assert_eq!(target.host(), Some(host));
                prop_assert_eq!(target.path(), "/");
            }
        }

        /// Arbitrary bytes as `Host`: no panic, and the same guarantee.
        #[test]
        fn arbitrary_host_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let Ok(value) = HeaderValue::from_bytes(&bytes) else { return Ok(()) };
            let req = Request::get("/").header(HOST, value).body(()).unwrap();
            if let Ok(Some(host)) = request_host(&req) {
                prop_assert!(host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b)));
            }
            let _ = is_loopback_host(&String::from_utf8_lossy(&bytes));
        }
    }

    /// One pass over the authority: a megabyte is refused at once.
    #[test]
    fn long_hosts_are_refused() {
        let long = "a".repeat(1 << 20);
        assert_eq!(split_host(&long), Err(()));
        let labels = "a.".repeat(1 << 19);
        assert_eq!(split_host(&labels), Err(()));
    }

    #[test]
    fn host_parsing() {
        assert_eq!(split_host("Example.com:8080"), Ok("Example.com"));
        assert_eq!(split_host("example.com."), Ok("example.com"));
        assert_eq!(split_host("[::1]:3000"), Ok("[::1]"));
        assert_eq!(split_host("127.0.0.1"), Ok("127.0.0.1"));
        for bad in [
            "",
            "user@example.com",
            "example.com:",
            "example.com:80x",
            "example.com:1:2",
            "[::1",
            "[::1]x",
            "exa mple.com",
            "evil.com/x",
            "evil.com\\x",
            "::1",
        ] {
            assert!(split_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_names() {
        for host in [
            "localhost",
            "LOCALHOST",
            "app.localhost",
            "127.0.0.1",
            "127.9.9.9",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "localhost.example.com",
            "example.com",
            "10.0.0.1",
            "[::2]",
            "xlocalhost",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn patterns() {
        let exact = HostPattern::Exact("example.com".into());
        assert!(exact.matches("EXAMPLE.com"));
        assert!(!exact.matches("www.example.com"));
        let sub = HostPattern::Subdomains(".example.com".into());
        assert!(sub.matches("a.b.Example.COM"));
        assert!(!sub.matches("example.com"));
        assert!(!sub.matches("evilexample.com"));
        assert!(!sub.matches(".example.com"));
    }
}
