//! The GCRA decision step: pure arithmetic on one `u64`, no I/O, no clock.
//!
//! The Generic Cell Rate Algorithm keeps one number per client, the
//! *theoretical arrival time* (TAT): when the client would have used up its
//! quota if it had sent requests exactly at the quota's pace. A request at
//! `now` is admitted when, after adding one period to the TAT, the TAT is no
//! further ahead of `now` than the whole burst window. A TAT at or before
//! `now` means "fully recovered": such state is indistinguishable from a
//! brand-new client and may be forgotten.
//!
//! All times are nanoseconds on one monotonic timeline (the layer's
//! [`Clock`](hardening_core::Clock)); a TAT of `0` is a fresh client. The
//! arithmetic saturates instead of overflowing.
//!
//! # Example
//!
//! ```
//! use std::num::NonZeroU32;
//! use hardening_ratelimit::{gcra::Gcra, Quota};
//!
//! let gcra = Gcra::new(Quota::per_minute(NonZeroU32::new(5).unwrap()));
//! let sec = 1_000_000_000;
//! let mut tat = 0;
//! for expected_remaining in (0..5).rev() {
//!     let step = gcra.decide(tat, 100 * sec);
//!     assert!(step.allowed);
//!     assert_eq!(step.remaining, expected_remaining);
//!     tat = step.tat;
//! }
//! let sixth = gcra.decide(tat, 100 * sec);
//! assert!(!sixth.allowed);
//! assert_eq!(sixth.retry_after, 12 * sec); // one period
//! assert_eq!(sixth.reset_after, 60 * sec); // whole window
//! assert_eq!(sixth.tat, tat);              // nothing consumed
//! ```

use crate::quota::Quota;

/// The GCRA parameters of one [`Quota`], in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gcra {
    period: u64,
    window: u64,
    burst: u32,
}

/// The result of one [`Gcra::decide`] step. Durations are nanoseconds from
/// `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcraStep {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// The TAT to store: the new one when admitted, the unchanged one (never
    /// before `now` is not guaranteed) when rejected.
    pub tat: u64,
    /// Requests that may still be made right now after this one (0 when
    /// rejected).
    pub remaining: u32,
    /// Time until the client has its whole burst back.
    pub reset_after: u64,
    /// Time until one request would be admitted (0 when admitted).
    pub retry_after: u64,
}

impl Gcra {
    /// The parameters of `quota`.
    pub const fn new(quota: Quota) -> Self {
        Self {
            period: quota.period_nanos(),
            window: quota.window_nanos(),
            burst: quota.burst().get(),
        }
    }

    /// Decides a request of one unit at `now` for a client whose stored TAT
    /// is `tat` (`0` for an unknown client).
    pub fn decide(&self, tat: u64, now: u64) -> GcraStep {
        let start = tat.max(now);
        let next = start.saturating_add(self.period);
        let limit = now.saturating_add(self.window);
        if next <= limit {
            GcraStep {
                allowed: true,
                tat: next,
                remaining: self.remaining_at(next, limit),
                reset_after: next - now,
                retry_after: 0,
            }
        } else {
            GcraStep {
                allowed: false,
                tat,
                remaining: 0,
                reset_after: start - now,
                retry_after: next - limit,
            }
        }
    }

    /// The state of a client without making a request: as [`decide`]'s
    /// result, but `tat` is unchanged, `remaining` counts the requests that
    /// would be admitted right now, `reset_after` is the time to full
    /// recovery, and `allowed` says whether one request would be admitted.
    ///
    /// [`decide`]: Gcra::decide
    pub fn peek(&self, tat: u64, now: u64) -> GcraStep {
        let start = tat.max(now);
        let limit = now.saturating_add(self.window);
        let remaining = if start <= limit {
            self.remaining_at(start, limit)
        } else {
            0
        };
        let next = start.saturating_add(self.period);
        GcraStep {
            allowed: next <= limit,
            tat,
            remaining,
            reset_after: start - now,
            retry_after: next.saturating_sub(limit),
        }
    }

    /// Whether a client with this TAT is fully recovered at `now`: its state
    /// equals a fresh client's and can be dropped.
    pub const fn is_recovered(tat: u64, now: u64) -> bool {
        tat <= now
    }

    /// The quota's period in nanoseconds.
    pub const fn period(&self) -> u64 {
        self.period
    }

    /// The quota's window (burst × period) in nanoseconds.
    pub const fn window(&self) -> u64 {
        self.window
    }

    /// The quota's burst.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    fn remaining_at(&self, tat: u64, limit: u64) -> u32 {
        let whole = (limit - tat) / self.period;
        u32::try_from(whole).unwrap_or(u32::MAX).min(self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::num::NonZeroU32;
    use std::time::Duration;

    const SEC: u64 = 1_000_000_000;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn burst_then_one_per_period() {
        let g = Gcra::new(Quota::per_minute(nz(5)));
        let now = 1000 * SEC;
        let mut tat = 0;
        for _ in 0..5 {
            let s = g.decide(tat, now);
            assert!(s.allowed);
            tat = s.tat;
        }
        assert!(!g.decide(tat, now).allowed);
        // 11.999 s later: still no
        let s = g.decide(tat, now + 12 * SEC - 1);
        assert!(!s.allowed);
        assert_eq!(s.retry_after, 1);
        // 12 s later: exactly one more
        let s = g.decide(tat, now + 12 * SEC);
        assert!(s.allowed);
        assert_eq!(s.remaining, 0);
        assert!(!g.decide(s.tat, now + 12 * SEC).allowed);
    }

    #[test]
    fn peek_reports_without_consuming() {
        let g = Gcra::new(Quota::per_second(nz(2)));
        let fresh = g.peek(0, 10 * SEC);
        assert!(fresh.allowed);
        assert_eq!(fresh.remaining, 2);
        assert_eq!(fresh.reset_after, 0);
        let s = g.decide(0, 10 * SEC);
        let p = g.peek(s.tat, 10 * SEC);
        assert_eq!(p.remaining, 1);
        assert_eq!(p.reset_after, SEC / 2);
        assert_eq!(p.tat, s.tat);
    }

    #[test]
    fn recovery_and_saturation() {
        assert!(Gcra::is_recovered(5, 5));
        assert!(!Gcra::is_recovered(6, 5));
        let g = Gcra::new(Quota::with_period(Duration::from_nanos(u64::MAX)).unwrap());
        let s = g.decide(0, u64::MAX - 1);
        assert!(s.allowed, "saturating arithmetic never panics");
        let _ = g.decide(s.tat, u64::MAX);
        let _ = g.peek(u64::MAX, 0);
    }

    /// The reference model: an exact integer token bucket that holds up to
    /// `window` nanoseconds of credit and spends `period` per request.
    struct TokenBucket {
        credit: u64,
        last: u64,
        period: u64,
        window: u64,
    }

    impl TokenBucket {
        fn admit(&mut self, now: u64) -> bool {
            self.credit = (self.credit + (now - self.last)).min(self.window);
            self.last = now;
            if self.credit >= self.period {
                self.credit -= self.period;
                true
            } else {
                false
            }
        }
    }

    proptest! {
        /// Over random request times, GCRA admits exactly the requests a
        /// token bucket admits, and never more than burst + elapsed/period.
        #[test]
        fn matches_token_bucket(
            burst in 1u32..20,
            period_ms in 1u64..5_000,
            gaps in proptest::collection::vec(0u64..3_000, 1..300),
        ) {
            let quota = Quota::with_period(Duration::from_millis(period_ms)).unwrap().with_burst(nz(burst));
            let g = Gcra::new(quota);
            let period = period_ms * 1_000_000;
            let start = 1_000 * SEC;
            let mut model = TokenBucket { credit: g.window(), last: start, period, window: g.window() };
            let mut tat = 0;
            let mut now = start;
            let mut admitted = 0u64;
            for gap in gaps {
                now += gap * 1_000_000;
                let step = g.decide(tat, now);
                prop_assert_eq!(step.allowed, model.admit(now), "at {}", now - start);
                if step.allowed {
                    admitted += 1;
                    prop_assert!(step.remaining < burst);
                    prop_assert_eq!(step.retry_after, 0);
                } else {
                    prop_assert!(step.retry_after > 0 && step.retry_after <= period);
                    prop_assert_eq!(step.tat, tat);
                }
                tat = step.tat;
            }
            prop_assert!(admitted <= u64::from(burst) + (now - start) / period);
        }
    }
}
