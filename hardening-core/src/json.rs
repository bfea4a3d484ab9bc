//! JSON string escaping, written once for the crates that write JSON by
//! hand on hot paths (health reports, log lines) instead of through `serde`.

/// Appends `s` to `out` escaped as the body of a JSON string (no quotes),
/// byte for byte as `serde_json` writes it: `\"`, `\\`, `\n`, `\r`, `\t`,
/// `\b`, `\f` and `\u00XX` for the other control characters. Runs of plain
/// bytes are copied at once.
///
/// ```
/// let mut out = String::new();
/// hardening_core::json::escape_into(&mut out, "a \"quote\"\n\u{1}");
/// assert_eq!(out, r#"a \"quote\"\n\u0001"#);
/// ```
pub fn escape_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        // Every byte escaped is ASCII, so `start..i` ends on a char boundary.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Appends `s` to `out` as a quoted JSON string (see [`escape_into`]).
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    escape_into(out, s);
    out.push('"');
}

/// Whether [`escape_into`] would change `s`.
pub fn needs_escape(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(s: &str) -> String {
        // The escapes serde_json writes, char by char.
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn escapes_every_control_character() {
        let all: String = (0u8..0x20).map(char::from).collect();
        let mut out = String::new();
        escape_into(&mut out, &all);
        assert_eq!(out, reference(&all));
        assert!(out.bytes().all(|b| b >= 0x20));
        assert!(needs_escape(&all));
        assert!(!needs_escape("plain ünïcode"));
    }

    #[test]
    fn quotes_a_string() {
        let mut out = String::new();
        write_string(&mut out, "say \"hi\"");
        assert_eq!(out, r#""say \"hi\"""#);
    }

    proptest! {
        #[test]
        fn matches_the_reference_on_any_string(s in any::<String>()) {
            let mut out = String::new();
            escape_into(&mut out, &s);
            prop_assert_eq!(&out, &reference(&s));
            prop_assert_eq!(needs_escape(&s), out != s);
        }
    }
}
