//! The shared breaker handle: the state machine, its clock and its
//! notifications.

use std::fmt;
use std::sync::Arc;

use crate::classify::Outcome;
use crate::config::{CircuitBreakerBuilder, Settings};
use crate::error::CircuitOpen;
use crate::machine::{Core, Permit};
use crate::state::{Metrics, State, StateChange};

/// A handle to one circuit breaker: read its state and metrics, force it
/// open, disable it, reset it.
///
/// Get it from [`CircuitBreakerLayer::breaker`](crate::CircuitBreakerLayer::breaker),
/// [`CircuitBreaker::breaker`](crate::CircuitBreaker::breaker) or
/// [`CircuitBreakerBuilder::build_breaker`].
///
/// # Clone
///
/// Cheap (an `Arc`): every clone is the same breaker. A layer holds one
/// breaker; every service it wraps, every clone of those services and every
/// clone of this handle share it.
///
/// # Example
///
/// ```
/// use hardening_circuit::{CircuitBreakerLayer, State};
///
/// let layer = CircuitBreakerLayer::new();
/// let breaker = layer.breaker().clone();
/// assert_eq!(breaker.state(), State::Closed);
///
/// breaker.force_open();
/// assert_eq!(breaker.state(), State::ForcedOpen);
/// breaker.reset();
/// assert_eq!(breaker.state(), State::Closed);
/// assert_eq!(breaker.metrics().calls, 0);
/// ```
#[derive(Clone)]
pub struct Breaker {
    inner: Arc<Core>,
}

/// Permission for one call, with the time it started if the slow-call rule
/// needs it.
#[derive(Debug)]
pub(crate) struct CallPermit {
    permit: Permit,
    start: u64,
}

impl CallPermit {
    #[inline]
    pub(crate) fn is_tracked(&self) -> bool {
        self.permit.is_tracked()
    }
}

impl Breaker {
    /// A breaker with the default settings (see [`CircuitBreakerBuilder`]).
    pub fn new() -> Self {
        Self::from_settings(
            CircuitBreakerBuilder::new()
                .validate()
                .unwrap_or_else(|_| unreachable!("the default settings are valid")),
        )
    }

    /// A builder for a breaker (same as
    /// [`CircuitBreakerLayer::builder`](crate::CircuitBreakerLayer::builder)).
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new()
    }

    pub(crate) fn from_settings(settings: Settings) -> Self {
        Self {
            inner: Arc::new(Core::new(settings)),
        }
    }

    /// The breaker's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.inner.settings().name.as_deref()
    }

    /// The current state.
    ///
    /// An open breaker whose open duration has passed still reports
    /// [`State::Open`] until the next call arrives and becomes a probe.
    pub fn state(&self) -> State {
        self.inner.state()
    }

    /// A snapshot of the window's counters and the rejections.
    pub fn metrics(&self) -> Metrics {
        self.inner.metrics(self.now())
    }

    /// Rejects every call until [`reset`](Self::reset) (callers get a
    /// [`CircuitOpen`] with a zero `retry_after`).
    pub fn force_open(&self) {
        let change = self.inner.force_open(self.now());
        self.emit(change);
    }

    /// Lets every call through, counting nothing, until
    /// [`reset`](Self::reset).
    pub fn disable(&self) {
        let change = self.inner.disable(self.now());
        self.emit(change);
    }

    /// Closes the breaker and clears its window, its rejection count and its
    /// open-duration backoff.
    pub fn reset(&self) {
        let change = self.inner.reset(self.now());
        self.emit(change);
    }

    #[inline]
    fn now(&self) -> u64 {
        self.inner.settings().clock.now_nanos()
    }

    /// Asks to make one call.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<CallPermit, CircuitOpen> {
        let core = &*self.inner;
        let permit = match core.admit_fast() {
            Some(permit) => permit,
            None => {
                let (result, change) = core.try_acquire(self.now());
                self.emit(change);
                result?
            }
        };
        let start = if core.measures_duration() && permit.is_tracked() {
            self.now()
        } else {
            0
        };
        Ok(CallPermit { permit, start })
    }

    /// Records how a permitted call went.
    #[inline]
    pub(crate) fn complete(&self, call: CallPermit, outcome: Outcome) {
        if !call.permit.is_tracked() {
            return;
        }
        let now = self.now();
        let change = self
            .inner
            .record(call.permit, outcome, now.saturating_sub(call.start), now);
        self.emit(change);
    }

    /// Gives back the permit of a call that will not report an outcome.
    #[inline]
    pub(crate) fn cancel(&self, call: CallPermit) {
        self.inner.release(call.permit);
    }

    #[inline]
    fn emit(&self, change: Option<StateChange>) {
        if let Some(change) = change {
            self.notify(&change);
        }
    }

    #[cold]
    fn notify(&self, change: &StateChange) {
        let name = change.breaker.as_deref().unwrap_or("");
        let open_for_ms = change.open_for.map(|d| d.as_millis() as u64);
        match change.to {
            State::Open | State::ForcedOpen => tracing::warn!(
                target: "hardening_circuit",
                breaker = name,
                from = change.from.as_str(),
                to = change.to.as_str(),
                reason = change.reason.as_str(),
                open_for_ms,
                "circuit breaker opened"
            ),
            _ => tracing::info!(
                target: "hardening_circuit",
                breaker = name,
                from = change.from.as_str(),
                to = change.to.as_str(),
                reason = change.reason.as_str(),
                "circuit breaker state changed"
            ),
        }
        if let Some(hook) = &self.inner.settings().on_state_change {
            hook(change);
        }
    }
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("name", &self.name())
            .field("state", &self.state())
            .finish()
    }
}

/// The permit of a call in flight: recorded when the call finishes, given
/// back if the call is dropped first.
pub(crate) struct CallGuard {
    breaker: Breaker,
    call: Option<CallPermit>,
}

impl CallGuard {
    #[inline]
    pub(crate) fn new(breaker: Breaker, call: CallPermit) -> Self {
        Self {
            breaker,
            call: Some(call),
        }
    }

    #[inline]
    pub(crate) fn complete(mut self, outcome: Outcome) {
        if let Some(call) = self.call.take() {
            self.breaker.complete(call, outcome);
        }
    }
}

impl Drop for CallGuard {
    #[inline]
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            self.breaker.cancel(call);
        }
    }
}

impl fmt::Debug for CallGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallGuard").finish_non_exhaustive()
    }
}
