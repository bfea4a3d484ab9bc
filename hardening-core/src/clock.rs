//! An injectable clock, so time-dependent logic is exact and fast to test.
//!
//! Every crate of the workspace reads time through [`Clock`]. Production code
//! uses [`MonotonicClock`]; tests use [`FakeClock`] and move time by hand.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_core::clock::{Clock, FakeClock};
//!
//! let clock = FakeClock::new();
//! let start = clock.now();
//! clock.advance(Duration::from_millis(1500));
//! assert_eq!(clock.now() - start, Duration::from_millis(1500));
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A source of time.
///
/// [`now`](Clock::now) is monotonic: it never goes backwards, on any thread.
/// It is measured from an epoch private to the clock, so readings are only
/// comparable with readings of the same clock (or of a clone of it).
///
/// Implementations must be cheap: the rate limiter and the circuit breaker
/// read the clock on every request.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Monotonic time elapsed since this clock's epoch.
    fn now(&self) -> Duration;

    /// Wall-clock time, for values that leave the process (HTTP dates, report
    /// timestamps). Never use it to measure intervals.
    fn system_time(&self) -> SystemTime {
        SystemTime::now()
    }

    /// [`now`](Clock::now) in whole nanoseconds, saturating at `u64::MAX`
    /// (about 584 years), handy for state kept in atomics.
    fn now_nanos(&self) -> u64 {
        duration_to_nanos(self.now())
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Duration {
        (**self).now()
    }

    fn system_time(&self) -> SystemTime {
        (**self).system_time()
    }

    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

impl<C: Clock + ?Sized> Clock for &'static C {
    fn now(&self) -> Duration {
        (**self).now()
    }

    fn system_time(&self) -> SystemTime {
        (**self).system_time()
    }

    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

/// Converts a duration to nanoseconds, saturating at `u64::MAX`.
pub fn duration_to_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The production clock: [`std::time::Instant`], which the standard library
/// guarantees never to go backwards, even when a task moves between cores.
///
/// All `MonotonicClock`s share one process-wide epoch (the first reading), so
/// readings of different instances are comparable.
///
/// # Clone
///
/// A zero-sized `Copy` type: every copy reads the same clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonotonicClock;

impl MonotonicClock {
    /// The monotonic clock.
    pub const fn new() -> Self {
        Self
    }

    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now(&self) -> Duration {
        // `saturating_duration_since` keeps this total even if the platform
        // clock misbehaves.
        Instant::now().saturating_duration_since(Self::epoch())
    }
}

/// A cheaper monotonic clock with a resolution of a few milliseconds.
///
/// On Linux and Android it reads `CLOCK_MONOTONIC_COARSE` (the time of the
/// last kernel tick, typically 1 to 4 ms old) through the vDSO, without
/// reading the CPU's time-stamp counter: several times cheaper than
/// [`MonotonicClock`], which matters on virtual machines where the precise
/// clock costs ~80 ns. Elsewhere it is [`MonotonicClock`].
///
/// Use it where millisecond resolution is plenty (sliding windows of
/// seconds, open durations); use [`MonotonicClock`] to time short intervals.
///
/// # Clone
///
/// A zero-sized `Copy` type: every copy reads the same clock, with one
/// process-wide epoch (its first reading).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoarseMonotonicClock;

impl CoarseMonotonicClock {
    /// The coarse monotonic clock.
    pub const fn new() -> Self {
        Self
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[inline]
    fn raw_nanos() -> u64 {
        let ts = rustix::time::clock_gettime(rustix::time::ClockId::MonotonicCoarse);
        let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
        let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
        secs.saturating_mul(1_000_000_000).saturating_add(nanos)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    #[inline]
    fn raw_nanos() -> u64 {
        MonotonicClock.now_nanos()
    }

    #[inline]
    fn epoch() -> u64 {
        static EPOCH: OnceLock<u64> = OnceLock::new();
        *EPOCH.get_or_init(Self::raw_nanos)
    }
}

impl Clock for CoarseMonotonicClock {
    #[inline]
    fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }

    #[inline]
    fn now_nanos(&self) -> u64 {
        let epoch = Self::epoch();
        Self::raw_nanos().saturating_sub(epoch)
    }
}

/// A clock for tests that only moves when told to.
///
/// Starts at zero (or at [`FakeClock::starting_at`]); its wall clock starts at
/// 2023-11-14T22:13:20Z (`1_700_000_000` seconds after the Unix epoch) and
/// moves with it.
///
/// # Clone
///
/// Clones share the same time: advancing one advances all of them, which is
/// how a test hands the clock to a layer and keeps a handle to move it.
#[derive(Clone, Default)]
pub struct FakeClock {
    nanos: Arc<AtomicU64>,
}

impl FakeClock {
    /// Wall-clock time at the fake clock's zero.
    pub const WALL_EPOCH_SECS: u64 = 1_700_000_000;

    /// A fake clock at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fake clock at `start`.
    pub fn starting_at(start: Duration) -> Self {
        let clock = Self::new();
        clock.set(start);
        clock
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = duration_to_nanos(by);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Sets the clock to `to`. Setting it backwards is allowed (to test how
    /// code copes), but real clocks never do that.
    pub fn set(&self, to: Duration) {
        self.nanos.store(duration_to_nanos(to), Ordering::SeqCst);
    }
}

impl fmt::Debug for FakeClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeClock")
            .field("now", &self.now())
            .finish()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(Self::WALL_EPOCH_SECS) + self.now()
    }

    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_never_goes_backwards() {
        let clock = MonotonicClock::new();
        let mut last = clock.now();
        for _ in 0..10_000 {
            let now = clock.now();
            assert!(now >= last);
            last = now;
        }
    }

    #[test]
    fn monotonic_clocks_share_an_epoch() {
        let a = MonotonicClock::new().now();
        let b = MonotonicClock::new().now();
        assert!(b >= a);
        assert!(b - a < Duration::from_secs(5));
    }

    #[test]
    fn coarse_clock_is_monotonic_and_close_to_the_precise_one() {
        let coarse = CoarseMonotonicClock::new();
        let precise = MonotonicClock::new();
        let (c0, p0) = (coarse.now(), precise.now());
        let mut last = c0;
        for _ in 0..10_000 {
            let now = coarse.now();
            assert!(now >= last);
            last = now;
        }
        std::thread::sleep(Duration::from_millis(50));
        let (c1, p1) = (coarse.now(), precise.now());
        let coarse_elapsed = c1 - c0;
        let precise_elapsed = p1 - p0;
        // Within the coarse clock's resolution (a few ms; allow 20 ms).
        let diff = coarse_elapsed.abs_diff(precise_elapsed);
        assert!(
            diff < Duration::from_millis(20),
            "{coarse_elapsed:?} vs {precise_elapsed:?}"
        );
        assert_eq!(
            Duration::from_nanos(coarse.now_nanos()).as_secs(),
            coarse.now().as_secs()
        );
    }

    #[test]
    fn fake_clock_clones_share_time() {
        let clock = FakeClock::starting_at(Duration::from_secs(10));
        let handle = clock.clone();
        handle.advance(Duration::from_millis(250));
        assert_eq!(clock.now(), Duration::from_millis(10_250));
        assert_eq!(clock.now_nanos(), 10_250_000_000);
        assert_eq!(
            clock.system_time(),
            UNIX_EPOCH
                + Duration::from_secs(FakeClock::WALL_EPOCH_SECS + 10)
                + Duration::from_millis(250)
        );
    }

    #[test]
    fn fake_clock_saturates_instead_of_overflowing() {
        let clock = FakeClock::starting_at(Duration::from_nanos(u64::MAX - 1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(clock.now_nanos(), u64::MAX);
    }

    #[test]
    fn arc_dyn_clock_delegates() {
        let fake = FakeClock::new();
        let shared: Arc<dyn Clock> = Arc::new(fake.clone());
        fake.advance(Duration::from_secs(3));
        assert_eq!(shared.now(), Duration::from_secs(3));
        assert_eq!(shared.system_time(), fake.system_time());
    }
}
