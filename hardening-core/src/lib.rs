//! Shared pieces of the `hardening` middleware crates.
//!
//! What more than one crate needs, written once:
//!
//! - [`body`]: the response body of a layer that answers some requests
//!   itself and holds state until the inner body ends.
//! - [`clock`]: an injectable monotonic [`Clock`], with a
//!   [`FakeClock`] for exact, fast tests.
//! - [`proxy`]: the client address and scheme of a request behind trusted
//!   reverse proxies (`Forwarded`, `X-Forwarded-For`, `X-Forwarded-Proto`,
//!   CIDRs), so a client can never choose its own address.
//! - [`ConfigError`]: the error every builder returns for an invalid
//!   setting, naming the builder method, the value and what was expected.
//! - [`json`]: JSON string escaping for hand-written JSON on hot paths.
//! - [`PathPrefix`]: a path prefix matched on whole segments.
//! - [`retry_after`]: `Retry-After` written (whole seconds, never 0) and read
//!   (seconds or HTTP-date, capped).
//! - [`observe`]: the observer hooks every layer reports its metrics to.
//! - [`RequestRef`]: a request's head without its body type, for key
//!   extractors and classifiers.
//! - [`url::mask_password`]: a connection URL fit for a log.
//! - [`define_inner_service_accessors!`] writes `get_ref`/`get_mut`/`into_inner`
//!   for every service.
//!
//! # Example
//!
//! ```
//! use std::net::{IpAddr, SocketAddr};
//! use hardening_core::proxy::{PeerAddr, TrustedProxies};
//!
//! let proxies: TrustedProxies = "10.0.0.0/8".parse().unwrap();
//! let mut req = http::Request::builder()
//!     .header("x-forwarded-for", "203.0.113.9")
//!     .body(())
//!     .unwrap();
//! req.extensions_mut().insert(PeerAddr("10.0.0.2:8080".parse::<SocketAddr>().unwrap()));
//! assert_eq!(proxies.client_ip(&req), Some("203.0.113.9".parse::<IpAddr>().unwrap()));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod macros;

pub mod body;
pub mod clock;
pub mod error;
pub mod json;
pub mod observe;
pub mod path_prefix;
pub mod proxy;
pub mod request;
pub mod retry_after;
pub mod url;

pub use clock::{Clock, CoarseMonotonicClock, FakeClock, MonotonicClock};
pub use error::ConfigError;
pub use path_prefix::PathPrefix;
pub use proxy::{ConnectionScheme, PeerAddr, ProxyHeader, Scheme, TrustedProxies};
pub use request::RequestRef;
