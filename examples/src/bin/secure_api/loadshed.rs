//! Load shedding: a concurrency limit in front of the routes
//! (`hardening-loadshed`), so too much total work is refused at once
//! instead of making every request slower.
//!
//! - Requests under `load_shedding.sheddable` (`/llm`) are refused first,
//!   those under `load_shedding.critical` (`/auth`) keep a reserved share
//!   (`critical_share`); the rest are `default` and keep `default_share`.
//! - Refused requests get `503` with `Retry-After` and a problem+json body.
//! - The limit follows latency (`gradient2` by default; `fixed`, `aimd`,
//!   `vegas`), between `min_limit` and `max_limit`.
//! - The probes are answered by an outer layer (`probes.rs`) and never reach
//!   this one; they are listed as bypass paths too, so a reordering cannot
//!   make them sheddable.
//! - It sits inside the rate limits: a request a rate limit refuses takes
//!   no slot.

use axum::Router;
use hardening_loadshed::algorithm::{Aimd, Fixed, Gradient2, Vegas};
use hardening_loadshed::{ConcurrencyLimitLayer, PathClassifier};
use hardening_metrics::layers::LayerMetrics;

use crate::config::{LoadShedConfig, ShedAlgorithm};

/// The `limiter` label of its metrics (`hardening_concurrency_*`).
pub(crate) const LIMITER_NAME: &str = "routes";

/// Paths that are never shed.
const PROBES: &[&str] = &["/livez", "/readyz", "/health"];

/// Adds the concurrency limit to `router` (nothing when disabled).
pub(crate) fn apply(
    router: Router,
    config: &LoadShedConfig,
    metrics: &LayerMetrics,
) -> Result<Router, Box<dyn std::error::Error>> {
    if !config.enabled {
        return Ok(router);
    }
    Ok(router.layer(layer(config, metrics)?))
}

fn layer(
    config: &LoadShedConfig,
    metrics: &LayerMetrics,
) -> Result<ConcurrencyLimitLayer, Box<dyn std::error::Error>> {
    let mut classify = PathClassifier::new();
    for prefix in &config.critical {
        classify = classify.critical(prefix.as_str());
    }
    for prefix in &config.sheddable {
        classify = classify.sheddable(prefix.as_str());
    }
    let (initial, min, max) = (config.limit, config.min_limit, config.max_limit);
    let mut builder = ConcurrencyLimitLayer::builder()
        .classify(classify)
        .shares(config.shares)
        .retry_after(config.retry_after)
        .observer(metrics.concurrency(LIMITER_NAME));
    builder = match config.algorithm {
        ShedAlgorithm::Fixed => builder.algorithm(Fixed::new(initial)?),
        ShedAlgorithm::Aimd => builder.algorithm(
            Aimd::builder()
                .initial_limit(initial)
                .min_limit(min)
                .max_limit(max)
                .build()?,
        ),
        ShedAlgorithm::Vegas => builder.algorithm(
            Vegas::builder()
                .initial_limit(initial)
                .min_limit(min)
                .max_limit(max)
                .build()?,
        ),
        ShedAlgorithm::Gradient2 => builder.algorithm(
            Gradient2::builder()
                .initial_limit(initial)
                .min_limit(min)
                .max_limit(max)
                .build()?,
        ),
    };
    for probe in PROBES {
        builder = builder.bypass_path(*probe);
    }
    let layer = builder.build()?;
    tracing::info!(
        algorithm = ?config.algorithm,
        limit = layer.limiter().limit(),
        "load shedding: sheddable {:?}, critical {:?}",
        config.sheddable,
        config.critical
    );
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[test]
    fn every_algorithm_builds_from_the_defaults() {
        for algorithm in ["fixed", "aimd", "vegas", "gradient2"] {
            let mut settings = Settings::default();
            settings.load_shedding.algorithm = algorithm.into();
            let config = settings.resolve(&|_| None).unwrap();
            let metrics = LayerMetrics::new(&mut Default::default());
            let layer = layer(&config.load_shedding, &metrics).unwrap();
            assert_eq!(layer.limiter().limit(), 64, "{algorithm}");
        }
    }
}
