//! The core of the `limiter-load` binary: drives `hardening-ratelimit`'s
//! in-memory store (or its whole layer, or `governor`'s keyed limiter, or
//! its Redis store on a standalone Redis or a Redis Cluster) from several
//! threads over a key distribution and reports throughput, latency and
//! memory.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_benches::limiter_load::{run, Distribution, LoadConfig, Target};
//!
//! let config = LoadConfig {
//!     threads: 1,
//!     keys: 100,
//!     distribution: Distribution::Uniform,
//!     policies: vec![("api".into(), 60, Duration::from_secs(60))],
//!     duration: Duration::from_millis(20),
//!     targets: vec![Target::Store],
//!     redis: None,
//! };
//! let reports = run(&config, |_| {}).unwrap();
//! let r = &reports[0];
//! assert_eq!(r.admitted + r.rejected, r.decisions);
//! ```

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::{ready, Future, Ready};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, RateLimiter};
use hardening_core::clock::{Clock, CoarseMonotonicClock};
use hardening_core::PeerAddr;
use hardening_ratelimit::store::{MaybeReady, PolicyCheck, RateLimitStore};
use hardening_ratelimit::{InMemoryStore, Key, Policy, Quota, RateLimitLayer};

mod redis;
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

/// How client keys are drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Every key equally likely.
    Uniform,
    /// Zipf with exponent `s`: key `k` (from 1) drawn with weight `1 / k^s`
    /// (a few hot clients, a long tail).
    Zipf(f64),
}

/// What a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `InMemoryStore::check` with every policy, no HTTP.
    Store,
    /// The whole `RateLimitLayer` (default headers on) around a no-op
    /// service, building one request per decision.
    Layer,
    /// `governor`'s keyed limiter, one per policy, checked in turn.
    Governor,
    /// `RedisStore::check` with every policy on [`LoadConfig::redis`],
    /// 16 decisions in flight per thread (FailClosed: a failed decision
    /// fails the run). `tracked` and bytes per key are not measured: the
    /// state lives in Redis.
    RedisStore,
}

/// Where the [`Target::RedisStore`] runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisTarget {
    /// A standalone Redis at this URL.
    Standalone(String),
    /// A Redis Cluster reached through these seed URLs.
    Cluster(Vec<String>),
}

impl Target {
    /// The name printed in the table.
    pub fn name(self) -> &'static str {
        match self {
            Target::Store => "hardening store",
            Target::Layer => "hardening layer",
            Target::Governor => "governor keyed",
            Target::RedisStore => "hardening redis store",
        }
    }
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Threads issuing decisions.
    pub threads: usize,
    /// Distinct client keys (IPv4 addresses).
    pub keys: u32,
    /// How keys are drawn.
    pub distribution: Distribution,
    /// `(name, count, window)` of every policy; each request is checked
    /// against all of them.
    pub policies: Vec<(String, u32, Duration)>,
    /// How long each target runs.
    pub duration: Duration,
    /// What to measure, in turn.
    pub targets: Vec<Target>,
    /// The Redis of [`Target::RedisStore`].
    pub redis: Option<RedisTarget>,
}

/// The result of one target.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadReport {
    /// Which target.
    pub target: Target,
    /// Decisions made.
    pub decisions: u64,
    /// Requests admitted.
    pub admitted: u64,
    /// Requests rejected.
    pub rejected: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Decision latency percentiles p50, p99, p99.9 in nanoseconds (sampled,
    /// one decision in 64, timer overhead subtracted).
    pub latency_ns: [u64; 3],
    /// States tracked at the end (one per policy and key).
    pub tracked: usize,
    /// Resident memory growth per tracked state, in bytes.
    pub bytes_per_key: f64,
}

impl LoadReport {
    /// Decisions per second.
    pub fn per_second(&self) -> f64 {
        self.decisions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Progress while a target runs.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Which target.
    pub target: Target,
    /// Time since it started.
    pub elapsed: Duration,
    /// Decisions so far.
    pub decisions: u64,
}

/// Parses `name=COUNT/UNIT` (`s`, `min`, `h`, or a duration like `10s`).
pub fn parse_policy(s: &str) -> Result<(String, u32, Duration), String> {
    let (name, rate) = s
        .split_once('=')
        .ok_or_else(|| format!("policy `{s}`: expected name=COUNT/UNIT"))?;
    let (count, unit) = rate
        .split_once('/')
        .ok_or_else(|| format!("policy `{s}`: expected COUNT/UNIT"))?;
    let count: u32 = count
        .parse()
        .map_err(|_| format!("policy `{s}`: bad count `{count}`"))?;
    let window = match unit {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        other => parse_duration(other)?,
    };
    Quota::new(count, window).map_err(|e| format!("policy `{s}`: {e}"))?;
    Ok((name.to_owned(), count, window))
}

/// Parses `500ms`, `10s`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("bad duration `{s}`"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" | "min" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("bad duration unit in `{s}` (ms, s, m)")),
    }
}

/// A small xorshift generator: the key sequence, not security.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Key indices for one thread, drawn before the timed run.
fn key_sequence(config: &LoadConfig, thread: usize, cdf: Option<&[f64]>) -> Vec<u32> {
    let len = (config.keys as usize).clamp(1 << 12, 1 << 20);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ (thread as u64 + 1).wrapping_mul(0xA24B_AED4));
    (0..len)
        .map(|_| match cdf {
            None => (rng.next() % u64::from(config.keys.max(1))) as u32,
            Some(cdf) => {
                let u = rng.unit();
                cdf.partition_point(|p| *p < u).min(cdf.len() - 1) as u32
            }
        })
        .collect()
}

fn zipf_cdf(keys: u32, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=keys.max(1))
        .map(|k| {
            acc += 1.0 / f64::from(k).powf(s);
            acc
        })
        .collect();
    for p in &mut cdf {
        *p /= acc;
    }
    cdf
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000u32.wrapping_add(n)))
}

fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The cost of one pair of `Instant::now` reads, subtracted from samples.
fn timer_overhead() -> u64 {
    let mut v: Vec<u64> = (0..1001)
        .map(|_| {
            let t = Instant::now();
            t.elapsed().as_nanos() as u64
        })
        .collect();
    v.sort_unstable();
    v[500]
}

/// A ready service that answers an empty `200`.
#[derive(Clone, Copy)]
struct Noop;

impl Service<Request<()>> for Noop {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<()>) -> Self::Future {
        ready(Ok(Response::new(())))
    }
}

fn drive<S: Service<Request<()>, Response = Response<B>>, B>(
    svc: &mut S,
    req: Request<()>,
) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    if !matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
        return false;
    }
    let fut = pin!(svc.call(req));
    match fut.poll(&mut cx) {
        Poll::Ready(Ok(res)) => res.status() != StatusCode::TOO_MANY_REQUESTS,
        _ => false,
    }
}

/// What one thread counted.
#[derive(Default)]
struct ThreadCount {
    admitted: u64,
    rejected: u64,
    samples: Vec<u64>,
}

/// Runs `decide` over `keys` until `stop`, counting and sampling.
fn hammer(
    keys: &[u32],
    stop: &AtomicBool,
    total: &AtomicU64,
    overhead: u64,
    mut decide: impl FnMut(u32) -> bool,
) -> ThreadCount {
    let mut count = ThreadCount::default();
    let mut i = 0usize;
    loop {
        for _ in 0..1024 {
            let key = keys[i % keys.len()];
            let ok = if i % 64 == 0 {
                let t = Instant::now();
                let ok = decide(key);
                count
                    .samples
                    .push((t.elapsed().as_nanos() as u64).saturating_sub(overhead));
                ok
            } else {
                decide(key)
            };
            if ok {
                count.admitted += 1;
            } else {
                count.rejected += 1;
            }
            i += 1;
        }
        total.fetch_add(1024, Ordering::Relaxed);
        if stop.load(Ordering::Relaxed) {
            return count;
        }
    }
}

/// p50, p99 and p99.9 of sorted latency samples (`LoadReport::latency_ns`).
fn latency_percentiles(sorted: &[u64]) -> [u64; 3] {
    [
        percentile(sorted, 0.5),
        percentile(sorted, 0.99),
        percentile(sorted, 0.999),
    ]
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs every target of `config` in turn, calling `progress` about ten
/// times a second.
///
/// # Errors
///
/// A message when a policy is invalid.
pub fn run(
    config: &LoadConfig,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<LoadReport>, String> {
    let mut quotas = Vec::new();
    for (name, count, window) in &config.policies {
        let q = Quota::new(*count, *window).map_err(|e| e.to_string())?;
        quotas.push((name.clone(), q));
    }
    if quotas.is_empty() {
        return Err("at least one policy".into());
    }
    let threads = config.threads.max(1);
    let cdf = match config.distribution {
        Distribution::Zipf(s) => Some(zipf_cdf(config.keys, s)),
        Distribution::Uniform => None,
    };
    let sequences: Vec<Vec<u32>> = (0..threads)
        .map(|t| key_sequence(config, t, cdf.as_deref()))
        .collect();
    drop(cdf);
    let overhead = timer_overhead();
    // Room for every key with slack: at exactly the cap, a new key racing
    // its own insert may be counted under the overflow bucket.
    let max_keys = (config.keys as usize).saturating_mul(2).max(1024);
    let mut reports = Vec::new();
    for &target in &config.targets {
        if target == Target::RedisStore {
            let redis = config
                .redis
                .as_ref()
                .ok_or("the redis store needs a Redis (LoadConfig::redis)")?;
            let policies: Vec<Policy> = quotas
                .iter()
                .map(|(name, q)| Policy::new(name.clone(), *q))
                .collect();
            reports.push(redis::run(
                redis,
                threads,
                &sequences,
                &policies,
                config.duration,
                &mut progress,
            )?);
            continue;
        }
        let stop = AtomicBool::new(false);
        let total = AtomicU64::new(0);
        let before = resident_bytes();
        let policies: Vec<Policy> = quotas
            .iter()
            .map(|(name, q)| Policy::new(name.clone(), *q))
            .collect();
        let store = InMemoryStore::with_max_keys(max_keys).map_err(|e| e.to_string())?;
        let layer_store =
            std::sync::Arc::new(InMemoryStore::with_max_keys(max_keys).map_err(|e| e.to_string())?);
        let governors: Vec<DefaultKeyedRateLimiter<u32>> = quotas
            .iter()
            .map(|(_, q)| {
                let gq = governor::Quota::with_period(q.period())
                    .unwrap_or_else(|| governor::Quota::per_second(NonZeroU32::MIN))
                    .allow_burst(q.burst());
                RateLimiter::keyed(gq)
            })
            .collect();
        let service = match target {
            Target::Layer => {
                let mut b = RateLimitLayer::builder().store(layer_store.clone());
                for p in &policies {
                    b = b.policy(p.clone());
                }
                Some(b.build().map_err(|e| e.to_string())?.layer(Noop))
            }
            _ => None,
        };
        let clock = CoarseMonotonicClock::new();
        let start = Instant::now();
        let counts: Vec<ThreadCount> = std::thread::scope(|s| {
            let handles: Vec<_> = sequences
                .iter()
                .map(|keys| {
                    let (stop, total, store, policies, governors, clock) =
                        (&stop, &total, &store, &policies, &governors, &clock);
                    let mut service = service.clone();
                    s.spawn(move || match target {
                        Target::Store => hammer(keys, stop, total, overhead, |k| {
                            let key = Key::ip(ip(k), 64);
                            let mut checks = [PolicyCheck::new(&policies[0], &key); 4];
                            let n = policies.len().min(4);
                            for (c, p) in checks.iter_mut().zip(policies).skip(1) {
                                *c = PolicyCheck::new(p, &key);
                            }
                            let decided = if policies.len() <= 4 {
                                store.check(&checks[..n], clock.now())
                            } else {
                                let all: Vec<_> =
                                    policies.iter().map(|p| PolicyCheck::new(p, &key)).collect();
                                store.check(&all, clock.now())
                            };
                            matches!(decided, MaybeReady::Ready(Ok(d)) if d.is_allowed())
                        }),
                        Target::Layer => {
                            let svc = service.as_mut().expect("layer target has a service");
                            hammer(keys, stop, total, overhead, |k| {
                                let mut req = Request::new(());
                                req.extensions_mut()
                                    .insert(PeerAddr(SocketAddr::new(ip(k), 40_000)));
                                drive(svc, req)
                            })
                        }
                        Target::Governor => hammer(keys, stop, total, overhead, |k| {
                            governors.iter().all(|g| g.check_key(&k).is_ok())
                        }),
                        Target::RedisStore => unreachable!("run by redis::run"),
                    })
                })
                .collect();
            while start.elapsed() < config.duration {
                std::thread::sleep(Duration::from_millis(100).min(config.duration));
                progress(Progress {
                    target,
                    elapsed: start.elapsed(),
                    decisions: total.load(Ordering::Relaxed),
                });
            }
            stop.store(true, Ordering::Relaxed);
            handles
                .into_iter()
                .map(|h| h.join().expect("load thread"))
                .collect()
        });
        let elapsed = start.elapsed();
        let tracked = match target {
            Target::Store => store.tracked_keys(),
            Target::Layer => layer_store.tracked_keys(),
            Target::Governor => governors.iter().map(|g| g.len()).sum(),
            Target::RedisStore => 0,
        };
        let grown = resident_bytes().saturating_sub(before);
        let mut samples: Vec<u64> = Vec::new();
        let (mut admitted, mut rejected) = (0, 0);
        for c in counts {
            admitted += c.admitted;
            rejected += c.rejected;
            samples.extend(c.samples);
        }
        samples.sort_unstable();
        // The samples are measurement memory, not the limiter's.
        let sample_bytes = (samples.capacity() * 8) as u64;
        reports.push(LoadReport {
            target,
            decisions: admitted + rejected,
            admitted,
            rejected,
            elapsed,
            latency_ns: latency_percentiles(&samples),
            tracked,
            bytes_per_key: grown.saturating_sub(sample_bytes) as f64 / tracked.max(1) as f64,
        });
    }
    Ok(reports)
}

/// The reports as a Markdown table, ready to paste into an issue.
pub fn table(config: &LoadConfig, reports: &[LoadReport]) -> String {
    let mut out = String::new();
    let policies: Vec<String> = config
        .policies
        .iter()
        .map(|(n, c, w)| format!("{n}={c}/{}s", w.as_secs()))
        .collect();
    let _ = writeln!(
        out,
        "threads {}, keys {}, {:?}, policies {}, {:?} each",
        config.threads,
        config.keys,
        config.distribution,
        policies.join(","),
        config.duration
    );
    out.push_str(
        "| target | decisions/s | admitted | rejected | p50 | p99 | p99.9 | tracked | B/key |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {} | {} | {} ns | {} ns | {} ns | {} | {:.1} |",
            r.target.name(),
            r.per_second(),
            r.admitted,
            r.rejected,
            r.latency_ns[0],
            r.latency_ns[1],
            r.latency_ns[2],
            r.tracked,
            r.bytes_per_key
        );
    }
    out
}

/// The reports as one JSON document.
pub fn json(reports: &[LoadReport]) -> String {
    let items: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "target": r.target.name(),
                "decisions": r.decisions,
                "decisions_per_sec": r.per_second(),
                "admitted": r.admitted,
                "rejected": r.rejected,
                "elapsed_secs": r.elapsed.as_secs_f64(),
                "latency_ns": {"p50": r.latency_ns[0], "p99": r.latency_ns[1], "p999": r.latency_ns[2]},
                "tracked": r.tracked,
                "bytes_per_key": r.bytes_per_key,
            })
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tool's core on tiny settings: every decision is counted once,
    /// the quota is enforced (5 keys × 3 per minute admit at most 15 per
    /// policy set), and every target reports its keys.
    #[test]
    fn smoke_counts_add_up() {
        let config = LoadConfig {
            threads: 2,
            keys: 5,
            distribution: Distribution::Zipf(1.1),
            policies: vec![
                parse_policy("auth=3/min").unwrap(),
                parse_policy("api=60/min").unwrap(),
            ],
            duration: Duration::from_millis(70),
            targets: vec![Target::Store, Target::Layer, Target::Governor],
            redis: None,
        };
        let mut ticks = 0;
        let reports = run(&config, |_| ticks += 1).unwrap();
        assert!(ticks > 0, "progress was reported");
        assert_eq!(reports.len(), 3);
        for r in &reports {
            assert!(r.decisions >= 1024, "{r:?}");
            assert_eq!(r.admitted + r.rejected, r.decisions, "{r:?}");
            assert!(r.admitted <= 15, "auth=3/min over 5 keys: {r:?}");
            assert!(r.admitted >= 1, "{r:?}");
            assert!(r.latency_ns[0] <= r.latency_ns[1] && r.latency_ns[1] <= r.latency_ns[2]);
        }
        // all or nothing: ours track both policies for every key seen
        assert_eq!(reports[0].tracked % 2, 0);
        assert!(table(&config, &reports).contains("| hardening store |"));
        let v: serde_json::Value = serde_json::from_str(&json(&reports)).unwrap();
        assert_eq!(v[2]["target"], "governor keyed");
    }

    #[test]
    fn parses_policies_and_durations() {
        assert_eq!(
            parse_policy("auth=5/min").unwrap(),
            ("auth".to_owned(), 5, Duration::from_secs(60))
        );
        assert_eq!(parse_policy("x=2/10s").unwrap().2, Duration::from_secs(10));
        assert!(parse_policy("auth=0/min").is_err());
        assert!(parse_policy("auth").is_err());
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("3 weeks").is_err());
    }
}
