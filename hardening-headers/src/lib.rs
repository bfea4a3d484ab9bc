//! Security response headers and an HTTPS redirect for tower services.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod csp;
mod error;
pub mod header;
mod host;
pub mod hsts;
mod nonce;
pub mod permissions;
mod policy;
pub mod redirect;
pub mod security_headers;

pub use csp::{ContentSecurityPolicy, Directive, Source};
pub use error::ConfigError;
pub use hsts::StrictTransportSecurity;
#[cfg(feature = "axum")]
pub use nonce::MissingCspNonce;
pub use nonce::{CspNonce, NONCE_BYTES};
pub use permissions::{Allow, Feature, PermissionsPolicy};
pub use policy::{
    CrossOriginEmbedderPolicy, CrossOriginOpenerPolicy, CrossOriginResourcePolicy, FrameOptions,
    HeaderMode, PermittedCrossDomainPolicies, ReferrerPolicy,
};
pub use redirect::{HttpsRedirectBuilder, HttpsRedirectLayer, RedirectStatus};
pub use security_headers::{SecurityHeadersBuilder, SecurityHeadersLayer};
