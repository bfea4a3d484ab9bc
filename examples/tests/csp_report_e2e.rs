//! End to end: a real CSP violation in headless Chromium reaches
//! `secure_api`'s `CspReportLayer` and is logged as one structured event,
//! with its URIs scrubbed.
//!
//! `secure_api` runs with `CSP_TEST_PAGE=1`, which serves `/csp-test`: a page
//! with one inline script *without* the nonce. Chromium blocks it and POSTs
//! the report to `/csp-reports`, both ways:
//!
//! - over plain HTTP, `application/csp-report` for `report-uri` (the policy
//!   has no `report-to` there: Chromium delivers Reporting API reports only
//!   for pages that came over HTTPS, and would then ignore `report-uri`);
//! - over HTTPS, as in production behind a TLS-terminating proxy: the test
//!   runs one (rustls, a certificate made now with `openssl`, Chromium told
//!   to trust its key with `--ignore-certificate-errors-spki-list`) that
//!   adds `X-Forwarded-Proto: https`; `secure_api` trusts it
//!   (`TRUSTED_PROXIES=127.0.0.1`) and sends `report-to` with
//!   `Reporting-Endpoints`, so the report comes through the Reporting API as
//!   `application/reports+json` (`--short-reporting-delay` lets Chromium
//!   deliver it at once instead of batching it for a minute).
//!
//! Needs `CHROMIUM` (path of the browser, `/usr/bin/chromium` after
//! `apt-get install chromium`; `.ci/run` does this). Without it the test is
//! skipped locally and fails in CI.

mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, SET_COOKIE, TRANSFER_ENCODING};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use support::{external_tool, try_send_to, SecureApi};

const EVENT: &str = "content security policy violation";

/// The log lines of violation events, parsed.
fn violation_events(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter(|line| line.contains(EVENT))
        .map(|line| serde_json::from_str(line).expect("JSON log line"))
        .collect()
}

#[tokio::test]
async fn a_blocked_inline_script_in_chromium_is_reported_and_logged_scrubbed() {
    let Some(chromium) = external_tool("csp_report_e2e", "CHROMIUM", "headless Chromium") else {
        return;
    };
    let api = SecureApi::start_with(&[("CSP_TEST_PAGE", "1")], &[]).await;

    // the test page's cookie went through SecureCookiesLayer (plain HTTP:
    // no Secure, which browsers would refuse here)
    let res = api.get("/csp-test").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()[SET_COOKIE],
        "csp-test=1; Path=/; HttpOnly; SameSite=Lax"
    );

    let profile = std::env::temp_dir().join(format!(
        "csp-report-e2e-{}-{}",
        std::process::id(),
        api.addr.port()
    ));
    std::fs::create_dir_all(&profile).unwrap();
    let url = format!(
        "http://{}/csp-test?ref=QUERY-MARKER#FRAGMENT-MARKER",
        api.addr
    );
    let mut browser = chromium_command(&chromium, &profile)
        .arg(&url)
        .spawn()
        .expect("start chromium");

    // Chromium sends the report right after the page loads; allow a slow
    // machine 20 s (polling the log, no fixed sleep).
    api.wait_for_output(EVENT, Duration::from_secs(20)).await;
    browser.kill().await.expect("stop chromium");
    let _ = std::fs::remove_dir_all(&profile);

    let output = api.output();
    let events = violation_events(&output);
    assert_eq!(events.len(), 1, "one event per report:\n{output}");
    let fields = &events[0]["fields"];
    assert_eq!(events[0]["level"], "WARN");
    assert_eq!(fields["directive"], "script-src-elem", "{fields}");
    assert_eq!(fields["blocked_uri"], "inline", "{fields}");
    assert_eq!(
        fields["document_uri"],
        format!("http://{}/csp-test", api.addr),
        "query string and fragment scrubbed: {fields}"
    );
    assert_eq!(fields["disposition"], "enforce", "{fields}");
    let event = events[0].to_string();
    assert!(!event.contains("MARKER"), "{event}");

    // a malformed report over the wire: 400, and nothing of it is logged
    let req = api
        .request("POST", "/csp-reports")
        .header(CONTENT_TYPE, "application/csp-report")
        .body(Bytes::from_static(b"{\"csp-report\": BODY-MARKER"))
        .unwrap();
    assert_eq!(api.send(req).await.status(), StatusCode::BAD_REQUEST);
    let req = api
        .request("GET", "/csp-reports")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(api.send(req).await.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(!api.output().contains("BODY-MARKER"));
    assert_eq!(violation_events(&api.output()).len(), 1);
}

/// Headless Chromium with a fresh profile, quiet.
fn chromium_command(chromium: &Path, profile: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .kill_on_drop(true);
    cmd
}

/// What the proxy saw: method, path and `Content-Type` of each request.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A TLS-terminating reverse proxy on `127.0.0.1:0`, as `secure_api` runs
/// behind in production: each request is forwarded to `upstream` with
/// `X-Forwarded-Proto: https`.
async fn tls_proxy(certs: &Path, upstream: SocketAddr, seen: Seen) -> SocketAddr {
    let chain = CertificateDer::pem_file_iter(certs.join("server.crt"))
        .expect("read server.crt")
        .collect::<Result<Vec<_>, _>>()
        .expect("parse server.crt");
    let key = PrivateKeyDer::from_pem_file(certs.join("server.key")).expect("read server.key");
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .expect("certificate and key");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(move |req| forward(req, upstream, seen.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Forwards one request to `upstream` as a TLS-terminating proxy does,
/// noting what it was.
async fn forward(
    req: Request<hyper::body::Incoming>,
    upstream: SocketAddr,
    seen: Seen,
) -> Result<http::Response<Full<Bytes>>, BoxError> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    seen.lock().unwrap().push((
        parts.method.to_string(),
        parts.uri.path().to_owned(),
        content_type,
    ));
    parts
        .headers
        .insert("x-forwarded-proto", HeaderValue::from_static("https"));
    let mut res = try_send_to(upstream, Request::from_parts(parts, body)).await?;
    res.headers_mut().remove(CONNECTION);
    res.headers_mut().remove(TRANSFER_ENCODING);
    Ok(res.map(Full::new))
}

/// The base64 SHA-256 of the certificate's public key, as Chromium's
/// `--ignore-certificate-errors-spki-list` takes it.
fn spki_hash(cert: &Path) -> String {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(
            "openssl x509 -in \"$1\" -noout -pubkey | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | openssl enc -base64 -A",
        )
        .arg("sh")
        .arg(cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn over_https_the_report_comes_through_the_reporting_api() {
    let Some(chromium) = external_tool("csp_report_e2e", "CHROMIUM", "headless Chromium") else {
        return;
    };
    let api = SecureApi::start_with(
        &[("CSP_TEST_PAGE", "1"), ("TRUSTED_PROXIES", "127.0.0.1")],
        &[],
    )
    .await;
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "csp-report-e2e-tls-{}-{}",
        std::process::id(),
        api.addr.port()
    ));
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    hardening_testkit::redis::write_test_certificates(&certs).expect("openssl makes certificates");
    let seen = Seen::default();
    let proxy = tls_proxy(&certs, api.addr, seen.clone()).await;

    let profile = dir.join("profile");
    std::fs::create_dir_all(&profile).unwrap();
    let url = format!("https://{proxy}/csp-test?ref=QUERY-MARKER#FRAGMENT-MARKER");
    let mut browser = chromium_command(&chromium, &profile)
        .arg(format!(
            "--ignore-certificate-errors-spki-list={}",
            spki_hash(&certs.join("server.crt"))
        ))
        .arg("--short-reporting-delay")
        .arg(&url)
        .spawn()
        .expect("start chromium");

    // bounded: polling the log until the deadline, no fixed sleep
    api.wait_for_output(EVENT, Duration::from_secs(30)).await;
    browser.kill().await.expect("stop chromium");
    let _ = std::fs::remove_dir_all(&dir);

    let requests = seen.lock().unwrap().clone();
    assert!(
        requests
            .iter()
            .any(|(m, p, _)| m == "GET" && p == "/csp-test"),
        "the page came through the proxy: {requests:?}"
    );
    let reports: Vec<_> = requests
        .iter()
        .filter(|(m, p, _)| m == "POST" && p == "/csp-reports")
        .collect();
    assert!(!reports.is_empty(), "{requests:?}");
    for (_, _, content_type) in &reports {
        assert_eq!(
            content_type, "application/reports+json",
            "Reporting API, not report-uri: {requests:?}"
        );
    }

    let output = api.output();
    let events = violation_events(&output);
    assert_eq!(events.len(), 1, "one event per report:\n{output}");
    let fields = &events[0]["fields"];
    assert_eq!(fields["directive"], "script-src-elem", "{fields}");
    assert_eq!(fields["blocked_uri"], "inline", "{fields}");
    assert_eq!(
        fields["document_uri"],
        format!("https://{proxy}/csp-test"),
        "query string and fragment scrubbed: {fields}"
    );
    assert_eq!(fields["disposition"], "enforce", "{fields}");
    assert!(!events[0].to_string().contains("MARKER"), "{}", events[0]);
}

#[tokio::test]
async fn the_test_page_is_off_by_default() {
    let api = SecureApi::start().await;
    assert_eq!(api.get("/csp-test").await.status(), StatusCode::NOT_FOUND);
}
