//! The headers and bodies the layer writes: `RateLimit-Policy`, `RateLimit`
//! (draft-ietf-httpapi-ratelimit-headers), `Retry-After`, legacy
//! `X-RateLimit-*`, and `application/problem+json` bodies.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::extract::KeyExtractor;
use crate::key::Key;
use crate::policy::Policy;
use crate::store::{Decision, PolicyOutcome, StoreError};

/// `RateLimit-Policy`: the quota policies, e.g. `"auth";q=5;w=60`.
pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`: the current state, e.g. `"auth";r=4;t=60`.
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// Legacy `X-RateLimit-Limit`.
pub static X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// Legacy `X-RateLimit-Remaining`.
pub static X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// Legacy `X-RateLimit-Reset` (seconds from now).
pub static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

static PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

/// A policy with everything the layer precomputes for it.
pub(crate) struct PolicyEntry {
    pub(crate) policy: Policy,
    pub(crate) extractor: Arc<dyn KeyExtractor>,
    pub(crate) policy_header: HeaderValue,
    pub(crate) problem_body: Bytes,
}

impl PolicyEntry {
    pub(crate) fn new(policy: Policy, extractor: Arc<dyn KeyExtractor>) -> Self {
        let quota = policy.quota();
        let value = format!(
            "\"{}\";q={};w={}",
            policy.name(),
            quota.burst(),
            ceil_secs(quota.window())
        );
        // Names are validated to `A-Z a-z 0-9 _ - .`, so this is a valid
        // header value and needs no JSON escaping.
        let policy_header = HeaderValue::try_from(value)
            .unwrap_or_else(|_| HeaderValue::from_static("\"invalid\";q=1"));
        let problem_body = Bytes::from(format!(
            "{{\"type\":\"about:blank\",\"title\":\"Too Many Requests\",\"status\":429,\
             \"detail\":\"Rate limit `{0}` exceeded; retry after the number of seconds in the Retry-After header.\",\
             \"policy\":\"{0}\"}}",
            policy.name()
        ));
        Self {
            policy,
            extractor,
            policy_header,
            problem_body,
        }
    }
}

/// A matched policy: its index in the layer and the key it counts.
pub(crate) type Matched = (usize, Key);

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `Retry-After` seconds: rounded up, never 0.
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    ceil_secs(d).max(1)
}

/// The rate-limit headers of one decision, built before the inner service
/// runs so the response future holds plain values.
#[derive(Debug)]
pub(crate) struct HeaderBlock {
    policy: HeaderValue,
    state: HeaderValue,
    legacy: Option<Box<[HeaderValue; 3]>>,
}

impl HeaderBlock {
    pub(crate) fn new(
        entries: &[PolicyEntry],
        matched: &[Matched],
        decision: &Decision,
        legacy: bool,
    ) -> Self {
        let outcomes = decision.outcomes();
        let policy = match matched {
            [(i, _)] => entries[*i].policy_header.clone(),
            _ => {
                let mut s = String::new();
                for (n, (i, _)) in matched.iter().enumerate() {
                    if n > 0 {
                        s.push_str(", ");
                    }
                    s.push_str(entries[*i].policy_header.to_str().unwrap_or_default());
                }
                value(s)
            }
        };
        let mut s = String::with_capacity(24 * matched.len());
        for (n, ((i, _), o)) in matched.iter().zip(outcomes).enumerate() {
            if n > 0 {
                s.push_str(", ");
            }
            let _ = write!(
                s,
                "\"{}\";r={};t={}",
                entries[*i].policy.name(),
                o.remaining,
                ceil_secs(o.reset_after)
            );
        }
        let state = value(s);
        let legacy = legacy.then(|| {
            // The policy closest to limiting the client.
            let pick = matched
                .iter()
                .zip(outcomes)
                .min_by_key(|(_, o)| (o.remaining, std::cmp::Reverse(o.reset_after)));
            Box::new(match pick {
                Some(((i, _), o)) => [
                    HeaderValue::from(entries[*i].policy.quota().burst().get()),
                    HeaderValue::from(o.remaining),
                    HeaderValue::from(ceil_secs(o.reset_after)),
                ],
                None => [
                    HeaderValue::from_static("0"),
                    HeaderValue::from_static("0"),
                    HeaderValue::from_static("0"),
                ],
            })
        });
        Self {
            policy,
            state,
            legacy,
        }
    }

    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        headers.append(RATELIMIT_POLICY.clone(), self.policy);
        headers.append(RATELIMIT.clone(), self.state);
        if let Some(legacy) = self.legacy {
            let [limit, remaining, reset] = *legacy;
            headers.insert(X_RATELIMIT_LIMIT.clone(), limit);
            headers.insert(X_RATELIMIT_REMAINING.clone(), remaining);
            headers.insert(X_RATELIMIT_RESET.clone(), reset);
        }
    }
}

fn value(s: String) -> HeaderValue {
    // Built from validated names and digits only.
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `429 Too Many Requests` for a rejected decision.
pub(crate) fn too_many_requests(
    entries: &[PolicyEntry],
    matched: &[Matched],
    decision: &Decision,
    legacy: bool,
) -> Response<Bytes> {
    let rejecting = matched
        .iter()
        .zip(decision.outcomes())
        .find(|(_, o)| !o.allowed)
        .map(|((i, _), _)| *i)
        .unwrap_or(0);
    let body = entries
        .get(rejecting)
        .map(|e| e.problem_body.clone())
        .unwrap_or_default();
    let mut res = problem(StatusCode::TOO_MANY_REQUESTS, body);
    let headers = res.headers_mut();
    headers.insert(
        RETRY_AFTER,
        HeaderValue::from(retry_after_secs(decision.retry_after())),
    );
    HeaderBlock::new(entries, matched, decision, legacy).apply(headers);
    res
}

/// The `429` for a request without a key under [`MissingKey::Reject`](crate::MissingKey::Reject).
pub(crate) fn missing_key(entry: &PolicyEntry, legacy: bool) -> Response<Bytes> {
    let period = entry.policy.quota().period();
    let outcome = PolicyOutcome {
        allowed: false,
        remaining: 0,
        reset_after: period,
        retry_after: period,
    };
    let decision: Decision = std::iter::once(outcome).collect();
    too_many_requests(
        std::slice::from_ref(entry),
        &[(0, Key::unknown())],
        &decision,
        legacy,
    )
}

/// The `500` under [`MissingPeer::Reject`](crate::MissingPeer::Reject): the
/// server does not record peer addresses. Says nothing of the cause to the
/// client (it is logged).
pub(crate) fn missing_peer() -> Response<Bytes> {
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        Bytes::from_static(
            b"{\"type\":\"about:blank\",\"title\":\"Internal Server Error\",\"status\":500,\
              \"detail\":\"The rate limiter cannot identify clients.\"}",
        ),
    )
}

/// The `503 Service Unavailable` when the store cannot decide.
pub(crate) fn store_unavailable(err: &StoreError) -> Response<Bytes> {
    let body = Bytes::from_static(
        b"{\"type\":\"about:blank\",\"title\":\"Service Unavailable\",\"status\":503,\
          \"detail\":\"The rate limiter is temporarily unavailable.\"}",
    );
    let mut res = problem(StatusCode::SERVICE_UNAVAILABLE, body);
    let secs = retry_after_secs(err.retry_after().unwrap_or(Duration::from_secs(1)));
    res.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    res
}

fn problem(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut().insert(CONTENT_TYPE, PROBLEM_JSON.clone());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding() {
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(12)), 12);
        assert_eq!(ceil_secs(Duration::from_nanos(12_000_000_001)), 13);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_nanos(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }
}
