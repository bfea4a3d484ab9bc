//! Health probes through `HealthLayer` beside the same routes answered by
//! bare axum handlers.
//!
//! ```text
//! cargo bench -p hardening-benches --bench health -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Each side is an axum `Router` driven with `oneshot`, answering the same
//! `200 application/health+json` body with `Cache-Control: no-store`:
//!
//! - `bare_handler`: `/livez` and `/readyz` are routes with plain handlers;
//! - `health_layer`: `Router::layer(health.layer())`, as `secure_api` does;
//! - `health_layer_outer`: `HealthLayer` wrapping the whole router as a
//!   tower service (`ServiceBuilder` style).
//!
//! The layer's `/readyz` runs three readiness checks whose results are
//! cached (a long TTL, warmed before measuring), as a probe hammered by a
//! load balancer sees them. `/api/items` measures what the layer costs the
//! requests it passes through. Goal: at least 0.8x the bare handler.
#![allow(missing_docs)]

use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hardening_health::{checks::FunctionCheck, Check, Criticality, Health, Status};
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{Request, StatusCode};
use tower::{Layer, ServiceExt};

const BODY: &str = r#"{"status":"pass"}"#;

async fn bare_probe() -> ([(http::HeaderName, &'static str); 2], &'static str) {
    (
        [
            (CONTENT_TYPE, "application/health+json"),
            (CACHE_CONTROL, "no-store"),
        ],
        BODY,
    )
}

async fn api() -> &'static str {
    "api"
}

fn bare_router() -> Router {
    Router::new()
        .route("/api/items", get(api))
        .route("/livez", get(bare_probe))
        .route("/readyz", get(bare_probe))
}

fn health_router(health: &Health) -> Router {
    Router::new()
        .route("/api/items", get(api))
        .layer(health.layer())
}

fn health() -> Health {
    let ttl = Duration::from_secs(3600);
    Health::builder()
        .check(
            Check::new("db:responseTime", || async { Status::Pass })
                .component_type("datastore")
                .cache_ttl(ttl),
        )
        .check(
            Check::new("cache:ping", || async { true })
                .criticality(Criticality::Degrading)
                .cache_ttl(ttl),
        )
        .check(Check::new("queue:depth", FunctionCheck::new(|| Status::Pass)).cache_ttl(ttl))
        .build()
        .expect("valid health configuration")
}

fn request(path: &str) -> Request<Body> {
    Request::get(path)
        .body(Body::empty())
        .expect("valid request")
}

fn bench_probes(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let health = health();
    // Warm the caches, and check both sides answer alike.
    let report = rt.block_on(health.readiness());
    assert_eq!(report.status(), Status::Pass);
    assert_eq!(report.checks().len(), 3);
    let bare = bare_router();
    let layered = health_router(&health);
    let outer = health
        .layer()
        .layer(Router::new().route("/api/items", get(api)));
    for path in ["/livez", "/readyz"] {
        for resp in [
            rt.block_on(bare.clone().oneshot(request(path))),
            rt.block_on(layered.clone().oneshot(request(path))),
            rt.block_on(outer.clone().oneshot(request(path))),
        ] {
            let resp = resp.expect("infallible");
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()[CONTENT_TYPE], "application/health+json");
        }
    }

    let mut group = c.benchmark_group("health");
    group.throughput(Throughput::Elements(1));
    for path in ["/livez", "/readyz", "/api/items"] {
        group.bench_with_input(BenchmarkId::new("bare_handler", path), path, |b, path| {
            b.to_async(&rt).iter(|| bare.clone().oneshot(request(path)));
        });
        group.bench_with_input(BenchmarkId::new("health_layer", path), path, |b, path| {
            b.to_async(&rt)
                .iter(|| layered.clone().oneshot(request(path)));
        });
        group.bench_with_input(
            BenchmarkId::new("health_layer_outer", path),
            path,
            |b, path| {
                b.to_async(&rt)
                    .iter(|| outer.clone().oneshot(request(path)));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_probes);
criterion_main!(benches);
