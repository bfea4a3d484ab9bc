//! Whether Redis is answering: when to skip it, when to probe it again, and
//! warnings limited to one per interval.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use hardening_core::Clock;

/// Which way one request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Route {
    /// Redis is healthy: ask it.
    Redis,
    /// Redis failed recently and the retry interval has passed: this request
    /// asks Redis, and its result says whether Redis is back.
    Probe,
    /// Redis failed recently: apply the failure policy without asking.
    Skip,
}

pub(super) struct Health {
    clock: Arc<dyn Clock>,
    down: AtomicBool,
    /// Health-clock nanoseconds before which no probe is sent. Claimed with
    /// compare-and-swap, so one request probes per interval and a probe
    /// that is dropped half-way cannot wedge the store.
    retry_at: AtomicU64,
    retry_interval: u64,
    /// Health-clock nanoseconds of the last warning, plus one (0: never).
    last_warning: AtomicU64,
    warn_interval: u64,
    /// Failures not warned about since the last warning.
    suppressed: AtomicU64,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Health")
            .field("down", &self.down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Health {
    pub(super) fn new(clock: Arc<dyn Clock>, retry_interval: u64, warn_interval: u64) -> Self {
        Self {
            clock,
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
            retry_interval,
            last_warning: AtomicU64::new(0),
            warn_interval,
            suppressed: AtomicU64::new(0),
        }
    }

    pub(super) fn is_up(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    pub(super) fn route(&self) -> Route {
        if self.is_up() {
            return Route::Redis;
        }
        let retry_at = self.retry_at.load(Ordering::Acquire);
        let now = self.clock.now_nanos();
        if now >= retry_at
            && self
                .retry_at
                .compare_exchange(
                    retry_at,
                    now.saturating_add(self.retry_interval),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            Route::Probe
        } else {
            Route::Skip
        }
    }

    /// Redis answered.
    pub(super) fn succeeded(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!(
                target: "hardening_ratelimit",
                "Redis rate limit store is answering again; shared limits restored"
            );
        }
    }

    /// Redis failed (`error`); `policy` names what is done instead.
    pub(super) fn failed(&self, error: &dyn fmt::Display, policy: &'static str) {
        let now = self.clock.now_nanos();
        self.retry_at
            .store(now.saturating_add(self.retry_interval), Ordering::Release);
        self.down.store(true, Ordering::Release);
        let last = self.last_warning.load(Ordering::Acquire);
        let due = last == 0 || now >= (last - 1).saturating_add(self.warn_interval);
        if due
            && self
                .last_warning
                .compare_exchange(
                    last,
                    now.saturating_add(1),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::AcqRel);
            tracing::warn!(
                target: "hardening_ratelimit",
                error = %error,
                failure_policy = policy,
                suppressed_warnings = suppressed,
                "Redis rate limit store failed; applying the failure policy"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hardening_core::FakeClock;
    use std::time::Duration;

    #[test]
    fn one_probe_per_interval_then_back() {
        let clock = FakeClock::new();
        let ms = 1_000_000;
        let health = Health::new(Arc::new(clock.clone()), 100 * ms, 10_000 * ms);
        assert_eq!(health.route(), Route::Redis);
        health.failed(&"refused", "local");
        assert!(!health.is_up());
        assert_eq!(health.route(), Route::Skip);
        clock.advance(Duration::from_millis(99));
        assert_eq!(health.route(), Route::Skip);
        clock.advance(Duration::from_millis(1));
        assert_eq!(health.route(), Route::Probe);
        assert_eq!(health.route(), Route::Skip, "one probe per interval");
        // the probe was dropped: another one after the next interval
        clock.advance(Duration::from_millis(100));
        assert_eq!(health.route(), Route::Probe);
        health.succeeded();
        assert!(health.is_up());
        assert_eq!(health.route(), Route::Redis);
    }
}
