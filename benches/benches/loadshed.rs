//! Per-request cost of a concurrency limiter around a ready no-op service:
//! our fixed limit and Gradient2 beside tower's `ConcurrencyLimit` +
//! `LoadShed` and tower-resilience's adaptive limiter (AIMD), and the bare
//! service. Then an overload scenario on a simulated clock: goodput with our
//! limiter against a queueing limiter.
//!
//! ```text
//! cargo bench -p hardening-benches --bench loadshed -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every variant is driven the same way: `poll_ready`, `call`, poll the
//! response future with a no-op waker (ready at once), drop the response
//! (which ends our body and frees the slot).
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hardening_core::clock::FakeClock;
use hardening_loadshed::algorithm::Gradient2;
use hardening_loadshed::{ConcurrencyLimitLayer, Outcome, Priority};
use http_body_util::Empty;
use tower::{Layer, Service};

type Req = http::Request<()>;
type Resp = http::Response<Empty<Bytes>>;

/// The ready no-op service every variant wraps.
#[derive(Clone, Copy)]
struct Noop;

impl Service<Req> for Noop {
    type Response = Resp;
    type Error = Infallible;
    type Future = Ready<Result<Resp, Infallible>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, _req: Req) -> Self::Future {
        ready(Ok(http::Response::new(Empty::new())))
    }
}

#[inline]
fn call_once<S: Service<Req>>(svc: &mut S) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => break,
            Poll::Ready(Err(_)) => return false,
            Poll::Pending => std::hint::spin_loop(),
        }
    }
    let mut fut = pin!(svc.call(http::Request::new(())));
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(r) => return black_box(r).is_ok(),
            Poll::Pending => std::hint::spin_loop(),
        }
    }
}

fn per_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("loadshed/per_request");
    group.throughput(Throughput::Elements(1));

    let mut bare = Noop;
    group.bench_function("bare", |b| b.iter(|| call_once(&mut bare)));

    let mut fixed = ConcurrencyLimitLayer::new(1024).unwrap().layer(Noop);
    group.bench_function("hardening_fixed", |b| b.iter(|| call_once(&mut fixed)));

    let mut gradient = ConcurrencyLimitLayer::builder()
        .algorithm(Gradient2::builder().initial_limit(1000).build().unwrap())
        .build()
        .unwrap()
        .layer(Noop);
    group.bench_function("hardening_gradient2", |b| {
        b.iter(|| call_once(&mut gradient))
    });

    let mut tower_shed = tower::load_shed::LoadShedLayer::new()
        .layer(tower::limit::ConcurrencyLimitLayer::new(1024).layer(Noop));
    group.bench_function("tower_concurrency_limit_load_shed", |b| {
        b.iter(|| call_once(&mut tower_shed))
    });

    let aimd = tower_resilience::adaptive::Aimd::builder()
        .initial_limit(1000)
        .min_limit(1)
        .max_limit(1000)
        .latency_threshold(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut resilience = tower_resilience::adaptive::AdaptiveLimiterLayer::new(aimd).layer(Noop);
    group.bench_function("tower_resilience_adaptive_aimd", |b| {
        b.iter(|| call_once(&mut resilience))
    });
    group.finish();
}

/// Overload on a simulated clock (1 ms steps, 20 s): a server with 64
/// workers and 10 ms of work per request (capacity 6,400 requests/s,
/// processor sharing beyond 64 in flight), offered 12,800 requests/s;
/// clients give up after 100 ms, so a request answered later is wasted work.
/// Goodput = requests answered within 100 ms per second, over the last 18 s.
fn overload(queueing: bool) -> f64 {
    const KNEE: f64 = 64.0;
    const WORK_MS: f64 = 10.0;
    const TIMEOUT_MS: u64 = 100;
    const OFFERED_PER_MS: f64 = 12.8;
    const STEPS: u64 = 20_000;
    const WARMUP: u64 = 2_000;

    let clock = FakeClock::new();
    let layer = ConcurrencyLimitLayer::builder()
        .algorithm(Gradient2::builder().initial_limit(20).build().unwrap())
        .clock(clock.clone())
        .build()
        .unwrap();
    let limiter = layer.limiter().clone();
    // (remaining work, start ms, permit)
    let mut running: Vec<(f64, u64, Option<hardening_loadshed::Permit>)> = Vec::new();
    let mut queue: std::collections::VecDeque<u64> = Default::default();
    let mut arrivals = 0.0;
    let mut good = 0u64;
    for now in 0..STEPS {
        clock.advance(Duration::from_millis(1));
        arrivals += OFFERED_PER_MS;
        while arrivals >= 1.0 {
            arrivals -= 1.0;
            if queueing {
                queue.push_back(now); // tower's ConcurrencyLimit(64): waits for a slot
            } else if let Ok(p) = limiter.try_acquire(Priority::Default) {
                running.push((WORK_MS, now, Some(p)));
            }
        }
        if queueing {
            while running.len() < KNEE as usize {
                let Some(start) = queue.pop_front() else {
                    break;
                };
                running.push((WORK_MS, start, None));
            }
        }
        let rate = (KNEE / running.len().max(1) as f64).min(1.0);
        running.retain_mut(|(left, start, permit)| {
            *left -= rate;
            if *left > 1e-9 {
                return true;
            }
            if let Some(p) = permit.as_mut() {
                p.record(Outcome::Success);
            }
            if now >= WARMUP && now + 1 - *start <= TIMEOUT_MS {
                good += 1;
            }
            false
        });
    }
    let capacity = KNEE / WORK_MS * 1000.0;
    let goodput = good as f64 / ((STEPS - WARMUP) as f64 / 1000.0);
    println!(
        "overload ({}): goodput {:.0}/s = {:.2} × capacity{}",
        if queueing {
            "queueing limit 64"
        } else {
            "hardening Gradient2"
        },
        goodput,
        goodput / capacity,
        if queueing {
            String::new()
        } else {
            format!(", final limit {}", limiter.limit())
        }
    );
    goodput / capacity
}

fn overload_scenario(_c: &mut Criterion) {
    let ours = overload(false);
    let queueing = overload(true);
    assert!(ours >= 0.9, "goodput {ours:.2} × capacity");
    assert!(queueing < ours);
}

criterion_group!(benches, per_request, overload_scenario);
criterion_main!(benches);
