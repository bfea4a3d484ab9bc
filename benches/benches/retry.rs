//! Success path of the retry layer: one GET per iteration through
//! `RetryLayer` around a ready no-op service, beside tower's `retry::Retry`
//! with an equivalent policy (copies the request for a possible retry,
//! classifies the status, deposits into a budget), in one group.
//!
//! Futures are polled once with `now_or_never`: the no-op service answers at
//! once and no variant needs a timer on the success path, so no runtime
//! overhead muddies the figures.
//!
//! ```text
//! cargo bench -p hardening-benches --bench retry -- --warm-up-time 1 --measurement-time 3
//! ```
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::FutureExt;
use hardening_circuit::retry::RetryLayer;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::retry::budget::{Budget, TpsBudget};
use tower::retry::Policy;
use tower::{service_fn, Layer, Service};

type Req = Request<Full<Bytes>>;
type Res = Response<Full<Bytes>>;

fn noop(_req: Req) -> Ready<Result<Res, Infallible>> {
    ready(Ok(Response::new(Full::new(Bytes::new()))))
}

fn request() -> Req {
    Request::get("http://upstream.internal/v1/items?page=2")
        .header("accept", "application/json")
        .header("user-agent", "bench/1.0")
        .header("x-request-id", "4bf92f3577b34da6a3ce929d0e0e4736")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// tower's side: the policy a user would write to match `RetryLayer`'s
/// defaults (idempotent methods, 408/429/502/503/504 and errors, 3 attempts,
/// a 10 %-plus-floor budget). Backoff is not reached on the success path.
#[derive(Clone)]
struct TowerPolicy {
    budget: Option<std::sync::Arc<TpsBudget>>,
    attempts_left: u32,
}

impl Policy<Req, Res, Infallible> for TowerPolicy {
    type Future = Ready<()>;

    fn retry(&mut self, _req: &mut Req, result: &mut Result<Res, Infallible>) -> Option<Ready<()>> {
        let Ok(res) = result else {
            return None;
        };
        let retry = matches!(
            res.status(),
            StatusCode::REQUEST_TIMEOUT
                | StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        );
        if !retry {
            if let Some(budget) = &self.budget {
                budget.deposit();
            }
            return None;
        }
        if self.attempts_left <= 1 {
            return None;
        }
        if let Some(budget) = &self.budget {
            if !budget.withdraw() {
                return None;
            }
        }
        self.attempts_left -= 1;
        Some(ready(()))
    }

    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        if !req.method().is_idempotent() {
            return None;
        }
        Some(req.clone())
    }
}

fn drive<S>(svc: &mut S) -> Option<Result<S::Response, S::Error>>
where
    S: Service<Req>,
{
    // Both services are always ready; poll_ready is still called, as tower
    // requires.
    match svc.poll_ready(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(Ok(())) => {}
        _ => return None,
    }
    svc.call(request()).now_or_never()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry/success_path");
    group.throughput(Throughput::Elements(1));

    let mut bare = service_fn(noop);
    group.bench_function("bare_service", |b| b.iter(|| black_box(drive(&mut bare))));

    let mut ours = RetryLayer::new().layer(service_fn(noop));
    group.bench_function("hardening_retry", |b| {
        b.iter(|| black_box(drive(&mut ours)))
    });

    let mut ours_no_budget = RetryLayer::builder()
        .no_budget()
        .build()
        .unwrap()
        .layer(service_fn(noop));
    group.bench_function("hardening_retry_no_budget", |b| {
        b.iter(|| black_box(drive(&mut ours_no_budget)))
    });

    let budget = std::sync::Arc::new(TpsBudget::new(Duration::from_secs(10), 1, 0.1));
    let mut theirs = tower::retry::RetryLayer::new(TowerPolicy {
        budget: Some(budget),
        attempts_left: 3,
    })
    .layer(service_fn(noop));
    group.bench_function("tower_retry", |b| b.iter(|| black_box(drive(&mut theirs))));

    let mut theirs_no_budget = tower::retry::RetryLayer::new(TowerPolicy {
        budget: None,
        attempts_left: 3,
    })
    .layer(service_fn(noop));
    group.bench_function("tower_retry_no_budget", |b| {
        b.iter(|| black_box(drive(&mut theirs_no_budget)))
    });

    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
