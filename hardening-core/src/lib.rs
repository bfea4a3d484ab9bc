//! Shared pieces of the `hardening` middleware crates.
//!
//! Two things more than one crate needs, written once:
//!
//! - [`clock`]: an injectable monotonic [`Clock`], with a
//!   [`FakeClock`] for exact, fast tests.
//! - [`proxy`]: the client address and scheme of a request behind trusted
//!   reverse proxies (`Forwarded`, `X-Forwarded-For`, `X-Forwarded-Proto`,
//!   CIDRs), so a client can never choose its own address.
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

pub mod clock;
pub mod proxy;

pub use clock::{Clock, CoarseMonotonicClock, FakeClock, MonotonicClock};
pub use proxy::{ConnectionScheme, PeerAddr, ProxyHeader, Scheme, TrustedProxies};
