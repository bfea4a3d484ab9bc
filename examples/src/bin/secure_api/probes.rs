//! Health probes and graceful shutdown.
//!
//! - `/livez`: the process is up (no dependency checks: a Redis outage must
//!   not make Kubernetes restart every replica).
//! - `/readyz`: the upstream (a TCP connect, and the state of its circuit
//!   breaker), Redis (`PING`, when `REDIS_URL` is set), and the shutdown
//!   flag.
//! - `/health`: the full `application/health+json` report, with details for
//!   requests from this machine only.
//!
//! The dependency checks are `Degrading`: when the upstream is down only
//! `/llm/complete` suffers, so the instance reports `warn` (still `200`)
//! instead of leaving the load balancer with no instance at all.
//!
//! On SIGTERM or Ctrl-C, `/readyz` fails at once while `/livez` stays `200`;
//! after `DRAIN_DELAY_MS` (default 5000) the server stops accepting and
//! finishes the requests in flight, for at most `SHUTDOWN_DEADLINE_MS`
//! (default 10000): then the remaining connections (a client trickling a
//! body, say) are closed and the process exits. A second signal, during the
//! drain or after it, exits at once. Drain plus deadline stay under
//! Kubernetes' default 30 s grace period.
//!
//! Settings (environment): `DRAIN_DELAY_MS`, `SHUTDOWN_DEADLINE_MS`,
//! `HEALTH_CACHE_TTL_MS` (how long a check result is reused, default 1000).

use std::time::Duration;

use axum::Router;
use hardening_health::checks::{BreakerCheck, RedisPing, TcpCheck};
use hardening_health::{Check, Criticality, Details, Health, ShutdownPhases};
use hardening_metrics::layers::LayerMetrics;

use crate::cli::Config;
use crate::upstream::Upstream;

/// The probes and the shutdown signal.
pub(crate) struct Probes {
    health: Health,
    shutdown_deadline: Duration,
}

/// Default of `SHUTDOWN_DEADLINE_MS`.
const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

impl Probes {
    pub(crate) async fn new(
        config: &Config,
        upstream: &Upstream,
        metrics: &LayerMetrics,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let drain_delay = env_millis("DRAIN_DELAY_MS", Health::DEFAULT_DRAIN_DELAY)?;
        let cache_ttl = env_millis("HEALTH_CACHE_TTL_MS", Check::DEFAULT_TTL)?;
        let shutdown_deadline = env_millis("SHUTDOWN_DEADLINE_MS", DEFAULT_SHUTDOWN_DEADLINE)?;

        // A reverse proxy on this host relays requests from loopback: when
        // proxies are configured, look through them for the real client.
        let details = if config.trusted_proxies.networks().is_empty() {
            Details::loopback()
        } else {
            Details::loopback_client(config.trusted_proxies.clone())
        };

        let mut health = Health::builder()
            .service_id("secure_api")
            .version("1")
            .release_id(env!("CARGO_PKG_VERSION"))
            .description("hardening example API")
            .details(details)
            .drain_delay(drain_delay)
            .observer(metrics.health());

        health = health
            .check(
                Check::new("upstream:responseTime", TcpCheck::new(upstream.addr())?)
                    .component_type("component")
                    .criticality(Criticality::Degrading)
                    .timeout(Duration::from_millis(500))
                    .cache_ttl(cache_ttl),
            )
            .check(
                Check::new(
                    "upstream:circuitState",
                    BreakerCheck::new(upstream.breaker().clone()),
                )
                .component_type("component")
                .criticality(Criticality::Degrading)
                .cache_ttl(cache_ttl),
            );
        if let Some(url) = &config.redis_url {
            health = health.check(
                Check::new("redis:responseTime", RedisPing::from_url(url)?)
                    .component_type("datastore")
                    .criticality(Criticality::Degrading)
                    .timeout(Duration::from_millis(500))
                    .cache_ttl(cache_ttl),
            );
        }
        Ok(Probes {
            health: health.build()?,
            shutdown_deadline,
        })
    }

    /// Adds the probe endpoints.
    pub(crate) fn apply(&self, router: Router) -> Router {
        router.layer(self.health.layer())
    }

    /// Listens for SIGINT/SIGTERM from now on: the first fails readiness at
    /// once and, after the drain delay, resolves `graceful()` (stop
    /// accepting); `forced()` resolves `SHUTDOWN_DEADLINE_MS` later or at a
    /// second signal (close what is left).
    pub(crate) fn shutdown_phases(&self) -> ShutdownPhases {
        self.health
            .shutdown_on_signal_with_deadline(self.shutdown_deadline)
    }
}

/// A whole number of milliseconds from the environment, or `default`.
fn env_millis(
    name: &'static str,
    default: Duration,
) -> Result<Duration, Box<dyn std::error::Error>> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(value) => value
            .trim()
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("invalid {name} `{value}`: expected whole milliseconds").into()),
    }
}
