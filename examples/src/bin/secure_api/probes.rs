//! Health probes and graceful shutdown.
//!
//! (The endpoints arrive with `hardening-health`.)

use axum::Router;

use crate::cli::Config;
use crate::upstream::Upstream;

/// The probes and the shutdown signal.
pub(crate) struct Probes {}

impl Probes {
    pub(crate) async fn new(
        _config: &Config,
        _upstream: &Upstream,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Probes {})
    }

    /// Adds the probe endpoints.
    pub(crate) fn apply(&self, router: Router) -> Router {
        router
    }

    /// Resolves on SIGINT or SIGTERM.
    pub(crate) async fn shutdown_signal(self) {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut sig) => {
                    sig.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = term => {},
        }
        tracing::info!("shutdown signal received");
    }
}
