//! End to end: a real CSP violation in headless Chromium reaches
//! `secure_api`'s `CspReportLayer` and is logged as one structured event,
//! with its URIs scrubbed.
//!
//! `secure_api` runs with `CSP_TEST_PAGE=1`, which serves `/csp-test`: a page
//! with one inline script *without* the nonce. Chromium blocks it and POSTs
//! the report to `/csp-reports` (`report-uri`: over plain HTTP the policy has
//! no `report-to`, whose Reporting API reports Chromium delivers for HTTPS
//! pages only).
//!
//! Needs `CHROMIUM` (path of the browser, `/usr/bin/chromium` after
//! `apt-get install chromium`; `.ci/run` does this). Without it the test is
//! skipped locally and fails in CI.

mod support;

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::StatusCode;
use serde_json::Value;

use support::{external_tool, SecureApi};

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
    let mut browser = tokio::process::Command::new(&chromium)
        .args([
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
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
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

#[tokio::test]
async fn the_test_page_is_off_by_default() {
    let api = SecureApi::start().await;
    assert_eq!(api.get("/csp-test").await.status(), StatusCode::NOT_FOUND);
}
