//! `key=value` / `"key": "value"` pairs with a sensitive key, and URL userinfo.

use super::{Scanner, Span};

/// Longest key examined in front of a separator.
const MAX_KEY: usize = 128;

#[inline]
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%')
}

/// Where an unquoted value stops.
#[inline]
fn ends_unquoted(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b'"' | b'\'' | b',' | b';' | b'&' | b'}' | b']' | b')' | b'<' | b'>' | b'|' | b'`'
        )
}

/// A backslash that starts a JSON / Rust escape meaning "quote" or
/// "line break" also ends an unquoted value.
#[inline]
fn is_escape_stop(bytes: &[u8], i: usize) -> bool {
    bytes[i] == b'\\' && matches!(bytes.get(i + 1), Some(b'"' | b'\'' | b'n' | b'r' | b't'))
}

/// Authorization schemes whose credential follows after one space.
const AUTH_SCHEMES: &[&[u8]] = &[
    b"bearer",
    b"basic",
    b"token",
    b"digest",
    b"negotiate",
    b"ntlm",
    b"apikey",
    b"aws4-hmac-sha256",
];

/// Checks the key in front of the separator at `p` and, when it is
/// sensitive, pushes the span of its value.
///
/// This runs for every `=` and `:` of every line, so it only looks at the
/// last three letters of the key; the rare keys that pass go on to
/// [`key_value_slow`].
#[inline]
pub(super) fn key_value(
    scanner: &Scanner,
    bytes: &[u8],
    p: usize,
    kv: bool,
    query: bool,
    out: &mut Vec<Span>,
) {
    let sep = bytes[p];
    let next = bytes.get(p + 1).copied();
    let prev = if p > 0 { bytes[p - 1] } else { 0 };
    if sep == b':' && (next == Some(b':') || prev == b':') {
        return; // a path such as `tower_http::trace`
    }
    if sep == b'=' && (next == Some(b'=') || matches!(prev, b'=' | b'!' | b'<' | b'>')) {
        return; // a comparison
    }

    // The end of the key: skip `key = v` spaces and a closing quote.
    let mut ke = p;
    let mut spaces = 0;
    while ke > 0 && bytes[ke - 1] == b' ' && spaces < 2 {
        ke -= 1;
        spaces += 1;
    }
    if ke > 0 && matches!(bytes[ke - 1], b'"' | b'\'') {
        ke -= 1;
        if ke > 0 && bytes[ke - 1] == b'\\' {
            ke -= 1;
        }
    }

    // Tail filter: the last three alphanumerics of the key.
    let mut tail = [0u8; 3];
    let mut tn = 0;
    let mut i = ke;
    let mut escaped = false;
    while i > 0 && tn < 3 {
        let b = bytes[i - 1];
        if b.is_ascii_alphanumeric() {
            tail[2 - tn] = b.to_ascii_lowercase();
            tn += 1;
        } else if b == b'%' {
            escaped = true;
            break;
        } else if !is_key_byte(b) {
            break;
        }
        i -= 1;
    }
    if !escaped && (tn < 2 || !scanner.names.tail_may_match(&tail[3 - tn..])) {
        return;
    }
    key_value_slow(scanner, bytes, p, ke, kv, query, out);
}

#[inline(never)]
fn key_value_slow(
    scanner: &Scanner,
    bytes: &[u8],
    p: usize,
    ke: usize,
    kv: bool,
    query: bool,
    out: &mut Vec<Span>,
) {
    let sep = bytes[p];

    // The whole key.
    let mut ks = ke;
    while ks > 0 && ke - ks < MAX_KEY && is_key_byte(bytes[ks - 1]) {
        ks -= 1;
    }
    if ks == ke || (ks >= 2 && &bytes[ks - 2..ks] == b"::") {
        return; // no key, or the last segment of a path (`my_app::auth: message`)
    }
    let in_query = ks > 0 && matches!(bytes[ks - 1], b'?' | b'&');
    if !(kv || (query && in_query)) {
        return;
    }
    if !scanner.names.is_sensitive_cached(&bytes[ks..ke]) {
        return;
    }
    let cookie = ends_with_ignore_case(&bytes[ks..ke], b"cookie")
        || ends_with_ignore_case(&bytes[ks..ke], b"cookies");
    if let Some(span) = value_span(bytes, p, sep, cookie, &scanner.marker) {
        out.push(span);
    }
}

fn ends_with_ignore_case(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The value after the separator at `p`.
fn value_span(bytes: &[u8], p: usize, sep: u8, cookie: bool, marker: &[u8]) -> Option<Span> {
    let n = bytes.len();
    let mut v = p + 1;
    if sep == b'=' && bytes.get(v) == Some(&b'>') {
        v += 1;
    }
    let mut skipped = 0;
    while v < n && (bytes[v] == b' ' || bytes[v] == b'\t') && skipped < 8 {
        v += 1;
        skipped += 1;
    }
    if v >= n {
        return None;
    }
    let first = bytes[v];
    let (start, end) = if first == b'"' || first == b'\'' {
        let start = v + 1;
        (start, quoted_end(bytes, start, first))
    } else if first == b'\\' && matches!(bytes.get(v + 1), Some(b'"' | b'\'')) {
        let start = v + 2;
        (start, escaped_quoted_end(bytes, start))
    } else if first == b'{' || first == b'[' {
        (v, balanced_end(bytes, v))
    } else {
        (v, unquoted_end(bytes, v, cookie))
    };
    if end <= start || bytes[start..].starts_with(marker) {
        return None;
    }
    Some(Span { start, end })
}

/// End of a `"..."` value whose content starts at `start`; unterminated
/// values run to the end of the line.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b if b == quote => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// End of a `\"...\"` value (a quoted string inside an escaped string).
fn escaped_quoted_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if matches!(bytes.get(i + 1), Some(b'"' | b'\'' | b'n')) => return i,
            b'\\' => i += 2,
            b'\n' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// End (exclusive) of a `{...}` or `[...]` value, string-aware.
fn balanced_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    let mut in_str = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            match b {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return i + 1;
                    }
                }
                b'\n' => return i,
                _ => {}
            }
        }
        i += 1;
    }
    bytes.len()
}

/// End of an unquoted value. `Authorization: Bearer abc` takes the
/// credential after the scheme; cookie headers run to the end of the line.
fn unquoted_end(bytes: &[u8], start: usize, cookie: bool) -> usize {
    let n = bytes.len();
    if cookie {
        let mut i = start;
        while i < n && !matches!(bytes[i], b'\n' | b'\r' | b'"' | b'}') && !is_escape_stop(bytes, i)
        {
            i += 1;
        }
        return i;
    }
    let run = |mut i: usize| {
        while i < n && !ends_unquoted(bytes[i]) && !is_escape_stop(bytes, i) {
            i += 1;
        }
        i
    };
    let end = run(start);
    let word = &bytes[start..end];
    if end + 1 < n
        && bytes[end] == b' '
        && AUTH_SCHEMES.iter().any(|s| word.eq_ignore_ascii_case(s))
        && !ends_unquoted(bytes[end + 1])
    {
        return run(end + 1);
    }
    end
}

/// `scheme://user:password@host`: the password (or a long token used as the
/// user name) is a secret. `p` is the index of the `:` of `://`.
pub(super) fn url_userinfo(bytes: &[u8], p: usize, marker: &[u8], out: &mut Vec<Span>) {
    // A scheme of at least two letters (`C://` is a drive, not a URL).
    let mut s = p;
    while s > 0
        && (bytes[s - 1].is_ascii_alphanumeric() || matches!(bytes[s - 1], b'+' | b'.' | b'-'))
    {
        s -= 1;
    }
    if p - s < 2 {
        return;
    }
    let a = p + 3;
    let mut ae = a;
    while ae < bytes.len()
        && !matches!(
            bytes[ae],
            b'/' | b'?'
                | b'#'
                | b'"'
                | b'\''
                | b'<'
                | b'>'
                | b'\\'
                | b'`'
                | b' '
                | b'\t'
                | b'\n'
                | b'\r'
        )
    {
        ae += 1;
    }
    let authority = &bytes[a..ae];
    if let Some(at) = memchr::memrchr(b'@', authority) {
        let userinfo = &authority[..at];
        if userinfo.is_empty() || userinfo.starts_with(marker) {
            return;
        }
        match memchr::memchr(b':', userinfo) {
            Some(c) => {
                let pw = a + c + 1;
                let end = a + at;
                if end > pw && !bytes[pw..].starts_with(marker) {
                    out.push(Span { start: pw, end });
                }
            }
            None if userinfo.len() >= 16 => out.push(Span {
                start: a,
                end: a + at,
            }),
            None => {}
        }
    }
    // Slack incoming webhooks carry their secret in the path.
    let host = match memchr::memrchr(b'@', authority) {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    if host.eq_ignore_ascii_case(b"hooks.slack.com") && bytes[ae..].starts_with(b"/services/") {
        let start = ae + "/services/".len();
        let mut end = start;
        while end < bytes.len() && !ends_unquoted(bytes[end]) && !matches!(bytes[end], b'?' | b'#')
        {
            end += 1;
        }
        if end > start && !bytes[start..].starts_with(marker) {
            out.push(Span { start, end });
        }
    }
}
