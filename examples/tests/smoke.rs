//! The example starts on a free port, serves its routes and stops on SIGTERM.

mod support;

use std::time::Duration;

use support::SecureApi;

#[tokio::test]
async fn serves_routes_and_stops_gracefully_on_sigterm() {
    let mut api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;

    let resp = api.get("/").await;
    assert_eq!(resp.status(), 200);
    assert!(String::from_utf8_lossy(resp.body()).contains("<script"));

    let resp = api.get("/api/items").await;
    assert_eq!(resp.status(), 200);
    let items: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(items["items"].as_array().map(Vec::len), Some(2));

    api.terminate();
    let status = api.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "graceful exit, got {status:?}");
}
