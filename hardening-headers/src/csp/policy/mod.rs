//! The typed Content-Security-Policy: the type, its presets and queries.
//!
//! Split along its seams: `setters` (the chained builder methods), `render`
//! (the header text, nonce offsets, `Display`), `validate` (per-directive
//! checks), `parse` (`FromStr`).

use std::borrow::Cow;

use http::HeaderValue;

use super::strict::Strictness;
use super::{Directive, Source};
use crate::error::ConfigError;

mod parse;
mod render;
mod setters;
mod validate;

pub(crate) use validate::{check_report_uri, is_sf_key};

/// A Content-Security-Policy, built directive by directive.
///
/// Setting a directive again replaces it; [`remove`](Self::remove) drops it.
/// Nothing is checked until the policy is rendered (by the layer's `build()`
/// or [`to_header_value`](Self::to_header_value)); then every directive,
/// source and value is validated and a [`ConfigError`] names the first one
/// at fault. A policy can also be parsed from a string (`str::parse`), which
/// validates it at once.
///
/// ```
/// use hardening_headers::csp::{ContentSecurityPolicy, Directive, Source};
///
/// let csp = ContentSecurityPolicy::strict()
///     .connect_src([Source::SELF, Source::host("https://api.example.com")])
///     .report_to("csp");
/// assert!(csp.contains(Directive::ConnectSrc));
/// let value = csp.to_header_value().unwrap();
/// assert!(value.to_str().unwrap().contains("connect-src 'self' https://api.example.com"));
///
/// // Strings are checked as thoroughly as typed values.
/// let err = "script-src 'self' 'unsafe-inline'; img-src 'unsafe-inline'"
///     .parse::<ContentSecurityPolicy>()
///     .unwrap_err();
/// assert!(err.to_string().contains("img-src"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContentSecurityPolicy {
    directives: Vec<(Directive, Value)>,
    /// Set by the strict presets: rendering then refuses weakening changes.
    strict: Option<Strictness>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Sources(Vec<Source>),
    Tokens(Vec<Cow<'static, str>>),
    Flag,
}

impl ContentSecurityPolicy {
    /// An empty policy (rendering it fails until a directive is set).
    pub fn new() -> Self {
        Self::default()
    }

    /// The policy of [`SecurityHeadersLayer::strict`](crate::SecurityHeadersLayer::strict),
    /// for HTML applications:
    ///
    /// ```text
    /// default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none';
    /// img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none';
    /// style-src 'self'; upgrade-insecure-requests
    /// ```
    ///
    /// No inline script or style runs unless it carries the per-request nonce
    /// (enable it with `csp_nonce()`), no plugin content, no framing by
    /// anyone, forms and `<base>` stay on the origin.
    pub fn strict() -> Self {
        Self::new()
            .default_src([Source::SELF])
            .base_uri([Source::SELF])
            .form_action([Source::SELF])
            .frame_ancestors([Source::NONE])
            .img_src([Source::SELF, Source::DATA])
            .object_src([Source::NONE])
            .script_src([Source::SELF])
            .script_src_attr([Source::NONE])
            .style_src([Source::SELF])
            .upgrade_insecure_requests()
    }

    /// The policy of [`SecurityHeadersLayer::api`](crate::SecurityHeadersLayer::api),
    /// for JSON APIs: `default-src 'none'; frame-ancestors 'none'`. A response
    /// that is rendered as a document anyway (opened directly, or sniffed)
    /// can load and run nothing, and cannot be framed.
    pub fn api() -> Self {
        Self::new()
            .default_src([Source::NONE])
            .frame_ancestors([Source::NONE])
    }

    /// The strict nonce-based policy of the strict-CSP recipe (web.dev
    /// "Mitigate cross-site scripting with a strict CSP"), locked down by
    /// default. Use it with
    /// [`csp_nonce()`](crate::SecurityHeadersBuilder::csp_nonce), which adds
    /// the request's `'nonce-…'` to `script-src` and `style-src`:
    ///
    /// ```text
    /// default-src 'none'; base-uri 'none'; connect-src 'self'; font-src 'self';
    /// form-action 'self'; frame-ancestors 'none'; img-src 'self' data:;
    /// manifest-src 'self'; object-src 'none';
    /// script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-…';
    /// style-src 'self' 'nonce-…'; upgrade-insecure-requests
    /// ```
    ///
    /// Only scripts carrying the nonce run, and the scripts they load
    /// (`'strict-dynamic'`); host allowlists, `'self'` and inline code without
    /// the nonce do not. `https:` and `'unsafe-inline'` are fallbacks for
    /// browsers without CSP 3 or CSP 2, which current browsers ignore.
    /// Add `require_trusted_types_for_script()` (and `trusted_types(…)`) to
    /// lock down DOM XSS sinks as well.
    ///
    /// Rendering refuses changes that silently weaken it, with
    /// [`ConfigError::WeakensStrictPolicy`] naming the directive: no nonce
    /// (the layer lacks `csp_nonce()`), `script-src` with an allowlist but
    /// without `'strict-dynamic'`, `'unsafe-eval'`, `object-src` other than
    /// `'none'`, `base-uri` other than `'none'`/`'self'`, or inline event
    /// handlers allowed other than by hash.
    ///
    /// ```
    /// use hardening_headers::csp::{ContentSecurityPolicy, Directive, Source};
    /// use hardening_headers::{ConfigError, SecurityHeadersLayer};
    ///
    /// let csp = ContentSecurityPolicy::strict_nonce().require_trusted_types_for_script();
    /// let layer = SecurityHeadersLayer::builder()
    ///     .content_security_policy(csp.clone())
    ///     .csp_nonce()
    ///     .build();
    /// assert!(layer.is_ok());
    ///
    /// // Without the nonce, 'unsafe-inline' would be in force.
    /// let err = SecurityHeadersLayer::builder()
    ///     .content_security_policy(csp.clone())
    ///     .build()
    ///     .unwrap_err();
    /// assert!(matches!(err, ConfigError::WeakensStrictPolicy { ref directive, .. } if directive == "script-src"));
    ///
    /// // A host allowlist without 'strict-dynamic' is a bypassable policy.
    /// let weak = csp.script_src([Source::host("cdn.example.com")]);
    /// let err = SecurityHeadersLayer::builder()
    ///     .content_security_policy(weak)
    ///     .csp_nonce()
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("`script-src` weakens the strict policy"), "{err}");
    /// ```
    pub fn strict_nonce() -> Self {
        Self::strict_preset(Strictness::Nonce)
    }

    /// The strict hash-based policy, for static pages whose inline scripts
    /// are known when the layer is built: [`strict_nonce`](Self::strict_nonce)
    /// with hashes in place of the nonce. Add each inline script with
    /// [`script_hash`](Self::script_hash) (its digest is computed then, once);
    /// rendering fails until `script-src` holds at least one hash.
    ///
    /// ```
    /// use hardening_headers::csp::{ContentSecurityPolicy, HashAlgorithm};
    ///
    /// let csp = ContentSecurityPolicy::strict_hash()
    ///     .script_hash(HashAlgorithm::Sha256, "start()")
    ///     .require_trusted_types_for_script();
    /// let value = csp.to_header_value().unwrap();
    /// assert!(value.to_str().unwrap().contains(
    ///     "script-src 'strict-dynamic' https: 'unsafe-inline' 'sha256-"
    /// ));
    ///
    /// let err = ContentSecurityPolicy::strict_hash().to_header_value().unwrap_err();
    /// assert!(err.to_string().contains("script_hash()"), "{err}");
    /// ```
    pub fn strict_hash() -> Self {
        Self::strict_preset(Strictness::Hash)
    }

    fn strict_preset(strictness: Strictness) -> Self {
        let mut csp = Self::new()
            .default_src([Source::NONE])
            .base_uri([Source::NONE])
            .connect_src([Source::SELF])
            .font_src([Source::SELF])
            .form_action([Source::SELF])
            .frame_ancestors([Source::NONE])
            .img_src([Source::SELF, Source::DATA])
            .manifest_src([Source::SELF])
            .object_src([Source::NONE])
            .script_src([Source::STRICT_DYNAMIC, Source::HTTPS, Source::UNSAFE_INLINE])
            .style_src([Source::SELF])
            .upgrade_insecure_requests();
        csp.strict = Some(strictness);
        csp
    }

    /// Whether this policy started from a strict preset
    /// ([`strict_nonce`](Self::strict_nonce), [`strict_hash`](Self::strict_hash))
    /// and is therefore checked against weakening changes.
    pub fn is_strict(&self) -> bool {
        self.strict.is_some()
    }

    /// Whether `directive` is set.
    pub fn contains(&self, directive: Directive) -> bool {
        self.directives.iter().any(|(d, _)| *d == directive)
    }

    /// The sources of a source-list directive, if it is set.
    pub fn sources_of(&self, directive: Directive) -> Option<&[Source]> {
        self.directives.iter().find_map(|(d, v)| match v {
            Value::Sources(list) if *d == directive => Some(list.as_slice()),
            _ => None,
        })
    }

    /// The endpoint name of `report-to`, if set.
    pub(crate) fn report_to_endpoint(&self) -> Option<&str> {
        self.directives.iter().find_map(|(d, v)| match v {
            Value::Tokens(tokens) if *d == Directive::ReportTo => {
                tokens.first().map(|t| t.as_ref())
            }
            _ => None,
        })
    }

    /// Validates the policy and renders it as a header value.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid directive, source or value.
    pub fn to_header_value(&self) -> Result<HeaderValue, ConfigError> {
        let rendered = self.render("content-security-policy", false)?;
        HeaderValue::from_str(&rendered.text)
            .map_err(|_| ConfigError::header_value("content-security-policy", rendered.text))
    }
}

#[cfg(test)]
mod tests;
