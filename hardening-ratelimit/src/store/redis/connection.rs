//! The connection to Redis and what the store does without it: the lazy
//! connection manager, running the script (loading it again on
//! `NOSCRIPT`), the failure policy and the short-circuit.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::redis::{Cmd, ErrorKind, RedisError, ServerErrorKind, Value};
use hardening_core::clock::duration_to_nanos;

use super::backend::{Backend, Connection};
use super::health::Health;
use super::script::{outcome_from_nanos, parse_reply, KeyList, SCRIPT};
use super::short_circuit::{Limited, LimitedKeys};
use crate::key::Key;
use crate::policy::Policy;
use crate::store::memory::InMemoryStore;
use crate::store::{Decision, MaybeReady, PolicyCheck, PolicyOutcome, RateLimitStore, StoreError};

/// What a [`RedisStore`](super::RedisStore) does when Redis is down, too slow, or answers an
/// error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Admit every request (availability over protection). Outcomes describe
    /// a client with no history: `remaining` is the burst minus one.
    FailOpen,
    /// Decide nothing: the store returns a [`StoreError`] and the layer
    /// answers `503 Service Unavailable` with `Retry-After`.
    FailClosed,
    /// Decide with an in-process [`InMemoryStore`] (the default): each
    /// replica enforces the quota on its own, so a fleet of `n` replicas
    /// admits up to `n` times the quota while Redis is away.
    #[default]
    Local,
}

impl FailurePolicy {
    pub(super) fn name(self) -> &'static str {
        match self {
            FailurePolicy::FailOpen => "fail-open",
            FailurePolicy::FailClosed => "fail-closed",
            FailurePolicy::Local => "local",
        }
    }
}

/// Everything clones of one store share.
pub(super) struct Inner {
    pub(super) backend: Backend,
    pub(super) script_sha: String,
    /// The SHA1 of the refund script (cross-slot decisions on a cluster).
    #[cfg(feature = "redis-cluster")]
    pub(super) refund_sha: String,
    pub(super) key_prefix: String,
    pub(super) timeout: Duration,
    pub(super) failure_policy: FailurePolicy,
    pub(super) local: Option<InMemoryStore>,
    pub(super) limited: Option<LimitedKeys>,
    pub(super) health: Health,
    pub(super) round_trips: AtomicU64,
    pub(super) failures: AtomicU64,
    pub(super) fallbacks: AtomicU64,
    pub(super) short_circuited: AtomicU64,
    /// The URL's password, masked wherever an error could repeat it.
    pub(super) password: Option<String>,
    /// Whether `maxmemory-policy` has been asked for (once, after the first
    /// decision Redis made).
    pub(super) eviction_checked: AtomicBool,
}

/// Why `maxmemory-policy` `policy` is a risk for limiter state, if it is.
pub(super) fn eviction_risk(policy: &str) -> Option<&'static str> {
    policy.starts_with("allkeys-").then_some(
        "Redis may evict live rate limit state under memory pressure (a limited client \
         gets its burst back early); limiter keys carry TTLs, so volatile-ttl or \
         volatile-lru (or noeviction) keep them",
    )
}

impl Inner {
    /// A [`StoreError`] for `err`, saying `what` failed. The password never
    /// appears in it: RedisError displays none today, and should a future
    /// version quote one, it is masked (and the error kept as text only).
    pub(super) fn redis_error(&self, what: &str, err: RedisError) -> StoreError {
        let text = err.to_string();
        match self.password.as_deref() {
            Some(password) if !password.is_empty() && text.contains(password) => {
                let masked = text.replace(password, "***");
                StoreError::new(format!("{what}: {masked}")).with_source(masked)
            }
            _ => StoreError::new(format!("{what}: {text}")).with_source(err),
        }
    }

    pub(super) fn connection(&self) -> Result<Connection, RedisError> {
        self.backend.connection()
    }

    /// Asks Redis for `maxmemory-policy` in the background and warns about
    /// an `allkeys-*` one. A refusal (ACL, managed Redis renaming `CONFIG`)
    /// is ignored: the check is advice, not a requirement.
    fn check_eviction_policy(self: &Arc<Self>) {
        if self.eviction_checked.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let inner = Arc::clone(self);
        runtime.spawn(async move {
            let ask = async {
                let mut conn = inner.connection()?;
                ::redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("maxmemory-policy")
                    .query_async::<Vec<String>>(&mut conn)
                    .await
            };
            let Ok(Ok(reply)) = tokio::time::timeout(inner.timeout * 10, ask).await else {
                return;
            };
            if let Some(policy) = reply.get(1) {
                if let Some(risk) = eviction_risk(policy) {
                    tracing::warn!(
                        target: "hardening_ratelimit",
                        maxmemory_policy = %policy,
                        "{risk}"
                    );
                }
            }
        });
    }

    /// Runs the decision script; loads it when Redis does not know it.
    pub(super) async fn eval(&self, cmd: &Cmd) -> Result<Value, RedisError> {
        self.eval_script(cmd, SCRIPT, &self.script_sha).await
    }

    /// Runs `cmd`, an `EVALSHA` of `script` (whose SHA1 is `sha`); loads
    /// the script when Redis does not know it (after a restart, a
    /// `SCRIPT FLUSH`, or on a cluster node that joined since: `SCRIPT LOAD`
    /// goes to every primary of a cluster).
    pub(super) async fn eval_script(
        &self,
        cmd: &Cmd,
        script: &str,
        sha: &str,
    ) -> Result<Value, RedisError> {
        let mut conn = self.connection()?;
        match cmd.query_async::<Value>(&mut conn).await {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let loaded: String = ::redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(script)
                    .query_async(&mut conn)
                    .await?;
                if loaded != sha {
                    return Err(RedisError::from((
                        ErrorKind::Client,
                        "SCRIPT LOAD returned an unexpected SHA1",
                        loaded,
                    )));
                }
                cmd.query_async::<Value>(&mut conn).await
            }
            other => other,
        }
    }

    /// A decision without Redis, per the failure policy.
    pub(super) fn fallback(
        &self,
        checks: &[PolicyCheck<'_>],
        now: Duration,
        error: Option<StoreError>,
    ) -> Result<Decision, StoreError> {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        match self.failure_policy {
            FailurePolicy::FailOpen => Ok(checks
                .iter()
                .map(|c| outcome_from_nanos(true, c.policy().gcra().decide(0, 0)))
                .collect()),
            FailurePolicy::FailClosed => Err(error.unwrap_or_else(|| {
                StoreError::new("Redis is unavailable (failed recently; retrying soon)")
            })),
            FailurePolicy::Local => match self.local.as_ref().map(|l| l.check(checks, now)) {
                Some(MaybeReady::Ready(decision)) => decision,
                // The in-memory store always answers at once.
                Some(MaybeReady::Pending(_)) | None => {
                    Err(StoreError::new("local fallback store unavailable"))
                }
            },
        }
    }

    /// A local rejection when every one of `keys` is known to be limited at
    /// `now`: then every outcome is known (no policy admits, so nothing
    /// remains) and the decision is the one Redis would make.
    pub(super) fn short_circuit(&self, keys: &KeyList, now: u64) -> Option<Decision> {
        let limited = self.limited.as_ref()?;
        let mut decision = Decision::new();
        for key in keys.iter() {
            let l = limited.get(key, now)?;
            decision.push(PolicyOutcome {
                allowed: false,
                remaining: 0,
                reset_after: Duration::from_nanos(l.reset_at.saturating_sub(now)),
                retry_after: Duration::from_nanos(l.until.saturating_sub(now)),
            });
        }
        Some(decision)
    }

    /// Asks Redis to decide (`cmd`, built by `script::decision_command`),
    /// remembers limited keys for the short-circuit, and falls back per the
    /// failure policy when Redis fails. `owned` holds what a fallback needs.
    pub(super) async fn decide_remote(
        self: Arc<Self>,
        cmd: Cmd,
        keys: KeyList,
        owned: Vec<(Policy, Key)>,
        now: Duration,
    ) -> Result<Decision, StoreError> {
        let inner = self;
        let n = keys.len();
        inner.round_trips.fetch_add(1, Ordering::Relaxed);
        let reply = match tokio::time::timeout(inner.timeout, inner.eval(&cmd)).await {
            Ok(Ok(value)) => parse_reply(value, n),
            // The message names the cause for the log, without credentials.
            Ok(Err(err)) => Err(inner.redis_error("Redis failed", err)),
            Err(_) => Err(StoreError::new(format!(
                "Redis did not answer within {:?}",
                inner.timeout
            ))),
        };
        match reply {
            Ok(decision) => {
                inner.remote_succeeded(&keys, &decision, now);
                Ok(decision)
            }
            Err(err) => inner.remote_failed(err, &owned, now),
        }
    }

    /// Bookkeeping after Redis decided: health, the eviction-policy check,
    /// and the short-circuit for every key Redis reported limited.
    pub(super) fn remote_succeeded(
        self: &Arc<Self>,
        keys: &KeyList,
        decision: &Decision,
        now: Duration,
    ) {
        let now_nanos = duration_to_nanos(now);
        self.health.succeeded();
        self.check_eviction_policy();
        if let Some(limited) = self.limited.as_ref() {
            for (key, o) in keys.iter().zip(decision.outcomes()) {
                if !o.allowed {
                    limited.insert(
                        key,
                        Limited {
                            until: now_nanos.saturating_add(duration_to_nanos(o.retry_after)),
                            reset_at: now_nanos.saturating_add(duration_to_nanos(o.reset_after)),
                        },
                        now_nanos,
                    );
                }
            }
        }
    }

    /// After Redis failed (`err`): counts it, marks Redis down, and decides
    /// per the failure policy (`owned`: the request's checks).
    pub(super) fn remote_failed(
        &self,
        err: StoreError,
        owned: &[(Policy, Key)],
        now: Duration,
    ) -> Result<Decision, StoreError> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.health.failed(&err, self.failure_policy.name());
        let checks: Vec<PolicyCheck<'_>> =
            owned.iter().map(|(p, k)| PolicyCheck::new(p, k)).collect();
        self.fallback(&checks, now, Some(err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allkeys_policies_are_a_risk() {
        for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
            assert!(eviction_risk(policy).is_some(), "{policy}");
        }
        for policy in [
            "noeviction",
            "volatile-ttl",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
        ] {
            assert!(eviction_risk(policy).is_none(), "{policy}");
        }
    }
}
