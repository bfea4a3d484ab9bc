//! End to end: the limiter in front of an axum app on 127.0.0.1:0, driven by
//! a hyper client over real TCP.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use hardening_loadshed::{ConcurrencyLimitLayer, PathClassifier, Shares};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{Notify, Semaphore};

struct Gate {
    open: Semaphore,
    entered: Notify,
    left: Notify,
}

/// Dropped when the handler's future is: tells the test the request is gone.
struct LeaveGuard(Arc<Gate>);
impl Drop for LeaveGuard {
    fn drop(&mut self) {
        self.0.left.notify_one();
    }
}

async fn serve(layer: ConcurrencyLimitLayer, gate: Arc<Gate>) -> String {
    let g = gate.clone();
    let app = Router::new()
        .route(
            "/llm",
            get(move || {
                let gate = g.clone();
                async move {
                    let _guard = LeaveGuard(gate.clone());
                    gate.entered.notify_one();
                    let _permit = gate.open.acquire().await.unwrap();
                    "done"
                }
            }),
        )
        .route("/auth", get(|| async { "auth" }))
        .route("/healthz", get(|| async { "ok" }))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>;

async fn status_and_body(client: &HttpClient, url: String) -> (u16, String, Option<String>) {
    let resp = client.get(url.parse().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), retry)
}

#[tokio::test(flavor = "current_thread")]
async fn overloaded_sheddable_route_gets_503_while_auth_and_probes_succeed() {
    let gate = Arc::new(Gate {
        open: Semaphore::new(0),
        entered: Notify::new(),
        left: Notify::new(),
    });
    let layer = ConcurrencyLimitLayer::builder()
        .limit(4)
        .classify(PathClassifier::new().critical("/auth").sheddable("/llm"))
        .shares(Shares::new(0.25, 0.25).unwrap())
        .bypass_path("/healthz")
        .build()
        .unwrap();
    let limiter = layer.limiter().clone();
    let base = serve(layer, gate.clone()).await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    // Two slow sheddable requests fill sheddable's share (2 of 4).
    let mut slow = Vec::new();
    for _ in 0..2 {
        let (c, url) = (client.clone(), format!("{base}/llm"));
        slow.push(tokio::spawn(async move { status_and_body(&c, url).await }));
        gate.entered.notified().await;
    }
    assert_eq!(limiter.in_flight().sheddable, 2);

    let (status, body, retry) = status_and_body(&client, format!("{base}/llm")).await;
    assert_eq!(status, 503);
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body.contains("\"priority\":\"sheddable\""), "{body}");
    assert_eq!(
        status_and_body(&client, format!("{base}/auth")).await.0,
        200
    );
    assert_eq!(
        status_and_body(&client, format!("{base}/healthz")).await.0,
        200
    );

    gate.open.add_permits(2);
    for task in slow {
        assert_eq!(task.await.unwrap().0, 200);
    }
    assert_eq!(limiter.in_flight().total(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_that_hangs_up_gives_its_slot_back() {
    let gate = Arc::new(Gate {
        open: Semaphore::new(0),
        entered: Notify::new(),
        left: Notify::new(),
    });
    let layer = ConcurrencyLimitLayer::new(1).unwrap();
    let limiter = layer.limiter().clone();
    let base = serve(layer, gate.clone()).await;
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();

    let (c, url) = (client.clone(), format!("{base}/llm"));
    let request = tokio::spawn(async move { status_and_body(&c, url).await });
    gate.entered.notified().await;
    assert_eq!(limiter.in_flight().total(), 1);
    assert_eq!(
        status_and_body(&client, format!("{base}/auth")).await.0,
        503
    );

    // The client goes away: hyper drops the handler's future, and with it
    // the slot (same thread, so the drop has finished when we wake up).
    request.abort();
    tokio::time::timeout(Duration::from_secs(10), gate.left.notified())
        .await
        .expect("the server noticed the hang-up");
    assert_eq!(limiter.in_flight().total(), 0);
    assert_eq!(
        status_and_body(&client, format!("{base}/auth")).await.0,
        200
    );
}
