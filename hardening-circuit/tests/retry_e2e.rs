//! End to end: the retry layer around hyper's real client, against a real
//! flaky HTTP upstream on 127.0.0.1:0. Attempts are counted on the server.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hardening_circuit::retry::{Backoff, RetryLayer};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::{Layer, ServiceExt};

/// Requests seen by the upstream, per "METHOD path".
type Counts = Arc<Mutex<HashMap<String, u32>>>;

/// A flaky upstream: every path answers 503 to its first `failures` requests
/// (counted per method and path), then 200 with the request body echoed.
async fn flaky_upstream(failures: u32) -> (SocketAddr, Counts) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = Counts::default();
    let seen = counts.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let key = format!("{} {}", req.method(), req.uri().path());
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let n = {
                            let mut counts = seen.lock().unwrap();
                            let n = counts.entry(key).or_insert(0);
                            *n += 1;
                            *n
                        };
                        let status = if n <= failures {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::OK
                        };
                        let res = Response::builder()
                            .status(status)
                            .header("x-attempt-seen", n.to_string())
                            .body(Full::new(body))
                            .unwrap();
                        Ok::<_, Infallible>(res)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, counts)
}

fn count(counts: &Counts, key: &str) -> u32 {
    counts.lock().unwrap().get(key).copied().unwrap_or(0)
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn layer() -> RetryLayer {
    RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::exponential(
            Duration::from_millis(5),
            Duration::from_millis(50),
        ))
        .deadline(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_get_failing_twice_succeeds_after_exactly_three_attempts() {
    let (addr, counts) = flaky_upstream(2).await;
    let retrying = layer().layer(client());

    let req = Request::get(format!("http://{addr}/items"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = retrying.oneshot(req).await.unwrap();

    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-attempt-seen"], "3");
    assert_eq!(count(&counts, "GET /items"), 3);
}

#[tokio::test]
async fn a_post_without_idempotency_key_is_sent_exactly_once() {
    let (addr, counts) = flaky_upstream(2).await;
    let retrying = layer().layer(client());

    let req = Request::post(format!("http://{addr}/orders"))
        .body(Full::new(Bytes::from_static(b"{\"item\":1}")))
        .unwrap();
    let res = retrying.oneshot(req).await.unwrap();

    // The 503 is handed back as the upstream sent it.
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["x-attempt-seen"], "1");
    assert_eq!(count(&counts, "POST /orders"), 1);
}

#[tokio::test]
async fn a_post_with_idempotency_key_is_retried_with_its_body() {
    let (addr, counts) = flaky_upstream(2).await;
    let retrying = layer().layer(client());

    let req = Request::post(format!("http://{addr}/orders"))
        .header("idempotency-key", "order-7f3a")
        .body(Full::new(Bytes::from_static(b"{\"item\":1}")))
        .unwrap();
    let res = retrying.oneshot(req).await.unwrap();

    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(count(&counts, "POST /orders"), 3);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "{\"item\":1}");
}

/// An upstream that drops the first `drops` connections after reading the
/// request, then answers 200. Returns how many requests it read.
async fn dropping_upstream(drops: u32) -> (SocketAddr, Arc<Mutex<u32>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(0u32));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let n = {
                    let mut seen = seen.lock().unwrap();
                    *seen += 1;
                    *seen
                };
                if n <= drops {
                    return; // connection closed without a response
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (addr, requests)
}

#[tokio::test]
async fn connection_errors_are_retried() {
    let (addr, requests) = dropping_upstream(2).await;
    let retrying = layer().layer(client());

    let req = Request::get(format!("http://{addr}/x"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = retrying.oneshot(req).await.unwrap();

    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(*requests.lock().unwrap(), 3);
}

#[tokio::test]
async fn the_last_connection_error_is_returned_as_hyper_reported_it() {
    let (addr, requests) = dropping_upstream(u32::MAX).await;
    let retrying = layer().layer(client());

    let req = Request::get(format!("http://{addr}/x"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let err = retrying.oneshot(req).await.unwrap_err();

    assert!(
        err.downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some(),
        "{err:?}"
    );
    assert_eq!(*requests.lock().unwrap(), 3);
}
