//! The breaker's state machine: a plain type with no I/O that takes `now`
//! (nanoseconds of the breaker's clock) as an argument.
//!
//! # Concurrency
//!
//! Everything a call needs is in one `AtomicU64`, the *word*:
//!
//! ```text
//! bits  0..3   state
//! bits  3..19  half-open probe permits left
//! bits 19..35  half-open probe successes
//! bits 35..64  generation (+1 on every transition)
//! ```
//!
//! A call in the closed state loads the word, and on completion loads it
//! again (a result admitted under another generation is dropped) and updates
//! the window with atomics. Half-open probe permits are taken and given back
//! with compare-and-swap on the word, so no more than the configured number
//! are ever out, whatever the interleaving. Transitions (rare) take a mutex,
//! check that the generation they started from is still current, write the
//! auxiliary fields and then publish the new word with `Release`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::classify::Outcome;
use crate::config::{Settings, PPM};
use crate::error::CircuitOpen;
use crate::state::{Metrics, Reason, State, StateChange};
use crate::window::Window;

const STATE_MASK: u64 = 0b111;
const PROBES_SHIFT: u32 = 3;
const SUCCESS_SHIFT: u32 = 19;
const FIELD_MASK: u64 = 0xFFFF;
const GEN_SHIFT: u32 = 35;
/// The bits that identify one stay in one state.
const EPOCH_MASK: u64 = !((FIELD_MASK << PROBES_SHIFT) | (FIELD_MASK << SUCCESS_SHIFT));
const ONE_PROBE: u64 = 1 << PROBES_SHIFT;
const ONE_SUCCESS: u64 = 1 << SUCCESS_SHIFT;

/// The longest `retry_after` given to callers rejected while the probes are
/// out: they are likely to finish soon.
const HALF_OPEN_RETRY_AFTER: u64 = 1_000_000_000;

#[inline]
fn state_of(word: u64) -> State {
    State::from_bits(word & STATE_MASK)
}

#[inline]
fn probes_of(word: u64) -> u64 {
    (word >> PROBES_SHIFT) & FIELD_MASK
}

#[inline]
fn successes_of(word: u64) -> u64 {
    (word >> SUCCESS_SHIFT) & FIELD_MASK
}

#[inline]
fn same_epoch(a: u64, b: u64) -> bool {
    (a ^ b) & EPOCH_MASK == 0
}

/// Permission for one call, from [`Core::try_acquire`] or
/// [`Core::admit_fast`]. Hand it back with [`Core::record`] or
/// [`Core::release`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Permit {
    word: u64,
}

impl Permit {
    #[inline]
    pub(crate) fn word(self) -> u64 {
        self.word
    }

    #[inline]
    pub(crate) fn from_word(word: u64) -> Self {
        Self { word }
    }

    /// Whether the outcome of this call matters (not in `Disabled`).
    #[inline]
    pub(crate) fn is_tracked(&self) -> bool {
        state_of(self.word) != State::Disabled
    }

    #[cfg(test)]
    pub(crate) fn is_probe(&self) -> bool {
        state_of(self.word) == State::HalfOpen
    }
}

struct Control {
    /// Trips since the breaker last closed; drives the open-duration backoff.
    trips: u32,
}

pub(crate) struct Core {
    settings: Settings,
    word: AtomicU64,
    open_until: AtomicU64,
    half_open_until: AtomicU64,
    consecutive: AtomicU32,
    rejections: AtomicU64,
    window: Window,
    /// `epoch + 1` of the window when a rate check last found at least the
    /// minimum number of calls and no rule broken (0: none). Until the
    /// window's epoch changes, a success cannot raise any rate, so it skips
    /// the check.
    settled: AtomicU64,
    control: Mutex<Control>,
}

impl Core {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            window: Window::new(settings.window),
            settings,
            word: AtomicU64::new(State::Closed.bits()),
            open_until: AtomicU64::new(0),
            half_open_until: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            rejections: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            control: Mutex::new(Control { trips: 0 }),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    pub(crate) fn state(&self) -> State {
        state_of(self.word.load(Ordering::Acquire))
    }

    /// The closed-state fast path: a permit without reading the clock, or
    /// `None` when the state needs [`try_acquire`](Self::try_acquire).
    #[inline]
    pub(crate) fn admit_fast(&self) -> Option<Permit> {
        let word = self.word.load(Ordering::Acquire);
        match state_of(word) {
            State::Closed | State::Disabled => Some(Permit { word }),
            _ => None,
        }
    }

    /// Asks to make a call at `now`. May move the breaker from open to
    /// half-open (the open duration passed) or from half-open back to open
    /// (the probes timed out); that change is returned.
    pub(crate) fn try_acquire(
        &self,
        now: u64,
    ) -> (Result<Permit, CircuitOpen>, Option<StateChange>) {
        let mut change = None;
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            match state_of(word) {
                State::Closed | State::Disabled => return (Ok(Permit { word }), change),
                State::ForcedOpen => return (Err(self.reject(0)), change),
                State::Open => {
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until || change.is_some() {
                        return (Err(self.reject(until.saturating_sub(now))), change);
                    }
                    change = self.transition(word, State::HalfOpen, Reason::OpenElapsed, now);
                    word = self.word.load(Ordering::Acquire);
                }
                State::HalfOpen => {
                    let until = self.half_open_until.load(Ordering::Acquire);
                    if now >= until && change.is_none() {
                        change = self.transition(word, State::Open, Reason::HalfOpenTimeout, now);
                        word = self.word.load(Ordering::Acquire);
                        continue;
                    }
                    if probes_of(word) == 0 {
                        let wait = until.saturating_sub(now).min(HALF_OPEN_RETRY_AFTER);
                        return (Err(self.reject(wait)), change);
                    }
                    match self.word.compare_exchange_weak(
                        word,
                        word - ONE_PROBE,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return (Ok(Permit { word }), change),
                        Err(seen) => word = seen,
                    }
                }
            }
        }
    }

    fn reject(&self, retry_after_nanos: u64) -> CircuitOpen {
        self.rejections.fetch_add(1, Ordering::Relaxed);
        CircuitOpen {
            retry_after: Duration::from_nanos(retry_after_nanos),
        }
    }

    /// Whether calls need their duration measured (the slow-call rule is on).
    #[inline]
    pub(crate) fn measures_duration(&self) -> bool {
        self.settings.slow_nanos != 0
    }

    /// Records the outcome of a permitted call that took `elapsed` nanoseconds
    /// (ignored unless the slow-call rule is on) and finished at `now`.
    #[cfg(test)]
    pub(crate) fn record(
        &self,
        permit: Permit,
        outcome: Outcome,
        elapsed: u64,
        now: u64,
    ) -> Option<StateChange> {
        self.record_with(permit, outcome, elapsed, || now)
    }

    /// [`record`](Self::record), reading `now` only when it is needed (a
    /// count window without a transition needs no time at all).
    #[inline]
    pub(crate) fn record_with(
        &self,
        permit: Permit,
        outcome: Outcome,
        elapsed: u64,
        now: impl Fn() -> u64,
    ) -> Option<StateChange> {
        let slow = self.settings.slow_nanos != 0 && elapsed >= self.settings.slow_nanos;
        match state_of(permit.word) {
            State::Closed => self.record_closed(permit, outcome, slow, now),
            State::HalfOpen => self.record_probe(permit, outcome, slow, now()),
            _ => None,
        }
    }

    #[inline]
    fn record_closed(
        &self,
        permit: Permit,
        outcome: Outcome,
        slow: bool,
        now: impl Fn() -> u64,
    ) -> Option<StateChange> {
        let failure = match outcome {
            Outcome::Ignored => return None,
            Outcome::Success => false,
            Outcome::Failure => true,
        };
        if self.word.load(Ordering::Acquire) != permit.word {
            // Admitted before a transition: its outcome belongs to no window.
            return None;
        }
        let timed = self.window.is_timed();
        let t = if timed { now() } else { 0 };
        let at = || if timed { t } else { now() };
        self.window.record(t, failure, slow);

        let limit = self.settings.consecutive_failures;
        if limit != 0 {
            if failure {
                let run = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
                if run >= limit {
                    return self.transition(
                        permit.word,
                        State::Open,
                        Reason::ConsecutiveFailures,
                        at(),
                    );
                }
            } else if self.consecutive.load(Ordering::Relaxed) != 0 {
                self.consecutive.store(0, Ordering::Relaxed);
            }
        }

        if !self.window.may_trip(t) {
            return None;
        }
        let epoch = self.window.epoch(t) + 1;
        if !failure && !slow && self.settled.load(Ordering::Relaxed) == epoch {
            return None;
        }
        let reason = self.rate_rule_tripped(t, epoch)?;
        self.transition(permit.word, State::Open, reason, at())
    }

    /// Which rate rule, if any, the window breaks at `now`; remembers a
    /// window in `epoch` that breaks none with enough calls.
    fn rate_rule_tripped(&self, now: u64, epoch: u64) -> Option<Reason> {
        let counts = self.window.counts(now);
        if counts.calls < self.settings.minimum_calls {
            return None;
        }
        let tripped = self.rate_rule(counts);
        if tripped.is_none() {
            self.settled.store(epoch, Ordering::Relaxed);
        }
        tripped
    }

    fn rate_rule(&self, counts: crate::window::Counts) -> Option<Reason> {
        let reached = |n: u64, ppm: u64| {
            u128::from(n) * u128::from(PPM) >= u128::from(ppm) * u128::from(counts.calls)
        };
        if reached(counts.failures, self.settings.failure_ppm) {
            return Some(Reason::FailureRate);
        }
        if self.settings.slow_nanos != 0 && reached(counts.slow, self.settings.slow_ppm) {
            return Some(Reason::SlowCallRate);
        }
        None
    }

    fn record_probe(
        &self,
        permit: Permit,
        outcome: Outcome,
        slow: bool,
        now: u64,
    ) -> Option<StateChange> {
        match outcome {
            Outcome::Ignored => {
                self.release(permit);
                None
            }
            Outcome::Failure => self.transition(permit.word, State::Open, Reason::ProbeFailed, now),
            Outcome::Success if slow => {
                self.transition(permit.word, State::Open, Reason::ProbeFailed, now)
            }
            Outcome::Success => {
                let mut word = self.word.load(Ordering::Acquire);
                loop {
                    if !same_epoch(word, permit.word) {
                        return None;
                    }
                    match self.word.compare_exchange_weak(
                        word,
                        word + ONE_SUCCESS,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => break,
                        Err(seen) => word = seen,
                    }
                }
                if successes_of(word) + 1 >= u64::from(self.settings.half_open_probes) {
                    self.transition(word, State::Closed, Reason::ProbesSucceeded, now)
                } else {
                    None
                }
            }
        }
    }

    /// Gives back the permit of a call that ended without an outcome (it was
    /// cancelled, or ignored). Only half-open probe permits are counted.
    pub(crate) fn release(&self, permit: Permit) {
        if state_of(permit.word) != State::HalfOpen {
            return;
        }
        let mut word = self.word.load(Ordering::Acquire);
        while same_epoch(word, permit.word) {
            match self.word.compare_exchange_weak(
                word,
                word + ONE_PROBE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(seen) => word = seen,
            }
        }
    }

    /// Moves from the stay identified by `from` (if it is still current) to
    /// `to`.
    fn transition(&self, from: u64, to: State, reason: Reason, now: u64) -> Option<StateChange> {
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let word = self.word.load(Ordering::Acquire);
        if !same_epoch(word, from) {
            return None;
        }
        Some(self.transition_locked(&mut control, word, to, reason, now))
    }

    fn transition_locked(
        &self,
        control: &mut Control,
        word: u64,
        to: State,
        reason: Reason,
        now: u64,
    ) -> StateChange {
        let generation = (word >> GEN_SHIFT).wrapping_add(1);
        let mut next = (generation << GEN_SHIFT) | to.bits();
        let mut open_for = None;
        match to {
            State::Open => {
                control.trips = control.trips.saturating_add(1);
                let nanos = self.open_nanos(control.trips);
                self.open_until
                    .store(now.saturating_add(nanos), Ordering::Release);
                open_for = Some(Duration::from_nanos(nanos));
            }
            State::HalfOpen => {
                self.half_open_until.store(
                    now.saturating_add(self.settings.half_open_timeout_nanos),
                    Ordering::Release,
                );
                next |= u64::from(self.settings.half_open_probes) << PROBES_SHIFT;
            }
            State::Closed => {
                control.trips = 0;
                self.window.reset();
                self.settled.store(0, Ordering::Relaxed);
                self.consecutive.store(0, Ordering::Relaxed);
            }
            State::ForcedOpen | State::Disabled => {}
        }
        self.word.store(next, Ordering::Release);
        StateChange {
            breaker: self.settings.name.clone(),
            from: state_of(word),
            to,
            reason,
            at: Duration::from_nanos(now),
            open_for,
        }
    }

    /// The open duration after the `trips`-th trip in a row: the base, times
    /// the backoff factor per earlier trip, capped, then shortened by jitter.
    fn open_nanos(&self, trips: u32) -> u64 {
        let s = &self.settings;
        let exponent = i32::try_from(trips.saturating_sub(1)).unwrap_or(i32::MAX);
        let grown = (s.open_nanos as f64) * s.open_backoff.powi(exponent);
        let capped = grown.min(s.max_open_nanos as f64);
        let r = s.random.next_fraction();
        let r = if r.is_finite() {
            r.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let jittered = capped * (1.0 - s.jitter * r);
        (jittered as u64).max(1)
    }

    /// Forces the state, whatever it was. `None` if it already was `to`.
    fn force(&self, to: State, reason: Reason, now: u64) -> Option<StateChange> {
        let mut control = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        let word = self.word.load(Ordering::Acquire);
        if to == State::Closed {
            self.rejections.store(0, Ordering::Relaxed);
            control.trips = 0;
        }
        if state_of(word) == to {
            if to == State::Closed {
                // A new generation first, so calls admitted before the reset
                // record nothing in the fresh window (`record_closed` drops
                // a permit whose word is not current).
                let generation = (word >> GEN_SHIFT).wrapping_add(1);
                self.word
                    .store((generation << GEN_SHIFT) | to.bits(), Ordering::Release);
                self.window.reset();
                self.settled.store(0, Ordering::Relaxed);
                self.consecutive.store(0, Ordering::Relaxed);
            }
            return None;
        }
        Some(self.transition_locked(&mut control, word, to, reason, now))
    }

    pub(crate) fn force_open(&self, now: u64) -> Option<StateChange> {
        self.force(State::ForcedOpen, Reason::ForcedOpen, now)
    }

    pub(crate) fn disable(&self, now: u64) -> Option<StateChange> {
        self.force(State::Disabled, Reason::Disabled, now)
    }

    pub(crate) fn reset(&self, now: u64) -> Option<StateChange> {
        self.force(State::Closed, Reason::Reset, now)
    }

    pub(crate) fn metrics(&self, now: u64) -> Metrics {
        let counts = self.window.counts(now);
        let rate = |n: u64| {
            if counts.calls == 0 {
                0.0
            } else {
                n as f64 / counts.calls as f64
            }
        };
        Metrics {
            state: self.state(),
            calls: counts.calls,
            failures: counts.failures,
            slow_calls: counts.slow,
            rejections: self.rejections.load(Ordering::Relaxed),
            failure_rate: rate(counts.failures),
            slow_call_rate: rate(counts.slow),
            consecutive_failures: self.consecutive.load(Ordering::Relaxed),
        }
    }

    /// When the breaker admits calls again (open state), on its clock.
    #[cfg(test)]
    pub(crate) fn open_until(&self) -> u64 {
        self.open_until.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CircuitBreakerBuilder, SlidingWindow};
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;
    const SEC: u64 = 1_000_000_000;

    fn core(builder: CircuitBreakerBuilder) -> Core {
        Core::new(builder.validate().expect("valid settings"))
    }

    /// Count window of 10, minimum 10, threshold 50 %, no jitter.
    fn count10() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new()
            .sliding_window(SlidingWindow::count(10))
            .minimum_calls(10)
            .jitter(0.0)
    }

    fn call(core: &Core, outcome: Outcome, now: u64) -> Option<StateChange> {
        let permit = core.try_acquire(now).0.expect("admitted");
        core.record(permit, outcome, 0, now)
    }

    fn calls(core: &Core, outcome: Outcome, n: usize, now: u64) {
        for _ in 0..n {
            call(core, outcome, now);
        }
    }

    /// Trips a closed breaker at `now` with failures.
    fn trip(core: &Core, now: u64) {
        while core.state() == State::Closed {
            call(core, Outcome::Failure, now);
        }
        assert_eq!(core.state(), State::Open);
    }

    #[test]
    fn never_trips_before_the_minimum_number_of_calls() {
        let c = core(count10());
        calls(&c, Outcome::Failure, 9, 0);
        assert_eq!(
            c.state(),
            State::Closed,
            "9 failures, but 10 calls are needed"
        );
        let change = call(&c, Outcome::Failure, 0).expect("trips at the 10th call");
        assert_eq!((change.from, change.to), (State::Closed, State::Open));
        assert_eq!(change.reason, Reason::FailureRate);
    }

    #[test]
    fn trips_exactly_when_the_failure_rate_reaches_the_threshold() {
        let c = core(count10());
        calls(&c, Outcome::Success, 5, 0);
        calls(&c, Outcome::Failure, 4, 0);
        assert_eq!(c.state(), State::Closed);
        // 10th call: 5 failures in 10 = 50 %, the threshold.
        assert!(call(&c, Outcome::Failure, 0).is_some());
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn a_rate_below_the_threshold_does_not_trip() {
        let c = core(count10());
        for i in 0..100 {
            // 4 failures in every 10 calls: 40 %.
            call(
                &c,
                if i % 10 < 4 {
                    Outcome::Failure
                } else {
                    Outcome::Success
                },
                0,
            );
        }
        assert_eq!(c.state(), State::Closed);
        let m = c.metrics(0);
        assert_eq!((m.calls, m.failures), (10, 4));
        assert!((m.failure_rate - 0.4).abs() < 1e-12);
    }

    #[test]
    fn a_success_that_completes_the_minimum_can_trip() {
        let c = core(count10().failure_rate_threshold(0.9));
        calls(&c, Outcome::Failure, 9, 0);
        assert_eq!(c.state(), State::Closed);
        call(&c, Outcome::Success, 0);
        assert_eq!(c.state(), State::Open, "9 failures in 10 calls = 90 %");
    }

    #[test]
    fn thresholds_compare_exactly() {
        // 0.3 * 10 is 3.0000000000000004 in floating point; 3 failures in 10
        // must still reach a 30 % threshold.
        let c = core(count10().failure_rate_threshold(0.3));
        calls(&c, Outcome::Success, 7, 0);
        calls(&c, Outcome::Failure, 2, 0);
        assert_eq!(c.state(), State::Closed);
        call(&c, Outcome::Failure, 0);
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn ignored_outcomes_count_as_neither() {
        let c = core(count10());
        calls(&c, Outcome::Ignored, 50, 0);
        calls(&c, Outcome::Failure, 9, 0);
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.metrics(0).calls, 9);
    }

    #[test]
    fn count_window_forgets_old_failures() {
        let c = core(count10());
        calls(&c, Outcome::Failure, 4, 0);
        calls(&c, Outcome::Success, 6, 0);
        calls(&c, Outcome::Success, 4, 0); // the 4 failures slide out
        calls(&c, Outcome::Failure, 4, 0);
        assert_eq!(c.state(), State::Closed, "4 failures in the last 10");
        assert_eq!(c.metrics(0).failures, 4);
    }

    #[test]
    fn time_window_forgets_calls_older_than_its_length() {
        let c = core(
            CircuitBreakerBuilder::new()
                .sliding_window(SlidingWindow::time(std::time::Duration::from_secs(10), 10))
                .minimum_calls(10)
                .jitter(0.0),
        );
        calls(&c, Outcome::Failure, 9, 0);
        // 10 s later those nine have left the window.
        calls(&c, Outcome::Success, 1, 10 * SEC);
        assert_eq!(c.metrics(10 * SEC).calls, 1);
        calls(&c, Outcome::Failure, 8, 10 * SEC);
        assert_eq!(c.state(), State::Closed, "9 calls in the window");
        call(&c, Outcome::Failure, 10 * SEC + 500 * MS);
        assert_eq!(c.state(), State::Open, "9 failures in 10 calls");
    }

    #[test]
    fn time_window_trips_on_a_success_once_old_successes_expire() {
        let c = core(
            CircuitBreakerBuilder::new()
                .sliding_window(SlidingWindow::time(std::time::Duration::from_secs(10), 10))
                .minimum_calls(4)
                .jitter(0.0),
        );
        calls(&c, Outcome::Success, 10, 0);
        calls(&c, Outcome::Failure, 3, 5 * SEC);
        assert_eq!(c.state(), State::Closed, "3 of 13");
        // At 10 s the ten successes expire: 3 failures + 1 success = 75 %.
        call(&c, Outcome::Success, 10 * SEC);
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn consecutive_failures_trip_regardless_of_minimum_calls() {
        let c = core(count10().consecutive_failures(3));
        calls(&c, Outcome::Failure, 2, 0);
        call(&c, Outcome::Success, 0); // breaks the run
        calls(&c, Outcome::Failure, 2, 0);
        call(&c, Outcome::Ignored, 0); // does not break it
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.metrics(0).consecutive_failures, 2);
        let change = call(&c, Outcome::Failure, 0).unwrap();
        assert_eq!(change.reason, Reason::ConsecutiveFailures);
    }

    #[test]
    fn slow_call_rate_trips() {
        let c = core(
            count10()
                .minimum_calls(4)
                .slow_call_duration(std::time::Duration::from_secs(1))
                .slow_call_rate_threshold(0.5),
        );
        let slow = |elapsed| {
            let p = c.try_acquire(0).0.unwrap();
            c.record(p, Outcome::Success, elapsed, 0)
        };
        slow(SEC - 1);
        slow(SEC);
        slow(10);
        assert_eq!(c.state(), State::Closed);
        assert_eq!(c.metrics(0).slow_calls, 1);
        let change = slow(2 * SEC).unwrap();
        assert_eq!(change.reason, Reason::SlowCallRate, "2 slow in 4");
    }

    #[test]
    fn slow_calls_are_not_measured_when_the_rule_is_off() {
        let c = core(count10().minimum_calls(1));
        assert!(!c.measures_duration());
        let p = c.try_acquire(0).0.unwrap();
        c.record(p, Outcome::Success, 1000 * SEC, 0);
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn open_rejects_with_the_time_left_then_admits_probes() {
        let c = core(count10().open_duration(std::time::Duration::from_secs(30)));
        trip(&c, 0);
        let open = c.try_acquire(10 * SEC).0.unwrap_err();
        assert_eq!(open.retry_after, std::time::Duration::from_secs(20));
        assert_eq!(c.metrics(10 * SEC).rejections, 1);
        let (permit, change) = c.try_acquire(30 * SEC);
        assert!(permit.unwrap().is_probe());
        let change = change.unwrap();
        assert_eq!((change.from, change.to), (State::Open, State::HalfOpen));
        assert_eq!(change.reason, Reason::OpenElapsed);
    }

    #[test]
    fn half_open_admits_exactly_n_probes_and_closes_when_all_succeed() {
        let c = core(count10().half_open_probes(3));
        trip(&c, 0);
        let now = c.open_until();
        let probes: Vec<_> = (0..3).map(|_| c.try_acquire(now).0.unwrap()).collect();
        let extra = c.try_acquire(now).0.unwrap_err();
        assert!(extra.retry_after <= std::time::Duration::from_secs(1));
        assert_eq!(c.state(), State::HalfOpen);
        assert!(c.record(probes[0], Outcome::Success, 0, now).is_none());
        assert!(c.record(probes[1], Outcome::Success, 0, now).is_none());
        assert_eq!(c.state(), State::HalfOpen);
        let change = c.record(probes[2], Outcome::Success, 0, now).unwrap();
        assert_eq!(
            (change.to, change.reason),
            (State::Closed, Reason::ProbesSucceeded)
        );
        assert_eq!(c.metrics(now).calls, 0, "closing clears the window");
    }

    #[test]
    fn a_failed_probe_reopens_and_late_probes_are_ignored() {
        let c = core(count10().half_open_probes(2));
        trip(&c, 0);
        let now = c.open_until();
        let a = c.try_acquire(now).0.unwrap();
        let b = c.try_acquire(now).0.unwrap();
        let change = c.record(a, Outcome::Failure, 0, now).unwrap();
        assert_eq!(
            (change.to, change.reason),
            (State::Open, Reason::ProbeFailed)
        );
        // The other probe finishes later: it belongs to a finished round.
        assert!(c.record(b, Outcome::Success, 0, now).is_none());
        c.release(b);
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn a_slow_probe_counts_as_failed() {
        let c = core(count10().slow_call_duration(std::time::Duration::from_secs(1)));
        trip(&c, 0);
        let now = c.open_until();
        let p = c.try_acquire(now).0.unwrap();
        let change = c.record(p, Outcome::Success, 2 * SEC, now).unwrap();
        assert_eq!(change.reason, Reason::ProbeFailed);
    }

    #[test]
    fn ignored_or_cancelled_probes_give_their_permit_back() {
        let c = core(count10().half_open_probes(1));
        trip(&c, 0);
        let now = c.open_until();
        let p = c.try_acquire(now).0.unwrap();
        assert!(c.try_acquire(now).0.is_err());
        c.record(p, Outcome::Ignored, 0, now);
        let p = c.try_acquire(now).0.expect("permit returned");
        c.release(p);
        let p = c.try_acquire(now).0.expect("permit returned");
        c.record(p, Outcome::Success, 0, now);
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn half_open_times_out_back_to_open() {
        let c = core(
            count10()
                .half_open_timeout(std::time::Duration::from_secs(5))
                .open_duration(std::time::Duration::from_secs(30)),
        );
        trip(&c, 0);
        let t = c.open_until();
        let stuck = c.try_acquire(t).0.unwrap();
        assert_eq!(c.state(), State::HalfOpen);
        let (result, change) = c.try_acquire(t + 5 * SEC);
        let change = change.unwrap();
        assert_eq!(
            (change.to, change.reason),
            (State::Open, Reason::HalfOpenTimeout)
        );
        assert_eq!(
            change.open_for,
            Some(std::time::Duration::from_secs(60)),
            "a repeated trip"
        );
        assert_eq!(
            result.unwrap_err().retry_after,
            std::time::Duration::from_secs(60)
        );
        // The stuck probe finally answers: too late to matter.
        assert!(c.record(stuck, Outcome::Success, 0, t + 6 * SEC).is_none());
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn open_duration_doubles_per_repeated_trip_up_to_the_cap() {
        let c = core(count10());
        trip(&c, 0);
        let mut seen = vec![c.open_until() / SEC];
        for _ in 0..6 {
            let now = c.open_until();
            let p = c.try_acquire(now).0.unwrap();
            c.record(p, Outcome::Failure, 0, now);
            seen.push((c.open_until() - now) / SEC);
        }
        assert_eq!(seen, [30, 60, 120, 240, 300, 300, 300]);
        // Closing resets the backoff.
        let now = c.open_until();
        for _ in 0..3 {
            let p = c.try_acquire(now).0.unwrap();
            c.record(p, Outcome::Success, 0, now);
        }
        assert_eq!(c.state(), State::Closed);
        trip(&c, now);
        assert_eq!(c.open_until() - now, 30 * SEC);
    }

    #[test]
    fn jitter_shortens_the_open_duration_by_the_random_share() {
        let c = core(count10().jitter(0.2).random(|| 0.5));
        trip(&c, 0);
        assert_eq!(c.open_until(), 27 * SEC, "30 s × (1 − 0.2 × 0.5)");
        let c = core(count10().jitter(0.2).random(|| 0.999_999_999));
        trip(&c, 0);
        assert!(c.open_until() > 24 * SEC && c.open_until() <= 30 * SEC);
        let c = core(count10().jitter(0.2).random(|| f64::NAN));
        trip(&c, 0);
        assert_eq!(
            c.open_until(),
            30 * SEC,
            "a broken random source means no jitter"
        );
    }

    #[test]
    fn results_admitted_before_a_transition_are_dropped() {
        let c = core(count10().minimum_calls(1).failure_rate_threshold(1.0));
        let early = c.try_acquire(0).0.unwrap();
        trip(&c, 0);
        assert!(c.record(early, Outcome::Failure, 0, 0).is_none());
        assert_eq!(c.state(), State::Open);
    }

    #[test]
    fn force_open_disable_and_reset() {
        let c = core(count10());
        calls(&c, Outcome::Failure, 3, 0);
        let change = c.force_open(0).unwrap();
        assert_eq!(
            (change.to, change.reason),
            (State::ForcedOpen, Reason::ForcedOpen)
        );
        let open = c.try_acquire(1000 * SEC).0.unwrap_err();
        assert_eq!(open.retry_after, std::time::Duration::ZERO);
        assert!(c.force_open(0).is_none(), "already forced open");

        c.disable(0).unwrap();
        assert_eq!(c.state(), State::Disabled);
        let p = c.try_acquire(0).0.unwrap();
        assert!(!p.is_tracked());
        calls(&c, Outcome::Failure, 100, 0);
        assert_eq!(c.state(), State::Disabled, "disabled counts nothing");

        let change = c.reset(0).unwrap();
        assert_eq!((change.from, change.to), (State::Disabled, State::Closed));
        let m = c.metrics(0);
        assert_eq!((m.calls, m.failures, m.rejections), (0, 0, 0));
        // Reset of a closed breaker clears the window too.
        calls(&c, Outcome::Failure, 9, 0);
        assert!(c.reset(0).is_none());
        assert_eq!(c.metrics(0).calls, 0);
    }

    #[test]
    fn concurrent_callers_never_get_more_than_n_probes() {
        use std::sync::atomic::AtomicUsize;
        use std::sync::Arc;
        for _ in 0..50 {
            let c = Arc::new(core(count10().half_open_probes(3)));
            trip(&c, 0);
            let now = c.open_until();
            let admitted = Arc::new(AtomicUsize::new(0));
            std::thread::scope(|s| {
                for _ in 0..4 {
                    let c = c.clone();
                    let admitted = admitted.clone();
                    s.spawn(move || {
                        for _ in 0..200 {
                            if c.try_acquire(now).0.is_ok() {
                                admitted.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                    });
                }
            });
            assert_eq!(admitted.load(Ordering::SeqCst), 3);
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Acquire,
        Finish(usize, Outcome),
        Cancel(usize),
        Advance(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let outcome = prop_oneof![
            Just(Outcome::Success),
            Just(Outcome::Failure),
            Just(Outcome::Ignored)
        ];
        prop_oneof![
            4 => Just(Op::Acquire),
            3 => (any::<usize>(), outcome).prop_map(|(i, o)| Op::Finish(i, o)),
            1 => any::<usize>().prop_map(Op::Cancel),
            1 => (0u64..40).prop_map(|s| Op::Advance(s * SEC)),
        ]
    }

    proptest! {
        /// Whatever the order in which callers acquire, finish and cancel,
        /// a half-open round never has more than N probes in flight, and
        /// the word's permit count matches the probes actually out.
        #[test]
        fn never_more_than_n_probes_in_flight(
            probes in 1u32..5,
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let c = core(count10().half_open_probes(probes).half_open_timeout(std::time::Duration::from_secs(20)));
            trip(&c, 0);
            let mut now = 0;
            let mut out: Vec<Permit> = Vec::new();
            for op in ops {
                match op {
                    Op::Acquire => {
                        if let Ok(p) = c.try_acquire(now).0 {
                            out.push(p);
                        }
                    }
                    Op::Finish(i, o) if !out.is_empty() => {
                        let p = out.swap_remove(i % out.len());
                        c.record(p, o, 0, now);
                    }
                    Op::Cancel(i) if !out.is_empty() => {
                        let p = out.swap_remove(i % out.len());
                        c.release(p);
                    }
                    Op::Advance(d) => now += d,
                    _ => {}
                }
                let word = c.word.load(Ordering::SeqCst);
                if state_of(word) == State::HalfOpen {
                    let in_flight = out
                        .iter()
                        .filter(|p| p.is_probe() && same_epoch(p.word, word))
                        .count() as u64;
                    prop_assert!(in_flight <= u64::from(probes));
                    prop_assert_eq!(in_flight + probes_of(word), u64::from(probes) - successes_of(word));
                }
            }
        }

        /// With only the rate rule, a count window never trips before the
        /// minimum number of calls, and trips at the first call after which
        /// `failures / calls >= threshold` (with calls >= minimum).
        #[test]
        fn trips_exactly_when_the_rate_reaches_the_threshold(
            size in 1u32..30,
            min_seed in 0u32..30,
            threshold_ppm in 1u64..=1_000_000,
            outcomes in proptest::collection::vec(prop_oneof![Just(Outcome::Success), Just(Outcome::Failure), Just(Outcome::Ignored)], 0..120),
        ) {
            let minimum = 1 + min_seed % size;
            let c = core(
                CircuitBreakerBuilder::new()
                    .sliding_window(SlidingWindow::count(size))
                    .minimum_calls(minimum)
                    .failure_rate_threshold(threshold_ppm as f64 / 1e6),
            );
            let ppm = c.settings().failure_ppm;
            let mut window: std::collections::VecDeque<bool> = Default::default();
            let mut counted = 0u64;
            for outcome in outcomes {
                let change = call(&c, outcome, 0);
                if outcome != Outcome::Ignored {
                    counted += 1;
                    window.push_back(outcome == Outcome::Failure);
                    if window.len() > size as usize {
                        window.pop_front();
                    }
                }
                let calls = window.len() as u64;
                let failures = window.iter().filter(|f| **f).count() as u64;
                let expected = calls >= u64::from(minimum) && failures * 1_000_000 >= ppm * calls;
                if counted < u64::from(minimum) {
                    prop_assert_eq!(c.state(), State::Closed);
                }
                prop_assert_eq!(change.is_some(), expected);
                prop_assert_eq!(c.state() == State::Open, expected);
                if expected {
                    break;
                }
            }
        }

        /// Time window: the breaker opens at exactly the first counted call
        /// after which the calls of the last 10 one-second buckets reach the
        /// minimum and the failure rate reaches the threshold (a model that
        /// recounts the window from scratch at every step).
        #[test]
        fn time_window_trips_exactly_when_the_rate_reaches_the_threshold(
            minimum in 1u32..20,
            threshold_ppm in 1u64..=1_000_000,
            steps in proptest::collection::vec((prop_oneof![Just(Outcome::Success), Just(Outcome::Failure), Just(Outcome::Ignored)], 0u64..1_500), 0..150),
        ) {
            let c = core(
                CircuitBreakerBuilder::new()
                    .sliding_window(SlidingWindow::time(std::time::Duration::from_secs(10), 10))
                    .minimum_calls(minimum)
                    .failure_rate_threshold(threshold_ppm as f64 / 1e6),
            );
            let ppm = c.settings().failure_ppm;
            let mut recorded: Vec<(u64, bool)> = Vec::new();
            let mut now = 0;
            for (outcome, advance_ms) in steps {
                now += advance_ms * MS;
                let change = call(&c, outcome, now);
                if outcome == Outcome::Ignored {
                    // Ignored calls are not counted, so they check nothing.
                    prop_assert!(change.is_none());
                    continue;
                }
                recorded.push((now / SEC, outcome == Outcome::Failure));
                let index = now / SEC;
                let live = recorded.iter().filter(|(b, _)| b + 10 > index);
                let calls = live.clone().count() as u64;
                let failures = live.filter(|(_, f)| *f).count() as u64;
                let expected = calls >= u64::from(minimum) && failures * 1_000_000 >= ppm * calls;
                prop_assert_eq!(change.is_some(), expected, "calls {} failures {}", calls, failures);
                prop_assert_eq!(c.state() == State::Open, expected);
                if expected {
                    break;
                }
            }
        }

        /// A time window with the rate rule never trips before it holds the
        /// minimum number of calls.
        #[test]
        fn time_window_never_trips_before_minimum_calls(
            minimum in 1u32..40,
            steps in proptest::collection::vec((any::<bool>(), 0u64..2_000), 0..100),
        ) {
            let c = core(
                CircuitBreakerBuilder::new()
                    .sliding_window(SlidingWindow::time(std::time::Duration::from_secs(10), 10))
                    .minimum_calls(minimum)
                    .failure_rate_threshold(0.01),
            );
            let mut now = 0;
            for (failure, advance_ms) in steps {
                now += advance_ms * MS;
                let before = c.metrics(now).calls;
                call(&c, if failure { Outcome::Failure } else { Outcome::Success }, now);
                if before + 1 < u64::from(minimum) {
                    prop_assert_eq!(c.state(), State::Closed);
                }
                if c.state() == State::Open {
                    break;
                }
            }
        }
    }

    /// Issue 11, item 9: `reset()` of a closed breaker starts a new
    /// generation, so a call admitted before the reset records nothing in
    /// the fresh window.
    #[test]
    fn reset_of_a_closed_breaker_drops_results_admitted_before_it() {
        let c = core(count10());
        calls(&c, Outcome::Failure, 9, 0);
        let before: Vec<Permit> = (0..10)
            .map(|_| c.try_acquire(0).0.expect("closed"))
            .collect();
        assert!(c.reset(0).is_none(), "closed to closed is no state change");
        assert_eq!(c.state(), State::Closed);
        for permit in before {
            assert!(c.record(permit, Outcome::Failure, 0, 0).is_none());
        }
        assert_eq!(c.state(), State::Closed, "ten stale failures do not trip");
        let m = c.metrics(0);
        assert_eq!((m.calls, m.failures), (0, 0));
        // calls admitted after the reset count as usual
        calls(&c, Outcome::Failure, 10, 0);
        assert_eq!(c.state(), State::Open);
    }

    /// Many threads recording successes while another resets in a loop
    /// (recording one failure after each reset, so the ring always holds a
    /// failure for a success to overwrite): the breaker never opens and its
    /// counters never wrap.
    #[test]
    fn successes_racing_resets_never_open_the_breaker() {
        let c = std::sync::Arc::new(core(
            CircuitBreakerBuilder::new()
                .sliding_window(SlidingWindow::count(4))
                .minimum_calls(2)
                .failure_rate_threshold(0.6)
                .jitter(0.0),
        ));
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..3 {
                let (c, stop) = (&c, &stop);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let permit = c.try_acquire(0).0.expect("never opens");
                        assert!(c.record(permit, Outcome::Success, 0, 0).is_none());
                    }
                });
            }
            for _ in 0..20_000 {
                c.reset(0);
                let permit = c.try_acquire(0).0.expect("never opens");
                let change = c.record(permit, Outcome::Failure, 0, 0);
                assert!(change.is_none(), "one failure cannot trip: {change:?}");
                let m = c.metrics(0);
                assert!(m.failures <= m.calls && m.calls <= 4, "{m:?}");
                assert_eq!(m.state, State::Closed);
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(c.state(), State::Closed);
    }
}
