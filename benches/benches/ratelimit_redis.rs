//! Decisions per second against a local Redis: `hardening-ratelimit`'s
//! `RedisStore` (exact GCRA, one `EVALSHA` round trip, all-or-nothing) beside
//! a naive fixed-window limiter (`INCR` + `EXPIRE` pipelined in one round
//! trip), both on the `redis` crate's `ConnectionManager`, with 1 and 32
//! concurrent callers, in one group (`ratelimit_redis`), on each topology
//! whose environment variable is set:
//!
//! - standalone: `REDIS_URL` (rows without a prefix),
//! - TLS: `REDIS_TLS_URL` (`rediss://…`) and `REDIS_TLS_CA` (rows `tls_…`),
//! - Redis Cluster: `REDIS_CLUSTER_URLS`, seed URLs comma-separated (rows
//!   `cluster_…`; the naive limiter on the `redis` crate's cluster client).
//!
//! ```text
//! redis-server --port 6390 --save '' --appendonly no --daemonize yes
//! REDIS_URL=redis://127.0.0.1:6390/ cargo bench -p hardening-benches --bench ratelimit_redis -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! (`.ci/run` shows how the TLS server and the cluster are started.)
//! Without any of them the bench prints a message and measures nothing.
//!
//! Every decision admits (1 024 clients in turn, a million per minute each:
//! a quota they never reach), so both limiters write on every call, and the
//! short-circuit (which would answer limited clients without Redis) is off. After the criterion group
//! the binary prints p50/p99 decision latency of each limiter at 1 and 32
//! callers, from a histogram of individually timed decisions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use hardening_ratelimit::store::{FailurePolicy, MaybeReady, PolicyCheck, RateLimitStore};
use hardening_ratelimit::{Key, Policy, Quota, RedisStore};
use redis::aio::ConnectionManager;

const CLIENTS: usize = 1024;
const PREFIX: &str = "bench:ratelimit_redis:";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Where to measure, from the environment.
enum Topology {
    Standalone(String),
    Tls { url: String, ca: String },
    Cluster(Vec<String>),
}

impl Topology {
    fn from_env() -> Vec<Topology> {
        let mut found = Vec::new();
        if let Some(url) = env("REDIS_URL") {
            found.push(Topology::Standalone(url));
        }
        if let (Some(url), Some(ca)) = (env("REDIS_TLS_URL"), env("REDIS_TLS_CA")) {
            found.push(Topology::Tls { url, ca });
        }
        if let Some(urls) = env("REDIS_CLUSTER_URLS") {
            found.push(Topology::Cluster(
                urls.split(',').map(|u| u.trim().to_owned()).collect(),
            ));
        }
        if found.is_empty() {
            eprintln!(
                "ratelimit_redis: none of REDIS_URL, REDIS_TLS_URL (+REDIS_TLS_CA), \
                 REDIS_CLUSTER_URLS is set; skipping (start redis-server and set \
                 REDIS_URL=redis://127.0.0.1:6379/ to run this bench)"
            );
        }
        found
    }

    /// The prefix of its benchmark ids.
    fn label(&self) -> &'static str {
        match self {
            Topology::Standalone(_) => "",
            Topology::Tls { .. } => "tls_",
            Topology::Cluster(_) => "cluster_",
        }
    }
}

/// Our limiter: the Redis store with one policy.
struct Gcra {
    store: RedisStore,
    policy: Policy,
    keys: Vec<Key>,
}

impl Gcra {
    async fn decide(&self, n: usize) -> bool {
        let checks = [PolicyCheck::new(&self.policy, &self.keys[n % CLIENTS])];
        let decision = match self.store.check(&checks, Duration::ZERO) {
            MaybeReady::Ready(d) => d,
            MaybeReady::Pending(f) => f.await,
        };
        decision.map(|d| d.is_allowed()).unwrap_or(false)
    }
}

/// A connection of the naive limiter.
#[derive(Clone)]
enum NaiveConn {
    Manager(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

/// The peer: a fixed one-minute window, `INCR` then `EXPIRE`, pipelined.
struct FixedWindow {
    conn: NaiveConn,
    keys: Vec<String>,
    limit: i64,
}

impl FixedWindow {
    async fn decide(&self, n: usize) -> bool {
        let window = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 60);
        let key = format!("{}{window}", self.keys[n % CLIENTS]);
        let mut pipe = redis::pipe();
        pipe.cmd("INCR")
            .arg(&key)
            .cmd("EXPIRE")
            .arg(&key)
            .arg(60)
            .ignore();
        let count: Result<(i64,), _> = match self.conn.clone() {
            NaiveConn::Manager(mut conn) => pipe.query_async(&mut conn).await,
            NaiveConn::Cluster(mut conn) => pipe.query_async(&mut conn).await,
        };
        count.is_ok_and(|(c,)| c <= self.limit)
    }
}

#[derive(Clone)]
enum Limiter {
    Gcra(Arc<Gcra>, &'static str),
    FixedWindow(Arc<FixedWindow>, &'static str),
}

impl Limiter {
    fn name(&self) -> String {
        match self {
            Limiter::Gcra(_, topology) => format!("{topology}hardening_redis_gcra"),
            Limiter::FixedWindow(_, topology) => format!("{topology}naive_incr_expire"),
        }
    }

    async fn decide(&self, n: usize) -> bool {
        match self {
            Limiter::Gcra(l, _) => l.decide(n).await,
            Limiter::FixedWindow(l, _) => l.decide(n).await,
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn limiters(rt: &tokio::runtime::Runtime, topology: &Topology) -> [Limiter; 2] {
    let builder = match topology {
        Topology::Standalone(url) => RedisStore::builder(url),
        Topology::Tls { url, ca } => RedisStore::builder(url).ca_file(ca),
        Topology::Cluster(urls) => RedisStore::cluster_builder(urls.iter().cloned()),
    };
    let store = builder
        .key_prefix(format!("{PREFIX}gcra:"))
        .failure_policy(FailurePolicy::FailClosed)
        .without_short_circuit()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("valid Redis URLs");
    // A million per minute: never reached, and (as the fixed window's
    // counters) a client's key lives for seconds, so Redis updates keys
    // rather than creating and expiring one per request.
    let quota = Quota::per_minute(NonZeroU32::new(1_000_000).unwrap());
    let gcra = Gcra {
        store,
        policy: Policy::new("api", quota),
        keys: (0..CLIENTS)
            .map(|i| Key::user(format!("user-{i}")))
            .collect(),
    };
    let conn = rt
        .block_on(async {
            match topology {
                Topology::Standalone(url) => {
                    let client = redis::Client::open(url.as_str())?;
                    ConnectionManager::new(client).await.map(NaiveConn::Manager)
                }
                Topology::Tls { url, ca } => {
                    let certs = redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(std::fs::read(ca).expect("REDIS_TLS_CA readable")),
                    };
                    let client = redis::Client::build_with_tls(url.as_str(), certs)?;
                    ConnectionManager::new(client).await.map(NaiveConn::Manager)
                }
                Topology::Cluster(urls) => {
                    let client = redis::cluster::ClusterClient::new(urls.clone())?;
                    client.get_async_connection().await.map(NaiveConn::Cluster)
                }
            }
        })
        .expect("connect to Redis");
    let naive = FixedWindow {
        conn,
        keys: (0..CLIENTS)
            .map(|i| format!("{PREFIX}naive:api:user-{i}:"))
            .collect(),
        limit: 1_000_000,
    };
    let label = topology.label();
    [
        Limiter::Gcra(Arc::new(gcra), label),
        Limiter::FixedWindow(Arc::new(naive), label),
    ]
}

/// `total` decisions by `callers` concurrent tasks.
async fn run(limiter: &Limiter, callers: usize, total: u64) -> Duration {
    let per_task = total.div_ceil(callers as u64);
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|t| {
            let limiter = limiter.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    black_box(limiter.decide(t * 31 + i as usize).await);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("bench task");
    }
    let elapsed = start.elapsed();
    // scale to exactly `total` decisions
    elapsed.mul_f64(total as f64 / (per_task * callers as u64) as f64)
}

fn bench(c: &mut Criterion) {
    let topologies = Topology::from_env();
    if topologies.is_empty() {
        return;
    }
    let rt = runtime();
    let limiters: Vec<Limiter> = topologies.iter().flat_map(|t| limiters(&rt, t)).collect();
    let mut group = c.benchmark_group("ratelimit_redis");
    group.throughput(Throughput::Elements(1));
    for callers in [1usize, 32] {
        for limiter in &limiters {
            group.bench_with_input(
                BenchmarkId::new(limiter.name(), format!("{callers}_callers")),
                &callers,
                |b, &callers| {
                    b.to_async(&rt)
                        .iter_custom(|iters| run(limiter, callers, iters));
                },
            );
        }
    }
    group.finish();
    latency_report(&rt, &limiters);
}

/// A histogram of decision latencies in microseconds (1 µs buckets up to
/// 100 ms, one overflow bucket).
struct Histogram {
    buckets: Vec<u64>,
}

impl Histogram {
    const MAX_US: usize = 100_000;

    fn new() -> Self {
        Self {
            buckets: vec![0; Self::MAX_US + 1],
        }
    }

    fn record(&mut self, d: Duration) {
        let us = usize::try_from(d.as_micros()).unwrap_or(usize::MAX);
        self.buckets[us.min(Self::MAX_US)] += 1;
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }

    fn percentile(&self, p: f64) -> usize {
        let total: u64 = self.buckets.iter().sum();
        let target = ((total as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (us, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return us;
            }
        }
        Self::MAX_US
    }
}

fn latency_report(rt: &tokio::runtime::Runtime, limiters: &[Limiter]) {
    const PER_RUN: usize = 20_000;
    println!("\nratelimit_redis decision latency ({PER_RUN} decisions per row)");
    println!(
        "{:<32} {:>8} {:>10} {:>10} {:>14}",
        "limiter", "callers", "p50 (µs)", "p99 (µs)", "decisions/s"
    );
    for callers in [1usize, 32] {
        for limiter in limiters {
            let (hist, elapsed) = rt.block_on(async {
                let per_task = PER_RUN / callers;
                let start = Instant::now();
                let tasks: Vec<_> = (0..callers)
                    .map(|t| {
                        let limiter = limiter.clone();
                        tokio::spawn(async move {
                            let mut hist = Histogram::new();
                            for i in 0..per_task {
                                let t0 = Instant::now();
                                black_box(limiter.decide(t * 31 + i).await);
                                hist.record(t0.elapsed());
                            }
                            hist
                        })
                    })
                    .collect();
                let mut all = Histogram::new();
                for task in tasks {
                    all.merge(&task.await.expect("latency task"));
                }
                (all, start.elapsed())
            });
            println!(
                "{:<32} {:>8} {:>10} {:>10} {:>14.0}",
                limiter.name(),
                callers,
                hist.percentile(0.50),
                hist.percentile(0.99),
                PER_RUN as f64 / elapsed.as_secs_f64()
            );
        }
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
