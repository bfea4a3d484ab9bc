//! The typed Content-Security-Policy builder and its rendering.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use http::HeaderValue;

use super::directive::{Kind, SANDBOX_FLAGS};
use super::strict::{self, Strictness};
use super::{Directive, HashAlgorithm, Source};
use crate::error::ConfigError;

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

macro_rules! source_setters {
    ($($(#[$doc:meta])* $method:ident => $directive:ident;)*) => {
        $(
            $(#[$doc])*
            ///
            /// Replaces the directive if it was set. An empty list renders
            /// as `'none'`.
            pub fn $method(self, sources: impl IntoIterator<Item = Source>) -> Self {
                self.sources(Directive::$directive, sources)
            }
        )*
    };
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

    /// Adds the hash of an inline script to `script-src`, computed now with
    /// `algorithm` over exactly the script's text (what is between
    /// `<script>` and `</script>`).
    pub fn script_hash(self, algorithm: HashAlgorithm, script: impl AsRef<[u8]>) -> Self {
        self.add_source(Directive::ScriptSrc, Source::hash_of(algorithm, script))
    }

    /// Adds the hash of an inline `<style>` element's text to `style-src`,
    /// computed now.
    pub fn style_hash(self, algorithm: HashAlgorithm, style: impl AsRef<[u8]>) -> Self {
        self.add_source(Directive::StyleSrc, Source::hash_of(algorithm, style))
    }

    /// Whether this policy started from a strict preset
    /// ([`strict_nonce`](Self::strict_nonce), [`strict_hash`](Self::strict_hash))
    /// and is therefore checked against weakening changes.
    pub fn is_strict(&self) -> bool {
        self.strict.is_some()
    }

    /// Sets `directive` to `sources`, replacing it if it was set.
    ///
    /// Only source-list directives (`*-src`, `base-uri`, `form-action`,
    /// `frame-ancestors`) take sources; anything else fails when rendered.
    pub fn sources(self, directive: Directive, sources: impl IntoIterator<Item = Source>) -> Self {
        self.set(directive, Value::Sources(sources.into_iter().collect()))
    }

    /// Adds one source to `directive`, creating the directive if needed.
    pub fn add_source(mut self, directive: Directive, source: Source) -> Self {
        match self.directives.iter_mut().find(|(d, _)| *d == directive) {
            Some((_, Value::Sources(list))) => list.push(source),
            Some((_, value)) => *value = Value::Sources(vec![source]),
            None => self
                .directives
                .push((directive, Value::Sources(vec![source]))),
        }
        self
    }

    source_setters! {
        /// `default-src`.
        default_src => DefaultSrc;
        /// `script-src`.
        script_src => ScriptSrc;
        /// `script-src-elem`.
        script_src_elem => ScriptSrcElem;
        /// `script-src-attr`.
        script_src_attr => ScriptSrcAttr;
        /// `style-src`.
        style_src => StyleSrc;
        /// `style-src-elem`.
        style_src_elem => StyleSrcElem;
        /// `style-src-attr`.
        style_src_attr => StyleSrcAttr;
        /// `img-src`.
        img_src => ImgSrc;
        /// `font-src`.
        font_src => FontSrc;
        /// `connect-src`.
        connect_src => ConnectSrc;
        /// `media-src`.
        media_src => MediaSrc;
        /// `object-src`.
        object_src => ObjectSrc;
        /// `frame-src`.
        frame_src => FrameSrc;
        /// `child-src`.
        child_src => ChildSrc;
        /// `worker-src`.
        worker_src => WorkerSrc;
        /// `manifest-src`.
        manifest_src => ManifestSrc;
        /// `fenced-frame-src`.
        fenced_frame_src => FencedFrameSrc;
        /// `base-uri`.
        base_uri => BaseUri;
        /// `form-action`.
        form_action => FormAction;
        /// `frame-ancestors`. Keep `X-Frame-Options` in step: the layer
        /// derives it from this directive unless you set it yourself.
        frame_ancestors => FrameAncestors;
    }

    /// `sandbox` with the given flags (`"allow-scripts"`, `"allow-forms"`, …);
    /// no flags is the strictest sandbox.
    pub fn sandbox<I, S>(self, flags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.set(
            Directive::Sandbox,
            Value::Tokens(flags.into_iter().map(Into::into).collect()),
        )
    }

    /// `report-uri`: absolute `http(s)` URLs or absolute paths that receive
    /// violation reports as `application/csp-report` POSTs. Browsers that
    /// support `report-to` ignore it when both are present.
    pub fn report_uri<I, S>(self, uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.set(
            Directive::ReportUri,
            Value::Tokens(uris.into_iter().map(Into::into).collect()),
        )
    }

    /// `report-to`: the name of an endpoint declared with
    /// [`SecurityHeadersBuilder::reporting_endpoint`](crate::SecurityHeadersBuilder::reporting_endpoint),
    /// which sends the matching `Reporting-Endpoints` header.
    ///
    /// Like `upgrade-insecure-requests`, it is rendered at the end and sent
    /// only on responses to HTTPS requests: Chromium delivers Reporting API
    /// reports only for pages that came over HTTPS, and while `report-to` is
    /// present it ignores `report-uri`. Over plain HTTP (local development)
    /// a `report-uri` set beside it therefore still gets the reports.
    pub fn report_to(self, endpoint: impl Into<Cow<'static, str>>) -> Self {
        self.set(Directive::ReportTo, Value::Tokens(vec![endpoint.into()]))
    }

    /// `upgrade-insecure-requests`.
    ///
    /// Browsers then fetch every `http:` subresource of the page, and
    /// same-origin navigations, over HTTPS. It is always rendered as the last
    /// directive, and the layer sends it only on responses to requests that
    /// arrived over HTTPS (like HSTS): on a page served over plain HTTP (local
    /// development, exempt paths) it would send the page's own links and
    /// subresources to an HTTPS origin that may not exist.
    pub fn upgrade_insecure_requests(self) -> Self {
        self.set(Directive::UpgradeInsecureRequests, Value::Flag)
    }

    /// `require-trusted-types-for 'script'`.
    pub fn require_trusted_types_for_script(self) -> Self {
        self.set(Directive::RequireTrustedTypesFor, Value::Flag)
    }

    /// `trusted-types` with policy names (and optionally `'allow-duplicates'`
    /// or `'none'`).
    pub fn trusted_types<I, S>(self, policies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'static, str>>,
    {
        self.set(
            Directive::TrustedTypes,
            Value::Tokens(policies.into_iter().map(Into::into).collect()),
        )
    }

    /// Drops `directive`.
    pub fn remove(mut self, directive: Directive) -> Self {
        self.directives.retain(|(d, _)| *d != directive);
        self
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

    fn set(mut self, directive: Directive, value: Value) -> Self {
        match self.directives.iter_mut().find(|(d, _)| *d == directive) {
            Some((_, slot)) => *slot = value,
            None => self.directives.push((directive, value)),
        }
        self
    }

    /// Validates and renders the policy. With `nonce`, the nonce source goes
    /// into `script-src` and `style-src` (created from `default-src` when
    /// absent) and into `script-src-elem`/`style-src-elem` when present; the
    /// returned offsets say where.
    pub(crate) fn render(
        &self,
        header: &'static str,
        nonce: bool,
    ) -> Result<Rendered, ConfigError> {
        let rendered = self.render_fallback(header, nonce)?;
        if let Some(strictness) = self.strict {
            strict::check(self, strictness, nonce)?;
        }
        Ok(rendered)
    }

    /// [`render`](Self::render) without the strict-policy checks: for the
    /// nonce-less fallback value the layer keeps beside a nonced policy
    /// (checked with the nonce, never expected to be sent).
    pub(crate) fn render_fallback(
        &self,
        header: &'static str,
        nonce: bool,
    ) -> Result<Rendered, ConfigError> {
        if self.directives.is_empty() {
            return Err(ConfigError::EmptyPolicy { header });
        }
        for (directive, value) in &self.directives {
            check(*directive, value)?;
        }

        let mut out = Rendered::default();
        let takes_nonce = |d: Directive| {
            nonce
                && matches!(
                    d,
                    Directive::ScriptSrc
                        | Directive::ScriptSrcElem
                        | Directive::StyleSrc
                        | Directive::StyleSrcElem
                )
        };
        let https_only =
            |d: Directive| matches!(d, Directive::ReportTo | Directive::UpgradeInsecureRequests);
        for (directive, value) in &self.directives {
            if !https_only(*directive) {
                write_directive(&mut out, *directive, value, takes_nonce(*directive));
            }
        }
        if nonce {
            let fallback = Value::Sources(
                self.sources_of(Directive::DefaultSrc)
                    .unwrap_or_default()
                    .to_vec(),
            );
            for directive in [Directive::ScriptSrc, Directive::StyleSrc] {
                if !self.contains(directive) {
                    write_directive(&mut out, directive, &fallback, true);
                }
            }
        }
        // HTTPS only, and so rendered last: `report-to` (Chromium delivers
        // Reporting API reports only for responses that came over HTTPS, and
        // while `report-to` is present it ignores `report-uri`, so over plain
        // HTTP the directive would silence reporting), then
        // `upgrade-insecure-requests`.
        let before = out.text.len();
        for (directive, value) in &self.directives {
            if *directive == Directive::ReportTo {
                write_directive(&mut out, *directive, value, false);
            }
        }
        if self.contains(Directive::UpgradeInsecureRequests) {
            write_directive(
                &mut out,
                Directive::UpgradeInsecureRequests,
                &Value::Flag,
                false,
            );
        }
        out.https_only_suffix = out.text.len() - before;
        Ok(out)
    }
}

fn write_directive(out: &mut Rendered, directive: Directive, value: &Value, with_nonce: bool) {
    if !out.text.is_empty() {
        out.text.push_str("; ");
    }
    out.text.push_str(directive.as_str());
    match value {
        Value::Flag => {
            if directive == Directive::RequireTrustedTypesFor {
                out.text.push_str(" 'script'");
            }
        }
        Value::Tokens(tokens) => {
            for token in tokens {
                out.text.push(' ');
                out.text.push_str(token);
            }
        }
        Value::Sources(sources) => {
            let only_none = sources.iter().all(Source::is_none);
            if only_none && !with_nonce {
                out.text.push_str(" 'none'");
            }
            if !only_none {
                for source in sources {
                    // infallible: writing to a String
                    let _ = write!(out.text, " {source}");
                }
            }
            if with_nonce {
                out.text.push(' ');
                out.nonce_at.push(out.text.len());
            }
        }
    }
}

/// A rendered policy: the text and, with a nonce, the byte offsets where the
/// nonce source (`'nonce-…'`) goes. `upgrade-insecure-requests` is always
/// rendered last, so the plain-HTTP variant is a prefix of the text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub(crate) text: String,
    pub(crate) nonce_at: Vec<usize>,
    /// How many bytes at the end (`; upgrade-insecure-requests`) are only
    /// sent to HTTPS requests.
    pub(crate) https_only_suffix: usize,
}

fn check(directive: Directive, value: &Value) -> Result<(), ConfigError> {
    let kind = directive.kind();
    let invalid = |value: &str, reason: &'static str| ConfigError::InvalidDirectiveValue {
        directive: directive.as_str().to_owned(),
        value: value.to_owned(),
        reason,
    };
    match (kind, value) {
        (Kind::Sources, Value::Sources(sources)) => {
            for source in sources {
                source.check(directive)?;
            }
            if sources.len() > 1 && sources.iter().any(Source::is_none) {
                return Err(ConfigError::NoneWithOtherSources {
                    directive: directive.as_str().to_owned(),
                });
            }
            Ok(())
        }
        (Kind::SandboxFlags, Value::Tokens(flags)) => {
            for flag in flags {
                if !SANDBOX_FLAGS.iter().any(|f| f.eq_ignore_ascii_case(flag)) {
                    return Err(invalid(flag, "not a sandbox flag such as allow-scripts"));
                }
            }
            Ok(())
        }
        (Kind::Uris, Value::Tokens(uris)) => {
            if uris.is_empty() {
                return Err(invalid("", "needs at least one URI"));
            }
            for uri in uris {
                check_report_uri(uri)
                    .map_err(|reason| invalid(uri, reason))?;
            }
            Ok(())
        }
        (Kind::EndpointName, Value::Tokens(names)) => match names.as_slice() {
            [name] if is_sf_key(name) => Ok(()),
            [name] => Err(invalid(
                name,
                "an endpoint name starts with a lowercase letter or `*` and holds lowercase letters, digits, `_`, `-`, `.`, `*`",
            )),
            _ => Err(invalid(&names.join(" "), "takes exactly one endpoint name")),
        },
        (Kind::Flag | Kind::TrustedTypesSinks, Value::Flag) => Ok(()),
        (Kind::TrustedTypesPolicies, Value::Tokens(policies)) => {
            for policy in policies {
                let keyword = ["'none'", "'allow-duplicates'", "*"]
                    .iter()
                    .any(|k| k.eq_ignore_ascii_case(policy));
                let name = !policy.is_empty()
                    && policy.bytes().all(|b| {
                        b.is_ascii_alphanumeric()
                            || matches!(b, b'-' | b'#' | b'=' | b'_' | b'/' | b'@' | b'.' | b'%')
                    });
                if !keyword && !name {
                    return Err(invalid(policy, "not a Trusted Types policy name"));
                }
            }
            Ok(())
        }
        (_, value) => Err(invalid(&render_value(value), kind.setter())),
    }
}

fn render_value(value: &Value) -> String {
    match value {
        Value::Sources(s) => s
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" "),
        Value::Tokens(t) => t.join(" "),
        Value::Flag => String::new(),
    }
}

/// A structured-field key (RFC 8941): what `Reporting-Endpoints` names are.
pub(crate) fn is_sf_key(key: &str) -> bool {
    let mut bytes = key.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b == b'*')
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b'*')
        })
}

/// An absolute `http(s)` URL or an absolute path, free of the characters CSP
/// and structured headers reserve.
pub(crate) fn check_report_uri(uri: &str) -> Result<(), &'static str> {
    if uri.is_empty()
        || !uri
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\'' | b'\\'))
    {
        return Err("a URI holds visible ASCII only, without `;`, `,`, quotes or backslashes");
    }
    let parsed: http::Uri = uri.parse().map_err(|_| "not a URI")?;
    match parsed.scheme_str() {
        Some("https" | "http") if parsed.host().is_some() => Ok(()),
        Some(_) => Err("an absolute report URI must be http(s) with a host"),
        None if uri.starts_with('/') && !uri.starts_with("//") => Ok(()),
        None => Err("expected an absolute URL or an absolute path such as /csp-reports"),
    }
}

impl FromStr for ContentSecurityPolicy {
    type Err = ConfigError;

    /// Parses and validates a policy such as
    /// `"default-src 'self'; img-src 'self' data:"`.
    ///
    /// Directive names are matched ignoring case; an unknown or repeated
    /// directive is an error (browsers would silently ignore it).
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        let mut csp = ContentSecurityPolicy::new();
        for part in s.split(';') {
            let mut tokens = part.split_ascii_whitespace();
            let Some(name) = tokens.next() else {
                continue;
            };
            let directive =
                Directive::from_name(name).ok_or_else(|| ConfigError::UnknownDirective {
                    name: name.to_owned(),
                })?;
            if csp.contains(directive) {
                return Err(ConfigError::DuplicateDirective {
                    directive: directive.as_str().to_owned(),
                });
            }
            let invalid = |value: &str, reason| ConfigError::InvalidDirectiveValue {
                directive: directive.as_str().to_owned(),
                value: value.to_owned(),
                reason,
            };
            let value = match directive.kind() {
                Kind::Sources => {
                    let mut sources = tokens
                        .map(|t| Source::parse_token(directive, t))
                        .collect::<Result<Vec<_>, _>>()?;
                    if sources.is_empty() {
                        // an empty source list matches nothing, like 'none'
                        sources.push(Source::NONE);
                    }
                    Value::Sources(sources)
                }
                Kind::Flag => match tokens.next() {
                    Some(extra) => return Err(invalid(extra, "takes no value")),
                    None => Value::Flag,
                },
                Kind::TrustedTypesSinks => {
                    let rest: Vec<&str> = tokens.collect();
                    if rest.len() != 1 || !rest[0].eq_ignore_ascii_case("'script'") {
                        return Err(invalid(&rest.join(" "), "takes exactly 'script'"));
                    }
                    Value::Flag
                }
                Kind::SandboxFlags
                | Kind::Uris
                | Kind::EndpointName
                | Kind::TrustedTypesPolicies => {
                    Value::Tokens(tokens.map(|t| Cow::Owned(t.to_owned())).collect())
                }
            };
            csp.directives.push((directive, value));
        }
        csp.render("content-security-policy", false)?;
        Ok(csp)
    }
}

impl fmt::Display for ContentSecurityPolicy {
    /// The directives in the order they were set, without validation (use
    /// [`to_header_value`](Self::to_header_value) for the value as sent).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (directive, value)) in self.directives.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(directive.as_str())?;
            let rendered = match value {
                Value::Flag if *directive == Directive::RequireTrustedTypesFor => {
                    "'script'".to_owned()
                }
                Value::Sources(s) if s.is_empty() => "'none'".to_owned(),
                other => render_value(other),
            };
            if !rendered.is_empty() {
                write!(f, " {rendered}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render(csp: &ContentSecurityPolicy) -> String {
        csp.to_header_value().unwrap().to_str().unwrap().to_owned()
    }

    #[test]
    fn presets_render_exactly() {
        assert_eq!(
            render(&ContentSecurityPolicy::strict()),
            "default-src 'self'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'; \
             img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; \
             style-src 'self'; upgrade-insecure-requests"
        );
        assert_eq!(
            render(&ContentSecurityPolicy::api()),
            "default-src 'none'; frame-ancestors 'none'"
        );
    }

    #[test]
    fn setting_again_replaces_and_remove_drops() {
        let csp = ContentSecurityPolicy::api()
            .default_src([Source::SELF])
            .remove(Directive::FrameAncestors)
            .add_source(Directive::ImgSrc, Source::DATA)
            .add_source(Directive::ImgSrc, Source::SELF);
        assert_eq!(render(&csp), "default-src 'self'; img-src data: 'self'");
        assert_eq!(csp.to_string(), render(&csp));
    }

    #[test]
    fn empty_lists_mean_none_and_none_must_be_alone() {
        let csp = ContentSecurityPolicy::new().object_src([]);
        assert_eq!(render(&csp), "object-src 'none'");
        let err = ContentSecurityPolicy::new()
            .script_src([Source::NONE, Source::SELF])
            .to_header_value()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::NoneWithOtherSources {
                directive: "script-src".into()
            }
        );
        assert_eq!(
            ContentSecurityPolicy::new().to_header_value().unwrap_err(),
            ConfigError::EmptyPolicy {
                header: "content-security-policy"
            }
        );
    }

    #[test]
    fn non_source_directives() {
        let csp = ContentSecurityPolicy::new()
            .sandbox(["allow-scripts", "allow-forms"])
            .report_uri(["/csp-reports", "https://reports.example.com/csp"])
            .report_to("csp-endpoint")
            .require_trusted_types_for_script()
            .trusted_types(["default", "'allow-duplicates'"]);
        assert_eq!(
            render(&csp),
            "sandbox allow-scripts allow-forms; report-uri /csp-reports https://reports.example.com/csp; \
             require-trusted-types-for 'script'; trusted-types default 'allow-duplicates'; report-to csp-endpoint"
        );
        assert_eq!(csp.report_to_endpoint(), Some("csp-endpoint"));
        assert_eq!(
            render(&ContentSecurityPolicy::new().sandbox(Vec::<String>::new())),
            "sandbox"
        );
    }

    #[test]
    fn bad_values_name_directive_and_value() {
        let cases: Vec<(ContentSecurityPolicy, &str, &str)> = vec![
            (
                ContentSecurityPolicy::new().sandbox(["allow-everything"]),
                "sandbox",
                "allow-everything",
            ),
            (
                ContentSecurityPolicy::new().report_uri(["javascript:alert(1)"]),
                "report-uri",
                "javascript:alert(1)",
            ),
            (
                ContentSecurityPolicy::new().report_uri(["relative/path"]),
                "report-uri",
                "relative/path",
            ),
            (
                ContentSecurityPolicy::new().report_uri(["/a;b"]),
                "report-uri",
                "/a;b",
            ),
            (
                ContentSecurityPolicy::new().report_uri(Vec::<String>::new()),
                "report-uri",
                "",
            ),
            (
                ContentSecurityPolicy::new().report_to("Has Space"),
                "report-to",
                "Has Space",
            ),
            (
                ContentSecurityPolicy::new().trusted_types(["bad;name"]),
                "trusted-types",
                "bad;name",
            ),
            (
                ContentSecurityPolicy::new().sources(Directive::Sandbox, [Source::SELF]),
                "sandbox",
                "'self'",
            ),
            (
                ContentSecurityPolicy::new().img_src([Source::host("exa mple.com")]),
                "img-src",
                "exa mple.com",
            ),
        ];
        for (csp, directive, value) in cases {
            let msg = csp.to_header_value().unwrap_err().to_string();
            assert!(msg.contains(directive) && msg.contains(value), "{msg}");
        }
    }

    #[test]
    fn parse_round_trips_and_validates() {
        let text = "default-src 'self'; script-src 'self' https://cdn.example.com 'sha256-n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg='; \
                    sandbox allow-scripts; require-trusted-types-for 'script'; report-to csp; upgrade-insecure-requests";
        let csp: ContentSecurityPolicy = text.parse().unwrap();
        assert_eq!(render(&csp), text);
        let r = csp.render("content-security-policy", false).unwrap();
        assert_eq!(
            r.https_only_suffix,
            "; report-to csp; upgrade-insecure-requests".len(),
            "report-to and upgrade-insecure-requests are sent over HTTPS only"
        );
        let csp: ContentSecurityPolicy =
            "upgrade-insecure-requests; img-src 'self'".parse().unwrap();
        assert_eq!(render(&csp), "img-src 'self'; upgrade-insecure-requests");
        assert_eq!(csp.to_string(), "upgrade-insecure-requests; img-src 'self'");
        let csp: ContentSecurityPolicy =
            "  DEFAULT-SRC  'SELF' ;; img-src   data: ".parse().unwrap();
        assert_eq!(render(&csp), "default-src 'self'; img-src data:");

        let err = "default-src 'self'; default-src *"
            .parse::<ContentSecurityPolicy>()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::DuplicateDirective {
                directive: "default-src".into()
            }
        );
        let err = "block-all-mixed-content"
            .parse::<ContentSecurityPolicy>()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::UnknownDirective {
                name: "block-all-mixed-content".into()
            }
        );
        assert!("upgrade-insecure-requests yes"
            .parse::<ContentSecurityPolicy>()
            .is_err());
        assert!("require-trusted-types-for 'style'"
            .parse::<ContentSecurityPolicy>()
            .is_err());
        assert!("".parse::<ContentSecurityPolicy>().is_err());
        assert!("script-src self".parse::<ContentSecurityPolicy>().is_err());
    }

    #[test]
    fn nonce_goes_into_script_and_style() {
        let r = ContentSecurityPolicy::strict()
            .render("content-security-policy", true)
            .unwrap();
        assert_eq!(r.nonce_at.len(), 2);
        let mut text = r.text.clone();
        for at in r.nonce_at.iter().rev() {
            text.insert_str(*at, "'nonce-N'");
        }
        assert!(text.contains("; script-src 'self' 'nonce-N';"), "{text}");
        assert!(text.contains("; style-src 'self' 'nonce-N';"), "{text}");
        assert!(text.contains("script-src-attr 'none'"), "{text}");
    }

    #[test]
    fn nonce_creates_missing_directives_from_default_src_and_replaces_none() {
        let r = ContentSecurityPolicy::api()
            .render("content-security-policy", true)
            .unwrap();
        let mut text = r.text.clone();
        for at in r.nonce_at.iter().rev() {
            text.insert_str(*at, "'nonce-N'");
        }
        assert_eq!(
            text,
            "default-src 'none'; frame-ancestors 'none'; script-src 'nonce-N'; style-src 'nonce-N'"
        );

        let r = ContentSecurityPolicy::new()
            .default_src([Source::SELF, Source::HTTPS])
            .script_src_elem([Source::STRICT_DYNAMIC])
            .render("content-security-policy", true)
            .unwrap();
        let mut text = r.text.clone();
        for at in r.nonce_at.iter().rev() {
            text.insert_str(*at, "'nonce-N'");
        }
        assert_eq!(
            text,
            "default-src 'self' https:; script-src-elem 'strict-dynamic' 'nonce-N'; \
             script-src 'self' https: 'nonce-N'; style-src 'self' https: 'nonce-N'"
        );
    }

    fn with_nonce(csp: &ContentSecurityPolicy) -> Result<String, ConfigError> {
        let r = csp.render("content-security-policy", true)?;
        let mut text = r.text.clone();
        for at in r.nonce_at.iter().rev() {
            text.insert_str(*at, "'nonce-N'");
        }
        Ok(text)
    }

    #[test]
    fn strict_nonce_preset_renders_the_recipe() {
        assert_eq!(
            with_nonce(&ContentSecurityPolicy::strict_nonce()).unwrap(),
            "default-src 'none'; base-uri 'none'; connect-src 'self'; font-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; img-src 'self' data:; manifest-src 'self'; \
             object-src 'none'; script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-N'; \
             style-src 'self' 'nonce-N'; upgrade-insecure-requests"
        );
        let tt = ContentSecurityPolicy::strict_nonce()
            .require_trusted_types_for_script()
            .trusted_types(["'none'"]);
        assert!(with_nonce(&tt).unwrap().ends_with(
            "; require-trusted-types-for 'script'; trusted-types 'none'; upgrade-insecure-requests"
        ));
        assert!(tt.is_strict());
        assert!(!ContentSecurityPolicy::strict().is_strict());
    }

    #[test]
    fn strict_hash_preset_hashes_inline_scripts_once() {
        let csp = ContentSecurityPolicy::strict_hash()
            .script_hash(HashAlgorithm::Sha256, "")
            .script_hash(HashAlgorithm::Sha384, "")
            .script_hash(HashAlgorithm::Sha512, "")
            .style_hash(HashAlgorithm::Sha256, "");
        let text = render(&csp);
        assert!(text.contains(
            "script-src 'strict-dynamic' https: 'unsafe-inline' \
             'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' \
             'sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb' \
             'sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=='; \
             style-src 'self' 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
        ), "{text}");
        // the digest is of the exact bytes
        assert_ne!(
            Source::hash_of(HashAlgorithm::Sha256, "start()"),
            Source::hash_of(HashAlgorithm::Sha256, "start() ")
        );
        // a nonce from the layer also makes a hash preset valid
        assert!(with_nonce(&ContentSecurityPolicy::strict_hash()).is_ok());
    }

    #[test]
    fn strict_presets_refuse_weakening_changes_naming_the_directive() {
        let nonce = ContentSecurityPolicy::strict_nonce;
        let hash =
            || ContentSecurityPolicy::strict_hash().script_hash(HashAlgorithm::Sha256, "go()");
        let cases: Vec<(&str, ContentSecurityPolicy, bool, &str)> = vec![
            ("no nonce", nonce(), false, "script-src"),
            (
                "no hash",
                ContentSecurityPolicy::strict_hash(),
                false,
                "script-src",
            ),
            (
                "host allowlist without strict-dynamic",
                nonce().script_src([Source::host("cdn.example.com"), Source::UNSAFE_INLINE]),
                true,
                "script-src",
            ),
            (
                "'self' without strict-dynamic",
                hash().script_src([Source::SELF, Source::sha256_digest([1; 32])]),
                false,
                "script-src",
            ),
            (
                "https: without strict-dynamic",
                nonce().script_src([Source::HTTPS, Source::UNSAFE_INLINE]),
                true,
                "script-src",
            ),
            (
                "unsafe-eval",
                nonce().add_source(Directive::ScriptSrc, Source::UNSAFE_EVAL),
                true,
                "script-src",
            ),
            (
                "script-src-elem allowlist",
                nonce().script_src_elem([Source::host("cdn.example.com")]),
                true,
                "script-src-elem",
            ),
            (
                "script-src removed",
                nonce().remove(Directive::ScriptSrc),
                true,
                "script-src",
            ),
            (
                "object-src opened",
                nonce().object_src([Source::SELF]),
                true,
                "object-src",
            ),
            (
                "object-src removed with default-src opened",
                nonce()
                    .remove(Directive::ObjectSrc)
                    .default_src([Source::SELF]),
                true,
                "object-src",
            ),
            (
                "base-uri opened",
                hash().base_uri([Source::HTTPS]),
                false,
                "base-uri",
            ),
            (
                "base-uri removed",
                nonce().remove(Directive::BaseUri),
                true,
                "base-uri",
            ),
            (
                "inline handlers",
                nonce().script_src_attr([Source::UNSAFE_INLINE]),
                true,
                "script-src-attr",
            ),
        ];
        for (what, csp, nonce, directive) in cases {
            let err = csp.render("content-security-policy", nonce).unwrap_err();
            match &err {
                ConfigError::WeakensStrictPolicy { directive: d, .. } => {
                    assert_eq!(d, directive, "{what}: {err}")
                }
                other => panic!("{what}: unexpected {other:?}"),
            }
            assert!(err.to_string().contains(directive), "{what}: {err}");
        }

        // Tightening is fine: fewer fallbacks, base-uri 'self', hashed handlers.
        for ok in [
            nonce().script_src([Source::STRICT_DYNAMIC]),
            nonce().base_uri([Source::SELF]).object_src([]),
            nonce().remove(Directive::ObjectSrc),
            nonce().script_src_attr([Source::UNSAFE_HASHES, Source::sha256_digest([2; 32])]),
            nonce().script_src_elem([Source::STRICT_DYNAMIC, Source::HTTPS]),
            nonce().add_source(Directive::ScriptSrc, Source::host("cdn.example.com")),
        ] {
            assert!(with_nonce(&ok).is_ok(), "{ok}");
        }
        // A policy that is not a strict preset is not held to the recipe.
        assert!(ContentSecurityPolicy::strict().to_header_value().is_ok());
    }

    proptest! {
        /// Any string either parses into a policy whose header value is
        /// valid, or is refused with an error; it never panics.
        #[test]
        fn arbitrary_policy_strings_never_panic(s in "\\PC{0,120}") {
            if let Ok(csp) = s.parse::<ContentSecurityPolicy>() {
                prop_assert!(csp.to_header_value().is_ok());
                let again: ContentSecurityPolicy = csp.to_string().parse().unwrap();
                prop_assert_eq!(again, csp);
            }
        }

        /// Policy-shaped strings built from real directive names and
        /// plausible tokens, the inputs most likely to reach deep checks.
        #[test]
        fn policy_shaped_strings_never_panic(
            parts in proptest::collection::vec(
                (proptest::sample::select(Directive::ALL), proptest::collection::vec("[ -~]{0,12}", 0..4)),
                0..6,
            )
        ) {
            let text = parts
                .iter()
                .map(|(d, tokens)| format!("{} {}", d.as_str(), tokens.join(" ")))
                .collect::<Vec<_>>()
                .join("; ");
            if let Ok(csp) = text.parse::<ContentSecurityPolicy>() {
                prop_assert!(csp.to_header_value().is_ok());
                prop_assert!(csp.render("content-security-policy", true).is_ok());
            }
        }
    }
}
