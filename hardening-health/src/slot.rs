//! One registered check at run time: its cached reading, the run in flight
//! (single flight) and its failure count (hysteresis).
//!
//! The state sits behind a short `std::sync::Mutex` that is never held
//! across an `.await`: a probe locks it to take the cached reading, or to
//! clone the shared in-flight run, and the run locks it once to record its
//! result. The status and age of the latest reading are mirrored in one
//! atomic word, so a probe that needs only the status reads it lock-free.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use futures_util::future::{Either, FutureExt, Ready, Shared};
use hardening_core::clock::duration_to_nanos;
use hardening_core::observe::CheckObserver;
use hardening_core::Clock;

use crate::check::{Check, DynCheck};
use crate::observation::Observation;
use crate::status::Status;

/// A recorded run of a check.
#[derive(Debug)]
pub(crate) struct Reading {
    /// After hysteresis.
    pub(crate) observation: Observation,
    /// Monotonic time the run finished ([`Clock::now`]).
    pub(crate) at: Duration,
    /// Wall-clock time the run finished, for the report's `time`.
    pub(crate) time: SystemTime,
}

type SharedRun = Shared<Pin<Box<dyn Future<Output = Arc<Reading>> + Send>>>;

/// The reading of a slot: at hand, or once the run in flight finishes.
pub(crate) type SlotRead = Either<Ready<Arc<Reading>>, SharedRun>;

pub(crate) struct Slot {
    pub(crate) check: Check,
    ttl_nanos: u64,
    /// The latest reading's status and time, packed (see [`pack`]); 0 when
    /// there is none.
    latest_status: AtomicU64,
    state: Mutex<SlotState>,
    observer: Option<Arc<dyn CheckObserver>>,
}

const VALID: u64 = 1 << 63;
const STATUS_SHIFT: u32 = 61;
const AT_MASK: u64 = (1 << STATUS_SHIFT) - 1;

/// Packs a status and a monotonic time (nanoseconds, saturating at 2^61,
/// about 73 years) into one word.
fn pack(status: Status, at_nanos: u64) -> u64 {
    let status = match status {
        Status::Pass => 0,
        Status::Warn => 1,
        Status::Fail => 2,
    };
    VALID | (status << STATUS_SHIFT) | at_nanos.min(AT_MASK)
}

fn unpack(word: u64) -> Option<(Status, u64)> {
    if word & VALID == 0 {
        return None;
    }
    let status = match (word >> STATUS_SHIFT) & 0b11 {
        0 => Status::Pass,
        1 => Status::Warn,
        _ => Status::Fail,
    };
    Some((status, word & AT_MASK))
}

#[derive(Default)]
struct SlotState {
    latest: Option<Arc<Reading>>,
    inflight: Option<SharedRun>,
    consecutive_failures: u32,
}

impl Slot {
    pub(crate) fn new(check: Check, observer: Option<Arc<dyn CheckObserver>>) -> Self {
        Self {
            observer,
            ttl_nanos: duration_to_nanos(check.ttl),
            check,
            latest_status: AtomicU64::new(0),
            state: Mutex::new(SlotState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        // Nothing panics while the lock is held; if something ever did, the
        // state is still consistent, so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_fresh(&self, reading: &Reading, now: Duration) -> bool {
        now.saturating_sub(reading.at) < self.check.ttl
    }

    /// The status of the cached reading if it is still fresh at `now_nanos`
    /// (lock-free).
    pub(crate) fn fresh_status(&self, now_nanos: u64) -> Option<Status> {
        let (status, at) = unpack(self.latest_status.load(Ordering::Acquire))?;
        let fresh = now_nanos.min(AT_MASK).saturating_sub(at) < self.ttl_nanos;
        if fresh {
            self.cache_hit();
        }
        fresh.then_some(status)
    }

    #[inline]
    fn cache_hit(&self) {
        if let Some(observer) = &self.observer {
            observer.cache_hit();
        }
    }

    /// The reading to report at `now`: the cached one while fresh, else the
    /// run in flight, else a new run (started at once on its own task).
    pub(crate) fn read(self: &Arc<Self>, clock: &Arc<dyn Clock>, now: Duration) -> SlotRead {
        let mut state = self.lock();
        if let Some(reading) = state.latest.as_ref().filter(|r| self.is_fresh(r, now)) {
            self.cache_hit();
            return Either::Left(futures_util::future::ready(Arc::clone(reading)));
        }
        if let Some(run) = &state.inflight {
            return Either::Right(run.clone());
        }
        let run = self.start(Arc::clone(clock));
        state.inflight = Some(run.clone());
        Either::Right(run)
    }

    /// Starts a run. On a tokio runtime the run is spawned, so it finishes
    /// (and fills the cache) even if every probe waiting for it goes away.
    fn start(self: &Arc<Self>, clock: Arc<dyn Clock>) -> SharedRun {
        let slot = Arc::clone(self);
        let run_clock = Arc::clone(&clock);
        let run = async move {
            let started = run_clock.now();
            let (observation, timed_out) =
                run_guarded(&*slot.check.check, slot.check.timeout, true).await;
            let reading = slot.record(observation, &*run_clock);
            slot.observe_run(&reading, started, timed_out);
            reading
        };
        let future: Pin<Box<dyn Future<Output = Arc<Reading>> + Send>> =
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    let join = handle.spawn(run);
                    let slot = Arc::clone(self);
                    Box::pin(async move {
                        match join.await {
                            Ok(reading) => reading,
                            // Only when the runtime shuts down under the run.
                            Err(_) => {
                                slot.record(Observation::fail("check was cancelled"), &*clock)
                            }
                        }
                    })
                }
                Err(_) => {
                    // Outside tokio: run inline, without the tokio timer.
                    let slot = Arc::clone(self);
                    Box::pin(async move {
                        let started = clock.now();
                        let (observation, timed_out) =
                            run_guarded(&*slot.check.check, slot.check.timeout, false).await;
                        let reading = slot.record(observation, &*clock);
                        slot.observe_run(&reading, started, timed_out);
                        reading
                    })
                }
            };
        future.shared()
    }

    fn observe_run(&self, reading: &Reading, started: Duration, timed_out: bool) {
        if let Some(observer) = &self.observer {
            observer.finished(
                crate::health::observed(reading.observation.status()),
                reading.at.saturating_sub(started),
                timed_out,
            );
        }
    }

    /// Records a finished run: applies hysteresis, caches the reading and
    /// clears the in-flight run.
    fn record(&self, observation: Observation, clock: &dyn Clock) -> Arc<Reading> {
        let mut state = self.lock();
        let observation = if observation.status() == Status::Fail {
            state.consecutive_failures = state.consecutive_failures.saturating_add(1);
            let threshold = self.check.fail_after;
            if state.consecutive_failures < threshold {
                let output = format!(
                    "failure {} of {} before fail: {}",
                    state.consecutive_failures,
                    threshold,
                    observation.output().unwrap_or("check failed")
                );
                observation.with_status(Status::Warn).with_output(output)
            } else {
                observation
            }
        } else {
            state.consecutive_failures = 0;
            observation
        };
        let reading = Arc::new(Reading {
            observation,
            at: clock.now(),
            time: clock.system_time(),
        });
        self.latest_status.store(
            pack(reading.observation.status(), duration_to_nanos(reading.at)),
            Ordering::Release,
        );
        state.latest = Some(Arc::clone(&reading));
        state.inflight = None;
        reading
    }
}

/// Runs a check so that a panic or a hang becomes a failed observation;
/// `true` when the timeout cut it short.
async fn run_guarded(check: &dyn DynCheck, timeout: Duration, timer: bool) -> (Observation, bool) {
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| check.run())) {
        Ok(future) => AssertUnwindSafe(future).catch_unwind(),
        Err(_) => return (Observation::fail("check panicked"), false),
    };
    let outcome = if timer {
        match tokio::time::timeout(timeout, future).await {
            Ok(outcome) => outcome,
            Err(_) => {
                return (
                    Observation::fail(format!("check timed out after {} ms", timeout.as_millis())),
                    true,
                )
            }
        }
    } else {
        future.await
    };
    (
        outcome.unwrap_or_else(|_| Observation::fail("check panicked")),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips() {
        assert_eq!(unpack(0), None);
        for status in Status::ALL {
            for at in [0, 1, 1_700_000_000_000_000_000, AT_MASK] {
                assert_eq!(unpack(pack(status, at)), Some((status, at)));
            }
            assert_eq!(unpack(pack(status, u64::MAX)), Some((status, AT_MASK)));
        }
    }
}
