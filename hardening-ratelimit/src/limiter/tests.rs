//! Unit tests of the decision core, without tower: requests are views
//! ([`RequestRef`]), time is a [`FakeClock`], the store is a real
//! [`InMemoryStore`](crate::InMemoryStore) (or one that fails).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use hardening_core::{FakeClock, PeerAddr};
use http::{HeaderMap, Method, Request, StatusCode};

use super::{Limiter, Plan, Verdict};
use crate::extract::RequestRef;
use crate::response::HeaderBlock;
use crate::store::{Decision, MaybeReady, PolicyCheck, PolicyOutcome, RateLimitStore, StoreError};
use crate::{
    AuthenticatedUser, Header, Key, MissingKey, MissingPeer, PeerIp, Policy, Quota,
    RateLimitBuilder, RateLimitLayer, UserOrIp,
};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(nz(n))
}

fn request(method: Method, path: &str, peer: Option<&str>) -> Request<()> {
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .body(())
        .unwrap();
    if let Some(peer) = peer {
        r.extensions_mut()
            .insert(PeerAddr(peer.parse::<SocketAddr>().unwrap()));
    }
    r
}

fn get(path: &str, peer: &str) -> Request<()> {
    request(Method::GET, path, Some(peer))
}

fn layer<St: RateLimitStore>(builder: RateLimitBuilder<St>) -> RateLimitLayer<St> {
    builder.build().unwrap()
}

/// The `(policy name, key)` pairs a plan checks; `None` for other plans.
fn checked<St>(limiter: &Limiter<St>, req: &Request<()>) -> Option<Vec<(String, Key)>> {
    match limiter.plan(&RequestRef::from(req)) {
        Plan::Check(checks) => Some(
            checks
                .as_slice()
                .iter()
                .map(|(i, k)| (limiter.entries[*i].policy.name().to_owned(), k.clone()))
                .collect(),
        ),
        _ => None,
    }
}

fn is_pass<St>(limiter: &Limiter<St>, req: &Request<()>) -> bool {
    matches!(limiter.plan(&RequestRef::from(req)), Plan::Pass)
}

fn ip(s: &str) -> Key {
    Key::ip(s.parse().unwrap(), 64)
}

/// Runs the three steps; the verdict's status (`200` when admitted) and
/// headers (rate-limit headers of an admitted request, or the response's).
fn decide<St: RateLimitStore>(limiter: &Limiter<St>, req: &Request<()>) -> (StatusCode, HeaderMap) {
    match limiter.decide_now(&RequestRef::from(req)) {
        Some(Ok(Verdict::Admit(headers))) => {
            let mut map = HeaderMap::new();
            if let Some(block) = headers {
                HeaderBlock::apply(*block, &mut map);
            }
            (StatusCode::OK, map)
        }
        Some(Ok(Verdict::Reject(res))) => (res.status(), res.headers().clone()),
        Some(Err(Plan::Pass)) => (StatusCode::OK, HeaderMap::new()),
        Some(Err(Plan::Respond(res))) => (res.status(), res.headers().clone()),
        Some(Err(Plan::Check(_))) | None => panic!("the in-memory store answers at once"),
    }
}

fn h<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn plans_match_policies_by_path_and_method_in_order() {
    let l = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-all", per_minute(100)))
            .policy(
                Policy::new("lim-login", per_minute(5))
                    .path_prefix("/auth")
                    .method(Method::POST),
            )
            .policy(
                Policy::new("lim-users", per_minute(10))
                    .path_prefix("/api")
                    .key(UserOrIp::new(PeerIp::new())),
            )
            .clock(FakeClock::new()),
    );
    let lim = l.limiter();
    let peer = "203.0.113.9:1";
    assert_eq!(
        checked(lim, &request(Method::POST, "/auth/login", Some(peer))),
        Some(vec![
            ("lim-all".into(), ip("203.0.113.9")),
            ("lim-login".into(), ip("203.0.113.9")),
        ])
    );
    assert_eq!(
        checked(lim, &get("/auth/login", peer)),
        Some(vec![("lim-all".into(), ip("203.0.113.9"))]),
        "the method narrows lim-login"
    );
    assert_eq!(
        checked(lim, &get("/authors", peer)).map(|c| c.len()),
        Some(1),
        "prefixes match whole segments"
    );
    let mut r = get("/api/items", peer);
    r.extensions_mut().insert(AuthenticatedUser::new("alice"));
    assert_eq!(
        checked(lim, &r),
        Some(vec![
            ("lim-all".into(), ip("203.0.113.9")),
            ("lim-users".into(), Key::user("alice")),
        ]),
        "each policy counts under its own extractor"
    );
}

#[test]
fn nothing_matched_or_off_passes() {
    let l = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-only-api", per_minute(1)).path_prefix("/api"))
            .clock(FakeClock::new()),
    );
    assert!(is_pass(l.limiter(), &get("/static/app.js", "192.0.2.1:1")));
    let off = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-off", per_minute(1)))
            .enabled(false),
    );
    for _ in 0..3 {
        assert!(is_pass(off.limiter(), &get("/", "192.0.2.1:1")));
    }
    assert_eq!(off.store().tracked_keys(), 0);
}

#[test]
fn missing_keys_follow_the_rule() {
    let build = |rule| {
        layer(
            RateLimitLayer::builder()
                .policy(
                    Policy::new("lim-nokey", per_minute(1))
                        .key(Header::named("x-api-key").unwrap()),
                )
                .missing_key(rule)
                .clock(FakeClock::new()),
        )
    };
    let keyless = request(Method::GET, "/", None);
    let shared = build(MissingKey::SharedKey);
    assert_eq!(
        checked(shared.limiter(), &keyless),
        Some(vec![("lim-nokey".into(), Key::unknown())])
    );
    assert!(is_pass(build(MissingKey::Allow).limiter(), &keyless));
    let reject = build(MissingKey::Reject);
    let (status, headers) = decide(reject.limiter(), &keyless);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h(&headers, "retry-after"), Some("60"));
    assert_eq!(h(&headers, "ratelimit"), Some("\"lim-nokey\";r=0;t=60"));
    assert_eq!(reject.store().tracked_keys(), 0, "the store was not asked");
}

#[test]
fn missing_peers_warn_on_the_clock_or_reject() {
    let clock = FakeClock::new();
    let warn = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-nopeer", per_minute(100)))
            .clock(clock.clone()),
    );
    let lim = warn.limiter();
    let keyless = request(Method::GET, "/", None);
    // Warn: the request keeps the MissingKey rule (the shared bucket), and
    // the log is claimed at the first request, then once per interval.
    assert_eq!(
        checked(lim, &keyless),
        Some(vec![("lim-nopeer".into(), Key::unknown())])
    );
    assert!(!lim.claim_missing_peer_log(), "just logged");
    clock.advance(super::MISSING_PEER_LOG_INTERVAL - Duration::from_nanos(1));
    assert!(!lim.claim_missing_peer_log());
    clock.advance(Duration::from_nanos(1));
    assert!(lim.claim_missing_peer_log());
    assert!(!lim.claim_missing_peer_log());

    let reject = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-strict-peer", per_minute(100)))
            .on_missing_peer(MissingPeer::Reject)
            .clock(FakeClock::new()),
    );
    let (status, headers) = decide(reject.limiter(), &keyless);
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        h(&headers, "content-type"),
        Some("application/problem+json")
    );
    assert!(checked(reject.limiter(), &get("/", "192.0.2.1:1")).is_some());
}

#[test]
fn bypassed_keys_and_networks_are_not_checked() {
    let l = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-bp", per_minute(1)))
            .bypass_cidr("10.0.0.0/8")
            .bypass_cidr("2001:db8::/32")
            .bypass_cidr("2001:db9:0:0:1::/80")
            .bypass_key(ip("192.0.2.7"))
            .clock(FakeClock::new()),
    );
    let lim = l.limiter();
    for peer in ["10.1.2.3:1", "[2001:db8::5]:1", "192.0.2.7:1"] {
        assert!(is_pass(lim, &get("/", peer)), "{peer}");
    }
    // A /64 group is bypassed only when the whole group lies in the CIDR.
    assert!(checked(lim, &get("/", "[2001:db9::1:0:0:1]:1")).is_some());
    assert!(checked(lim, &get("/", "192.0.2.8:1")).is_some());
}

#[test]
fn finish_admits_with_headers_then_rejects_without_charging() {
    let clock = FakeClock::new();
    let l = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-ip", per_minute(2)))
            .policy(Policy::new("lim-user", per_minute(10)).key(UserOrIp::new(PeerIp::new())))
            .legacy_headers(true)
            .clock(clock.clone()),
    );
    let lim = l.limiter();
    let mut alice = get("/", "198.51.100.1:1");
    alice
        .extensions_mut()
        .insert(AuthenticatedUser::new("alice"));
    let (status, headers) = decide(lim, &alice);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h(&headers, "ratelimit-policy"),
        Some("\"lim-ip\";q=2;w=60, \"lim-user\";q=10;w=60")
    );
    assert_eq!(
        h(&headers, "ratelimit"),
        Some("\"lim-ip\";r=1;t=30, \"lim-user\";r=9;t=6")
    );
    assert_eq!(h(&headers, "x-ratelimit-remaining"), Some("1"));
    assert_eq!(decide(lim, &alice).0, StatusCode::OK);
    for _ in 0..3 {
        let (status, headers) = decide(lim, &alice);
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h(&headers, "retry-after"), Some("30"));
        assert_eq!(
            h(&headers, "ratelimit"),
            Some("\"lim-ip\";r=0;t=60, \"lim-user\";r=8;t=12"),
            "lim-user was not charged for the rejections"
        );
        assert_eq!(h(&headers, "x-ratelimit-limit"), Some("2"));
    }
    clock.advance(Duration::from_secs(30));
    let (status, headers) = decide(lim, &alice);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        h(&headers, "ratelimit"),
        Some("\"lim-ip\";r=0;t=60, \"lim-user\";r=9;t=6"),
        "lim-user recovered fully: its two units were all it was charged"
    );
}

#[test]
fn finish_without_headers_on_admitted_requests() {
    let l = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-quiet", per_minute(1)))
            .headers_on_allowed(false)
            .clock(FakeClock::new()),
    );
    let lim = l.limiter();
    let req = get("/", "192.0.2.1:1");
    let Some(Ok(Verdict::Admit(None))) = lim.decide_now(&RequestRef::from(&req)) else {
        panic!("admitted without a header block");
    };
    let (status, headers) = decide(lim, &req);
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h(&headers, "ratelimit"), Some("\"lim-quiet\";r=0;t=60"));
}

/// A store that cannot decide.
struct DownStore;

impl RateLimitStore for DownStore {
    type Future = std::future::Ready<Result<Decision, StoreError>>;

    fn check(&self, _: &[PolicyCheck<'_>], _: Duration) -> MaybeReady<Self::Future> {
        MaybeReady::Ready(Err(
            StoreError::new("down").with_retry_after(Duration::from_millis(1500))
        ))
    }
}

#[test]
fn finish_turns_store_failures_into_503() {
    let l = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-down", per_minute(1)))
            .store(DownStore)
            .clock(FakeClock::new()),
    );
    let (status, headers) = decide(l.limiter(), &get("/", "192.0.2.1:1"));
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h(&headers, "retry-after"), Some("2"));
}

#[test]
fn finish_of_a_decision_decided_elsewhere() {
    // An asynchronous store's answer arrives later: `finish` takes the plan
    // and the decision, whatever computed it.
    let l = layer(
        RateLimitLayer::builder()
            .policy(Policy::new("lim-later", per_minute(5)))
            .clock(FakeClock::new()),
    );
    let lim = l.limiter();
    let req = get("/", "192.0.2.1:1");
    let Plan::Check(checks) = lim.plan(&RequestRef::from(&req)) else {
        panic!("one policy matches");
    };
    let limited = Decision::single(PolicyOutcome {
        allowed: false,
        remaining: 0,
        reset_after: Duration::from_secs(60),
        retry_after: Duration::from_millis(11_001),
    });
    let Verdict::Reject(res) = lim.finish(&checks, Ok(limited)) else {
        panic!("a rejecting outcome rejects");
    };
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(h(res.headers(), "retry-after"), Some("12"));
    assert_eq!(
        l.store().tracked_keys(),
        0,
        "finish never touches the store"
    );
}
