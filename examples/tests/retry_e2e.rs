//! `POST /llm/complete` retries its upstream call (inside the circuit
//! breaker): a real flaky upstream on 127.0.0.1:0 counts the attempts and
//! the `Idempotency-Key` each one carries.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use support::SecureApi;

/// `Idempotency-Key` of every request the upstream received.
type Keys = Arc<Mutex<Vec<Option<String>>>>;

/// An upstream that answers `status` to its first `failures` requests, then
/// 200 with a completion.
async fn flaky_upstream(failures: usize, status: u16) -> (SocketAddr, Keys) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let keys = Keys::default();
    let seen = keys.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let seen = seen.clone();
                async move {
                    let key = req
                        .headers()
                        .get("idempotency-key")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let prompt = req.into_body().collect().await.unwrap().to_bytes();
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        seen.push(key);
                        seen.len()
                    };
                    let (status, body) = if n <= failures {
                        (status, r#"{"error":"overloaded"}"#.to_owned())
                    } else {
                        let prompt = String::from_utf8_lossy(&prompt).into_owned();
                        (200, serde_json::json!({ "completion": prompt }).to_string())
                    };
                    let resp = Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    Ok::<_, Infallible>(resp)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, keys)
}

async fn start(addr: SocketAddr) -> SecureApi {
    let url = format!("http://{addr}/v1/complete");
    SecureApi::start_with(&[], &["--upstream", &url]).await
}

async fn complete(api: &SecureApi) -> Response<Bytes> {
    let req = api
        .request("POST", "/llm/complete")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"prompt":"hello"}"#))
        .unwrap();
    api.send(req).await
}

#[tokio::test]
async fn a_completion_failing_twice_succeeds_on_the_third_attempt_with_one_key() {
    let (addr, keys) = flaky_upstream(2, 500).await;
    let api = start(addr).await;

    let resp = complete(&api).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(body["completion"].as_str().unwrap().contains("hello"));

    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let first = keys[0]
        .clone()
        .expect("the call carries an Idempotency-Key");
    assert!(first.starts_with("llm-"), "{first}");
    assert!(keys.iter().all(|k| k.as_deref() == Some(first.as_str())));
    api.wait_for_output("retrying request", std::time::Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn a_completion_that_keeps_failing_is_tried_three_times_then_502() {
    let (addr, keys) = flaky_upstream(usize::MAX, 503).await;
    let api = start(addr).await;

    let resp = complete(&api).await;
    assert_eq!(resp.status(), 502, "{:?}", resp.body());
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["upstream_status"], 503);
    assert_eq!(keys.lock().unwrap().len(), 3);

    // Each logical call gets its own key.
    let resp = complete(&api).await;
    assert_eq!(resp.status(), 502);
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 6);
    assert_ne!(keys[0], keys[3]);
}
