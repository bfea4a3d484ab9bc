//! Safe cookies without touching every handler: [`SecureCookiesLayer`]
//! rewrites each outgoing `Set-Cookie`.
//!
//! - **`Secure`** on responses to requests that arrived over HTTPS, decided
//!   like HSTS by [`TrustedProxies::scheme`](hardening_core::TrustedProxies::scheme)
//!   (give both layers the same proxies). Over plain HTTP it is not added:
//!   browsers refuse `Secure` cookies from insecure origins.
//! - **`HttpOnly`** on every cookie, except names listed with
//!   [`http_only_exempt`](SecureCookiesBuilder::http_only_exempt).
//! - **`SameSite`**: [`Lax`](SameSite::Lax) unless configured, added where the
//!   handler set none (or an invalid value). `SameSite=None` stays only on a
//!   cookie that is `Secure`; otherwise browsers would drop the cookie, and
//!   it gets `Lax` instead.
//! - **Prefixes**: `__Secure-` and `__Host-` cookies always get `Secure`
//!   (browsers refuse them without it); `__Host-` cookies lose `Domain` and
//!   get `Path=/`.
//!
//! Attributes the handler set are kept (a handler's `SameSite=Strict` stays
//! `Strict`), and a cookie's name and value are never changed, byte for byte.
//! Helmet, tower-http and the axum cookie crates leave all of this to each
//! handler.
//!
//! # Example
//!
//! ```
//! use http::{header::SET_COOKIE, Request, Response};
//! use hardening_core::proxy::{ConnectionScheme, Scheme};
//! use hardening_headers::SecureCookiesLayer;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app = ServiceBuilder::new()
//!     .layer(SecureCookiesLayer::builder().http_only_exempt(["theme"]).build().unwrap())
//!     .service(service_fn(|_req: Request<()>| async {
//!         let mut res = Response::new(());
//!         res.headers_mut().append(SET_COOKIE, "sid=s3cr3t; Path=/".parse().unwrap());
//!         res.headers_mut().append(SET_COOKIE, "theme=dark; SameSite=Strict".parse().unwrap());
//!         Ok::<_, std::convert::Infallible>(res)
//!     }));
//!
//! // A request the TLS acceptor decrypted (it marks the connection HTTPS).
//! let mut req = Request::get("/").body(()).unwrap();
//! req.extensions_mut().insert(ConnectionScheme(Scheme::Https));
//! let res = app.oneshot(req).await.unwrap();
//! let cookies: Vec<_> = res.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
//! assert_eq!(cookies, [
//!     "sid=s3cr3t; Path=/; Secure; HttpOnly; SameSite=Lax",
//!     "theme=dark; SameSite=Strict; Secure",
//! ]);
//! # }
//! ```

mod layer;
mod rewrite;
mod service;

pub use layer::{SecureCookiesBuilder, SecureCookiesLayer};
pub use rewrite::SameSite;
pub use service::{ResponseFuture, SecureCookies};

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use hardening_core::{PeerAddr, TrustedProxies};
    use http::header::SET_COOKIE;
    use http::{HeaderValue, Request, Response};
    use tower::{service_fn, Layer, ServiceExt};

    use super::*;
    use crate::ConfigError;

    /// A request on a connection the TLS acceptor marked HTTPS.
    fn tls_request() -> Request<()> {
        let mut req = Request::get("/").body(()).unwrap();
        req.extensions_mut()
            .insert(hardening_core::proxy::ConnectionScheme(
                hardening_core::proxy::Scheme::Https,
            ));
        req
    }

    async fn cookies_of(layer: &SecureCookiesLayer, req: Request<()>, set: &[&str]) -> Vec<String> {
        let set: Vec<HeaderValue> = set.iter().map(|s| s.parse().unwrap()).collect();
        let svc = layer.layer(service_fn(move |_req: Request<()>| {
            let set = set.clone();
            async move {
                let mut res = Response::new(());
                for v in set {
                    res.headers_mut().append(SET_COOKIE, v);
                }
                Ok::<_, Infallible>(res)
            }
        }));
        let res = svc.oneshot(req).await.unwrap();
        res.headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    fn from(peer: &str, proto: &str) -> Request<()> {
        let mut req = Request::get("/")
            .header("x-forwarded-proto", proto)
            .body(())
            .unwrap();
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(PeerAddr(peer));
        req
    }

    #[tokio::test]
    async fn secure_follows_the_same_scheme_decision_as_hsts() {
        let layer = SecureCookiesLayer::builder()
            .trusted_proxies(TrustedProxies::parse(["10.0.0.1/32"]).unwrap())
            .build()
            .unwrap();
        let set = ["a=1", "b=2; Path=/", "c=3"];
        let via_proxy = cookies_of(&layer, from("10.0.0.1:5000", "https"), &set).await;
        assert_eq!(
            via_proxy,
            [
                "a=1; Secure; HttpOnly; SameSite=Lax",
                "b=2; Path=/; Secure; HttpOnly; SameSite=Lax",
                "c=3; Secure; HttpOnly; SameSite=Lax"
            ]
        );
        // the same header from a client that is not a trusted proxy is ignored
        let forged = cookies_of(&layer, from("203.0.113.9:5000", "https"), &set).await;
        assert_eq!(forged[0], "a=1; HttpOnly; SameSite=Lax");
        let direct_tls = cookies_of(&layer, tls_request(), &set).await;
        assert_eq!(direct_tls[0], "a=1; Secure; HttpOnly; SameSite=Lax");
    }

    #[tokio::test]
    async fn configured_same_site_and_exemptions() {
        let layer = SecureCookiesLayer::builder()
            .same_site(SameSite::Strict)
            .http_only_exempt(["csrf"])
            .build()
            .unwrap();
        let req = tls_request;
        assert_eq!(
            cookies_of(&layer, req(), &["csrf=t0k; SameSite=Lax", "sid=x"]).await,
            [
                "csrf=t0k; SameSite=Lax; Secure",
                "sid=x; Secure; HttpOnly; SameSite=Strict"
            ]
        );
        // responses without cookies are untouched
        assert!(cookies_of(&layer, req(), &[]).await.is_empty());
    }

    #[test]
    fn invalid_exempt_names_are_refused() {
        for bad in ["", "a b", "a;b", "a=b", "é"] {
            let err = SecureCookiesLayer::builder()
                .http_only_exempt([bad])
                .build()
                .unwrap_err();
            assert_eq!(err, ConfigError::InvalidCookieName { name: bad.into() });
            assert!(err.to_string().contains("http_only_exempt"), "{err}");
        }
    }
}
