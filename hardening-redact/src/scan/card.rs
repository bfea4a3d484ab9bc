//! Payment card numbers: 13 to 19 digits, optionally grouped by single
//! spaces or dashes, with a known issuer prefix and a valid Luhn check digit.

use super::Span;

/// The shortest card number; the skip-scan probes every `MIN_LEN`th byte.
const MIN_LEN: usize = 13;
const MAX_LEN: usize = 19;
const MAX_GROUPS: usize = 24;

#[inline]
fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'-'
}

/// Finds card numbers in `bytes`. Any run of at least 13 digits contains one
/// of the probed positions, so skipping 13 bytes at a time misses none.
pub(super) fn scan(bytes: &[u8], out: &mut Vec<Span>) {
    let n = bytes.len();
    let digit = |i: usize| i < n && bytes[i].is_ascii_digit();
    let mut i = MIN_LEN - 1;
    while i < n {
        let b = bytes[i];
        let hit = b.is_ascii_digit() || (is_sep(b) && i > 0 && digit(i - 1) && digit(i + 1));
        if !hit {
            i += MIN_LEN;
            continue;
        }
        // Expand to the maximal run of digits joined by single separators.
        let mut s = i;
        while s > 0 && (bytes[s - 1].is_ascii_digit() || (is_sep(bytes[s - 1]) && s >= 2 && bytes[s - 2].is_ascii_digit() && bytes[s].is_ascii_digit())) {
            s -= 1;
        }
        let mut e = i + 1;
        while e < n && (bytes[e].is_ascii_digit() || (is_sep(bytes[e]) && digit(e + 1) && bytes[e - 1].is_ascii_digit())) {
            e += 1;
        }
        check_run(bytes, s, e, out);
        i = e + MIN_LEN;
    }
}

/// Looks for a card number among the digit groups of `bytes[s..e]`.
fn check_run(bytes: &[u8], s: usize, e: usize, out: &mut Vec<Span>) {
    // The run must not be glued to letters (hex ids, UUID pieces).
    let left_ok = s == 0 || !(bytes[s - 1].is_ascii_alphanumeric() || bytes[s - 1] == b'_');
    let right_ok = e >= bytes.len() || !(bytes[e].is_ascii_alphanumeric() || bytes[e] == b'_');
    let run = &bytes[s..e];
    let digits = run.iter().filter(|b| b.is_ascii_digit()).count();
    if digits < MIN_LEN {
        return;
    }
    // Split into groups: (start, end) offsets within the run.
    let mut groups = [(0usize, 0usize); MAX_GROUPS];
    let mut ng = 0;
    let mut gs = 0;
    for (k, &b) in run.iter().enumerate() {
        if is_sep(b) {
            if ng == MAX_GROUPS {
                return;
            }
            groups[ng] = (gs, k);
            ng += 1;
            gs = k + 1;
        }
    }
    if ng == MAX_GROUPS {
        return;
    }
    groups[ng] = (gs, run.len());
    ng += 1;

    let mut first = 0;
    while first < ng {
        if (first == 0 && !left_ok) || groups[first].1 - groups[first].0 > MAX_LEN {
            first += 1;
            continue;
        }
        let mut count = 0;
        let mut found = None;
        for last in first..ng {
            let (a, b) = groups[last];
            count += b - a;
            if count > MAX_LEN {
                break;
            }
            if last > first && run[groups[last].0 - 1] != run[groups[first].1] {
                break; // mixed separators
            }
            if count >= MIN_LEN && (last + 1 < ng || right_ok) && is_card(run, &groups[first..=last]) {
                found = Some(last);
            }
        }
        if let Some(last) = found {
            out.push(Span {
                start: s + groups[first].0,
                end: s + groups[last].1,
            });
            first = last + 1;
        } else {
            first += 1;
        }
    }
}

fn is_card(run: &[u8], groups: &[(usize, usize)]) -> bool {
    let mut digits = [0u8; MAX_LEN];
    let mut n = 0;
    for &(a, b) in groups {
        for &d in &run[a..b] {
            digits[n] = d - b'0';
            n += 1;
        }
    }
    let digits = &digits[..n];
    known_issuer(digits) && luhn(digits)
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
        6 => (p4 == 6011 || p2 == 65 || (644..=649).contains(&(p4 / 10)) || p2 == 62)
            && (16..=19).contains(&n),
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
        assert_eq!(find("order 1234 4111 1111 1111 1111 paid"), ["4111 1111 1111 1111"]);
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
