//! The scanning engine: finds the byte ranges of secrets in text.
//!
//! Clean text is scanned in three cheap passes and nothing else runs on it:
//!
//! 1. an Aho-Corasick (SIMD "Teddy") search for the literal anchors of
//!    prefixed token formats (`eyJ`, `AKIA`, `ghp_`, `sk_live_`, `xoxb-`,
//!    `-----BEGIN`, `Bearer `, `Basic `, `%3A%2F%2F`, ...); each hit is
//!    checked by a small hand-written verifier;
//! 2. a `memchr2` pass over `=` and `:`: the key in front of each separator
//!    is tested with a three-byte tail filter, and only keys that pass are
//!    decoded and matched against the sensitive names; `://` starts the
//!    URL userinfo check;
//! 3. a skip-scan for payment card numbers that looks at every 13th byte and
//!    expands only around digits, then checks issuer prefix and Luhn.
//!
//! Custom regex patterns, if any, run after these.

mod card;
pub(crate) mod names;
mod tokens;
mod values;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::Regex;

use crate::Pattern;
pub(crate) use names::SensitiveNames;

/// A byte range of the input that must not be printed, and the rule that
/// found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) rule: Rule,
}

/// Which rule found a span, for the redactor's observer: a built-in
/// [`Pattern`] (its position in [`Pattern::ALL`]), [`FIELD_NAME`], or a
/// custom pattern ([`custom_rule`]).
pub(crate) type Rule = u16;

/// A value masked because of the name of its field.
pub(crate) const FIELD_NAME: Rule = Pattern::ALL.len() as Rule;

/// The rule of built-in pattern `p`.
pub(crate) const fn pattern_rule(p: Pattern) -> Rule {
    p as Rule
}

/// The rule of the custom pattern at `index`.
pub(crate) const fn custom_rule(index: usize) -> Rule {
    FIELD_NAME + 1 + index as Rule
}

impl Anchor {
    /// The pattern an anchor belongs to.
    fn pattern(self) -> Pattern {
        match self {
            Anchor::Bearer | Anchor::Basic => Pattern::AuthScheme,
            Anchor::Jwt => Pattern::Jwt,
            Anchor::Aws => Pattern::AwsAccessKeyId,
            Anchor::GitHub | Anchor::GitHubPat => Pattern::GitHubToken,
            Anchor::Stripe | Anchor::StripeWebhook => Pattern::StripeKey,
            Anchor::Slack => Pattern::SlackToken,
            Anchor::PrivateKey => Pattern::PrivateKey,
            Anchor::EncodedUrl => Pattern::QueryParam,
        }
    }
}

/// A user-supplied regular expression.
#[derive(Debug, Clone)]
pub(crate) struct CustomPattern {
    pub(crate) regex: Regex,
    /// Index of the capture group named `secret`, if the pattern has one.
    pub(crate) group: Option<usize>,
}

/// What a literal anchor starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Bearer,
    Basic,
    Jwt,
    Aws,
    GitHub,
    GitHubPat,
    Stripe,
    StripeWebhook,
    Slack,
    PrivateKey,
    EncodedUrl,
}

/// How far a walk of one kind has already read: a later walk of the same
/// kind that starts inside `[start, end]` stops at `end` too (the walks
/// memoized this way stop on a byte test that does not depend on where
/// they started), so it is answered without reading the bytes again. This
/// is what keeps the value walks of overlapping `key=value` pairs
/// (`password=password=password=...`) linear instead of quadratic.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Reach {
    start: usize,
    end: usize,
    valid: bool,
}

impl Reach {
    /// The end of the walk from `start`, from memory when an earlier walk
    /// already covered `start`.
    #[inline]
    pub(crate) fn walk(&mut self, start: usize, f: impl FnOnce(usize) -> usize) -> usize {
        if self.valid && self.start <= start && start <= self.end {
            return self.end;
        }
        let end = f(start);
        *self = Reach {
            start,
            end,
            valid: true,
        };
        end
    }

    /// Like [`walk`](Self::walk) for walks whose `end` is exclusive and may
    /// start a new walk (`{...}{...}`): only starts strictly inside count.
    #[inline]
    pub(crate) fn walk_inside(&mut self, start: usize, f: impl FnOnce(usize) -> usize) -> usize {
        if self.valid && self.start <= start && start < self.end {
            return self.end;
        }
        let end = f(start);
        *self = Reach {
            start,
            end,
            valid: true,
        };
        end
    }
}

/// The walk memos of one pass over one text (see [`Reach`]).
#[derive(Debug, Default)]
pub(crate) struct Reaches {
    pub(crate) unquoted: Reach,
    pub(crate) encoded: Reach,
    pub(crate) auth_credential: Reach,
    pub(crate) cookie: Reach,
    pub(crate) escaped_quoted: Reach,
    pub(crate) balanced: Reach,
    pub(crate) slack_path: Reach,
    /// One per [`Anchor`] kind, for the token-alphabet runs.
    pub(crate) token: [Reach; 11],
    /// `(searched from, first "-----END " at or after it)`.
    pub(crate) pem_end: Option<(usize, Option<usize>)>,
}

/// Which built-in patterns are on, as a bit set over [`Pattern`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PatternSet(u32);

impl PatternSet {
    pub(crate) const ALL: PatternSet = PatternSet(u32::MAX);

    pub(crate) fn contains(self, p: Pattern) -> bool {
        self.0 & (1 << p as u32) != 0
    }
    pub(crate) fn insert(&mut self, p: Pattern) {
        self.0 |= 1 << p as u32;
    }
    pub(crate) fn remove(&mut self, p: Pattern) {
        self.0 &= !(1 << p as u32);
    }
}

/// Most nested URL values are decoded and re-scanned this deep.
const MAX_DEPTH: u8 = 3;

/// The compiled scanner shared by all clones of a `Redactor`.
#[derive(Debug)]
pub(crate) struct Scanner {
    pub(crate) names: SensitiveNames,
    pub(crate) patterns: PatternSet,
    anchors: Option<AhoCorasick>,
    anchor_kinds: Vec<Anchor>,
    pub(crate) custom: Vec<CustomPattern>,
    /// The replacement text up to (not including) a closing `]`: a value
    /// that starts with it is already redacted.
    pub(crate) marker: Box<[u8]>,
}

impl Scanner {
    pub(crate) fn new(
        names: SensitiveNames,
        patterns: PatternSet,
        custom: Vec<CustomPattern>,
        marker: &str,
    ) -> Self {
        let mut lits: Vec<&'static str> = Vec::new();
        let mut anchor_kinds = Vec::new();
        let mut add = |p: Pattern, anchor: Anchor, words: &[&'static str]| {
            if patterns.contains(p) {
                for w in words {
                    lits.push(w);
                    anchor_kinds.push(anchor);
                }
            }
        };
        add(
            Pattern::AuthScheme,
            Anchor::Bearer,
            &["Bearer ", "bearer ", "BEARER "],
        );
        add(
            Pattern::AuthScheme,
            Anchor::Basic,
            &["Basic ", "basic ", "BASIC "],
        );
        add(Pattern::Jwt, Anchor::Jwt, &["eyJ"]);
        add(
            Pattern::AwsAccessKeyId,
            Anchor::Aws,
            &["AKIA", "ASIA", "ABIA", "ACCA"],
        );
        add(
            Pattern::GitHubToken,
            Anchor::GitHub,
            &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        );
        add(Pattern::GitHubToken, Anchor::GitHubPat, &["github_pat_"]);
        add(
            Pattern::StripeKey,
            Anchor::Stripe,
            &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        );
        add(Pattern::StripeKey, Anchor::StripeWebhook, &["whsec_"]);
        add(
            Pattern::SlackToken,
            Anchor::Slack,
            &[
                "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-",
            ],
        );
        add(Pattern::PrivateKey, Anchor::PrivateKey, &["-----BEGIN "]);
        add(
            Pattern::QueryParam,
            Anchor::EncodedUrl,
            &["%3A%2F%2F", "%3a%2f%2f"],
        );
        let anchors = if lits.is_empty() {
            None
        } else {
            // Leftmost-first semantics let the automaton use its SIMD
            // ("Teddy") prefilter; no anchor is a prefix of another, so it
            // reports the same hits as standard semantics would.
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&lits)
                .ok()
                .or_else(|| AhoCorasick::new(&lits).ok())
        };
        let marker = marker.strip_suffix(']').unwrap_or(marker);
        Scanner {
            names,
            patterns,
            anchors,
            anchor_kinds,
            custom,
            marker: marker.as_bytes().into(),
        }
    }

    /// Appends the spans of every secret found in `text` to `out`
    /// (unsorted, possibly overlapping).
    pub(crate) fn scan(&self, text: &str, out: &mut Vec<Span>) {
        self.scan_depth(text, out, 0);
    }

    fn scan_depth(&self, text: &str, out: &mut Vec<Span>, depth: u8) {
        let bytes = text.as_bytes();
        let mut reach = Reaches::default();
        let kv = self.patterns.contains(Pattern::KeyValue);
        let query = self.patterns.contains(Pattern::QueryParam);
        let userinfo = self.patterns.contains(Pattern::UrlUserinfo);
        if let Some(ac) = &self.anchors {
            crate::work::add(bytes.len());
            // End of the last encoded-URL value decoded and scanned: later
            // anchors inside the same value add nothing (each byte is
            // decoded and re-scanned at most once per level).
            let mut decoded_until = 0;
            for m in ac.find_iter(bytes) {
                crate::work::add(1);
                let kind = self.anchor_kinds[m.pattern().as_usize()];
                match kind {
                    Anchor::EncodedUrl => {
                        if depth < MAX_DEPTH && m.start() >= decoded_until {
                            decoded_until = self.encoded_url(text, m.start(), out, depth);
                        }
                    }
                    _ => {
                        if let Some(span) = tokens::verify(
                            kind,
                            bytes,
                            m.start(),
                            m.end(),
                            &self.marker,
                            &mut reach,
                        ) {
                            out.push(Span {
                                rule: pattern_rule(kind.pattern()),
                                ..span
                            });
                        }
                    }
                }
            }
        }
        if kv || query || userinfo {
            crate::work::add(bytes.len());
            for_each_separator(bytes, |p| {
                crate::work::add(1);
                if bytes[p] == b'%' {
                    // A percent-encoded `=` or `:` (`%3D`, `%3A`, not the
                    // `%3A%2F%2F` of an encoded URL): a separator in a
                    // path or an encoded value.
                    let sep = match bytes.get(p + 1..p + 3) {
                        Some(b"3D" | b"3d") => b'=',
                        Some(b"3A" | b"3a") if !is_encoded_slashes(&bytes[p + 3..]) => b':',
                        _ => return,
                    };
                    if kv || query {
                        values::key_value(
                            self,
                            bytes,
                            values::Separator {
                                at: p,
                                after: p + 3,
                                byte: sep,
                                encoded: true,
                            },
                            kv,
                            query,
                            &mut reach,
                            out,
                        );
                    }
                } else if bytes[p] == b':'
                    && bytes.get(p + 1) == Some(&b'/')
                    && bytes.get(p + 2) == Some(&b'/')
                {
                    if userinfo {
                        values::url_userinfo(bytes, p, &self.marker, &mut reach, out);
                    }
                } else if kv || query {
                    values::key_value(
                        self,
                        bytes,
                        values::Separator {
                            at: p,
                            after: p + 1,
                            byte: bytes[p],
                            encoded: false,
                        },
                        kv,
                        query,
                        &mut reach,
                        out,
                    );
                }
            });
        }
        if self.patterns.contains(Pattern::CardNumber) {
            card::scan(bytes, out);
        }
        for (index, pat) in self.custom.iter().enumerate() {
            let rule = custom_rule(index);
            // The regex crate runs in time linear in the text.
            crate::work::add(bytes.len());
            match pat.group {
                Some(g) => {
                    for caps in pat.regex.captures_iter(text) {
                        if let Some(m) = caps.get(g) {
                            if !m.is_empty() && !bytes[m.start()..].starts_with(&self.marker) {
                                out.push(Span {
                                    start: m.start(),
                                    end: m.end(),
                                    rule,
                                });
                            }
                        }
                    }
                }
                None => {
                    for m in pat.regex.find_iter(text) {
                        if !m.is_empty() && !bytes[m.start()..].starts_with(&self.marker) {
                            out.push(Span {
                                start: m.start(),
                                end: m.end(),
                                rule,
                            });
                        }
                    }
                }
            }
        }
    }

    /// A percent-encoded URL (`https%3A%2F%2F...`) inside a parameter value:
    /// decode the whole value and scan it; if it hides a secret, the value
    /// goes. Returns the end of the value.
    fn encoded_url(&self, text: &str, at: usize, out: &mut Vec<Span>, depth: u8) -> usize {
        let bytes = text.as_bytes();
        // A table, not a `match`: these walks read whole values byte by
        // byte, and a jump per byte costs several times a load.
        static DELIM: [bool; 256] = byte_class(b" \t\n\x0c\r\"'&=?<>`");
        let is_delim = |b: u8| DELIM[b as usize];
        let mut start = at;
        while start > 0 && !is_delim(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at;
        while end < bytes.len() && !is_delim(bytes[end]) {
            end += 1;
        }
        crate::work::add(end - start);
        if bytes[start..].starts_with(&self.marker) {
            return end;
        }
        let decoded = percent_decode_lossy(&bytes[start..end]);
        let mut inner = Vec::new();
        self.scan_depth(&decoded, &mut inner, depth + 1);
        if !inner.is_empty() {
            out.push(Span {
                start,
                end,
                rule: pattern_rule(Pattern::QueryParam),
            });
        }
        end
    }
}

/// Whether `rest` starts with an encoded `//`.
#[inline]
fn is_encoded_slashes(rest: &[u8]) -> bool {
    rest.len() >= 6 && rest[..6].eq_ignore_ascii_case(b"%2F%2F")
}

/// Calls `f` with the index of every `=`, `:` and `%` in `bytes`.
///
/// Log lines hold a separator every dozen bytes or so, too dense for
/// `memchr2`'s per-hit restart; this SWAR loop tests eight bytes per step
/// and visits hits from a bit mask.
#[inline]
fn for_each_separator(bytes: &[u8], mut f: impl FnMut(usize)) {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    #[inline(always)]
    fn zero_bytes(y: u64) -> u64 {
        // High bit set in (at least) every byte of `y` that is zero; may
        // also flag a byte above a zero byte, so hits are re-checked.
        y.wrapping_sub(LO) & !y & HI
    }
    let n = bytes.len();
    let mut i = 0;
    while i + 8 <= n {
        let mut chunk = [0u8; 8];
        chunk.copy_from_slice(&bytes[i..i + 8]);
        let x = u64::from_le_bytes(chunk);
        let mut m = zero_bytes(x ^ (LO * u64::from(b'=')))
            | zero_bytes(x ^ (LO * u64::from(b':')))
            | zero_bytes(x ^ (LO * u64::from(b'%')));
        while m != 0 {
            let p = i + (m.trailing_zeros() / 8) as usize;
            if matches!(bytes[p], b'=' | b':' | b'%') {
                f(p);
            }
            m &= m - 1;
        }
        i += 8;
    }
    while i < n {
        if matches!(bytes[i], b'=' | b':' | b'%') {
            f(i);
        }
        i += 1;
    }
}

/// A 256-entry membership table for `members` (for byte-class tests in
/// loops that walk values byte by byte).
pub(crate) const fn byte_class(members: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < members.len() {
        t[members[i] as usize] = true;
        i += 1;
    }
    t
}

/// Percent-decodes bytes into a `String`, replacing invalid UTF-8.
pub(crate) fn percent_decode_lossy(input: &[u8]) -> String {
    crate::work::add(input.len());
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        // Copy the run up to the next `%` or `+` in one go (a plain loop:
        // in hostile input escapes come every three bytes, too dense for
        // `memchr`'s per-call setup).
        let mut j = i;
        while j < input.len() && input[j] != b'%' && input[j] != b'+' {
            j += 1;
        }
        out.extend_from_slice(&input[i..j]);
        i = j;
        if i == input.len() {
            break;
        }
        let b = input[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).and_then(|&h| names::hex_val(h)),
                input.get(i + 2).and_then(|&l| names::hex_val(l)),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Sorts spans and merges the ones that overlap or touch.
pub(crate) fn merge(spans: &mut Vec<Span>) {
    crate::work::add(spans.len());
    spans.sort_unstable();
    let mut w = 0;
    for r in 0..spans.len() {
        let s = spans[r];
        if w > 0 && s.start <= spans[w - 1].end {
            if s.end > spans[w - 1].end {
                spans[w - 1].end = s.end;
            }
        } else {
            spans[w] = s;
            w += 1;
        }
    }
    spans.truncate(w);
}
