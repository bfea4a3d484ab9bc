//! A smoothed latency gradient against the baseline RTT.

use std::time::Duration;

use super::baseline::{BaselineRtt, Step};
use super::{check_bounds, check_probe, to_limit, LimitAlgorithm, WindowSample};
use crate::error::{check_range, ConfigError};

/// The component named in this module's configuration errors.
const COMPONENT: &str = "Gradient2";

/// The smallest gradient: one window can at most halve the target.
const MIN_GRADIENT: f64 = 0.5;

/// Gradient control (after Netflix's `Gradient2Limit`): the limit follows
/// the ratio of the baseline RTT to the current RTT.
///
/// Per window, with `baseline` the minimum RTT (re-probed every
/// `probe_interval`) and `rtt` the window's average:
///
/// ```text
/// gradient = clamp(tolerance × baseline / rtt, 0.5, 1)      (0.5 on a drop)
/// target   = limit × gradient + sqrt(limit)
/// next     = target                                  if target ≥ limit
///          = limit × (1 − smoothing) + target × smoothing  otherwise
/// ```
///
/// So while RTT stays within `tolerance × baseline` (default 1.5) the limit
/// grows by `sqrt(limit)` per window, and beyond it shrinks by at most
/// `smoothing × 50 %` (10 % with the default smoothing 0.2) per window.
/// Windows with fewer than `limit / 2` in flight never grow the limit. It
/// settles where `limit × (1 − gradient) = sqrt(limit)`: for a queueing
/// server with a knee at `K`, near `tolerance × K + sqrt(tolerance × K)`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_loadshed::algorithm::{Gradient2, LimitAlgorithm, WindowSample};
///
/// let mut g = Gradient2::builder().initial_limit(100).build().unwrap();
/// let ms = Duration::from_millis;
/// let busy = |min, avg| WindowSample {
///     now: Duration::from_secs(1), samples: 100, dropped: 0,
///     min_rtt: min, avg_rtt: avg, max_in_flight: 100,
/// };
/// assert_eq!(g.update(&busy(ms(10), ms(10))), 110); // + sqrt(100)
/// // RTT at 4× the baseline: gradient 0.5, the limit falls by 0.2 × (110 − 65.5).
/// assert_eq!(g.update(&busy(ms(40), ms(40))), 101);
/// ```
#[derive(Clone, Debug)]
pub struct Gradient2 {
    limit: f64,
    min: u32,
    max: u32,
    tolerance: f64,
    smoothing: f64,
    baseline: BaselineRtt,
}

impl Gradient2 {
    /// A builder with the defaults: initial 20, bounds 1…1000, tolerance
    /// 1.5, smoothing 0.2, probe every 30 s at half the limit.
    pub fn builder() -> Gradient2Builder {
        Gradient2Builder::default()
    }
}

/// Builds a [`Gradient2`].
#[derive(Clone, Debug)]
pub struct Gradient2Builder {
    initial: u32,
    min: u32,
    max: u32,
    tolerance: f64,
    smoothing: f64,
    probe_interval: Option<Duration>,
    probe_fraction: f64,
}

impl Default for Gradient2Builder {
    fn default() -> Self {
        Self {
            initial: 20,
            min: 1,
            max: 1000,
            tolerance: 1.5,
            smoothing: 0.2,
            probe_interval: Some(Duration::from_secs(30)),
            probe_fraction: 0.5,
        }
    }
}

impl Gradient2Builder {
    /// The limit before the first window.
    pub fn initial_limit(mut self, limit: u32) -> Self {
        self.initial = limit;
        self
    }

    /// The smallest limit.
    pub fn min_limit(mut self, limit: u32) -> Self {
        self.min = limit;
        self
    }

    /// The largest limit.
    pub fn max_limit(mut self, limit: u32) -> Self {
        self.max = limit;
        self
    }

    /// How much slower than the baseline RTT may be before the limit
    /// shrinks, in `1..=10` (1.5 = 50 % slower).
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Weight of a lower target, in `0 < smoothing ≤ 1`.
    pub fn smoothing(mut self, smoothing: f64) -> Self {
        self.smoothing = smoothing;
        self
    }

    /// How often the baseline RTT is re-measured; `None` never.
    pub fn probe_interval(mut self, interval: Option<Duration>) -> Self {
        self.probe_interval = interval;
        self
    }

    /// The share of the limit kept during a probe window, in `0.1..=0.9`.
    pub fn probe_fraction(mut self, fraction: f64) -> Self {
        self.probe_fraction = fraction;
        self
    }

    /// The controller.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the bad setting: bounds, `tolerance`,
    /// `smoothing`, `probe_interval` (non-zero), `probe_fraction`.
    pub fn build(self) -> Result<Gradient2, ConfigError> {
        check_bounds(COMPONENT, self.min, self.initial, self.max)?;
        let tolerance = check_range(COMPONENT, "tolerance", self.tolerance, 1.0, 10.0, "1..=10")?;
        let smoothing = check_range(
            COMPONENT,
            "smoothing",
            self.smoothing,
            f64::MIN_POSITIVE,
            1.0,
            "0 < smoothing ≤ 1",
        )?;
        let fraction = check_probe(COMPONENT, self.probe_fraction, self.probe_interval)?;
        Ok(Gradient2 {
            limit: f64::from(self.initial),
            min: self.min,
            max: self.max,
            tolerance,
            smoothing,
            baseline: BaselineRtt::new(self.probe_interval, fraction),
        })
    }
}

impl LimitAlgorithm for Gradient2 {
    fn limit(&self) -> u32 {
        to_limit(self.limit, self.min, self.max)
    }

    fn bounds(&self) -> (u32, u32) {
        (self.min, self.max)
    }

    fn update(&mut self, w: &WindowSample) -> u32 {
        let (lo, hi) = (f64::from(self.min), f64::from(self.max));
        let limit = self.limit;
        match self.baseline.observe(w.now, w.min_rtt, limit, lo) {
            Step::StartProbe(l) | Step::EndProbe(l) => {
                self.limit = l.clamp(lo, hi);
                return self.limit();
            }
            Step::Update => {}
        }
        let baseline = self.baseline.get().unwrap_or(w.min_rtt).as_secs_f64();
        let rtt = w.avg_rtt.as_secs_f64();
        let gradient = if w.dropped > 0 {
            MIN_GRADIENT
        } else if rtt > 0.0 {
            (self.tolerance * baseline / rtt).clamp(MIN_GRADIENT, 1.0)
        } else {
            1.0
        };
        let app_limited = f64::from(w.max_in_flight) * 2.0 < limit;
        let target = limit * gradient + limit.sqrt();
        let next = if target >= limit {
            if app_limited {
                limit
            } else {
                target
            }
        } else {
            limit * (1.0 - self.smoothing) + target * self.smoothing
        };
        self.limit = next.clamp(lo, hi);
        self.limit()
    }

    fn name(&self) -> &'static str {
        "gradient2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(min_ms: u64, avg_ms: u64, in_flight: u32) -> WindowSample {
        WindowSample {
            now: Duration::from_secs(1),
            samples: 50,
            dropped: 0,
            min_rtt: Duration::from_millis(min_ms),
            avg_rtt: Duration::from_millis(avg_ms),
            max_in_flight: in_flight,
        }
    }

    #[test]
    fn grows_within_tolerance_and_shrinks_smoothly_beyond() {
        let mut g = Gradient2::builder()
            .initial_limit(100)
            .probe_interval(None)
            .build()
            .unwrap();
        assert_eq!(g.update(&w(10, 14, 100)), 110, "within 1.5× baseline");
        // 30 ms = 3× baseline: gradient 0.5, target 55 + 10.5.
        let before = g.limit;
        g.update(&w(30, 30, 110));
        let expected = before * 0.8 + (before * 0.5 + before.sqrt()) * 0.2;
        assert!((g.limit - expected).abs() < 1e-9);
        assert!(g.limit >= before * 0.9, "step bounded to 10 %");
    }

    #[test]
    fn app_limited_windows_never_grow_the_limit() {
        let mut g = Gradient2::builder()
            .initial_limit(100)
            .probe_interval(None)
            .build()
            .unwrap();
        assert_eq!(g.update(&w(10, 10, 49)), 100);
        // But an app-limited window that shows congestion still shrinks it.
        assert!(g.update(&w(10, 40, 49)) < 100);
    }

    #[test]
    fn invalid_settings_name_the_field() {
        assert_eq!(
            Gradient2::builder()
                .tolerance(0.9)
                .build()
                .unwrap_err()
                .field(),
            "tolerance"
        );
        assert_eq!(
            Gradient2::builder()
                .smoothing(1.1)
                .build()
                .unwrap_err()
                .field(),
            "smoothing"
        );
        assert_eq!(
            Gradient2::builder()
                .max_limit(0)
                .build()
                .unwrap_err()
                .field(),
            "max_limit"
        );
    }
}
