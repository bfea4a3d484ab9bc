//! Source expressions: the values of `script-src`, `img-src` and friends.

use std::borrow::Cow;
use std::fmt;

use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use super::Directive;
use crate::error::ConfigError;

/// One source expression of a Content-Security-Policy directive: a keyword
/// (`'self'`), a scheme (`https:`), a host (`cdn.example.com`) or a hash
/// (`'sha256-…'`).
///
/// Constructors never fail; the expression is checked when the policy is
/// built, and a malformed one becomes a [`ConfigError`] that names it and its
/// directive. Nonces are not sources you write: a fixed nonce is public after
/// the first response, so the layer adds a fresh one per request
/// (see [`SecurityHeadersBuilder::csp_nonce`](crate::SecurityHeadersBuilder::csp_nonce)).
///
/// ```
/// use hardening_headers::csp::{ContentSecurityPolicy, Source};
///
/// let csp = ContentSecurityPolicy::new()
///     .default_src([Source::SELF])
///     .img_src([Source::SELF, Source::DATA, Source::host("images.example.com")])
///     .script_src([Source::SELF, Source::sha256("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")]);
/// assert_eq!(
///     csp.to_header_value().unwrap(),
///     "default-src 'self'; img-src 'self' data: images.example.com; \
///      script-src 'self' 'sha256-n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg='",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Source(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Repr {
    Keyword(Keyword),
    Scheme(Cow<'static, str>),
    Host(Cow<'static, str>),
    Hash(HashAlgorithm, Cow<'static, str>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Keyword {
    None,
    SelfOrigin,
    UnsafeInline,
    UnsafeEval,
    StrictDynamic,
    UnsafeHashes,
    WasmUnsafeEval,
    ReportSample,
    InlineSpeculationRules,
}

const KEYWORDS: &[(Keyword, &str)] = &[
    (Keyword::None, "none"),
    (Keyword::SelfOrigin, "self"),
    (Keyword::UnsafeInline, "unsafe-inline"),
    (Keyword::UnsafeEval, "unsafe-eval"),
    (Keyword::StrictDynamic, "strict-dynamic"),
    (Keyword::UnsafeHashes, "unsafe-hashes"),
    (Keyword::WasmUnsafeEval, "wasm-unsafe-eval"),
    (Keyword::ReportSample, "report-sample"),
    (Keyword::InlineSpeculationRules, "inline-speculation-rules"),
];

impl Keyword {
    fn quoted(self) -> &'static str {
        match self {
            Keyword::None => "'none'",
            Keyword::SelfOrigin => "'self'",
            Keyword::UnsafeInline => "'unsafe-inline'",
            Keyword::UnsafeEval => "'unsafe-eval'",
            Keyword::StrictDynamic => "'strict-dynamic'",
            Keyword::UnsafeHashes => "'unsafe-hashes'",
            Keyword::WasmUnsafeEval => "'wasm-unsafe-eval'",
            Keyword::ReportSample => "'report-sample'",
            Keyword::InlineSpeculationRules => "'inline-speculation-rules'",
        }
    }
}

/// The digest of a hash source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// `sha256`
    Sha256,
    /// `sha384`
    Sha384,
    /// `sha512`
    Sha512,
}

impl HashAlgorithm {
    /// `"sha256"`, `"sha384"` or `"sha512"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HashAlgorithm::Sha256 => "sha256",
            HashAlgorithm::Sha384 => "sha384",
            HashAlgorithm::Sha512 => "sha512",
        }
    }

    const fn digest_len(self) -> usize {
        match self {
            HashAlgorithm::Sha256 => 32,
            HashAlgorithm::Sha384 => 48,
            HashAlgorithm::Sha512 => 64,
        }
    }
}

impl Source {
    /// `'none'`: nothing matches. Must be the only source of its directive.
    pub const NONE: Source = Source(Repr::Keyword(Keyword::None));
    /// `'self'`: the page's own origin.
    pub const SELF: Source = Source(Repr::Keyword(Keyword::SelfOrigin));
    /// `'unsafe-inline'`: inline scripts or styles. Ignored by browsers when a
    /// nonce or hash is present in the same directive.
    pub const UNSAFE_INLINE: Source = Source(Repr::Keyword(Keyword::UnsafeInline));
    /// `'unsafe-eval'`: `eval()` and friends.
    pub const UNSAFE_EVAL: Source = Source(Repr::Keyword(Keyword::UnsafeEval));
    /// `'strict-dynamic'`: scripts loaded by a nonced or hashed script are
    /// trusted; host and scheme sources are then ignored.
    pub const STRICT_DYNAMIC: Source = Source(Repr::Keyword(Keyword::StrictDynamic));
    /// `'unsafe-hashes'`: hashes also match event handler attributes.
    pub const UNSAFE_HASHES: Source = Source(Repr::Keyword(Keyword::UnsafeHashes));
    /// `'wasm-unsafe-eval'`: WebAssembly compilation without `'unsafe-eval'`.
    pub const WASM_UNSAFE_EVAL: Source = Source(Repr::Keyword(Keyword::WasmUnsafeEval));
    /// `'report-sample'`: violation reports include the first 40 characters
    /// of the blocked code.
    pub const REPORT_SAMPLE: Source = Source(Repr::Keyword(Keyword::ReportSample));
    /// `'inline-speculation-rules'`: inline `<script type="speculationrules">`.
    pub const INLINE_SPECULATION_RULES: Source =
        Source(Repr::Keyword(Keyword::InlineSpeculationRules));
    /// `https:`: any host over HTTPS.
    pub const HTTPS: Source = Source(Repr::Scheme(Cow::Borrowed("https")));
    /// `data:` URLs.
    pub const DATA: Source = Source(Repr::Scheme(Cow::Borrowed("data")));
    /// `blob:` URLs.
    pub const BLOB: Source = Source(Repr::Scheme(Cow::Borrowed("blob")));
    /// `wss:`: secure WebSockets to any host.
    pub const WSS: Source = Source(Repr::Scheme(Cow::Borrowed("wss")));

    /// A host source: `example.com`, `*.example.com`, `https://cdn.example.com`,
    /// `cdn.example.com:8443`, `https://example.com/static/`.
    ///
    /// IPv6 literals are not part of the CSP grammar and are refused.
    pub fn host(host: impl Into<Cow<'static, str>>) -> Source {
        Source(Repr::Host(host.into()))
    }

    /// A scheme source: `Source::scheme("https")` (a trailing `:` is accepted
    /// and dropped) serializes as `https:`.
    pub fn scheme(scheme: impl Into<Cow<'static, str>>) -> Source {
        let scheme = scheme.into();
        let scheme = match scheme {
            Cow::Borrowed(s) => Cow::Borrowed(s.strip_suffix(':').unwrap_or(s)),
            Cow::Owned(mut s) => {
                if s.ends_with(':') {
                    s.pop();
                }
                Cow::Owned(s)
            }
        };
        Source(Repr::Scheme(scheme))
    }

    /// A hash source from the base64 digest (standard or URL-safe alphabet,
    /// padded or not), checked to be a digest of the algorithm's length.
    pub fn hash(algorithm: HashAlgorithm, base64_digest: impl Into<Cow<'static, str>>) -> Source {
        Source(Repr::Hash(algorithm, base64_digest.into()))
    }

    /// `'sha256-…'` from a base64 digest.
    pub fn sha256(base64_digest: impl Into<Cow<'static, str>>) -> Source {
        Source::hash(HashAlgorithm::Sha256, base64_digest)
    }

    /// `'sha384-…'` from a base64 digest.
    pub fn sha384(base64_digest: impl Into<Cow<'static, str>>) -> Source {
        Source::hash(HashAlgorithm::Sha384, base64_digest)
    }

    /// `'sha512-…'` from a base64 digest.
    pub fn sha512(base64_digest: impl Into<Cow<'static, str>>) -> Source {
        Source::hash(HashAlgorithm::Sha512, base64_digest)
    }

    /// `'sha256-…'` from the raw 32-byte digest of an inline script or style.
    pub fn sha256_digest(digest: [u8; 32]) -> Source {
        Source::sha256(general_purpose::STANDARD.encode(digest))
    }

    /// The hash source of an inline script or style, computed now, once:
    /// `Source::hash_of(HashAlgorithm::Sha256, "start()")` is
    /// `'sha256-…'` of exactly those bytes (whitespace included, as browsers
    /// hash the element's text).
    ///
    /// ```
    /// use hardening_headers::csp::{HashAlgorithm, Source};
    ///
    /// assert_eq!(
    ///     Source::hash_of(HashAlgorithm::Sha256, "").to_string(),
    ///     "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    /// );
    /// ```
    pub fn hash_of(algorithm: HashAlgorithm, content: impl AsRef<[u8]>) -> Source {
        use sha2::Digest as _;
        let content = content.as_ref();
        let digest = match algorithm {
            HashAlgorithm::Sha256 => {
                general_purpose::STANDARD.encode(sha2::Sha256::digest(content))
            }
            HashAlgorithm::Sha384 => {
                general_purpose::STANDARD.encode(sha2::Sha384::digest(content))
            }
            HashAlgorithm::Sha512 => {
                general_purpose::STANDARD.encode(sha2::Sha512::digest(content))
            }
        };
        Source::hash(algorithm, digest)
    }

    /// Whether this is a hash source (`'sha256-…'` and friends).
    pub(crate) fn is_hash(&self) -> bool {
        matches!(self.0, Repr::Hash(..))
    }

    /// `'self'`, a scheme or a host: the allowlist sources that
    /// `'strict-dynamic'` makes browsers ignore.
    pub(crate) fn is_allowlist(&self) -> bool {
        matches!(
            self.0,
            Repr::Keyword(Keyword::SelfOrigin) | Repr::Scheme(_) | Repr::Host(_)
        )
    }

    /// Whether this is `'none'`.
    pub fn is_none(&self) -> bool {
        self.0 == Repr::Keyword(Keyword::None)
    }

    /// Whether this is `'self'`.
    pub fn is_self(&self) -> bool {
        self.0 == Repr::Keyword(Keyword::SelfOrigin)
    }

    /// Keywords other than `'self'`/`'none'`, and hashes: meaningful only in
    /// `default-src`, `script-src*` and `style-src*`.
    fn is_script_style_only(&self) -> bool {
        match &self.0 {
            Repr::Keyword(k) => !matches!(k, Keyword::None | Keyword::SelfOrigin),
            Repr::Hash(..) => true,
            Repr::Scheme(_) | Repr::Host(_) => false,
        }
    }

    /// Parses one token of a policy string, as found in `directive`.
    pub(crate) fn parse_token(directive: Directive, token: &str) -> Result<Source, ConfigError> {
        let err = |reason| ConfigError::InvalidSource {
            directive: directive.as_str().to_owned(),
            source_expr: token.to_owned(),
            reason,
        };
        if let Some(inner) = token.strip_prefix('\'') {
            let inner = inner
                .strip_suffix('\'')
                .ok_or_else(|| err("a quoted source needs a closing quote"))?;
            if let Some((keyword, _)) = KEYWORDS
                .iter()
                .find(|(_, name)| name.eq_ignore_ascii_case(inner))
            {
                return Ok(Source(Repr::Keyword(*keyword)));
            }
            let lower = inner.to_ascii_lowercase();
            if lower.starts_with("nonce-") {
                return Err(err(
                    "a fixed nonce is public after the first response; enable csp_nonce() on the layer instead",
                ));
            }
            for algorithm in [
                HashAlgorithm::Sha256,
                HashAlgorithm::Sha384,
                HashAlgorithm::Sha512,
            ] {
                if let Some(digest) = lower.strip_prefix(algorithm.as_str()) {
                    if digest.starts_with('-') {
                        let source = Source::hash(algorithm, inner[7..].to_owned());
                        source.check(directive)?;
                        return Ok(source);
                    }
                }
            }
            return Err(err("unknown keyword"));
        }
        let source = match token.strip_suffix(':') {
            Some(scheme) if !scheme.contains([':', '/']) => Source::scheme(scheme.to_owned()),
            _ => Source::host(token.to_owned()),
        };
        source.check(directive)?;
        Ok(source)
    }

    /// Checks the expression's own syntax and that it means something in
    /// `directive`.
    pub(crate) fn check(&self, directive: Directive) -> Result<(), ConfigError> {
        let err = |reason| ConfigError::InvalidSource {
            directive: directive.as_str().to_owned(),
            source_expr: self.to_string(),
            reason,
        };
        match &self.0 {
            Repr::Keyword(_) => {}
            Repr::Scheme(scheme) => check_scheme(scheme).map_err(err)?,
            Repr::Host(host) => check_host_source(host).map_err(err)?,
            Repr::Hash(algorithm, digest) => {
                check_digest(*algorithm, digest).map_err(err)?;
            }
        }
        if self.is_script_style_only() && !directive.is_script_or_style() {
            return Err(ConfigError::SourceNotAllowed {
                directive: directive.as_str().to_owned(),
                source_expr: self.to_string(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Keyword(k) => f.write_str(k.quoted()),
            Repr::Scheme(s) => write!(f, "{s}:"),
            Repr::Host(h) => f.write_str(h),
            Repr::Hash(a, d) => write!(f, "'{}-{d}'", a.as_str()),
        }
    }
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn check_scheme(scheme: &str) -> Result<(), &'static str> {
    if is_scheme(scheme) {
        Ok(())
    } else {
        Err("a scheme is a letter followed by letters, digits, `+`, `-` or `.`")
    }
}

/// `[ scheme "://" ] host [ ":" port ] [ path ]` (CSP Level 3, host-source).
fn check_host_source(source: &str) -> Result<(), &'static str> {
    if source.is_empty() {
        return Err("empty host");
    }
    if KEYWORDS
        .iter()
        .any(|(_, name)| name.eq_ignore_ascii_case(source))
    {
        return Err("keywords must be single-quoted, as in 'self'");
    }
    let rest = match source.find("://") {
        Some(i) => {
            check_scheme(&source[..i])?;
            &source[i + 3..]
        }
        None => source,
    };
    if rest.starts_with('[') {
        return Err("IPv6 literals cannot appear in CSP host sources");
    }
    let end = rest.find([':', '/']).unwrap_or(rest.len());
    let (host, mut tail) = rest.split_at(end);
    check_host_part(host)?;
    if let Some(after) = tail.strip_prefix(':') {
        let port_end = after.find('/').unwrap_or(after.len());
        let port = &after[..port_end];
        let numeric = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65_535);
        if port != "*" && !numeric {
            return Err("a port is a number up to 65535 or `*`");
        }
        tail = &after[port_end..];
    }
    if !tail.is_empty() {
        check_path(tail)?;
    }
    Ok(())
}

fn check_host_part(host: &str) -> Result<(), &'static str> {
    if host == "*" {
        return Ok(());
    }
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err("a host is `*`, or dot-separated labels of letters, digits and `-`, optionally starting with `*.`")
    }
}

/// A path of a host source: RFC 3986 `path-absolute` characters, except `;`
/// and `,` which CSP reserves (they must be percent-encoded).
fn check_path(path: &str) -> Result<(), &'static str> {
    const REASON: &str =
        "a path holds only URL path characters (`;` and `,` must be percent-encoded)";
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(REASON);
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let ok = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b'='
                    | b':'
                    | b'@'
                    | b'/'
            );
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(REASON);
            }
            i += 3;
            continue;
        }
        if !ok {
            return Err(REASON);
        }
        i += 1;
    }
    Ok(())
}

const INDIFFERENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_ANY_PADDING: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::STANDARD, INDIFFERENT);
const URL_SAFE_ANY_PADDING: GeneralPurpose =
    GeneralPurpose::new(&base64::alphabet::URL_SAFE, INDIFFERENT);

fn check_digest(algorithm: HashAlgorithm, digest: &str) -> Result<(), &'static str> {
    let mut buf = [0u8; 72];
    let decoded = STANDARD_ANY_PADDING
        .decode_slice(digest, &mut buf)
        .or_else(|_| URL_SAFE_ANY_PADDING.decode_slice(digest, &mut buf));
    match decoded {
        Ok(n) if n == algorithm.digest_len() => Ok(()),
        Ok(_) => Err("the digest length does not match the hash algorithm"),
        Err(_) => Err("the digest is not base64"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(token: &str) -> Result<Source, ConfigError> {
        Source::parse_token(Directive::ScriptSrc, token)
    }

    #[test]
    fn keywords_parse_case_insensitively() {
        assert_eq!(parse("'self'").unwrap(), Source::SELF);
        assert_eq!(parse("'SELF'").unwrap(), Source::SELF);
        assert_eq!(parse("'strict-dynamic'").unwrap(), Source::STRICT_DYNAMIC);
        assert!(parse("'none'").unwrap().is_none());
        assert_eq!(parse("'none'").unwrap().to_string(), "'none'");
    }

    #[test]
    fn bare_keywords_and_fixed_nonces_are_refused() {
        let err = parse("self").unwrap_err().to_string();
        assert!(err.contains("single-quoted"), "{err}");
        let err = parse("'nonce-abc'").unwrap_err().to_string();
        assert!(err.contains("csp_nonce"), "{err}");
        assert!(parse("'bogus'").is_err());
        assert!(parse("'self").is_err());
    }

    #[test]
    fn schemes_and_hosts() {
        assert_eq!(parse("https:").unwrap(), Source::HTTPS);
        assert_eq!(Source::scheme("data:").to_string(), "data:");
        for ok in [
            "example.com",
            "*.example.com",
            "*",
            "https://cdn.example.com",
            "https://cdn.example.com:8443/js/",
            "cdn.example.com:*",
            "example.com.",
            "http://127.0.0.1:3000",
            "https://example.com/a%20b/c",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "exa mple.com",
            "example..com",
            "*.",
            "https://",
            "example.com:99999",
            "example.com:http",
            "[::1]",
            "https://example.com/a;b",
            "https://example.com/a,b",
            "https://example.com/%zz",
            "https://example.com/?q",
            "1http://example.com",
            "exa\"mple.com",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hashes_check_length_and_alphabet() {
        let h = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
        assert_eq!(
            parse(&format!("'sha256-{h}'")).unwrap(),
            Source::sha256(h.to_owned())
        );
        assert!(Source::sha256(h).check(Directive::StyleSrc).is_ok());
        assert!(
            Source::sha256("n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg")
                .check(Directive::ScriptSrc)
                .is_ok()
        );
        let err = Source::sha384(h).check(Directive::ScriptSrc).unwrap_err();
        assert!(err.to_string().contains("length"), "{err}");
        assert!(Source::sha256("not base64!")
            .check(Directive::ScriptSrc)
            .is_err());
        let src = Source::sha256_digest([0; 32]);
        assert_eq!(
            src.to_string(),
            "'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='"
        );
        assert!(src.check(Directive::ScriptSrc).is_ok());
    }

    #[test]
    fn script_keywords_only_where_they_mean_something() {
        let err = Source::UNSAFE_INLINE.check(Directive::ImgSrc).unwrap_err();
        assert_eq!(
            err,
            ConfigError::SourceNotAllowed {
                directive: "img-src".into(),
                source_expr: "'unsafe-inline'".into()
            }
        );
        assert!(Source::sha256_digest([1; 32])
            .check(Directive::FrameAncestors)
            .is_err());
        assert!(Source::UNSAFE_INLINE.check(Directive::DefaultSrc).is_ok());
        assert!(Source::SELF.check(Directive::FrameAncestors).is_ok());
        assert!(Source::NONE.check(Directive::ObjectSrc).is_ok());
    }

    #[test]
    fn errors_name_directive_and_source() {
        let err = Source::host("bad host")
            .check(Directive::ConnectSrc)
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("connect-src") && msg.contains("bad host"),
            "{msg}"
        );
    }
}
