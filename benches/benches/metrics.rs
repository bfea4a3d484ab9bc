//! Per-request cost of HTTP server metrics around a ready no-op service:
//! `hardening_metrics::http::HttpMetricsLayer` against axum-prometheus's
//! `PrometheusMetricLayer` (the `metrics` facade and
//! metrics-exporter-prometheus) and against no layer, in one group.
//!
//! ```text
//! cargo bench -p hardening-benches --bench metrics
//! ```
//!
//! Each iteration builds a `GET /api/items` request, calls the service,
//! polls its future, drains the response body to its end (both layers record
//! at end of body) and drops it. Neither layer sees a `MatchedPath`: ours
//! labels the request `_unmatched`, axum-prometheus labels it with its path
//! (one path, so no series growth in either).
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hardening_metrics::http::HttpMetricsLayer;
use http::{Request, Response};
use http_body::Body;
use http_body_util::Empty;
use prometheus_client::registry::Registry;
use tower::{Layer, Service};

/// A ready service answering `200` with an empty body.
#[derive(Clone, Copy)]
struct Noop;

impl Service<Request<Empty<Bytes>>> for Noop {
    type Response = Response<Empty<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Empty<Bytes>>) -> Self::Future {
        ready(Ok(Response::new(Empty::new())))
    }
}

/// One request through `svc`, its body drained, everything dropped.
fn exchange<S, B>(svc: &mut S)
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    B: Body,
    B::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    let req = Request::get("/api/items").body(Empty::new()).unwrap();
    let future = pin!(svc.call(req));
    let Poll::Ready(res) = future.poll(&mut cx) else {
        unreachable!("the no-op service is ready at once")
    };
    let mut body = pin!(res.unwrap().into_body());
    while let Poll::Ready(Some(frame)) = body.as_mut().poll_frame(&mut cx) {
        black_box(frame.unwrap());
    }
}

fn bench_http(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics/http_request");
    group.throughput(Throughput::Elements(1));

    let mut bare = Noop;
    group.bench_function("no layer", |b| b.iter(|| exchange(&mut bare)));

    let mut registry = Registry::default();
    let mut ours = HttpMetricsLayer::new(&mut registry).layer(Noop);
    group.bench_function("hardening-metrics HttpMetricsLayer", |b| {
        b.iter(|| exchange(&mut ours))
    });

    // axum-prometheus spawns its exporter's upkeep task on Tokio.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let (layer, _handle) = axum_prometheus::PrometheusMetricLayer::pair();
    let mut peer = layer.layer(Noop);
    group.bench_function("axum-prometheus PrometheusMetricLayer", |b| {
        b.iter(|| exchange(&mut peer))
    });
    group.finish();
}

criterion_group!(benches, bench_http);
criterion_main!(benches);
