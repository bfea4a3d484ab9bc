//! Metrics: HTTP server metrics for the public routes, served as
//! `/metrics` on a separate admin listener that the public router never
//! answers for.
//!
//! `METRICS_ADDR` picks the admin address: default `127.0.0.1:9464`
//! (loopback, the port OpenTelemetry's Prometheus exporter uses), port 0
//! picks a free one, `off` disables the listener. Expose it to your
//! Prometheus only, never to the internet.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hardening_metrics::exposition::MetricsService;
use hardening_metrics::http::HttpMetricsLayer;
use hardening_metrics::layers::LayerMetrics;
use prometheus_client::registry::Registry;

/// The admin address when `METRICS_ADDR` is not set.
pub(crate) const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// The registry and the layers that record into it.
pub(crate) struct Metrics {
    registry: Registry,
    http: HttpMetricsLayer,
    layers: LayerMetrics,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let http = HttpMetricsLayer::new(&mut registry);
        let layers = LayerMetrics::new(&mut registry);
        Self {
            registry,
            http,
            layers,
        }
    }

    /// The observers of the hardening layers (breaker, retry, health,
    /// redirect, rate limits), recording into the same registry.
    pub(crate) fn layers(&self) -> &LayerMetrics {
        &self.layers
    }

    /// Records the routes of `router` (429s from the limits included, since
    /// this wraps them; the probes are not counted). `http_route` is axum's
    /// route template; unmatched paths share one label.
    pub(crate) fn apply(&self, router: Router) -> Router {
        router.layer(self.http.clone())
    }

    /// Binds `METRICS_ADDR` and serves `/metrics` there in the background.
    pub(crate) async fn serve(self) -> Result<(), Box<dyn Error>> {
        let addr = std::env::var("METRICS_ADDR").unwrap_or_else(|_| DEFAULT_METRICS_ADDR.into());
        if addr.eq_ignore_ascii_case("off") {
            tracing::info!("metrics listener disabled (METRICS_ADDR=off)");
            return Ok(());
        }
        let addr: SocketAddr = addr
            .parse()
            .map_err(|err| format!("invalid METRICS_ADDR `{addr}`: {err}"))?;
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let admin =
            Router::new().route_service("/metrics", MetricsService::new(Arc::new(self.registry)));
        println!("metrics on http://{addr}/metrics");
        tracing::info!(%addr, "metrics listener started");
        tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, admin).await {
                tracing::error!(%err, "metrics listener failed");
            }
        });
        Ok(())
    }
}
