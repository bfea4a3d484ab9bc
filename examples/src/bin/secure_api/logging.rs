//! Logging: JSON lines on stdout.
//!
//! (The redacting formatter and request spans arrive with `hardening-redact`.)

use axum::Router;

use crate::cli::Config;

/// Installs the global `tracing` subscriber.
pub(crate) fn init(_config: &Config) {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stdout)
        .init();
}

/// Adds request logging.
pub(crate) fn apply(router: Router) -> Router {
    router
}
