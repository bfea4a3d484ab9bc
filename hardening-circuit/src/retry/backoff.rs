//! How long to wait before each retry: the backoff shapes and the random
//! source behind their jitter.

use std::fmt;
use std::time::Duration;

use crate::ConfigError;
use crate::RandomSource;

/// The wait before each retry.
///
/// Retries are numbered from 1 (the first retry is the second attempt). With
/// `r` a random fraction in `[0, 1)` from the layer's
/// [`RandomSource`](crate::RandomSource):
///
/// | shape | delay before retry `n` |
/// |---|---|
/// | [`exponential`](Backoff::exponential) (full jitter, the default) | `r × min(cap, base × 2ⁿ⁻¹)` |
/// | [`equal_jitter`](Backoff::equal_jitter) | `c/2 + r × c/2` with `c = min(cap, base × 2ⁿ⁻¹)` |
/// | [`decorrelated`](Backoff::decorrelated) | `min(cap, base + r × (3 × previous − base))`, previous starting at `base` |
/// | [`linear`](Backoff::linear) | `min(cap, step × n)` |
/// | [`constant`](Backoff::constant) | `delay` |
/// | [`immediate`](Backoff::immediate) | `0` |
///
/// The jittered shapes follow the AWS Architecture Blog's "Exponential
/// Backoff and Jitter": full jitter spreads a fleet of clients best;
/// decorrelated jitter grows from the previous wait instead of the retry
/// number.
///
/// The default is `exponential(100 ms, 10 s)`. Constructors do not fail;
/// [`RetryBuilder::build`](super::RetryBuilder::build) rejects a cap below
/// the base.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_circuit::retry::Backoff;
///
/// let backoff = Backoff::linear(Duration::from_millis(200), Duration::from_secs(1));
/// // Linear backoff has no jitter: the random fraction is ignored.
/// assert_eq!(backoff.delay(3, Duration::ZERO, 0.9), Duration::from_millis(600));
/// assert_eq!(backoff.delay(9, Duration::ZERO, 0.9), Duration::from_secs(1));
///
/// let full = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10));
/// // Retry 4: ceiling 100 ms × 2³ = 800 ms, half of it at r = 0.5.
/// assert_eq!(full.delay(4, Duration::ZERO, 0.5), Duration::from_millis(400));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    shape: Shape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    FullJitter { base: Duration, cap: Duration },
    EqualJitter { base: Duration, cap: Duration },
    Decorrelated { base: Duration, cap: Duration },
    Linear { step: Duration, cap: Duration },
    Constant { delay: Duration },
    Immediate,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::exponential(Duration::from_millis(100), Duration::from_secs(10))
    }
}

impl Backoff {
    /// Exponential backoff with full jitter: a random wait between zero and
    /// `min(cap, base × 2ⁿ⁻¹)` before retry `n`. The default, with base
    /// 100 ms and cap 10 s.
    pub const fn exponential(base: Duration, cap: Duration) -> Self {
        Self {
            shape: Shape::FullJitter { base, cap },
        }
    }

    /// Exponential backoff with equal jitter: half of `min(cap, base × 2ⁿ⁻¹)`
    /// for sure, plus a random part of the other half. Never waits less than
    /// half the ceiling.
    pub const fn equal_jitter(base: Duration, cap: Duration) -> Self {
        Self {
            shape: Shape::EqualJitter { base, cap },
        }
    }

    /// Decorrelated jitter: a random wait between `base` and three times the
    /// previous wait, capped at `cap`.
    pub const fn decorrelated(base: Duration, cap: Duration) -> Self {
        Self {
            shape: Shape::Decorrelated { base, cap },
        }
    }

    /// Linear backoff without jitter: `step × n` before retry `n`, capped at
    /// `cap`.
    pub const fn linear(step: Duration, cap: Duration) -> Self {
        Self {
            shape: Shape::Linear { step, cap },
        }
    }

    /// The same wait before every retry, without jitter.
    pub const fn constant(delay: Duration) -> Self {
        Self {
            shape: Shape::Constant { delay },
        }
    }

    /// No wait at all. Only sensible when something else (a budget, a
    /// deadline) bounds the retries.
    pub const fn immediate() -> Self {
        Self {
            shape: Shape::Immediate,
        }
    }

    /// The wait before retry `retry` (1 for the first retry), given the
    /// previous wait (used by [`decorrelated`](Backoff::decorrelated); pass
    /// anything for the other shapes) and a random fraction `random` in
    /// `[0, 1)` (values outside are clamped, NaN counts as 0).
    ///
    /// Pure and total: it never panics and saturates instead of overflowing.
    pub fn delay(&self, retry: u32, previous: Duration, random: f64) -> Duration {
        let r = unit_interval(random);
        match self.shape {
            Shape::FullJitter { base, cap } => scale(ceiling(base, cap, retry), r),
            Shape::EqualJitter { base, cap } => {
                let c = ceiling(base, cap, retry);
                let half = c / 2;
                half.saturating_add(scale(c - half, r))
            }
            Shape::Decorrelated { base, cap } => {
                let previous = previous.max(base);
                let upper = previous.saturating_mul(3);
                let spread = upper.saturating_sub(base);
                base.saturating_add(scale(spread, r)).min(cap)
            }
            Shape::Linear { step, cap } => step.saturating_mul(retry.max(1)).min(cap),
            Shape::Constant { delay } => delay,
            Shape::Immediate => Duration::ZERO,
        }
    }

    /// The wait the decorrelated shape starts from (its `base`); zero for the
    /// others.
    pub(crate) fn initial_previous(&self) -> Duration {
        match self.shape {
            Shape::Decorrelated { base, .. } => base,
            _ => Duration::ZERO,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let (base, cap) = match self.shape {
            Shape::FullJitter { base, cap }
            | Shape::EqualJitter { base, cap }
            | Shape::Decorrelated { base, cap } => (base, cap),
            Shape::Linear { step, cap } => (step, cap),
            Shape::Constant { .. } | Shape::Immediate => return Ok(()),
        };
        if cap < base {
            return Err(ConfigError::new(
                "Backoff",
                "cap",
                format!("{cap:?} (base {base:?})"),
                "a cap not below the base",
            ));
        }
        Ok(())
    }
}

/// `min(cap, base × 2^(retry-1))`, saturating.
fn ceiling(base: Duration, cap: Duration, retry: u32) -> Duration {
    let exp = retry.saturating_sub(1).min(31);
    base.saturating_mul(1u32 << exp).min(cap)
}

/// `d × r` for `r` in `[0, 1)`, in whole nanoseconds, never panicking.
fn scale(d: Duration, r: f64) -> Duration {
    let nanos = d.as_nanos() as f64 * r;
    // `as` saturates float-to-int conversions.
    Duration::from_nanos(nanos as u64).min(d)
}

fn unit_interval(r: f64) -> f64 {
    if r.is_nan() || r < 0.0 {
        0.0
    } else if r >= 1.0 {
        // The largest f64 below 1.
        1.0 - f64::EPSILON / 2.0
    } else {
        r
    }
}

/// Keeps a `dyn RandomSource` printable inside the configuration.
pub(crate) struct Random(pub(crate) Box<dyn RandomSource>);

impl fmt::Debug for Random {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RandomSource")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn full_jitter_is_r_times_the_doubling_ceiling() {
        let b = Backoff::exponential(100 * MS, 10_000 * MS);
        assert_eq!(b.delay(1, Duration::ZERO, 0.0), Duration::ZERO);
        assert_eq!(b.delay(1, Duration::ZERO, 0.5), 50 * MS);
        assert_eq!(b.delay(2, Duration::ZERO, 0.5), 100 * MS);
        assert_eq!(b.delay(3, Duration::ZERO, 0.25), 100 * MS);
        assert_eq!(b.delay(5, Duration::ZERO, 0.5), 800 * MS);
        // 100 ms × 2^7 = 12.8 s, capped at 10 s.
        assert_eq!(b.delay(8, Duration::ZERO, 0.5), 5_000 * MS);
        // Huge retry numbers saturate at the cap.
        assert_eq!(b.delay(u32::MAX, Duration::ZERO, 0.5), 5_000 * MS);
    }

    #[test]
    fn equal_jitter_keeps_half_the_ceiling() {
        let b = Backoff::equal_jitter(100 * MS, 1_000 * MS);
        assert_eq!(b.delay(1, Duration::ZERO, 0.0), 50 * MS);
        assert_eq!(b.delay(1, Duration::ZERO, 0.5), 75 * MS);
        assert_eq!(b.delay(3, Duration::ZERO, 0.5), 300 * MS);
        assert_eq!(b.delay(10, Duration::ZERO, 0.0), 500 * MS);
        assert_eq!(b.delay(10, Duration::ZERO, 0.5), 750 * MS);
    }

    #[test]
    fn decorrelated_grows_from_the_previous_wait() {
        let b = Backoff::decorrelated(100 * MS, 2_000 * MS);
        assert_eq!(b.initial_previous(), 100 * MS);
        // base + r × (3 × previous − base)
        assert_eq!(b.delay(1, 100 * MS, 0.0), 100 * MS);
        assert_eq!(b.delay(1, 100 * MS, 0.5), 200 * MS);
        assert_eq!(b.delay(2, 200 * MS, 0.5), 350 * MS);
        assert_eq!(b.delay(3, 350 * MS, 0.5), 575 * MS);
        // Capped.
        assert_eq!(b.delay(4, 1_900 * MS, 0.9), 2_000 * MS);
        // A previous wait below base counts as base.
        assert_eq!(b.delay(1, Duration::ZERO, 0.5), 200 * MS);
    }

    #[test]
    fn linear_constant_and_immediate_ignore_randomness() {
        let l = Backoff::linear(150 * MS, 500 * MS);
        assert_eq!(l.delay(1, Duration::ZERO, 0.7), 150 * MS);
        assert_eq!(l.delay(3, Duration::ZERO, 0.1), 450 * MS);
        assert_eq!(l.delay(4, Duration::ZERO, 0.1), 500 * MS);
        let c = Backoff::constant(250 * MS);
        assert_eq!(c.delay(1, Duration::ZERO, 0.3), 250 * MS);
        assert_eq!(c.delay(9, Duration::ZERO, 0.9), 250 * MS);
        assert_eq!(
            Backoff::immediate().delay(5, Duration::ZERO, 0.5),
            Duration::ZERO
        );
    }

    #[test]
    fn the_default_is_full_jitter_100ms_to_10s() {
        assert_eq!(
            Backoff::default(),
            Backoff::exponential(100 * MS, Duration::from_secs(10))
        );
    }

    #[test]
    fn hostile_random_values_are_clamped() {
        let b = Backoff::exponential(100 * MS, 1_000 * MS);
        assert_eq!(b.delay(1, Duration::ZERO, f64::NAN), Duration::ZERO);
        assert_eq!(b.delay(1, Duration::ZERO, -3.0), Duration::ZERO);
        assert!(b.delay(1, Duration::ZERO, 7.0) <= 100 * MS);
        assert!(b.delay(1, Duration::ZERO, f64::INFINITY) <= 100 * MS);
    }

    #[test]
    fn a_cap_below_the_base_is_rejected() {
        let err = Backoff::exponential(MS * 500, MS * 100)
            .validate()
            .unwrap_err();
        assert_eq!((err.component(), err.field()), ("Backoff", "cap"));
        assert!(err.to_string().contains("100ms"), "{err}");
        assert!(Backoff::constant(Duration::MAX).validate().is_ok());
    }

    proptest! {
        #[test]
        fn jittered_shapes_stay_within_their_bounds(
            base_ms in 1u64..5_000,
            extra_ms in 0u64..60_000,
            retry in 1u32..80,
            prev_ms in 0u64..100_000,
            r in 0.0f64..1.0,
        ) {
            let base = MS * base_ms as u32;
            let cap = base + MS * extra_ms as u32;
            let prev = MS * prev_ms as u32;
            let ceil = ceiling(base, cap, retry);
            prop_assert!(ceil <= cap);

            let full = Backoff::exponential(base, cap).delay(retry, prev, r);
            prop_assert!(full <= ceil);

            let equal = Backoff::equal_jitter(base, cap).delay(retry, prev, r);
            prop_assert!(equal >= ceil / 2 && equal <= ceil);

            let dec = Backoff::decorrelated(base, cap).delay(retry, prev, r);
            prop_assert!(dec >= base && dec <= cap);
            prop_assert!(dec <= prev.max(base) * 3);
        }
    }
}
