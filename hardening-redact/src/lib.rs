//! No secret ever reaches a log line.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod error;
#[cfg(feature = "tracing")]
pub mod fmt;
#[cfg(feature = "http")]
pub mod headers;
#[cfg(feature = "http")]
pub mod trace;
mod pattern;
mod redactor;
mod scan;
mod secret;

pub use error::ConfigError;
pub use pattern::Pattern;
pub use redactor::{Redactor, RedactorBuilder, REDACTED};
pub use secret::Secret;
