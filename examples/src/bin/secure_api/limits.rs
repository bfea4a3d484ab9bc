//! Per-client rate limits.
//!
//! (The layer arrives with `hardening-ratelimit`.)

use axum::Router;

use crate::cli::Config;

/// Adds the rate limits.
pub(crate) async fn apply(
    router: Router,
    _config: &Config,
) -> Result<Router, Box<dyn std::error::Error>> {
    Ok(router)
}
