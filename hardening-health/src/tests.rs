//! Behaviour of the registry and the services, driven through `oneshot`
//! with a fake clock (cache ages) and tokio's paused time (timeouts).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use hardening_core::{FakeClock, PeerAddr};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::*;

/// A check that counts its runs and reports what `result` says.
fn counting<F, Fut>(
    runs: &Arc<AtomicUsize>,
    result: F,
) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = Observation> + Send>> + Send + Sync + 'static
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Observation> + Send + 'static,
{
    let runs = Arc::clone(runs);
    move || {
        let n = runs.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(result(n))
    }
}

fn get(path: &str) -> Request<()> {
    Request::get(path).body(()).unwrap()
}

fn local(mut req: Request<()>) -> Request<()> {
    req.extensions_mut()
        .insert(PeerAddr("127.0.0.1:40000".parse::<SocketAddr>().unwrap()));
    req
}

async fn body<B>(resp: Response<B>) -> String
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn call(health: &Health, req: Request<()>) -> (StatusCode, String) {
    let resp = health.service().oneshot(req).await.unwrap();
    let status = resp.status();
    (status, body(resp).await)
}

#[tokio::test]
async fn probe_endpoints_status_codes_and_bodies() {
    let health = Health::builder()
        .check(Check::new("db", || async { Status::Fail }))
        .build()
        .unwrap();
    assert_eq!(
        call(&health, get("/livez")).await,
        (StatusCode::OK, r#"{"status":"pass"}"#.into())
    );
    assert_eq!(
        call(&health, get("/readyz")).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"fail"}"#.into()
        )
    );
    assert_eq!(
        call(&health, get("/health")).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"fail"}"#.into()
        )
    );
}

#[tokio::test]
async fn liveness_never_runs_readiness_or_report_checks() {
    let ready_runs = Arc::new(AtomicUsize::new(0));
    let live_runs = Arc::new(AtomicUsize::new(0));
    let health = Health::builder()
        .check(Check::new(
            "dep",
            counting(&ready_runs, |_| async { Observation::fail("down") }),
        ))
        .check(
            Check::new(
                "report-only",
                counting(&ready_runs, |_| async { Observation::pass() }),
            )
            .probes(Probes::REPORT_ONLY),
        )
        .check(
            Check::new(
                "loop",
                counting(&live_runs, |_| async { Observation::pass() }),
            )
            .probes(Probes::LIVENESS),
        )
        .build()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(call(&health, get("/livez")).await.0, StatusCode::OK);
    }
    assert_eq!(ready_runs.load(Ordering::SeqCst), 0);
    assert_eq!(live_runs.load(Ordering::SeqCst), 1, "cached for its TTL");

    let readiness = health.readiness().await;
    let names: Vec<&str> = readiness.checks().iter().map(CheckReport::name).collect();
    assert_eq!(names, ["dep"]);
    let report = health.report().await;
    let names: Vec<&str> = report.checks().iter().map(CheckReport::name).collect();
    assert_eq!(names, ["dep", "report-only", "loop"]);
}

#[tokio::test]
async fn liveness_failure_only_from_liveness_checks() {
    let health = Health::builder()
        .check(
            Check::new("deadlock", || async { false }).probes(Probes::LIVENESS | Probes::READINESS),
        )
        .build()
        .unwrap();
    assert_eq!(
        call(&health, get("/livez")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(&health, get("/readyz")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[test]
fn dependency_checks_are_refused_on_liveness() {
    let err = Health::builder()
        .check(
            Check::new("db", checks::TcpCheck::new("127.0.0.1:1").unwrap())
                .probes(Probes::LIVENESS),
        )
        .build()
        .unwrap_err();
    assert_eq!((err.field(), err.value()), ("probes", "db"));
}

#[test]
fn configuration_errors_name_the_setting() {
    let cases: Vec<(HealthBuilder, &str, &str)> = vec![
        (
            Health::builder().liveness_path("livez"),
            "liveness_path",
            "livez",
        ),
        (
            Health::builder().health_path("/h?x=1"),
            "health_path",
            "/h?x=1",
        ),
        (
            Health::builder().readiness_path("/livez"),
            "readiness_path",
            "/livez",
        ),
        (
            Health::builder().check(Check::new("", || async {})),
            "name",
            "",
        ),
        (
            Health::builder().check(Check::new("a\nb", || async {})),
            "name",
            "a\nb",
        ),
        (
            Health::builder()
                .check(Check::new("x", || async {}))
                .check(Check::new("x", || async {})),
            "name",
            "x",
        ),
        (
            Health::builder().check(Check::new("x", || async {}).timeout(Duration::ZERO)),
            "timeout",
            "x: 0ns",
        ),
        (
            Health::builder().check(Check::new("x", || async {}).fail_after(0)),
            "fail_after",
            "x: 0",
        ),
    ];
    for (builder, field, value) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!((err.field(), err.value()), (field, value), "{err}");
        assert!(err.to_string().contains(field));
    }
}

#[tokio::test]
async fn methods_head_and_pass_through() {
    let health = Health::builder()
        .cache_max_age(Duration::from_secs(5))
        .build()
        .unwrap();
    let inner = tower::service_fn(|req: Request<()>| async move {
        Ok::<_, Infallible>(Response::new(http_body_util::Full::new(Bytes::from(
            format!("inner {}", req.uri().path()),
        ))))
    });
    let svc = health.layer().layer_on(inner);

    let resp = svc.clone().oneshot(get("/api")).await.unwrap();
    assert_eq!(body(resp).await, "inner /api");
    // only exact paths are probes
    let resp = svc.clone().oneshot(get("/livez/x")).await.unwrap();
    assert_eq!(body(resp).await, "inner /livez/x");

    let head = Request::head("/livez").body(()).unwrap();
    let resp = svc.clone().oneshot(head).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-length"],
        r#"{"status":"pass"}"#.len().to_string()
    );
    assert_eq!(resp.headers()["content-type"], "application/health+json");
    assert_eq!(resp.headers()["cache-control"], "max-age=5");
    assert_eq!(body(resp).await, "");

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        let req = Request::builder()
            .method(method.clone())
            .uri("/health")
            .body(())
            .unwrap();
        let resp = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(resp.headers()["allow"], "GET, HEAD");
    }
}

trait LayerOn {
    fn layer_on<S>(&self, inner: S) -> HealthEndpoints<S>;
}

impl LayerOn for HealthLayer {
    fn layer_on<S>(&self, inner: S) -> HealthEndpoints<S> {
        tower_layer::Layer::layer(self, inner)
    }
}

#[tokio::test]
async fn custom_paths_and_no_store_default() {
    let health = Health::builder()
        .liveness_path("/healthz/live")
        .readiness_path("/healthz/ready")
        .health_path("/healthz")
        .build()
        .unwrap();
    let svc = health.service();
    for path in ["/healthz/live", "/healthz/ready", "/healthz"] {
        let resp = svc.clone().oneshot(get(path)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    let resp = svc.oneshot(get("/livez")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn details_follow_the_policy() {
    let build = |details: Details| {
        Health::builder()
            .version("1")
            .release_id("1.0.3")
            .service_id("svc")
            .description("test service")
            .details(details)
            .check(
                Check::new("db:responseTime", || async {
                    Observation::warn("slow").with_value(250u32, "ms")
                })
                .component_type("datastore"),
            )
            .build()
            .unwrap()
    };

    // default: loopback peers only
    let health = build(Details::default());
    let (_, remote) = call(&health, get("/health")).await;
    assert_eq!(remote, r#"{"status":"warn"}"#);
    let (status, local_body) = call(&health, local(get("/health"))).await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&local_body).unwrap();
    assert_eq!(v["status"], "warn");
    assert_eq!(v["version"], "1");
    assert_eq!(v["releaseId"], "1.0.3");
    assert_eq!(v["serviceId"], "svc");
    assert_eq!(v["description"], "test service");
    let db = &v["checks"]["db:responseTime"][0];
    assert_eq!(db["componentType"], "datastore");
    assert_eq!(db["observedValue"], 250);
    assert_eq!(db["observedUnit"], "ms");
    assert_eq!(db["status"], "warn");
    assert_eq!(db["output"], "slow");
    assert!(db["time"].as_str().unwrap().ends_with('Z'));

    let (_, never) = call(&build(Details::Never), local(get("/health"))).await;
    assert_eq!(never, r#"{"status":"warn"}"#);
    let (_, always) = call(&build(Details::Always), get("/readyz")).await;
    assert!(always.contains("db:responseTime"), "{always}");
    let token = build(Details::bearer_token("t0ken").unwrap());
    let req = Request::get("/health")
        .header("authorization", "Bearer t0ken")
        .body(())
        .unwrap();
    assert!(call(&token, req).await.1.contains("db:responseTime"));
    assert_eq!(
        call(&token, local(get("/health"))).await.1,
        r#"{"status":"warn"}"#
    );
}

#[tokio::test]
async fn report_time_is_when_the_reading_was_taken() {
    let clock = FakeClock::new();
    let health = Health::builder()
        .clock(clock.clone())
        .details(Details::Always)
        .check(Check::new("c", || async {}).cache_ttl(Duration::from_secs(10)))
        .build()
        .unwrap();
    clock.advance(Duration::from_millis(1500));
    let (_, first) = call(&health, get("/health")).await;
    assert!(
        first.contains(r#""time":"2023-11-14T22:13:21.500Z""#),
        "{first}"
    );
    clock.advance(Duration::from_secs(3));
    let (_, cached) = call(&health, get("/health")).await;
    assert!(
        cached.contains(r#""time":"2023-11-14T22:13:21.500Z""#),
        "a cached reading keeps its time: {cached}"
    );
}

#[tokio::test]
async fn results_are_cached_for_their_ttl() {
    let clock = FakeClock::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let health = Health::builder()
        .clock(clock.clone())
        .check(
            Check::new(
                "c",
                counting(&runs, |n| async move {
                    Observation::pass().with_value(n, "run")
                }),
            )
            .cache_ttl(Duration::from_secs(5)),
        )
        .check(
            Check::new(
                "uncached",
                counting(&runs, |_| async { Observation::pass() }),
            )
            .cache_ttl(Duration::ZERO)
            .probes(Probes::REPORT_ONLY),
        )
        .build()
        .unwrap();
    for _ in 0..10 {
        assert_eq!(call(&health, get("/readyz")).await.0, StatusCode::OK);
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    clock.advance(Duration::from_millis(4999));
    call(&health, get("/readyz")).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "still fresh just before the TTL"
    );
    clock.advance(Duration::from_millis(1));
    call(&health, get("/readyz")).await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "runs again once the TTL has passed"
    );
    let report = health.readiness().await;
    assert_eq!(
        report.check("c").unwrap().observation().observed_value(),
        Some(&ObservedValue::UInt(2))
    );

    // TTL zero: every sequential probe runs the check
    let before = runs.load(Ordering::SeqCst);
    for _ in 0..3 {
        health.report().await;
    }
    // "c" is fresh (1 probe = 0 runs), "uncached" runs each time
    assert_eq!(runs.load(Ordering::SeqCst), before + 3);
}

/// A check held until the test releases it, counting its runs.
fn held(runs: &Arc<AtomicUsize>, gate: &Arc<tokio::sync::Notify>) -> impl HealthCheck {
    let gate = Arc::clone(gate);
    counting(runs, move |_| {
        let gate = Arc::clone(&gate);
        async move {
            gate.notified().await;
            Observation::pass()
        }
    })
}

/// Makes 1,000 concurrent `/health` requests: every one of them has been
/// called (and has looked at the check) before the held check is released.
async fn thousand_at_once(service: &HealthService, gate: &tokio::sync::Notify) {
    let mut responses = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let mut service = service.clone();
        // Always ready: this does not yield, so no run can finish meanwhile.
        ServiceExt::<Request<()>>::ready(&mut service)
            .await
            .unwrap();
        responses.push(tower::Service::call(&mut service, get("/health")));
    }
    gate.notify_one();
    let responses = join_all(responses).await;
    assert_eq!(responses.len(), 1000);
    for resp in responses {
        let resp = resp.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(body(resp).await.starts_with(r#"{"status":"warn""#));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_probes_share_one_run() {
    // No cache at all: only single flight can keep this to one run.
    let runs = Arc::new(AtomicUsize::new(0));
    let fast_runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let health = Health::builder()
        .details(Details::Always)
        .check(
            Check::new("slow", held(&runs, &gate))
                .cache_ttl(Duration::ZERO)
                .timeout(Duration::from_secs(60)),
        )
        .check(
            Check::new(
                "fast",
                counting(&fast_runs, |_| async { Observation::warn("meh") }),
            )
            .criticality(Criticality::Degrading)
            .cache_ttl(Duration::ZERO),
        )
        .build()
        .unwrap();
    let service = health.service();
    thousand_at_once(&service, &gate).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "one run of the held check");
    assert!(fast_runs.load(Ordering::SeqCst) <= 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_probes_run_each_check_once_per_ttl() {
    let clock = FakeClock::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let fast_runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let health = Health::builder()
        .clock(clock.clone())
        .details(Details::Always)
        .check(Check::new("slow", held(&runs, &gate)).timeout(Duration::from_secs(60)))
        .check(
            Check::new(
                "fast",
                counting(&fast_runs, |_| async { Observation::warn("meh") }),
            )
            .criticality(Criticality::Degrading),
        )
        .build()
        .unwrap();
    let service = health.service();
    thousand_at_once(&service, &gate).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(fast_runs.load(Ordering::SeqCst), 1);

    // Same TTL: no run at all for another thousand.
    let responses = join_all((0..1000).map(|_| service.clone().oneshot(get("/health")))).await;
    assert!(responses
        .iter()
        .all(|r| r.as_ref().unwrap().status() == StatusCode::OK));
    assert_eq!(
        (
            runs.load(Ordering::SeqCst),
            fast_runs.load(Ordering::SeqCst)
        ),
        (1, 1)
    );

    // Next TTL: one more run each.
    clock.advance(Check::DEFAULT_TTL);
    thousand_at_once(&service, &gate).await;
    assert_eq!(
        (
            runs.load(Ordering::SeqCst),
            fast_runs.load(Ordering::SeqCst)
        ),
        (2, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn hanging_check_times_out_as_fail() {
    let health = Health::builder()
        .details(Details::Always)
        .check(
            Check::new("hang", std::future::pending::<Observation>)
                .timeout(Duration::from_millis(250)),
        )
        .check(Check::new("ok", || async { true }))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    let (status, body) = call(&health, get("/readyz")).await;
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(250),
        "checks ran concurrently, bounded by the timeout"
    );
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["checks"]["hang"][0]["status"], "fail");
    assert_eq!(
        v["checks"]["hang"][0]["output"],
        "check timed out after 250 ms"
    );
    assert_eq!(v["checks"]["ok"][0]["status"], "pass");
}

#[tokio::test(start_paused = true)]
async fn default_timeout_is_one_second() {
    let health = Health::builder()
        .check(Check::new("hang", std::future::pending::<()>))
        .build()
        .unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(health.readiness().await.status(), Status::Fail);
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

async fn panic_in_future() -> Observation {
    if std::hint::black_box(true) {
        panic!("boom in the future");
    }
    Observation::pass()
}

#[tokio::test]
async fn panicking_checks_fail_without_taking_the_endpoint_down() {
    struct PanicsWhenCalled;
    impl HealthCheck for PanicsWhenCalled {
        type Future = std::future::Ready<Observation>;
        fn check(&self) -> Self::Future {
            panic!("boom before the future");
        }
    }
    let health = Health::builder()
        .details(Details::Always)
        .check(Check::new("in-future", panic_in_future).cache_ttl(Duration::ZERO))
        .check(Check::new("in-call", PanicsWhenCalled).cache_ttl(Duration::ZERO))
        .check(Check::new("ok", || async { true }))
        .build()
        .unwrap();
    for _ in 0..3 {
        let (status, body) = call(&health, get("/health")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        for name in ["in-future", "in-call"] {
            assert_eq!(v["checks"][name][0]["status"], "fail");
            assert_eq!(v["checks"][name][0]["output"], "check panicked");
        }
        assert_eq!(v["checks"]["ok"][0]["status"], "pass");
    }
    assert_eq!(call(&health, get("/livez")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn hysteresis_fails_after_n_consecutive_failures() {
    let clock = FakeClock::new();
    let script = Arc::new(std::sync::Mutex::new(vec![
        false, false, true, false, false, false, false, true,
    ]));
    let next = script.clone();
    let health = Health::builder()
        .clock(clock.clone())
        .check(
            Check::new("flaky", move || {
                let ok = next.lock().unwrap().remove(0);
                async move { ok }
            })
            .fail_after(3)
            .cache_ttl(Duration::from_secs(1)),
        )
        .build()
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..8 {
        let report = health.readiness().await;
        seen.push(report.status());
        clock.advance(Duration::from_secs(1));
    }
    use Status::*;
    assert_eq!(seen, [Warn, Warn, Pass, Warn, Warn, Fail, Fail, Pass]);
    assert!(script.lock().unwrap().is_empty());
}

#[tokio::test]
async fn hysteresis_warns_with_the_count() {
    let health = Health::builder()
        .check(
            Check::new("f", || async { Err::<(), _>("refused") })
                .fail_after(2)
                .cache_ttl(Duration::ZERO),
        )
        .build()
        .unwrap();
    let first = health.readiness().await;
    let check = first.check("f").unwrap();
    assert_eq!(check.status(), Status::Warn);
    assert_eq!(
        check.observation().output(),
        Some("failure 1 of 2 before fail: refused")
    );
    let second = health.readiness().await;
    assert_eq!(
        second.check("f").unwrap().observation().output(),
        Some("refused")
    );
    assert_eq!(second.status(), Status::Fail);
}

#[tokio::test]
async fn criticalities_map_to_endpoint_status() {
    for criticality in [
        Criticality::Required,
        Criticality::Degrading,
        Criticality::Informational,
    ] {
        for status in Status::ALL {
            let health = Health::builder()
                .check(Check::new("c", move || async move { status }).criticality(criticality))
                .build()
                .unwrap();
            let want = criticality.effect(status);
            let (code, body) = call(&health, get("/readyz")).await;
            assert_eq!(code, want.http_status(), "{criticality:?} {status:?}");
            assert_eq!(body, format!(r#"{{"status":"{want}"}}"#));
        }
    }
}

#[tokio::test(start_paused = true)]
async fn shutdown_fails_readiness_at_once_and_drains() {
    let health = Health::builder()
        .details(Details::Always)
        .drain_delay(Duration::from_secs(2))
        .check(Check::new("ok", || async { true }))
        .build()
        .unwrap();
    assert_eq!(call(&health, get("/readyz")).await.0, StatusCode::OK);
    assert!(!health.is_shutting_down());

    let started = tokio::time::Instant::now();
    let drain = tokio::spawn(health.shutdown());
    assert!(health.is_shutting_down());
    let (code, body) = call(&health, get("/readyz")).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "fail");
    assert_eq!(v["checks"]["ok"][0]["status"], "pass");
    assert_eq!(v["checks"]["process:shutdown"][0]["status"], "fail");
    assert_eq!(
        call(&health, get("/health")).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        call(&health, get("/livez")).await,
        (StatusCode::OK, r#"{"status":"pass"}"#.into())
    );

    drain.await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    // still failing readiness afterwards, while the server finishes
    assert_eq!(health.readiness().await.status(), Status::Fail);
}

#[tokio::test(start_paused = true)]
async fn shutdown_on_waits_for_the_signal() {
    let health = Health::builder()
        .drain_delay(Duration::from_millis(100))
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(health.shutdown_on(async move {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        !health.is_shutting_down(),
        "nothing happens before the signal"
    );
    tx.send(()).unwrap();
    let signalled = tokio::time::Instant::now();
    task.await.unwrap();
    assert!(health.is_shutting_down());
    assert_eq!(signalled.elapsed(), Duration::from_millis(100));
}

#[tokio::test]
async fn cancelled_probe_does_not_cancel_the_shared_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let health = Health::builder()
        .check(Check::new("held", held(&runs, &gate)))
        .build()
        .unwrap();
    // A probe starts the run, then its client goes away.
    let abandoned = health.readiness();
    drop(abandoned);
    gate.notify_one();
    // The run finishes on its own task and fills the cache.
    let report = health.readiness().await;
    assert_eq!(report.status(), Status::Pass);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn works_inside_axum_with_connect_info() {
    use axum::extract::ConnectInfo;
    let health = Health::builder()
        .check(Check::new("c", || async {}))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "root" }))
        .layer(health.layer());
    let mut req = Request::get("/health")
        .body(axum::body::Body::empty())
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo("127.0.0.1:1234".parse::<SocketAddr>().unwrap()));
    let resp = app.clone().oneshot(req).await.unwrap();
    assert!(body(resp).await.contains(r#""c":[{"status":"pass""#));
    let resp = app
        .oneshot(Request::get("/").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(body(resp).await, "root");
}
