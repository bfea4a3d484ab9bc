//! Limit controllers: plain types with no I/O that turn one window of
//! latency samples into the next concurrency limit.
//!
//! The limiter collects, over a window of time, the round-trip time (RTT) of
//! each admitted request, whether it was *dropped* (an error or an overload
//! status from the inner service) and how many requests were in flight. At
//! the end of each window it hands a [`WindowSample`] to the controller,
//! which answers with a new limit. `now` is part of the sample, so every
//! controller can be driven by a fake clock.
//!
//! | controller | grows when | shrinks when | settles at (server with a latency knee at `K` in flight) |
//! |---|---|---|---|
//! | [`Fixed`] | never | never | its limit |
//! | [`Aimd`] | the window was busy (in flight ≥ limit / 2) and nothing dropped: `+increase` | a drop, or average RTT above `latency_threshold`: `× backoff` | a saw-tooth just below the concurrency where RTT crosses the threshold |
//! | [`Vegas`] | the estimated queue `limit × (1 − baseline / rtt)` is below `alpha·log10(limit)` | the queue is above `beta·log10(limit)`, or a drop | `K + alpha·log10 … K + beta·log10` (≈ K + 6 … K + 11 at K = 64) |
//! | [`Gradient2`] | RTT stays within `tolerance × baseline`: `+sqrt(limit)` | the gradient `tolerance × baseline / rtt` (clamped to 0.5…1) falls below 1: smoothed | where RTT ≈ `tolerance × baseline`, plus `sqrt(limit)`: ≈ `tolerance·K + sqrt` |
//!
//! Vegas and Gradient2 track the *baseline* RTT (the minimum seen, the
//! service's latency without queueing) and re-probe it every
//! `probe_interval`: for one window the limit drops to `probe_fraction` of
//! itself, so queues drain and the window's minimum RTT becomes the new
//! baseline; then the previous limit is restored. This is how they follow a
//! service that became slower for good. When a probe moves the baseline by
//! more than 5 %, the next probe comes after a quarter of the interval, so a
//! probe that met a passing spike (or did not drain the queue) is corrected
//! within a few probes.
//!
//! # Reaction to a latency step and a throughput drop
//!
//! - **Latency step** (every request becomes slower, e.g. a slow dependency):
//!   AIMD backs off once the average crosses its threshold, and keeps backing
//!   off while it stays above it. Vegas sees a large queue estimate and steps
//!   down by `log10(limit)` per window; Gradient2's gradient drops to its
//!   floor and the limit falls by up to `smoothing × 50 %` (10 % with the
//!   defaults) per window. At the next probe both learn the new baseline and
//!   grow back to the level the slower service sustains.
//! - **Throughput drop** (the service can do less work at once, the knee
//!   moves down): RTT climbs at the old concurrency; all three shrink towards
//!   the new knee, at the rates above. A drop in *demand* (fewer requests
//!   than the limit) never raises or lowers the limit: a window with fewer
//!   than `limit / 2` in flight is "application limited" and leaves it alone.
//!
//! The simulations in `tests/simulation.rs` drive each controller against a
//! server with a knee at 64 in flight and check convergence, recovery after
//! a spike and bounds; the numbers are in the crate README.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_loadshed::algorithm::{Gradient2, LimitAlgorithm, WindowSample};
//!
//! let mut g = Gradient2::builder().initial_limit(20).build().unwrap();
//! // A busy window with RTT at its baseline: the limit grows by sqrt(20).
//! let w = WindowSample {
//!     now: Duration::from_secs(1),
//!     samples: 100,
//!     dropped: 0,
//!     min_rtt: Duration::from_millis(10),
//!     avg_rtt: Duration::from_millis(10),
//!     max_in_flight: 20,
//! };
//! assert_eq!(g.update(&w), 24);
//! ```

mod aimd;
mod baseline;
mod gradient2;
mod vegas;

use std::fmt;
use std::time::Duration;

pub use aimd::{Aimd, AimdBuilder};
pub use gradient2::{Gradient2, Gradient2Builder};
pub use vegas::{Vegas, VegasBuilder};

use crate::error::{invalid, ConfigError};

/// The largest limit any controller accepts.
pub const MAX_LIMIT: u32 = 1_000_000;

/// What the limiter saw during one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSample {
    /// When the window closed (the limiter's clock).
    pub now: Duration,
    /// Timed requests that completed in the window: every request under
    /// light traffic, a random sample of them under heavy traffic (see
    /// [`Limiter::sample_every`](crate::Limiter::sample_every)).
    pub samples: u32,
    /// Requests that completed dropped in the window (errors and overload
    /// answers of the inner service), every one counted, timed or not.
    pub dropped: u32,
    /// The smallest RTT of the window's timed requests.
    pub min_rtt: Duration,
    /// The mean RTT of the window's timed requests.
    pub avg_rtt: Duration,
    /// The most requests that were in flight when a request was admitted
    /// during the window.
    pub max_in_flight: u32,
}

/// A concurrency-limit controller.
///
/// Implement it for your own algorithm; [`Fixed`], [`Aimd`], [`Vegas`] and
/// [`Gradient2`] are the ready-made ones.
pub trait LimitAlgorithm: Send + fmt::Debug + 'static {
    /// The current limit.
    fn limit(&self) -> u32;

    /// The smallest and largest limit the controller may return.
    fn bounds(&self) -> (u32, u32);

    /// Takes one window's sample and returns the next limit, within
    /// [`bounds`](LimitAlgorithm::bounds).
    fn update(&mut self, window: &WindowSample) -> u32;

    /// A short name for logs: `"fixed"`, `"aimd"`, …
    fn name(&self) -> &'static str;

    /// Whether the limit never changes (then the limiter skips timing
    /// requests).
    fn is_fixed(&self) -> bool {
        false
    }
}

/// A limit that never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    limit: u32,
}

impl Fixed {
    /// A fixed limit of `limit` requests in flight.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `limit` when it is 0 or above [`MAX_LIMIT`].
    pub fn new(limit: u32) -> Result<Self, ConfigError> {
        check_limit("Fixed", "limit", limit)?;
        Ok(Self { limit })
    }
}

impl LimitAlgorithm for Fixed {
    fn limit(&self) -> u32 {
        self.limit
    }

    fn bounds(&self) -> (u32, u32) {
        (self.limit, self.limit)
    }

    fn update(&mut self, _window: &WindowSample) -> u32 {
        self.limit
    }

    fn name(&self) -> &'static str {
        "fixed"
    }

    fn is_fixed(&self) -> bool {
        true
    }
}

impl<A: LimitAlgorithm + ?Sized> LimitAlgorithm for Box<A> {
    fn limit(&self) -> u32 {
        (**self).limit()
    }

    fn bounds(&self) -> (u32, u32) {
        (**self).bounds()
    }

    fn update(&mut self, window: &WindowSample) -> u32 {
        (**self).update(window)
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn is_fixed(&self) -> bool {
        (**self).is_fixed()
    }
}

pub(crate) fn check_limit(
    component: &'static str,
    field: &'static str,
    limit: u32,
) -> Result<u32, ConfigError> {
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(invalid(component, field, limit, "1..=1000000"))
    }
}

/// Validates `min ≤ initial ≤ max`, each within `1..=MAX_LIMIT`.
pub(crate) fn check_bounds(
    component: &'static str,
    min: u32,
    initial: u32,
    max: u32,
) -> Result<(), ConfigError> {
    check_limit(component, "min_limit", min)?;
    check_limit(component, "max_limit", max)?;
    check_limit(component, "initial_limit", initial)?;
    if min > max {
        return Err(invalid(
            component,
            "min_limit",
            min,
            "min_limit ≤ max_limit",
        ));
    }
    if initial < min || initial > max {
        return Err(invalid(
            component,
            "initial_limit",
            initial,
            "min_limit ≤ initial_limit ≤ max_limit",
        ));
    }
    Ok(())
}

/// Validates the minimum-RTT re-probing settings Gradient2 and Vegas share:
/// `probe_fraction` in `0.1..=0.9` (returned) and a non-zero
/// `probe_interval`.
pub(crate) fn check_probe(
    component: &'static str,
    fraction: f64,
    interval: Option<std::time::Duration>,
) -> Result<f64, ConfigError> {
    let fraction =
        crate::error::check_range(component, "probe_fraction", fraction, 0.1, 0.9, "0.1..=0.9")?;
    if interval == Some(std::time::Duration::ZERO) {
        return Err(invalid(
            component,
            "probe_interval",
            std::time::Duration::ZERO,
            "a positive duration or None",
        ));
    }
    Ok(fraction)
}

/// Rounds and clamps a controller's internal estimate to its bounds.
pub(crate) fn to_limit(estimate: f64, min: u32, max: u32) -> u32 {
    if estimate.is_nan() {
        return min;
    }
    (estimate.round().clamp(f64::from(min), f64::from(max))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_never_moves_and_validates() {
        let mut f = Fixed::new(8).unwrap();
        let w = WindowSample {
            now: Duration::ZERO,
            samples: 10,
            dropped: 10,
            min_rtt: Duration::from_secs(1),
            avg_rtt: Duration::from_secs(1),
            max_in_flight: 8,
        };
        assert_eq!(f.update(&w), 8);
        assert_eq!(Fixed::new(0).unwrap_err().field(), "limit");
        assert_eq!(Fixed::new(MAX_LIMIT + 1).unwrap_err().field(), "limit");
    }

    #[test]
    fn bounds_are_checked_in_order() {
        assert_eq!(
            check_bounds("T", 5, 4, 10).unwrap_err().field(),
            "initial_limit"
        );
        assert_eq!(
            check_bounds("T", 11, 11, 10).unwrap_err().field(),
            "min_limit"
        );
        assert_eq!(
            check_bounds("T", 0, 4, 10).unwrap_err().field(),
            "min_limit"
        );
        assert!(check_bounds("T", 1, 1, 1).is_ok());
    }
}
