//! Sliding windows of call outcomes, updated with atomics only.
//!
//! Both windows take `now` (nanoseconds of the breaker's clock) as an
//! argument and do no I/O.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

use crate::config::WindowSettings;

/// What a window holds at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    pub(crate) fn new(settings: WindowSettings) -> Self {
        match settings {
            WindowSettings::Count { size } => Self::Count(CountWindow::new(size)),
            WindowSettings::Time {
                bucket_nanos,
                buckets,
            } => Self::Time(TimeWindow::new(bucket_nanos, buckets)),
        }
    }

    /// Whether the window needs the time (a count window does not).
    #[inline]
    pub(crate) fn is_timed(&self) -> bool {
        matches!(self, Self::Time(_))
    }

    #[inline]
    pub(crate) fn record(&self, now: u64, failure: bool, slow: bool) {
        match self {
            Self::Count(w) => w.record(failure, slow),
            Self::Time(w) => w.record(now, failure, slow),
        }
    }

    /// False when the window certainly holds no failure and no slow call, so
    /// no rate rule can trip. Cheap: one or two loads.
    #[inline]
    pub(crate) fn may_trip(&self, now: u64) -> bool {
        match self {
            Self::Count(w) => w.failures.load(Relaxed) != 0 || w.slow.load(Relaxed) != 0,
            Self::Time(w) => {
                let last = w.last_bad.load(Relaxed);
                last != 0 && now.saturating_sub(last - 1) < w.length
            }
        }
    }

    /// A number that stays the same while calls can only be added to the
    /// window, never leave it: the current bucket index of a time window
    /// (buckets expire when it changes); always 0 for a count window (a
    /// call leaving it is replaced by the new one).
    #[inline]
    pub(crate) fn epoch(&self, now: u64) -> u64 {
        match self {
            Self::Count(_) => 0,
            Self::Time(w) => w.locate(now).0,
        }
    }

    pub(crate) fn counts(&self, now: u64) -> Counts {
        match self {
            Self::Count(w) => w.counts(),
            Self::Time(w) => w.counts(now),
        }
    }

    pub(crate) fn reset(&self) {
        match self {
            Self::Count(w) => w.reset(),
            Self::Time(w) => w.reset(),
        }
    }
}

const FILLED: u8 = 1;
const FAILED: u8 = 2;
const SLOW: u8 = 4;

/// The last `size` outcomes in a ring of one byte each, plus running totals.
///
/// Each writer claims a slot with `fetch_add` and swaps its outcome in; the
/// swap returns the outcome it replaced exactly once, so the totals stay
/// exact even when writers race on one slot.
pub(crate) struct CountWindow {
    slots: Box<[AtomicU8]>,
    next: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl CountWindow {
    fn new(size: u32) -> Self {
        Self {
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            next: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            slow: AtomicU64::new(0),
        }
    }

    fn record(&self, failure: bool, slow: bool) {
        let (old, new) = self.claim(failure, slow);
        self.settle(old, new);
    }

    /// First half of [`record`](Self::record): puts the outcome in its slot
    /// and returns `(replaced, written)`.
    #[inline]
    fn claim(&self, failure: bool, slow: bool) -> (u8, u8) {
        let i = self.next.fetch_add(1, Relaxed);
        let new = FILLED | if failure { FAILED } else { 0 } | if slow { SLOW } else { 0 };
        let slot = &self.slots[(i % self.slots.len() as u64) as usize];
        (slot.swap(new, Relaxed), new)
    }

    /// Second half of [`record`](Self::record): moves the totals by what
    /// the slot lost and gained. Every change of a slot goes through a swap
    /// (here and in [`reset`](Self::reset)) that returns the replaced
    /// outcome exactly once, so the totals always come back to the number
    /// of flagged slots, whatever ran in between.
    #[inline]
    fn settle(&self, old: u8, new: u8) {
        if old == new {
            return;
        }
        Self::adjust(&self.failures, old & FAILED != 0, new & FAILED != 0);
        Self::adjust(&self.slow, old & SLOW != 0, new & SLOW != 0);
    }

    #[inline]
    fn adjust(total: &AtomicU64, was: bool, is: bool) {
        match (was, is) {
            (false, true) => {
                total.fetch_add(1, Relaxed);
            }
            (true, false) => {
                total.fetch_sub(1, Relaxed);
            }
            _ => {}
        }
    }

    fn counts(&self) -> Counts {
        let calls = self.next.load(Relaxed).min(self.slots.len() as u64);
        // A total is briefly "below zero" (wrapped) when a writer that
        // removed a flag settles before the writer that set it: that reads
        // as zero, never as a huge count. Nor can a window hold more
        // failures than calls.
        let total = |counter: &AtomicU64| {
            let v = counter.load(Relaxed);
            if v > self.slots.len() as u64 {
                0
            } else {
                v.min(calls)
            }
        };
        Counts {
            calls,
            failures: total(&self.failures),
            slow: total(&self.slow),
        }
    }

    /// Empties the ring. Each slot is swapped out and the totals lose what
    /// it held, so a writer racing with the reset (between its
    /// [`claim`](Self::claim) and its [`settle`](Self::settle)) leaves the
    /// totals consistent instead of wrapping them below zero.
    fn reset(&self) {
        for slot in self.slots.iter() {
            let old = slot.swap(0, Relaxed);
            self.settle(old, 0);
        }
        self.next.store(0, Relaxed);
    }
}

/// Bits of a bucket counter that hold the count; the rest hold a tag (the
/// low 24 bits of the bucket's index in time) saying which turn of the ring
/// the count belongs to.
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_MASK: u64 = (1 << (64 - COUNT_BITS)) - 1;
/// `current` packs the current bucket index above the slot number.
const SLOT_BITS: u32 = 16;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

struct Bucket {
    /// Calls of threads without a stripe of their own.
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

/// One cache line of counters.
#[repr(align(64))]
struct Line([AtomicU64; 8]);

/// A ring of time buckets whose counters carry the tag of the bucket
/// interval they count, so a stale counter is recognised (and restarted) by
/// whoever touches it next, without a lock or a background task.
///
/// Calls are counted per thread stripe (see [`crate::stripe`]): each stripe
/// holds one call counter per bucket, on cache lines of its own, written only
/// by its owner thread with a load and a store. Failures and slow calls
/// (rare) are counted once per bucket with atomic read-modify-writes.
pub(crate) struct TimeWindow {
    bucket_nanos: u64,
    length: u64,
    buckets: Box<[Bucket]>,
    /// `stripe::count()` stripes of `stride` lines each.
    stripes: Box<[Line]>,
    stride: usize,
    /// `index << 16 | slot` of the newest bucket seen, to skip two divisions
    /// on most calls.
    current: AtomicU64,
    /// `now + 1` of the latest failure or slow call (0: none).
    last_bad: AtomicU64,
}

impl TimeWindow {
    fn new(bucket_nanos: u64, buckets: u32) -> Self {
        let stride = (buckets as usize).div_ceil(8);
        let lines = stride * crate::stripe::count();
        Self {
            stripes: (0..lines)
                .map(|_| Line(std::array::from_fn(|_| AtomicU64::new(0))))
                .collect(),
            stride,
            bucket_nanos,
            length: bucket_nanos.saturating_mul(u64::from(buckets)),
            buckets: (0..buckets)
                .map(|_| Bucket {
                    calls: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    slow: AtomicU64::new(0),
                })
                .collect(),
            current: AtomicU64::new(0),
            last_bad: AtomicU64::new(0),
        }
    }

    /// The bucket index and ring slot of `now`.
    #[inline]
    fn locate(&self, now: u64) -> (u64, usize) {
        let current = self.current.load(Relaxed);
        let index = current >> SLOT_BITS;
        let start = index.wrapping_mul(self.bucket_nanos);
        if now >= start && now - start < self.bucket_nanos {
            return (index, (current & SLOT_MASK) as usize);
        }
        let index = now / self.bucket_nanos;
        let slot = (index % self.buckets.len() as u64) as usize;
        // Indexes only move forward (a clock set backwards is served by the
        // slow path above without disturbing the cache).
        self.current
            .fetch_max((index << SLOT_BITS) | slot as u64, Relaxed);
        (index, slot)
    }

    #[inline]
    fn bump(counter: &AtomicU64, tag: u64) {
        let mut seen = counter.load(Relaxed);
        loop {
            if seen >> COUNT_BITS == tag {
                counter.fetch_add(1, Relaxed);
                return;
            }
            // A count of an older turn of the ring: restart it at 1.
            match counter.compare_exchange_weak(seen, (tag << COUNT_BITS) | 1, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now_seen) => seen = now_seen,
            }
        }
    }

    #[inline]
    fn read(counter: &AtomicU64, tag: u64) -> u64 {
        let v = counter.load(Relaxed);
        if v >> COUNT_BITS == tag {
            v & COUNT_MASK
        } else {
            0
        }
    }

    #[inline]
    fn stripe_counter(&self, stripe: usize, slot: usize) -> &AtomicU64 {
        &self.stripes[stripe * self.stride + slot / 8].0[slot % 8]
    }

    #[inline]
    fn record(&self, now: u64, failure: bool, slow: bool) {
        let (index, slot) = self.locate(now);
        let tag = index & TAG_MASK;
        let bucket = &self.buckets[slot];
        match crate::stripe::current() {
            Some(stripe) => {
                // This thread is the stripe's only writer: no read-modify-write.
                let counter = self.stripe_counter(stripe, slot);
                let seen = counter.load(Relaxed);
                let next = if seen >> COUNT_BITS == tag {
                    seen + 1
                } else {
                    (tag << COUNT_BITS) | 1
                };
                counter.store(next, Relaxed);
            }
            None => Self::bump(&bucket.calls, tag),
        }
        if failure || slow {
            if failure {
                Self::bump(&bucket.failures, tag);
            }
            if slow {
                Self::bump(&bucket.slow, tag);
            }
            self.last_bad.fetch_max(now.saturating_add(1), Relaxed);
        }
    }

    fn counts(&self, now: u64) -> Counts {
        let (index, slot) = self.locate(now);
        let n = self.buckets.len();
        let mut counts = Counts::default();
        for back in 0..n {
            let Some(i) = index.checked_sub(back as u64) else {
                break;
            };
            let s = if slot >= back {
                slot - back
            } else {
                slot + n - back
            };
            let tag = i & TAG_MASK;
            let bucket = &self.buckets[s];
            counts.calls += Self::read(&bucket.calls, tag);
            for stripe in 0..crate::stripe::count() {
                counts.calls += Self::read(self.stripe_counter(stripe, s), tag);
            }
            counts.failures += Self::read(&bucket.failures, tag);
            counts.slow += Self::read(&bucket.slow, tag);
        }
        counts
    }

    /// Clears the window. An owner thread recording at the same moment may
    /// write its count back; transitions reset the window while closed-state
    /// results are already being dropped, so that does not happen there.
    fn reset(&self) {
        for bucket in self.buckets.iter() {
            bucket.calls.store(0, Relaxed);
            bucket.failures.store(0, Relaxed);
            bucket.slow.store(0, Relaxed);
        }
        for line in self.stripes.iter() {
            for counter in &line.0 {
                counter.store(0, Relaxed);
            }
        }
        self.last_bad.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn time_window(bucket_secs: u64, buckets: u32) -> Window {
        Window::new(WindowSettings::Time {
            bucket_nanos: bucket_secs * SEC,
            buckets,
        })
    }

    #[test]
    fn count_window_keeps_the_last_n_outcomes() {
        let w = Window::new(WindowSettings::Count { size: 4 });
        assert!(!w.may_trip(0));
        w.record(0, true, false);
        w.record(0, true, true);
        w.record(0, false, false);
        assert_eq!(
            w.counts(0),
            Counts {
                calls: 3,
                failures: 2,
                slow: 1
            }
        );
        w.record(0, false, false);
        w.record(0, false, false); // evicts the first failure
        assert_eq!(
            w.counts(0),
            Counts {
                calls: 4,
                failures: 1,
                slow: 1
            }
        );
        w.record(0, false, false); // evicts the slow failure
        assert_eq!(
            w.counts(0),
            Counts {
                calls: 4,
                failures: 0,
                slow: 0
            }
        );
        assert!(!w.may_trip(0));
        w.reset();
        assert_eq!(w.counts(0), Counts::default());
    }

    #[test]
    fn time_window_forgets_buckets_older_than_its_length() {
        // 3 buckets of 1 s: the window covers the current second and the two before.
        let w = time_window(1, 3);
        w.record(SEC / 2, true, false); // bucket 0
        w.record(SEC + 1, false, false); // bucket 1
        w.record(2 * SEC, false, true); // bucket 2
        assert_eq!(
            w.counts(2 * SEC),
            Counts {
                calls: 3,
                failures: 1,
                slow: 1
            }
        );
        // Bucket 3 reuses slot 0: bucket 0 is gone even before anyone writes.
        assert_eq!(
            w.counts(3 * SEC),
            Counts {
                calls: 2,
                failures: 0,
                slow: 1
            }
        );
        w.record(3 * SEC, false, false);
        assert_eq!(
            w.counts(3 * SEC),
            Counts {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        // Long idle: everything expires.
        assert_eq!(w.counts(100 * SEC), Counts::default());
        assert!(!w.may_trip(100 * SEC));
        assert!(w.may_trip(4 * SEC), "the slow call at 2 s is still inside");
    }

    #[test]
    fn time_window_counts_exactly_within_a_bucket() {
        let w = time_window(3, 10);
        for i in 0..1000u64 {
            w.record(i * 1_000_000, i % 4 == 0, false);
        }
        assert_eq!(
            w.counts(SEC),
            Counts {
                calls: 1000,
                failures: 250,
                slow: 0
            }
        );
    }

    #[test]
    fn time_window_survives_a_clock_going_backwards() {
        let w = time_window(1, 3);
        w.record(10 * SEC, true, false);
        w.record(5 * SEC, false, false);
        let c = w.counts(10 * SEC);
        assert_eq!(c.failures, 1);
        assert!(c.calls >= 1);
    }

    #[test]
    fn calls_from_many_threads_are_all_counted() {
        let w = time_window(3, 10);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for i in 0..1000u64 {
                        w.record(i * 1_000, i % 10 == 0, false);
                    }
                });
            }
        });
        assert_eq!(
            w.counts(SEC),
            Counts {
                calls: 8000,
                failures: 800,
                slow: 0
            }
        );
    }

    #[test]
    fn reset_clears_time_window() {
        let w = time_window(1, 3);
        w.record(0, true, true);
        w.reset();
        assert_eq!(w.counts(0), Counts::default());
        assert!(!w.may_trip(0));
    }

    /// Issue 11, item 9: a success in flight while the window is reset
    /// replaces a failure, the reset clears the ring, then the success
    /// settles. The totals used to be zeroed by the reset and then wrapped
    /// to `u64::MAX` by the success's decrement: a closed breaker with only
    /// successes in its window then tripped.
    #[test]
    fn a_success_settling_after_a_reset_never_wraps_the_failures() {
        let w = CountWindow::new(2);
        w.record(true, true);
        w.record(false, false);
        assert_eq!((w.counts().failures, w.counts().slow), (1, 1));
        let (old, new) = w.claim(false, false); // overwrites the failure
        assert_eq!(old, FILLED | FAILED | SLOW);
        w.reset();
        w.settle(old, new);
        assert_eq!(w.failures.load(Relaxed), 0, "no wrap, no drift");
        assert_eq!(w.slow.load(Relaxed), 0);
        assert_eq!(w.counts(), Counts::default());
        // and the window keeps counting exactly
        w.record(true, false);
        w.record(false, false);
        assert_eq!(
            w.counts(),
            Counts {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
    }

    /// A total that is briefly below zero (two writers on one slot settling
    /// out of order) reads as zero.
    #[test]
    fn transiently_negative_totals_read_as_zero() {
        let w = CountWindow::new(1);
        let (old_a, new_a) = w.claim(true, false); // A writes a failure
        let (old_b, new_b) = w.claim(false, false); // B replaces it
        w.settle(old_b, new_b); // B settles first: failures "-1"
        assert_eq!(w.counts().failures, 0);
        w.settle(old_a, new_a);
        assert_eq!(w.failures.load(Relaxed), 0);
    }
}
