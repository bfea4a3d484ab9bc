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
//! Settings: `[health]` in the config file — `drain_delay_ms`,
//! `shutdown_deadline_ms`, `cache_ttl_ms` (how long a check result is
//! reused, default 1000); or `DRAIN_DELAY_MS`, `SHUTDOWN_DEADLINE_MS`,
//! `HEALTH_CACHE_TTL_MS`.

use std::time::Duration;

use axum::Router;
use hardening_health::checks::{BreakerCheck, RedisPing, TcpCheck};
use hardening_health::{Check, Criticality, Details, Health, ShutdownPhases};
use hardening_metrics::layers::LayerMetrics;

use crate::config::Config;
use crate::upstream::Upstream;

/// The probes and the shutdown signal.
pub(crate) struct Probes {
    health: Health,
    shutdown_deadline: Duration,
}

impl Probes {
    pub(crate) async fn new(
        config: &Config,
        upstream: &Upstream,
        metrics: &LayerMetrics,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let drain_delay = config.health.drain_delay;
        let cache_ttl = config.health.cache_ttl;
        let shutdown_deadline = config.health.shutdown_deadline;

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
