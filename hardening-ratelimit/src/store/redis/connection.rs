//! The connection to Redis and what the store does without it: the lazy
//! connection manager, running the script (loading it again on
//! `NOSCRIPT`), the failure policy and the short-circuit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, ErrorKind, RedisError, ServerErrorKind, Value};
use hardening_core::clock::duration_to_nanos;

use super::health::Health;
use super::script::{outcome_from_nanos, parse_reply, KeyList, SCRIPT};
use super::short_circuit::{Limited, LimitedKeys};
use crate::key::Key;
use crate::policy::Policy;
use crate::store::memory::InMemoryStore;
use crate::store::{Decision, MaybeReady, PolicyCheck, PolicyOutcome, RateLimitStore, StoreError};

/// What a [`RedisStore`] does when Redis is down, too slow, or answers an
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
    pub(super) client: Client,
    pub(super) connection_config: ConnectionManagerConfig,
    pub(super) connection: OnceLock<ConnectionManager>,
    pub(super) script_sha: String,
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
}

impl Inner {
    pub(super) fn connection(&self) -> Result<ConnectionManager, RedisError> {
        if let Some(conn) = self.connection.get() {
            return Ok(conn.clone());
        }
        let conn = ConnectionManager::new_lazy_with_config(
            self.client.clone(),
            self.connection_config.clone(),
        )?;
        // Two first requests may race; the loser's manager is dropped unused.
        Ok(self.connection.get_or_init(|| conn).clone())
    }

    /// Runs the decision script; loads it when Redis does not know it.
    pub(super) async fn eval(&self, cmd: &Cmd) -> Result<Value, RedisError> {
        let mut conn = self.connection()?;
        match cmd.query_async::<Value>(&mut conn).await {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let sha: String = ::redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(SCRIPT)
                    .query_async(&mut conn)
                    .await?;
                if sha != self.script_sha {
                    return Err(RedisError::from((
                        ErrorKind::Client,
                        "SCRIPT LOAD returned an unexpected SHA1",
                        sha,
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
        let now_nanos = duration_to_nanos(now);
        let n = keys.len();
        inner.round_trips.fetch_add(1, Ordering::Relaxed);
        let reply = match tokio::time::timeout(inner.timeout, inner.eval(&cmd)).await {
            Ok(Ok(value)) => parse_reply(value, n),
            // The message names the cause for the log; RedisError
            // displays no credentials.
            Ok(Err(err)) => Err(StoreError::new(format!("Redis failed: {err}")).with_source(err)),
            Err(_) => Err(StoreError::new(format!(
                "Redis did not answer within {:?}",
                inner.timeout
            ))),
        };
        match reply {
            Ok(decision) => {
                inner.health.succeeded();
                if let Some(limited) = inner.limited.as_ref() {
                    for (key, o) in keys.iter().zip(decision.outcomes()) {
                        if !o.allowed {
                            limited.insert(
                                key,
                                Limited {
                                    until: now_nanos
                                        .saturating_add(duration_to_nanos(o.retry_after)),
                                    reset_at: now_nanos
                                        .saturating_add(duration_to_nanos(o.reset_after)),
                                },
                                now_nanos,
                            );
                        }
                    }
                }
                Ok(decision)
            }
            Err(err) => {
                inner.failures.fetch_add(1, Ordering::Relaxed);
                inner.health.failed(&err, inner.failure_policy.name());
                let checks: Vec<PolicyCheck<'_>> =
                    owned.iter().map(|(p, k)| PolicyCheck::new(p, k)).collect();
                inner.fallback(&checks, now, Some(err))
            }
        }
    }
}
