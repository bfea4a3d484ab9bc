//! Slow and idle clients against the real `secure_api` binary: the
//! connection limits of `serve.rs`, over real TCP. Timing assertions are
//! generous upper bounds.

mod support;

use std::time::{Duration, Instant};

use support::SecureApi;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn start(extra: &[(&str, &str)]) -> SecureApi {
    let mut env = vec![
        ("DRAIN_DELAY_MS", "0"),
        ("HEADER_READ_TIMEOUT_MS", "500"),
        ("IDLE_TIMEOUT_MS", "800"),
    ];
    env.extend_from_slice(extra);
    SecureApi::start_with(&env, &[]).await
}

/// Reads until the server closes the connection; returns what it sent and
/// how long that took.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, start.elapsed()),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("connection still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed_by_the_header_timeout() {
    let api = start(&[]).await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let (_, took) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    api.terminate();
}

#[tokio::test]
async fn a_trickled_request_head_is_cut_off() {
    let api = start(&[]).await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let head = format!("GET /livez HTTP/1.1\r\nHost: {}\r\nX-Slow: ", api.addr);
    stream.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    // One byte every 100 ms: the head never completes.
    let mut closed = false;
    for _ in 0..100 {
        if stream.write_all(b"a").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {
                // A 408 before the close is fine too; keep reading.
            }
            Err(_) => {}
        }
    }
    assert!(closed, "the server never closed the trickling connection");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    api.terminate();
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed() {
    let api = start(&[]).await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let req = format!("GET /livez HTTP/1.1\r\nHost: {}\r\n\r\n", api.addr);
    stream.write_all(req.as_bytes()).await.unwrap();
    let (response, took) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    api.terminate();
}

#[tokio::test]
async fn oversized_request_heads_are_refused() {
    let api = start(&[]).await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let big = "a".repeat(64 * 1024);
    let req = format!(
        "GET /livez HTTP/1.1\r\nHost: {}\r\nX-Big: {big}\r\n\r\n",
        api.addr
    );
    let _ = stream.write_all(req.as_bytes()).await;
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.is_empty() || response.starts_with("HTTP/1.1 431"),
        "{response}"
    );
    assert!(!response.contains("200 OK"));

    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    let mut req = format!("GET /livez HTTP/1.1\r\nHost: {}\r\n", api.addr);
    for i in 0..150 {
        req.push_str(&format!("X-H{i}: 1\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let (response, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    api.terminate();
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait() {
    let api = start(&[
        ("MAX_CONNECTIONS", "2"),
        ("HEADER_READ_TIMEOUT_MS", "60000"),
        ("IDLE_TIMEOUT_MS", "60000"),
    ])
    .await;
    let held_a = TcpStream::connect(api.addr).await.unwrap();
    let held_b = TcpStream::connect(api.addr).await.unwrap();
    // Let the server accept both.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let third = tokio::time::timeout(Duration::from_millis(700), api.get("/livez")).await;
    assert!(third.is_err(), "a third connection was served past the cap");
    drop(held_a);
    let fourth = tokio::time::timeout(Duration::from_secs(10), api.get("/livez"))
        .await
        .expect("served once a slot is free");
    assert_eq!(fourth.status(), 200);
    drop(held_b);
    api.terminate();
}
