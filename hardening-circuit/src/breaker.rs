//! The shared breaker handle: the state machine, its clock and its
//! notifications.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::classify::Outcome;
use crate::config::{CircuitBreakerBuilder, Settings};
use crate::error::CircuitOpen;
use crate::machine::{Core, Permit};
use crate::state::{Metrics, State, StateChange};
use hardening_core::observe::{BreakerObserver, BreakerState, CallOutcome};

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
    shared: Arc<Shared>,
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

/// What every handle of one breaker points to.
pub(crate) struct Shared {
    /// Unique for the life of the process, never reused.
    id: u64,
    core: Core,
    /// Bound from the builder's observer by this breaker's name.
    observer: Option<Arc<dyn BreakerObserver>>,
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
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let observer = settings
            .observer
            .as_ref()
            .map(|o| o.breaker(settings.name.as_deref().unwrap_or("")));
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            core: Core::new(settings),
            observer,
        });
        registry::register(&shared);
        Self { shared }
    }

    /// The breaker's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.shared.core.settings().name.as_deref()
    }

    /// The current state.
    ///
    /// An open breaker whose open duration has passed still reports
    /// [`State::Open`] until the next call arrives and becomes a probe.
    pub fn state(&self) -> State {
        self.shared.core.state()
    }

    /// A snapshot of the window's counters and the rejections.
    pub fn metrics(&self) -> Metrics {
        self.shared.core.metrics(self.shared.now())
    }

    /// Rejects every call until [`reset`](Self::reset) (callers get a
    /// [`CircuitOpen`] with a zero `retry_after`).
    pub fn force_open(&self) {
        let change = self.shared.core.force_open(self.shared.now());
        self.shared.emit(change);
    }

    /// Lets every call through, counting nothing, until
    /// [`reset`](Self::reset).
    pub fn disable(&self) {
        let change = self.shared.core.disable(self.shared.now());
        self.shared.emit(change);
    }

    /// Closes the breaker and clears its window, its rejection count and its
    /// open-duration backoff. Calls admitted before the reset still run, but
    /// their outcomes are not counted in the fresh window (also when the
    /// breaker was already closed), so a reset racing with calls in flight
    /// can neither trip the breaker nor skew its counters.
    pub fn reset(&self) {
        let change = self.shared.core.reset(self.shared.now());
        self.shared.emit(change);
    }

    /// Asks to make one call.
    #[inline]
    pub(crate) fn acquire(&self) -> Result<CallPermit, CircuitOpen> {
        self.shared.acquire()
    }

    /// Whether a call would be admitted without a permit worth reserving
    /// (closed or disabled).
    #[inline]
    pub(crate) fn admits_without_permit(&self) -> bool {
        self.shared.core.admit_fast().is_some()
    }

    /// Records how a permitted call went.
    #[inline]
    pub(crate) fn complete(&self, call: CallPermit, outcome: Outcome) {
        self.shared.complete(call, outcome);
    }

    /// Gives back the permit of a call that will not report an outcome.
    #[inline]
    pub(crate) fn cancel(&self, call: CallPermit) {
        self.shared.cancel(call);
    }

    /// A guard for an admitted call that finds this breaker again by its id
    /// when the call finishes, instead of holding a reference count (two
    /// atomic read-modify-writes per call saved; see [`registry`]).
    #[inline]
    pub(crate) fn guard_by_id(&self, call: CallPermit) -> CallGuard {
        registry::remember(&self.shared);
        CallGuard::new(Holder::Id(self.shared.id), call)
    }

    /// A guard for an admitted call that holds this breaker.
    #[inline]
    pub(crate) fn guard_owned(self, call: CallPermit) -> CallGuard {
        CallGuard::new(Holder::Owned(self), call)
    }
}

impl Shared {
    #[inline]
    fn now(&self) -> u64 {
        self.core.settings().clock.now_nanos()
    }

    #[inline]
    fn acquire(&self) -> Result<CallPermit, CircuitOpen> {
        let core = &self.core;
        let permit = match core.admit_fast() {
            Some(permit) => permit,
            None => {
                let (result, change) = core.try_acquire(self.now());
                self.emit(change);
                if result.is_err() {
                    if let Some(observer) = &self.observer {
                        observer.call(CallOutcome::Rejected);
                    }
                }
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
    fn complete(&self, call: CallPermit, outcome: Outcome) {
        if !call.permit.is_tracked() {
            return;
        }
        let elapsed = if call.start != 0 {
            self.now().saturating_sub(call.start)
        } else {
            0
        };
        let change = self
            .core
            .record_with(call.permit, outcome, elapsed, || self.now());
        if let Some(observer) = &self.observer {
            self.observe(&**observer, outcome, elapsed);
        }
        self.emit(change);
    }

    #[inline]
    fn observe(&self, observer: &dyn BreakerObserver, outcome: Outcome, elapsed: u64) {
        match outcome {
            Outcome::Success => observer.call(CallOutcome::Success),
            Outcome::Failure => observer.call(CallOutcome::Failure),
            Outcome::Ignored => return,
        }
        let slow_nanos = self.core.settings().slow_nanos;
        if slow_nanos != 0 && elapsed >= slow_nanos {
            observer.call(CallOutcome::Slow);
        }
    }

    /// Gives back the permit of a call that will not report an outcome.
    #[inline]
    fn cancel(&self, call: CallPermit) {
        self.core.release(call.permit);
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
        if let Some(observer) = &self.observer {
            observer.transition(observed(change.from), observed(change.to));
        }
        if let Some(hook) = &self.core.settings().on_state_change {
            hook(change);
        }
    }
}

/// The observer's name for a state.
const fn observed(state: State) -> BreakerState {
    match state {
        State::Closed => BreakerState::Closed,
        State::Open => BreakerState::Open,
        State::HalfOpen => BreakerState::HalfOpen,
        State::ForcedOpen => BreakerState::ForcedOpen,
        State::Disabled => BreakerState::Disabled,
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        registry::forget(self.id);
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

enum Holder {
    /// Found again through the registry (the breaker service's path).
    Id(u64),
    /// Held (the keyed service already holds a reference per call).
    Owned(Breaker),
}

/// The permit of a call in flight: recorded when the call finishes, given
/// back if the call is dropped first.
///
/// Completed in place (`&mut self`) and kept, disarmed, until the future is
/// dropped: moving it out of the just-built future would read back fields
/// still in the store buffer, which costs more than the rest of the call.
pub(crate) struct CallGuard {
    holder: Holder,
    word: u64,
    start: u64,
    armed: bool,
}

impl CallGuard {
    #[inline]
    fn new(holder: Holder, call: CallPermit) -> Self {
        Self {
            holder,
            word: call.permit.word(),
            start: call.start,
            armed: true,
        }
    }

    #[inline]
    fn disarm(&mut self) -> Option<CallPermit> {
        if !self.armed {
            return None;
        }
        self.armed = false;
        Some(CallPermit {
            permit: Permit::from_word(self.word),
            start: self.start,
        })
    }

    /// Records the outcome (once).
    #[inline]
    pub(crate) fn complete(&mut self, outcome: Outcome) {
        if let Some(call) = self.disarm() {
            match &self.holder {
                Holder::Id(id) => {
                    registry::with(*id, |shared| shared.complete(call, outcome));
                }
                Holder::Owned(breaker) => breaker.shared.complete(call, outcome),
            }
        }
    }
}

impl Drop for CallGuard {
    #[inline]
    fn drop(&mut self) {
        if let Some(call) = self.disarm() {
            match &self.holder {
                Holder::Id(id) => {
                    registry::with(*id, |shared| shared.cancel(call));
                }
                Holder::Owned(breaker) => breaker.shared.cancel(call),
            }
        }
    }
}

impl fmt::Debug for CallGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallGuard").finish_non_exhaustive()
    }
}

/// Finding a breaker by id without touching its reference count.
///
/// On the machines this crate targets an atomic read-modify-write costs
/// 5 to 20 ns, and cloning an `Arc` into every response future (and
/// dropping it) costs two of them: more than the rest of the closed-state
/// path. So the breaker service's future carries only the breaker's id; when
/// it finishes, it finds the breaker in a small per-thread cache of strong
/// references, filled from a global id → `Weak` registry on a miss (a
/// future finishing on another thread, or more breakers than cache slots in
/// turn). The cache holds at most [`SLOTS`] breakers per thread, so a
/// dropped breaker's memory is kept at most until its slot is reused or the
/// thread exits. A future whose breaker no longer exists records nothing.
pub(crate) mod registry {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::sync::{Arc, PoisonError, RwLock, Weak};

    use super::Shared;

    static REGISTRY: RwLock<BTreeMap<u64, Weak<Shared>>> = RwLock::new(BTreeMap::new());

    /// Breakers cached per thread.
    pub(crate) const SLOTS: usize = 4;

    struct Cache {
        slots: [Option<(u64, Arc<Shared>)>; SLOTS],
        next: usize,
    }

    thread_local! {
        static CACHE: RefCell<Cache> = const {
            RefCell::new(Cache { slots: [const { None }; SLOTS], next: 0 })
        };
    }

    pub(super) fn register(shared: &Arc<Shared>) {
        REGISTRY
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(shared.id, Arc::downgrade(shared));
    }

    pub(super) fn forget(id: u64) {
        REGISTRY
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }

    /// Makes sure this thread's cache holds `shared`, so the future of a
    /// call that finishes on this thread finds it without the registry.
    #[inline]
    pub(super) fn remember(shared: &Arc<Shared>) {
        let cached = CACHE
            .try_with(|cache| {
                cache
                    .try_borrow()
                    .map(|c| c.slots.iter().flatten().any(|(id, _)| *id == shared.id))
                    .unwrap_or(true)
            })
            .unwrap_or(true);
        if !cached {
            insert(shared.clone());
        }
    }

    #[cold]
    fn insert(shared: Arc<Shared>) {
        let evicted = CACHE
            .try_with(|cache| {
                let mut cache = cache.try_borrow_mut().ok()?;
                let slot = cache.next;
                cache.next = (slot + 1) % SLOTS;
                cache.slots[slot].replace((shared.id, shared))
            })
            .ok()
            .flatten();
        // Dropped here, outside the borrow: it may be the last reference.
        drop(evicted);
    }

    /// Runs `f` on the breaker `id`, if it still exists.
    #[inline]
    pub(super) fn with<R>(id: u64, f: impl FnOnce(&Shared) -> R) -> Option<R> {
        let mut f = Some(f);
        let hit = CACHE.try_with(|cache| {
            let cache = cache.try_borrow().ok()?;
            let (_, shared) = cache.slots.iter().flatten().find(|(i, _)| *i == id)?;
            let f = f.take()?;
            Some(f(shared))
        });
        if let Ok(Some(result)) = hit {
            return Some(result);
        }
        let f = f.take()?;
        with_slow(id, f)
    }

    #[cold]
    fn with_slow<R>(id: u64, f: impl FnOnce(&Shared) -> R) -> Option<R> {
        let shared = {
            let registry = REGISTRY.read().unwrap_or_else(PoisonError::into_inner);
            registry.get(&id).and_then(Weak::upgrade)
        }?;
        let result = f(&shared);
        insert(shared);
        Some(result)
    }

    #[cfg(test)]
    pub(crate) fn is_registered(id: u64) -> bool {
        REGISTRY
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(&id)
    }

    #[cfg(test)]
    pub(crate) fn id_of(breaker: &super::Breaker) -> u64 {
        breaker.shared.id
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use tower::{service_fn, Service};
    use tower_layer::Layer;

    use super::*;
    use crate::{CircuitBreakerLayer, ErrorsAreFailures, SlidingWindow};

    fn poll_now<F: Future>(f: F) -> F::Output {
        match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("not ready"),
        }
    }

    fn layer() -> CircuitBreakerLayer<ErrorsAreFailures> {
        CircuitBreakerLayer::builder()
            .sliding_window(SlidingWindow::count(2))
            .minimum_calls(2)
            .build()
            .unwrap()
            .classify(ErrorsAreFailures)
    }

    #[test]
    fn futures_finishing_on_other_threads_still_count() {
        let layer = layer();
        let breaker = layer.breaker().clone();
        let mut svc = layer.layer(service_fn(|_: ()| async { Err::<(), _>("down") }));
        let futures: Vec<_> = (0..2).map(|_| svc.call(())).collect();
        std::thread::spawn(move || {
            for f in futures {
                assert!(poll_now(f).is_err());
            }
        })
        .join()
        .unwrap();
        assert_eq!(breaker.state(), State::Open);
    }

    #[test]
    fn a_dropped_breaker_is_forgotten_once_no_thread_caches_it() {
        let id = std::thread::spawn(|| {
            let layer = layer();
            let id = registry::id_of(layer.breaker());
            let mut svc = layer.layer(service_fn(|_: ()| async { Ok::<_, &str>(()) }));
            poll_now(svc.call(())).unwrap();
            assert!(registry::is_registered(id));
            id
        })
        .join()
        .unwrap();
        assert!(
            !registry::is_registered(id),
            "freed when its thread's cache went"
        );
    }

    #[test]
    fn a_future_outliving_its_breaker_records_nothing() {
        let future = std::thread::spawn(|| {
            let mut svc = layer().layer(service_fn(|_: ()| async { Err::<(), _>("down") }));
            svc.call(())
        })
        .join()
        .unwrap();
        // The breaker is gone; finishing (or dropping) the call is harmless.
        assert!(poll_now(future).is_err());
    }

    #[test]
    fn more_breakers_than_cache_slots_on_one_thread() {
        let layers: Vec<_> = (0..registry::SLOTS * 3).map(|_| layer()).collect();
        let mut services: Vec<_> = layers
            .iter()
            .map(|l| l.layer(service_fn(|_: ()| async { Err::<(), _>("down") })))
            .collect();
        for _ in 0..2 {
            for svc in services.iter_mut() {
                let _ = poll_now(svc.call(()));
            }
        }
        assert!(layers.iter().all(|l| l.breaker().state() == State::Open));
    }
}
