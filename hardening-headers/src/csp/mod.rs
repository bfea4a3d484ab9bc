//! A typed Content-Security-Policy: directives, sources, validation.
//!
//! [`ContentSecurityPolicy`] is built directive by directive from typed
//! [`Source`]s (or parsed from a string) and validated in full when the layer
//! is built: a malformed host, a hash of the wrong length, `'none'` beside
//! other sources, `'unsafe-inline'` where it means nothing, an unknown sandbox
//! flag or a `report-to` endpoint that was never declared are all
//! [`ConfigError`](crate::ConfigError)s that name the directive and value.
//!
//! # Example
//!
//! ```
//! use hardening_headers::csp::{ContentSecurityPolicy, Source};
//! use hardening_headers::SecurityHeadersLayer;
//!
//! let csp = ContentSecurityPolicy::strict()
//!     .img_src([Source::SELF, Source::host("https://images.example.com")])
//!     .report_to("csp");
//! let layer = SecurityHeadersLayer::builder()
//!     .content_security_policy(csp.clone())
//!     .reporting_endpoint("csp", "https://example.com/csp-reports")
//!     .csp_nonce()
//!     .build();
//! assert!(layer.is_ok());
//!
//! // Forgetting to declare the endpoint is caught before serving anything.
//! let err = SecurityHeadersLayer::builder()
//!     .content_security_policy(csp)
//!     .build()
//!     .unwrap_err();
//! assert!(err.to_string().contains("report-to `csp` is not declared"));
//! ```

mod directive;
mod policy;
mod source;
mod strict;

pub use directive::Directive;
pub use policy::ContentSecurityPolicy;
pub use source::{HashAlgorithm, Source};

pub(crate) use policy::{check_report_uri, is_sf_key};
