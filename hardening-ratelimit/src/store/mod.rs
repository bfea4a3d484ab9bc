//! Where rate-limit state lives: the [`RateLimitStore`] trait, the
//! [`InMemoryStore`], and the types they exchange with the layer.
//!
//! # Design
//!
//! The layer decides *which* policies apply to a request and *who* the
//! request is counted against (one [`Key`] per policy); the store decides
//! *whether* it is admitted. One call, [`RateLimitStore::check`], decides
//! every policy that matches the request together, **all or nothing**: when
//! any policy rejects, none of them consumes quota. So a client that is
//! locked out of one policy does not burn its quota in the others, and a
//! shared store (Redis) can do the whole decision in one round trip
//! (one Lua script).
//!
//! The arithmetic is the pure [`Gcra`](crate::gcra::Gcra) step: one `u64`
//! of state per `(policy, key)`, the theoretical arrival time. A state whose
//! TAT is not after "now" is fully recovered and equals no state at all, so
//! stores drop it (the in-memory store sweeps; Redis lets the key expire).
//!
//! `check` returns [`MaybeReady`]: an in-process store answers
//! [`MaybeReady::Ready`] synchronously and the layer's hot path never boxes
//! or allocates a future; a networked store returns
//! [`MaybeReady::Pending`] with its own (`'static`, `Send`) future.
//!
//! # Example
//!
//! ```
//! use std::num::NonZeroU32;
//! use std::time::Duration;
//! use hardening_ratelimit::store::{InMemoryStore, MaybeReady, PolicyCheck, RateLimitStore};
//! use hardening_ratelimit::{Key, Policy, Quota};
//!
//! let store = InMemoryStore::new();
//! let strict = Policy::new("strict", Quota::per_minute(NonZeroU32::new(1).unwrap()));
//! let loose = Policy::new("loose", Quota::per_minute(NonZeroU32::new(100).unwrap()));
//! let alice = Key::user("alice");
//! let checks = [PolicyCheck::new(&strict, &alice), PolicyCheck::new(&loose, &alice)];
//!
//! let decide = |now| match store.check(&checks, now) {
//!     MaybeReady::Ready(decision) => decision.unwrap(),
//!     MaybeReady::Pending(_) => unreachable!("the in-memory store is synchronous"),
//! };
//! let first = decide(Duration::from_secs(1));
//! assert!(first.is_allowed());
//! assert_eq!(first.outcomes()[1].remaining, 99);
//!
//! let second = decide(Duration::from_secs(1));
//! assert!(!second.is_allowed());
//! assert!(!second.outcomes()[0].allowed);
//! // all or nothing: "loose" was not charged for the rejected request
//! assert_eq!(second.outcomes()[1].remaining, 99);
//! ```

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hardening_core::observe::PolicyObserver;

use crate::key::Key;
use crate::policy::{Policy, PolicyId};
use crate::quota::Quota;

#[cfg(feature = "redis")]
pub use self::redis::{
    FailurePolicy, RedisDecisionFuture, RedisStore, RedisStoreBuilder, RedisStoreStats,
    DEFAULT_KEY_PREFIX, DEFAULT_RETRY_INTERVAL, DEFAULT_SHORT_CIRCUIT_CAPACITY, DEFAULT_TIMEOUT,
    DEFAULT_WARN_INTERVAL,
};
pub use memory::{InMemoryStore, DEFAULT_MAX_KEYS};

/// A store of rate-limit state that decides requests.
///
/// # Contract
///
/// Implementations (the in-memory store here, a Redis store behind the
/// `redis` feature) must:
///
/// 1. **Decide all checks of one call together, all or nothing.** If every
///    check admits the request, each `(policy, key)` state consumes one unit
///    (its TAT advances by the quota's period, per
///    [`Gcra::decide`](crate::gcra::Gcra::decide)). If any check rejects, no
///    state changes. This must hold under concurrency: two calls racing on
///    the same keys behave as if run one after the other.
/// 2. **Return one [`PolicyOutcome`] per check, in the order of `checks`.**
///    When the request is admitted, outcomes describe the state *after*
///    consuming. When it is rejected, each outcome describes the state
///    *without* this request (nothing was consumed): `allowed` says whether
///    that policy alone would have admitted it, `remaining` how many requests
///    it would admit now, `retry_after` how long until it would admit one
///    (zero for policies that would admit), `reset_after` how long until it
///    has its whole burst back.
/// 3. **Use GCRA with the check's quota**: [`PolicyCheck::quota`] (burst and
///    period); the results must equal [`Gcra`](crate::gcra::Gcra)'s for the
///    same sequence of request times.
/// 4. **Identify state by policy name and key.** Two checks with equal
///    [`PolicyCheck::name`] and equal [`PolicyCheck::key`] address the same
///    state, whatever layer they come from. A shared store builds its key
///    from [`PolicyCheck::write_storage_key`]: `<policy name>:<key form>`,
///    e.g. `auth:ip:203.0.113.9`, `api:user:alice`, `api:ip:2001:db8::/64`
///    (see [`Key::write_storage`]), adding its own prefix in front. Policy
///    names never contain `:`, so the form is unambiguous.
/// 5. **Forget recovered state.** State whose TAT is at or before "now" is
///    equal to no state and should be dropped (or expire), so memory is
///    bounded by the number of clients *currently* limited.
///
/// # Time
///
/// `now` is the layer's [`Clock::now`](hardening_core::Clock::now): monotonic
/// time since that clock's private epoch (not wall time, not comparable
/// across processes). A store that keeps state in this process must use
/// `now` and read no other clock, so fake-clock tests are exact. A store that
/// is shared between processes may use its own time source instead (Redis
/// uses its server `TIME`, so replicas with skewed clocks agree) and ignore
/// `now`. Either way outcomes are *durations relative to the decision*, so
/// the layer can turn them into headers without knowing which clock was
/// used.
///
/// # Errors
///
/// A store that cannot decide (network down, timeout) returns a
/// [`StoreError`]; the layer answers `503 Service Unavailable` with
/// `Retry-After` ([`StoreError::retry_after`], default 1 s) and does not call
/// the inner service. A store that prefers to fail open, or to fall back to a
/// local store, does so itself and returns a decision.
///
/// `checks` is never empty and its policy names are distinct.
pub trait RateLimitStore: Send + Sync + 'static {
    /// The future of a decision that is not ready at once. In-process stores
    /// that always answer [`MaybeReady::Ready`] can use
    /// [`std::future::Ready`]`<Result<Decision, StoreError>>`.
    type Future: Future<Output = Result<Decision, StoreError>> + Send + 'static;

    /// Decides one request against `checks` (see the trait's contract).
    /// Must not block; everything the returned future needs is copied out
    /// of `checks` before returning.
    fn check(&self, checks: &[PolicyCheck<'_>], now: Duration) -> MaybeReady<Self::Future>;

    /// Binds `observer` to `policy`: called once per policy by
    /// [`RateLimitBuilder::build`](crate::RateLimitBuilder::build) when the
    /// layer has an observer, before it decides anything. A store reports
    /// what only it knows through it: its state
    /// ([`PolicyObserver::store_state`], on changes only), the requests it
    /// sent to an overflow bucket ([`PolicyObserver::overflow`]), and a
    /// reader of the keys it tracks ([`PolicyObserver::attach`]). Decisions,
    /// and decisions taken without the shared store
    /// ([`Decision::is_fallback`]), are reported by the layer.
    ///
    /// The default does nothing. When several layers bind the same policy
    /// name to one store, a store may keep the first observer only.
    fn observe(&self, policy: &Policy, observer: &Arc<dyn PolicyObserver>) {
        let _ = (policy, observer);
    }
}

impl<S: RateLimitStore + ?Sized> RateLimitStore for Arc<S> {
    type Future = S::Future;

    fn check(&self, checks: &[PolicyCheck<'_>], now: Duration) -> MaybeReady<Self::Future> {
        (**self).check(checks, now)
    }

    fn observe(&self, policy: &Policy, observer: &Arc<dyn PolicyObserver>) {
        (**self).observe(policy, observer);
    }
}

/// A decision that is either available now or still to come.
#[derive(Debug)]
pub enum MaybeReady<F> {
    /// Decided synchronously.
    Ready(Result<Decision, StoreError>),
    /// Decided by this future.
    Pending(F),
}

/// One policy to decide for one request: the policy and the key the request
/// is counted against under it.
#[derive(Clone, Copy, Debug)]
pub struct PolicyCheck<'a> {
    policy: &'a Policy,
    key: &'a Key,
}

impl<'a> PolicyCheck<'a> {
    /// Checks `key` against `policy`.
    pub fn new(policy: &'a Policy, key: &'a Key) -> Self {
        Self { policy, key }
    }

    /// The policy.
    pub fn policy(&self) -> &'a Policy {
        self.policy
    }

    /// The policy's name: part of the state's identity.
    pub fn name(&self) -> &'a str {
        self.policy.name()
    }

    /// A process-wide number for [`name`](PolicyCheck::name).
    pub fn policy_id(&self) -> PolicyId {
        self.policy.id()
    }

    /// The quota to enforce.
    pub fn quota(&self) -> Quota {
        self.policy.quota()
    }

    /// The key: the other part of the state's identity.
    pub fn key(&self) -> &'a Key {
        self.key
    }

    /// Appends `<policy name>:<key form>` to `out`, the identity of this
    /// check's state in a shared store (see the trait's contract).
    pub fn write_storage_key(&self, out: &mut String) {
        out.push_str(self.name());
        out.push(':');
        self.key.write_storage(out);
    }
}

/// What one policy said about one request. Durations are relative to the
/// decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// Whether this policy admits the request.
    pub allowed: bool,
    /// Requests this policy admits right now, after this one when the
    /// request was admitted.
    pub remaining: u32,
    /// Time until the client has the policy's whole burst back (the `t` of
    /// the `RateLimit` header, rounded up to seconds).
    pub reset_after: Duration,
    /// Time until this policy admits one request; zero when it admits now.
    pub retry_after: Duration,
}

/// The decision on one request: one [`PolicyOutcome`] per check.
///
/// Holds one outcome inline (most requests match one policy), so deciding
/// such a request does not allocate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    inline: [PolicyOutcome; 1],
    len: u8,
    fallback: bool,
    spill: Vec<PolicyOutcome>,
}

impl Decision {
    /// An empty decision.
    pub const fn new() -> Self {
        Self {
            inline: [PolicyOutcome {
                allowed: false,
                remaining: 0,
                reset_after: Duration::ZERO,
                retry_after: Duration::ZERO,
            }],
            len: 0,
            fallback: false,
            spill: Vec::new(),
        }
    }

    /// Marks the decision as taken without the shared store, while it was
    /// down (by a local fallback, or admitted under fail-open). The layer
    /// reports such decisions to
    /// [`PolicyObserver::fallback_decision`].
    #[must_use]
    pub fn with_fallback(mut self) -> Self {
        self.fallback = true;
        self
    }

    /// Whether the decision was taken without the shared store (see
    /// [`with_fallback`](Self::with_fallback)).
    #[inline]
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }

    /// A decision with one outcome.
    #[inline]
    pub fn single(outcome: PolicyOutcome) -> Self {
        let mut d = Self::new();
        d.inline[0] = outcome;
        d.len = 1;
        d
    }

    /// Appends the outcome of the next check.
    pub fn push(&mut self, outcome: PolicyOutcome) {
        if self.spill.is_empty() && usize::from(self.len) < self.inline.len() {
            self.inline[usize::from(self.len)] = outcome;
            self.len += 1;
        } else {
            if self.spill.is_empty() {
                self.spill
                    .extend_from_slice(&self.inline[..usize::from(self.len)]);
            }
            self.spill.push(outcome);
        }
    }

    /// The outcomes, in the order of the checks.
    #[inline]
    pub fn outcomes(&self) -> &[PolicyOutcome] {
        if self.spill.is_empty() {
            &self.inline[..usize::from(self.len)]
        } else {
            &self.spill
        }
    }

    /// Whether the request is admitted: every policy admits it.
    #[inline]
    pub fn is_allowed(&self) -> bool {
        self.outcomes().iter().all(|o| o.allowed)
    }

    /// How long until every rejecting policy admits a request (the
    /// `Retry-After` of a `429`); zero when admitted.
    pub fn retry_after(&self) -> Duration {
        self.outcomes()
            .iter()
            .map(|o| o.retry_after)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}

impl FromIterator<PolicyOutcome> for Decision {
    fn from_iter<I: IntoIterator<Item = PolicyOutcome>>(iter: I) -> Self {
        let mut d = Decision::new();
        for o in iter {
            d.push(o);
        }
        d
    }
}

/// A store could not decide: it is unreachable, too slow, or answered
/// nonsense.
///
/// The layer answers `503 Service Unavailable` with `Retry-After`
/// ([`retry_after`](StoreError::retry_after), default 1 second).
#[derive(Debug)]
pub struct StoreError {
    message: String,
    retry_after: Option<Duration>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl StoreError {
    /// An error with a message for logs (never shown to clients).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Suggests how long clients should wait before retrying.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The suggested wait, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rate limit store failed: {}", self.message)
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(allowed: bool, retry_secs: u64) -> PolicyOutcome {
        PolicyOutcome {
            allowed,
            remaining: 0,
            reset_after: Duration::ZERO,
            retry_after: Duration::from_secs(retry_secs),
        }
    }

    #[test]
    fn decision_spills_past_one() {
        let d: Decision = (0..5).map(|i| outcome(true, i)).collect();
        assert_eq!(d.outcomes().len(), 5);
        assert_eq!(d.outcomes()[3].retry_after, Duration::from_secs(3));
        assert_eq!(d.retry_after(), Duration::from_secs(4));
        let d: Decision = [outcome(true, 0), outcome(false, 7)].into_iter().collect();
        assert!(!d.is_allowed());
        assert_eq!(d.outcomes().len(), 2);
        assert!(Decision::new().is_allowed());
    }

    #[test]
    fn storage_key_format() {
        let p = Policy::new("auth", Quota::per_second(std::num::NonZeroU32::MIN));
        let k = Key::ip("203.0.113.9".parse().unwrap(), 64);
        let mut s = String::new();
        PolicyCheck::new(&p, &k).write_storage_key(&mut s);
        assert_eq!(s, "auth:ip:203.0.113.9");
    }

    #[test]
    fn store_error_carries_source_and_retry() {
        let e = StoreError::new("redis down")
            .with_source(std::io::Error::other("refused"))
            .with_retry_after(Duration::from_secs(2));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert!(e.to_string().contains("redis down"));
        assert!(e.source().is_some());
    }
}
