//! The observer hooks' cost: each layer's hot path with its
//! `hardening-metrics` observer installed beside the same layer without one,
//! in one group per layer (same run).
//!
//! ```text
//! cargo bench -p hardening-benches --bench observers -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Target (issue 15): installed costs ≤ 30 ns per request more than not
//! installed; not installed is within noise of the layer's own bench.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hardening_benches::{drive, poll_once, Noop};
use hardening_circuit::retry::RetryLayer;
use hardening_circuit::{CircuitBreakerLayer, ErrorsAreFailures};
use hardening_core::PeerAddr;
use hardening_headers::HttpsRedirectLayer;
use hardening_health::{Check, Health, Observation};
use hardening_loadshed::ConcurrencyLimitLayer;
use hardening_metrics::layers::LayerMetrics;
use hardening_ratelimit::{InMemoryStore, Policy, Quota, RateLimitLayer};
use http::{Request, Response};
use http_body_util::Full;
use prometheus_client::registry::Registry;
use tower::{service_fn, Layer};

fn metrics() -> LayerMetrics {
    // The registry only owns the families; the observers keep handles.
    LayerMetrics::new(&mut Registry::default())
}

fn circuit(c: &mut Criterion) {
    let mut group = c.benchmark_group("observers/circuit_closed_call");
    group.throughput(Throughput::Elements(1));
    let mut without = CircuitBreakerLayer::builder()
        .name("bench")
        .build()
        .unwrap()
        .classify(ErrorsAreFailures)
        .layer(Noop);
    let mut with = CircuitBreakerLayer::builder()
        .name("bench")
        .observer(metrics().circuit())
        .build()
        .unwrap()
        .classify(ErrorsAreFailures)
        .layer(Noop);
    group.bench_function("not_installed", |b| {
        b.iter(|| black_box(drive(&mut without, black_box(1_u64))))
    });
    group.bench_function("installed", |b| {
        b.iter(|| black_box(drive(&mut with, black_box(1_u64))))
    });
    group.finish();
}

type Req = Request<Full<Bytes>>;
type Res = Response<Full<Bytes>>;

fn ok(_req: Req) -> Ready<Result<Res, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::new()))))
}

fn retry_request() -> Req {
    Request::get("http://upstream.internal/v1/items")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn retry(c: &mut Criterion) {
    let mut group = c.benchmark_group("observers/retry_success");
    group.throughput(Throughput::Elements(1));
    let mut without = RetryLayer::new().layer(service_fn(ok));
    let mut with = RetryLayer::builder()
        .observer(metrics().retry("bench"))
        .build()
        .unwrap()
        .layer(service_fn(ok));
    group.bench_function("not_installed", |b| {
        b.iter(|| black_box(drive(&mut without, retry_request())))
    });
    group.bench_function("installed", |b| {
        b.iter(|| black_box(drive(&mut with, retry_request())))
    });
    group.finish();
}

fn ratelimit_request(n: u32) -> Request<Full<Bytes>> {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (n & 1023))), 40_000);
    let mut req = Request::get("/api/items")
        .body(Full::new(Bytes::new()))
        .unwrap();
    req.extensions_mut().insert(PeerAddr(addr));
    req
}

fn ratelimit(c: &mut Criterion) {
    let mut group = c.benchmark_group("observers/ratelimit_admitted");
    group.throughput(Throughput::Elements(1));
    let build = |observe: bool| {
        let quota = Quota::per_second(std::num::NonZeroU32::new(1_000_000_000).unwrap());
        let mut b = RateLimitLayer::builder().policy(Policy::new("bench", quota));
        if observe {
            b = b.observer(metrics().ratelimit());
        }
        b.store(InMemoryStore::with_max_keys(1_000_000).unwrap())
            .build()
            .unwrap()
            .layer(Noop)
    };
    let mut without = build(false);
    let mut with = build(true);
    let mut n = 0_u32;
    group.bench_function("not_installed", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(drive(&mut without, ratelimit_request(n)))
        })
    });
    group.bench_function("installed", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(drive(&mut with, ratelimit_request(n)))
        })
    });
    group.finish();
}

fn redirect(c: &mut Criterion) {
    let mut group = c.benchmark_group("observers/https_redirect");
    group.throughput(Throughput::Elements(1));
    let build = |observe: bool| {
        let mut b = HttpsRedirectLayer::builder().allow_host("example.com");
        if observe {
            b = b.observer(metrics().redirect());
        }
        b.build().unwrap().layer(Noop)
    };
    let mut without = build(false);
    let mut with = build(true);
    let request = || {
        Request::get("http://example.com/account?tab=1")
            .header("host", "example.com")
            .body(())
            .unwrap()
    };
    let res: Response<()> = drive(&mut with, request());
    assert_eq!(res.status(), 308);
    group.bench_function("not_installed", |b| {
        b.iter(|| black_box::<Response<()>>(drive(&mut without, request())))
    });
    group.bench_function("installed", |b| {
        b.iter(|| black_box::<Response<()>>(drive(&mut with, request())))
    });
    group.finish();
}

fn health(c: &mut Criterion) {
    let mut group = c.benchmark_group("observers/health_cached_readiness");
    group.throughput(Throughput::Elements(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let build = |observe: bool| {
        let check =
            Check::new("db", || async { Observation::pass() }).cache_ttl(Duration::from_secs(3600));
        let mut b = Health::builder().check(check);
        if observe {
            b = b.observer(metrics().health());
        }
        let health = b.build().unwrap();
        rt.block_on(health.readiness());
        health
    };
    let without = build(false);
    let with = build(true);
    group.bench_function("not_installed", |b| {
        b.iter(|| black_box(poll_once(without.readiness()).is_ready()))
    });
    group.bench_function("installed", |b| {
        b.iter(|| black_box(poll_once(with.readiness()).is_ready()))
    });
    group.finish();
}

fn loadshed(c: &mut Criterion) {
    let mut group = c.benchmark_group("observers/concurrency_limit");
    group.throughput(Throughput::Elements(1));
    let mut without = ConcurrencyLimitLayer::new(1000).unwrap().layer(Noop);
    let mut with = ConcurrencyLimitLayer::builder()
        .limit(1000)
        .observer(metrics().concurrency("bench"))
        .build()
        .unwrap()
        .layer(Noop);
    let request = || Request::get("/api/items").body(String::new()).unwrap();
    group.bench_function("not_installed", |b| {
        b.iter(|| black_box(drive(&mut without, request())))
    });
    group.bench_function("installed", |b| {
        b.iter(|| black_box(drive(&mut with, request())))
    });
    group.finish();
}

criterion_group!(benches, circuit, retry, ratelimit, redirect, health, loadshed);
criterion_main!(benches);
