//! Per-call cost of a circuit breaker in the closed state, around a ready
//! no-op service: ours beside tower-resilience's and failsafe's, and the bare
//! service. Then the same with two threads sharing one breaker.
//!
//! ```text
//! cargo bench -p hardening-benches --bench circuit -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every variant is driven the same way: `poll_ready`, `call`, one `poll` of
//! the response future with a no-op waker (every future here is ready at
//! once), so the figures are the middleware's own cost.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hardening_benches::Noop;
use hardening_circuit::{CircuitBreakerLayer, ErrorsAreFailures, SlidingWindow};
use tower::{Layer, Service};

/// One call through `svc`: poll_ready, call, poll the response future
/// until it is ready (at once, except for tower-resilience's async mutex
/// under contention, which is then polled again: spinning, as a waiting
/// executor would wake it).
#[inline]
fn call_once<S: Service<u64>>(svc: &mut S, req: u64) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match svc.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => break,
            Poll::Ready(Err(_)) => return false,
            Poll::Pending => std::hint::spin_loop(),
        }
    }
    let mut fut = pin!(svc.call(req));
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(result) => return result.is_ok(),
            Poll::Pending => std::hint::spin_loop(),
        }
    }
}

/// failsafe has no tower layer: wrap the no-op service's future with it.
#[derive(Clone)]
struct Failsafe<B> {
    breaker: B,
    inner: Noop,
}

impl<B> Service<u64> for Failsafe<B>
where
    B: failsafe::futures::CircuitBreaker,
{
    type Response = u64;
    type Error = failsafe::Error<Infallible>;
    type Future = failsafe::futures::ResponseFuture<
        Ready<Result<u64, Infallible>>,
        B::FailurePolicy,
        B::Instrument,
        failsafe::Any,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: u64) -> Self::Future {
        self.breaker.call(self.inner.call(req))
    }
}

fn ours() -> impl Service<u64> + Clone + Send + 'static {
    // The defaults: time-based 30 s window in 10 buckets, monotonic clock.
    CircuitBreakerLayer::new()
        .classify(ErrorsAreFailures)
        .layer(Noop)
}

fn ours_count_window() -> impl Service<u64> + Clone + Send + 'static {
    CircuitBreakerLayer::builder()
        .sliding_window(SlidingWindow::count(100))
        .build()
        .expect("valid settings")
        .classify(ErrorsAreFailures)
        .layer(Noop)
}

fn tower_resilience() -> impl Service<u64> + Clone + Send + 'static {
    tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .expect("valid tower-resilience config")
        .layer(Noop)
}

fn failsafe() -> impl Service<u64> + Clone + Send + 'static {
    Failsafe {
        breaker: failsafe::Config::new().build(),
        inner: Noop,
    }
}

fn closed_one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit/closed");
    group.throughput(Throughput::Elements(1));

    let mut bare = Noop;
    group.bench_function("bare", |b| {
        b.iter(|| assert!(call_once(&mut bare, black_box(1))))
    });
    let mut svc = ours();
    group.bench_function("hardening-circuit", |b| {
        b.iter(|| assert!(call_once(&mut svc, black_box(1))))
    });
    let mut svc = ours_count_window();
    group.bench_function("hardening-circuit-count-window", |b| {
        b.iter(|| assert!(call_once(&mut svc, black_box(1))))
    });
    let mut svc = tower_resilience();
    group.bench_function("tower-resilience", |b| {
        b.iter(|| assert!(call_once(&mut svc, black_box(1))))
    });
    let mut svc = failsafe();
    group.bench_function("failsafe", |b| {
        b.iter(|| assert!(call_once(&mut svc, black_box(1))))
    });
    group.finish();
}

/// `iters` calls on each of `threads` threads, each with its own clone of
/// `svc` (all clones share one breaker); returns the wall time.
fn run_threads<S>(svc: &S, threads: usize, iters: u64) -> Duration
where
    S: Service<u64> + Clone + Send,
{
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let mut svc = svc.clone();
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    for i in 0..iters {
                        assert!(call_once(&mut svc, black_box(i)));
                    }
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        for h in handles {
            h.join().expect("bench thread");
        }
        start.elapsed()
    })
}

fn closed_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit/closed_threads");
    for threads in [1usize, 2] {
        // Throughput counts every call on every thread: elements/s is the
        // total rate, so "2 threads / 1 thread" is the scaling factor.
        group.throughput(Throughput::Elements(threads as u64));
        let bare = Noop;
        group.bench_with_input(BenchmarkId::new("bare", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_threads(&bare, t, iters))
        });
        let svc = ours();
        group.bench_with_input(
            BenchmarkId::new("hardening-circuit", threads),
            &threads,
            |b, &t| b.iter_custom(|iters| run_threads(&svc, t, iters)),
        );
        let svc = tower_resilience();
        group.bench_with_input(
            BenchmarkId::new("tower-resilience", threads),
            &threads,
            |b, &t| b.iter_custom(|iters| run_threads(&svc, t, iters)),
        );
        let svc = failsafe();
        group.bench_with_input(BenchmarkId::new("failsafe", threads), &threads, |b, &t| {
            b.iter_custom(|iters| run_threads(&svc, t, iters))
        });
    }
    group.finish();
}

criterion_group!(benches, closed_one_thread, closed_threads);
criterion_main!(benches);
