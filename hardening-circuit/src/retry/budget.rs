//! The retry budget: retries may add at most a fraction of the traffic, so a
//! fleet of clients cannot turn an outage into a retry storm.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hardening_core::clock::{Clock, MonotonicClock};

use crate::ConfigError;

/// Number of slots the window is split into.
const SLOTS: usize = 10;

/// A budget for retries shared by every clone of a [`RetryLayer`](super::RetryLayer)
/// (and by any other layer given a clone of it).
///
/// Over a sliding window (default 10 s, kept in 10 slots), retries may number
/// at most `floor + ratio × requests`, where *requests* counts the calls that
/// were eligible for retry (the first attempt of each). The defaults are
/// `ratio = 0.1` (retries add at most 10 % load) and `floor = 10` (about one
/// retry a second, so a quiet client can still retry at all).
///
/// Lock-free: each slot is a pair of atomic words packing the slot's epoch
/// with its count; recording a request is one clock read and one atomic add.
/// Under concurrent callers the check-then-withdraw of a retry can admit a
/// few retries more than the exact limit; it never admits unboundedly many.
///
/// Time comes from a [`Clock`], so tests drive the window with a
/// [`FakeClock`](hardening_core::clock::FakeClock).
///
/// # Clone
///
/// Clones share the same counters.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_circuit::retry::Budget;
/// use hardening_core::clock::FakeClock;
///
/// let clock = FakeClock::new();
/// let budget = Budget::builder()
///     .ratio(0.5)
///     .floor(0)
///     .window(Duration::from_secs(10))
///     .clock(clock.clone())
///     .build()
///     .unwrap();
/// for _ in 0..4 {
///     budget.deposit();
/// }
/// assert!(budget.try_withdraw());
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw()); // 2 retries = 50 % of 4 requests
///
/// clock.advance(Duration::from_secs(11)); // everything expired
/// assert_eq!(budget.available(), 0);
/// ```
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

struct Inner {
    /// Retries allowed per request, scaled by `SCALE`.
    ratio_scaled: u64,
    ratio: f64,
    floor: u32,
    window: Duration,
    slot_nanos: u64,
    clock: BudgetClock,
    slots: [Slot; SLOTS],
}

/// The default clock stays concrete so reading it inlines; `deposit` runs
/// on every retryable request.
enum BudgetClock {
    Monotonic(MonotonicClock),
    Custom(Box<dyn Clock>),
}

impl BudgetClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        match self {
            BudgetClock::Monotonic(clock) => clock.now_nanos(),
            BudgetClock::Custom(clock) => clock.now_nanos(),
        }
    }
}

/// `ratio` is kept as a fixed-point integer with this many parts per unit.
const SCALE: u64 = 1_000_000;

#[derive(Default)]
struct Slot {
    /// `epoch << 32 | count` of first attempts.
    requests: AtomicU64,
    /// `epoch << 32 | count` of retries.
    retries: AtomicU64,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("ratio", &self.inner.ratio)
            .field("floor", &self.inner.floor)
            .field("window", &self.inner.window)
            .field("available", &self.available())
            .finish()
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new()
    }
}

impl Budget {
    /// The default budget: 10 % of requests plus 10 retries per 10 s window,
    /// on the monotonic clock.
    pub fn new() -> Self {
        // The defaults are valid; a failure here would be a bug caught by the
        // unit tests, so fall back to a budget that never retries rather than
        // panic.
        BudgetBuilder::default()
            .build()
            .unwrap_or_else(|_| Self::from_parts(0.0, 0, Duration::from_secs(10), None))
    }

    /// A builder starting from the defaults.
    pub fn builder() -> BudgetBuilder {
        BudgetBuilder::default()
    }

    fn from_parts(ratio: f64, floor: u32, window: Duration, clock: Option<Box<dyn Clock>>) -> Self {
        let window_nanos = u64::try_from(window.as_nanos()).unwrap_or(u64::MAX);
        Self {
            inner: Arc::new(Inner {
                ratio_scaled: (ratio * SCALE as f64) as u64,
                ratio,
                floor,
                window,
                slot_nanos: (window_nanos / SLOTS as u64).max(1),
                clock: match clock {
                    Some(clock) => BudgetClock::Custom(clock),
                    None => BudgetClock::Monotonic(MonotonicClock::new()),
                },
                slots: Default::default(),
            }),
        }
    }

    /// Records one request that may be retried. The retry layer calls it once
    /// per eligible call.
    #[inline]
    pub fn deposit(&self) {
        let epoch = self.epoch();
        bump(&self.slot(epoch).requests, epoch);
    }

    /// Takes one retry from the budget if there is room; `false` means the
    /// retry must not happen.
    pub fn try_withdraw(&self) -> bool {
        let epoch = self.epoch();
        if self.available_at(epoch) == 0 {
            return false;
        }
        bump(&self.slot(epoch).retries, epoch);
        true
    }

    /// How many retries the window allows right now.
    pub fn available(&self) -> u64 {
        self.available_at(self.epoch())
    }

    fn available_at(&self, epoch: u32) -> u64 {
        let (requests, retries) = self.totals(epoch);
        let allowed = u64::from(self.inner.floor)
            .saturating_add(requests.saturating_mul(self.inner.ratio_scaled) / SCALE);
        allowed.saturating_sub(retries)
    }

    fn totals(&self, epoch: u32) -> (u64, u64) {
        let mut requests = 0u64;
        let mut retries = 0u64;
        for slot in &self.inner.slots {
            requests += count_in_window(slot.requests.load(Ordering::Acquire), epoch);
            retries += count_in_window(slot.retries.load(Ordering::Acquire), epoch);
        }
        (requests, retries)
    }

    fn epoch(&self) -> u32 {
        // Truncation to 32 bits is intended: epochs are compared with
        // wrapping arithmetic.
        (self.inner.clock.now_nanos() / self.inner.slot_nanos) as u32
    }

    fn slot(&self, epoch: u32) -> &Slot {
        &self.inner.slots[epoch as usize % SLOTS]
    }
}

/// The count packed in `word` if its epoch lies in the window ending at
/// `epoch`, else zero.
fn count_in_window(word: u64, epoch: u32) -> u64 {
    let slot_epoch = (word >> 32) as u32;
    if (epoch.wrapping_sub(slot_epoch) as usize) < SLOTS {
        word & u64::from(u32::MAX)
    } else {
        0
    }
}

/// Adds one to the slot word for `epoch`, resetting the slot when it still
/// holds an older epoch.
fn bump(word: &AtomicU64, epoch: u32) {
    let fresh = (u64::from(epoch) << 32) | 1;
    let mut current = word.load(Ordering::Acquire);
    loop {
        let slot_epoch = (current >> 32) as u32;
        // Same epoch, or a newer one written by a thread that read the clock
        // a moment later: count into it.
        if (slot_epoch.wrapping_sub(epoch) as i32) >= 0 && current != 0 {
            if current & u64::from(u32::MAX) == u64::from(u32::MAX) {
                return; // saturated: 4 billion in one slot
            }
            word.fetch_add(1, Ordering::AcqRel);
            return;
        }
        match word.compare_exchange_weak(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

/// Builds a [`Budget`]; [`build`](BudgetBuilder::build) validates.
#[derive(Debug)]
pub struct BudgetBuilder {
    ratio: f64,
    floor: u32,
    window: Duration,
    clock: Option<ClockBox>,
}

struct ClockBox(Box<dyn Clock>);

impl fmt::Debug for ClockBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Default for BudgetBuilder {
    fn default() -> Self {
        Self {
            ratio: 0.1,
            floor: 10,
            window: Duration::from_secs(10),
            clock: None,
        }
    }
}

impl BudgetBuilder {
    /// Retries allowed per request over the window (default `0.1`). Must be
    /// finite and between 0 and 1000.
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// Retries allowed per window whatever the traffic (default 10).
    pub fn floor(mut self, floor: u32) -> Self {
        self.floor = floor;
        self
    }

    /// The sliding window (default 10 s); at least 10 ms.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The clock the window is measured on (default
    /// [`MonotonicClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(ClockBox(Box::new(clock)));
        self
    }

    /// The budget.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming `ratio` (negative, NaN, infinite or above
    /// 1000) or `window` (below 10 ms).
    pub fn build(self) -> Result<Budget, ConfigError> {
        if !(self.ratio.is_finite() && (0.0..=1000.0).contains(&self.ratio)) {
            return Err(ConfigError::new(
                "Budget",
                "ratio",
                self.ratio,
                "a finite number between 0 and 1000",
            ));
        }
        if self.window < Duration::from_millis(10) {
            return Err(ConfigError::new(
                "Budget",
                "window",
                format_args!("{:?}", self.window),
                "at least 10ms",
            ));
        }
        Ok(Budget::from_parts(
            self.ratio,
            self.floor,
            self.window,
            self.clock.map(|c| c.0),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardening_core::clock::FakeClock;

    fn budget(ratio: f64, floor: u32, clock: &FakeClock) -> Budget {
        Budget::builder()
            .ratio(ratio)
            .floor(floor)
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    #[test]
    fn defaults_allow_ten_percent_plus_a_floor_of_ten() {
        let clock = FakeClock::new();
        let b = Budget::builder().clock(clock.clone()).build().unwrap();
        assert_eq!(b.available(), 10);
        for _ in 0..100 {
            b.deposit();
        }
        assert_eq!(b.available(), 20);
        let mut granted = 0;
        while b.try_withdraw() {
            granted += 1;
        }
        assert_eq!(granted, 20);
        // 10 more requests give exactly one more retry.
        for _ in 0..10 {
            b.deposit();
        }
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
    }

    #[test]
    fn floor_alone_lets_a_quiet_client_retry() {
        let clock = FakeClock::new();
        let b = budget(0.1, 3, &clock);
        assert!(b.try_withdraw());
        assert!(b.try_withdraw());
        assert!(b.try_withdraw());
        assert!(!b.try_withdraw());
    }

    #[test]
    fn zero_budget_never_retries() {
        let clock = FakeClock::new();
        let b = budget(0.0, 0, &clock);
        for _ in 0..1000 {
            b.deposit();
        }
        assert!(!b.try_withdraw());
    }

    #[test]
    fn deposits_and_withdrawals_expire_with_the_window() {
        let clock = FakeClock::new();
        let b = budget(0.5, 0, &clock);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.available(), 5);
        clock.advance(Duration::from_secs(5));
        for _ in 0..2 {
            b.deposit();
        }
        assert!(b.try_withdraw());
        assert_eq!(b.available(), 5); // (12 × 0.5) − 1
                                      // The first ten requests leave the 10 s window after t = 10 s.
        clock.advance(Duration::from_millis(5_500));
        assert_eq!(b.available(), 0); // 2 × 0.5 − 1
                                      // The retry and the last two requests leave it after t = 15 s.
        clock.advance(Duration::from_secs(5));
        assert_eq!(b.available(), 0);
        for _ in 0..4 {
            b.deposit();
        }
        assert_eq!(b.available(), 2);
    }

    #[test]
    fn a_slot_reused_after_a_full_window_starts_from_zero() {
        let clock = FakeClock::new();
        let b = budget(1.0, 0, &clock);
        for _ in 0..7 {
            b.deposit();
        }
        // Exactly one window later the same slot index comes back.
        clock.advance(Duration::from_secs(10));
        b.deposit();
        assert_eq!(b.available(), 1);
    }

    #[test]
    fn clones_share_counters() {
        let clock = FakeClock::new();
        let b = budget(1.0, 0, &clock);
        let c = b.clone();
        b.deposit();
        assert!(c.try_withdraw());
        assert!(!b.try_withdraw());
    }

    #[test]
    fn concurrent_callers_never_lose_deposits() {
        let clock = FakeClock::new();
        let b = budget(1.0, 0, &clock);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let b = b.clone();
                s.spawn(move || {
                    for _ in 0..10_000 {
                        b.deposit();
                    }
                });
            }
        });
        assert_eq!(b.available(), 40_000);
    }

    #[test]
    fn invalid_settings_name_the_field() {
        let err = Budget::builder().ratio(-0.1).build().unwrap_err();
        assert_eq!((err.component(), err.field()), ("Budget", "ratio"));
        assert!(err.to_string().contains("-0.1"), "{err}");
        let err = Budget::builder().ratio(f64::NAN).build().unwrap_err();
        assert_eq!(err.field(), "ratio");
        let err = Budget::builder()
            .window(Duration::from_millis(1))
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "window");
        assert!(err.to_string().contains("1ms"), "{err}");
    }

    #[test]
    fn survives_a_clock_far_in_the_future() {
        let clock = FakeClock::starting_at(Duration::from_nanos(u64::MAX - 5));
        let b = budget(1.0, 1, &clock);
        b.deposit();
        assert_eq!(b.available(), 2);
    }
}
