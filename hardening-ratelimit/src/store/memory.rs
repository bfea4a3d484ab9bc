//! The in-process store: GCRA state in a [`DashMap`], bounded.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use hardening_core::clock::duration_to_nanos;
use hardening_core::observe::{PolicyObserver, RateLimitStats};

use super::{Decision, MaybeReady, PolicyCheck, PolicyOutcome, RateLimitStore, StoreError};
use crate::gcra::{Gcra, GcraStep};
use crate::key::Key;
use crate::policy::{Policy, PolicyId};
use crate::ConfigError;

/// How many client keys an [`InMemoryStore::new`] tracks at most, per
/// policy.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Rate-limit state in this process's memory: one `u64` per
/// `(policy, key)` in a sharded concurrent map, updated lock-free with
/// compare-and-swap.
///
/// # Bounded memory
///
/// - **Recovered keys are dropped.** A key whose state has fully recovered
///   is indistinguishable from a new one, so forgetting it loses nothing.
///   The store sweeps them out on the request path, amortised: every
///   `max_keys / 8` new keys (at least 64), the request that inserts a new key
///   sweeps the whole map once (`O(tracked keys)`, other requests keep
///   running; only one sweep runs at a time). You may also call
///   [`sweep`](InMemoryStore::sweep) from a background task.
/// - **Hard cap, per policy.** At most [`max_keys`](InMemoryStore::max_keys)
///   client keys are tracked *for each policy* ([`DEFAULT_MAX_KEYS`] by
///   default). When a policy's share is full and a request arrives from a
///   client it does not track under that policy, the request is counted
///   under that policy's one shared [`Key::overflow`] bucket (with the
///   policy's quota) until sweeps free room. Clients already tracked are
///   unaffected, memory stays bounded, and a flood of millions of distinct
///   keys only ever throttles itself (and other newcomers *of the same
///   policy* during the flood) together. The overflow buckets (one per
///   policy) are not counted in the cap.
///   [`overflowed`](InMemoryStore::overflowed) and
///   [`overflowed_for`](InMemoryStore::overflowed_for) count these
///   requests, for alerting.
/// - **Policies are isolated.** Each policy has its own cap, its own count
///   of tracked keys and its own overflow bucket, so a flood of distinct
///   clients under one policy (say `auth`, the one attackers hit first)
///   never sends a new client of another policy (`llm`) to an overflow
///   bucket, and never changes another policy's decisions.
///
/// Each tracked key costs about 86 bytes of resident memory, table slack
/// included (measured with 1 000 000 IP keys by the `ratelimit` benchmark,
/// the same as `governor`'s keyed store), so the default cap bounds the
/// store at roughly 9 MB per policy that keys clients (27 MB for the three
/// [`Policy::defaults`]).
///
/// # Concurrency
///
/// A request matching one policy costs one shard read lock and one
/// compare-and-swap. A request matching several policies reads every state,
/// decides, then commits each with compare-and-swap; if another request
/// changed one of the states in between, the commits already made are
/// undone and the decision is retried, so a rejected request never
/// consumes quota.
///
/// # Clone
///
/// Not `Clone`: share it with an `Arc` (the layer does).
pub struct InMemoryStore {
    /// IPv4 keys, IPv6 groups of `/64` or shorter, and the shared keys:
    /// 16 bytes of key per state.
    compact: DashMap<CompactKey, AtomicU64, KeyHasher>,
    /// Every other key (text keys, IPv6 groups longer than `/64`).
    map: DashMap<GeneralKey, AtomicU64, KeyHasher>,
    max_keys: usize,
    sweep_every: usize,
    /// Per policy: tracked keys and overflowed requests. Read only when a
    /// key is absent (a new client), never on the path of a tracked one.
    policies: DashMap<PolicyId, Arc<PolicyCounters>>,
    new_keys_since_sweep: AtomicUsize,
    sweeping: AtomicBool,
}

/// The hash of the state maps: foldhash (a folded multiply per word), with
/// a random seed per store. SipHash, std's default, was the largest single
/// cost of a decision (about a fifth of the layer's instructions on a hot
/// key); foldhash's random seed still keeps clients from predicting which
/// keys collide, and each policy's cap bounds a map's size whatever they
/// send.
type KeyHasher = foldhash::quality::RandomState;

/// What the store counts for one policy.
#[derive(Default)]
struct PolicyCounters {
    tracked: AtomicUsize,
    overflowed: AtomicU64,
    /// Told about overflow use (the first observer bound to the policy).
    observer: OnceLock<Arc<dyn PolicyObserver>>,
}

/// Reads a policy's tracked keys when metrics are collected.
struct TrackedKeys(Arc<PolicyCounters>);

impl RateLimitStats for TrackedKeys {
    fn tracked_keys(&self) -> u64 {
        self.0.tracked.load(Ordering::Relaxed) as u64
    }
}

/// A `(policy, key)` in 16 bytes, exact (no hashing of the identity):
/// `addr` holds an IPv4 address or the upper 64 bits of an IPv6 group;
/// `tag` holds the policy id (upper 32 bits), the kind and the prefix
/// length. Most keys are client addresses, so most states cost 24 bytes
/// of map entry instead of 40.
#[derive(Clone, Copy, PartialEq, Eq)]
struct CompactKey {
    addr: u64,
    tag: u64,
}

const KIND_V4: u64 = 1;
const KIND_V6: u64 = 2;
const KIND_GLOBAL: u64 = 3;
const KIND_UNKNOWN: u64 = 4;
const KIND_OVERFLOW: u64 = 5;

impl CompactKey {
    fn new(policy: PolicyId, kind: u64, prefix: u8, addr: u64) -> Self {
        Self {
            addr,
            tag: (u64::from(policy.get()) << 32) | (kind << 8) | u64::from(prefix),
        }
    }

    /// The compact form of `key`, when it has one.
    #[inline]
    fn of(policy: PolicyId, key: &Key) -> Option<Self> {
        match (key.as_ip(), key.ip_prefix_len()) {
            (Some(IpAddr::V4(v4)), _) => Some(Self::new(policy, KIND_V4, 32, u32::from(v4).into())),
            (Some(IpAddr::V6(v6)), Some(prefix)) if prefix <= 64 => Some(Self::new(
                policy,
                KIND_V6,
                prefix,
                (u128::from(v6) >> 64) as u64,
            )),
            (Some(_), _) => None,
            (None, _) => {
                let kind = if *key == Key::global() {
                    KIND_GLOBAL
                } else if *key == Key::unknown() {
                    KIND_UNKNOWN
                } else if *key == Key::overflow() {
                    KIND_OVERFLOW
                } else {
                    return None;
                };
                Some(Self::new(policy, kind, 0, 0))
            }
        }
    }

    fn policy(&self) -> PolicyId {
        PolicyId::from_raw((self.tag >> 32) as u32)
    }

    fn is_overflow(&self) -> bool {
        (self.tag >> 8) & 0xff == KIND_OVERFLOW
    }
}

impl Hash for CompactKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128((u128::from(self.addr) << 64) | u128::from(self.tag));
    }
}

#[derive(Clone, PartialEq, Eq)]
struct GeneralKey {
    policy: PolicyId,
    key: Key,
}

impl Hash for GeneralKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash_with(self.policy.get(), state);
    }
}

/// A `(policy, key)` as the store looks it up: compact when it can be.
#[derive(Clone, PartialEq, Eq)]
enum MapKey {
    Compact(CompactKey),
    General(GeneralKey),
}

impl MapKey {
    #[inline]
    fn new(policy: PolicyId, key: &Key) -> Self {
        match CompactKey::of(policy, key) {
            Some(c) => MapKey::Compact(c),
            None => MapKey::General(GeneralKey {
                policy,
                key: key.clone(),
            }),
        }
    }

    fn policy(&self) -> PolicyId {
        match self {
            MapKey::Compact(c) => c.policy(),
            MapKey::General(g) => g.policy,
        }
    }

    fn is_overflow(&self) -> bool {
        match self {
            MapKey::Compact(c) => c.is_overflow(),
            MapKey::General(_) => false,
        }
    }
}

enum Insert {
    Inserted,
    Exists,
    Full,
}

impl Default for InMemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryStore")
            .field("tracked_keys", &self.tracked_keys())
            .field("max_keys", &self.max_keys)
            .field("overflowed", &self.overflowed())
            .finish()
    }
}

impl InMemoryStore {
    /// A store tracking up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn new() -> Self {
        Self::build(DEFAULT_MAX_KEYS)
    }

    /// A store tracking up to `max_keys` client keys.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `max_keys` is zero.
    pub fn with_max_keys(max_keys: usize) -> Result<Self, ConfigError> {
        if max_keys == 0 {
            return Err(ConfigError::new(
                "InMemoryStore",
                "with_max_keys",
                max_keys,
                "at least one tracked key",
            ));
        }
        Ok(Self::build(max_keys))
    }

    fn build(max_keys: usize) -> Self {
        Self {
            compact: DashMap::with_hasher(KeyHasher::default()),
            map: DashMap::with_hasher(KeyHasher::default()),
            max_keys,
            sweep_every: (max_keys / 8).max(64),
            policies: DashMap::new(),
            new_keys_since_sweep: AtomicUsize::new(0),
            sweeping: AtomicBool::new(false),
        }
    }

    /// The cap on tracked client keys of each policy.
    pub fn max_keys(&self) -> usize {
        self.max_keys
    }

    /// Client keys currently tracked, all policies together (overflow
    /// buckets excluded); never more than
    /// [`max_keys`](InMemoryStore::max_keys) per policy.
    pub fn tracked_keys(&self) -> usize {
        self.policies
            .iter()
            .map(|c| c.tracked.load(Ordering::Relaxed))
            .sum()
    }

    /// Client keys currently tracked under `policy` (its overflow bucket
    /// excluded); never more than [`max_keys`](InMemoryStore::max_keys).
    pub fn tracked_keys_for(&self, policy: &Policy) -> usize {
        self.policies
            .get(&policy.id())
            .map_or(0, |c| c.tracked.load(Ordering::Relaxed))
    }

    /// Requests counted under an overflow bucket because their policy's
    /// share of the store was full, all policies together.
    pub fn overflowed(&self) -> u64 {
        self.policies
            .iter()
            .map(|c| c.overflowed.load(Ordering::Relaxed))
            .sum()
    }

    /// Requests counted under `policy`'s overflow bucket because its share
    /// of the store was full.
    pub fn overflowed_for(&self, policy: &Policy) -> u64 {
        self.policies
            .get(&policy.id())
            .map_or(0, |c| c.overflowed.load(Ordering::Relaxed))
    }

    /// The counters of `policy`, created on its first new key. Cloned out of
    /// the map so no lock of it is held while the state map is locked.
    fn counters(&self, policy: PolicyId) -> Arc<PolicyCounters> {
        if let Some(c) = self.policies.get(&policy) {
            return c.clone();
        }
        self.policies.entry(policy).or_default().clone()
    }

    /// Drops every state that has fully recovered at `now` (a reading of the
    /// layer's clock) and returns how many client keys were dropped.
    pub fn sweep(&self, now: Duration) -> usize {
        let now = duration_to_nanos(now);
        // (policy, keys removed), applied after the map is unlocked.
        let mut removed: Vec<(PolicyId, usize)> = Vec::new();
        let mut count = |policy: PolicyId| match removed.iter_mut().find(|(p, _)| *p == policy) {
            Some((_, n)) => *n += 1,
            None => removed.push((policy, 1)),
        };
        self.compact.retain(|k, tat| {
            let keep = !Gcra::is_recovered(tat.load(Ordering::Acquire), now);
            if !keep && !k.is_overflow() {
                count(k.policy());
            }
            keep
        });
        self.map.retain(|k, tat| {
            let keep = !Gcra::is_recovered(tat.load(Ordering::Acquire), now);
            if !keep {
                count(k.policy);
            }
            keep
        });
        let mut total = 0;
        for (policy, n) in removed {
            self.counters(policy)
                .tracked
                .fetch_sub(n, Ordering::Relaxed);
            total += n;
        }
        total
    }

    fn maybe_sweep(&self, now: u64) {
        let n = self.new_keys_since_sweep.fetch_add(1, Ordering::Relaxed) + 1;
        if n < self.sweep_every || self.sweeping.swap(true, Ordering::Acquire) {
            return;
        }
        self.new_keys_since_sweep.store(0, Ordering::Relaxed);
        self.sweep(Duration::from_nanos(now));
        self.sweeping.store(false, Ordering::Release);
    }

    /// Inserts a state for a key that was absent.
    fn insert(&self, key: &MapKey, tat: u64, now: u64) -> Insert {
        self.maybe_sweep(now);
        let overflow = key.is_overflow();
        let counters = self.counters(key.policy());
        if !overflow && counters.tracked.fetch_add(1, Ordering::AcqRel) >= self.max_keys {
            counters.tracked.fetch_sub(1, Ordering::AcqRel);
            return Insert::Full;
        }
        let inserted = match key {
            MapKey::Compact(c) => match self.compact.entry(*c) {
                dashmap::Entry::Occupied(_) => false,
                dashmap::Entry::Vacant(slot) => {
                    slot.insert(AtomicU64::new(tat));
                    true
                }
            },
            MapKey::General(g) => match self.map.entry(g.clone()) {
                dashmap::Entry::Occupied(_) => false,
                dashmap::Entry::Vacant(slot) => {
                    slot.insert(AtomicU64::new(tat));
                    true
                }
            },
        };
        if inserted {
            Insert::Inserted
        } else {
            if !overflow {
                counters.tracked.fetch_sub(1, Ordering::AcqRel);
            }
            Insert::Exists
        }
    }

    /// Runs `f` on the state of `key` under its shard's read lock; `None`
    /// when the key is not tracked.
    #[inline]
    fn with_cell<R>(&self, key: &MapKey, f: impl FnOnce(&AtomicU64) -> R) -> Option<R> {
        match key {
            MapKey::Compact(c) => self.compact.get(c).map(|cell| f(&cell)),
            MapKey::General(g) => self.map.get(g).map(|cell| f(&cell)),
        }
    }

    /// States in the maps, overflow buckets included.
    #[cfg(test)]
    fn states(&self) -> usize {
        self.compact.len() + self.map.len()
    }

    /// Moves `key` to its policy's overflow bucket (a cold path: the
    /// policy's share of the store is full and the key is new).
    fn overflow_key(&self, key: &mut MapKey) {
        let policy = key.policy();
        let counters = self.counters(policy);
        counters.overflowed.fetch_add(1, Ordering::Relaxed);
        if let Some(observer) = counters.observer.get() {
            observer.overflow();
        }
        *key = MapKey::Compact(CompactKey::new(policy, KIND_OVERFLOW, 0, 0));
    }

    /// Whether `policy` tracks as many keys as it may.
    fn is_full(&self, policy: PolicyId) -> bool {
        self.policies
            .get(&policy)
            .is_some_and(|c| c.tracked.load(Ordering::Relaxed) >= self.max_keys)
    }

    fn check_one(&self, check: &PolicyCheck<'_>, now: u64) -> PolicyOutcome {
        let gcra = check.policy().gcra();
        let mut key = MapKey::new(check.policy_id(), check.key());
        loop {
            let decided = self.with_cell(&key, |cell| {
                let mut tat = cell.load(Ordering::Acquire);
                loop {
                    let step = gcra.decide(tat, now);
                    if !step.allowed {
                        return step;
                    }
                    match cell.compare_exchange_weak(
                        tat,
                        step.tat,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return step,
                        Err(current) => tat = current,
                    }
                }
            });
            if let Some(step) = decided {
                return outcome(step);
            }
            let step = gcra.decide(0, now);
            match self.insert(&key, step.tat, now) {
                Insert::Inserted => return outcome(step),
                Insert::Exists => continue,
                Insert::Full => self.overflow_key(&mut key),
            }
        }
    }

    fn check_many(&self, checks: &[PolicyCheck<'_>], now: u64) -> Decision {
        struct Slot<'g> {
            key: MapKey,
            gcra: &'g Gcra,
            observed: u64,
            present: bool,
            duplicate: bool,
        }
        let mut slots: Vec<Slot<'_>> = checks
            .iter()
            .map(|c| Slot {
                key: MapKey::new(c.policy_id(), c.key()),
                gcra: c.policy().gcra(),
                observed: 0,
                present: false,
                duplicate: false,
            })
            .collect();
        for i in 1..slots.len() {
            slots[i].duplicate = slots[..i].iter().any(|s| s.key == slots[i].key);
        }
        loop {
            // Read every state.
            for slot in slots.iter_mut() {
                match self.with_cell(&slot.key, |cell| cell.load(Ordering::Acquire)) {
                    Some(tat) => {
                        slot.observed = tat;
                        slot.present = true;
                    }
                    None => {
                        if !slot.key.is_overflow() && self.is_full(slot.key.policy()) {
                            self.overflow_key(&mut slot.key);
                            // re-read under the overflow key
                            match self.with_cell(&slot.key, |cell| cell.load(Ordering::Acquire)) {
                                Some(tat) => {
                                    slot.observed = tat;
                                    slot.present = true;
                                }
                                None => {
                                    slot.observed = 0;
                                    slot.present = false;
                                }
                            }
                        } else {
                            slot.observed = 0;
                            slot.present = false;
                        }
                    }
                }
            }
            // Decide.
            let steps: Vec<GcraStep> = slots
                .iter()
                .map(|s| s.gcra.decide(s.observed, now))
                .collect();
            if steps.iter().any(|s| !s.allowed) {
                return slots
                    .iter()
                    .map(|s| outcome(s.gcra.peek(s.observed, now)))
                    .collect();
            }
            // Commit, undoing on conflict.
            let mut committed = 0;
            let mut conflict = false;
            for (slot, step) in slots.iter().zip(&steps) {
                if slot.duplicate {
                    committed += 1;
                    continue;
                }
                let ok = if slot.present {
                    self.with_cell(&slot.key, |cell| {
                        cell.compare_exchange(
                            slot.observed,
                            step.tat,
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                    })
                    .unwrap_or(false)
                } else {
                    matches!(self.insert(&slot.key, step.tat, now), Insert::Inserted)
                };
                if !ok {
                    conflict = true;
                    break;
                }
                committed += 1;
            }
            if !conflict {
                return steps.into_iter().map(outcome).collect();
            }
            for (slot, step) in slots.iter().zip(&steps).take(committed) {
                if slot.duplicate {
                    continue;
                }
                self.with_cell(&slot.key, |cell| {
                    let back = if slot.present { slot.observed } else { 0 };
                    if cell
                        .compare_exchange(step.tat, back, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        // Someone consumed after us: refund our one unit.
                        let period = slot.gcra.period();
                        let _ = cell.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                            Some(t.saturating_sub(period))
                        });
                    }
                });
            }
        }
    }
}

fn outcome(step: GcraStep) -> PolicyOutcome {
    PolicyOutcome {
        allowed: step.allowed,
        remaining: step.remaining,
        reset_after: Duration::from_nanos(step.reset_after),
        retry_after: Duration::from_nanos(step.retry_after),
    }
}

impl RateLimitStore for InMemoryStore {
    type Future = std::future::Ready<Result<Decision, StoreError>>;

    #[inline]
    fn check(&self, checks: &[PolicyCheck<'_>], now: Duration) -> MaybeReady<Self::Future> {
        let now = duration_to_nanos(now);
        let decision = match checks {
            [one] => Decision::single(self.check_one(one, now)),
            many => self.check_many(many, now),
        };
        MaybeReady::Ready(Ok(decision))
    }

    /// Reports `policy`'s overflow-bucket use to `observer` and attaches a
    /// reader of its tracked keys (the first observer bound to a policy
    /// name wins; the request path of a tracked key never reads it).
    fn observe(&self, policy: &Policy, observer: &Arc<dyn PolicyObserver>) {
        let counters = self.counters(policy.id());
        if counters.observer.set(Arc::clone(observer)).is_ok() {
            observer.attach(Arc::new(TrackedKeys(counters)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::quota::Quota;
    use std::num::NonZeroU32;
    use std::sync::Arc;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn decide(store: &InMemoryStore, checks: &[PolicyCheck<'_>], now: Duration) -> Decision {
        match store.check(checks, now) {
            MaybeReady::Ready(d) => d.unwrap(),
            MaybeReady::Pending(_) => panic!("in-memory store is synchronous"),
        }
    }

    const T0: Duration = Duration::from_secs(1000);

    #[test]
    fn quota_and_recovery() {
        let store = InMemoryStore::new();
        let p = Policy::new("mem-quota", Quota::per_minute(nz(5)));
        let k = Key::user("u");
        let c = [PolicyCheck::new(&p, &k)];
        for remaining in (0..5).rev() {
            let d = decide(&store, &c, T0);
            assert!(d.is_allowed());
            assert_eq!(d.outcomes()[0].remaining, remaining);
        }
        let d = decide(&store, &c, T0);
        assert!(!d.is_allowed());
        assert_eq!(d.retry_after(), Duration::from_secs(12));
        assert_eq!(d.outcomes()[0].reset_after, Duration::from_secs(60));
        assert!(decide(&store, &c, T0 + Duration::from_secs(12)).is_allowed());
        assert_eq!(store.tracked_keys(), 1);
        assert_eq!(store.sweep(T0 + Duration::from_secs(71)), 0);
        assert_eq!(store.sweep(T0 + Duration::from_secs(72)), 1);
        assert_eq!(store.tracked_keys(), 0);
    }

    #[test]
    fn several_policies_all_or_nothing() {
        let store = InMemoryStore::new();
        let tight = Policy::new("mem-tight", Quota::per_minute(nz(2)));
        let loose = Policy::new("mem-loose", Quota::per_minute(nz(10)));
        let ip = Key::ip("203.0.113.1".parse().unwrap(), 64);
        let user = Key::user("bob");
        let both = [
            PolicyCheck::new(&tight, &ip),
            PolicyCheck::new(&loose, &user),
        ];
        assert!(decide(&store, &both, T0).is_allowed());
        assert!(decide(&store, &both, T0).is_allowed());
        for _ in 0..5 {
            let d = decide(&store, &both, T0);
            assert!(!d.is_allowed());
            assert!(!d.outcomes()[0].allowed);
            assert!(d.outcomes()[1].allowed, "loose alone would admit");
            assert_eq!(d.outcomes()[1].remaining, 8, "and was not charged");
        }
        let loose_only = [PolicyCheck::new(&loose, &user)];
        assert_eq!(decide(&store, &loose_only, T0).outcomes()[0].remaining, 7);
    }

    #[test]
    fn cap_sends_newcomers_to_overflow() {
        let store = InMemoryStore::with_max_keys(3).unwrap();
        let p = Policy::new("mem-cap", Quota::per_minute(nz(1)));
        let keys: Vec<Key> = (0..5).map(|i| Key::custom(i.to_string())).collect();
        for k in &keys[..3] {
            assert!(decide(&store, &[PolicyCheck::new(&p, k)], T0).is_allowed());
        }
        assert_eq!(store.tracked_keys(), 3);
        // two newcomers share one overflow bucket of 1/min
        assert!(decide(&store, &[PolicyCheck::new(&p, &keys[3])], T0).is_allowed());
        assert!(!decide(&store, &[PolicyCheck::new(&p, &keys[4])], T0).is_allowed());
        assert_eq!(store.tracked_keys(), 3);
        assert_eq!(store.overflowed(), 2);
        // tracked clients are unaffected
        assert!(!decide(&store, &[PolicyCheck::new(&p, &keys[0])], T0).is_allowed());
        // after recovery a sweep makes room
        let later = T0 + Duration::from_secs(60);
        assert_eq!(store.sweep(later), 3);
        assert!(decide(&store, &[PolicyCheck::new(&p, &keys[4])], later).is_allowed());
        assert!(InMemoryStore::with_max_keys(0).is_err());
    }

    #[test]
    fn a_million_distinct_keys_stay_under_the_cap() {
        let max = 10_000;
        let store = InMemoryStore::with_max_keys(max).unwrap();
        let p = Policy::new("mem-flood", Quota::per_minute(nz(10)));
        let mut now = T0;
        let mut peak = 0;
        for i in 0u32..1_000_000 {
            // 1 µs apart: each key recovers after 6 s
            now += Duration::from_micros(1);
            let key = Key::ip(std::net::IpAddr::V4(i.into()), 64);
            let _ = decide(&store, &[PolicyCheck::new(&p, &key)], now);
            peak = peak.max(store.tracked_keys_for(&p));
        }
        assert!(peak <= max, "peak {peak}");
        assert_eq!(
            store.states(),
            store.tracked_keys() + 1,
            "plus the overflow bucket"
        );
        // Frozen time: nothing recovers, still bounded.
        let frozen = InMemoryStore::with_max_keys(max).unwrap();
        for i in 0u32..200_000 {
            let key = Key::ip(std::net::IpAddr::V4(i.into()), 64);
            let _ = decide(&frozen, &[PolicyCheck::new(&p, &key)], T0);
        }
        assert_eq!(frozen.tracked_keys(), max);
        assert!(frozen.states() <= max + 1);
    }

    #[test]
    fn concurrent_multi_policy_never_over_admits() {
        let store = Arc::new(InMemoryStore::new());
        let a = Policy::new("mem-conc-a", Quota::per_minute(nz(50)));
        let b = Policy::new("mem-conc-b", Quota::per_minute(nz(1000)));
        let admitted = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..4 {
                let (store, a, b, admitted) = (&store, &a, &b, &admitted);
                s.spawn(move || {
                    let shared = Key::global();
                    let own = Key::custom(t.to_string());
                    for _ in 0..200 {
                        let checks = [PolicyCheck::new(a, &shared), PolicyCheck::new(b, &own)];
                        if decide(store, &checks, T0).is_allowed() {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.load(Ordering::Relaxed), 50);
        // b was charged only for admitted requests: 1000 - (its share)
        let total_b: u32 = (0..4)
            .map(|t| {
                let k = Key::custom(t.to_string());
                1000 - decide(&store, &[PolicyCheck::new(&b, &k)], T0).outcomes()[0].remaining - 1
            })
            .sum();
        assert_eq!(total_b, 50);
    }
}
