//! Additive increase, multiplicative decrease.

use std::time::Duration;

use super::{check_bounds, to_limit, LimitAlgorithm, WindowSample};
use crate::error::{check_range, invalid, ConfigError};

/// The component named in this module's configuration errors.
const COMPONENT: &str = "Aimd";

/// Additive increase, multiplicative decrease (TCP Reno's rule applied to
/// concurrency, as in Netflix's `AIMDLimit`).
///
/// Per window: if any request was dropped, or the average RTT exceeds
/// [`latency_threshold`](AimdBuilder::latency_threshold), the limit is
/// multiplied by `backoff` (default 0.9); otherwise, if the window was busy
/// (at least `limit / 2` in flight), it grows by `increase` (default 1).
/// AIMD needs a congestion signal: without a latency threshold only drops
/// make it back off.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_loadshed::algorithm::{Aimd, LimitAlgorithm, WindowSample};
///
/// let mut aimd = Aimd::builder()
///     .initial_limit(10)
///     .latency_threshold(Duration::from_millis(50))
///     .build()
///     .unwrap();
/// let mut w = WindowSample {
///     now: Duration::from_secs(1), samples: 10, dropped: 0,
///     min_rtt: Duration::from_millis(5), avg_rtt: Duration::from_millis(10), max_in_flight: 10,
/// };
/// assert_eq!(aimd.update(&w), 11);
/// w.avg_rtt = Duration::from_millis(80);
/// assert_eq!(aimd.update(&w), 10); // 11 × 0.9, rounded
/// ```
#[derive(Clone, Debug)]
pub struct Aimd {
    limit: f64,
    min: u32,
    max: u32,
    backoff: f64,
    increase: f64,
    latency_threshold: Option<Duration>,
}

impl Aimd {
    /// A builder with the defaults: initial 20, bounds 1…1000, backoff 0.9,
    /// increase 1, no latency threshold.
    pub fn builder() -> AimdBuilder {
        AimdBuilder::default()
    }
}

/// Builds an [`Aimd`].
#[derive(Clone, Debug)]
pub struct AimdBuilder {
    initial: u32,
    min: u32,
    max: u32,
    backoff: f64,
    increase: f64,
    latency_threshold: Option<Duration>,
}

impl Default for AimdBuilder {
    fn default() -> Self {
        Self {
            initial: 20,
            min: 1,
            max: 1000,
            backoff: 0.9,
            increase: 1.0,
            latency_threshold: None,
        }
    }
}

impl AimdBuilder {
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

    /// The factor applied on congestion, in `0.5..1`.
    pub fn backoff(mut self, ratio: f64) -> Self {
        self.backoff = ratio;
        self
    }

    /// How much the limit grows per busy window, in `0 < increase ≤ 1000`.
    pub fn increase(mut self, step: f64) -> Self {
        self.increase = step;
        self
    }

    /// An average RTT above this counts as congestion.
    pub fn latency_threshold(mut self, threshold: Duration) -> Self {
        self.latency_threshold = Some(threshold);
        self
    }

    /// The controller.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `initial_limit`, `min_limit`, `max_limit`,
    /// `backoff` or `increase`.
    pub fn build(self) -> Result<Aimd, ConfigError> {
        check_bounds(COMPONENT, self.min, self.initial, self.max)?;
        if !(self.backoff.is_finite() && (0.5..1.0).contains(&self.backoff)) {
            return Err(invalid(
                COMPONENT,
                "backoff",
                self.backoff,
                "a ratio in 0.5..1",
            ));
        }
        let increase = check_range(
            COMPONENT,
            "increase",
            self.increase,
            f64::MIN_POSITIVE,
            1000.0,
            "0 < increase ≤ 1000",
        )?;
        if self.latency_threshold == Some(Duration::ZERO) {
            return Err(invalid(
                COMPONENT,
                "latency_threshold",
                Duration::ZERO,
                "a positive duration",
            ));
        }
        Ok(Aimd {
            limit: f64::from(self.initial),
            min: self.min,
            max: self.max,
            backoff: self.backoff,
            increase,
            latency_threshold: self.latency_threshold,
        })
    }
}

impl LimitAlgorithm for Aimd {
    fn limit(&self) -> u32 {
        to_limit(self.limit, self.min, self.max)
    }

    fn bounds(&self) -> (u32, u32) {
        (self.min, self.max)
    }

    fn update(&mut self, w: &WindowSample) -> u32 {
        let congested = w.dropped > 0 || self.latency_threshold.is_some_and(|t| w.avg_rtt > t);
        if congested {
            self.limit *= self.backoff;
        } else if f64::from(w.max_in_flight) * 2.0 >= self.limit {
            self.limit += self.increase;
        }
        self.limit = self.limit.clamp(f64::from(self.min), f64::from(self.max));
        self.limit()
    }

    fn name(&self) -> &'static str {
        "aimd"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(avg_ms: u64, dropped: u32, in_flight: u32) -> WindowSample {
        WindowSample {
            now: Duration::ZERO,
            samples: 10,
            dropped,
            min_rtt: Duration::from_millis(avg_ms),
            avg_rtt: Duration::from_millis(avg_ms),
            max_in_flight: in_flight,
        }
    }

    #[test]
    fn grows_only_when_busy_and_backs_off_on_drops() {
        let mut a = Aimd::builder()
            .initial_limit(10)
            .max_limit(12)
            .build()
            .unwrap();
        assert_eq!(a.update(&window(1, 0, 4)), 10, "app-limited: unchanged");
        assert_eq!(a.update(&window(1, 0, 5)), 11);
        assert_eq!(a.update(&window(1, 0, 11)), 12);
        assert_eq!(a.update(&window(1, 0, 12)), 12, "max bound");
        assert_eq!(a.update(&window(1, 1, 12)), 11); // 12 × 0.9 = 10.8
        let mut floor = Aimd::builder().initial_limit(1).build().unwrap();
        assert_eq!(floor.update(&window(1, 5, 1)), 1, "min bound");
    }

    #[test]
    fn invalid_settings_name_the_field() {
        assert_eq!(
            Aimd::builder().backoff(1.0).build().unwrap_err().field(),
            "backoff"
        );
        assert_eq!(
            Aimd::builder().increase(0.0).build().unwrap_err().field(),
            "increase"
        );
        assert_eq!(
            Aimd::builder()
                .initial_limit(0)
                .build()
                .unwrap_err()
                .field(),
            "initial_limit"
        );
        assert_eq!(
            Aimd::builder()
                .latency_threshold(Duration::ZERO)
                .build()
                .unwrap_err()
                .field(),
            "latency_threshold"
        );
    }
}
