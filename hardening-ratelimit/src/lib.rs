//! Keyed GCRA rate limiting for tower HTTP services, built to hold under
//! attack.
//!
//! [`RateLimitLayer`] holds one or more [`Policy`]s — a named [`Quota`] on a
//! path prefix (and optionally a method), counting each client under the
//! [`Key`] its [`KeyExtractor`] returns. Every request is checked against all
//! policies that match it in **one all-or-nothing decision**: it is limited
//! if any policy says no, and then none of them is charged.
//!
//! | concern | what you get |
//! |---|---|
//! | algorithm | GCRA (same quota semantics as `governor`), the pure step in [`gcra`], time passed in |
//! | keys | [`PeerIp`], [`ClientIp::trusting`] (spoof-proof behind proxies, via `hardening_core::TrustedProxies`), [`UserOrIp`], [`Header`], [`Global`], any closure; IPv6 grouped by `/64` (configurable) |
//! | keyless requests | [`MissingKey`]: one shared `unknown` bucket by default, or allow, or reject |
//! | server records no peer address | [`MissingPeer`]: a rate-limited warning by default, or `500` |
//! | limited response | `429`, `Retry-After` (whole seconds, rounded up, never 0), `RateLimit-Policy` + `RateLimit`, `application/problem+json`; optional `X-RateLimit-*`; no `HandleErrorLayer` needed |
//! | bypass | allowlisted keys and CIDRs, and an off switch |
//! | memory | recovered keys dropped, a hard cap with a documented overflow rule ([`InMemoryStore`]) |
//! | time | an injected [`Clock`] (default [`CoarseMonotonicClock`]: a few ns per read, millisecond resolution), [`FakeClock`] in tests, so they are exact |
//! | logs | one `tracing` event per rejection (target `hardening_ratelimit`), keys redacted by default ([`KeyLogging`]) |
//! | stores | the [`RateLimitStore`] trait; [`InMemoryStore`] here, a Redis store behind the `redis` feature |
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::net::SocketAddr;
//! use std::num::NonZeroU32;
//! use std::time::Duration;
//! use hardening_core::{FakeClock, PeerAddr};
//! use hardening_ratelimit::{Policy, Quota, RateLimitLayer};
//! use http::{Request, Response, StatusCode};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let clock = FakeClock::new();
//! let layer = RateLimitLayer::builder()
//!     // auth 5/min on /auth, api 60/min on /api, llm 20/min on /llm
//!     .policies(Policy::defaults())
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! let app = layer.layer(service_fn(|_req: Request<String>| async {
//!     Ok::<_, Infallible>(Response::new(String::from("ok")))
//! }));
//!
//! let login = || {
//!     let mut req = Request::post("/auth/login").body(String::new()).unwrap();
//!     req.extensions_mut().insert(PeerAddr("203.0.113.9:5000".parse::<SocketAddr>().unwrap()));
//!     req
//! };
//! for _ in 0..5 {
//!     assert_eq!(app.clone().oneshot(login()).await.unwrap().status(), StatusCode::OK);
//! }
//! let sixth = app.clone().oneshot(login()).await.unwrap();
//! assert_eq!(sixth.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(sixth.headers()["retry-after"], "12");
//! assert_eq!(sixth.headers()["ratelimit-policy"], "\"auth\";q=5;w=60");
//! assert_eq!(sixth.headers()["ratelimit"], "\"auth\";r=0;t=60");
//!
//! clock.advance(Duration::from_secs(12));
//! assert_eq!(app.clone().oneshot(login()).await.unwrap().status(), StatusCode::OK);
//! # }
//! ```
//!
//! With axum, serve with `into_make_service_with_connect_info::<SocketAddr>()`
//! and enable this crate's `axum` feature so [`PeerIp`] / [`ClientIp`] read
//! `ConnectInfo<SocketAddr>`; plain hyper code inserts
//! [`PeerAddr`](hardening_core::PeerAddr) into each request instead.
//!
//! # Headers
//!
//! Per draft-ietf-httpapi-ratelimit-headers (structured-field lists, one
//! member per matching policy, named by the policy):
//!
//! - `RateLimit-Policy: "auth";q=5;w=60` — `q`: the burst, `w`: the seconds an
//!   idle client needs to get the whole burst back (burst × period).
//! - `RateLimit: "auth";r=4;t=12` — `r`: requests admitted right now, `t`:
//!   seconds (rounded up) until the whole burst is back.
//! - `Retry-After` (only on `429`): seconds until the request would be
//!   admitted, rounded up, at least 1.
//!
//! They are sent on `429`s always and on admitted responses unless
//! [`headers_on_allowed(false)`](RateLimitBuilder::headers_on_allowed).
//! [`legacy_headers(true)`](RateLimitBuilder::legacy_headers) adds
//! `X-RateLimit-Limit`, `-Remaining` and `-Reset` for the tightest policy.
//!
//! # Bounded memory
//!
//! A key whose GCRA state has fully recovered is indistinguishable from a new
//! key, so the [`InMemoryStore`] drops such keys (amortised sweeps on the
//! request path, or [`InMemoryStore::sweep`] from a task), and it never
//! tracks more than [`max_keys`](InMemoryStore::with_max_keys) keys per
//! policy: at a policy's cap, requests from clients it does not know under
//! that policy share that policy's overflow bucket until room frees up. A
//! flood of millions of distinct keys leaves memory bounded, known clients
//! unaffected, and other policies untouched.
//!
//! # Features
//!
//! - `axum`: read axum's `ConnectInfo<SocketAddr>` for the peer address.
//! - `governor`: `From<governor::Quota> for Quota`.
//! - `redis`: reserved for the Redis store that shares limits across replicas.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod extract;
mod future;
pub mod gcra;
mod key;
mod layer;
mod limiter;
mod policy;
mod quota;
mod response;
mod service;
mod small_list;
pub mod store;

/// The body of a [`RateLimit`] response: the inner service's body, or the
/// `application/problem+json` document of a `429` or `503` the layer
/// answered itself.
pub type RateLimitBody<B> = hardening_core::body::ResponseBody<B>;
pub use extract::{
    AuthenticatedUser, ClientIp, Global, Header, KeyExtractor, MissingKey, MissingPeer, PeerIp,
    RequestRef, UserOrIp, DEFAULT_IPV6_PREFIX, MAX_HEADER_KEY_LEN,
};
pub use future::ResponseFuture;
pub use hardening_core::clock::{Clock, CoarseMonotonicClock, FakeClock, MonotonicClock};
pub use hardening_core::ConfigError;
pub use key::{Key, RedactedKey};
pub use layer::{KeyLogging, RateLimitBuilder, RateLimitLayer};
pub use limiter::MISSING_PEER_LOG_INTERVAL;
pub use policy::{Policy, PolicyId};
pub use quota::Quota;
pub use response::{
    RATELIMIT, RATELIMIT_POLICY, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
};
pub use service::RateLimit;
#[cfg(feature = "redis")]
pub use store::{FailurePolicy, RedisStore};
pub use store::{InMemoryStore, RateLimitStore};
