//! The `redis` and `redis-cluster` stores of `limiter-load`: many
//! concurrent decisions in flight on a Tokio runtime (a shared store's
//! throughput is round trips in flight, not threads).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardening_core::clock::{Clock, CoarseMonotonicClock};
use hardening_ratelimit::store::{FailurePolicy, MaybeReady, PolicyCheck, RateLimitStore};
use hardening_ratelimit::{Key, Policy, RedisStore};

use super::{ip, latency_percentiles, timer_overhead, LoadReport, Progress, RedisTarget, Target};

/// Decisions in flight per thread.
pub(super) const IN_FLIGHT_PER_THREAD: usize = 16;

fn store(target: &RedisTarget) -> Result<RedisStore, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let builder = match target {
        RedisTarget::Standalone(url) => RedisStore::builder(url.as_str()),
        RedisTarget::Cluster(urls) => RedisStore::cluster_builder(urls.iter().cloned()),
    };
    builder
        // one run's keys, apart from any other run's; they expire by TTL
        .key_prefix(format!("limiter-load:{}:{nanos}:", std::process::id()))
        .failure_policy(FailurePolicy::FailClosed)
        .timeout(Duration::from_secs(1))
        .build()
        .map_err(|e| e.to_string())
}

/// Runs the Redis target: `threads` runtime workers, each with
/// [`IN_FLIGHT_PER_THREAD`] tasks deciding over its key sequence.
///
/// # Errors
///
/// A message when the store cannot be built or a decision fails (a load
/// run against a failing Redis measures nothing worth reporting).
pub(super) fn run(
    target: &RedisTarget,
    threads: usize,
    sequences: &[Vec<u32>],
    policies: &[Policy],
    duration: Duration,
    progress: &mut dyn FnMut(Progress),
) -> Result<LoadReport, String> {
    let store = store(target)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(store.ping())
        .map_err(|e| format!("Redis is not answering: {e}"))?;
    let overhead = timer_overhead();
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    let policies: Arc<[Policy]> = policies.into();
    let clock = CoarseMonotonicClock::new();
    let start = Instant::now();
    let tasks: Vec<_> = (0..threads * IN_FLIGHT_PER_THREAD)
        .map(|t| {
            let keys = sequences[t % sequences.len()].clone();
            let (store, policies, stop, total) = (
                store.clone(),
                Arc::clone(&policies),
                Arc::clone(&stop),
                Arc::clone(&total),
            );
            runtime.spawn(async move {
                let (mut admitted, mut rejected, mut samples) = (0u64, 0u64, Vec::new());
                // tasks sharing a sequence start apart
                let mut i = t * 7919;
                while !stop.load(Ordering::Relaxed) {
                    let key = Key::ip(ip(keys[i % keys.len()]), 64);
                    let checks: Vec<PolicyCheck<'_>> =
                        policies.iter().map(|p| PolicyCheck::new(p, &key)).collect();
                    let t0 = Instant::now();
                    let decision = match store.check(&checks, clock.now()) {
                        MaybeReady::Ready(d) => d,
                        MaybeReady::Pending(f) => f.await,
                    };
                    if i % 64 == 0 {
                        samples.push((t0.elapsed().as_nanos() as u64).saturating_sub(overhead));
                    }
                    match decision {
                        Ok(d) if d.is_allowed() => admitted += 1,
                        Ok(_) => rejected += 1,
                        Err(err) => return Err(err.to_string()),
                    }
                    total.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                Ok((admitted, rejected, samples))
            })
        })
        .collect();
    while start.elapsed() < duration {
        std::thread::sleep(Duration::from_millis(100).min(duration));
        progress(Progress {
            target: Target::RedisStore,
            elapsed: start.elapsed(),
            decisions: total.load(Ordering::Relaxed),
        });
    }
    stop.store(true, Ordering::Relaxed);
    let (mut admitted, mut rejected, mut samples) = (0, 0, Vec::new());
    for task in tasks {
        let (a, r, s) = runtime
            .block_on(task)
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("a decision failed: {e}"))?;
        admitted += a;
        rejected += r;
        samples.extend(s);
    }
    let elapsed = start.elapsed();
    samples.sort_unstable();
    Ok(LoadReport {
        target: Target::RedisStore,
        decisions: admitted + rejected,
        admitted,
        rejected,
        elapsed,
        latency_ns: latency_percentiles(&samples),
        // the state lives in Redis, not in this process
        tracked: 0,
        bytes_per_key: 0.0,
    })
}
