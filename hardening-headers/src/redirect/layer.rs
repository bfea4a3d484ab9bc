//! [`HttpsRedirectLayer`] and its validating builder.

use std::sync::Arc;

use tower_layer::Layer;

use hardening_core::observe::RedirectObserver;
use hardening_core::TrustedProxies;

use super::decide::{HostPattern, RedirectPolicy, RedirectStatus};
use super::service::HttpsRedirect;
use crate::error::ConfigError;
use crate::host::check_host;
use crate::hsts::StrictTransportSecurity;
use crate::security_headers::normalize_prefix;

/// Redirects plain-HTTP requests to HTTPS on an allowed host.
///
/// See the [module docs](crate::redirect) for the rules.
///
/// # Clone
///
/// Clones share the validated configuration (one `Arc`).
#[derive(Clone, Debug)]
pub struct HttpsRedirectLayer {
    policy: Arc<RedirectPolicy>,
}

impl HttpsRedirectLayer {
    /// Starts a builder: no allowed host, no trusted proxy, no exemption,
    /// port 443, `308`, HSTS one year with subdomains.
    pub fn builder() -> HttpsRedirectBuilder {
        HttpsRedirectBuilder::default()
    }
}

impl<S> Layer<S> for HttpsRedirectLayer {
    type Service = HttpsRedirect<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpsRedirect::new(inner, self.policy.clone())
    }
}

/// Builds an [`HttpsRedirectLayer`].
///
/// ```
/// use hardening_headers::HttpsRedirectLayer;
///
/// let layer = HttpsRedirectLayer::builder()
///     .allow_hosts(["example.com", "*.example.com"])
///     .exempt_path("/livez")
///     .exempt_path_prefix("/.well-known/acme-challenge")
///     .build()
///     .unwrap();
/// # let _ = layer;
///
/// let err = HttpsRedirectLayer::builder().allow_host("exa mple.com").build().unwrap_err();
/// assert!(err.to_string().contains("exa mple.com"));
/// ```
#[derive(Clone, Debug)]
pub struct HttpsRedirectBuilder {
    hosts: Vec<String>,
    canonical: Option<String>,
    proxies: TrustedProxies,
    exempt_paths: Vec<String>,
    exempt_prefixes: Vec<String>,
    exempt_localhost: bool,
    https_port: u16,
    status: RedirectStatus,
    hsts: Option<StrictTransportSecurity>,
    observer: Option<Arc<dyn RedirectObserver>>,
}

impl Default for HttpsRedirectBuilder {
    fn default() -> Self {
        HttpsRedirectBuilder {
            hosts: Vec::new(),
            canonical: None,
            proxies: TrustedProxies::none(),
            exempt_paths: Vec::new(),
            exempt_prefixes: Vec::new(),
            exempt_localhost: false,
            https_port: 443,
            status: RedirectStatus::default(),
            hsts: Some(StrictTransportSecurity::default()),
            observer: None,
        }
    }
}

impl HttpsRedirectBuilder {
    /// Reports every redirect and every refused host to `observer` (e.g.
    /// `hardening-metrics`' `LayerMetrics::redirect`). Requests passed on
    /// are not reported; without an observer the layer pays one branch per
    /// redirect, none per request passed on.
    pub fn observer(mut self, observer: impl RedirectObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Allows redirects to `host` (`example.com`, `*.example.com` for every
    /// subdomain, an IP address). Matching ignores case and the request's
    /// port.
    pub fn allow_host(mut self, host: impl Into<String>) -> Self {
        self.hosts.push(host.into());
        self
    }

    /// Allows redirects to each of `hosts`.
    pub fn allow_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.hosts.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// The site's own host: allowed, and the redirect target of requests
    /// that name no host at all (HTTP/1.0).
    pub fn canonical_host(mut self, host: impl Into<String>) -> Self {
        self.canonical = Some(host.into());
        self
    }

    /// The reverse proxies whose `X-Forwarded-Proto` / `Forwarded: proto=`
    /// are believed, and whose forwarded client address decides
    /// [`exempt_localhost`](Self::exempt_localhost). Give the same value to the
    /// [`SecurityHeadersLayer`](crate::SecurityHeadersLayer) builder.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Serves `path` (exactly) over plain HTTP too: health probes that a
    /// load balancer sends without TLS.
    pub fn exempt_path(mut self, path: impl Into<String>) -> Self {
        self.exempt_paths.push(path.into());
        self
    }

    /// Serves every path at or below `prefix` over plain HTTP too (whole
    /// segments: `/.well-known/acme-challenge` for ACME HTTP-01).
    pub fn exempt_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.exempt_prefixes.push(prefix.into());
        self
    }

    /// Serves plain HTTP to requests for a loopback host (`localhost`,
    /// `*.localhost`, `127.0.0.0/8`, `[::1]`) that come from a loopback
    /// client: local development without certificates. Both must hold, so a
    /// remote client cannot opt out by sending `Host: localhost`. The client
    /// is resolved behind the [`trusted_proxies`](Self::trusted_proxies)
    /// (IPv4-mapped `::ffff:127.0.0.1` counts as loopback): behind a proxy
    /// on the same host, the TCP peer is loopback for every client, so it is
    /// the address the proxy forwarded that must be loopback.
    pub fn exempt_localhost(mut self, exempt: bool) -> Self {
        self.exempt_localhost = exempt;
        self
    }

    /// The HTTPS port of the redirect target (default 443, left out of the
    /// URL).
    pub fn https_port(mut self, port: u16) -> Self {
        self.https_port = port;
        self
    }

    /// The redirect status (default [`RedirectStatus::PermanentRedirect`]).
    pub fn status(mut self, status: RedirectStatus) -> Self {
        self.status = status;
        self
    }

    /// The `Strict-Transport-Security` the layer adds (when absent) to
    /// responses of requests that arrived over HTTPS — the ones it lets
    /// through — so that after the first redirect the browser goes straight
    /// to HTTPS. The redirect itself never carries it: it travels over plain
    /// HTTP, where RFC 6797 §7.2 forbids sending it and browsers ignore it.
    pub fn hsts(mut self, hsts: StrictTransportSecurity) -> Self {
        self.hsts = Some(hsts);
        self
    }

    /// Adds no `Strict-Transport-Security` (leave it to a
    /// [`SecurityHeadersLayer`](crate::SecurityHeadersLayer)).
    pub fn no_hsts(mut self) -> Self {
        self.hsts = None;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHost`] for a host that is not a DNS name, IP
    /// address or `*.domain`; [`ConfigError::InvalidPath`] for an exempt path
    /// that is not absolute; [`ConfigError::InvalidHttpsPort`] for port 0;
    /// [`ConfigError::HstsPreload`] for an HSTS `preload` the list would
    /// refuse.
    pub fn build(self) -> Result<HttpsRedirectLayer, ConfigError> {
        let mut hosts = Vec::new();
        for host in self.hosts.iter().chain(self.canonical.iter()) {
            hosts.push(host_pattern(host)?);
        }
        let canonical = match &self.canonical {
            Some(host) => match host_pattern(host)? {
                HostPattern::Exact(host) => Some(host),
                HostPattern::Subdomains(_) => {
                    return Err(ConfigError::InvalidHost {
                        host: host.clone(),
                        reason: "the canonical host cannot be a wildcard",
                    })
                }
            },
            None => None,
        };
        let exempt_paths = self
            .exempt_paths
            .iter()
            .map(|p| {
                normalize_prefix(p)?;
                Ok(p.as_str().into())
            })
            .collect::<Result<_, ConfigError>>()?;
        let exempt_prefixes = self
            .exempt_prefixes
            .iter()
            .map(|p| normalize_prefix(p))
            .collect::<Result<_, _>>()?;
        let port_suffix = match self.https_port {
            0 => return Err(ConfigError::InvalidHttpsPort),
            443 => String::new(),
            port => format!(":{port}"),
        };
        let hsts = self.hsts.map(|h| h.to_header_value()).transpose()?;
        Ok(HttpsRedirectLayer {
            policy: Arc::new(RedirectPolicy {
                hosts: hosts.into_boxed_slice(),
                canonical,
                proxies: self.proxies,
                exempt_paths,
                exempt_prefixes,
                exempt_localhost: self.exempt_localhost,
                port_suffix: port_suffix.into(),
                status: self.status,
                hsts: hsts.inspect(|value| {
                    // promote the shared buffer now, not on the first request
                    drop(value.clone());
                }),
                observer: self.observer,
            }),
        })
    }
}

fn host_pattern(host: &str) -> Result<HostPattern, ConfigError> {
    let invalid = |reason| ConfigError::InvalidHost {
        host: host.to_owned(),
        reason,
    };
    let lower = host.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('.').unwrap_or(&lower);
    if lower.contains(':') && !lower.starts_with('[') {
        return Err(invalid(
            "give the host without scheme or port (the port comes from https_port())",
        ));
    }
    match lower.strip_prefix("*.") {
        Some(domain) => {
            check_host(domain).map_err(invalid)?;
            Ok(HostPattern::Subdomains(format!(".{domain}").into()))
        }
        None => {
            check_host(lower).map_err(invalid)?;
            Ok(HostPattern::Exact(lower.into()))
        }
    }
}
