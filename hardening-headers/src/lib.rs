//! Security response headers and an HTTPS redirect for any tower HTTP
//! service: one line for the headers that security scanners (Mozilla HTTP
//! Observatory, OWASP Secure Headers Project) grade, with a typed,
//! validated Content-Security-Policy and a fresh CSP nonce per request.
//!
//! # Example
//!
//! ```
//! use http::{header, Request, Response, StatusCode};
//! use hardening_core::{ConnectionScheme, Scheme};
//! use hardening_headers::{CspNonce, HttpsRedirectLayer, SecurityHeadersLayer};
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app = ServiceBuilder::new()
//!     // outermost: every response gets the headers, redirects and 400s too
//!     .layer(SecurityHeadersLayer::builder().csp_nonce().build().unwrap())
//!     .layer(HttpsRedirectLayer::builder().allow_host("example.com").build().unwrap())
//!     .service(service_fn(|req: Request<()>| async move {
//!         let nonce = req.extensions().get::<CspNonce>().copied().unwrap();
//!         let page = format!("<script nonce=\"{nonce}\">hello()</script>");
//!         Ok::<_, std::convert::Infallible>(Response::new(page))
//!     }));
//!
//! // Over HTTPS (here: marked by the TLS acceptor; behind a proxy, see below)
//! let mut req = Request::get("/").header(header::HOST, "example.com").body(()).unwrap();
//! req.extensions_mut().insert(ConnectionScheme(Scheme::Https));
//! let res = app.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//! let h = res.headers();
//! assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], "max-age=31536000; includeSubDomains");
//! assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
//! let nonce = res.body().split('"').nth(1).unwrap();
//! assert!(h[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains(&format!("'nonce-{nonce}'")));
//!
//! // Over plain HTTP: a 308 to the same allowed host, never to a forged one
//! let req = Request::get("/a?b=c").header(header::HOST, "example.com").body(()).unwrap();
//! let res = app.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.headers()[header::LOCATION], "https://example.com/a?b=c");
//! let req = Request::get("/").header(header::HOST, "evil.example").body(()).unwrap();
//! assert_eq!(app.oneshot(req).await.unwrap().status(), StatusCode::BAD_REQUEST);
//! # }
//! ```
//!
//! # The headers and why
//!
//! [`SecurityHeadersLayer::strict`] (HTML applications, the default) and
//! [`SecurityHeadersLayer::api`] (JSON APIs) list exact values. In short:
//!
//! - **Content-Security-Policy** ([`csp`]): what the page may load and run.
//!   The strict policy allows only the page's origin, no plugins, no framing
//!   and no inline code, except inline code carrying the request's nonce. A
//!   report-only policy can run beside it; `report-to` endpoints are
//!   declared with `Reporting-Endpoints`.
//! - **Strict-Transport-Security** ([`hsts`]): one year, subdomains included;
//!   [`preload`](StrictTransportSecurity::preload) refuses to build without
//!   what the preload list requires.
//! - **X-Frame-Options**: derived from CSP `frame-ancestors` (or checked
//!   against it), for browsers that predate it.
//! - **X-Content-Type-Options: nosniff**: no MIME sniffing of responses into
//!   scripts or styles.
//! - **Referrer-Policy**: `strict-origin-when-cross-origin` for pages (OWASP:
//!   full URL only to the same origin; `no-referrer` would also make
//!   same-origin form POSTs send `Origin: null` and break CSRF checks), and
//!   `no-referrer` for APIs.
//! - **Permissions-Policy** ([`permissions`]): deny-by-default for powerful
//!   browser features (camera, geolocation, payment, USB, …).
//! - **Cross-Origin-Opener-Policy: same-origin** and
//!   **Cross-Origin-Resource-Policy: same-origin**: isolate the page from
//!   cross-origin windows and its resources from cross-site embedding
//!   (Spectre-class leaks). **Cross-Origin-Embedder-Policy** is opt-in: it
//!   breaks third-party embeds that do not opt in.
//! - **Origin-Agent-Cluster: ?1**, **X-DNS-Prefetch-Control: off**,
//!   **X-Permitted-Cross-Domain-Policies: none**, **X-Download-Options:
//!   noopen**: origin-keyed isolation, no DNS leaks of linked hosts, no
//!   Flash/PDF cross-domain policy files, no opening downloads in the site's
//!   context in old Internet Explorer.
//! - **X-XSS-Protection: 0**: turns the legacy XSS auditor *off*. The
//!   auditor is gone from every current browser; where it survives, its
//!   `1; mode=block` setting is harmful: attackers can trip its filter on
//!   purpose to switch off legitimate scripts of the page, and whether a page
//!   was blocked is observable cross-site, which leaks what the page
//!   contains. OWASP recommends `0` and relying on CSP.
//! - **X-Powered-By** and **Server** are removed: they only tell attackers
//!   which software and version to target.
//!
//! # Strict CSP, reports, cookies
//!
//! - [`ContentSecurityPolicy::strict_nonce`] and
//!   [`strict_hash`](ContentSecurityPolicy::strict_hash): the strict-CSP
//!   recipe (`'strict-dynamic'` with a nonce or hashes), which refuses
//!   changes that would silently weaken it.
//! - `csp_report::CspReportLayer` (feature `csp-report`): receives violation
//!   reports and logs each as one structured event, URIs scrubbed.
//! - [`SecureCookiesLayer`]: `Secure`, `HttpOnly`, `SameSite` and the
//!   `__Host-`/`__Secure-` rules on every outgoing `Set-Cookie`.
//!
//! # HTTPS detection
//!
//! HSTS and CSP `upgrade-insecure-requests` are only sent on responses to
//! requests that arrived over HTTPS (RFC 6797 §7.2), and the redirect
//! decides what to redirect, with the same function:
//! [`TrustedProxies::scheme`](hardening_core::TrustedProxies::scheme). It
//! reads the connection ([`ConnectionScheme`](hardening_core::ConnectionScheme),
//! inserted by your TLS acceptor) and — only when the TCP peer is a
//! configured trusted proxy — `X-Forwarded-Proto` or `Forwarded: proto=`.
//! The request target is never believed: an absolute-form
//! `GET https://example.com/` or an h2c `:scheme` is written by the client. Give both layers the same
//! [`TrustedProxies`](hardening_core::TrustedProxies).
//!
//! # The handler wins
//!
//! A header the handler already set is left alone ([`HeaderMode::IfAbsent`]),
//! so one route can loosen its own policy. Per header, the layer can instead
//! [`Overwrite`](HeaderMode::Overwrite) it or [`Append`](HeaderMode::Append)
//! its value (two CSP headers are both enforced: a handler can then only
//! tighten the baseline).
//!
//! # Nonces
//!
//! With [`csp_nonce()`](SecurityHeadersBuilder::csp_nonce) every request
//! gets a fresh 144-bit nonce from a CSPRNG, as the [`CspNonce`] request
//! extension (an axum extractor with the `axum` feature) and in that
//! response's `script-src` and `style-src`.
//!
//! # Profiles by path
//!
//! [`for_path_prefix`](SecurityHeadersLayer::for_path_prefix) serves another
//! header set below a path prefix, so one outer layer covers an HTML site
//! with a JSON API under `/api`.
//!
//! # Cost
//!
//! Every value is validated and rendered when the layer is built; a bad
//! directive, source or value is a [`ConfigError`] naming it, and nothing
//! can fail or panic at request time. Per request the layer copies
//! precomputed, shared header values (static or reference-counted: no
//! allocation); for the usual small response it clones a ready-made header
//! map instead of inserting header by header. With a nonce, the nonce's
//! request extension and the CSP value are the only other allocations.
//!
//! # Features
//!
//! - `csp-report`: the `csp_report` module and `CspReportLayer`.
//! - `axum`: [`CspNonce`] implements axum's `FromRequestParts` (and
//!   `OptionalFromRequestParts`), and the peer address is also read from
//!   axum's `ConnectInfo<SocketAddr>`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod cookies;
pub mod csp;
#[cfg(feature = "csp-report")]
pub mod csp_report;
mod error;
pub mod header;
mod host;
pub mod hsts;
mod nonce;
pub mod permissions;
mod policy;
pub mod redirect;
pub mod security_headers;

pub use cookies::SecureCookiesLayer;
pub use csp::{ContentSecurityPolicy, Directive, Source};
#[cfg(feature = "csp-report")]
pub use csp_report::CspReportLayer;
pub use error::ConfigError;
pub use hsts::StrictTransportSecurity;
#[cfg(feature = "axum")]
pub use nonce::MissingCspNonce;
pub use nonce::{CspNonce, NONCE_BYTES};
pub use permissions::{Allow, Feature, PermissionsPolicy};
pub use policy::{
    CrossOriginEmbedderPolicy, CrossOriginOpenerPolicy, CrossOriginResourcePolicy, FrameOptions,
    HeaderMode, PermittedCrossDomainPolicies, ReferrerPolicy,
};
pub use redirect::{HttpsRedirectBuilder, HttpsRedirectLayer, RedirectStatus};
pub use security_headers::{SecurityHeadersBuilder, SecurityHeadersLayer};

/// The README's example, compiled as a doctest.
#[cfg(all(doctest, feature = "axum", feature = "csp-report"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
