//! Scrubbing what a report says before it is logged: written straight into
//! the log's formatter (no copy of the field is made).

use std::fmt::{self, Write as _};

/// Longest field kept in a logged violation, in bytes; longer ones are cut
/// (at a character boundary) and end in `…`.
pub const MAX_FIELD_LEN: usize = 512;

/// Longest `disposition` logged (it is `enforce` or `report`).
pub(crate) const MAX_DISPOSITION_LEN: usize = 16;

/// A field as logged: control characters replaced by `U+FFFD` (no log-line
/// injection), cut to `max` bytes (then `…` is appended). A URI is first
/// stripped of its query string, fragment and `user:password@`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scrubbed<'a> {
    /// The text before the credentials, and the text after them.
    parts: [&'a str; 2],
    max: usize,
}

impl<'a> Scrubbed<'a> {
    /// A URI without query string, fragment and credentials. Values that are
    /// not URLs (`inline`, `eval`) pass through.
    pub(crate) fn uri(uri: &'a str) -> Self {
        let end = uri.find(['?', '#']).unwrap_or(uri.len());
        let uri = &uri[..end];
        let parts = match uri.find("://") {
            Some(i) => {
                let authority_start = i + 3;
                let authority_end = uri[authority_start..]
                    .find('/')
                    .map_or(uri.len(), |j| authority_start + j);
                match uri[authority_start..authority_end].rfind('@') {
                    Some(at) => [&uri[..authority_start], &uri[authority_start + at + 1..]],
                    None => [uri, ""],
                }
            }
            None => [uri, ""],
        };
        Scrubbed {
            parts,
            max: MAX_FIELD_LEN,
        }
    }

    /// Any other text, cut to `max` bytes.
    pub(crate) fn text(text: &'a str, max: usize) -> Self {
        Scrubbed {
            parts: [text, ""],
            max,
        }
    }
}

/// Whether `c` is replaced: `char::is_control` (C0, DEL, C1).
fn is_control_byte_start(bytes: &[u8], i: usize) -> bool {
    let b = bytes[i];
    b < 0x20 || b == 0x7f || (b == 0xc2 && matches!(bytes.get(i + 1), Some(0x80..=0x9f)))
}

impl fmt::Display for Scrubbed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut written = 0;
        for part in self.parts {
            let bytes = part.as_bytes();
            let mut run_start = 0;
            let mut i = 0;
            while i < bytes.len() {
                if is_control_byte_start(bytes, i) {
                    let len = if bytes[i] == 0xc2 { 2 } else { 1 };
                    if !write_run(f, &part[run_start..i], &mut written, self.max)? {
                        return Ok(());
                    }
                    if written + '\u{fffd}'.len_utf8() > self.max {
                        return f.write_char('…');
                    }
                    f.write_char('\u{fffd}')?;
                    written += '\u{fffd}'.len_utf8();
                    i += len;
                    run_start = i;
                } else {
                    i += 1;
                }
            }
            if !write_run(f, &part[run_start..], &mut written, self.max)? {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Writes `run` (free of control characters) within the budget; `false`
/// when it was cut (and `…` written).
fn write_run(
    f: &mut fmt::Formatter<'_>,
    run: &str,
    written: &mut usize,
    max: usize,
) -> Result<bool, fmt::Error> {
    if *written + run.len() <= max {
        f.write_str(run)?;
        *written += run.len();
        return Ok(true);
    }
    let mut cut = max - *written;
    while !run.is_char_boundary(cut) {
        cut -= 1;
    }
    f.write_str(&run[..cut])?;
    *written += cut;
    f.write_char('…')?;
    Ok(false)
}

/// A URI as logged: without query string, fragment and `user:password@`,
/// without control characters, at most [`MAX_FIELD_LEN`] bytes (then ending
/// in `…`). Values that are not URLs (`inline`, `eval`) pass through.
///
/// ```
/// use hardening_headers::csp_report::scrub_uri;
///
/// assert_eq!(scrub_uri("https://u:p@a.example/p?token=1#f"), "https://a.example/p");
/// assert_eq!(scrub_uri("inline"), "inline");
/// ```
pub fn scrub_uri(uri: &str) -> String {
    Scrubbed::uri(uri).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scrubbing one char at a time into a `String`: the reference the
    /// writer must match.
    fn reference_clean(value: &str, max: usize) -> String {
        let mut out = String::new();
        for c in value.chars() {
            let c = if c.is_control() { '\u{fffd}' } else { c };
            if out.len() + c.len_utf8() > max {
                out.push('…');
                break;
            }
            out.push(c);
        }
        out
    }

    fn reference_uri(uri: &str) -> String {
        let end = uri.find(['?', '#']).unwrap_or(uri.len());
        let uri = &uri[..end];
        let joined = match uri.find("://") {
            Some(i) => {
                let a = i + 3;
                let e = uri[a..].find('/').map_or(uri.len(), |j| a + j);
                match uri[a..e].rfind('@') {
                    Some(at) => format!("{}{}", &uri[..a], &uri[a + at + 1..]),
                    None => uri.to_owned(),
                }
            }
            None => uri.to_owned(),
        };
        reference_clean(&joined, MAX_FIELD_LEN)
    }

    #[test]
    fn scrubbing() {
        assert_eq!(
            scrub_uri("https://a.example/p?q=1#f"),
            "https://a.example/p"
        );
        assert_eq!(
            scrub_uri("https://u:p@a.example/p@x"),
            "https://a.example/p@x"
        );
        assert_eq!(scrub_uri("inline"), "inline");
        assert_eq!(scrub_uri("a\r\nb\u{85}c"), "a\u{fffd}\u{fffd}b\u{fffd}c");
        let long = scrub_uri(&"é".repeat(1000));
        assert!(long.len() <= MAX_FIELD_LEN + '…'.len_utf8() && long.ends_with('…'));
        assert_eq!(long, reference_uri(&"é".repeat(1000)));
        assert_eq!(Scrubbed::text("enforce", 16).to_string(), "enforce");
        assert_eq!(
            Scrubbed::text("x".repeat(20).as_str(), 16).to_string(),
            format!("{}…", "x".repeat(16))
        );
    }

    proptest! {
        /// The writer matches the reference on any text, and its output
        /// never holds a query, fragment or control character.
        #[test]
        fn matches_the_reference(uri in "(https?://([a-z]{0,3}(:[a-z]{0,3})?@)?)?[a-z@/.\u{e9}\u{85}\r\n\t?#]{0,40}", pad in 0usize..600) {
            let uri = format!("{}{uri}", "a".repeat(pad % 3 * (pad / 3 % 200)));
            let got = scrub_uri(&uri);
            prop_assert_eq!(&got, &reference_uri(&uri));
            prop_assert!(!got.contains(['?', '#']));
            prop_assert!(!got.chars().any(char::is_control));
            prop_assert!(got.len() <= MAX_FIELD_LEN + '…'.len_utf8());
        }

        #[test]
        fn any_text_matches_the_reference(s in "\\PC{0,80}|[\\x00-\\x7f\u{80}-\u{9f}]{0,80}", max in 0usize..64) {
            prop_assert_eq!(Scrubbed::text(&s, max).to_string(), reference_clean(&s, max));
        }
    }
}
