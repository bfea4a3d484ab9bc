//! Security headers and HTTPS redirect.
//!
//! - Every response gets the `strict` header set (HTML) with the strict
//!   nonce-based CSP (`ContentSecurityPolicy::strict_nonce()`, `'strict-dynamic'`,
//!   Trusted Types required) and a fresh nonce per request; `/api`, `/llm`,
//!   `/auth` and the probes, which answer JSON, get the `api` set instead
//!   (`default-src 'none'`, Trusted Types required, `Cache-Control: no-store`). One layer chooses by path prefix, so 404s, 429s and 503s get
//!   headers too.
//! - Plain-HTTP requests are redirected (308) to HTTPS on the same host when
//!   that host is listed in `PUBLIC_HOSTS` (comma-separated, `*.example.com`
//!   allowed); any other host gets 400, so a forged `Host` never becomes an
//!   open redirect (and DNS-rebinding requests are refused). Requests for a
//!   loopback host from a loopback peer are served over plain HTTP, so
//!   `http://127.0.0.1:3000` works in a browser with no configuration; so are
//!   the probes, which load balancers call without TLS.
//! - Every `Set-Cookie` is hardened by `SecureCookiesLayer`: `HttpOnly`,
//!   `SameSite=Lax`, `Secure` over HTTPS, `__Host-`/`__Secure-` rules.
//! - "Arrived over HTTPS" is decided by `TRUSTED_PROXIES` (see `cli.rs`): a
//!   TLS-terminating proxy's `X-Forwarded-Proto` counts only when the TCP peer
//!   is one of them. The redirect, HSTS and `Secure` cookies use the same decision; HSTS is
//!   added by the headers layer, on HTTPS responses only.

use std::error::Error;

use axum::response::Html;
use axum::Router;
use hardening_headers::csp::ContentSecurityPolicy;
use hardening_headers::{
    CspNonce, HttpsRedirectLayer, SecureCookiesLayer, SecurityHeadersLayer, StrictTransportSecurity,
};

use crate::cli::Config;

/// Routes that answer JSON and get the API header set.
const API_PREFIXES: &[&str] = &["/api", "/llm", "/auth", "/livez", "/readyz", "/health"];

/// Paths served over plain HTTP too: probes from load balancers.
const PLAIN_HTTP_PATHS: &[&str] = &["/livez", "/readyz", "/health"];

/// Adds the security headers (outermost, so the redirect and 400 answers get
/// them too) and the HTTPS redirect.
pub(crate) fn apply(router: Router, config: &Config) -> Result<Router, Box<dyn Error>> {
    let hsts = StrictTransportSecurity::default();
    let api = SecurityHeadersLayer::api_builder()
        .content_security_policy(api_policy())
        .strict_transport_security(hsts)
        .trusted_proxies(config.trusted_proxies.clone())
        .build()?;
    let mut headers = SecurityHeadersLayer::builder()
        .content_security_policy(page_policy())
        .csp_nonce()
        .strict_transport_security(hsts)
        .trusted_proxies(config.trusted_proxies.clone())
        .build()?;
    for prefix in API_PREFIXES {
        headers = headers.for_path_prefix(prefix, api.clone())?;
    }

    let public_hosts = public_hosts()?;
    tracing::info!(
        public_hosts = ?public_hosts,
        "https redirect for PUBLIC_HOSTS; loopback is served over http"
    );
    let mut redirect = HttpsRedirectLayer::builder()
        .allow_hosts(public_hosts)
        .trusted_proxies(config.trusted_proxies.clone())
        .exempt_localhost(true)
        // HSTS comes from the headers layer, from the same scheme decision
        .no_hsts();
    for path in PLAIN_HTTP_PATHS {
        redirect = redirect.exempt_path(*path);
    }

    let redirect = redirect
        .build()
        .map_err(|err| format!("PUBLIC_HOSTS: {err}"))?;

    // Every Set-Cookie gets HttpOnly, SameSite=Lax and, over HTTPS (the same
    // decision as HSTS), Secure.
    let cookies = SecureCookiesLayer::builder()
        .trusted_proxies(config.trusted_proxies.clone())
        .build()?;

    Ok(router.layer(cookies).layer(redirect).layer(headers))
}

/// The HTML pages' policy: the strict nonce-based preset (only scripts
/// carrying this response's nonce run, and what they load), with Trusted
/// Types required for DOM XSS sinks and no Trusted Types policy allowed (the
/// page creates none).
fn page_policy() -> ContentSecurityPolicy {
    ContentSecurityPolicy::strict_nonce()
        .require_trusted_types_for_script()
        .trusted_types(["'none'"])
}

/// The JSON routes' policy: nothing may load or run, nothing may frame the
/// response, and DOM XSS sinks need Trusted Types, should a response ever be
/// rendered as a document.
fn api_policy() -> ContentSecurityPolicy {
    ContentSecurityPolicy::api().require_trusted_types_for_script()
}

/// `PUBLIC_HOSTS`: the host names the service is reached by.
fn public_hosts() -> Result<Vec<String>, Box<dyn Error>> {
    let raw = match std::env::var("PUBLIC_HOSTS") {
        Ok(raw) => raw,
        Err(std::env::VarError::NotPresent) => return Ok(Vec::new()),
        Err(err) => return Err(format!("PUBLIC_HOSTS: {err}").into()),
    };
    Ok(raw
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|host| !host.is_empty())
        .map(str::to_owned)
        .collect())
}

/// `GET /`: an HTML page whose inline style and script run because they carry
/// this response's CSP nonce.
pub(crate) async fn index(nonce: CspNonce) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>secure_api</title>
<style nonce="{nonce}">body {{ font-family: system-ui, sans-serif; margin: 2rem; }} .ok {{ color: #15803d; }}</style>
</head>
<body>
<h1>secure_api</h1>
<p id="status">The inline script did not run.</p>
<script nonce="{nonce}">
document.body.dataset.ready = 'yes';
const status = document.getElementById('status');
status.textContent = 'The inline script ran: its nonce matched the Content-Security-Policy.';
status.className = 'ok';
</script>
</body>
</html>
"#
    ))
}
