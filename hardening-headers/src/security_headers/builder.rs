//! The validating builder of [`SecurityHeadersLayer`].

use std::sync::Arc;

use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_REPORT_ONLY, REFERRER_POLICY,
    SERVER, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_DNS_PREFETCH_CONTROL,
    X_FRAME_OPTIONS, X_XSS_PROTECTION,
};
use http::{HeaderName, HeaderValue};

use hardening_core::TrustedProxies;

use super::layer::{Profiles, SecurityHeadersLayer};
use super::set::{FixedHeader, HeaderSet, NoncedHeader};
use crate::csp::{check_report_uri, is_sf_key, ContentSecurityPolicy, Directive, Source};
use crate::error::ConfigError;
use crate::header::{
    CROSS_ORIGIN_EMBEDDER_POLICY, CROSS_ORIGIN_OPENER_POLICY, CROSS_ORIGIN_RESOURCE_POLICY,
    ORIGIN_AGENT_CLUSTER, PERMISSIONS_POLICY, REPORTING_ENDPOINTS, X_DOWNLOAD_OPTIONS,
    X_PERMITTED_CROSS_DOMAIN_POLICIES, X_POWERED_BY,
};
use crate::hsts::StrictTransportSecurity;
use crate::permissions::PermissionsPolicy;
use crate::policy::{
    CrossOriginEmbedderPolicy, CrossOriginOpenerPolicy, CrossOriginResourcePolicy, FrameOptions,
    HeaderMode, PermittedCrossDomainPolicies, ReferrerPolicy,
};

/// What a header will be, before validation.
#[derive(Clone, Debug)]
enum Spec {
    Csp(ContentSecurityPolicy),
    Hsts(StrictTransportSecurity),
    /// `None`: derived from CSP `frame-ancestors`.
    FrameOptions(Option<FrameOptions>),
    Permissions(PermissionsPolicy),
    ReportingEndpoints,
    Static(HeaderValue),
    Raw(String),
}

/// Builds a [`SecurityHeadersLayer`]: start from a preset, set, replace or
/// disable any header, then [`build`](Self::build), which validates every
/// value and renders it once.
///
/// ```
/// use std::time::Duration;
/// use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
/// use hardening_headers::csp::{ContentSecurityPolicy, Source};
/// use hardening_headers::hsts::StrictTransportSecurity;
/// use hardening_headers::header::X_DOWNLOAD_OPTIONS;
/// use hardening_headers::{HeaderMode, ReferrerPolicy, SecurityHeadersLayer};
///
/// let layer = SecurityHeadersLayer::builder() // the strict preset
///     .content_security_policy(ContentSecurityPolicy::strict().img_src([Source::SELF, Source::HTTPS]))
///     .csp_nonce()
///     .strict_transport_security(StrictTransportSecurity::default().preload())
///     .referrer_policy(ReferrerPolicy::NoReferrer)
///     .cache_control("no-cache")
///     .disable(X_DOWNLOAD_OPTIONS)
///     .mode(CONTENT_SECURITY_POLICY, HeaderMode::Append)
///     .build()
///     .unwrap();
/// # let _ = layer;
///
/// // Bad values are refused when building, with what is wrong:
/// let err = SecurityHeadersLayer::builder()
///     .strict_transport_security(StrictTransportSecurity::new(Duration::from_secs(60)).preload())
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("preload"));
/// ```
#[derive(Clone, Debug)]
pub struct SecurityHeadersBuilder {
    headers: Vec<(HeaderName, Spec)>,
    nonce: bool,
    endpoints: Vec<(String, String)>,
    modes: Vec<(HeaderName, HeaderMode)>,
    default_mode: HeaderMode,
    strip: Vec<HeaderName>,
    proxies: TrustedProxies,
}

impl Default for SecurityHeadersBuilder {
    fn default() -> Self {
        Self::strict()
    }
}

impl SecurityHeadersBuilder {
    /// No headers at all: build up from nothing.
    pub fn empty() -> Self {
        SecurityHeadersBuilder {
            headers: Vec::new(),
            nonce: false,
            endpoints: Vec::new(),
            modes: Vec::new(),
            default_mode: HeaderMode::IfAbsent,
            strip: Vec::new(),
            proxies: TrustedProxies::none(),
        }
    }

    /// The preset for HTML applications; see
    /// [`SecurityHeadersLayer::strict`] for the exact headers.
    pub fn strict() -> Self {
        Self::empty()
            .content_security_policy(ContentSecurityPolicy::strict())
            .strict_transport_security(StrictTransportSecurity::default())
            .derive_frame_options()
            .static_header(X_CONTENT_TYPE_OPTIONS, "nosniff")
            .referrer_policy(ReferrerPolicy::StrictOriginWhenCrossOrigin)
            .permissions_policy(PermissionsPolicy::deny_all())
            .cross_origin_opener_policy(CrossOriginOpenerPolicy::SameOrigin)
            .cross_origin_resource_policy(CrossOriginResourcePolicy::SameOrigin)
            .static_header(ORIGIN_AGENT_CLUSTER, "?1")
            .static_header(X_DNS_PREFETCH_CONTROL, "off")
            .permitted_cross_domain_policies(PermittedCrossDomainPolicies::None)
            .static_header(X_DOWNLOAD_OPTIONS, "noopen")
            .static_header(X_XSS_PROTECTION, "0")
            .strip_header(X_POWERED_BY)
            .strip_header(SERVER)
    }

    /// The preset for JSON APIs; see [`SecurityHeadersLayer::api`] for the
    /// exact headers.
    pub fn api() -> Self {
        Self::empty()
            .content_security_policy(ContentSecurityPolicy::api())
            .strict_transport_security(StrictTransportSecurity::default())
            .derive_frame_options()
            .static_header(X_CONTENT_TYPE_OPTIONS, "nosniff")
            .referrer_policy(ReferrerPolicy::NoReferrer)
            .cross_origin_resource_policy(CrossOriginResourcePolicy::SameOrigin)
            .permitted_cross_domain_policies(PermittedCrossDomainPolicies::None)
            .static_header(CACHE_CONTROL, "no-store")
            .strip_header(X_POWERED_BY)
            .strip_header(SERVER)
    }

    fn set(mut self, name: HeaderName, spec: Spec) -> Self {
        match self.headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, slot)) => *slot = spec,
            None => self.headers.push((name, spec)),
        }
        self
    }

    fn static_header(self, name: HeaderName, value: &'static str) -> Self {
        self.set(name, Spec::Static(HeaderValue::from_static(value)))
    }

    fn derive_frame_options(self) -> Self {
        self.set(X_FRAME_OPTIONS, Spec::FrameOptions(None))
    }

    /// Sets the enforced `Content-Security-Policy`.
    pub fn content_security_policy(self, policy: ContentSecurityPolicy) -> Self {
        self.set(CONTENT_SECURITY_POLICY, Spec::Csp(policy))
    }

    /// Sets `Content-Security-Policy-Report-Only`: violations are reported
    /// (to its `report-to`/`report-uri`) but not blocked. It can be set
    /// beside the enforced policy, to trial a stricter one.
    pub fn content_security_policy_report_only(self, policy: ContentSecurityPolicy) -> Self {
        self.set(CONTENT_SECURITY_POLICY_REPORT_ONLY, Spec::Csp(policy))
    }

    /// Draws a fresh nonce per request and adds it to `script-src` and
    /// `style-src` (see [`CspNonce`](crate::CspNonce)) of the enforced and
    /// report-only policies.
    ///
    /// `script-src-elem`/`style-src-elem` get it too when present;
    /// `script-src`/`style-src` are created from `default-src` when absent,
    /// and a lone `'none'` is replaced by the nonce. The rest of the policy is
    /// rendered once, at build time; a request only pays for drawing the
    /// nonce and writing it in.
    pub fn csp_nonce(mut self) -> Self {
        self.nonce = true;
        self
    }

    /// Sets `Strict-Transport-Security`, sent only on responses to requests
    /// that arrived over HTTPS (see [`trusted_proxies`](Self::trusted_proxies)).
    pub fn strict_transport_security(self, hsts: StrictTransportSecurity) -> Self {
        self.set(STRICT_TRANSPORT_SECURITY, Spec::Hsts(hsts))
    }

    /// Sets `X-Frame-Options` explicitly.
    ///
    /// By default it is derived from the enforced CSP's `frame-ancestors`
    /// (`'none'` → `DENY`, a list with `'self'` → `SAMEORIGIN`, other origins
    /// only → `DENY`, so browsers without `frame-ancestors` err on the safe
    /// side), or `DENY` when there is none. An explicit value that
    /// contradicts `frame-ancestors` is a [`ConfigError::FrameOptionsConflict`].
    pub fn frame_options(self, frame_options: FrameOptions) -> Self {
        self.set(X_FRAME_OPTIONS, Spec::FrameOptions(Some(frame_options)))
    }

    /// Sets `Referrer-Policy`.
    pub fn referrer_policy(self, policy: ReferrerPolicy) -> Self {
        self.set(REFERRER_POLICY, Spec::Static(policy.header_value()))
    }

    /// Sets `Permissions-Policy`.
    pub fn permissions_policy(self, policy: PermissionsPolicy) -> Self {
        self.set(PERMISSIONS_POLICY, Spec::Permissions(policy))
    }

    /// Sets `Cross-Origin-Opener-Policy`.
    pub fn cross_origin_opener_policy(self, policy: CrossOriginOpenerPolicy) -> Self {
        self.set(
            CROSS_ORIGIN_OPENER_POLICY,
            Spec::Static(policy.header_value()),
        )
    }

    /// Sets `Cross-Origin-Resource-Policy`.
    pub fn cross_origin_resource_policy(self, policy: CrossOriginResourcePolicy) -> Self {
        self.set(
            CROSS_ORIGIN_RESOURCE_POLICY,
            Spec::Static(policy.header_value()),
        )
    }

    /// Opts in to `Cross-Origin-Embedder-Policy` (not sent by the presets).
    pub fn cross_origin_embedder_policy(self, policy: CrossOriginEmbedderPolicy) -> Self {
        self.set(
            CROSS_ORIGIN_EMBEDDER_POLICY,
            Spec::Static(policy.header_value()),
        )
    }

    /// Sets `X-Permitted-Cross-Domain-Policies`.
    pub fn permitted_cross_domain_policies(self, policy: PermittedCrossDomainPolicies) -> Self {
        self.set(
            X_PERMITTED_CROSS_DOMAIN_POLICIES,
            Spec::Static(policy.header_value()),
        )
    }

    /// Sets `Origin-Agent-Cluster`: `?1` asks the browser to isolate the
    /// origin in its own agent cluster (the preset), `?0` not to.
    pub fn origin_agent_cluster(self, isolate: bool) -> Self {
        self.static_header(ORIGIN_AGENT_CLUSTER, if isolate { "?1" } else { "?0" })
    }

    /// Sets `X-DNS-Prefetch-Control`: `off` (the preset) stops the browser
    /// from resolving the hosts of links on the page ahead of time, which
    /// leaks what the page links to.
    pub fn dns_prefetch(self, allow: bool) -> Self {
        self.static_header(X_DNS_PREFETCH_CONTROL, if allow { "on" } else { "off" })
    }

    /// Sets `Cache-Control` (the API preset sends `no-store`).
    pub fn cache_control(self, value: impl Into<String>) -> Self {
        self.set(CACHE_CONTROL, Spec::Raw(value.into()))
    }

    /// Declares a reporting endpoint, sent in `Reporting-Endpoints`
    /// (`name="url"`), for CSP `report-to` to name. The URL is absolute
    /// `https` (plain `http` only for loopback hosts) or an absolute path.
    pub fn reporting_endpoint(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        let name = name.into();
        let url = url.into();
        match self.endpoints.iter_mut().find(|(n, _)| *n == name) {
            Some((_, slot)) => *slot = url,
            None => self.endpoints.push((name, url)),
        }
        self.set(REPORTING_ENDPOINTS, Spec::ReportingEndpoints)
    }

    /// Sets any header to a fixed value, replacing what the layer would
    /// send for it (typed settings included), or adding a header the layer
    /// does not know. The value is checked when building.
    ///
    /// X-Frame-Options and CSP set this way are taken as they are: they are
    /// not checked against each other, and a raw CSP cannot carry a nonce.
    pub fn header(self, name: HeaderName, value: impl Into<String>) -> Self {
        self.set(name, Spec::Raw(value.into()))
    }

    /// Stops sending `name` (any header of the preset, HSTS included).
    pub fn disable(mut self, name: HeaderName) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    /// How `name` meets a header the handler already set; see [`HeaderMode`].
    pub fn mode(mut self, name: HeaderName, mode: HeaderMode) -> Self {
        match self.modes.iter_mut().find(|(n, _)| *n == name) {
            Some((_, slot)) => *slot = mode,
            None => self.modes.push((name, mode)),
        }
        self
    }

    /// The mode of every header without its own [`mode`](Self::mode)
    /// (default [`HeaderMode::IfAbsent`]: the handler wins).
    pub fn default_mode(mut self, mode: HeaderMode) -> Self {
        self.default_mode = mode;
        self
    }

    /// Removes `name` from every response (the presets strip `X-Powered-By`
    /// and `Server`, which only tell attackers what to target).
    pub fn strip_header(mut self, name: HeaderName) -> Self {
        if !self.strip.contains(&name) {
            self.strip.push(name);
        }
        self
    }

    /// Stops removing `name` from responses.
    pub fn keep_header(mut self, name: HeaderName) -> Self {
        self.strip.retain(|n| *n != name);
        self
    }

    /// The reverse proxies whose `X-Forwarded-Proto` / `Forwarded: proto=`
    /// decide whether a request arrived over HTTPS (and so gets HSTS). The
    /// default trusts nobody: only the connection ([`ConnectionScheme`])
    /// counts (never the request target). Use the same value as the
    /// [`HttpsRedirectLayer`](crate::HttpsRedirectLayer), so both agree on
    /// what is HTTPS.
    ///
    /// [`ConnectionScheme`]: hardening_core::ConnectionScheme
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Validates every value and renders the headers.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] found: an invalid CSP directive or source,
    /// an HSTS `preload` the preload list would refuse, X-Frame-Options
    /// contradicting `frame-ancestors`, a `report-to` endpoint that is not
    /// declared, a malformed reporting endpoint, permissions origin or raw
    /// header value, a `csp_nonce()` without a typed CSP, a mode for a
    /// header that is not sent.
    pub fn build(self) -> Result<SecurityHeadersLayer, ConfigError> {
        let set = self.compile()?;
        Ok(SecurityHeadersLayer::from_profiles(Arc::new(
            Profiles::single(set),
        )))
    }

    fn mode_of(&self, name: &HeaderName) -> HeaderMode {
        self.modes
            .iter()
            .find(|(n, _)| n == name)
            .map_or(self.default_mode, |(_, m)| *m)
    }

    fn csp(&self, name: &HeaderName) -> Option<&ContentSecurityPolicy> {
        self.headers.iter().find_map(|(n, spec)| match spec {
            Spec::Csp(policy) if n == name => Some(policy),
            _ => None,
        })
    }

    pub(crate) fn compile(self) -> Result<HeaderSet, ConfigError> {
        let enforced = self.csp(&CONTENT_SECURITY_POLICY);
        let report_only = self.csp(&CONTENT_SECURITY_POLICY_REPORT_ONLY);
        if self.nonce && enforced.is_none() && report_only.is_none() {
            return Err(ConfigError::NonceWithoutPolicy);
        }
        for policy in [enforced, report_only].into_iter().flatten() {
            if let Some(name) = policy.report_to_endpoint() {
                if !self.endpoints.iter().any(|(n, _)| n == name) {
                    return Err(ConfigError::UnknownReportingEndpoint {
                        name: name.to_owned(),
                    });
                }
            }
        }
        for (name, _) in &self.modes {
            if !self.headers.iter().any(|(n, _)| n == name) {
                return Err(ConfigError::ModeForUnsentHeader {
                    header: name.to_string(),
                });
            }
        }

        let mut fixed = Vec::new();
        let mut nonced = Vec::new();
        for (name, spec) in &self.headers {
            let mode = self.mode_of(name);
            let (https, http) = match spec {
                Spec::Csp(policy) => {
                    let header = if *name == CONTENT_SECURITY_POLICY {
                        "content-security-policy"
                    } else {
                        "content-security-policy-report-only"
                    };
                    // With a nonce, the strict checks run on the nonced
                    // policy below; the plain one is only the fallback.
                    let plain = if self.nonce {
                        policy.render_fallback(header, false)?
                    } else {
                        policy.render(header, false)?
                    };
                    let https = header_value(name, plain.text.clone())?;
                    let http_text = plain
                        .text
                        .get(..plain.text.len() - plain.https_only_suffix)
                        .unwrap_or_default();
                    let http = match http_text {
                        "" => None,
                        text => Some(header_value(name, text.to_owned())?),
                    };
                    if self.nonce {
                        let rendered = policy.render(header, true)?;
                        // check every byte now, so the per-request value cannot fail
                        header_value(name, rendered.text.clone())?;
                        let fallback_http = http.clone().unwrap_or_else(|| https.clone());
                        nonced.push(NoncedHeader::new(
                            name.clone(),
                            &rendered.text,
                            &rendered.nonce_at,
                            rendered.https_only_suffix,
                            (shared(https), shared(fallback_http)),
                            mode,
                        ));
                        continue;
                    }
                    (Some(https), http)
                }
                Spec::Hsts(policy) => (Some(policy.to_header_value()?), None),
                Spec::FrameOptions(explicit) => {
                    let value = frame_options(*explicit, enforced)?.header_value();
                    (Some(value.clone()), Some(value))
                }
                Spec::Permissions(policy) => both(policy.to_header_value()?),
                Spec::ReportingEndpoints => both(self.reporting_endpoints()?),
                Spec::Static(value) => both(value.clone()),
                Spec::Raw(value) => both(header_value(name, value.clone())?),
            };
            fixed.push(FixedHeader {
                name: name.clone(),
                https: https.map(shared),
                http: http.map(shared),
                mode,
            });
        }
        let needs_scheme = fixed.iter().any(|h| {
            h.https.as_ref().map(HeaderValue::as_bytes)
                != h.http.as_ref().map(HeaderValue::as_bytes)
        }) || nonced.iter().any(|h| h.fallback(true) != h.fallback(false));
        Ok(HeaderSet {
            templates: HeaderSet::templates(&fixed, nonced.len()),
            fixed: fixed.into_boxed_slice(),
            nonced: nonced.into_boxed_slice(),
            strip: self.strip.into_boxed_slice(),
            nonce: self.nonce,
            needs_scheme,
            proxies: self.proxies,
        })
    }

    fn reporting_endpoints(&self) -> Result<HeaderValue, ConfigError> {
        let mut out = String::new();
        for (name, url) in &self.endpoints {
            let invalid = |reason| ConfigError::InvalidReportingEndpoint {
                name: name.clone(),
                url: url.clone(),
                reason,
            };
            if !is_sf_key(name) {
                return Err(invalid(
                    "an endpoint name starts with a lowercase letter or `*` and holds lowercase letters, digits, `_`, `-`, `.`, `*`",
                ));
            }
            check_report_uri(url).map_err(invalid)?;
            if let Ok(uri) = url.parse::<http::Uri>() {
                let loopback = matches!(uri.host(), Some("localhost" | "127.0.0.1" | "[::1]"));
                if uri.scheme_str() == Some("http") && !loopback {
                    return Err(invalid(
                        "browsers only deliver reports to https endpoints (or loopback)",
                    ));
                }
            }
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push_str("=\"");
            out.push_str(url);
            out.push('"');
        }
        header_value(&REPORTING_ENDPOINTS, out)
    }
}

fn both(value: HeaderValue) -> (Option<HeaderValue>, Option<HeaderValue>) {
    (Some(value.clone()), Some(value))
}

fn header_value(name: &HeaderName, value: String) -> Result<HeaderValue, ConfigError> {
    HeaderValue::from_str(&value).map_err(|_| ConfigError::header_value(name, value))
}

/// A value built at run time lives in a `Bytes` that promotes itself to a
/// shared, reference-counted buffer on its first clone, which allocates.
/// Cloning once here does that promotion at build time, so per-request clones
/// are only a reference-count increment.
fn shared(value: HeaderValue) -> HeaderValue {
    drop(value.clone());
    value
}

/// X-Frame-Options implied by `frame-ancestors`, or checked against it.
fn frame_options(
    explicit: Option<FrameOptions>,
    csp: Option<&ContentSecurityPolicy>,
) -> Result<FrameOptions, ConfigError> {
    let ancestors = csp.and_then(|c| c.sources_of(Directive::FrameAncestors));
    let Some(ancestors) = ancestors else {
        return Ok(explicit.unwrap_or(FrameOptions::Deny));
    };
    let implied = if ancestors.iter().any(Source::is_self) {
        FrameOptions::SameOrigin
    } else {
        FrameOptions::Deny
    };
    match explicit {
        Some(explicit) if explicit != implied => Err(ConfigError::FrameOptionsConflict {
            frame_options: explicit.as_str(),
            frame_ancestors: if ancestors.is_empty() {
                "'none'".to_owned()
            } else {
                ancestors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            },
            implied: implied.as_str(),
        }),
        _ => Ok(implied),
    }
}
