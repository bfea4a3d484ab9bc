//! The tower-http baseline of the real `secure_api` binary over real TCP:
//! request ids, problem details, body limits, CORS.

mod support;

use bytes::Bytes;
use support::SecureApi;

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {body:?}"))
}

#[tokio::test]
async fn every_response_has_a_request_id_that_is_in_its_log_lines_and_problem_body() {
    let api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;
    let res = api.get("/no/such/route").await;
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = json(res.body());
    assert_eq!(body["status"], 404);
    assert_eq!(body["request_id"], id.as_str());
    api.wait_for_output(&id, std::time::Duration::from_secs(10))
        .await;
    let lines: Vec<String> = api
        .output()
        .lines()
        .filter(|l| l.contains(&id))
        .map(str::to_owned)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("finished processing request") || l.contains("\"status\":404")),
        "the response log line carries the id: {lines:#?}"
    );

    // A client's own id is not believed (no trusted proxies here).
    let req = api
        .request("GET", "/livez")
        .header("x-request-id", "forged-by-client")
        .body(Bytes::new())
        .unwrap();
    let res = api.send(req).await;
    assert_ne!(res.headers()["x-request-id"], "forged-by-client");
    api.terminate();
}

#[tokio::test]
async fn rate_limit_problems_carry_the_request_id() {
    let api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;
    let login = || {
        api.request("POST", "/auth/login")
            .header("content-type", "application/json")
            .body(Bytes::from_static(br#"{"username":"a","password":"b"}"#))
            .unwrap()
    };
    for _ in 0..5 {
        assert_eq!(api.send(login()).await.status(), 200);
    }
    let res = api.send(login()).await;
    assert_eq!(res.status(), 429);
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body = json(res.body());
    assert_eq!(body["request_id"], id.as_str());
    assert_eq!(body["policy"], "auth", "the limiter's own fields are kept");
    api.terminate();
}

#[tokio::test]
async fn auth_bodies_over_16_kib_are_refused() {
    let api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;
    let big = format!(
        r#"{{"username":"a","password":"{}"}}"#,
        "x".repeat(20 * 1024)
    );
    let req = api
        .request("POST", "/auth/login")
        .header("content-type", "application/json")
        .body(Bytes::from(big))
        .unwrap();
    let res = api.send(req).await;
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // The same size is fine where the 10 MiB limit applies.
    let req = api
        .request("POST", "/llm/complete")
        .header("content-type", "application/json")
        .body(Bytes::from(vec![b'x'; 20 * 1024]))
        .unwrap();
    assert_ne!(api.send(req).await.status(), 413);
    api.terminate();
}

#[tokio::test]
async fn cors_answers_allowed_origins_only() {
    let api = SecureApi::start_with(
        &[
            ("DRAIN_DELAY_MS", "0"),
            ("CORS_ORIGINS", "https://app.example.com"),
        ],
        &[],
    )
    .await;
    let preflight = |origin: &str| {
        api.request("OPTIONS", "/api/items")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .body(Bytes::new())
            .unwrap()
    };
    let res = api.send(preflight("https://app.example.com")).await;
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let res = api.send(preflight("https://evil.example")).await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    api.terminate();

    let api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;
    let res = api.send(preflight("https://app.example.com")).await;
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "no CORS by default"
    );
    api.terminate();
}

#[tokio::test]
async fn an_invalid_cors_origin_fails_at_start_naming_it() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_secure_api"))
        .env("ADDR", "127.0.0.1:0")
        .env("CORS_ORIGINS", "https://*.example.com")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CORS_ORIGINS") && err.contains("*.example.com"),
        "{err}"
    );
}
