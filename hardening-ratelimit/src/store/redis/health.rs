//! Whether Redis is answering: when to skip it, when to probe it again, and
//! warnings limited to one per interval.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hardening_core::observe::{PolicyObserver, StoreState};
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
    /// Observers told about every change of `down`, with the state a
    /// failure means (per the failure policy). Locked on changes only.
    watchers: Mutex<Vec<(Arc<dyn PolicyObserver>, StoreState)>>,
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
            watchers: Mutex::new(Vec::new()),
        }
    }

    /// Tells `observer` the current state now and after every change;
    /// `down` is what a failure means.
    pub(super) fn watch(&self, observer: Arc<dyn PolicyObserver>, down: StoreState) {
        let mut watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.is_up() {
            observer.store_state(down);
        }
        watchers.push((observer, down));
    }

    /// Reports the current state to every watcher. Read under the lock, so
    /// when two changes race the last report is the state that holds.
    #[cold]
    fn changed(&self) {
        let watchers = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        let up = self.is_up();
        for (observer, down) in watchers.iter() {
            observer.store_state(if up { StoreState::Up } else { *down });
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
            self.changed();
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
        if !self.down.swap(true, Ordering::AcqRel) {
            self.changed();
        }
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

    #[derive(Default)]
    struct States(std::sync::Mutex<Vec<StoreState>>);

    impl PolicyObserver for States {
        fn store_state(&self, state: StoreState) {
            self.0.lock().unwrap().push(state);
        }
    }

    #[test]
    fn watchers_hear_each_change_once() {
        let health = Health::new(Arc::new(FakeClock::new()), 0, 0);
        let up_at_bind = Arc::new(States::default());
        health.watch(up_at_bind.clone(), StoreState::LocalFallback);
        health.succeeded();
        assert!(
            up_at_bind.0.lock().unwrap().is_empty(),
            "no change, no call"
        );
        health.failed(&"refused", "local");
        health.failed(&"refused", "local");
        let down_at_bind = Arc::new(States::default());
        health.watch(down_at_bind.clone(), StoreState::FailOpen);
        health.succeeded();
        health.succeeded();
        assert_eq!(
            *up_at_bind.0.lock().unwrap(),
            [StoreState::LocalFallback, StoreState::Up]
        );
        assert_eq!(
            *down_at_bind.0.lock().unwrap(),
            [StoreState::FailOpen, StoreState::Up],
            "told the current state when bound"
        );
    }
}
