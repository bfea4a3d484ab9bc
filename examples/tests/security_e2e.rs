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
