//! Health probes of the real `secure_api` over real TCP: a dependency that
//! goes down and comes back, and readiness during a graceful shutdown.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use support::{RedisServer, SecureApi};
use tokio::net::TcpSocket;

fn json(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

/// A port the test holds: connections are refused until it listens.
fn held_port() -> TcpSocket {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    socket
}

#[tokio::test]
async fn readiness_follows_a_tcp_dependency_down_and_up() {
    let socket = held_port();
    let upstream = socket.local_addr().unwrap();
    let api = SecureApi::start_with(
        &[("HEALTH_CACHE_TTL_MS", "0"), ("DRAIN_DELAY_MS", "0")],
        &["--upstream", &format!("http://{upstream}/")],
    )
    .await;

    // Down: the upstream check fails; it only degrades the service, so the
    // load balancer keeps the instance (200, "warn").
    let ready = api.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.headers()["content-type"], "application/health+json");
    assert_eq!(ready.headers()["cache-control"], "no-store");
    let health = api.get("/health").await; // from loopback: details
    assert_eq!(health.status(), 200);
    let report = json(health.body());
    assert_eq!(report["status"], "warn");
    assert_eq!(report["serviceId"], "secure_api");
    let check = &report["checks"]["upstream:responseTime"][0];
    assert_eq!(check["status"], "fail", "{report}");
    assert_eq!(check["componentType"], "component");
    assert!(
        check["output"]
            .as_str()
            .unwrap()
            .contains(&upstream.to_string()),
        "{report}"
    );
    // liveness never looks at dependencies
    let live = api.get("/livez").await;
    assert_eq!(live.status(), 200);
    let live = json(live.body());
    assert_eq!(live["status"], "pass");
    assert!(live.get("checks").is_none(), "{live}");

    // Up: the dependency starts listening.
    let listener = socket.listen(64).unwrap();
    let report = json(api.get("/health").await.body());
    assert_eq!(report["status"], "pass", "{report}");
    let check = &report["checks"]["upstream:responseTime"][0];
    assert_eq!(check["status"], "pass");
    assert_eq!(check["observedUnit"], "ms");
    assert!(check["observedValue"].is_number());
    assert!(check.get("output").is_none());
    assert_eq!(json(api.get("/readyz").await.body())["status"], "pass");

    // Stopped again: the listener closes.
    drop(listener);
    let report = json(api.get("/health").await.body());
    assert_eq!(
        report["checks"]["upstream:responseTime"][0]["status"], "fail",
        "{report}"
    );
    assert_eq!(report["status"], "warn");
}

#[tokio::test]
async fn probes_refuse_other_methods_and_hide_details_from_remote_clients() {
    let api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "0")], &[]).await;
    let resp = api
        .send(api.request("POST", "/readyz").body(Bytes::new()).unwrap())
        .await;
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, HEAD");

    let resp = api
        .send(api.request("HEAD", "/livez").body(Bytes::new()).unwrap())
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.body().is_empty());

    // Relayed by a proxy on this host (a forwarding header): status only.
    let resp = api
        .send(
            api.request("GET", "/health")
                .header("x-forwarded-for", "203.0.113.9")
                .body(Bytes::new())
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body().as_ref(), br#"{"status":"pass"}"#);
}

#[tokio::test]
async fn sigterm_fails_readiness_keeps_liveness_and_drains() {
    let drain = Duration::from_millis(1500);
    let mut api = SecureApi::start_with(&[("DRAIN_DELAY_MS", "1500")], &[]).await;
    assert_eq!(api.get("/readyz").await.status(), 200);

    api.terminate();
    let signalled = Instant::now();
    // The signal is handled asynchronously: wait for the flip.
    let mut ready = api.get("/readyz").await;
    while ready.status() == 200 && signalled.elapsed() < drain {
        tokio::task::yield_now().await;
        ready = api.get("/readyz").await;
    }
    assert_eq!(ready.status(), 503, "readiness fails during the drain");
    assert_eq!(json(ready.body())["status"], "fail");
    let live = api.get("/livez").await;
    assert_eq!(live.status(), 200, "liveness stays up during the drain");
    // Still serving traffic while load balancers catch up.
    assert_eq!(api.get("/api/items").await.status(), 200);
    let report = json(api.get("/health").await.body());
    assert_eq!(report["checks"]["process:shutdown"][0]["status"], "fail");
    assert!(
        signalled.elapsed() < drain,
        "all of this happened within the drain"
    );

    let status = api.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "graceful exit, got {status:?}");
    assert!(
        signalled.elapsed() >= drain,
        "exited only after the drain delay ({:?})",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn redis_check_follows_a_real_redis_down_and_up() {
    let Some(mut redis) = RedisServer::start("redis_check_follows_a_real_redis_down_and_up") else {
        return;
    };
    let url = redis.url();
    let api = SecureApi::start_with(
        &[
            ("REDIS_URL", url.as_str()),
            ("HEALTH_CACHE_TTL_MS", "0"),
            ("DRAIN_DELAY_MS", "0"),
        ],
        &[],
    )
    .await;
    let report = json(api.get("/health").await.body());
    let check = &report["checks"]["redis:responseTime"][0];
    assert_eq!(check["status"], "pass", "{report}");
    assert_eq!(check["componentType"], "datastore");
    assert_eq!(report["status"], "pass");

    redis.kill();
    let report = json(api.get("/health").await.body());
    assert_eq!(
        report["checks"]["redis:responseTime"][0]["status"], "fail",
        "{report}"
    );
    assert_eq!(report["status"], "warn", "Redis only degrades the service");
    assert_eq!(api.get("/readyz").await.status(), 200);
    assert_eq!(api.get("/livez").await.status(), 200);

    redis.restart().expect("redis-server restarts");
    let report = json(api.get("/health").await.body());
    assert_eq!(
        report["checks"]["redis:responseTime"][0]["status"], "pass",
        "reconnected: {report}"
    );
}
