//! Keyed GCRA rate limiting for tower HTTP services, built to hold under
//! attack.
//!
//! - [`Quota`]: a rate and a burst (`Quota::per_minute(5)`), GCRA semantics
//!   as in `governor`.
//! - [`Policy`]: a named quota on a path prefix (and optionally a method),
//!   counting clients by a [`KeyExtractor`].
//! - [`gcra`]: the pure decision step, no I/O, time passed in.
//! - [`store`]: the [`RateLimitStore`] trait (one atomic, all-or-nothing
//!   decision per request across every matching policy) and the bounded
//!   [`InMemoryStore`].
//! - Keys: [`PeerIp`], [`ClientIp::trusting`] (spoof-proof behind proxies),
//!   [`UserOrIp`], [`Header`], [`Global`], or any closure.
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
//! let login = Policy::new("login", Quota::per_minute(NonZeroU32::new(5).unwrap()));
//! let client = Key::ip("203.0.113.9".parse().unwrap(), 64);
//! let mut admitted = 0;
//! for _ in 0..6 {
//!     if let MaybeReady::Ready(Ok(d)) = store.check(&[PolicyCheck::new(&login, &client)], Duration::ZERO) {
//!         admitted += usize::from(d.is_allowed());
//!     }
//! }
//! assert_eq!(admitted, 5);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod body;
mod error;
mod extract;
mod future;
pub mod gcra;
mod key;
mod layer;
mod policy;
mod quota;
mod response;
mod service;
mod small_list;
pub mod store;

pub use body::RateLimitBody;
pub use error::ConfigError;
pub use extract::{
    AuthenticatedUser, ClientIp, Global, Header, KeyExtractor, MissingKey, PeerIp, RequestRef,
    UserOrIp, DEFAULT_IPV6_PREFIX, MAX_HEADER_KEY_LEN,
};
pub use future::ResponseFuture;
pub use key::{Key, RedactedKey};
pub use layer::{KeyLogging, RateLimitLayer, RateLimitLayerBuilder};
pub use policy::{Policy, PolicyId};
pub use quota::Quota;
pub use response::{
    RATELIMIT, RATELIMIT_POLICY, X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING, X_RATELIMIT_RESET,
};
pub use service::RateLimit;
#[cfg(feature = "redis")]
pub use store::{FailurePolicy, RedisStore};
pub use store::{InMemoryStore, RateLimitStore};
