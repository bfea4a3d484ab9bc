//! Which admitted requests an adaptive limiter times.
//!
//! Timing a request costs two clock reads (tens of nanoseconds each on a
//! virtual machine), more than the rest of the admission. A controller needs
//! a few hundred RTTs per window, not millions, so under heavy traffic the
//! limiter times a random sample: one request in `every`, with `every`
//! chosen at each window's close from that window's volume
//! ([`next_every`]). While a window holds fewer than twice
//! [`target`] requests every request is timed, exactly as without sampling.
//!
//! The gaps between two timed requests of a thread are drawn uniformly from
//! `1..=2·every − 1` (mean `every`) by a per-thread generator, so periodic
//! traffic (every 64th request is slow) cannot alias with the sampling and
//! bias the window's average RTT. The average of the sample is an unbiased
//! estimate of the window's; its minimum is at least the window's minimum
//! (a few hundred samples find it closely). Drops and the in-flight maximum
//! are counted for every request, timed or not.

use std::cell::Cell;

/// The most admitted requests one timed request stands for.
pub const MAX_SAMPLE_EVERY: u32 = 128;

/// The timed requests a window aims for: 256, or 4 × `min_samples` if
/// that is more (so windows rarely have to stretch to reach `min_samples`).
pub(crate) fn target(min_samples: u32) -> u64 {
    u64::from(min_samples).saturating_mul(4).max(256)
}

/// The sampling period for the next window, after a window of `samples`
/// timed requests sampled one in `every`: the window's volume
/// (`samples × every`) divided by [`target`], rounded down, within
/// `1..=MAX_SAMPLE_EVERY`.
pub(crate) fn next_every(samples: u32, every: u32, min_samples: u32) -> u32 {
    let volume = u64::from(samples) * u64::from(every.max(1));
    let next = volume / target(min_samples);
    next.clamp(1, u64::from(MAX_SAMPLE_EVERY)) as u32
}

/// A thread's sampling state: requests left until the next timed one, and
/// a xorshift generator for the gaps.
struct Sampler {
    countdown: Cell<u32>,
    rng: Cell<u64>,
}

thread_local! {
    static SAMPLER: Sampler = const {
        Sampler {
            countdown: Cell::new(0),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15),
        }
    };
}

impl Sampler {
    fn take(&self, every: u32) -> bool {
        // A period that just shrank must not wait out a long gap.
        let left = self.countdown.get().min(2 * every - 1);
        if left > 1 {
            self.countdown.set(left - 1);
            return false;
        }
        self.countdown.set(self.gap(every));
        true
    }

    /// A gap uniform in `1..=2·every − 1`.
    fn gap(&self, every: u32) -> u32 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        let span = u64::from(2 * every - 1);
        1 + (((x >> 32) * span) >> 32) as u32
    }
}

/// Whether to time this request when sampling one in `every` (`every` ≤ 1:
/// always).
#[inline]
pub(crate) fn take(every: u32) -> bool {
    if every <= 1 {
        return true;
    }
    SAMPLER.try_with(|s| s.take(every)).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn light_traffic_times_every_request() {
        assert!((0..1000).all(|_| take(1)));
        assert!((0..1000).all(|_| take(0)));
        // A window of 511 requests: below twice the target, still all timed.
        assert_eq!(next_every(511, 1, 10), 1);
        assert_eq!(next_every(0, 1, 10), 1);
    }

    #[test]
    fn the_period_follows_the_window_volume_within_bounds() {
        assert_eq!(next_every(512, 1, 10), 2);
        assert_eq!(next_every(10_000, 1, 10), 39);
        // 300 samples at one in 39 stand for 11,700 requests.
        assert_eq!(next_every(300, 39, 10), 45);
        assert_eq!(next_every(2_000_000, 1, 10), MAX_SAMPLE_EVERY);
        assert_eq!(next_every(u32::MAX, MAX_SAMPLE_EVERY, 10), MAX_SAMPLE_EVERY);
        // Traffic fell: a window that only reached min_samples.
        assert_eq!(next_every(10, MAX_SAMPLE_EVERY, 10), 5);
        assert_eq!(next_every(10, 5, 10), 1);
        // A large min_samples raises the target.
        assert_eq!(target(1_000), 4_000);
        assert_eq!(next_every(8_000, 1, 1_000), 2);
    }

    #[test]
    fn one_in_every_is_timed_with_random_gaps() {
        std::thread::spawn(|| {
            let every = 64;
            let mut timed = Vec::new();
            for i in 0..640_000_u32 {
                if take(every) {
                    timed.push(i);
                }
            }
            // Expected 10,000; the gaps are uniform in 1..=127.
            assert!((9_500..=10_500).contains(&timed.len()), "{}", timed.len());
            let gaps: Vec<u32> = timed.windows(2).map(|w| w[1] - w[0]).collect();
            assert!(gaps.iter().all(|g| (1..=127).contains(g)));
            let distinct: std::collections::BTreeSet<_> = gaps.iter().collect();
            assert!(
                distinct.len() > 100,
                "not periodic: {} gap sizes",
                distinct.len()
            );
            // When the period shrinks, the next timed request comes within
            // the new period's longest gap.
            assert!((0..3).any(|_| take(2)));
        })
        .join()
        .unwrap();
    }
}
