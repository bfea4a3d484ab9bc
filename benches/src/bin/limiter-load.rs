//! `limiter-load`: how many rate-limit decisions per second this machine
//! makes, at what latency and memory, for your policies and key count.
//!
//! ```text
//! cargo run --release -p hardening-benches --bin limiter-load -- \
//!   --store memory --threads 2 --keys 1000000 \
//!   --policies auth=5/min,api=60/min --duration 10s [--zipf 1.1] [--layer] \
//!   [--compare governor] [--json]
//! REDIS_URL=redis://127.0.0.1:6379/ cargo run --release -p hardening-benches --bin limiter-load -- \
//!   --store redis --keys 100000 --duration 10s
//! REDIS_CLUSTER_URLS=redis://127.0.0.1:7000/,redis://127.0.0.1:7001/ cargo run --release \
//!   -p hardening-benches --bin limiter-load -- --store redis-cluster --keys 100000
//! ```
//!
//! `--store redis` takes its URL from `--redis-url` or `REDIS_URL`;
//! `--store redis-cluster` its seed URLs from `--redis-urls A,B,…` or
//! `REDIS_CLUSTER_URLS`.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use hardening_benches::limiter_load::{
    json, parse_duration, parse_policy, run, table, Distribution, LoadConfig, RedisTarget, Target,
};

const USAGE: &str = "usage: limiter-load [--store memory|redis|redis-cluster] \
[--redis-url URL] [--redis-urls URL,...] [--threads N] [--keys N] \
[--zipf S] [--policies name=COUNT/UNIT,...] [--duration 10s] [--layer] \
[--compare governor] [--json]";

/// Which store `--store` named.
enum StoreArg {
    Memory,
    Redis,
    RedisCluster,
}

fn parse(args: impl Iterator<Item = String>) -> Result<(LoadConfig, bool), String> {
    let mut config = LoadConfig {
        threads: 2,
        keys: 1_000_000,
        distribution: Distribution::Uniform,
        policies: vec![parse_policy("auth=5/min")?, parse_policy("api=60/min")?],
        duration: Duration::from_secs(10),
        targets: vec![Target::Store],
        redis: None,
    };
    let mut json = false;
    let mut store = StoreArg::Memory;
    let mut redis_url = std::env::var("REDIS_URL").ok();
    let mut redis_urls = std::env::var("REDIS_CLUSTER_URLS").ok();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--store" => {
                store = match value("--store")?.as_str() {
                    "memory" => StoreArg::Memory,
                    "redis" => StoreArg::Redis,
                    "redis-cluster" => StoreArg::RedisCluster,
                    other => {
                        return Err(format!(
                            "unknown store `{other}` (memory, redis, redis-cluster)"
                        ))
                    }
                }
            }
            "--redis-url" => redis_url = Some(value("--redis-url")?),
            "--redis-urls" => redis_urls = Some(value("--redis-urls")?),
            "--threads" => {
                config.threads = value("--threads")?
                    .parse()
                    .map_err(|_| "--threads: a number".to_owned())?
            }
            "--keys" => {
                config.keys = value("--keys")?
                    .parse()
                    .map_err(|_| "--keys: a number".to_owned())?
            }
            "--zipf" => {
                let s: f64 = value("--zipf")?
                    .parse()
                    .map_err(|_| "--zipf: a number".to_owned())?;
                config.distribution = Distribution::Zipf(s);
            }
            "--policies" => {
                config.policies = value("--policies")?
                    .split(',')
                    .map(parse_policy)
                    .collect::<Result<_, _>>()?
            }
            "--duration" => config.duration = parse_duration(&value("--duration")?)?,
            "--layer" => {
                if !config.targets.contains(&Target::Layer) {
                    config.targets.push(Target::Layer);
                }
            }
            "--compare" => match value("--compare")?.as_str() {
                "governor" => config.targets.push(Target::Governor),
                other => return Err(format!("unknown peer `{other}` (governor)")),
            },
            "--json" => json = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let redis = match store {
        StoreArg::Memory => None,
        StoreArg::Redis => Some(RedisTarget::Standalone(
            redis_url
                .filter(|u| !u.is_empty())
                .ok_or("--store redis needs --redis-url or REDIS_URL")?,
        )),
        StoreArg::RedisCluster => {
            let urls: Vec<String> = redis_urls
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            if urls.is_empty() {
                return Err(
                    "--store redis-cluster needs --redis-urls or REDIS_CLUSTER_URLS".into(),
                );
            }
            Some(RedisTarget::Cluster(urls))
        }
    };
    if redis.is_some() {
        config.targets[0] = Target::RedisStore;
        config.redis = redis;
    }
    Ok((config, json))
}

fn main() -> ExitCode {
    let (config, as_json) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let mut last = Duration::ZERO;
    let result = run(&config, |p| {
        if p.elapsed >= last + Duration::from_secs(1) || p.elapsed < last {
            last = p.elapsed;
            eprintln!(
                "{:>16} {:>5.1}s {:>12} decisions ({:.0}/s)",
                p.target.name(),
                p.elapsed.as_secs_f64(),
                p.decisions,
                p.decisions as f64 / p.elapsed.as_secs_f64().max(1e-9)
            );
            let _ = std::io::stderr().flush();
        }
    });
    match result {
        Ok(reports) => {
            if as_json {
                println!("{}", json(&reports));
            } else {
                print!("{}", table(&config, &reports));
            }
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
