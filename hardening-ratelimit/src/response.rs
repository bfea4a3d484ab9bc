//! The headers and bodies the layer writes: `RateLimit-Policy`, `RateLimit`
//! (draft-ietf-httpapi-ratelimit-headers), `Retry-After`, legacy
//! `X-RateLimit-*`, and `application/problem+json` bodies.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardening_core::retry_after;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};

use crate::extract::KeyExtractor;
use crate::key::Key;
use crate::limiter::Matched;
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
    /// `"name";r=`: the constant start of this policy's `RateLimit` item.
    pub(crate) state_prefix: Box<[u8]>,
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
        let state_prefix = format!("\"{}\";r=", policy.name())
            .into_bytes()
            .into_boxed_slice();
        Self {
            policy,
            extractor,
            policy_header,
            state_prefix,
            problem_body,
        }
    }
}

/// Whole seconds, rounded up (`0` stays `0`; `Retry-After` uses
/// [`retry_after::seconds`], which never writes `0`).
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0))
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
        // One stack buffer, digits written by hand: one allocation (the
        // header value's) per request instead of a `String` and a copy.
        let mut buf = ValueBuf::new();
        for (n, ((i, _), o)) in matched.iter().zip(outcomes).enumerate() {
            if n > 0 {
                buf.push(b", ");
            }
            buf.push(&entries[*i].state_prefix);
            buf.push_u64(u64::from(o.remaining));
            buf.push(b";t=");
            buf.push_u64(ceil_secs(o.reset_after));
        }
        let state = HeaderValue::from_bytes(buf.as_slice())
            .unwrap_or_else(|_| HeaderValue::from_static(""));
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

/// Bytes of a header value: on the stack up to 128 bytes, on the heap
/// beyond (many policies with long names).
struct ValueBuf {
    inline: [u8; 128],
    len: usize,
    heap: Vec<u8>,
}

impl ValueBuf {
    fn new() -> Self {
        Self {
            inline: [0; 128],
            len: 0,
            heap: Vec::new(),
        }
    }

    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        if self.heap.is_empty() && self.len + bytes.len() <= self.inline.len() {
            self.inline[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            if self.heap.is_empty() {
                self.heap.extend_from_slice(&self.inline[..self.len]);
            }
            self.heap.extend_from_slice(bytes);
        }
    }

    /// Appends `n` in decimal.
    #[inline]
    fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[at..]);
    }

    fn as_slice(&self) -> &[u8] {
        if self.heap.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.heap
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
        retry_after::header_value(decision.retry_after()),
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
    let wait = err.retry_after().unwrap_or(Duration::from_secs(1));
    res.headers_mut()
        .insert(RETRY_AFTER, retry_after::header_value(wait));
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
        assert_eq!(ceil_secs(Duration::MAX), u64::MAX);
    }

    #[test]
    fn value_buf_writes_digits_and_spills() {
        let mut b = ValueBuf::new();
        for n in [0, 7, 10, 4_294_967_295, u64::MAX] {
            b.push_u64(n);
            b.push(b",");
        }
        assert_eq!(
            b.as_slice(),
            b"0,7,10,4294967295,18446744073709551615,".as_slice()
        );
        let long = [b'x'; 100];
        b.push(&long);
        assert_eq!(b.as_slice().len(), 139, "spilled past the inline 128");
        assert!(b.as_slice().ends_with(&long));
        assert!(b.as_slice().starts_with(b"0,7,"));
    }
}
