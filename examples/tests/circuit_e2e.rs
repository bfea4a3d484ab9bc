//! `POST /llm/complete` goes through a circuit breaker: with a failing
//! upstream it turns into a fast `503` with `Retry-After`.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use support::SecureApi;

async fn complete(api: &SecureApi) -> (http::Response<Bytes>, Duration) {
    let req = api
        .request("POST", "/llm/complete")
        .header("content-type", "application/json")
        .body(Bytes::from_static(br#"{"prompt":"hello"}"#))
        .unwrap();
    let start = Instant::now();
    let resp = api.send(req).await;
    (resp, start.elapsed())
}

#[tokio::test]
async fn healthy_upstream_answers_the_completion() {
    let api = SecureApi::start_with(&[("UPSTREAM_FAILURE_RATE", "0")], &[]).await;
    let (resp, _) = complete(&api).await;
    assert_eq!(resp.status(), 200, "{:?}", resp.body());
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(
        body["completion"].as_str().unwrap().contains("hello"),
        "{body}"
    );
}

#[tokio::test]
async fn failing_upstream_turns_into_fast_503_with_retry_after() {
    const LATENCY_MS: u64 = 400;
    let api = SecureApi::start_with(
        &[
            ("UPSTREAM_FAILURE_RATE", "1"),
            ("UPSTREAM_LATENCY_MS", &LATENCY_MS.to_string()),
        ],
        &[],
    )
    .await;

    // The breaker needs 5 calls in its window before it may trip; every one
    // of them reaches the (failing, slow) upstream.
    for i in 0..5 {
        let (resp, took) = complete(&api).await;
        assert_eq!(resp.status(), 502, "call {i}: {:?}", resp.body());
        assert!(
            took >= Duration::from_millis(LATENCY_MS),
            "call {i} reached the upstream"
        );
    }

    // Now the breaker is open: answered at once, without the upstream's latency.
    let (resp, took) = complete(&api).await;
    assert_eq!(resp.status(), 503, "{:?}", resp.body());
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        took < Duration::from_millis(LATENCY_MS / 2),
        "an open breaker answers without calling the upstream (took {took:?})"
    );
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("circuit open"),
        "{body}"
    );

    // And it keeps failing fast.
    let (resp, took) = complete(&api).await;
    assert_eq!(resp.status(), 503);
    assert!(took < Duration::from_millis(LATENCY_MS / 2));
    api.wait_for_output("circuit breaker opened", Duration::from_secs(5))
        .await;
}
