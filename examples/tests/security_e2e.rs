//! The attacks of the security review, sent to the real `secure_api` binary
//! over real TCP; each test asserts the fixed behaviour. Timing assertions are
//! generous upper bounds only.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use support::SecureApi;
use tokio::io::AsyncWriteExt as _;

fn header<'a>(res: &'a Response<Bytes>, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing header {name}: {res:?}"))
}

async fn items_with_token(api: &SecureApi, token: &str) -> Response<Bytes> {
    let req = api
        .request("GET", "/api/items")
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .unwrap();
    api.send(req).await
}

/// Item 7: a client that rotates made-up bearer tokens is one anonymous
/// client (limited per IP), not a new user per token.
#[tokio::test]
async fn rotating_made_up_tokens_buys_no_quota() {
    let api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;
    for n in 0..60 {
        let res = items_with_token(&api, &format!("demo-user-{n}")).await;
        assert_eq!(res.status(), StatusCode::OK, "request {n}");
    }
    let res = items_with_token(&api, "demo-user-60").await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // A token the server issued is a user of its own, with a full quota.
    let login = api
        .request("POST", "/auth/login")
        .header("content-type", "application/json")
        .body(Bytes::from_static(
            br#"{"username":"carol","password":"hunter2"}"#,
        ))
        .unwrap();
    let login = api.send(login).await;
    assert_eq!(login.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(login.body()).unwrap();
    let token = json["token"].as_str().unwrap();
    let res = items_with_token(&api, token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "ratelimit").starts_with("\"api\";r=59;"));

    // Changing one character of it makes it anonymous again.
    let mut forged = token.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let res = items_with_token(&api, &forged).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    api.terminate();
}

/// Item 10: after the drain, a client trickling a request body cannot keep
/// the process alive past the shutdown deadline.
#[tokio::test]
async fn a_trickling_client_cannot_hold_shutdown_open() {
    let mut api = SecureApi::start_with(
        &[("DRAIN_DELAY_MS", "200"), ("SHUTDOWN_DEADLINE_MS", "1000")],
        &[],
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    let head = format!(
        "POST /llm/complete HTTP/1.1\r\nHost: {}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{{\"prompt\":",
        api.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..600 {
            if stream.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // Let the server take the request in before the signal.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    api.terminate();
    let status = api.wait(Duration::from_secs(30)).await;
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        took < Duration::from_secs(10),
        "exited {took:?} after SIGTERM (drain 0.2 s + deadline 1 s)"
    );
    assert!(
        took >= Duration::from_millis(1200),
        "the deadline was waited for: {took:?}"
    );
    assert!(
        api.output().contains("closing remaining connections"),
        "{}",
        api.output()
    );
    trickle.abort();
}

/// Item 10: a second signal exits at once, even in a long drain.
#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let mut api = SecureApi::start_with(
        &[
            ("DRAIN_DELAY_MS", "600000"),
            ("SHUTDOWN_DEADLINE_MS", "600000"),
        ],
        &[],
    )
    .await;
    api.terminate();
    // Wait until the first signal took effect (readiness fails) ...
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.get("/readyz").await.status() == StatusCode::OK {
        assert!(Instant::now() < deadline, "readiness never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... then the second one ends the process.
    let signalled = Instant::now();
    api.terminate();
    let status = api.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "exit status {status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(10));
}

/// Sends raw bytes on a fresh connection and returns everything the server
/// answered until it closed or `limit` passed.
async fn raw_exchange(api: &SecureApi, request: &[u8], limit: Duration) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut stream = tokio::net::TcpStream::connect(api.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Item 1: a URI of nested percent-encoded `://` costs linear redaction
/// work; the span records a capped URI with a visible marker.
#[tokio::test]
async fn nested_encodings_in_the_uri_do_not_stall_a_worker() {
    let api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;
    let unit = "%3A%2F%2F%253A%252F%252F%25253A%25252F%25252F";
    let path = format!("/{}", unit.repeat(3600 / unit.len() + 1));
    assert!(path.len() > 3600);
    let started = Instant::now();
    for _ in 0..5 {
        let res = api.get(&path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    // Before the fix one such request took over 60 s in a debug build.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    api.wait_for_output("[truncated", Duration::from_secs(10))
        .await;
    api.terminate();
}

fn xff_request(api: &SecureApi, method: &str, path: &str, xff: &[u8]) -> http::request::Builder {
    api.request(method, path).header(
        "x-forwarded-for",
        http::HeaderValue::from_bytes(xff).unwrap(),
    )
}

/// Item 2: bytes a client puts in front of what the trusted proxy appended
/// (here obs-text) cannot make the client look like the proxy.
#[tokio::test]
async fn obs_text_in_forwarded_for_does_not_hide_the_client() {
    let api = SecureApi::start_with(
        &[("DRAIN_DELAY_MS", "0"), ("TRUSTED_PROXIES", "127.0.0.1/32")],
        &[],
    )
    .await;
    // The loopback "proxy" relays a remote client: no health details.
    let req = xff_request(&api, "GET", "/health", b"\x80, 203.0.113.7")
        .body(Bytes::new())
        .unwrap();
    let res = api.send(req).await;
    let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
    assert!(body.get("checks").is_none(), "details leaked: {body}");

    // And that client has a login bucket of its own, not the proxy's. The
    // proxy terminates TLS, so it says https (plain http would get 400).
    let login = |xff: &'static [u8]| {
        xff_request(&api, "POST", "/auth/login", xff)
            .header("x-forwarded-proto", "https")
            .header("content-type", "application/json")
            .body(Bytes::from_static(br#"{"username":"a","password":"b"}"#))
            .unwrap()
    };
    for _ in 0..5 {
        assert_eq!(api.send(login(b"\x80, 203.0.113.7")).await.status(), 200);
    }
    assert_eq!(api.send(login(b"\x80, 203.0.113.7")).await.status(), 429);
    assert_eq!(
        api.send(login(b"203.0.113.7")).await.status(),
        429,
        "same client"
    );
    assert_eq!(api.send(login(b"\x80, 203.0.113.8")).await.status(), 200);
    api.terminate();
}

/// Item 4: a plaintext client cannot claim HTTPS with an absolute-form
/// request target: it is redirected and gets no HSTS.
#[tokio::test]
async fn an_absolute_https_target_over_plain_http_is_redirected() {
    let api = SecureApi::start_with(
        &[
            ("DRAIN_DELAY_MS", "0"),
            ("PUBLIC_HOSTS", "api.example.test"),
        ],
        &[],
    )
    .await;
    let answer = raw_exchange(
        &api,
        b"GET https://api.example.test/api/items HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 308"), "{answer}");
    assert!(
        !answer
            .to_ascii_lowercase()
            .contains("strict-transport-security"),
        "{answer}"
    );
    api.terminate();
}

/// Item 5: behind a same-host proxy, a remote client's `Host: localhost`
/// is not the local exemption from the HTTPS redirect.
#[tokio::test]
async fn a_remote_client_behind_a_local_proxy_is_not_localhost() {
    let api = SecureApi::start_with(
        &[("DRAIN_DELAY_MS", "0"), ("TRUSTED_PROXIES", "127.0.0.1/32")],
        &[],
    )
    .await;
    let req = http::Request::builder()
        .uri("/api/items")
        .header("host", "localhost")
        .header("x-forwarded-for", "203.0.113.7")
        .body(Bytes::new())
        .unwrap();
    let res = api.send(req).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A truly local client still is.
    let req = http::Request::builder()
        .uri("/api/items")
        .header("host", "localhost")
        .body(Bytes::new())
        .unwrap();
    assert_eq!(api.send(req).await.status(), StatusCode::OK);
    api.terminate();
}

/// Item 6: a password with quotes in it, logged by the login handler,
/// never reaches the log.
#[tokio::test]
async fn a_quoted_password_never_reaches_the_log() {
    let api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;
    let body = serde_json::json!({"username": "ann", "password": "It's\"Secret1"});
    let req = api
        .request("POST", "/auth/login")
        .header("content-type", "application/json")
        .body(Bytes::from(body.to_string()))
        .unwrap();
    assert_eq!(api.send(req).await.status(), StatusCode::OK);
    api.wait_for_output("login attempt", Duration::from_secs(10))
        .await;
    let out = api.output();
    assert!(!out.contains("Secret1"), "{out}");
    api.terminate();
}

/// Item 11: a Redis that accepts connections and never answers shows as
/// failing at once instead of hanging on a stuck connection.
#[tokio::test]
async fn a_black_holed_redis_fails_its_check() {
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/", hole.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((conn, _)) = hole.accept().await {
            conns.push(conn); // accepted, never answered
        }
    });
    let api = SecureApi::start_with(
        &[
            ("DRAIN_DELAY_MS", "0"),
            ("HEALTH_CACHE_TTL_MS", "0"),
            ("REDIS_URL", &url),
        ],
        &[],
    )
    .await;
    for round in 0..2 {
        let started = Instant::now();
        let res = api.get("/health").await;
        let report: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(
            report["checks"]["redis:responseTime"][0]["status"], "fail",
            "round {round}: {report}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "round {round}");
    }
    // The rate limits fall back to memory meanwhile: no 5xx.
    assert_eq!(api.get("/api/items").await.status(), StatusCode::OK);
    api.terminate();
    held.abort();
}
