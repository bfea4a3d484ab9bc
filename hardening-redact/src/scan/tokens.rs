//! Verifiers for the prefixed token formats found by the anchor search.

use super::{Anchor, Reaches, Span};

#[inline]
fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

#[inline]
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// Length of the run of bytes from `start` that satisfy `f`.
#[inline]
fn run(bytes: &[u8], start: usize, f: impl Fn(u8) -> bool) -> usize {
    let len = bytes[start.min(bytes.len())..]
        .iter()
        .take_while(|&&b| f(b))
        .count();
    crate::work::add(len + 1);
    len
}

/// The anchor must start a word: the byte before it is not part of a token.
#[inline]
fn starts_word(bytes: &[u8], at: usize) -> bool {
    at == 0 || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_')
}

/// Checks the candidate that the anchor `[at, anchor_end)` starts.
pub(super) fn verify(
    kind: Anchor,
    bytes: &[u8],
    at: usize,
    anchor_end: usize,
    marker: &[u8],
    reach: &mut Reaches,
) -> Option<Span> {
    // Token-alphabet runs of one kind can nest (`xoxb-a-xoxb-b-...`): the
    // memo answers a run that starts inside an earlier one.
    let memo = &mut reach.token[kind as usize];
    let mut prefixed = |min: usize, f: fn(u8) -> bool| {
        if !starts_word(bytes, at) {
            return None;
        }
        let end = memo.walk(anchor_end, |s| s + run(bytes, s, f));
        (end - anchor_end >= min).then_some(Span {
            start: at,
            end,
            rule: 0,
        })
    };
    match kind {
        Anchor::Bearer => bearer(bytes, at, anchor_end, marker),
        Anchor::Basic => basic(bytes, at, anchor_end, marker),
        Anchor::Jwt => jwt(bytes, at),
        Anchor::Aws => aws(bytes, at),
        // `<prefix><at least min bytes of the token alphabet>`, starting a word.
        Anchor::GitHub => prefixed(30, |b| b.is_ascii_alphanumeric()),
        Anchor::GitHubPat => prefixed(30, |b| b.is_ascii_alphanumeric() || b == b'_'),
        Anchor::Stripe => prefixed(10, |b| b.is_ascii_alphanumeric()),
        Anchor::StripeWebhook => prefixed(16, |b| {
            b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
        }),
        Anchor::Slack => prefixed(10, |b| b.is_ascii_alphanumeric() || b == b'-'),
        Anchor::PrivateKey => private_key(bytes, at, anchor_end, &mut reach.pem_end),
        Anchor::EncodedUrl => None,
    }
}

/// Skips the spaces after the scheme and returns where the credential starts.
fn credential_start(bytes: &[u8], anchor_end: usize) -> usize {
    anchor_end + run(bytes, anchor_end, |b| b == b' ')
}

/// `Bearer <token>`: the token must look like a credential, not prose
/// ("bearer of bad news"): 8+ bytes with a digit, mixed case, or 20+ bytes.
fn bearer(bytes: &[u8], at: usize, anchor_end: usize, marker: &[u8]) -> Option<Span> {
    if !starts_word(bytes, at) {
        return None;
    }
    let start = credential_start(bytes, anchor_end);
    if bytes[start.min(bytes.len())..].starts_with(marker) {
        return None;
    }
    let mut len = run(bytes, start, is_token68);
    len += run(bytes, start + len, |b| b == b'=');
    let tok = &bytes[start..start + len];
    crate::work::add(3 * len);
    let looks_secret = len >= 20
        || (len >= 8
            && (tok.iter().any(u8::is_ascii_digit)
                || (tok[1..].iter().any(u8::is_ascii_uppercase)
                    && tok.iter().any(u8::is_ascii_lowercase))));
    looks_secret.then_some(Span {
        start,
        end: start + len,
        rule: 0,
    })
}

/// `Basic <base64 of user:password>`: decodes and requires the colon.
fn basic(bytes: &[u8], at: usize, anchor_end: usize, marker: &[u8]) -> Option<Span> {
    if !starts_word(bytes, at) {
        return None;
    }
    let start = credential_start(bytes, anchor_end);
    if bytes[start.min(bytes.len())..].starts_with(marker) {
        return None;
    }
    let mut len = run(bytes, start, |b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_')
    });
    len += run(bytes, start + len, |b| b == b'=');
    if len < 4 || !base64_has_colon(&bytes[start..start + len]) {
        return None;
    }
    Some(Span {
        start,
        end: start + len,
        rule: 0,
    })
}

/// Whether standard or URL-safe base64 `s` decodes to bytes containing `:`.
pub(crate) fn base64_has_colon(s: &[u8]) -> bool {
    crate::work::add(s.len());
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return false,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if (acc >> bits) & 0xff == u32::from(b':') {
                return true;
            }
        }
    }
    false
}

/// `eyJ<header>.<payload>.<signature>` (and the five-part JWE form).
fn jwt(bytes: &[u8], at: usize) -> Option<Span> {
    if !starts_word(bytes, at) || (at > 0 && bytes[at - 1] == b'-') {
        return None;
    }
    let mut end = at;
    let mut parts = 0;
    loop {
        let len = run(bytes, end, is_b64url);
        if parts < 2 && len < 10 {
            return None;
        }
        end += len;
        parts += 1;
        if parts == 5 || bytes.get(end) != Some(&b'.') {
            break;
        }
        end += 1; // the dot
    }
    (parts >= 3).then_some(Span {
        start: at,
        end,
        rule: 0,
    })
}

/// `AKIA` + 16 upper-case letters or digits, as a whole word.
fn aws(bytes: &[u8], at: usize) -> Option<Span> {
    if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
        return None;
    }
    let len = run(bytes, at + 4, |b| {
        b.is_ascii_uppercase() || b.is_ascii_digit()
    });
    let end = at + 4 + len;
    let whole = bytes.get(end).is_none_or(|b| !b.is_ascii_alphanumeric());
    (len == 16 && whole).then_some(Span {
        start: at,
        end,
        rule: 0,
    })
}

/// `-----BEGIN ... PRIVATE KEY-----` through the matching `-----END ...-----`
/// (or the end of the text when the block is cut off).
fn private_key(
    bytes: &[u8],
    at: usize,
    anchor_end: usize,
    memo: &mut Option<(usize, Option<usize>)>,
) -> Option<Span> {
    crate::work::add(64);
    let label_len = memchr::memmem::find(
        &bytes[anchor_end..(anchor_end + 64).min(bytes.len())],
        b"-----",
    )?;
    let label = &bytes[anchor_end..anchor_end + label_len];
    memchr::memmem::find(label, b"PRIVATE KEY")?;
    let body = anchor_end + label_len + 5;
    // Many `BEGIN`s before one `END` (or none) would each search to the
    // end: the first `END` after `body` is the one found from any earlier
    // start that it follows.
    let found = match *memo {
        Some((from, found)) if from <= body && found.is_none_or(|f| body <= f) => found,
        _ => {
            let found = memchr::memmem::find(&bytes[body..], b"-----END ").map(|e| body + e);
            crate::work::add(found.unwrap_or(bytes.len()) - body + 1);
            *memo = Some((body, found));
            found
        }
    };
    let end = match found {
        Some(e) => {
            let e = e + "-----END ".len();
            match memchr::memmem::find(&bytes[e..(e + 64).min(bytes.len())], b"-----") {
                Some(close) => e + close + 5,
                None => bytes.len(),
            }
        }
        None => bytes.len(),
    };
    Some(Span {
        start: at,
        end,
        rule: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_colon() {
        assert!(base64_has_colon(b"dXNlcjpwYXNz")); // user:pass
        assert!(base64_has_colon(b"YWxhZGRpbjpvcGVuc2VzYW1l")); // aladdin:opensesame
        assert!(!base64_has_colon(b"dXNlcm5hbWU=")); // username
        assert!(!base64_has_colon(b"understanding"));
    }
}
