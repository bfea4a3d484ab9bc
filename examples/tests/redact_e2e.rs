//! Credentials sent in the body, headers and query string of real requests
//! never appear in `secure_api`'s log output; the non-secret parts do.

mod support;

use std::time::Duration;

use bytes::Bytes;
use support::SecureApi;

/// Every credential the test sends.
const CANARIES: &[&str] = &[
    "pw-canary-body with spaces 1",
    "pw-canary-body",
    "hdr-canary-bearer-2a9f8e7d6c5b4",
    "hdr-canary-cookie-3",
    "hdr-canary-apikey-4",
    "q-canary-token-5",
    "q-canary-apikey-6",
    "q-canary-pct-name-7",
    "q-canary-pct-name-8",
    "q-canary-nested-9",
    "hdr-canary-bearer-10x",
];

const QUERY: &str = "token=q-canary-token-5&api_key=q-canary-apikey-6&api%5Fkey=q-canary-pct-name-7\
&%74%6F%6B%65%6E=q-canary-pct-name-8&next=https%3A%2F%2Fapp.example%2Fcb%3Ftoken%3Dq-canary-nested-9";

/// Waits until a response line for `path_marker` has been logged.
async fn wait_for_response_line(api: &SecureApi, path_marker: &str) {
    api.wait_for_output(path_marker, Duration::from_secs(20))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = api.output();
        if out
            .lines()
            .any(|l| l.contains(path_marker) && l.contains("finished processing request"))
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no response line for {path_marker}:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn no_credential_reaches_the_log() {
    let api = SecureApi::start().await;

    // Body credentials (the handler logs them carelessly), plus headers and
    // query parameters.
    let login = api
        .request("POST", &format!("/auth/login?page=1&{QUERY}"))
        .header("content-type", "application/json")
        .header("authorization", "Bearer hdr-canary-bearer-2a9f8e7d6c5b4")
        .header("cookie", "session=hdr-canary-cookie-3; theme=dark")
        .header("x-api-key", "hdr-canary-apikey-4")
        .body(Bytes::from(
            r#"{"username":"e2e-alice","password":"pw-canary-body with spaces 1"}"#,
        ))
        .unwrap();
    let resp = api.send(login).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.body());

    // A plain GET with the same kinds of secrets; this is the last request.
    let get = api
        .request("GET", &format!("/api/items?page=7&{QUERY}"))
        .header("authorization", "Bearer hdr-canary-bearer-10x")
        .header("x-api-key", "hdr-canary-apikey-4")
        .header("user-agent", "redact-e2e/1.0")
        .body(Bytes::new())
        .unwrap();
    let resp = api.send(get).await;
    assert_eq!(resp.status(), 200);

    wait_for_response_line(&api, "page=7").await;
    let out = api.output();

    for canary in CANARIES {
        assert!(
            !out.contains(canary),
            "{canary} leaked into the log:\n{out}"
        );
    }
    // The non-secret parts are there, so this test would notice a logger
    // that printed nothing.
    for expected in [
        "login attempt for user=e2e-alice",
        "\"username\":\"e2e-alice\"",
        "\"password\":\"[REDACTED]\"",
        "/auth/login?page=1&token=[REDACTED]",
        "/api/items?page=7&token=[REDACTED]&api_key=[REDACTED]&api%5Fkey=[REDACTED]",
        "finished processing request",
    ] {
        assert!(
            out.contains(expected),
            "{expected:?} missing from the log:\n{out}"
        );
    }
    // Request headers are not recorded in spans (secure_api does not ask
    // for them), and span fields are printed once per line (`spans` only).
    assert!(!out.contains("redact-e2e/1.0"), "headers recorded:\n{out}");
    // Every log line (all but the plain `listening on` / `metrics on`
    // address lines) is JSON.
    for line in out
        .lines()
        .filter(|l| !l.starts_with("listening on") && !l.starts_with("metrics on"))
    {
        let json = serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(json.get("span").is_none(), "span fields twice: {line}");
    }
}
