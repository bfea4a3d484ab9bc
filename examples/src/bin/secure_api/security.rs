//! Security headers and HTTPS redirect.
//!
//! - Every response gets the `strict` header set (HTML) with the strict
//!   nonce-based CSP (`ContentSecurityPolicy::strict_nonce()`, `'strict-dynamic'`,
//!   Trusted Types required) and a fresh nonce per request; `/api`, `/llm`,
//!   `/auth` and the probes, which answer JSON, get the `api` set instead
//!   (`default-src 'none'`, Trusted Types required, `Cache-Control: no-store`).
//!   The HTML pages also send `Cross-Origin-Embedder-Policy: require-corp`
//!   (they embed nothing cross-origin). One layer chooses by path prefix,
//!   so 404s, 429s and 503s get headers too.
//! - Plain-HTTP requests are redirected (308) to HTTPS on the same host when
//!   that host is listed in `PUBLIC_HOSTS` (comma-separated, `*.example.com`
//!   allowed); any other host gets 400, so a forged `Host` never becomes an
//!   open redirect (and DNS-rebinding requests are refused). Requests for a
//!   loopback host from a loopback peer are served over plain HTTP, so
//!   `http://127.0.0.1:3000` works in a browser with no configuration; so are
//!   the probes, which load balancers call without TLS.
//! - Every `Set-Cookie` is hardened by `SecureCookiesLayer`: `HttpOnly`,
//!   `SameSite=Lax`, `Secure` over HTTPS, `__Host-`/`__Secure-` rules.
//! - CSP violation reports (`report-to csp` / `report-uri /csp-reports`) are
//!   received at `POST /csp-reports` by `CspReportLayer`, logged as one
//!   scrubbed event each, and rate-limited to 30 per minute per client.
//!   `CSP_TEST_PAGE=1` also serves `/csp-test`, a page that violates the
//!   policy on purpose (for the headless-Chromium end-to-end test).
//! - "Arrived over HTTPS" is decided by `TRUSTED_PROXIES` (see `cli.rs`): a
//!   TLS-terminating proxy's `X-Forwarded-Proto` counts only when the TCP peer
//!   is one of them. The redirect, HSTS and `Secure` cookies use the same decision; HSTS is
//!   added by the headers layer, on HTTPS responses only.

use std::error::Error;
use std::num::NonZeroU32;

use axum::http::header::SET_COOKIE;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use hardening_headers::csp::ContentSecurityPolicy;
use hardening_headers::CspReportLayer;
use hardening_headers::{
    CrossOriginEmbedderPolicy, CspNonce, HttpsRedirectLayer, SecureCookiesLayer,
    SecurityHeadersLayer, StrictTransportSecurity,
};
use hardening_metrics::layers::LayerMetrics;
use hardening_ratelimit::{ClientIp, Policy, Quota, RateLimitLayer};

use crate::config::Config;

/// Routes that answer JSON and get the API header set.
const API_PREFIXES: &[&str] = &["/api", "/llm", "/auth", "/livez", "/readyz", "/health"];

/// Where browsers send CSP violation reports, and the `Reporting-Endpoints`
/// name that points there.
const REPORT_PATH: &str = "/csp-reports";
const REPORT_ENDPOINT: &str = "csp";

/// Violation reports accepted per client and minute.
const REPORTS_PER_MINUTE: NonZeroU32 = match NonZeroU32::new(30) {
    Some(n) => n,
    None => NonZeroU32::MIN,
};

/// Paths served over plain HTTP too: probes from load balancers.
const PLAIN_HTTP_PATHS: &[&str] = &["/livez", "/readyz", "/health"];

/// Adds the security headers (outermost, so the redirect and 400 answers get
/// them too) and the HTTPS redirect.
pub(crate) fn apply(
    router: Router,
    config: &Config,
    metrics: &LayerMetrics,
) -> Result<Router, Box<dyn Error>> {
    let hsts = StrictTransportSecurity::default();
    let api = SecurityHeadersLayer::api_builder()
        .content_security_policy(api_policy())
        .strict_transport_security(hsts)
        .trusted_proxies(config.trusted_proxies.clone())
        .build()?;
    let mut headers = SecurityHeadersLayer::builder()
        .content_security_policy(page_policy())
        // the pages embed nothing cross-origin, so they can be cross-origin
        // isolated (the Observatory's COEP test: +10)
        .cross_origin_embedder_policy(CrossOriginEmbedderPolicy::RequireCorp)
        .reporting_endpoint(REPORT_ENDPOINT, REPORT_PATH)
        .csp_nonce()
        .strict_transport_security(hsts)
        .trusted_proxies(config.trusted_proxies.clone())
        .build()?;
    for prefix in API_PREFIXES {
        headers = headers.for_path_prefix(prefix, api.clone())?;
    }

    let public_hosts = config.public_hosts.clone();
    tracing::info!(
        public_hosts = ?public_hosts,
        "https redirect for PUBLIC_HOSTS; loopback is served over http"
    );
    let mut redirect = HttpsRedirectLayer::builder()
        .allow_hosts(public_hosts)
        .trusted_proxies(config.trusted_proxies.clone())
        .exempt_localhost(true)
        // HSTS comes from the headers layer, from the same scheme decision
        .no_hsts()
        .observer(metrics.redirect());
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

    // Violation reports: received and logged (scrubbed) at REPORT_PATH,
    // 30 per minute per client so a page cannot flood the logs.
    let reports = CspReportLayer::builder(REPORT_PATH).build()?;
    let report_limit = RateLimitLayer::builder()
        .policy(
            Policy::new("csp-reports", Quota::per_minute(REPORTS_PER_MINUTE))
                .path_prefix(REPORT_PATH)
                .key(ClientIp::trusting(config.trusted_proxies.clone())),
        )
        .build()?;

    let router = if csp_test_page_enabled()? {
        tracing::warn!(
            "CSP_TEST_PAGE=1: serving /csp-test, a page that violates the CSP on purpose"
        );
        router.route("/csp-test", get(csp_test_page))
    } else {
        router
    };

    Ok(router
        .layer(reports)
        .layer(report_limit)
        .layer(cookies)
        .layer(redirect)
        .layer(headers))
}

/// The HTML pages' policy: the strict nonce-based preset (only scripts
/// carrying this response's nonce run, and what they load), with Trusted
/// Types required for DOM XSS sinks and no Trusted Types policy allowed (the
/// page creates none). Violations are reported to [`REPORT_PATH`] both ways:
/// `report-to` (Reporting API, batched by the browser) and `report-uri`
/// (sent at once by browsers without `report-to`).
fn page_policy() -> ContentSecurityPolicy {
    ContentSecurityPolicy::strict_nonce()
        .require_trusted_types_for_script()
        .trusted_types(["'none'"])
        .report_uri([REPORT_PATH])
        .report_to(REPORT_ENDPOINT)
}

/// `CSP_TEST_PAGE=1` serves `/csp-test` (off unless set; `0` or unset: off).
fn csp_test_page_enabled() -> Result<bool, Box<dyn Error>> {
    match std::env::var("CSP_TEST_PAGE") {
        Ok(v) if v == "1" => Ok(true),
        Ok(v) if v.is_empty() || v == "0" => Ok(false),
        Ok(v) => Err(format!("CSP_TEST_PAGE: expected 1 or 0, got {v:?}").into()),
        Err(std::env::VarError::NotPresent) => Ok(false),
        Err(err) => Err(format!("CSP_TEST_PAGE: {err}").into()),
    }
}

/// `GET /csp-test` (only with `CSP_TEST_PAGE=1`): a page with an inline
/// script *without* the nonce, which the browser must block and report to
/// [`REPORT_PATH`]; the end-to-end test loads it in headless Chromium. It also
/// sets a cookie, to show what `SecureCookiesLayer` makes of it.
async fn csp_test_page(nonce: CspNonce) -> impl IntoResponse {
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>CSP test</title></head>
<body>
<p id="status">blocked</p>
<script>document.getElementById('status').textContent = 'ran without nonce';</script>
<script nonce="{nonce}">document.body.dataset.nonced = 'ran';</script>
</body>
</html>
"#
    );
    ([(SET_COOKIE, "csp-test=1; Path=/")], Html(page))
}

/// The JSON routes' policy: nothing may load or run, nothing may frame the
/// response, and DOM XSS sinks need Trusted Types, should a response ever be
/// rendered as a document.
fn api_policy() -> ContentSecurityPolicy {
    ContentSecurityPolicy::api().require_trusted_types_for_script()
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
