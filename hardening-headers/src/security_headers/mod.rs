//! The security headers layer: presets, builder, per-request nonce.
//!
//! # Example
//!
//! ```
//! use http::{header, Request, Response};
//! use hardening_headers::{CspNonce, SecurityHeadersLayer};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let layer = SecurityHeadersLayer::builder().csp_nonce().build().unwrap();
//! let app = layer.layer(service_fn(|req: Request<()>| async move {
//!     let nonce = req.extensions().get::<CspNonce>().copied().unwrap();
//!     let page = format!("<script nonce=\"{nonce}\">go()</script>");
//!     Ok::<_, std::convert::Infallible>(Response::new(page))
//! }));
//!
//! let res = app.oneshot(Request::new(())).await.unwrap();
//! let csp = res.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
//! let nonce = res.body().split('"').nth(1).unwrap();
//! assert!(csp.contains(&format!("script-src 'self' 'nonce-{nonce}'")));
//! assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
//! // plain HTTP: no HSTS
//! assert!(!res.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));
//! # }
//! ```

mod builder;
mod future;
mod layer;
mod service;
mod set;

pub use builder::SecurityHeadersBuilder;
pub use future::ResponseFuture;
pub use layer::SecurityHeadersLayer;
pub use service::SecurityHeaders;

pub(crate) use layer::normalize_prefix;

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use http::header::{
        CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY,
        REFERRER_POLICY, SERVER, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
        X_DNS_PREFETCH_CONTROL, X_FRAME_OPTIONS, X_XSS_PROTECTION,
    };
    use http::{HeaderMap, HeaderName, Request, Response};
    use proptest::prelude::*;
    use tower::{service_fn, Layer, ServiceExt};

    use hardening_core::{ConnectionScheme, PeerAddr, Scheme, TrustedProxies};

    use super::*;
    use crate::csp::{ContentSecurityPolicy, Source};
    use crate::header::*;
    use crate::hsts::StrictTransportSecurity;
    use crate::{ConfigError, CrossOriginEmbedderPolicy, CspNonce, FrameOptions, HeaderMode};

    /// Runs one request through `layer` in front of a handler that sets
    /// `handler_headers` and echoes the nonce it saw in the body.
    async fn run(
        layer: &SecurityHeadersLayer,
        req: Request<()>,
        handler_headers: &[(HeaderName, &'static str)],
    ) -> Response<String> {
        let handler_headers = handler_headers.to_vec();
        let svc = layer.layer(service_fn(move |req: Request<()>| {
            let handler_headers = handler_headers.clone();
            async move {
                let nonce = req
                    .extensions()
                    .get::<CspNonce>()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let mut res = Response::new(nonce);
                for (name, value) in handler_headers {
                    res.headers_mut()
                        .append(name, http::HeaderValue::from_static(value));
                }
                Ok::<_, Infallible>(res)
            }
        }));
        svc.oneshot(req).await.unwrap()
    }

    async fn get(layer: &SecurityHeadersLayer, path: &str) -> Response<String> {
        run(layer, Request::get(path).body(()).unwrap(), &[]).await
    }

    fn https(path: &str) -> Request<()> {
        let mut req = Request::get(path).body(()).unwrap();
        req.extensions_mut().insert(ConnectionScheme(Scheme::Https));
        req
    }

    fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> &'a str {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .to_str()
            .unwrap()
    }

    #[tokio::test]
    async fn strict_preset_sends_every_header() {
        let res = run(
            &SecurityHeadersLayer::strict(),
            https("/"),
            &[(X_POWERED_BY, "Express"), (SERVER, "nginx/1.2")],
        )
        .await;
        let h = res.headers();
        let expected: &[(HeaderName, &str)] = &[
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; \
                 img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; \
                 style-src 'self'; upgrade-insecure-requests",
            ),
            (STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"),
            (X_FRAME_OPTIONS, "DENY"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (REFERRER_POLICY, "strict-origin-when-cross-origin"),
            (CROSS_ORIGIN_OPENER_POLICY, "same-origin"),
            (CROSS_ORIGIN_RESOURCE_POLICY, "same-origin"),
            (ORIGIN_AGENT_CLUSTER, "?1"),
            (X_DNS_PREFETCH_CONTROL, "off"),
            (X_PERMITTED_CROSS_DOMAIN_POLICIES, "none"),
            (X_DOWNLOAD_OPTIONS, "noopen"),
            (X_XSS_PROTECTION, "0"),
        ];
        for (name, value) in expected {
            assert_eq!(header(h, name), *value, "{name}");
        }
        assert!(header(h, &PERMISSIONS_POLICY).starts_with("accelerometer=(), autoplay=()"));
        for absent in [
            X_POWERED_BY,
            SERVER,
            CROSS_ORIGIN_EMBEDDER_POLICY,
            CACHE_CONTROL,
            REPORTING_ENDPOINTS,
        ] {
            assert!(!h.contains_key(&absent), "{absent} should be absent");
        }
        assert_eq!(h.len(), expected.len() + 1);
    }

    #[tokio::test]
    async fn api_preset_sends_the_api_set() {
        let res = run(
            &SecurityHeadersLayer::api(),
            https("/items"),
            &[(SERVER, "x")],
        )
        .await;
        let h = res.headers();
        let expected: &[(HeaderName, &str)] = &[
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
            (
                STRICT_TRANSPORT_SECURITY,
                "max-age=31536000; includeSubDomains",
            ),
            (X_FRAME_OPTIONS, "DENY"),
            (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (REFERRER_POLICY, "no-referrer"),
            (CROSS_ORIGIN_RESOURCE_POLICY, "same-origin"),
            (X_PERMITTED_CROSS_DOMAIN_POLICIES, "none"),
            (CACHE_CONTROL, "no-store"),
        ];
        for (name, value) in expected {
            assert_eq!(header(h, name), *value, "{name}");
        }
        assert_eq!(h.len(), expected.len());
    }

    #[tokio::test]
    async fn hsts_only_when_the_request_arrived_over_https() {
        let layer = SecurityHeadersLayer::strict();
        assert!(!get(&layer, "/")
            .await
            .headers()
            .contains_key(STRICT_TRANSPORT_SECURITY));
        assert!(run(&layer, https("/"), &[])
            .await
            .headers()
            .contains_key(STRICT_TRANSPORT_SECURITY));
        // issue 11 item 4: an absolute-form `https://` target is the
        // client's claim; over a plain connection it gets no HSTS
        for peer in [None, Some("203.0.113.7:5000")] {
            let mut absolute = Request::get("https://example.com/").body(()).unwrap();
            if let Some(peer) = peer {
                absolute
                    .extensions_mut()
                    .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
            }
            assert!(!run(&layer, absolute, &[])
                .await
                .headers()
                .contains_key(STRICT_TRANSPORT_SECURITY));
        }

        let forwarded = |peer: &str| {
            let mut req = Request::get("/")
                .header("x-forwarded-proto", "https")
                .body(())
                .unwrap();
            req.extensions_mut()
                .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
            req
        };
        // forged by a client talking to us directly: ignored
        assert!(!run(&layer, forwarded("203.0.113.7:5000"), &[])
            .await
            .headers()
            .contains_key(STRICT_TRANSPORT_SECURITY));
        let behind_proxy = SecurityHeadersLayer::builder()
            .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"]).unwrap())
            .build()
            .unwrap();
        assert!(run(&behind_proxy, forwarded("10.1.2.3:5000"), &[])
            .await
            .headers()
            .contains_key(STRICT_TRANSPORT_SECURITY));
        assert!(!run(&behind_proxy, forwarded("203.0.113.7:5000"), &[])
            .await
            .headers()
            .contains_key(STRICT_TRANSPORT_SECURITY));

        let preload = SecurityHeadersLayer::builder()
            .strict_transport_security(StrictTransportSecurity::default().preload())
            .build()
            .unwrap();
        assert_eq!(
            header(
                run(&preload, https("/"), &[]).await.headers(),
                &STRICT_TRANSPORT_SECURITY
            ),
            "max-age=31536000; includeSubDomains; preload"
        );
        let disabled = SecurityHeadersLayer::builder()
            .disable(STRICT_TRANSPORT_SECURITY)
            .build()
            .unwrap();
        assert!(!run(&disabled, https("/"), &[])
            .await
            .headers()
            .contains_key(STRICT_TRANSPORT_SECURITY));
    }

    #[tokio::test]
    async fn handler_wins_unless_the_mode_says_otherwise() {
        let handler = [
            (X_FRAME_OPTIONS, "SAMEORIGIN"),
            (CONTENT_SECURITY_POLICY, "default-src *"),
            (REFERRER_POLICY, "no-referrer"),
        ];
        let res = run(&SecurityHeadersLayer::strict(), Request::new(()), &handler).await;
        assert_eq!(header(res.headers(), &X_FRAME_OPTIONS), "SAMEORIGIN");
        assert_eq!(
            header(res.headers(), &CONTENT_SECURITY_POLICY),
            "default-src *"
        );

        let layer = SecurityHeadersLayer::builder()
            .mode(X_FRAME_OPTIONS, HeaderMode::Overwrite)
            .mode(CONTENT_SECURITY_POLICY, HeaderMode::Append)
            .build()
            .unwrap();
        let res = run(&layer, Request::new(()), &handler).await;
        assert_eq!(header(res.headers(), &X_FRAME_OPTIONS), "DENY");
        let csp: Vec<_> = res
            .headers()
            .get_all(CONTENT_SECURITY_POLICY)
            .iter()
            .collect();
        assert_eq!(csp.len(), 2);
        assert_eq!(csp[0], "default-src *");
        assert!(csp[1].to_str().unwrap().starts_with("default-src 'self'"));
        assert_eq!(header(res.headers(), &REFERRER_POLICY), "no-referrer");

        let overwrite_all = SecurityHeadersLayer::builder()
            .default_mode(HeaderMode::Overwrite)
            .mode(REFERRER_POLICY, HeaderMode::IfAbsent)
            .build()
            .unwrap();
        let res = run(&overwrite_all, Request::new(()), &handler).await;
        assert_eq!(header(res.headers(), &X_FRAME_OPTIONS), "DENY");
        assert_eq!(
            res.headers()
                .get_all(CONTENT_SECURITY_POLICY)
                .iter()
                .count(),
            1
        );
        assert_eq!(header(res.headers(), &REFERRER_POLICY), "no-referrer");
    }

    #[tokio::test]
    async fn strips_and_keeps() {
        let handler = [(X_POWERED_BY, "PHP"), (SERVER, "Apache"), (SERVER, "again")];
        let res = run(&SecurityHeadersLayer::strict(), Request::new(()), &handler).await;
        assert!(!res.headers().contains_key(X_POWERED_BY));
        assert!(!res.headers().contains_key(SERVER));
        let layer = SecurityHeadersLayer::builder()
            .keep_header(SERVER)
            .strip_header(HeaderName::from_static("x-aspnet-version"))
            .build()
            .unwrap();
        let res = run(
            &layer,
            Request::new(()),
            &[
                (SERVER, "Apache"),
                (HeaderName::from_static("x-aspnet-version"), "4"),
            ],
        )
        .await;
        assert_eq!(header(res.headers(), &SERVER), "Apache");
        assert!(!res.headers().contains_key("x-aspnet-version"));
        // a header the layer both strips and sets ends up with the layer's value
        let layer = SecurityHeadersLayer::builder()
            .header(SERVER, "hardened")
            .build()
            .unwrap();
        let res = run(&layer, Request::new(()), &[(SERVER, "Apache")]).await;
        assert_eq!(header(res.headers(), &SERVER), "hardened");
    }

    #[tokio::test]
    async fn nonce_is_fresh_per_request_and_matches_the_policy() {
        let layer = SecurityHeadersLayer::builder()
            .content_security_policy_report_only(
                ContentSecurityPolicy::strict().script_src([Source::STRICT_DYNAMIC]),
            )
            .csp_nonce()
            .build()
            .unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let res = get(&layer, "/").await;
            let nonce = res.body().clone();
            assert_eq!(nonce.len(), 24);
            let csp = header(res.headers(), &CONTENT_SECURITY_POLICY);
            assert!(
                csp.contains(&format!("; script-src 'self' 'nonce-{nonce}';")),
                "{csp}"
            );
            assert!(
                csp.ends_with(&format!("; style-src 'self' 'nonce-{nonce}'")),
                "{csp}"
            );
            let report_only = header(res.headers(), &CONTENT_SECURITY_POLICY_REPORT_ONLY);
            assert!(
                report_only.contains(&format!("script-src 'strict-dynamic' 'nonce-{nonce}'")),
                "{report_only}"
            );
            assert!(seen.insert(nonce));
        }
        // without csp_nonce() there is no nonce anywhere
        let res = get(&SecurityHeadersLayer::strict(), "/").await;
        assert_eq!(res.body(), "");
        assert!(!header(res.headers(), &CONTENT_SECURITY_POLICY).contains("nonce"));
    }

    #[tokio::test]
    async fn upgrade_insecure_requests_only_over_https() {
        const BASE: &str = "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; \
                            img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self'";
        let layer = SecurityHeadersLayer::strict();
        let http = get(&layer, "/").await;
        assert_eq!(header(http.headers(), &CONTENT_SECURITY_POLICY), BASE);
        let secure = run(&layer, https("/"), &[]).await;
        assert_eq!(
            header(secure.headers(), &CONTENT_SECURITY_POLICY),
            format!("{BASE}; upgrade-insecure-requests")
        );

        let nonced = SecurityHeadersLayer::builder().csp_nonce().build().unwrap();
        let res = run(&nonced, https("/"), &[]).await;
        let nonce = res.body();
        assert_eq!(
            header(res.headers(), &CONTENT_SECURITY_POLICY),
            BASE.replace(
                "'self'; script-src-attr",
                &format!("'self' 'nonce-{nonce}'; script-src-attr")
            )
            .replace(
                "style-src 'self'",
                &format!("style-src 'self' 'nonce-{nonce}'")
            ) + "; upgrade-insecure-requests"
        );

        // a policy of nothing but upgrade-insecure-requests is not sent over plain HTTP
        let only = SecurityHeadersBuilder::empty()
            .content_security_policy(ContentSecurityPolicy::new().upgrade_insecure_requests())
            .build()
            .unwrap();
        assert!(get(&only, "/").await.headers().is_empty());
        assert_eq!(
            header(
                run(&only, https("/"), &[]).await.headers(),
                &CONTENT_SECURITY_POLICY
            ),
            "upgrade-insecure-requests"
        );
    }

    #[tokio::test]
    async fn disable_replace_and_add_headers() {
        let layer = SecurityHeadersLayer::builder()
            .disable(X_XSS_PROTECTION)
            .disable(PERMISSIONS_POLICY)
            .header(X_DNS_PREFETCH_CONTROL, "on")
            .header(HeaderName::from_static("x-robots-tag"), "noindex")
            .cross_origin_embedder_policy(CrossOriginEmbedderPolicy::RequireCorp)
            .frame_options(FrameOptions::Deny)
            .origin_agent_cluster(false)
            .cache_control("no-cache")
            .build()
            .unwrap();
        let res = get(&layer, "/").await;
        let h = res.headers();
        assert!(!h.contains_key(X_XSS_PROTECTION));
        assert!(!h.contains_key(PERMISSIONS_POLICY));
        assert_eq!(header(h, &X_DNS_PREFETCH_CONTROL), "on");
        assert_eq!(
            header(h, &HeaderName::from_static("x-robots-tag")),
            "noindex"
        );
        assert_eq!(header(h, &CROSS_ORIGIN_EMBEDDER_POLICY), "require-corp");
        assert_eq!(header(h, &ORIGIN_AGENT_CLUSTER), "?0");
        assert_eq!(header(h, &CACHE_CONTROL), "no-cache");

        let empty = SecurityHeadersBuilder::empty().build().unwrap();
        assert!(get(&empty, "/").await.headers().is_empty());
    }

    #[tokio::test]
    async fn typed_setters_replace_preset_values() {
        use crate::permissions::{Allow, Feature, PermissionsPolicy};
        use crate::{
            CrossOriginOpenerPolicy, CrossOriginResourcePolicy, PermittedCrossDomainPolicies,
            ReferrerPolicy,
        };
        let layer = SecurityHeadersLayer::builder()
            .referrer_policy(ReferrerPolicy::SameOrigin)
            .cross_origin_opener_policy(CrossOriginOpenerPolicy::SameOriginAllowPopups)
            .cross_origin_resource_policy(CrossOriginResourcePolicy::CrossOrigin)
            .permitted_cross_domain_policies(PermittedCrossDomainPolicies::MasterOnly)
            .permissions_policy(
                PermissionsPolicy::new().allow(Feature::Fullscreen, [Allow::SelfOrigin]),
            )
            .dns_prefetch(true)
            .content_security_policy(ContentSecurityPolicy::api())
            .build()
            .unwrap();
        let res = get(&layer, "/").await;
        let h = res.headers();
        for (name, value) in [
            (REFERRER_POLICY, "same-origin"),
            (CROSS_ORIGIN_OPENER_POLICY, "same-origin-allow-popups"),
            (CROSS_ORIGIN_RESOURCE_POLICY, "cross-origin"),
            (X_PERMITTED_CROSS_DOMAIN_POLICIES, "master-only"),
            (PERMISSIONS_POLICY, "fullscreen=(self)"),
            (X_DNS_PREFETCH_CONTROL, "on"),
            (
                CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
        ] {
            assert_eq!(header(h, &name), value, "{name}");
        }
        // a bad typed value fails the build, naming it
        let err = SecurityHeadersLayer::builder()
            .permissions_policy(
                PermissionsPolicy::new().allow(Feature::Camera, [Allow::origin("camera.example")]),
            )
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("camera.example"), "{err}");
    }

    #[test]
    fn invalid_configuration_is_refused_with_a_named_error() {
        let err = SecurityHeadersLayer::builder()
            .header(HeaderName::from_static("x-custom"), "line\nbreak")
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidHeaderValue {
                header: "x-custom".into(),
                value: "line\nbreak".into()
            }
        );
        let err = SecurityHeadersLayer::builder()
            .disable(X_FRAME_OPTIONS)
            .mode(X_FRAME_OPTIONS, HeaderMode::Overwrite)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::ModeForUnsentHeader {
                header: "x-frame-options".into()
            }
        );
        let err = SecurityHeadersLayer::builder()
            .disable(CONTENT_SECURITY_POLICY)
            .csp_nonce()
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::NonceWithoutPolicy);
        let err = SecurityHeadersLayer::builder()
            .header(CONTENT_SECURITY_POLICY, "default-src 'self'")
            .csp_nonce()
            .build()
            .unwrap_err();
        assert_eq!(err, ConfigError::NonceWithoutPolicy);
        let err = SecurityHeadersLayer::builder()
            .content_security_policy(
                ContentSecurityPolicy::strict().img_src([Source::UNSAFE_INLINE]),
            )
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("img-src"), "{err}");
        let err = SecurityHeadersLayer::builder()
            .content_security_policy(ContentSecurityPolicy::new())
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::EmptyPolicy {
                header: "content-security-policy"
            }
        );
    }

    #[tokio::test]
    async fn frame_options_follow_frame_ancestors() {
        let same_origin = SecurityHeadersLayer::builder()
            .content_security_policy(
                ContentSecurityPolicy::strict()
                    .frame_ancestors([Source::SELF, Source::host("https://partner.example")]),
            )
            .build()
            .unwrap();
        assert_eq!(
            header(get(&same_origin, "/").await.headers(), &X_FRAME_OPTIONS),
            "SAMEORIGIN"
        );
        let partner_only = SecurityHeadersLayer::builder()
            .content_security_policy(
                ContentSecurityPolicy::strict()
                    .frame_ancestors([Source::host("https://partner.example")]),
            )
            .build()
            .unwrap();
        assert_eq!(
            header(get(&partner_only, "/").await.headers(), &X_FRAME_OPTIONS),
            "DENY"
        );
        let no_ancestors = SecurityHeadersLayer::builder()
            .content_security_policy(
                ContentSecurityPolicy::strict().remove(crate::Directive::FrameAncestors),
            )
            .frame_options(FrameOptions::SameOrigin)
            .build()
            .unwrap();
        assert_eq!(
            header(get(&no_ancestors, "/").await.headers(), &X_FRAME_OPTIONS),
            "SAMEORIGIN"
        );

        let err = SecurityHeadersLayer::builder()
            .frame_options(FrameOptions::SameOrigin)
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::FrameOptionsConflict {
                frame_options: "SAMEORIGIN",
                frame_ancestors: "'none'".into(),
                implied: "DENY"
            }
        );
        let err = SecurityHeadersLayer::builder()
            .content_security_policy(
                ContentSecurityPolicy::strict().frame_ancestors([Source::SELF]),
            )
            .frame_options(FrameOptions::Deny)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("frame-ancestors 'self'"), "{err}");
    }

    #[tokio::test]
    async fn reporting_endpoints_and_report_to() {
        let csp = ContentSecurityPolicy::strict()
            .report_to("csp")
            .report_uri(["/csp-reports"]);
        let err = SecurityHeadersLayer::builder()
            .content_security_policy(csp.clone())
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownReportingEndpoint { name: "csp".into() }
        );
        let err = SecurityHeadersLayer::builder()
            .content_security_policy_report_only(csp.clone())
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownReportingEndpoint { name: "csp".into() }
        );

        let layer = SecurityHeadersLayer::builder()
            .content_security_policy(csp.clone())
            .reporting_endpoint("csp", "https://reports.example.com/csp")
            .reporting_endpoint("default", "/reports")
            .build()
            .unwrap();
        let res = get(&layer, "/").await;
        assert_eq!(
            header(res.headers(), &REPORTING_ENDPOINTS),
            r#"csp="https://reports.example.com/csp", default="/reports""#
        );
        // Over plain HTTP only report-uri: Chromium delivers report-to
        // reports only for HTTPS responses, and ignores report-uri beside it.
        assert!(
            header(res.headers(), &CONTENT_SECURITY_POLICY).ends_with("; report-uri /csp-reports")
        );
        let res = run(&layer, https("/"), &[]).await;
        assert!(header(res.headers(), &CONTENT_SECURITY_POLICY)
            .ends_with("; report-uri /csp-reports; report-to csp; upgrade-insecure-requests"));

        for (name, url) in [
            ("csp", "http://reports.example.com/"),
            ("CSP", "/r"),
            ("csp", "reports"),
            ("csp", "/a\"b"),
        ] {
            let err = SecurityHeadersLayer::builder()
                .reporting_endpoint(name, url)
                .build()
                .unwrap_err();
            assert!(
                matches!(err, ConfigError::InvalidReportingEndpoint { .. }),
                "{name} {url}: {err}"
            );
        }
        assert!(SecurityHeadersLayer::builder()
            .reporting_endpoint("local", "http://127.0.0.1:9000/r")
            .build()
            .is_ok());
    }

    #[tokio::test]
    async fn profiles_by_path_prefix() {
        let layer = SecurityHeadersLayer::builder()
            .csp_nonce()
            .build()
            .unwrap()
            .for_path_prefix("/api/", SecurityHeadersLayer::api())
            .unwrap()
            .for_path_prefix(
                "/api/public",
                SecurityHeadersLayer::api_builder()
                    .cache_control("public, max-age=60")
                    .build()
                    .unwrap(),
            )
            .unwrap();
        for path in ["/api", "/api/items", "/api/items/7?x=1"] {
            let res = get(&layer, path).await;
            assert_eq!(header(res.headers(), &CACHE_CONTROL), "no-store", "{path}");
            assert_eq!(
                header(res.headers(), &CONTENT_SECURITY_POLICY),
                "default-src 'none'; frame-ancestors 'none'"
            );
            assert_eq!(res.body(), "", "no nonce drawn for the api profile");
        }
        let res = get(&layer, "/api/public/x").await;
        assert_eq!(header(res.headers(), &CACHE_CONTROL), "public, max-age=60");
        for path in ["/", "/apis", "/index.html", "/API/items"] {
            let res = get(&layer, path).await;
            assert!(!res.headers().contains_key(CACHE_CONTROL), "{path}");
            assert_eq!(res.body().len(), 24, "{path}: nonce drawn");
        }
        for bad in ["api", "/a b", "/x?y", ""] {
            assert_eq!(
                SecurityHeadersLayer::strict()
                    .for_path_prefix(bad, SecurityHeadersLayer::api())
                    .unwrap_err(),
                ConfigError::InvalidPath { path: bad.into() }
            );
        }
    }

    /// What the layer must produce for a handler's headers under the default
    /// mode: the handler's values where it set a header (stripped names
    /// dropped), the layer's values for the rest.
    fn expected(
        layer_headers: &HeaderMap,
        handler: &[(HeaderName, &'static str)],
    ) -> Vec<(String, Vec<String>)> {
        let mut names: Vec<String> = layer_headers.keys().map(|n| n.to_string()).collect();
        for (name, _) in handler {
            if *name != SERVER && *name != X_POWERED_BY {
                names.push(name.to_string());
            }
        }
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let from_handler: Vec<String> = handler
                    .iter()
                    .filter(|(n, _)| n.as_str() == name && *n != SERVER && *n != X_POWERED_BY)
                    .map(|(_, v)| v.to_string())
                    .collect();
                let values = if from_handler.is_empty() {
                    layer_headers
                        .get_all(&name)
                        .iter()
                        .map(|v| v.to_str().unwrap().to_owned())
                        .collect()
                } else {
                    from_handler
                };
                (name, values)
            })
            .collect()
    }

    fn actual(headers: &HeaderMap) -> Vec<(String, Vec<String>)> {
        let mut names: Vec<String> = headers.keys().map(|n| n.to_string()).collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let values = headers
                    .get_all(&name)
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect();
                (name, values)
            })
            .collect()
    }

    proptest! {
        /// Small responses take the precomputed-map path, large ones add
        /// header by header; either way the handler wins name by name, keeps
        /// every value in order, and stripped headers are gone.
        #[test]
        fn handler_headers_survive_both_paths(
            picks in proptest::collection::vec((0usize..9, 0usize..3), 0..16),
            secure in any::<bool>(),
        ) {
            let pool: [(HeaderName, [&'static str; 3]); 9] = [
                (http::header::SET_COOKIE, ["a=1", "b=2", "c=3"]),
                (http::header::CONTENT_TYPE, ["text/html", "text/plain", "application/json"]),
                (X_FRAME_OPTIONS, ["SAMEORIGIN", "DENY", "SAMEORIGIN"]),
                (CONTENT_SECURITY_POLICY, ["default-src *", "img-src *", "script-src 'none'"]),
                (SERVER, ["nginx", "apache", "iis"]),
                (X_POWERED_BY, ["php", "asp", "express"]),
                (HeaderName::from_static("x-request-id"), ["1", "2", "3"]),
                (http::header::VARY, ["origin", "accept", "cookie"]),
                (PERMISSIONS_POLICY, ["camera=*", "usb=*", "midi=*"]),
            ];
            let handler: Vec<(HeaderName, &'static str)> = picks
                .iter()
                .map(|(name, value)| (pool[*name].0.clone(), pool[*name].1[*value]))
                .collect();
            let layer = SecurityHeadersLayer::strict();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let req = || if secure { https("/") } else { Request::new(()) };
            let ours = rt.block_on(run(&layer, req(), &[])).headers().clone();
            let res = rt.block_on(run(&layer, req(), &handler));
            prop_assert_eq!(actual(res.headers()), expected(&ours, &handler));
        }

        /// Arbitrary header values are either refused at build time or sent
        /// verbatim; nothing panics.
        #[test]
        fn arbitrary_raw_values_never_panic(value in "\\PC{0,40}") {
            if let Ok(layer) = SecurityHeadersLayer::builder().header(HeaderName::from_static("x-custom"), value.clone()).build() {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let res = rt.block_on(get(&layer, "/"));
                prop_assert_eq!(res.headers()["x-custom"].as_bytes(), value.as_bytes());
            }
        }

        /// Hostile request paths and forwarding headers never panic the
        /// layer and never earn HSTS from an untrusted peer.
        #[test]
        fn hostile_requests_never_panic(path in "/[ -~]{0,60}", proto in "[ -~]{0,30}") {
            let layer = SecurityHeadersLayer::builder()
                .csp_nonce()
                .build()
                .unwrap()
                .for_path_prefix("/api", SecurityHeadersLayer::api())
                .unwrap();
            let Ok(uri) = path.parse::<http::Uri>() else { return Ok(()) };
            let Ok(proto) = http::HeaderValue::from_str(&proto) else { return Ok(()) };
            let mut req = Request::get(uri).header("x-forwarded-proto", proto).body(()).unwrap();
            req.extensions_mut().insert(PeerAddr("198.51.100.1:1".parse().unwrap()));
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let res = rt.block_on(run(&layer, req, &[]));
            prop_assert!(!res.headers().contains_key(STRICT_TRANSPORT_SECURITY));
            prop_assert!(res.headers().contains_key(CONTENT_SECURITY_POLICY));
        }
    }
}
