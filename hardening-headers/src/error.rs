//! The one error type of the crate: a configuration that cannot be served.

use std::fmt;

/// A configuration value that was refused when a layer was built.
///
/// Every variant names the header, directive, source or value at fault, so
/// the message alone tells what to fix. Nothing in this crate fails at request
/// time: all checks happen here, once.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A Content-Security-Policy source expression is malformed.
    #[error("content-security-policy: invalid source `{source_expr}` in `{directive}`: {reason}")]
    InvalidSource {
        /// The directive that holds the source.
        directive: String,
        /// The source as given.
        source_expr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A source is well formed but means nothing in this directive (for
    /// example `'unsafe-inline'` in `img-src`, or a hash in `frame-ancestors`).
    #[error("content-security-policy: source `{source_expr}` has no effect in `{directive}`; it is only meaningful in default-src, script-src* and style-src*")]
    SourceNotAllowed {
        /// The directive that holds the source.
        directive: String,
        /// The source as given.
        source_expr: String,
    },
    /// `'none'` was combined with other sources; browsers then ignore it.
    #[error("content-security-policy: `'none'` must be the only source of `{directive}`")]
    NoneWithOtherSources {
        /// The directive.
        directive: String,
    },
    /// A strict policy ([`strict_nonce`](crate::csp::ContentSecurityPolicy::strict_nonce),
    /// [`strict_hash`](crate::csp::ContentSecurityPolicy::strict_hash)) was
    /// changed in a way that silently weakens it, or lacks what makes it
    /// work (the nonce, a hash).
    #[error("content-security-policy: `{directive}` weakens the strict policy: {reason}")]
    WeakensStrictPolicy {
        /// The directive at fault.
        directive: String,
        /// What is wrong and what to do.
        reason: &'static str,
    },
    /// A directive that takes no sources (or takes different values) was
    /// given the wrong kind of value.
    #[error("content-security-policy: invalid value `{value}` for `{directive}`: {reason}")]
    InvalidDirectiveValue {
        /// The directive.
        directive: String,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A policy string named a directive this crate does not know.
    #[error("content-security-policy: unknown directive `{name}`")]
    UnknownDirective {
        /// The name as given.
        name: String,
    },
    /// A policy string named the same directive twice (browsers ignore the
    /// second one, which is rarely what the author meant).
    #[error("content-security-policy: directive `{directive}` appears twice")]
    DuplicateDirective {
        /// The directive.
        directive: String,
    },
    /// A Content-Security-Policy without any directive.
    #[error("{header}: the policy has no directives")]
    EmptyPolicy {
        /// `content-security-policy` or `content-security-policy-report-only`.
        header: &'static str,
    },
    /// `csp_nonce()` was asked for without a typed Content-Security-Policy
    /// to put the nonce in.
    #[error("csp_nonce() needs a Content-Security-Policy set with content_security_policy() or content_security_policy_report_only(), not disabled and not replaced by a raw header value")]
    NonceWithoutPolicy,
    /// `preload()` was asked for with a policy the HSTS preload list refuses.
    #[error("strict-transport-security: preload needs max-age >= 31536000 and includeSubDomains (got max-age={max_age}, includeSubDomains={include_subdomains})")]
    HstsPreload {
        /// The configured max-age in seconds.
        max_age: u64,
        /// Whether includeSubDomains was set.
        include_subdomains: bool,
    },
    /// X-Frame-Options disagrees with the CSP `frame-ancestors` directive, so
    /// old and new browsers would frame the page differently.
    #[error("x-frame-options `{frame_options}` contradicts content-security-policy `frame-ancestors {frame_ancestors}` (which implies `{implied}`)")]
    FrameOptionsConflict {
        /// The explicit X-Frame-Options value.
        frame_options: &'static str,
        /// The sources of `frame-ancestors`.
        frame_ancestors: String,
        /// The X-Frame-Options value `frame-ancestors` implies.
        implied: &'static str,
    },
    /// A `report-to` directive names an endpoint that is not declared with
    /// `reporting_endpoint()`, so browsers would have nowhere to send reports.
    #[error("content-security-policy: report-to `{name}` is not declared; add it with reporting_endpoint(\"{name}\", URL)")]
    UnknownReportingEndpoint {
        /// The endpoint name.
        name: String,
    },
    /// A Reporting-Endpoints entry is malformed.
    #[error("reporting-endpoints: invalid endpoint `{name}` = `{url}`: {reason}")]
    InvalidReportingEndpoint {
        /// The endpoint name.
        name: String,
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A Permissions-Policy feature name is malformed.
    #[error("permissions-policy: invalid feature name `{feature}`: expected lowercase letters, digits and `-`")]
    InvalidPermissionsFeature {
        /// The feature as given.
        feature: String,
    },
    /// A Permissions-Policy allowlist entry is malformed.
    #[error("permissions-policy: invalid origin `{origin}` for `{feature}`: {reason}")]
    InvalidPermissionsOrigin {
        /// The feature.
        feature: String,
        /// The origin as given.
        origin: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header name is not a valid HTTP field name.
    #[error("invalid header name `{name}`")]
    InvalidHeaderName {
        /// The name as given.
        name: String,
    },
    /// A header value contains characters HTTP does not allow (control
    /// characters, line breaks) or is otherwise refused for this header.
    #[error("invalid value `{value}` for header `{header}`")]
    InvalidHeaderValue {
        /// The header.
        header: String,
        /// The value as given.
        value: String,
    },
    /// A mode was set for a header the layer does not send.
    #[error("mode set for header `{header}`, which this layer does not send")]
    ModeForUnsentHeader {
        /// The header.
        header: String,
    },
    /// A host in the HTTPS redirect allowlist is not a host name or IP address.
    #[error("https redirect: invalid host `{host}`: {reason}")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A path (an exempt path, a path prefix) does not start with `/` or
    /// contains characters a request path cannot hold.
    #[error("invalid path `{path}`: expected an absolute path such as /livez")]
    InvalidPath {
        /// The path as given.
        path: String,
    },
    /// A name given to `http_only_exempt()` is not a cookie name.
    #[error("secure cookies: http_only_exempt: invalid cookie name `{name}`: expected visible ASCII without separators such as `;`, `=` or spaces")]
    InvalidCookieName {
        /// The name as given.
        name: String,
    },
    /// `max_body_bytes(0)` on a `CspReportLayer`: no report would fit.
    #[error("csp report: max_body_bytes must be at least 1")]
    InvalidReportBodyLimit,
    /// The HTTPS port is 0.
    #[error("https redirect: the HTTPS port must not be 0")]
    InvalidHttpsPort,
}

impl ConfigError {
    pub(crate) fn header_value(header: impl fmt::Display, value: impl Into<String>) -> Self {
        ConfigError::InvalidHeaderValue {
            header: header.to_string(),
            value: value.into(),
        }
    }
}
