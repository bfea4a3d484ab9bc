//! The [`Redactor`]: a compiled, cheaply cloneable secret scanner.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use hmac::{Hmac, KeyInit as _, Mac};
use sha2::Sha256;

use crate::scan::names::{squash, DEFAULT_KEYWORDS, DEFAULT_QUALIFIERS};
use crate::scan::{
    merge, percent_decode_lossy, CustomPattern, PatternSet, Scanner, SensitiveNames, Span,
};
use crate::{ConfigError, Pattern};

/// The default replacement text.
pub const REDACTED: &str = "[REDACTED]";

/// Finds and replaces secrets in text.
///
/// Build one with [`Redactor::builder`] (or take [`Redactor::default`]) at
/// start-up and share it: scanning never allocates unless it finds a secret.
///
/// # Clone
///
/// Clones share the compiled scanner behind an [`Arc`]; cloning costs one
/// reference-count increment.
///
/// # Example
///
/// ```
/// use std::borrow::Cow;
/// use hardening_redact::Redactor;
///
/// let redactor = Redactor::default();
/// let line = "login user=alice password=hunter2 from 10.0.0.7";
/// assert_eq!(redactor.redact(line), "login user=alice password=[REDACTED] from 10.0.0.7");
///
/// // Clean text is borrowed back, not copied.
/// assert!(matches!(redactor.redact("GET /api/items 200"), Cow::Borrowed(_)));
///
/// // Field values are judged by the field's name first.
/// assert_eq!(redactor.redact_field("api_key", "k-123"), "[REDACTED]");
/// assert_eq!(redactor.redact_field("author", "Ada"), "Ada");
/// ```
#[derive(Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

struct Inner {
    scanner: Scanner,
    replacement: Box<str>,
    fingerprint_key: Option<Box<[u8]>>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("replacement", &self.inner.replacement)
            .field("fingerprint", &self.inner.fingerprint_key.is_some())
            .field("custom_patterns", &self.inner.scanner.custom.len())
            .finish_non_exhaustive()
    }
}

impl Default for Redactor {
    /// The default configuration, compiled once per process and shared.
    fn default() -> Self {
        static DEFAULT: OnceLock<Redactor> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                RedactorBuilder::new()
                    .build()
                    .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
            })
            .clone()
    }
}

impl Redactor {
    /// A builder starting from the default field names and patterns.
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder::new()
    }

    /// Replaces every secret in `text`.
    ///
    /// Returns [`Cow::Borrowed`] without allocating when nothing matches.
    /// Redaction is idempotent: redacting the output again changes nothing.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut spans = Vec::new();
        self.inner.scanner.scan(text, &mut spans);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(self.apply(text, &mut spans))
    }

    /// [`redact`](Self::redact), also replacing the byte ranges `extra`
    /// (for values known to be secret wherever they appear).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn redact_with<'a>(
        &self,
        text: &'a str,
        extra: Vec<(usize, usize)>,
    ) -> Cow<'a, str> {
        let mut spans: Vec<Span> = extra
            .into_iter()
            .map(|(start, end)| Span { start, end })
            .collect();
        self.inner.scanner.scan(text, &mut spans);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        Cow::Owned(self.apply(text, &mut spans))
    }

    /// Whether `text` contains anything [`redact`](Self::redact) would replace.
    pub fn contains_secret(&self, text: &str) -> bool {
        let mut spans = Vec::new();
        self.inner.scanner.scan(text, &mut spans);
        !spans.is_empty()
    }

    /// Redacts a named value: the whole value when `name` is a sensitive
    /// field name (see [`is_sensitive_field`](Self::is_sensitive_field)),
    /// otherwise whatever [`redact`](Self::redact) finds in it.
    pub fn redact_field<'a>(&self, name: &str, value: &'a str) -> Cow<'a, str> {
        if self.is_sensitive_field(name) {
            Cow::Owned(self.replacement_for(value).into_owned())
        } else {
            self.redact(value)
        }
    }

    /// Whether values of a field called `name` are secrets.
    ///
    /// The name is split into words (at punctuation, camelCase humps and
    /// letter/digit changes, after percent-decoding); it is sensitive when,
    /// after dropping trailing qualifier words such as `id`, `value`, `hash`
    /// or `confirmation`, its letters end with a sensitive keyword. So
    /// `userPassword`, `X-Api-Key`, `access_token` and `session_id` are
    /// sensitive; `author`, `tokenizer`, `cookiecutter` and `max_tokens`
    /// are not.
    ///
    /// ```
    /// let r = hardening_redact::Redactor::default();
    /// assert!(r.is_sensitive_field("X-Api-Key"));
    /// assert!(r.is_sensitive_field("password_confirmation"));
    /// assert!(!r.is_sensitive_field("author"));
    /// assert!(!r.is_sensitive_field("max_tokens"));
    /// ```
    pub fn is_sensitive_field(&self, name: &str) -> bool {
        self.inner.scanner.names.is_sensitive(name.as_bytes())
    }

    /// [`is_sensitive_field`](Self::is_sensitive_field) with a per-thread
    /// memo of names recently found not sensitive.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn is_sensitive_field_cached(&self, name: &str) -> bool {
        self.inner
            .scanner
            .names
            .is_sensitive_cached(name.as_bytes())
    }

    /// A process-unique id of this configuration (for per-thread caches).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn config_id(&self) -> u64 {
        self.inner.scanner.names.id()
    }

    /// Whether fingerprint mode is on.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn has_fingerprint(&self) -> bool {
        self.inner.fingerprint_key.is_some()
    }

    /// The text that replaces `secret`: the replacement text, or with a
    /// fingerprint key, the replacement with a keyed-HMAC fingerprint of
    /// the secret (`[REDACTED:ab12cd34]`), equal for equal secrets.
    pub fn replacement_for(&self, secret: &str) -> Cow<'_, str> {
        match &self.inner.fingerprint_key {
            None => Cow::Borrowed(&self.inner.replacement),
            Some(key) => {
                let mut out = String::with_capacity(self.inner.replacement.len() + 9);
                self.push_fingerprinted(&mut out, key, secret);
                Cow::Owned(out)
            }
        }
    }

    /// Redacts a request target or URL: the value of every query parameter
    /// whose (percent-decoded) name is sensitive is replaced, URLs nested
    /// (percent-encoded) inside parameter values are decoded, scrubbed and
    /// re-encoded, and the path and fragment are scanned like any text.
    ///
    /// ```
    /// let r = hardening_redact::Redactor::default();
    /// assert_eq!(
    ///     r.redact_uri("/cb?code_verifier=x&access%5Ftoken=abc&page=2"),
    ///     "/cb?code_verifier=x&access%5Ftoken=[REDACTED]&page=2",
    /// );
    /// assert_eq!(
    ///     r.redact_uri("/login?next=https%3A%2F%2Fapp%2F%3Ftoken%3Dabc"),
    ///     "/login?next=https://app/%3Ftoken%3D[REDACTED]",
    /// );
    /// ```
    pub fn redact_uri<'a>(&self, uri: &'a str) -> Cow<'a, str> {
        self.redact_uri_depth(uri, 0)
    }

    fn redact_uri_depth<'a>(&self, uri: &'a str, depth: u8) -> Cow<'a, str> {
        // Splitting, decoding, comparing and re-encoding: a few passes.
        crate::work::add(4 * uri.len() + 1);
        let (before_frag, frag) = match uri.find('#') {
            Some(i) => (&uri[..i], Some(&uri[i..])),
            None => (uri, None),
        };
        let (path, query) = match before_frag.find('?') {
            Some(i) => (&before_frag[..i], Some(&before_frag[i + 1..])),
            None => (before_frag, None),
        };
        let path_r = self.redact(path);
        let frag_r = frag.map(|f| self.redact(f));
        let mut query_r: Option<String> = None;
        if let Some(q) = query {
            let mut changed = false;
            let mut out = String::with_capacity(q.len() + 16);
            for (i, param) in q.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                let (name, value) = match param.find('=') {
                    Some(e) => (&param[..e], Some(&param[e + 1..])),
                    None => (param, None),
                };
                out.push_str(name);
                let Some(value) = value else { continue };
                out.push('=');
                if value.starts_with(self.marker()) {
                    out.push_str(value);
                } else if self.inner.scanner.names.is_sensitive(name.as_bytes()) {
                    changed = true;
                    let decoded = percent_decode_lossy(value.as_bytes());
                    out.push_str(&self.replacement_for(&decoded));
                } else {
                    let decoded = percent_decode_lossy(value.as_bytes());
                    let nested = if depth < 3 && decoded.contains("://") {
                        self.redact_uri_depth(&decoded, depth + 1)
                    } else {
                        self.redact(&decoded)
                    };
                    if nested != decoded.as_str() {
                        changed = true;
                        encode_query_value(&mut out, &nested);
                    } else {
                        out.push_str(value);
                    }
                }
            }
            if changed {
                query_r = Some(out);
            }
        }
        let unchanged = matches!(path_r, Cow::Borrowed(_))
            && query_r.is_none()
            && frag_r
                .as_ref()
                .is_none_or(|f| matches!(f, Cow::Borrowed(_)));
        if unchanged {
            return Cow::Borrowed(uri);
        }
        let mut out = String::with_capacity(uri.len() + 16);
        out.push_str(&path_r);
        if let Some(q) = query {
            out.push('?');
            out.push_str(query_r.as_deref().unwrap_or(q));
        }
        if let Some(f) = frag_r {
            out.push_str(&f);
        }
        Cow::Owned(out)
    }

    /// The replacement text without its closing `]`: text starting with it
    /// is already redacted.
    pub(crate) fn marker(&self) -> &str {
        let r = &*self.inner.replacement;
        r.strip_suffix(']').unwrap_or(r)
    }

    fn apply(&self, text: &str, spans: &mut Vec<Span>) -> String {
        crate::work::add(text.len());
        merge(spans);
        let mut out = String::with_capacity(text.len() + spans.len() * 12);
        let mut last = 0;
        for s in spans.iter() {
            let (start, end) = (floor_char(text, s.start), ceil_char(text, s.end));
            if start < last {
                continue;
            }
            out.push_str(&text[last..start]);
            match &self.inner.fingerprint_key {
                None => out.push_str(&self.inner.replacement),
                Some(key) => self.push_fingerprinted(&mut out, key, &text[start..end]),
            }
            last = end;
        }
        out.push_str(&text[last..]);
        out
    }

    fn push_fingerprinted(&self, out: &mut String, key: &[u8], secret: &str) {
        let r = &*self.inner.replacement;
        let (head, close) = match r.strip_suffix(']') {
            Some(head) => (head, "]"),
            None => (r, ""),
        };
        out.push_str(head);
        out.push(':');
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
            // HMAC accepts keys of any length; keep the plain text if not.
            out.push_str(close);
            return;
        };
        mac.update(secret.as_bytes());
        let tag = mac.finalize().into_bytes();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for b in &tag[..4] {
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
        out.push_str(close);
    }
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Percent-encodes a query parameter value, leaving the characters that are
/// safe in a query (and the brackets of `[REDACTED]`) readable.
fn encode_query_value(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b':'
                    | b'/'
                    | b'@'
                    | b'!'
                    | b'$'
                    | b'('
                    | b')'
                    | b'*'
                    | b','
                    | b';'
                    | b'['
                    | b']'
            )
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Configures a [`Redactor`]; every setting is checked by
/// [`build`](Self::build).
///
/// # Example
///
/// ```
/// use hardening_redact::{Pattern, Redactor};
///
/// let redactor = Redactor::builder()
///     .sensitive_field("pin")
///     .remove_sensitive_field("session")
///     .disable(Pattern::CardNumber)
///     .pattern("internal token", r"itk_[a-z0-9]{16}")
///     .build()
///     .unwrap();
/// assert_eq!(redactor.redact("pin=1234 session=abc"), "pin=[REDACTED] session=abc");
/// assert_eq!(redactor.redact("use itk_0123456789abcdef"), "use [REDACTED]");
///
/// // A bad pattern is a typed error that names it.
/// let err = Redactor::builder().pattern("broken", "(").build().unwrap_err();
/// assert!(err.to_string().contains("broken"));
/// ```
#[derive(Debug)]
pub struct RedactorBuilder {
    keywords: Vec<String>,
    qualifiers: Vec<String>,
    patterns: PatternSet,
    custom: Vec<(String, String)>,
    replacement: String,
    fingerprint_key: Option<Vec<u8>>,
    error: Option<ConfigError>,
}

impl Default for RedactorBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RedactorBuilder {
    /// The default sensitive field names, all built-in patterns, `[REDACTED]`.
    pub fn new() -> Self {
        RedactorBuilder {
            keywords: DEFAULT_KEYWORDS.iter().map(|s| s.to_string()).collect(),
            qualifiers: DEFAULT_QUALIFIERS.iter().map(|s| s.to_string()).collect(),
            patterns: PatternSet::ALL,
            custom: Vec::new(),
            replacement: REDACTED.to_owned(),
            fingerprint_key: None,
            error: None,
        }
    }

    fn fail(mut self, err: ConfigError) -> Self {
        self.error.get_or_insert(err);
        self
    }

    /// Adds a sensitive field-name keyword (matched case- and
    /// separator-insensitively at the end of names, as described on
    /// [`Redactor::is_sensitive_field`]).
    pub fn sensitive_field(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        if squash(&name).len() < 2 {
            return self.fail(ConfigError::InvalidFieldName { name });
        }
        self.keywords.push(name);
        self
    }

    /// Adds several sensitive field-name keywords.
    pub fn sensitive_fields<I, S>(self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        names.into_iter().fold(self, |b, n| b.sensitive_field(n))
    }

    /// Removes a keyword (compared case- and separator-insensitively, so
    /// `"API-Key"` removes `api_key`). Removing one that is not in the list
    /// is an error at [`build`](Self::build).
    pub fn remove_sensitive_field(mut self, name: &str) -> Self {
        let target = squash(name);
        let before = self.keywords.len();
        self.keywords.retain(|k| squash(k) != target);
        if self.keywords.len() == before {
            return self.fail(ConfigError::UnknownFieldName {
                name: name.to_owned(),
            });
        }
        self
    }

    /// Removes every keyword (add your own with
    /// [`sensitive_field`](Self::sensitive_field)).
    pub fn clear_sensitive_fields(mut self) -> Self {
        self.keywords.clear();
        self
    }

    /// Adds a qualifier word: a trailing word that does not change what a
    /// name holds (defaults include `id`, `value`, `hash`, `confirmation`).
    pub fn name_qualifier(mut self, word: impl Into<String>) -> Self {
        let word = word.into();
        if squash(&word).is_empty() {
            return self.fail(ConfigError::InvalidFieldName { name: word });
        }
        self.qualifiers.push(word);
        self
    }

    /// Turns a built-in pattern on (they all are by default).
    pub fn enable(mut self, pattern: Pattern) -> Self {
        self.patterns.insert(pattern);
        self
    }

    /// Turns a built-in pattern off.
    pub fn disable(mut self, pattern: Pattern) -> Self {
        self.patterns.remove(pattern);
        self
    }

    /// Adds a custom pattern (a [`regex`] regular expression). If it has a
    /// capture group named `secret`, only that group is replaced; otherwise
    /// the whole match is.
    ///
    /// Custom patterns run one after another after the built-in scan, so
    /// each one costs a pass over the text; give them a literal prefix so
    /// the regex engine can skip clean text quickly.
    pub fn pattern(mut self, name: impl Into<String>, regex: impl Into<String>) -> Self {
        let name = name.into();
        if self.custom.iter().any(|(n, _)| *n == name) {
            return self.fail(ConfigError::DuplicatePattern { name });
        }
        self.custom.push((name, regex.into()));
        self
    }

    /// Sets the replacement text (default `[REDACTED]`). Text that already
    /// starts with it (up to a closing `]`) is left alone, which keeps
    /// redaction idempotent.
    pub fn replacement(mut self, text: impl Into<String>) -> Self {
        self.replacement = text.into();
        self
    }

    /// Turns on fingerprint mode: each secret becomes
    /// `[REDACTED:xxxxxxxx]`, the first 4 bytes of HMAC-SHA256(key, secret)
    /// in hex, so equal secrets can be correlated across lines without
    /// being revealed. The key must be at least 16 bytes; keep it secret.
    pub fn fingerprint_key(mut self, key: impl AsRef<[u8]>) -> Self {
        let key = key.as_ref();
        if key.len() < 16 {
            return self.fail(ConfigError::FingerprintKeyTooShort { len: key.len() });
        }
        self.fingerprint_key = Some(key.to_vec());
        self
    }

    /// Compiles the redactor.
    ///
    /// # Errors
    ///
    /// The first invalid setting, as a [`ConfigError`] naming it: an
    /// invalid or empty-matching custom pattern, a duplicate pattern name, a
    /// field name without letters, removing an unknown field name, an empty
    /// or multi-line replacement, a fingerprint key under 16 bytes.
    pub fn build(self) -> Result<Redactor, ConfigError> {
        if let Some(err) = self.error {
            return Err(err);
        }
        if self.replacement.is_empty() || self.replacement.contains(['\n', '\r']) {
            return Err(ConfigError::InvalidReplacement {
                text: self.replacement,
            });
        }
        let mut custom = Vec::with_capacity(self.custom.len());
        for (name, src) in &self.custom {
            let regex = regex::Regex::new(src).map_err(|e| ConfigError::InvalidPattern {
                name: name.clone(),
                source: Box::new(e),
            })?;
            if regex.is_match("") {
                return Err(ConfigError::EmptyMatchPattern { name: name.clone() });
            }
            let group = regex.capture_names().position(|n| n == Some("secret"));
            custom.push(CustomPattern { regex, group });
        }
        let mut keywords: Vec<Vec<u8>> = self.keywords.iter().map(|k| squash(k)).collect();
        keywords.sort();
        keywords.dedup();
        let qualifiers: Vec<Vec<u8>> = self.qualifiers.iter().map(|k| squash(k)).collect();
        let names = SensitiveNames::new(&keywords, &qualifiers);
        let scanner = Scanner::new(names, self.patterns, custom, &self.replacement);
        Ok(Redactor {
            inner: Arc::new(Inner {
                scanner,
                replacement: self.replacement.into_boxed_str(),
                fingerprint_key: self.fingerprint_key.map(Vec::into_boxed_slice),
            }),
        })
    }
}
