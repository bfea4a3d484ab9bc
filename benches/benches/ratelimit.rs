//! Per-request cost of rate limiting, keyed by peer IP, around a ready no-op
//! service: `hardening-ratelimit`'s `RateLimitLayer` beside `tower_governor`
//! (same quota, same key) and `governor`'s keyed limiter called directly.
//!
//! ```text
//! cargo bench -p hardening-benches --bench ratelimit -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Scenarios (one group, `ratelimit`):
//! - `hot_key`: one client, quota never exhausted (every request admitted);
//! - `hot_key_limited`: one client flooding a 10/s quota (every request
//!   after the first ten rejected: the attack path);
//! - `rotating_100k`: 100 000 clients in turn, all admitted;
//! - `1_thread`, `2_threads`: one or two threads, 100 000 clients each
//!   (distinct between threads), all admitted, timed by the same harness
//!   (the ratio is the scaling);
//! - `2_threads_hot_key`: two threads sending as one client (contention on
//!   one state).
//!
//! Contenders: `hardening` (headers on admitted responses off, like
//! tower_governor's default), `hardening_with_headers` (the default),
//! `tower_governor`, `tower_governor_with_headers` (its `use_headers()`
//! `x-ratelimit-*` set, the peer of our default), `no_limiter` (the bare no-op service: what any layer
//! costs at least, since the request is dropped and a response built inside
//! the timed section) and `governor_direct` (`check_key` on an address, no
//! HTTP request at all). A layer's own overhead is its time minus
//! `no_limiter`'s.
//!
//! Requests are built outside the timed section.
//!
//! Before the timings, the binary prints the resident memory per tracked
//! key for 1 000 000 distinct keys (RSS growth / keys), for our in-memory
//! store and for governor's keyed state store.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use criterion::{criterion_group, BatchSize, BenchmarkId, Criterion, Throughput};
use governor::{DefaultKeyedRateLimiter, RateLimiter};
use hardening_benches::{drive, Noop};
use hardening_core::PeerAddr;
use hardening_ratelimit::store::{MaybeReady, PolicyCheck, RateLimitStore};
use hardening_ratelimit::{InMemoryStore, Key, Policy, Quota, RateLimitLayer};
use http::Request;
use tower::{Layer, Service};
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::PeerIpKeyExtractor;
use tower_governor::GovernorLayer;

const ROTATING: u32 = 100_000;

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

/// A request from `ip`, with the peer address the way axum and plain hyper
/// code record it.
fn request(ip: IpAddr) -> Request<Body> {
    let addr = SocketAddr::new(ip, 40_000);
    let mut req = Request::builder()
        .uri("/api/items")
        .body(Body::empty())
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req.extensions_mut().insert(PeerAddr(addr));
    req
}

/// The quota of a scenario: "never exhausted" is 10^9/s with a burst of
/// 10^9; "limited" is 10/s with a burst of 10.
#[derive(Clone, Copy)]
enum Load {
    Admitted,
    Limited,
}

impl Load {
    fn count(self) -> u32 {
        match self {
            Load::Admitted => 1_000_000_000,
            Load::Limited => 10,
        }
    }

    fn ours(self) -> Quota {
        Quota::per_second(NonZeroU32::new(self.count()).unwrap())
    }

    fn governor(self) -> governor::Quota {
        governor::Quota::per_second(NonZeroU32::new(self.count()).unwrap())
    }
}

fn ours(
    load: Load,
    headers: bool,
) -> impl Service<Request<Body>, Error = Infallible> + Clone + Send {
    ours_on(
        load,
        headers,
        hardening_ratelimit::CoarseMonotonicClock::new(),
    )
}

fn ours_on(
    load: Load,
    headers: bool,
    clock: impl hardening_ratelimit::Clock,
) -> impl Service<Request<Body>, Error = Infallible> + Clone + Send {
    RateLimitLayer::builder()
        .policy(Policy::new("bench", load.ours()))
        .headers_on_allowed(headers)
        .store(InMemoryStore::with_max_keys(1_000_000).unwrap())
        .clock(clock)
        .build()
        .unwrap()
        .layer(Noop)
}

fn tower_governor(load: Load) -> impl Service<Request<Body>, Error = Infallible> + Clone + Send {
    let q = load.governor();
    let config = GovernorConfigBuilder::default()
        .period(q.replenish_interval())
        .burst_size(q.burst_size().get())
        .key_extractor(PeerIpKeyExtractor)
        .finish()
        .unwrap();
    GovernorLayer::new(config).layer(Noop)
}

/// tower_governor with `use_headers()`: its `x-ratelimit-*` headers on
/// every response, the peer of our default (headers on).
fn tower_governor_headers(
    load: Load,
) -> impl Service<Request<Body>, Error = Infallible> + Clone + Send {
    let q = load.governor();
    let config = GovernorConfigBuilder::default()
        .period(q.replenish_interval())
        .burst_size(q.burst_size().get())
        .key_extractor(PeerIpKeyExtractor)
        .use_headers()
        .finish()
        .unwrap();
    GovernorLayer::new(config).layer(Noop)
}

fn governor_direct(load: Load) -> Arc<DefaultKeyedRateLimiter<IpAddr>> {
    Arc::new(RateLimiter::keyed(load.governor()))
}

/// Client addresses: one, or `ROTATING` in turn.
struct Clients {
    offset: u32,
    next: u32,
    count: u32,
}

impl Clients {
    fn new(count: u32) -> Self {
        Self::starting_at(0, count)
    }

    fn starting_at(offset: u32, count: u32) -> Self {
        Self {
            offset,
            next: 0,
            count,
        }
    }

    fn next(&mut self) -> IpAddr {
        self.next = (self.next + 1) % self.count;
        ip(self.offset + self.next)
    }
}

fn single_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("ratelimit");
    group.throughput(Throughput::Elements(1));
    for (scenario, load, clients) in [
        ("hot_key", Load::Admitted, 1),
        ("hot_key_limited", Load::Limited, 1),
        ("rotating_100k", Load::Admitted, ROTATING),
    ] {
        let mut svc = ours(load, false);
        let mut keys = Clients::new(clients);
        group.bench_function(BenchmarkId::new(scenario, "hardening"), |b| {
            b.iter_batched(
                || request(keys.next()),
                |req| drive(&mut svc, req),
                BatchSize::SmallInput,
            )
        });
        let mut svc = ours(load, true);
        let mut keys = Clients::new(clients);
        group.bench_function(BenchmarkId::new(scenario, "hardening_with_headers"), |b| {
            b.iter_batched(
                || request(keys.next()),
                |req| drive(&mut svc, req),
                BatchSize::SmallInput,
            )
        });
        let mut svc = tower_governor(load);
        let mut keys = Clients::new(clients);
        group.bench_function(BenchmarkId::new(scenario, "tower_governor"), |b| {
            b.iter_batched(
                || request(keys.next()),
                |req| drive(&mut svc, req),
                BatchSize::SmallInput,
            )
        });
        let mut svc = tower_governor_headers(load);
        let mut keys = Clients::new(clients);
        group.bench_function(
            BenchmarkId::new(scenario, "tower_governor_with_headers"),
            |b| {
                b.iter_batched(
                    || request(keys.next()),
                    |req| drive(&mut svc, req),
                    BatchSize::SmallInput,
                )
            },
        );
        let mut svc = Noop;
        let mut keys = Clients::new(clients);
        group.bench_function(BenchmarkId::new(scenario, "no_limiter"), |b| {
            b.iter_batched(
                || request(keys.next()),
                |req| drive(&mut svc, req),
                BatchSize::SmallInput,
            )
        });
        let limiter = governor_direct(load);
        let mut keys = Clients::new(clients);
        group.bench_function(BenchmarkId::new(scenario, "governor_direct"), |b| {
            b.iter_batched(
                || keys.next(),
                |ip| limiter.check_key(&ip).is_ok(),
                BatchSize::SmallInput,
            )
        });
    }

    // One thread, then two, each cycling through its own 100 000 clients
    // (same harness, so `1_thread / 2_threads` is the scaling), then two
    // threads sharing one hot key (contention on one state).
    for (scenario, threads, keys) in [
        ("1_thread", 1, Keys::Own),
        ("2_threads", 2, Keys::Own),
        ("2_threads_hot_key", 2, Keys::Shared),
    ] {
        group.bench_function(BenchmarkId::new(scenario, "hardening"), |b| {
            let svc = ours(Load::Admitted, false);
            b.iter_custom(|iters| two_threads(threads, iters, keys, &svc))
        });
        group.bench_function(BenchmarkId::new(scenario, "tower_governor"), |b| {
            let svc = tower_governor(Load::Admitted);
            b.iter_custom(|iters| two_threads(threads, iters, keys, &svc))
        });
        group.bench_function(BenchmarkId::new(scenario, "no_limiter"), |b| {
            b.iter_custom(|iters| two_threads(threads, iters, keys, &Noop))
        });
    }
    let threads = 2;
    group.bench_function(BenchmarkId::new("2_threads", "governor_direct"), |b| {
        let limiter = governor_direct(Load::Admitted);
        b.iter_custom(|iters| {
            let per_thread = iters / threads as u64 + 1;
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let limiter = &limiter;
                        s.spawn(move || {
                            let mut keys = Clients::starting_at(t * ROTATING, ROTATING);
                            let ips: Vec<IpAddr> = (0..per_thread).map(|_| keys.next()).collect();
                            let start = Instant::now();
                            for ip in &ips {
                                black_box(limiter.check_key(ip).is_ok());
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .max()
                    .unwrap_or_default()
            })
        })
    });
    group.finish();
}

/// Runs `iters` requests split over `threads` threads; the time of the
/// slowest thread, counting only service calls (requests are built in
/// untimed batches).
/// Which clients the threads of [`two_threads`] send as.
#[derive(Clone, Copy)]
enum Keys {
    /// 100 000 clients per thread, distinct between threads.
    Own,
    /// One client for all threads.
    Shared,
}

fn two_threads<S>(threads: u32, iters: u64, keys: Keys, svc: &S) -> Duration
where
    S: Service<Request<Body>, Error = Infallible> + Clone + Send,
{
    let per_thread = iters / u64::from(threads) + 1;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mut svc = svc.clone();
                s.spawn(move || {
                    let mut keys = match keys {
                        Keys::Own => Clients::starting_at(t * ROTATING, ROTATING),
                        Keys::Shared => Clients::new(1),
                    };
                    let mut spent = Duration::ZERO;
                    let mut left = per_thread;
                    while left > 0 {
                        let n = left.min(4096);
                        left -= n;
                        let batch: Vec<Request<Body>> =
                            (0..n).map(|_| request(keys.next())).collect();
                        let mut out = Vec::with_capacity(batch.len());
                        let start = Instant::now();
                        for req in batch {
                            out.push(drive(&mut svc, req));
                        }
                        spent += start.elapsed();
                        drop(out);
                    }
                    spent
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap_or_default()
    })
}

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Resident memory per tracked key, for `n` distinct keys.
fn memory_per_key() {
    let n: u32 = 1_000_000;
    let quota = Load::Limited;

    let before = resident_bytes();
    let store = InMemoryStore::with_max_keys(n as usize).unwrap();
    let policy = Policy::new("memory", quota.ours());
    for i in 0..n {
        let key = Key::ip(ip(i), 64);
        if let MaybeReady::Ready(d) =
            store.check(&[PolicyCheck::new(&policy, &key)], Duration::ZERO)
        {
            black_box(d.ok());
        }
    }
    let ours = resident_bytes().saturating_sub(before) as f64 / f64::from(n);
    let tracked = store.tracked_keys();
    drop(store);

    let before = resident_bytes();
    let limiter = governor_direct(quota);
    for i in 0..n {
        black_box(limiter.check_key(&ip(i)).is_ok());
    }
    let theirs = resident_bytes().saturating_sub(before) as f64 / f64::from(n);
    let their_len = limiter.len();
    drop(limiter);

    println!(
        "memory per tracked key ({n} keys, RSS growth): hardening {ours:.1} B ({tracked} tracked), governor keyed {theirs:.1} B ({their_len} tracked)"
    );
}

criterion_group!(benches, single_thread);

/// A plain loop for instruction-count profiling (load-independent, unlike
/// wall time on a shared machine):
///
/// ```text
/// RL_PROFILE=hardening|tower_governor|no_limiter|governor_direct|baseline [RL_CLIENTS=100000] [RL_LIMITED=1] [RL_N=100000] \
///   valgrind --tool=callgrind target/release/deps/ratelimit-<hash>
/// ```
///
/// `baseline` only builds and drops the requests; subtract it. `hardening`
/// runs on a `FakeClock` here (valgrind cannot emulate the vDSO lookup of
/// the default coarse clock).
fn profile(which: &str) {
    let var = |name: &str| std::env::var(name).ok();
    let clients: u32 = var("RL_CLIENTS").and_then(|v| v.parse().ok()).unwrap_or(1);
    let n: usize = var("RL_N").and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let load = if var("RL_LIMITED").is_some() {
        Load::Limited
    } else {
        Load::Admitted
    };
    let mut keys = Clients::new(clients);
    // valgrind cannot run rustix's vDSO lookup (the coarse clock): profile
    // on a fake clock, whose read is one atomic load.
    let mut hardening = ours_on(
        load,
        var("RL_HEADERS").is_some(),
        hardening_core::FakeClock::new(),
    );
    let mut tg = tower_governor(load);
    let direct = governor_direct(load);
    let mut done = 0;
    while done < n {
        let reqs: Vec<Request<Body>> = (0..n.min(10_000)).map(|_| request(keys.next())).collect();
        done += reqs.len();
        match which {
            "hardening" => reqs
                .into_iter()
                .for_each(|r| drop(black_box(drive(&mut hardening, r)))),
            "no_limiter" => reqs
                .into_iter()
                .for_each(|r| drop(black_box(drive(&mut Noop, r)))),
            "tower_governor" => reqs
                .into_iter()
                .for_each(|r| drop(black_box(drive(&mut tg, r)))),
            "governor_direct" => reqs.into_iter().for_each(|r| {
                let ip = r.extensions().get::<PeerAddr>().map(|p| p.0.ip());
                black_box(ip.map(|ip| direct.check_key(&ip).is_ok()));
                drop(r);
            }),
            _ => drop(black_box(reqs)),
        }
    }
}

/// `RL_PROFILE=clocks`: the cost of one read of each clock the layer can
/// take, in a plain loop (the figures behind the default clock).
fn clock_costs() {
    use hardening_ratelimit::{Clock, CoarseMonotonicClock, FakeClock, MonotonicClock};
    fn per_read(clock: &dyn Clock) -> f64 {
        let n = 10_000_000u32;
        let start = Instant::now();
        for _ in 0..n {
            black_box(clock.now());
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    }
    let quanta = governor::clock::QuantaClock::default();
    let start = Instant::now();
    for _ in 0..10_000_000u32 {
        black_box(governor::clock::Clock::now(&quanta));
    }
    let quanta_ns = start.elapsed().as_nanos() as f64 / 1e7;
    println!(
        "clock read: MonotonicClock {:.1} ns, CoarseMonotonicClock {:.1} ns, FakeClock {:.1} ns, governor QuantaClock {quanta_ns:.1} ns",
        per_read(&MonotonicClock::new()),
        per_read(&CoarseMonotonicClock::new()),
        per_read(&FakeClock::new()),
    );
}

fn main() {
    if std::env::var("RL_PROFILE").as_deref() == Ok("clocks") {
        return clock_costs();
    }
    if let Ok(which) = std::env::var("RL_PROFILE") {
        return profile(&which);
    }
    if !std::env::args().any(|a| a == "--list" || a == "--test") {
        memory_per_key();
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
