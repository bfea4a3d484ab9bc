//! How many requests a policy admits: a rate and a burst.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::ConfigError;

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A rate limit: one request is replenished every [`period`](Quota::period),
/// and up to [`burst`](Quota::burst) requests may be made at once.
///
/// `Quota::per_minute(60)` admits 60 requests at once, then one per second;
/// an idle client gets its full burst back after a minute. This is the GCRA
/// quota of [`governor`](https://docs.rs/governor): the same numbers mean the
/// same thing (with the `governor` feature, a `governor::Quota` converts into
/// this type).
///
/// Counts are [`NonZeroU32`], so a quota that admits nothing cannot be built.
/// Rates above one request per nanosecond are clamped to one per nanosecond.
///
/// # Example
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use hardening_ratelimit::Quota;
///
/// let five = NonZeroU32::new(5).unwrap();
/// let quota = Quota::per_minute(five);
/// assert_eq!(quota.period(), Duration::from_secs(12));
/// assert_eq!(quota.burst(), five);
/// assert_eq!(quota.window(), Duration::from_secs(60));
///
/// // The same, from plain numbers (fallible).
/// assert_eq!(Quota::new(5, Duration::from_secs(60)).unwrap(), quota);
/// assert!(Quota::new(0, Duration::from_secs(60)).is_err());
///
/// // 10 per second on average, but bursts of up to 50.
/// let bursty = Quota::per_second(NonZeroU32::new(10).unwrap())
///     .with_burst(NonZeroU32::new(50).unwrap());
/// assert_eq!(bursty.period(), Duration::from_millis(100));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Quota {
    burst: NonZeroU32,
    /// Emission interval in nanoseconds, at least 1.
    period_nanos: u64,
}

impl Quota {
    const fn per(window_nanos: u64, count: NonZeroU32) -> Self {
        let period = window_nanos / count.get() as u64;
        Self {
            burst: count,
            period_nanos: if period == 0 { 1 } else { period },
        }
    }

    /// `count` requests per second, in a burst of up to `count`.
    pub const fn per_second(count: NonZeroU32) -> Self {
        Self::per(NANOS_PER_SEC, count)
    }

    /// `count` requests per minute, in a burst of up to `count`.
    pub const fn per_minute(count: NonZeroU32) -> Self {
        Self::per(60 * NANOS_PER_SEC, count)
    }

    /// `count` requests per hour, in a burst of up to `count`.
    pub const fn per_hour(count: NonZeroU32) -> Self {
        Self::per(3600 * NANOS_PER_SEC, count)
    }

    /// `count` requests per `window`, in a burst of up to `count`
    /// (`Quota::new(5, Duration::from_secs(60))` equals
    /// `Quota::per_minute(5)`).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `count` is zero, when `window` is zero or longer
    /// than about 584 years, or when `window / count` is under a nanosecond.
    pub fn new(count: u32, window: Duration) -> Result<Self, ConfigError> {
        let Some(count) = NonZeroU32::new(count) else {
            return Err(ConfigError::new(
                "Quota",
                "count",
                count,
                "at least one request per window",
            ));
        };
        let window_nanos = u64::try_from(window.as_nanos()).ok().filter(|n| *n > 0);
        let Some(window_nanos) = window_nanos else {
            return Err(ConfigError::new(
                "Quota",
                "window",
                format_args!("{window:?}"),
                "a window longer than zero and shorter than 584 years",
            ));
        };
        if window_nanos < u64::from(count.get()) {
            return Err(ConfigError::new(
                "Quota",
                "window",
                format_args!("{window:?} for {count} requests"),
                "at most one request per nanosecond",
            ));
        }
        Ok(Self::per(window_nanos, count))
    }

    /// One request per `period`, with a burst of one; `None` when `period`
    /// is zero or longer than about 584 years. Raise the burst with
    /// [`with_burst`](Quota::with_burst).
    pub fn with_period(period: Duration) -> Option<Self> {
        let nanos = u64::try_from(period.as_nanos()).ok().filter(|n| *n > 0)?;
        Some(Self {
            burst: NonZeroU32::MIN,
            period_nanos: nanos,
        })
    }

    /// The same rate with a different burst size.
    pub const fn with_burst(self, burst: NonZeroU32) -> Self {
        Self { burst, ..self }
    }

    /// How many requests may be made at once by a client that has been idle.
    pub const fn burst(&self) -> NonZeroU32 {
        self.burst
    }

    /// The time it takes to replenish one request (the GCRA emission interval).
    pub const fn period(&self) -> Duration {
        Duration::from_nanos(self.period_nanos)
    }

    /// [`period`](Quota::period) in nanoseconds (at least 1).
    pub const fn period_nanos(&self) -> u64 {
        self.period_nanos
    }

    /// `burst × period`: the time an idle client needs to get its whole burst
    /// back. This is the window advertised in `RateLimit-Policy`
    /// (`q` = burst, `w` = window in seconds).
    pub const fn window(&self) -> Duration {
        Duration::from_nanos(self.window_nanos())
    }

    /// [`window`](Quota::window) in nanoseconds, saturating.
    pub const fn window_nanos(&self) -> u64 {
        self.period_nanos.saturating_mul(self.burst.get() as u64)
    }
}

#[cfg(feature = "governor")]
impl From<governor::Quota> for Quota {
    /// The same rate and burst as a `governor` quota.
    fn from(q: governor::Quota) -> Self {
        let nanos = u64::try_from(q.replenish_interval().as_nanos()).unwrap_or(u64::MAX);
        Self {
            burst: q.burst_size(),
            period_nanos: nanos.max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn constructors_agree() {
        assert_eq!(
            Quota::per_second(nz(4)).period(),
            Duration::from_millis(250)
        );
        assert_eq!(Quota::per_minute(nz(60)).period(), Duration::from_secs(1));
        assert_eq!(Quota::per_hour(nz(60)).period(), Duration::from_secs(60));
        assert_eq!(
            Quota::new(20, Duration::from_secs(60)).unwrap(),
            Quota::per_minute(nz(20))
        );
        let q = Quota::with_period(Duration::from_millis(10))
            .unwrap()
            .with_burst(nz(3));
        assert_eq!(q.burst().get(), 3);
        assert_eq!(q.window(), Duration::from_millis(30));
    }

    #[test]
    fn invalid_quotas_are_errors_naming_the_field() {
        let err = Quota::new(0, Duration::from_secs(1)).unwrap_err();
        assert_eq!((err.component(), err.field()), ("Quota", "count"));
        assert!(err.to_string().contains("`0`"), "{err}");
        let err = Quota::new(1, Duration::ZERO).unwrap_err();
        assert_eq!(err.field(), "window");
        assert!(Quota::new(10, Duration::from_nanos(5)).is_err());
        assert!(Quota::new(1, Duration::MAX).is_err());
        assert!(Quota::with_period(Duration::ZERO).is_none());
        assert!(Quota::with_period(Duration::MAX).is_none());
    }

    #[test]
    fn absurd_rates_are_clamped_not_zero() {
        let q = Quota::per_second(NonZeroU32::MAX);
        assert_eq!(q.period_nanos(), 1);
        let q = Quota::per_hour(NonZeroU32::MAX).with_burst(NonZeroU32::MAX);
        assert!(q.window_nanos() > 0);
    }

    #[cfg(feature = "governor")]
    #[test]
    fn converts_from_governor() {
        let g = governor::Quota::per_minute(nz(5)).allow_burst(nz(2));
        let q = Quota::from(g);
        assert_eq!(q.period(), Duration::from_secs(12));
        assert_eq!(q.burst().get(), 2);
    }
}
