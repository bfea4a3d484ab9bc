//! TCP Vegas' queue estimate applied to concurrency.

use std::time::Duration;

use super::baseline::{BaselineRtt, Step};
use super::{check_bounds, check_probe, to_limit, LimitAlgorithm, WindowSample};
use crate::error::{check_range, invalid, ConfigError};

/// The component named in this module's configuration errors.
const COMPONENT: &str = "Vegas";

/// Delay-based control after TCP Vegas (as in Netflix's `VegasLimit`).
///
/// Per window it estimates how many requests are queued rather than being
/// worked on: `queue = limit × (1 − baseline / rtt)`, with `baseline` the
/// minimum RTT (re-probed every `probe_interval`) and `rtt` the window's
/// average. With `lg = max(1, log10(limit))`:
///
/// - `queue ≤ lg`: nothing queues, grow fast: `+ beta·lg`;
/// - `queue < alpha·lg`: grow by `lg`;
/// - `queue > beta·lg`, or a drop: shrink by `lg`;
/// - otherwise keep the limit.
///
/// Windows with fewer than `limit / 2` in flight leave the limit alone. The
/// result is blended with the old limit by `smoothing` (default 1: no
/// smoothing).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_loadshed::algorithm::{LimitAlgorithm, Vegas, WindowSample};
///
/// let mut v = Vegas::builder().initial_limit(100).build().unwrap();
/// let ms = Duration::from_millis;
/// let busy = |avg| WindowSample {
///     now: Duration::from_secs(1), samples: 100, dropped: 0,
///     min_rtt: ms(10), avg_rtt: avg, max_in_flight: 100,
/// };
/// assert_eq!(v.update(&busy(ms(10))), 112); // no queue: + 6·log10(100)
/// // RTT doubled: half of the 112 are queued, far above beta: step down.
/// assert_eq!(v.update(&busy(ms(20))), 110);
/// ```
#[derive(Clone, Debug)]
pub struct Vegas {
    limit: f64,
    min: u32,
    max: u32,
    alpha: f64,
    beta: f64,
    smoothing: f64,
    baseline: BaselineRtt,
}

impl Vegas {
    /// A builder with the defaults: initial 20, bounds 1…1000, alpha 3,
    /// beta 6, smoothing 1, probe every 30 s at half the limit.
    pub fn builder() -> VegasBuilder {
        VegasBuilder::default()
    }
}

/// Builds a [`Vegas`].
#[derive(Clone, Debug)]
pub struct VegasBuilder {
    initial: u32,
    min: u32,
    max: u32,
    alpha: f64,
    beta: f64,
    smoothing: f64,
    probe_interval: Option<Duration>,
    probe_fraction: f64,
}

impl Default for VegasBuilder {
    fn default() -> Self {
        Self {
            initial: 20,
            min: 1,
            max: 1000,
            alpha: 3.0,
            beta: 6.0,
            smoothing: 1.0,
            probe_interval: Some(Duration::from_secs(30)),
            probe_fraction: 0.5,
        }
    }
}

impl VegasBuilder {
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

    /// Below `alpha · log10(limit)` queued requests, the limit grows.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Above `beta · log10(limit)` queued requests, the limit shrinks.
    pub fn beta(mut self, beta: f64) -> Self {
        self.beta = beta;
        self
    }

    /// Weight of the new estimate, in `0 < smoothing ≤ 1`.
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
    /// A [`ConfigError`] naming the bad setting: bounds, `alpha` (> 0),
    /// `beta` (> alpha), `smoothing`, `probe_interval` (non-zero),
    /// `probe_fraction`.
    pub fn build(self) -> Result<Vegas, ConfigError> {
        check_bounds(COMPONENT, self.min, self.initial, self.max)?;
        let alpha = check_range(
            COMPONENT,
            "alpha",
            self.alpha,
            f64::MIN_POSITIVE,
            1000.0,
            "0 < alpha ≤ 1000",
        )?;
        if !(self.beta.is_finite() && self.beta > alpha && self.beta <= 1000.0) {
            return Err(invalid(COMPONENT, "beta", self.beta, "alpha < beta ≤ 1000"));
        }
        let smoothing = check_range(
            COMPONENT,
            "smoothing",
            self.smoothing,
            f64::MIN_POSITIVE,
            1.0,
            "0 < smoothing ≤ 1",
        )?;
        let fraction = check_probe(COMPONENT, self.probe_fraction, self.probe_interval)?;
        Ok(Vegas {
            limit: f64::from(self.initial),
            min: self.min,
            max: self.max,
            alpha,
            beta: self.beta,
            smoothing,
            baseline: BaselineRtt::new(self.probe_interval, fraction),
        })
    }
}

impl LimitAlgorithm for Vegas {
    fn limit(&self) -> u32 {
        to_limit(self.limit, self.min, self.max)
    }

    fn bounds(&self) -> (u32, u32) {
        (self.min, self.max)
    }

    fn update(&mut self, w: &WindowSample) -> u32 {
        let (lo, hi) = (f64::from(self.min), f64::from(self.max));
        let limit = self.limit;
        let target = match self.baseline.observe(w.now, w.min_rtt, limit, lo) {
            Step::StartProbe(l) | Step::EndProbe(l) => {
                self.limit = l.clamp(lo, hi);
                return self.limit();
            }
            Step::Update => {
                let lg = limit.log10().max(1.0);
                let baseline = self.baseline.get().unwrap_or(w.min_rtt).as_secs_f64();
                let rtt = w.avg_rtt.as_secs_f64().max(baseline);
                let queue = if rtt > 0.0 {
                    limit * (1.0 - baseline / rtt)
                } else {
                    0.0
                };
                if w.dropped > 0 {
                    limit - lg
                } else if f64::from(w.max_in_flight) * 2.0 < limit {
                    limit
                } else if queue <= lg {
                    limit + self.beta * lg
                } else if queue < self.alpha * lg {
                    limit + lg
                } else if queue > self.beta * lg {
                    limit - lg
                } else {
                    limit
                }
            }
        };
        let next = limit * (1.0 - self.smoothing) + target * self.smoothing;
        self.limit = next.clamp(lo, hi);
        self.limit()
    }

    fn name(&self) -> &'static str {
        "vegas"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(avg_ms: u64, in_flight: u32, dropped: u32) -> WindowSample {
        WindowSample {
            now: Duration::from_secs(1),
            samples: 50,
            dropped,
            min_rtt: Duration::from_millis(10),
            avg_rtt: Duration::from_millis(avg_ms),
            max_in_flight: in_flight,
        }
    }

    #[test]
    fn queue_estimate_decides_the_direction() {
        let mut v = Vegas::builder()
            .initial_limit(100)
            .probe_interval(None)
            .build()
            .unwrap();
        // queue = 100 × (1 − 10/11) ≈ 9: between alpha·2 = 6 and beta·2 = 12.
        assert_eq!(v.update(&w(10, 100, 0)), 112);
        let mut v = Vegas::builder()
            .initial_limit(100)
            .probe_interval(None)
            .build()
            .unwrap();
        v.update(&w(10, 10, 0)); // app-limited, sets the baseline
        assert_eq!(v.limit(), 100);
        assert_eq!(
            v.update(&w(11, 100, 0)),
            100,
            "queue ≈ 9 is inside alpha…beta"
        );
        assert_eq!(v.update(&w(20, 100, 0)), 98, "queue 50 > beta");
        assert_eq!(v.update(&w(10, 100, 1)), 96, "a drop");
    }

    #[test]
    fn invalid_settings_name_the_field() {
        assert_eq!(
            Vegas::builder().beta(2.0).build().unwrap_err().field(),
            "beta"
        );
        assert_eq!(
            Vegas::builder().alpha(-1.0).build().unwrap_err().field(),
            "alpha"
        );
        assert_eq!(
            Vegas::builder().smoothing(0.0).build().unwrap_err().field(),
            "smoothing"
        );
        assert_eq!(
            Vegas::builder()
                .probe_fraction(1.0)
                .build()
                .unwrap_err()
                .field(),
            "probe_fraction"
        );
        assert_eq!(
            Vegas::builder()
                .probe_interval(Some(Duration::ZERO))
                .build()
                .unwrap_err()
                .field(),
            "probe_interval"
        );
    }
}
