//! Redirect plain HTTP to HTTPS, without ever redirecting to a host that is
//! not yours.
//!
//! [`HttpsRedirectLayer`] decides per request:
//!
//! 1. **Arrived over HTTPS?** Decided by
//!    [`TrustedProxies::scheme`](hardening_core::TrustedProxies::scheme): the
//!    connection ([`ConnectionScheme`](hardening_core::ConnectionScheme)),
//!    and `X-Forwarded-Proto` / `Forwarded: proto=` only when the TCP peer is
//!    a configured trusted proxy. A client talking to the service directly
//!    cannot claim HTTPS, neither with a header nor with an absolute-form
//!    target (`GET https://example.com/`) or an h2c `:scheme`. HTTPS
//!    requests pass, and their responses get `Strict-Transport-Security`.
//! 2. **Exempt?** Exact paths ([`exempt_path`](HttpsRedirectBuilder::exempt_path))
//!    and path prefixes pass over plain HTTP (health probes, ACME
//!    challenges), and so do requests for a loopback host from a loopback
//!    client when [`exempt_localhost`](HttpsRedirectBuilder::exempt_localhost)
//!    is on. The client is the one resolved behind the
//!    [`trusted_proxies`](HttpsRedirectBuilder::trusted_proxies), so a remote
//!    client relayed by a proxy on the same host is not exempt.
//! 3. **Allowed host?** The host (request URI authority or `Host`, port
//!    dropped) must match an allowed host or the canonical host. Then the
//!    answer is `308 Permanent Redirect` (or `301` for GET/HEAD, see
//!    [`RedirectStatus`]) to `https://HOST[:PORT]/same/path?same=query`.
//!    Anything else — an unknown host, a malformed or repeated `Host`, user
//!    info — is `400 Bad Request`: a forged `Host` never becomes an open
//!    redirect.
//!
//! The redirect itself carries no `Strict-Transport-Security`: it is sent
//! over plain HTTP, where RFC 6797 §7.2 forbids the header (browsers ignore
//! it there, and the HSTS preload checker flags it). The layer adds HSTS to
//! the HTTPS responses it lets through, so the browser's next request after
//! the redirect pins the host.
//!
//! # Example
//!
//! ```
//! use http::{header, Request, Response, StatusCode};
//! use hardening_headers::HttpsRedirectLayer;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let layer = HttpsRedirectLayer::builder().allow_host("example.com").build().unwrap();
//! let app = layer.layer(service_fn(|_req: Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(()))
//! }));
//!
//! let req = Request::get("/cart?id=7").header(header::HOST, "example.com").body(()).unwrap();
//! let res = app.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
//! assert_eq!(res.headers()[header::LOCATION], "https://example.com/cart?id=7");
//!
//! let forged = Request::get("/").header(header::HOST, "evil.example").body(()).unwrap();
//! assert_eq!(app.oneshot(forged).await.unwrap().status(), StatusCode::BAD_REQUEST);
//! # }
//! ```

mod decide;
mod future;
mod layer;
mod service;

pub use decide::RedirectStatus;
pub use future::ResponseFuture;
pub use layer::{HttpsRedirectBuilder, HttpsRedirectLayer};
pub use service::HttpsRedirect;

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use http::header::{HOST, LOCATION, STRICT_TRANSPORT_SECURITY};
    use http::{Method, Request, Response, StatusCode};
    use proptest::prelude::*;
    use tower::{service_fn, Layer, ServiceExt};

    use hardening_core::{ConnectionScheme, PeerAddr, ProxyHeader, Scheme, TrustedProxies};

    use super::*;
    use crate::hsts::StrictTransportSecurity;
    use crate::ConfigError;

    fn layer() -> HttpsRedirectBuilder {
        HttpsRedirectLayer::builder().allow_hosts(["example.com", "*.example.org"])
    }

    async fn run(layer: &HttpsRedirectLayer, req: Request<()>) -> Response<String> {
        layer
            .layer(service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new("app".to_owned()))
            }))
            .oneshot(req)
            .await
            .unwrap()
    }

    fn req(method: Method, uri: &str, host: Option<&str>, peer: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(host) = host {
            builder = builder.header(HOST, host);
        }
        let mut req = builder.body(()).unwrap();
        if let Some(peer) = peer {
            req.extensions_mut()
                .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
        }
        req
    }

    fn get(uri: &str, host: &str) -> Request<()> {
        req(Method::GET, uri, Some(host), Some("198.51.100.9:4000"))
    }

    /// A request the TLS acceptor marked as arrived over HTTPS.
    fn tls(uri: &str) -> Request<()> {
        let mut r = get(uri, "example.com");
        r.extensions_mut().insert(ConnectionScheme(Scheme::Https));
        r
    }

    fn location(res: &Response<String>) -> &str {
        res.headers()[LOCATION].to_str().unwrap()
    }

    #[tokio::test]
    async fn redirects_to_the_same_allowed_host_over_https() {
        let l = layer().build().unwrap();
        let res = run(&l, get("/a/b?x=1&y=%20", "Example.COM:8080")).await;
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(location(&res), "https://example.com/a/b?x=1&y=%20");
        assert_eq!(res.body(), "", "the app was not called");
        assert!(
            !res.headers().contains_key(STRICT_TRANSPORT_SECURITY),
            "no HSTS over plain HTTP"
        );

        let res = run(&l, get("/", "api.eu.example.org")).await;
        assert_eq!(location(&res), "https://api.eu.example.org/");
        let res = run(&l, req(Method::POST, "/login", Some("example.com."), None)).await;
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(location(&res), "https://example.com/login");

        let star = run(&l, req(Method::OPTIONS, "*", Some("example.com"), None)).await;
        assert_eq!(location(&star), "https://example.com/");

        let port = layer().https_port(8443).build().unwrap();
        assert_eq!(
            location(&run(&port, get("/x", "example.com:8080")).await),
            "https://example.com:8443/x"
        );
        // absolute-form request target: its authority is the host
        let res = run(
            &l,
            req(
                Method::GET,
                "http://example.com/abs",
                Some("ignored.example"),
                None,
            ),
        )
        .await;
        assert_eq!(location(&res), "https://example.com/abs");
    }

    #[tokio::test]
    async fn the_observer_counts_redirects_and_refused_hosts_only() {
        use hardening_core::observe::{RedirectObserver, RedirectOutcome};
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;

        #[derive(Clone, Default)]
        struct Counts(Arc<[AtomicU64; 2]>);
        impl RedirectObserver for Counts {
            fn redirect(&self, outcome: RedirectOutcome) {
                self.0[outcome.index()].fetch_add(1, Ordering::Relaxed);
            }
        }
        let counts = Counts::default();
        let l = layer().observer(counts.clone()).build().unwrap();
        let n = |o: RedirectOutcome| counts.0[o.index()].load(Ordering::Relaxed);
        run(&l, get("/a", "example.com")).await;
        run(&l, get("/b", "api.eu.example.org")).await;
        let foreign = run(&l, get("/", "evil.example.net")).await;
        assert_eq!(foreign.status(), StatusCode::BAD_REQUEST);
        let passed = run(&l, tls("/c")).await;
        assert_eq!(passed.status(), StatusCode::OK, "HTTPS passes on");
        assert_eq!(n(RedirectOutcome::Redirected), 2);
        assert_eq!(n(RedirectOutcome::RejectedHost), 1);
    }

    #[tokio::test]
    async fn status_301_for_get_and_head_when_asked() {
        let l = layer()
            .status(RedirectStatus::MovedPermanentlyForGetHead)
            .build()
            .unwrap();
        for (method, status) in [
            (Method::GET, StatusCode::MOVED_PERMANENTLY),
            (Method::HEAD, StatusCode::MOVED_PERMANENTLY),
            (Method::POST, StatusCode::PERMANENT_REDIRECT),
            (Method::DELETE, StatusCode::PERMANENT_REDIRECT),
        ] {
            let res = run(&l, req(method.clone(), "/", Some("example.com"), None)).await;
            assert_eq!(res.status(), status, "{method}");
        }
    }

    #[tokio::test]
    async fn forged_or_odd_hosts_get_400_never_a_redirect() {
        let l = layer().build().unwrap();
        for host in [
            "evil.example",
            "example.com.evil.example",
            "evilexample.com",
            "example.org",
            "user@example.com",
            "example.com:",
            "example.com:80:80",
            "example.com/evil",
            "",
            "[::1",
        ] {
            let res = run(&l, get("/", host)).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{host:?}");
            assert!(!res.headers().contains_key(LOCATION));
        }
        let mut twice = get("/", "example.com");
        twice
            .headers_mut()
            .append(HOST, "evil.example".parse().unwrap());
        assert_eq!(run(&l, twice).await.status(), StatusCode::BAD_REQUEST);
        let no_host = req(Method::GET, "/", None, None);
        assert_eq!(run(&l, no_host).await.status(), StatusCode::BAD_REQUEST);
        let canonical = layer().canonical_host("www.example.com").build().unwrap();
        let res = run(&canonical, req(Method::GET, "/p", None, None)).await;
        assert_eq!(location(&res), "https://www.example.com/p");
        let res = run(&canonical, get("/", "WWW.example.com")).await;
        assert_eq!(location(&res), "https://www.example.com/");
    }

    #[tokio::test]
    async fn forwarded_proto_only_from_trusted_proxies() {
        let l = layer()
            .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"]).unwrap())
            .build()
            .unwrap();
        let forwarded = |peer: &str, proto: &str| {
            let mut r = req(Method::GET, "/", Some("example.com"), Some(peer));
            r.headers_mut()
                .insert("x-forwarded-proto", proto.parse().unwrap());
            r
        };
        let res = run(&l, forwarded("203.0.113.5:1234", "https")).await;
        assert_eq!(
            res.status(),
            StatusCode::PERMANENT_REDIRECT,
            "forged by an untrusted peer"
        );
        let res = run(&l, forwarded("10.0.0.7:1234", "https")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[STRICT_TRANSPORT_SECURITY],
            "max-age=31536000; includeSubDomains"
        );
        let res = run(&l, forwarded("10.0.0.7:1234", "http")).await;
        assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);

        let rfc7239 = layer()
            .trusted_proxies(
                TrustedProxies::parse(["10.0.0.0/8"])
                    .unwrap()
                    .with_header(ProxyHeader::Forwarded),
            )
            .build()
            .unwrap();
        let mut r = req(Method::GET, "/", Some("example.com"), Some("10.0.0.7:1"));
        r.headers_mut()
            .insert("forwarded", "for=203.0.113.5;proto=https".parse().unwrap());
        assert_eq!(run(&rfc7239, r).await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn https_requests_pass_with_hsts_unless_the_handler_set_it() {
        let l = layer()
            .hsts(StrictTransportSecurity::default().preload())
            .build()
            .unwrap();
        let mut r = get("/", "anything.invalid");
        r.extensions_mut().insert(ConnectionScheme(Scheme::Https));
        let res = run(&l, r).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[STRICT_TRANSPORT_SECURITY],
            "max-age=31536000; includeSubDomains; preload"
        );

        let handler_hsts = l.layer(service_fn(|_req: Request<()>| async {
            let mut res = Response::new(String::new());
            res.headers_mut()
                .insert(STRICT_TRANSPORT_SECURITY, "max-age=60".parse().unwrap());
            Ok::<_, Infallible>(res)
        }));
        let res = handler_hsts.oneshot(tls("/")).await.unwrap();
        assert_eq!(res.headers()[STRICT_TRANSPORT_SECURITY], "max-age=60");

        let none = layer().no_hsts().build().unwrap();
        let res = run(&none, tls("/")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(!res.headers().contains_key(STRICT_TRANSPORT_SECURITY));
    }

    #[tokio::test]
    async fn exemptions() {
        let l = layer()
            .exempt_path("/livez")
            .exempt_path_prefix("/.well-known/acme-challenge/")
            .exempt_localhost(true)
            .build()
            .unwrap();
        for path in [
            "/livez",
            "/.well-known/acme-challenge",
            "/.well-known/acme-challenge/tok",
        ] {
            let res = run(&l, get(path, "example.com")).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            assert!(!res.headers().contains_key(STRICT_TRANSPORT_SECURITY));
        }
        for path in ["/livez/x", "/livezz", "/.well-known/acme-challengex"] {
            assert_eq!(
                run(&l, get(path, "example.com")).await.status(),
                StatusCode::PERMANENT_REDIRECT,
                "{path}"
            );
        }
        // loopback host from a loopback peer: local development
        for (host, peer) in [
            ("localhost:3000", "127.0.0.1:5000"),
            ("127.0.0.1:3000", "127.0.0.1:5000"),
            ("[::1]:3000", "[::1]:5000"),
            ("app.localhost", "[::ffff:127.0.0.1]:1"),
        ] {
            let res = run(&l, req(Method::GET, "/", Some(host), Some(peer))).await;
            assert_eq!(res.status(), StatusCode::OK, "{host} from {peer}");
        }
        // a remote client naming localhost is neither exempt nor redirected
        let res = run(
            &l,
            req(Method::GET, "/", Some("localhost"), Some("203.0.113.1:1")),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let res = run(&l, req(Method::GET, "/", Some("localhost"), None)).await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "unknown peer is not loopback"
        );
        // without the option, localhost is just a host that is not allowed
        let strict = layer().build().unwrap();
        let res = run(
            &strict,
            req(Method::GET, "/", Some("localhost"), Some("127.0.0.1:1")),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }

    /// Issue 11 item 4: an absolute-form `https://` target or an h2c
    /// `:scheme` is the client's claim, not the connection's.
    #[tokio::test]
    async fn absolute_https_target_over_plain_http_is_redirected() {
        let l = layer()
            .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"]).unwrap())
            .build()
            .unwrap();
        for peer in [Some("203.0.113.5:1"), Some("10.0.0.7:1"), None] {
            let r = req(Method::GET, "https://example.com/pay", None, peer);
            let res = run(&l, r).await;
            assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT, "{peer:?}");
            assert_eq!(location(&res), "https://example.com/pay");
            assert!(!res.headers().contains_key(STRICT_TRANSPORT_SECURITY));
        }
    }

    /// Issue 11 item 5: behind a proxy on the same host every TCP peer is
    /// loopback; the forwarded client decides the localhost exemption.
    #[tokio::test]
    async fn localhost_exemption_uses_the_client_behind_trusted_proxies() {
        let l = layer()
            .exempt_localhost(true)
            .trusted_proxies(TrustedProxies::loopback())
            .build()
            .unwrap();
        let relayed = |xff: &[u8]| {
            let mut r = req(Method::GET, "/", Some("localhost"), Some("127.0.0.1:40000"));
            r.headers_mut().insert(
                "x-forwarded-for",
                http::HeaderValue::from_bytes(xff).unwrap(),
            );
            r
        };
        for xff in [
            &b"203.0.113.1"[..],
            b"127.0.0.1, 203.0.113.1",
            b"\x80, 203.0.113.1",
        ] {
            let res = run(&l, relayed(xff)).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{xff:?}");
        }
        for xff in [&b"127.0.0.1"[..], b"::ffff:127.0.0.1", b"::1"] {
            let res = run(&l, relayed(xff)).await;
            assert_eq!(res.status(), StatusCode::OK, "{xff:?}");
        }
        // no forwarding header: the peer itself is the client
        let res = run(
            &l,
            req(Method::GET, "/", Some("localhost"), Some("127.0.0.1:1")),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[test]
    fn invalid_configuration_is_refused() {
        let host_err = |host: &str| {
            HttpsRedirectLayer::builder()
                .allow_host(host)
                .build()
                .unwrap_err()
        };
        for host in [
            "exa mple.com",
            "https://example.com",
            "example.com:443",
            "*",
            "*.",
            "a..b",
            "ex/ample",
        ] {
            assert!(
                matches!(host_err(host), ConfigError::InvalidHost { .. }),
                "{host}"
            );
            assert!(host_err(host).to_string().contains(host), "{host}");
        }
        assert!(HttpsRedirectLayer::builder()
            .allow_hosts(["[::1]", "127.0.0.1", "Example.COM."])
            .build()
            .is_ok());
        assert!(matches!(
            HttpsRedirectLayer::builder()
                .canonical_host("*.example.com")
                .build()
                .unwrap_err(),
            ConfigError::InvalidHost { .. }
        ));
        assert_eq!(
            HttpsRedirectLayer::builder()
                .exempt_path("livez")
                .build()
                .unwrap_err(),
            ConfigError::InvalidPath {
                path: "livez".into()
            }
        );
        assert_eq!(
            HttpsRedirectLayer::builder()
                .https_port(0)
                .build()
                .unwrap_err(),
            ConfigError::InvalidHttpsPort
        );
        assert!(matches!(
            HttpsRedirectLayer::builder()
                .hsts(StrictTransportSecurity::new(std::time::Duration::from_secs(1)).preload())
                .build()
                .unwrap_err(),
            ConfigError::HstsPreload { .. }
        ));
    }

    proptest! {
        /// Whatever the Host header says, the answer is a redirect to an
        /// allowed host, or 400; never a panic, never another host.
        #[test]
        fn no_host_header_produces_an_open_redirect(
            host in prop_oneof!["[ -~]{0,40}", "[@:/\\\\.\\[\\]a-z0-9%#?-]{0,40}"],
            obs_text in proptest::collection::vec(0x80u8..=0xff, 0..3),
            absolute_form in any::<bool>(),
            path in "/[!-~]{0,30}",
        ) {
            let l = layer().exempt_localhost(true).build().unwrap();
            let mut host_bytes = host.clone().into_bytes();
            host_bytes.extend_from_slice(&obs_text);
            let Ok(value) = http::HeaderValue::from_bytes(&host_bytes) else { return Ok(()) };
            // absolute form: the authority comes from the request target
            let target = if absolute_form { format!("http://{host}{path}") } else { path.clone() };
            let Ok(uri) = target.parse::<http::Uri>() else { return Ok(()) };
            let mut r = Request::get(uri).body(()).unwrap();
            r.headers_mut().insert(HOST, value);
            r.extensions_mut().insert(PeerAddr("203.0.113.9:1".parse().unwrap()));
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let res = rt.block_on(run(&l, r));
            match res.status() {
                StatusCode::PERMANENT_REDIRECT => {
                    let target: http::Uri = location(&res).parse().unwrap();
                    let target_host = target.host().unwrap();
                    prop_assert!(target_host == "example.com" || target_host.ends_with(".example.org"), "{}", target_host);
                    prop_assert_eq!(target.scheme_str(), Some("https"));
                    prop_assert_eq!(target.path_and_query().unwrap().as_str(), path.as_str());
                }
                StatusCode::BAD_REQUEST => {}
                other => prop_assert!(false, "unexpected {}", other),
            }
        }
    }
}
