//! The decision core of the layer: [`Limiter`], a plain type with no tower
//! in it.
//!
//! A request goes through three steps:
//!
//! 1. [`Limiter::plan`] looks at the request only (no state, no clock
//!    unless a key is missing): which policies match, under which key, and
//!    the missing-key, missing-peer and bypass rules. The result is a
//!    [`Plan`]: pass through, answer at once, or check these policies.
//! 2. [`Limiter::check`] reads the clock once and asks the store about
//!    every policy of the plan together (all or nothing).
//! 3. [`Limiter::finish`] turns the store's answer into a [`Verdict`]: call
//!    the inner service and add these headers, or answer this `429` / `503`
//!    (logging the rejection).
//!
//! [`RateLimit`](crate::RateLimit) (`service.rs`) only wires these into
//! tower: it runs step 2 synchronously when the store answers at once, or
//! moves the plan into its response future when the store is asynchronous.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardening_core::observe::{PolicyObserver, RateLimitOutcome};
use hardening_core::Clock;
use http::Response;
use ipnet::IpNet;

use crate::extract::{MissingKey, MissingPeer, RequestRef};
use crate::key::Key;
use crate::layer::KeyLogging;
use crate::response::{self, HeaderBlock, PolicyEntry};
use crate::small_list::SmallList;
use crate::store::{Decision, MaybeReady, PolicyCheck, RateLimitStore, StoreError};

/// The least time between two log events about requests without a peer
/// address (see [`MissingPeer`]).
pub const MISSING_PEER_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// A matched policy: its index in the limiter and the key it counts.
pub(crate) type Matched = (usize, Key);

/// The policies one request is checked against: `(index, key)` pairs in
/// policy order, never empty. One pair (the usual case) is held inline.
#[derive(Debug)]
pub(crate) struct Checks(SmallList<Matched>);

impl Checks {
    pub(crate) fn as_slice(&self) -> &[Matched] {
        self.0.as_slice()
    }
}

/// What [`Limiter::plan`] decided from the request alone.
#[derive(Debug)]
pub(crate) enum Plan {
    /// No policy applies (none matches, every key is bypassed or missing
    /// under [`MissingKey::Allow`], or the limiter is off): call the inner
    /// service, add nothing.
    Pass,
    /// Answer this without asking the store (a missing key under
    /// [`MissingKey::Reject`], a missing peer under [`MissingPeer::Reject`]).
    Respond(Box<Response<Bytes>>),
    /// Ask the store about these policies.
    Check(Checks),
}

/// What the layer does with a decided request.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Call the inner service, then add these headers (`None`: none).
    Admit(Option<Box<HeaderBlock>>),
    /// Answer this instead (`429`, or `503` when the store failed).
    Reject(Box<Response<Bytes>>),
}

/// The layer's configuration and state, shared by every clone of the layer
/// and of its services: policies with their precomputed header values, the
/// store, the clock, and the rules for missing keys, missing peers and
/// bypasses.
pub(crate) struct Limiter<St> {
    pub(crate) entries: Box<[PolicyEntry]>,
    pub(crate) store: St,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) enabled: bool,
    pub(crate) headers_on_allowed: bool,
    pub(crate) legacy_headers: bool,
    pub(crate) missing_key: MissingKey,
    pub(crate) missing_peer: MissingPeer,
    /// `now + 1` (nanoseconds of `clock`) of the last missing-peer event;
    /// 0 before the first.
    pub(crate) missing_peer_logged: AtomicU64,
    pub(crate) bypass_keys: Vec<Key>,
    pub(crate) bypass_nets: Vec<IpNet>,
    pub(crate) key_logging: KeyLogging,
    /// One per entry, bound by policy name; `None` without an observer.
    pub(crate) observers: Option<Box<[Arc<dyn PolicyObserver>]>>,
}

impl<St> Limiter<St> {
    /// Step 1: the policies `req` is checked against, or what to do without
    /// asking the store.
    #[inline]
    pub(crate) fn plan(&self, req: &RequestRef<'_>) -> Plan {
        if !self.enabled {
            return Plan::Pass;
        }
        let mut matched: SmallList<Matched> = SmallList::Empty;
        let path = req.uri().path();
        for (index, entry) in self.entries.iter().enumerate() {
            if !entry.policy.matches(req.method(), path) {
                continue;
            }
            let key = match entry.extractor.extract(req) {
                Some(key) => key,
                None => {
                    if entry.extractor.needs_peer_addr() && req.peer_addr().is_none() {
                        // The server records no peer address (cold path).
                        if let Some(response) = self.missing_peer(entry) {
                            return Plan::Respond(Box::new(response));
                        }
                    }
                    match self.missing_key {
                        MissingKey::SharedKey => Key::unknown(),
                        MissingKey::Allow => {
                            self.observe(index, RateLimitOutcome::Bypassed);
                            continue;
                        }
                        MissingKey::Reject => {
                            return Plan::Respond(Box::new(self.reject_missing(entry)));
                        }
                    }
                }
            };
            if self.bypassed(&key) {
                self.observe(index, RateLimitOutcome::Bypassed);
                continue;
            }
            matched.push((index, key));
        }
        if matched.is_empty() {
            Plan::Pass
        } else {
            Plan::Check(Checks(matched))
        }
    }

    /// Step 3: turns the store's answer into the headers of an admitted
    /// request or the response of a limited one (logging rejections and
    /// store failures).
    #[inline]
    pub(crate) fn finish(&self, checks: &Checks, result: Result<Decision, StoreError>) -> Verdict {
        let decision = match result {
            Ok(decision) => decision,
            Err(err) => {
                for (index, _) in checks.as_slice() {
                    self.observe(*index, RateLimitOutcome::StoreError);
                }
                return Verdict::Reject(Box::new(self.store_failed(&err)));
            }
        };
        let matched = checks.as_slice();
        if let Some(observers) = &self.observers {
            self.report(observers, matched, &decision);
        }
        if decision.is_allowed() {
            Verdict::Admit(self.headers_on_allowed.then(|| {
                Box::new(HeaderBlock::new(
                    &self.entries,
                    matched,
                    &decision,
                    self.legacy_headers,
                ))
            }))
        } else {
            self.log_rejection(matched, &decision);
            Verdict::Reject(Box::new(response::too_many_requests(
                &self.entries,
                matched,
                &decision,
                self.legacy_headers,
            )))
        }
    }

    /// Tells each matched policy's observer its outcome (and whether the
    /// store decided without its shared state).
    #[inline]
    fn report(
        &self,
        observers: &[Arc<dyn PolicyObserver>],
        matched: &[Matched],
        decision: &Decision,
    ) {
        let fallback = decision.is_fallback();
        for ((index, _), outcome) in matched.iter().zip(decision.outcomes()) {
            let observer = &observers[*index];
            observer.decision(if outcome.allowed {
                RateLimitOutcome::Admitted
            } else {
                RateLimitOutcome::Rejected
            });
            if fallback {
                observer.fallback_decision();
            }
        }
    }

    /// Tells policy `index`'s observer, if any.
    #[inline]
    fn observe(&self, index: usize, outcome: RateLimitOutcome) {
        if let Some(observers) = &self.observers {
            observers[index].decision(outcome);
        }
    }

    /// Whether `key` is exempt from limiting.
    #[inline]
    fn bypassed(&self, key: &Key) -> bool {
        if !self.bypass_keys.is_empty() && self.bypass_keys.contains(key) {
            return true;
        }
        if self.bypass_nets.is_empty() {
            return false;
        }
        match (key.as_ip(), key.ip_prefix_len()) {
            (Some(ip), Some(len)) => self
                .bypass_nets
                .iter()
                .any(|net| net.contains(&ip) && len >= net.prefix_len()),
            _ => false,
        }
    }

    #[cold]
    fn store_failed(&self, err: &StoreError) -> Response<Bytes> {
        tracing::debug!(target: "hardening_ratelimit", error = %err, "rate limit store failed; answering 503");
        response::store_unavailable(err)
    }

    #[cold]
    fn log_rejection(&self, matched: &[Matched], decision: &Decision) {
        let Some(((index, key), outcome)) = matched
            .iter()
            .zip(decision.outcomes())
            .find(|(_, o)| !o.allowed)
        else {
            return;
        };
        let policy = self.entries.get(*index).map_or("", |e| e.policy.name());
        let retry_after_secs = hardening_core::retry_after::seconds(outcome.retry_after);
        match self.key_logging {
            KeyLogging::Redacted => tracing::info!(
                target: "hardening_ratelimit",
                policy,
                key = %key.redacted(),
                retry_after_secs,
                "request rate limited"
            ),
            KeyLogging::Full => {
                let key = key.to_plain_string();
                tracing::info!(
                    target: "hardening_ratelimit",
                    policy,
                    key = %key,
                    retry_after_secs,
                    "request rate limited"
                )
            }
            KeyLogging::Omitted => tracing::info!(
                target: "hardening_ratelimit",
                policy,
                retry_after_secs,
                "request rate limited"
            ),
        }
    }

    /// A key extractor needing the peer address found none: logs (at most
    /// once per [`MISSING_PEER_LOG_INTERVAL`]) and, under
    /// [`MissingPeer::Reject`], returns the `500` to answer.
    #[cold]
    fn missing_peer(&self, entry: &PolicyEntry) -> Option<Response<Bytes>> {
        if self.claim_missing_peer_log() {
            match self.missing_peer {
                MissingPeer::Warn => tracing::warn!(
                    target: "hardening_ratelimit",
                    policy = entry.policy.name(),
                    "request without a peer address: the server does not record it \
                     (axum: into_make_service_with_connect_info::<SocketAddr>() and the `axum` \
                     feature; hyper: insert hardening_core::PeerAddr), so every client shares \
                     one rate-limit bucket; set .on_missing_peer(MissingPeer::Reject) to fail instead"
                ),
                MissingPeer::Reject => tracing::error!(
                    target: "hardening_ratelimit",
                    policy = entry.policy.name(),
                    "request without a peer address rejected with 500: the server does not \
                     record it (axum: into_make_service_with_connect_info::<SocketAddr>() and the \
                     `axum` feature; hyper: insert hardening_core::PeerAddr)"
                ),
            }
        }
        match self.missing_peer {
            MissingPeer::Warn => None,
            MissingPeer::Reject => Some(response::missing_peer()),
        }
    }

    /// Whether this caller logs the missing-peer event now: the first one,
    /// then one per interval of the limiter's clock.
    fn claim_missing_peer_log(&self) -> bool {
        let now = self.clock.now_nanos().saturating_add(1);
        let interval = hardening_core::clock::duration_to_nanos(MISSING_PEER_LOG_INTERVAL);
        let last = self.missing_peer_logged.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < interval {
            return false;
        }
        self.missing_peer_logged
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    #[cold]
    fn reject_missing(&self, entry: &PolicyEntry) -> Response<Bytes> {
        tracing::info!(
            target: "hardening_ratelimit",
            policy = entry.policy.name(),
            key = "missing",
            "request without a rate-limit key rejected"
        );
        response::missing_key(entry, self.legacy_headers)
    }
}

impl<St: RateLimitStore> Limiter<St> {
    /// Step 2: reads the clock once and asks the store about every policy
    /// of `checks` in one all-or-nothing call.
    #[inline]
    pub(crate) fn check(&self, checks: &Checks) -> MaybeReady<St::Future> {
        let now = self.clock.now();
        match checks.as_slice() {
            [(index, key)] => {
                let check = PolicyCheck::new(&self.entries[*index].policy, key);
                self.store.check(std::slice::from_ref(&check), now)
            }
            many => {
                let checks: Vec<PolicyCheck<'_>> = many
                    .iter()
                    .map(|(index, key)| PolicyCheck::new(&self.entries[*index].policy, key))
                    .collect();
                self.store.check(&checks, now)
            }
        }
    }

    /// Steps 1 to 3 for a store that answers at once (the in-memory one);
    /// `None` when the store's answer is still pending (then the caller
    /// keeps the plan and calls [`finish`](Self::finish) with it).
    #[cfg(test)]
    pub(crate) fn decide_now(&self, req: &RequestRef<'_>) -> Option<Result<Verdict, Plan>> {
        match self.plan(req) {
            Plan::Check(checks) => match self.check(&checks) {
                MaybeReady::Ready(result) => Some(Ok(self.finish(&checks, result))),
                MaybeReady::Pending(_) => None,
            },
            other => Some(Err(other)),
        }
    }
}

#[cfg(test)]
mod tests;
