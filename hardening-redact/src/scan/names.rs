//! Which field names are sensitive.
//!
//! # The rule
//!
//! A name is split into words at every character that is not an ASCII letter
//! or digit, at camelCase humps (`apiKey`, `APIKey`) and between letters and
//! digits (`oauth2token`). Percent-escapes are decoded first, so
//! `api%5Fkey` is `api_key`. The name is sensitive when, after dropping any
//! number of trailing *qualifier* words (`id`, `value`, `hash`, `confirmation`,
//! `header`, `key`, ...), the remaining letters (lower-cased, separators
//! removed) **end with** a keyword.
//!
//! So `password`, `user_password`, `userPassword`, `new-password`,
//! `password_confirmation`, `accessToken`, `X-Api-Key`, `session_id` and
//! `PHPSESSID` are sensitive, while `author`, `authentic`, `tokenizer`,
//! `cookiecutter`, `max_tokens`, `token_count` and `session_count` are not:
//! a keyword must be the last meaningful word of the name, not a fragment of
//! a longer word or the subject of a counter.

/// The default sensitive keywords (matched as described in the module docs).
pub(crate) const DEFAULT_KEYWORDS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "secrets",
    "token",
    "api_key",
    "api_keys",
    "access_key",
    "auth",
    "authorization",
    "credential",
    "credentials",
    "cookie",
    "cookies",
    "session",
    "sessid",
    "private_key",
    "bearer",
    "otp",
    "ssn",
    "card_number",
    "card_no",
    "cc_number",
    "ccnum",
    "credit_card",
    "cvv",
    "cvv2",
    "cvc",
    "signature",
    "sig",
];

/// Trailing words that do not change what a name holds: `session_id` is a
/// session, `password_hash` is a password.
pub(crate) const DEFAULT_QUALIFIERS: &[&str] = &[
    "id",
    "ids",
    "key",
    "value",
    "hash",
    "confirmation",
    "confirm",
    "header",
    "string",
    "str",
    "b64",
    "base64",
    "hex",
    "raw",
    "enc",
    "encrypted",
    "plain",
    "plaintext",
    "text",
    "data",
    "new",
    "old",
    "current",
    "input",
    "field",
    "param",
    "base",
];

/// Longest name (after percent-decoding) examined; longer names are judged by
/// their last `MAX_NAME` bytes.
const MAX_NAME: usize = 96;
const MAX_WORDS: usize = 32;

/// Keys up to this long are remembered when they are not sensitive.
const CACHE_KEY: usize = 30;
const CACHE_SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct CacheSlot {
    owner: u64,
    sensitive: bool,
    len: u8,
    key: [u8; CACHE_KEY],
}

thread_local! {
    /// Per-thread memo of recent verdicts, keyed by the exact bytes of the
    /// key (so a cached verdict is always the verdict for that key): log
    /// lines repeat the same few keys over and over.
    static VERDICTS: RefCell<[CacheSlot; CACHE_SLOTS]> = const {
        RefCell::new([CacheSlot { owner: 0, sensitive: false, len: 0, key: [0; CACHE_KEY] }; CACHE_SLOTS])
    };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The compiled set of sensitive keywords.
#[derive(Debug)]
pub(crate) struct SensitiveNames {
    /// Distinguishes this set's entries in the per-thread cache.
    id: u64,
    /// Squashed lower-case keywords grouped by their last byte.
    by_last: Vec<Vec<Box<[u8]>>>,
    /// Squashed lower-case qualifier words.
    qualifiers: Vec<Box<[u8]>>,
    /// Hashed 3-byte tails that a sensitive name can end with.
    tails3: Box<[u64; 1024]>,
    /// 2-byte tails for keywords / qualifiers shorter than 3 bytes.
    tails2: Box<[u64; 1024]>,
}

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Lower-cases and removes everything that is not an ASCII letter or digit.
pub(crate) fn squash(name: &str) -> Vec<u8> {
    name.bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_lowercase())
        .collect()
}

#[inline]
fn tail_index3(a: u8, b: u8, c: u8) -> usize {
    // Five bits per byte: exact for lower-case letters.
    ((a as usize & 31) << 10) | ((b as usize & 31) << 5) | (c as usize & 31)
}

#[inline]
fn tail_index2(a: u8, b: u8) -> usize {
    ((a as usize) << 7 ^ (b as usize)) & 0xffff
}

#[inline]
fn bit(set: &[u64; 1024], i: usize) -> bool {
    set[i >> 6] & (1 << (i & 63)) != 0
}

#[inline]
fn set_bit(set: &mut [u64; 1024], i: usize) {
    set[i >> 6] |= 1 << (i & 63);
}

impl SensitiveNames {
    /// Builds the matcher from squashed keywords (non-empty, lower-case alnum).
    pub(crate) fn new(keywords: &[Vec<u8>], qualifiers: &[Vec<u8>]) -> Self {
        let mut by_last: Vec<Vec<Box<[u8]>>> = vec![Vec::new(); 256];
        let mut tails3 = Box::new([0u64; 1024]);
        let mut tails2 = Box::new([0u64; 1024]);
        let add_tail = |w: &[u8], tails3: &mut [u64; 1024], tails2: &mut [u64; 1024]| {
            let n = w.len();
            if n >= 3 {
                set_bit(tails3, tail_index3(w[n - 3], w[n - 2], w[n - 1]));
            } else if n == 2 {
                set_bit(tails2, tail_index2(w[0], w[1]));
            } else {
                // A one-letter word: every tail ending in it must be checked.
                for a in 0..=255u8 {
                    set_bit(tails2, tail_index2(a, w[0]));
                }
            }
        };
        for kw in keywords {
            if let Some(&last) = kw.last() {
                by_last[last as usize].push(kw.clone().into_boxed_slice());
                add_tail(kw, &mut tails3, &mut tails2);
            }
        }
        for q in qualifiers {
            add_tail(q, &mut tails3, &mut tails2);
        }
        SensitiveNames {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            by_last,
            qualifiers: qualifiers
                .iter()
                .map(|q| q.clone().into_boxed_slice())
                .collect(),
            tails3,
            tails2,
        }
    }

    /// A fast necessary condition, given the last (up to) three lower-cased
    /// alphanumeric bytes of a name, oldest first. `false` means the name is
    /// certainly not sensitive.
    #[inline]
    pub(crate) fn tail_may_match(&self, tail: &[u8]) -> bool {
        match *tail {
            [a, b, c] => {
                bit(&self.tails3, tail_index3(a, b, c)) || bit(&self.tails2, tail_index2(b, c))
            }
            [b, c] => bit(&self.tails2, tail_index2(b, c)) || self.short_keyword_exists(tail),
            _ => false,
        }
    }

    fn short_keyword_exists(&self, tail: &[u8]) -> bool {
        self.by_last[tail[tail.len() - 1] as usize]
            .iter()
            .any(|k| k.len() <= tail.len())
    }

    /// A process-unique id of this configuration (for per-thread caches).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// [`is_sensitive`](Self::is_sensitive), remembering the verdict for
    /// short keys in a small per-thread cache.
    pub(crate) fn is_sensitive_cached(&self, key: &[u8]) -> bool {
        if key.len() > CACHE_KEY {
            return self.is_sensitive(key);
        }
        let mut h: u32 = 0x811c_9dc5;
        for &b in key {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        let slot = (h as usize ^ (h as usize >> 7)) % CACHE_SLOTS;
        let hit = VERDICTS
            .try_with(|c| {
                c.try_borrow().ok().and_then(|c| {
                    let s = &c[slot];
                    (s.owner == self.id
                        && usize::from(s.len) == key.len()
                        && s.key[..key.len()] == *key)
                        .then_some(s.sensitive)
                })
            })
            .ok()
            .flatten();
        if let Some(verdict) = hit {
            return verdict;
        }
        let sensitive = self.is_sensitive(key);
        let _ = VERDICTS.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                let s = &mut c[slot];
                s.owner = self.id;
                s.sensitive = sensitive;
                s.len = key.len() as u8;
                s.key[..key.len()].copy_from_slice(key);
            }
        });
        sensitive
    }

    /// Whether `name` is sensitive (see the module docs for the rule).
    pub(crate) fn is_sensitive(&self, name: &[u8]) -> bool {
        crate::work::add(name.len().min(DECODE_WINDOW) + MAX_NAME);
        let mut decoded = [0u8; MAX_NAME];
        let name = if name.iter().any(|&b| b == b'%' || b == b'\\') {
            let n = decode_name_tail(name, &mut decoded);
            &decoded[..n]
        } else if name.len() > MAX_NAME {
            &name[name.len() - MAX_NAME..]
        } else {
            name
        };

        // Squash into lower-case alnum bytes, remembering where words start.
        let mut sq = [0u8; MAX_NAME];
        let mut len = 0;
        let mut starts = [0u8; MAX_WORDS];
        let mut words = 0;
        let mut prev: u8 = 0;
        for (i, &b) in name.iter().enumerate() {
            if !b.is_ascii_alphanumeric() {
                prev = 0;
                continue;
            }
            let next = name.get(i + 1).copied().unwrap_or(0);
            let boundary = prev == 0
                || (b.is_ascii_uppercase() && (prev.is_ascii_lowercase() || prev.is_ascii_digit()))
                || (b.is_ascii_uppercase()
                    && prev.is_ascii_uppercase()
                    && next.is_ascii_lowercase())
                || (b.is_ascii_digit() != prev.is_ascii_digit());
            if boundary {
                if words == MAX_WORDS {
                    // Keep the last words: shift out the oldest.
                    starts.copy_within(1.., 0);
                    words -= 1;
                }
                starts[words] = len as u8;
                words += 1;
            }
            sq[len] = b.to_ascii_lowercase();
            len += 1;
            prev = b;
        }
        let sq = &sq[..len];

        let mut end = len;
        let mut w = words;
        loop {
            if end == 0 {
                return false;
            }
            let head = &sq[..end];
            if self.by_last[head[end - 1] as usize]
                .iter()
                .any(|k| head.ends_with(k))
            {
                return true;
            }
            if w == 0 {
                return false;
            }
            let start = starts[w - 1] as usize;
            let word = &sq[start..end];
            if !self.qualifiers.iter().any(|q| **q == *word) {
                return false;
            }
            end = start;
            w -= 1;
        }
    }
}

/// How many bytes at the end of a name are decoded: enough for the last
/// `MAX_NAME` characters even if each is a six-byte `\\uXXXX` escape, plus
/// two for an escape cut at the window's start.
const DECODE_WINDOW: usize = 6 * (MAX_NAME + 2);

/// Decodes the end of a field name into `out`: percent-escapes (`%5F`, `+`)
/// and then JSON / Rust unicode escapes (`\\u0077`, `\\u{77}`, after any
/// number of backslashes, so doubly escaped names decode too); a non-ASCII
/// character or another backslash becomes a word break. Keeps the last
/// `out.len()` decoded bytes; returns how many were written.
///
/// Only the last [`DECODE_WINDOW`] bytes of the input are read, so a long
/// name costs no more than a short one.
fn decode_name_tail(input: &[u8], out: &mut [u8; MAX_NAME]) -> usize {
    let input = &input[input.len().saturating_sub(DECODE_WINDOW)..];
    let mut pct = [0u8; DECODE_WINDOW];
    let mut n = 0;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        let (byte, step) = match b {
            b'%' => match (
                input.get(i + 1).and_then(|&h| hex_val(h)),
                input.get(i + 2).and_then(|&l| hex_val(l)),
            ) {
                (Some(h), Some(l)) => (h << 4 | l, 3),
                _ => (b, 1),
            },
            b'+' => (b' ', 1),
            _ => (b, 1),
        };
        pct[n] = byte;
        n += 1;
        i += step;
    }
    let pct = &pct[..n];
    let mut dec = [0u8; DECODE_WINDOW];
    let mut m = 0;
    let mut i = 0;
    while i < pct.len() {
        if pct[i] != b'\\' {
            dec[m] = pct[i];
            m += 1;
            i += 1;
            continue;
        }
        while i < pct.len() && pct[i] == b'\\' {
            i += 1;
        }
        let (ch, step) = unicode_escape(&pct[i..]);
        dec[m] = match ch {
            Some(c) if c < 0x80 => c as u8,
            _ => b' ',
        };
        m += 1;
        i += step;
    }
    let start = m.saturating_sub(MAX_NAME);
    let len = m - start;
    out[..len].copy_from_slice(&dec[start..m]);
    len
}

/// A `uXXXX` or `u{X...}` escape body at the start of `s` (after its
/// backslashes): the code point and the bytes it takes, or `(None, 0)`.
fn unicode_escape(s: &[u8]) -> (Option<u32>, usize) {
    if s.first() != Some(&b'u') {
        return (None, 0);
    }
    let hex = |d: &[u8]| {
        d.iter()
            .try_fold(0u32, |acc, &h| hex_val(h).map(|v| acc << 4 | u32::from(v)))
    };
    if s.get(1) == Some(&b'{') {
        if let Some(close) = s.iter().take(10).position(|&b| b == b'}') {
            if close > 2 {
                if let Some(v) = hex(&s[2..close]) {
                    return (Some(v), close + 1);
                }
            }
        }
        return (None, 0);
    }
    match s.get(1..5).and_then(hex) {
        Some(v) => (Some(v), 5),
        None => (None, 0),
    }
}

#[inline]
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_names() -> SensitiveNames {
        let kws: Vec<Vec<u8>> = DEFAULT_KEYWORDS.iter().map(|k| squash(k)).collect();
        let qs: Vec<Vec<u8>> = DEFAULT_QUALIFIERS.iter().map(|k| squash(k)).collect();
        SensitiveNames::new(&kws, &qs)
    }

    fn tail_ok(names: &SensitiveNames, name: &str) -> bool {
        let sq = squash(name);
        let t = &sq[sq.len().saturating_sub(3)..];
        names.tail_may_match(t)
    }

    #[test]
    fn sensitive_names() {
        let names = default_names();
        for name in [
            "password",
            "Password",
            "PASSWORD",
            "user_password",
            "userPassword",
            "new-password",
            "password_confirmation",
            "passwordHash",
            "db.password",
            "DB_PASSWD",
            "pwd",
            "secret",
            "client_secret",
            "clientSecret",
            "aws_secret_access_key",
            "token",
            "access_token",
            "accessToken",
            "refresh-token",
            "x-auth-token",
            "csrftoken",
            "id_token",
            "oauth2token",
            "api_key",
            "apiKey",
            "APIKey",
            "x-api-key",
            "X-API-KEY",
            "apikey",
            "api%5Fkey",
            "%74%6F%6B%65%6E",
            "auth",
            "oauth",
            "Authorization",
            "proxy-authorization",
            "credentials",
            "aws_credentials",
            "cookie",
            "Set-Cookie",
            "session",
            "session_id",
            "sessionId",
            "PHPSESSID",
            "private_key",
            "privateKey",
            "bearer",
            "otp",
            "totp",
            "ssn",
            "card_number",
            "cardNumber",
            "credit_card",
            "cvv",
            "cvv2",
            "cvc",
            "X-Amz-Signature",
            "sig",
            "session_key",
            "pass\\u0077ord",
            "pass\\\\u0077ord",
            "passwor\\u{64}",
            "%70assword",
        ] {
            assert!(
                names.is_sensitive(name.as_bytes()),
                "{name} should be sensitive"
            );
            // (Escaped names bypass the tail filter in the scanner.)
            assert!(
                name.contains(['%', '\\']) || tail_ok(&names, name),
                "{name} should pass the tail filter"
            );
        }
    }

    #[test]
    fn innocent_names() {
        let names = default_names();
        for name in [
            "author",
            "authored_by",
            "authentic",
            "authenticated",
            "tokenizer",
            "cookiecutter",
            "max_tokens",
            "prompt_tokens",
            "token_count",
            "token_type",
            "session_count",
            "secretary",
            "username",
            "user",
            "method",
            "uri",
            "status",
            "latency_ms",
            "request_id",
            "id",
            "key",
            "cache_key",
            "",
            "version",
            "description",
            "message",
            "timestamp",
            "passenger",
            "passed",
        ] {
            assert!(
                !names.is_sensitive(name.as_bytes()),
                "{name} should not be sensitive"
            );
        }
    }

    #[test]
    fn long_names_do_not_panic() {
        let names = default_names();
        let long = "a_".repeat(500) + "password";
        assert!(names.is_sensitive(long.as_bytes()));
        let long = "%".repeat(500);
        assert!(!names.is_sensitive(long.as_bytes()));
        let long = "%41".repeat(5000) + "_pass%77ord";
        assert!(names.is_sensitive(long.as_bytes()));
        let long = "\\u0041".repeat(5000) + "\\u0070assword";
        assert!(names.is_sensitive(long.as_bytes()));
        let long = "\\".repeat(5000);
        assert!(!names.is_sensitive(long.as_bytes()));
        let many = "a-".repeat(200);
        assert!(!names.is_sensitive(many.as_bytes()));
    }
}
