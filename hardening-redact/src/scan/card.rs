//! Payment card numbers: 13 to 19 digits, optionally grouped by single
//! spaces or dashes, with a known issuer prefix and a valid Luhn check digit.

use super::{pattern_rule, Span};
use crate::Pattern;

/// The shortest card number; the skip-scan probes every `MIN_LEN`th byte.
const MIN_LEN: usize = 13;
const MAX_LEN: usize = 19;

#[inline]
fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'-'
}

/// Finds card numbers in `bytes`. Any run of at least 13 digits contains one
/// of the probed positions, so skipping 13 bytes at a time misses none.
pub(super) fn scan(bytes: &[u8], out: &mut Vec<Span>) {
    let n = bytes.len();
    let digit = |i: usize| i < n && bytes[i].is_ascii_digit();
    crate::work::add(n / MIN_LEN + 1);
    let mut i = MIN_LEN - 1;
    while i < n {
        let b = bytes[i];
        let hit = b.is_ascii_digit() || (is_sep(b) && i > 0 && digit(i - 1) && digit(i + 1));
        if !hit {
            i += MIN_LEN;
            continue;
        }
        // Expand over digits, spaces and dashes, counting digits; most
        // runs (times, counters, ids) are short and rejected right here.
        let mut digits = usize::from(b.is_ascii_digit());
        let mut s = i;
        while s > 0 && (bytes[s - 1].is_ascii_digit() || is_sep(bytes[s - 1])) {
            s -= 1;
            digits += usize::from(bytes[s].is_ascii_digit());
        }
        let mut e = i + 1;
        while e < n && (bytes[e].is_ascii_digit() || is_sep(bytes[e])) {
            digits += usize::from(bytes[e].is_ascii_digit());
            e += 1;
        }
        crate::work::add(e - s);
        if digits < MIN_LEN {
            i = e + MIN_LEN;
            continue;
        }
        // Trim separators at the ends; `check_run` splits the rest.
        while s < e && is_sep(bytes[s]) {
            s += 1;
        }
        while e > s && is_sep(bytes[e - 1]) {
            e -= 1;
        }
        check_run(bytes, s, e, out);
        i = e + MIN_LEN;
    }
}

/// Looks for card numbers among the digit groups of `bytes[s..e]` (digits
/// separated by spaces or dashes). A card is a sequence of consecutive
/// groups joined by one kind of single separator.
fn check_run(bytes: &[u8], s: usize, e: usize, out: &mut Vec<Span>) {
    // The run must not be glued to letters (hex ids, UUID pieces).
    let left_ok = s == 0 || !(bytes[s - 1].is_ascii_alphanumeric() || bytes[s - 1] == b'_');
    let right_ok = e >= bytes.len() || !(bytes[e].is_ascii_alphanumeric() || bytes[e] == b'_');
    let run = &bytes[s..e];
    let mut pos = 0;
    while pos < run.len() {
        let mut digits = [0u8; MAX_LEN];
        let mut count = 0;
        let mut k = pos;
        let mut sep = None;
        let mut best = None;
        loop {
            let group = k;
            while k < run.len() && run[k].is_ascii_digit() {
                if count < MAX_LEN {
                    digits[count] = run[k] - b'0';
                }
                count += 1;
                k += 1;
            }
            if k == group || count > MAX_LEN {
                break;
            }
            let at_end = k == run.len();
            if count >= MIN_LEN
                && (pos > 0 || left_ok)
                && (!at_end || right_ok)
                && known_issuer(&digits[..count])
                && luhn(&digits[..count])
            {
                best = Some(k);
            }
            if at_end {
                break;
            }
            match sep {
                Some(sp) if sp != run[k] => break,
                _ => sep = Some(run[k]),
            }
            k += 1;
        }
        crate::work::add(k - pos + 1);
        let next = match best {
            Some(end) => {
                out.push(Span {
                    start: s + pos,
                    end: s + end,
                    rule: pattern_rule(Pattern::CardNumber),
                });
                end
            }
            None => pos + run[pos..].iter().take_while(|b| b.is_ascii_digit()).count(),
        };
        pos = next + run[next..].iter().take_while(|b| is_sep(**b)).count();
    }
}

/// Issuer prefixes and lengths (Visa, Mastercard, Amex, Discover, Diners,
/// JCB, UnionPay): numbers such as 13-digit millisecond timestamps fail here.
fn known_issuer(d: &[u8]) -> bool {
    let n = d.len();
    let p2 = d[0] * 10 + d[1];
    let p4 = u32::from(p2) * 100 + u32::from(d[2] * 10 + d[3]);
    match d[0] {
        4 => matches!(n, 13 | 16 | 19),
        5 => (51..=55).contains(&p2) && n == 16,
        2 => (2221..=2720).contains(&p4) && n == 16,
        3 => match p2 {
            34 | 37 => n == 15,
            36 | 38 | 30 | 39 => (14..=19).contains(&n),
            35 => (3528..=3589).contains(&p4) && (16..=19).contains(&n),
            _ => false,
        },
        6 => {
            (p4 == 6011 || p2 == 65 || (644..=649).contains(&(p4 / 10)) || p2 == 62)
                && (16..=19).contains(&n)
        }
        _ => false,
    }
}

/// The Luhn checksum.
pub(crate) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        scan(s.as_bytes(), &mut out);
        out.iter().map(|sp| &s[sp.start..sp.end]).collect()
    }

    #[test]
    fn finds_cards_in_text() {
        assert_eq!(find("card 4111111111111111 ok"), ["4111111111111111"]);
        assert_eq!(find("4111 1111 1111 1111"), ["4111 1111 1111 1111"]);
        assert_eq!(find("x=5500-0000-0000-0004;"), ["5500-0000-0000-0004"]);
        assert_eq!(find("amex 3782 822463 10005."), ["3782 822463 10005"]);
        assert_eq!(
            find("order 1234 4111 1111 1111 1111 paid"),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(find("4012888888881881"), ["4012888888881881"]);
        assert_eq!(find("6011111111111117"), ["6011111111111117"]);
    }

    #[test]
    fn ignores_non_cards() {
        assert!(find("4111111111111112").is_empty(), "Luhn fails");
        assert!(find("ts=1714567890123 us=1714567890123456").is_empty());
        assert!(find("id 550e8400-e29b-41d4-a716-446655440000").is_empty());
        assert!(find("2026-11-23 18:55:17.123456").is_empty());
        assert!(find("abc4111111111111111").is_empty(), "glued to letters");
        assert!(find("12345678901234567890123").is_empty());
    }
}
