//! `key=value` / `"key": "value"` pairs with a sensitive key, and URL userinfo.

use super::{pattern_rule, Reaches, Scanner, Span};
use crate::Pattern;

/// Longest key examined in front of a separator.
const MAX_KEY: usize = 128;

/// A key/value separator found in the text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Separator {
    /// Index of its first byte.
    pub(super) at: usize,
    /// Index just after it.
    pub(super) after: usize,
    /// `=` or `:` (decoded).
    pub(super) byte: u8,
    /// Percent-encoded (`%3D`, `%3A`).
    pub(super) encoded: bool,
}

#[inline]
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%' | b'\\')
}

/// Where an unquoted value stops.
#[inline]
fn ends_unquoted(b: u8) -> bool {
    static ENDS: [bool; 256] = super::byte_class(b" \t\n\x0c\r\"',;&}])<>|`");
    ENDS[b as usize]
}

/// A backslash that starts a JSON / Rust escape meaning "quote" or
/// "line break" also ends an unquoted value.
#[inline]
fn is_escape_stop(bytes: &[u8], i: usize) -> bool {
    bytes[i] == b'\\' && matches!(bytes.get(i + 1), Some(b'"' | b'\'' | b'n' | b'r' | b't'))
}

/// Whether an unquoted value stops at `i`. A quote between two letters or
/// digits (`It's`, `It's"Secret1`) is part of the word, not a quote.
///
/// The test looks only at the bytes around `i`, never at where the walk
/// started, which is what lets [`Reach`](super::Reach) memoize the walks.
#[inline]
fn stops_unquoted(bytes: &[u8], i: usize) -> bool {
    let b = bytes[i];
    if b == b'\'' || b == b'"' {
        let inside_word = i > 0
            && bytes[i - 1].is_ascii_alphanumeric()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_alphanumeric);
        return !inside_word;
    }
    ends_unquoted(b) || is_escape_stop(bytes, i)
}

/// Whether the value after a percent-encoded separator (a path segment
/// such as `/reset/password%3Dhunter2/next`) stops at `i`: also at `/`,
/// `?`, `#` and an encoded `&`, `;`, `,`, space or quote.
#[inline]
fn stops_encoded(bytes: &[u8], i: usize) -> bool {
    match bytes[i] {
        b'/' | b'?' | b'#' => true,
        b'%' => matches!(
            bytes.get(i + 1..i + 3),
            Some(b"26" | b"3B" | b"3b" | b"2C" | b"2c" | b"20" | b"22" | b"27")
        ),
        _ => stops_unquoted(bytes, i),
    }
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

/// Steps back over the blanks in front of a separator: spaces, tabs, the
/// escape `\\t` (as JSON and `Debug` print a tab) and `%20` / `%09`.
///
/// Unbounded, and still linear: the blanks in front of one separator are
/// never in front of another.
#[inline]
fn skip_blanks_back(bytes: &[u8], mut i: usize) -> usize {
    let from = i;
    loop {
        if i > 0 && matches!(bytes[i - 1], b' ' | b'\t') {
            i -= 1;
        } else if i >= 2 && bytes[i - 2] == b'\\' && bytes[i - 1] == b't' {
            i -= 2;
            while i > 0 && bytes[i - 1] == b'\\' {
                i -= 1;
            }
        } else if i >= 3 && bytes[i - 3] == b'%' && matches!(&bytes[i - 2..i], b"20" | b"09") {
            i -= 3;
        } else {
            break;
        }
    }
    crate::work::add(from - i);
    i
}

/// Steps over the blanks after a separator (as [`skip_blanks_back`], and
/// `+` after a percent-encoded separator).
#[inline]
fn skip_blanks(bytes: &[u8], mut i: usize, encoded: bool) -> usize {
    let from = i;
    loop {
        match bytes.get(i) {
            Some(b' ' | b'\t') => i += 1,
            Some(b'\\') => {
                // `\\t`, `\\\\t`, ...: a tab escaped once or more.
                let mut j = i;
                while bytes.get(j) == Some(&b'\\') {
                    j += 1;
                }
                if bytes.get(j) != Some(&b't') {
                    break;
                }
                i = j + 1;
            }
            Some(b'%') if matches!(bytes.get(i + 1..i + 3), Some(b"20" | b"09")) => i += 3,
            Some(b'+') if encoded => i += 1,
            _ => break,
        }
    }
    crate::work::add(i - from);
    i
}

/// Whether escapes may hide among the last three letters of a key ending
/// at `ke` whose last three bytes are alphanumeric: the latest such escape
/// starts 4 or 5 bytes back for `%XX` (`api_%6Bey`) and 6, 7 or 8 for
/// `\\uXXXX` (`"passwor\\u0064"`).
#[inline]
fn escape_near(bytes: &[u8], ke: usize) -> bool {
    let w = &bytes[ke.saturating_sub(8)..ke];
    let at = |d: usize| w.len() >= d && w[w.len() - d] == b'%';
    let bs = |d: usize| w.len() >= d && w[w.len() - d] == b'\\';
    at(4) || at(5) || bs(6) || bs(7) || bs(8)
}

/// Whether an encoded separator (`%3D`, `%3A`) ends just before `i`.
#[inline]
fn encoded_separator_before(bytes: &[u8], i: usize) -> bool {
    i >= 3
        && matches!(bytes[i - 1] | 0x20, b'd' | b'a')
        && bytes[i - 2] == b'3'
        && bytes[i - 3] == b'%'
}

/// Checks the key in front of the separator `sep` and, when it is
/// sensitive, pushes the span of its value.
///
/// This runs for every `=` and `:` of every line, so it only looks at the
/// last three letters of the key; the rare keys that pass go on to
/// [`key_value_slow`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn key_value(
    scanner: &Scanner,
    bytes: &[u8],
    sep: Separator,
    kv: bool,
    query: bool,
    reach: &mut Reaches,
    out: &mut Vec<Span>,
) {
    let p = sep.at;
    if !sep.encoded {
        let next = bytes.get(sep.after).copied();
        let prev = if p > 0 { bytes[p - 1] } else { 0 };
        if sep.byte == b':' && (next == Some(b':') || prev == b':') {
            return; // a path such as `tower_http::trace`
        }
        if sep.byte == b'=' && (next == Some(b'=') || matches!(prev, b'=' | b'!' | b'<' | b'>')) {
            return; // a comparison
        }
    }

    // The end of the key: skip `key = v` blanks and a closing quote (with
    // the backslashes of an escaped one: `\\"key\\":`).
    let mut ke = p;
    if ke > 0 && matches!(bytes[ke - 1], b' ' | b'\t' | b't' | b'0' | b'9') {
        ke = skip_blanks_back(bytes, ke);
    }
    if ke > 0 && matches!(bytes[ke - 1], b'"' | b'\'') {
        ke -= 1;
        let q = ke;
        while ke > 0 && bytes[ke - 1] == b'\\' {
            ke -= 1;
        }
        crate::work::add(q - ke);
    }

    // Tail filter: the last three alphanumerics of the key. Usually they
    // are the last three bytes (`| 0x20` lower-cases letters and keeps
    // digits), which needs no loop.
    if ke >= 3 {
        let t = [bytes[ke - 3], bytes[ke - 2], bytes[ke - 1]];
        if t.iter().all(u8::is_ascii_alphanumeric) {
            if scanner
                .names
                .tail_may_match(&[t[0] | 0x20, t[1] | 0x20, t[2] | 0x20])
                || escape_near(bytes, ke)
            {
                key_value_slow(scanner, bytes, sep, ke, kv, query, reach, out);
            }
            return;
        }
    }
    let mut tail = [0u8; 3];
    let mut tn = 0;
    let mut i = ke;
    let mut escaped = false;
    while i > 0 && tn < 3 {
        let b = bytes[i - 1];
        if b.is_ascii_alphanumeric() {
            tail[2 - tn] = b.to_ascii_lowercase();
            tn += 1;
        } else if b == b'%' || b == b'\\' {
            escaped = true;
            break;
        } else if !is_key_byte(b) {
            break;
        }
        i -= 1;
    }
    crate::work::add(ke - i);
    if !escaped && (tn < 2 || !scanner.names.tail_may_match(&tail[3 - tn..])) {
        return;
    }
    key_value_slow(scanner, bytes, sep, ke, kv, query, reach, out);
}

#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn key_value_slow(
    scanner: &Scanner,
    bytes: &[u8],
    sep: Separator,
    ke: usize,
    kv: bool,
    query: bool,
    reach: &mut Reaches,
    out: &mut Vec<Span>,
) {
    // The whole key (stopping at an encoded separator: in
    // `a%3Dpassword%3Dx` the key of the second one is `password`).
    let mut ks = ke;
    while ks > 0
        && ke - ks < MAX_KEY
        && is_key_byte(bytes[ks - 1])
        && !encoded_separator_before(bytes, ks)
    {
        ks -= 1;
    }
    crate::work::add(ke - ks);
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
    if let Some(span) = value_span(bytes, sep, cookie, &scanner.marker, reach) {
        let rule = if query && in_query {
            Pattern::QueryParam
        } else {
            Pattern::KeyValue
        };
        out.push(Span {
            rule: pattern_rule(rule),
            ..span
        });
    }
}

fn ends_with_ignore_case(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The value after the separator `sep`.
fn value_span(
    bytes: &[u8],
    sep: Separator,
    cookie: bool,
    marker: &[u8],
    reach: &mut Reaches,
) -> Option<Span> {
    let n = bytes.len();
    let mut v = sep.after;
    if sep.byte == b'=' && !sep.encoded && bytes.get(v) == Some(&b'>') {
        v += 1;
    }
    v = skip_blanks(bytes, v, sep.encoded);
    if v >= n {
        return None;
    }
    let first = bytes[v];
    let (start, end) = if first == b'"' || first == b'\'' {
        let start = v + 1;
        (start, quoted_end(bytes, start, first))
    } else if first == b'\\' {
        // `\\"value\\"`, at any depth of escaping (`\\\\\\"value\\\\\\"`).
        let mut q = v;
        while q < n && bytes[q] == b'\\' {
            q += 1;
        }
        crate::work::add(q - v);
        if q < n && matches!(bytes[q], b'"' | b'\'') {
            let start = q + 1;
            let end = reach
                .escaped_quoted
                .walk(start, |s| escaped_quoted_end(bytes, s));
            (start, end)
        } else {
            (v, unquoted_end(bytes, v, cookie, reach))
        }
    } else if first == b'{' || first == b'[' {
        // A value nested in an earlier `{...}` ends with it (the earlier
        // one is redacted whole).
        let end = reach.balanced.walk_inside(v, |s| balanced_end(bytes, s));
        (v, end)
    } else if sep.encoded && !cookie {
        let end = reach.encoded.walk(v, |s| {
            let mut i = s;
            while i < n && !stops_encoded(bytes, i) {
                i += 1;
            }
            crate::work::add(i - s + 1);
            i
        });
        (v, end)
    } else {
        (v, unquoted_end(bytes, v, cookie, reach))
    };
    if end <= start || bytes[start..].starts_with(marker) {
        return None;
    }
    Some(Span {
        start,
        end,
        rule: pattern_rule(Pattern::KeyValue),
    })
}

/// End of a `"..."` value whose content starts at `start`; unterminated
/// values run to the end of the line.
///
/// Not memoized and still linear: the walk of an earlier value reaches the
/// opening quote of a later one (it is never escaped: a separator or blank
/// comes before it) and stops there, so these walks never overlap.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start;
    let end = loop {
        if i >= bytes.len() {
            break bytes.len();
        }
        match bytes[i] {
            b'\\' => i += 2,
            b'\n' => break i,
            b if b == quote => break i,
            _ => i += 1,
        }
    };
    crate::work::add(end - start + 1);
    end
}

/// End of a `\\"...\\"` value (a quoted string inside an escaped string):
/// the first backslash before a quote, or before an `n` that is not itself
/// escaped, or a line break.
fn escaped_quoted_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if matches!(bytes.get(i + 1), Some(b'"' | b'\'')) => break,
            b'\\' if bytes.get(i + 1) == Some(&b'n') && (i == 0 || bytes[i - 1] != b'\\') => break,
            b'\n' => break,
            _ => i += 1,
        }
    }
    crate::work::add(i - start + 1);
    i
}

/// End (exclusive) of a `{...}` or `[...]` value, string-aware.
fn balanced_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    let mut in_str = false;
    let end = loop {
        if i >= bytes.len() {
            break bytes.len();
        }
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
                        break i + 1;
                    }
                }
                b'\n' => break i,
                _ => {}
            }
        }
        i += 1;
    };
    crate::work::add(end.saturating_sub(start) + 1);
    end.min(bytes.len())
}

/// The run of an unquoted value from `start`.
fn unquoted_run(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() && !stops_unquoted(bytes, i) {
        i += 1;
    }
    crate::work::add(i - start + 1);
    i
}

/// The run of a cookie header value from `start` (to the end of the line).
fn cookie_run(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len()
        && !matches!(bytes[i], b'\n' | b'\r' | b'"' | b'}')
        && !is_escape_stop(bytes, i)
    {
        i += 1;
    }
    crate::work::add(i - start + 1);
    i
}

/// End of an unquoted value. `Authorization: Bearer abc` takes the
/// credential after the scheme; cookie headers run to the end of the line.
fn unquoted_end(bytes: &[u8], start: usize, cookie: bool, reach: &mut Reaches) -> usize {
    let n = bytes.len();
    if cookie {
        return reach.cookie.walk(start, |s| cookie_run(bytes, s));
    }
    let end = reach.unquoted.walk(start, |s| unquoted_run(bytes, s));
    let word = &bytes[start..end];
    if end + 1 < n
        && bytes[end] == b' '
        && AUTH_SCHEMES.iter().any(|s| word.eq_ignore_ascii_case(s))
        && !ends_unquoted(bytes[end + 1])
    {
        return reach
            .auth_credential
            .walk(end + 1, |s| unquoted_run(bytes, s));
    }
    end
}

/// `scheme://user:password@host`: the password (or a long token used as the
/// user name) is a secret. `p` is the index of the `:` of `://`.
pub(super) fn url_userinfo(
    bytes: &[u8],
    p: usize,
    marker: &[u8],
    reach: &mut Reaches,
    out: &mut Vec<Span>,
) {
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
    static AUTHORITY_END: [bool; 256] = super::byte_class(b"/?#\"'<>\\` \t\n\r");
    while ae < bytes.len() && !AUTHORITY_END[bytes[ae] as usize] {
        ae += 1;
    }
    crate::work::add(p - s + ae - a + 1);
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
                    out.push(Span {
                        start: pw,
                        end,
                        rule: pattern_rule(Pattern::UrlUserinfo),
                    });
                }
            }
            None if userinfo.len() >= 16 => out.push(Span {
                start: a,
                end: a + at,
                rule: pattern_rule(Pattern::UrlUserinfo),
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
        let end = reach.slack_path.walk(start, |start| {
            let mut end = start;
            while end < bytes.len()
                && !ends_unquoted(bytes[end])
                && !matches!(bytes[end], b'?' | b'#')
            {
                end += 1;
            }
            crate::work::add(end - start + 1);
            end
        });
        if end > start && !bytes[start..].starts_with(marker) {
            out.push(Span {
                start,
                end,
                rule: pattern_rule(Pattern::SlackToken),
            });
        }
    }
}
