//! Requests whose policies key on different clients, on a Redis Cluster:
//! one script call per hash slot, sent together, and a refund for the
//! slots that admitted a request another slot rejected.

use std::sync::Arc;
use std::time::Duration;

use ::redis::Cmd;
use futures_util::future::join_all;

use super::connection::Inner;
use super::script::{parse_reply, refund_command, KeyList, REFUND_SCRIPT};
use crate::key::Key;
use crate::policy::Policy;
use crate::store::{Decision, PolicyOutcome, StoreError};

/// One slot's share of a request: the indices of its checks and the
/// `EVALSHA` deciding them.
pub(super) struct SlotGroup {
    pub(super) checks: Vec<usize>,
    pub(super) cmd: Cmd,
}

impl Inner {
    /// Decides a request spanning several slots. Each group is decided
    /// atomically on its own slot, all groups at once (the cluster client
    /// pipelines them per node). The request is admitted when every group
    /// admits it; when one rejects it (or fails), the groups that admitted
    /// it get their cost back (`gcra_refund.lua`) before the answer, so a
    /// rejected request consumes nothing, as on a standalone Redis.
    pub(super) async fn decide_groups(
        self: Arc<Self>,
        groups: Vec<SlotGroup>,
        keys: KeyList,
        owned: Vec<(Policy, Key)>,
        now: Duration,
    ) -> Result<Decision, StoreError> {
        let inner = self;
        let n = keys.len();
        let inner_ref = &inner;
        let calls = groups.iter().map(|g| async move {
            let value = inner_ref.eval(&g.cmd).await;
            (g, value)
        });
        let replies = match tokio::time::timeout(inner.timeout, join_all(calls)).await {
            Ok(replies) => replies,
            Err(_) => {
                // As on a standalone Redis, a call that timed out may still
                // have been decided (and have consumed): nothing says which.
                let err =
                    StoreError::new(format!("Redis did not answer within {:?}", inner.timeout));
                return inner.remote_failed(err, &owned, now);
            }
        };
        let mut outcomes = vec![PolicyOutcome::default(); n];
        let mut admitted_groups = Vec::new();
        let mut error = None;
        let mut admitted = true;
        for (group, value) in replies {
            let decision = match value {
                Ok(value) => parse_reply(value, group.checks.len()),
                Err(err) => Err(inner.redis_error("Redis failed", err)),
            };
            match decision {
                Ok(decision) => {
                    if decision.is_allowed() {
                        admitted_groups.push(group);
                    } else {
                        admitted = false;
                    }
                    for (&i, o) in group.checks.iter().zip(decision.outcomes()) {
                        outcomes[i] = *o;
                    }
                }
                Err(err) => {
                    error.get_or_insert(err);
                }
            }
        }
        if error.is_some() || !admitted {
            inner.refund(&admitted_groups, &keys, &owned).await;
            for group in &admitted_groups {
                for &i in &group.checks {
                    outcomes[i] = not_consumed(outcomes[i], owned[i].0.gcra());
                }
            }
        }
        if let Some(err) = error {
            return inner.remote_failed(err, &owned, now);
        }
        let decision: Decision = outcomes.into_iter().collect();
        inner.remote_succeeded(&keys, &decision, now);
        Ok(decision)
    }

    /// Gives one request's cost back on every key of `groups`.
    async fn refund(&self, groups: &[&SlotGroup], keys: &KeyList, owned: &[(Policy, Key)]) {
        if groups.is_empty() {
            return;
        }
        let all: Vec<&str> = keys.iter().collect();
        let calls = groups.iter().map(|g| {
            let cmd = refund_command(
                &self.refund_sha,
                g.checks.iter().map(|&i| all[i]),
                g.checks.iter().map(|&i| owned[i].0.gcra().period()),
            );
            async move {
                let _ = self
                    .eval_script(&cmd, REFUND_SCRIPT, &self.refund_sha)
                    .await;
            }
        });
        // Best effort: a refund that fails leaves one request's cost
        // consumed, the error of a non-atomic cross-slot request.
        let _ = tokio::time::timeout(self.timeout, join_all(calls)).await;
    }
}

/// The outcome a policy reports for a request it admitted but that was
/// rejected (and refunded): what it reports when a rejected request
/// consumes nothing (`gcra.lua`): it would admit, one more remains, and
/// the reset is one period earlier.
fn not_consumed(o: PolicyOutcome, gcra: &crate::gcra::Gcra) -> PolicyOutcome {
    PolicyOutcome {
        allowed: true,
        remaining: o.remaining.saturating_add(1).min(gcra.burst()),
        reset_after: o
            .reset_after
            .saturating_sub(Duration::from_nanos(gcra.period())),
        retry_after: Duration::ZERO,
    }
}
