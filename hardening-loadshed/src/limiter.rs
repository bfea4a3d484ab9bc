//! The shared limiter: lock-free admission by class, permits that release on
//! drop, and the window of samples that drives an adaptive controller.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::Duration;

use hardening_core::clock::Clock;

use crate::algorithm::{LimitAlgorithm, WindowSample};
use crate::error::Overloaded;
use crate::priority::{InFlight, Priority, Shares};
use crate::sampling;
use hardening_core::observe::ConcurrencyStats;

/// Bits per class in the packed in-flight counter (three classes in one
/// `u64`, so admission is a single compare-and-swap).
const BITS: u32 = 21;
const MASK: u64 = (1 << BITS) - 1;

#[inline]
const fn one(priority: Priority) -> u64 {
    1 << (BITS * priority.index() as u32)
}

#[inline]
fn unpack(packed: u64) -> InFlight {
    InFlight {
        critical: (packed & MASK) as u32,
        default: ((packed >> BITS) & MASK) as u32,
        sheddable: ((packed >> (2 * BITS)) & MASK) as u32,
    }
}

/// How a request that held a [`Permit`] ended, for the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The inner service answered.
    Success,
    /// The inner service failed or answered that it is overloaded (`429`,
    /// `503`, `504`): a congestion signal.
    Dropped,
}

/// A change of the concurrency limit, handed to the
/// [`on_limit_change`](crate::ConcurrencyLimitLayerBuilder::on_limit_change)
/// hook (for metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitChange {
    /// The controller's name (`"gradient2"`, …).
    pub algorithm: &'static str,
    /// The limit before the window closed.
    pub from: u32,
    /// The new limit.
    pub to: u32,
    /// The window that led to the change.
    pub window: WindowSample,
}

pub(crate) type LimitHook = Arc<dyn Fn(&LimitChange) + Send + Sync>;

struct Controller {
    algorithm: Box<dyn LimitAlgorithm>,
    last_log: Option<u64>,
    suppressed: u64,
}

/// Samples of the current window, in atomics so that recording takes no lock.
struct WindowAcc {
    start: AtomicU64,
    /// Completed requests (low 32 bits) and drops (high 32 bits).
    count_drops: AtomicU64,
    rtt_sum: AtomicU64,
    rtt_min: AtomicU64,
    max_in_flight: AtomicU32,
}

pub(crate) struct Adaptive {
    clock: Arc<dyn Clock>,
    window: u64,
    min_samples: u32,
    /// Time one admitted request in this many (1: every one); set when a
    /// window closes, from that window's volume ([`sampling::next_every`]).
    sample_every: AtomicU32,
    log_interval: u64,
    acc: WindowAcc,
    controller: Mutex<Controller>,
    hook: Option<LimitHook>,
}

pub(crate) struct AdaptiveSettings {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) window: Duration,
    pub(crate) min_samples: u32,
    pub(crate) log_interval: Duration,
    pub(crate) hook: Option<LimitHook>,
}

struct Shared {
    in_flight: AtomicU64,
    limit: AtomicU32,
    shares: Shares,
    /// `shares == Shares::NONE`: admission is `total < limit`.
    shares_none: bool,
    retry_after: Duration,
    rejected: [AtomicU64; 3],
    adaptive: Option<Adaptive>,
}

/// The limit shared by a layer and every service it made: admission,
/// in-flight counts, rejections.
///
/// Use it for metrics ([`limit`](Limiter::limit),
/// [`in_flight`](Limiter::in_flight), [`rejected`](Limiter::rejected)), or
/// to limit work that is not a tower service with
/// [`try_acquire`](Limiter::try_acquire).
///
/// # Clone
///
/// Clones share one limit and one set of counters.
///
/// # Example
///
/// ```
/// use hardening_loadshed::{ConcurrencyLimitLayer, Priority};
///
/// let layer = ConcurrencyLimitLayer::new(2).unwrap();
/// let limiter = layer.limiter();
/// let a = limiter.try_acquire(Priority::Default).unwrap();
/// let _b = limiter.try_acquire(Priority::Default).unwrap();
/// assert!(limiter.try_acquire(Priority::Critical).is_err());
/// drop(a);
/// assert_eq!(limiter.in_flight().total(), 1);
/// assert_eq!(limiter.rejected(Priority::Critical), 1);
/// ```
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Shared>,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("limit", &self.limit())
            .field("in_flight", &self.in_flight())
            .field("shares", &self.shared.shares)
            .finish()
    }
}

impl Limiter {
    pub(crate) fn new(
        algorithm: Box<dyn LimitAlgorithm>,
        shares: Shares,
        retry_after: Duration,
        settings: AdaptiveSettings,
    ) -> Self {
        let limit = algorithm.limit();
        let adaptive = (!algorithm.is_fixed()).then(|| Adaptive {
            acc: WindowAcc {
                start: AtomicU64::new(settings.clock.now_nanos()),
                count_drops: AtomicU64::new(0),
                rtt_sum: AtomicU64::new(0),
                rtt_min: AtomicU64::new(u64::MAX),
                max_in_flight: AtomicU32::new(0),
            },
            clock: settings.clock,
            window: hardening_core::clock::duration_to_nanos(settings.window),
            min_samples: settings.min_samples,
            sample_every: AtomicU32::new(1),
            log_interval: hardening_core::clock::duration_to_nanos(settings.log_interval),
            controller: Mutex::new(Controller {
                algorithm,
                last_log: None,
                suppressed: 0,
            }),
            hook: settings.hook,
        });
        Self {
            shared: Arc::new(Shared {
                in_flight: AtomicU64::new(0),
                limit: AtomicU32::new(limit),
                shares,
                shares_none: shares == Shares::NONE,
                retry_after,
                rejected: Default::default(),
                adaptive,
            }),
        }
    }

    /// The current concurrency limit.
    pub fn limit(&self) -> u32 {
        self.shared.limit.load(Ordering::Relaxed)
    }

    /// Requests in flight, by class.
    pub fn in_flight(&self) -> InFlight {
        unpack(self.shared.in_flight.load(Ordering::Relaxed))
    }

    /// Requests of class `priority` rejected so far.
    pub fn rejected(&self, priority: Priority) -> u64 {
        self.shared.rejected[priority.index()].load(Ordering::Relaxed)
    }

    /// The reservations of the limit by class.
    pub fn shares(&self) -> Shares {
        self.shared.shares
    }

    /// With an adaptive controller, the limiter times one admitted request
    /// in this many (chosen at random): 1 while traffic is light, up to
    /// [`MAX_SAMPLE_EVERY`](crate::MAX_SAMPLE_EVERY) when a window holds
    /// many more requests than the controller needs. 0 with a fixed limit
    /// (nothing is timed).
    pub fn sample_every(&self) -> u32 {
        self.shared
            .adaptive
            .as_ref()
            .map_or(0, |a| a.sample_every.load(Ordering::Relaxed))
    }

    /// Admits a request of class `priority` if the limit and the
    /// reservations allow it, without waiting.
    ///
    /// The returned [`Permit`] counts the request as in flight until it is
    /// dropped.
    ///
    /// # Errors
    ///
    /// [`Overloaded`] when the request is refused.
    #[inline]
    pub fn try_acquire(&self, priority: Priority) -> Result<Permit, Overloaded> {
        let shared = &*self.shared;
        let limit = shared.limit.load(Ordering::Relaxed);
        let mut current = shared.in_flight.load(Ordering::Relaxed);
        loop {
            let counts = unpack(current);
            let admitted = if shared.shares_none {
                counts.total() < limit
            } else {
                shared.shares.admits(limit, counts, priority)
            };
            if !admitted {
                return Err(shared.refuse(priority, limit));
            }
            match shared.in_flight.compare_exchange_weak(
                current,
                current + one(priority),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let start = match &shared.adaptive {
                        None => UNTIMED,
                        Some(a) => a.admitted(counts.total() + 1),
                    };
                    return Ok(Permit {
                        shared: Arc::clone(&self.shared),
                        state: start | ((priority.index() as u64) << PRIORITY_SHIFT),
                    });
                }
                Err(actual) => current = actual,
            }
        }
    }
}

impl Shared {
    #[cold]
    #[inline(never)]
    fn refuse(&self, priority: Priority, limit: u32) -> Overloaded {
        self.rejected[priority.index()].fetch_add(1, Ordering::Relaxed);
        Overloaded {
            priority,
            limit,
            retry_after: self.retry_after,
        }
    }
}

/// Read by a metrics backend at scrape time: the limiter keeps these counts
/// anyway, so observing them costs the request path nothing.
impl ConcurrencyStats for Limiter {
    fn limit(&self) -> u64 {
        u64::from(Limiter::limit(self))
    }

    fn classes(&self, each: &mut dyn FnMut(&'static str, u64, u64)) {
        let in_flight = self.in_flight();
        for priority in Priority::ALL {
            each(
                priority.as_str(),
                u64::from(in_flight.of(priority)),
                self.rejected(priority),
            );
        }
    }
}

/// `Permit::state`: bits 0..=60 the admission time in clock nanoseconds
/// (or [`UNTIMED`]), bit 61 "recorded", bits 62..=63 the priority index.
/// Packed so that a permit is two words: the response future and body that
/// carry it stay small enough to be moved without a `memcpy` call.
const TIME_MASK: u64 = (1 << 61) - 1;
/// The admission time of a request that is not timed (fixed limit, or not
/// sampled).
const UNTIMED: u64 = TIME_MASK;
const RECORDED: u64 = 1 << 61;
const PRIORITY_SHIFT: u32 = 62;

/// A request admitted by a [`Limiter`]: counted in flight until dropped.
///
/// With an adaptive controller, [`record`](Permit::record) hands the
/// request's outcome, and for timed requests its RTT, to the current window
/// (the service does this when the inner service answers; the permit then
/// lives on in the response body until the body ends or is dropped).
pub struct Permit {
    shared: Arc<Shared>,
    state: u64,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("priority", &self.priority())
            .field("timed", &self.is_timed())
            .finish()
    }
}

impl Permit {
    /// The class the request was admitted as.
    #[inline]
    pub fn priority(&self) -> Priority {
        match self.state >> PRIORITY_SHIFT {
            0 => Priority::Critical,
            1 => Priority::Default,
            _ => Priority::Sheddable,
        }
    }

    /// Whether the request's RTT is measured: with an adaptive controller,
    /// every request while traffic is light, one in
    /// [`Limiter::sample_every`] under heavy traffic (see
    /// [`record`](Self::record)); never with a fixed limit.
    pub fn is_timed(&self) -> bool {
        self.state & TIME_MASK != UNTIMED
    }

    /// Records the request's outcome, once; later calls do nothing. A
    /// permit dropped without a record (a cancelled request) gives the
    /// controller no sample.
    ///
    /// A drop ([`Outcome::Dropped`]) is counted for every request. The RTT
    /// (time since admission) is measured only for timed requests
    /// ([`is_timed`](Self::is_timed)), which also close the window: under
    /// heavy traffic the limiter times a random sample of the requests so
    /// that it does not read the clock twice per request; the window's
    /// average RTT is then the sample's (an unbiased estimate), its minimum
    /// the sample's minimum.
    #[inline]
    pub fn record(&mut self, outcome: Outcome) {
        if self.state & RECORDED != 0 {
            return;
        }
        self.state |= RECORDED;
        if self.shared.adaptive.is_some() && (self.is_timed() || outcome == Outcome::Dropped) {
            self.record_adaptive(outcome);
        }
    }

    #[inline(never)]
    fn record_adaptive(&self, outcome: Outcome) {
        let Some(adaptive) = &self.shared.adaptive else {
            return;
        };
        let dropped = outcome == Outcome::Dropped;
        if !self.is_timed() {
            adaptive.record_untimed_drop();
            return;
        }
        let now = adaptive.clock.now_nanos();
        adaptive.record(
            now,
            now.saturating_sub(self.state & TIME_MASK),
            dropped,
            &self.shared.limit,
        );
    }
}

impl Drop for Permit {
    #[inline]
    fn drop(&mut self) {
        self.shared
            .in_flight
            .fetch_sub(one(self.priority()), Ordering::Release);
    }
}

impl Adaptive {
    /// A request was admitted with `in_flight` requests running: its
    /// admission time if it is timed, else [`UNTIMED`].
    #[inline]
    fn admitted(&self, in_flight: u32) -> u64 {
        let acc = &self.acc;
        if in_flight > acc.max_in_flight.load(Ordering::Relaxed) {
            acc.max_in_flight.fetch_max(in_flight, Ordering::Relaxed);
        }
        if sampling::take(self.sample_every.load(Ordering::Relaxed)) {
            self.clock.now_nanos().min(UNTIMED - 1)
        } else {
            UNTIMED
        }
    }

    #[cold]
    fn record_untimed_drop(&self) {
        self.acc.count_drops.fetch_add(1 << 32, Ordering::Relaxed);
    }

    fn record(&self, now: u64, rtt: u64, dropped: bool, limit: &AtomicU32) {
        let acc = &self.acc;
        let before = acc
            .count_drops
            .fetch_add(1 | (u64::from(dropped) << 32), Ordering::Relaxed);
        acc.rtt_sum.fetch_add(rtt, Ordering::Relaxed);
        if rtt < acc.rtt_min.load(Ordering::Relaxed) {
            acc.rtt_min.fetch_min(rtt, Ordering::Relaxed);
        }
        // Each timed request stands for `sample_every` completions.
        let count = u64::from((before as u32).wrapping_add(1))
            * u64::from(self.sample_every.load(Ordering::Relaxed));
        let start = acc.start.load(Ordering::Relaxed);
        if now.saturating_sub(start) >= self.window && count >= u64::from(self.min_samples) {
            self.close_window(now, limit);
        }
    }

    #[cold]
    fn close_window(&self, now: u64, shared_limit: &AtomicU32) -> Option<()> {
        let mut ctl = match self.controller.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let acc = &self.acc;
        if now.saturating_sub(acc.start.load(Ordering::Relaxed)) < self.window {
            return None; // another thread closed it first
        }
        let count_drops = acc.count_drops.swap(0, Ordering::Relaxed);
        let sum = acc.rtt_sum.swap(0, Ordering::Relaxed);
        let min = acc.rtt_min.swap(u64::MAX, Ordering::Relaxed);
        let max_in_flight = acc.max_in_flight.swap(0, Ordering::Relaxed);
        acc.start.store(now, Ordering::Relaxed);
        let samples = count_drops as u32;
        if samples == 0 {
            return None;
        }
        let every = self.sample_every.load(Ordering::Relaxed);
        self.sample_every.store(
            sampling::next_every(samples, every, self.min_samples),
            Ordering::Relaxed,
        );
        let window = WindowSample {
            now: Duration::from_nanos(now),
            samples,
            dropped: (count_drops >> 32) as u32,
            min_rtt: Duration::from_nanos(if min == u64::MAX { 0 } else { min }),
            avg_rtt: Duration::from_nanos(sum / u64::from(samples)),
            max_in_flight,
        };
        let from = ctl.algorithm.limit();
        let to = ctl.algorithm.update(&window);
        shared_limit.store(to, Ordering::Relaxed);
        if from != to {
            let change = LimitChange {
                algorithm: ctl.algorithm.name(),
                from,
                to,
                window,
            };
            if let Some(hook) = &self.hook {
                hook(&change);
            }
            let due = ctl
                .last_log
                .is_none_or(|at| now.saturating_sub(at) >= self.log_interval);
            if due {
                tracing::info!(
                    target: "hardening_loadshed",
                    algorithm = change.algorithm,
                    from,
                    to,
                    samples,
                    dropped = window.dropped,
                    min_rtt_us = window.min_rtt.as_micros() as u64,
                    avg_rtt_us = window.avg_rtt.as_micros() as u64,
                    max_in_flight,
                    suppressed = ctl.suppressed,
                    "concurrency limit changed"
                );
                ctl.last_log = Some(now);
                ctl.suppressed = 0;
            } else {
                ctl.suppressed += 1;
            }
        }
        Some(())
    }
}
