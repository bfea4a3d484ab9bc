//! A strict, borrowing JSON reader: just enough to pick a few string and
//! integer members out of a report and skip everything else.
//!
//! The body is checked as UTF-8 once, up front; strings are returned as
//! slices of it (a copy only when a picked string holds escapes). Work is
//! one pass over the bytes: every byte is looked at a bounded number of
//! times, nesting is limited to [`MAX_DEPTH`] without recursion, and
//! anything RFC 8259 does not allow (trailing commas, control characters
//! in strings, bad escapes, lone surrogates, leading zeros, `NaN`) is an
//! error.

use std::borrow::Cow;

/// Most containers [`Reader::skip_value`] accepts open around a value
/// (reports nest two or three levels).
pub(super) const MAX_DEPTH: u32 = 32;

/// Not JSON, or not the expected shape. Carries no part of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Invalid;

/// A JSON string as it appears in the input, between its quotes.
#[derive(Clone, Copy, Debug)]
pub(super) struct RawStr<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> RawStr<'a> {
    /// The string's value: borrowed unless it holds escapes.
    pub(super) fn decode(self) -> Cow<'a, str> {
        if self.escaped {
            Cow::Owned(unescape(self.raw))
        } else {
            Cow::Borrowed(self.raw)
        }
    }

    /// Whether the value equals `s` (a key without escapes, as browsers
    /// send them; an escaped key is decoded first).
    pub(super) fn is(self, s: &str) -> bool {
        if self.escaped {
            unescape(self.raw) == s
        } else {
            self.raw == s
        }
    }
}

/// A cursor over a JSON text.
pub(super) struct Reader<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Reader { src, pos: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.src.as_bytes()
    }

    /// The next byte after whitespace, not consumed.
    pub(super) fn peek(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8) -> Result<(), Invalid> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Only whitespace is left.
    pub(super) fn end(&mut self) -> Result<(), Invalid> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Invalid),
        }
    }

    /// The byte offset of the next value (after whitespace).
    pub(super) fn offset(&mut self) -> usize {
        self.peek();
        self.pos
    }

    /// The text between two offsets, for reading a value again later.
    pub(super) fn slice(&self, from: usize, to: usize) -> &'a str {
        &self.src[from..to]
    }

    /// Reads an object, calling `member` with each key; `member` must
    /// consume the value (read it or [`skip_value`](Self::skip_value)).
    pub(super) fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, RawStr<'a>) -> Result<(), Invalid>,
    ) -> Result<(), Invalid> {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':')?;
            member(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// Reads an array, calling `element` for each element, which it must
    /// consume.
    pub(super) fn array(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), Invalid>,
    ) -> Result<(), Invalid> {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// `null` (`None`) or a string.
    pub(super) fn opt_string(&mut self) -> Result<Option<Cow<'a, str>>, Invalid> {
        match self.peek() {
            Some(b'n') => self.literal("null").map(|()| None),
            Some(b'"') => Ok(Some(self.string()?.decode())),
            _ => Err(Invalid),
        }
    }

    /// `null` (`None`) or an integer that fits a `u64`.
    pub(super) fn opt_u64(&mut self) -> Result<Option<u64>, Invalid> {
        match self.peek() {
            Some(b'n') => self.literal("null").map(|()| None),
            Some(b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                // integers only: a fraction or exponent is another type
                self.src[start..self.pos]
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| Invalid)
            }
            _ => Err(Invalid),
        }
    }

    /// A string, validated, between its quotes.
    pub(super) fn string(&mut self) -> Result<RawStr<'a>, Invalid> {
        self.eat(b'"')?;
        let bytes = self.bytes();
        let start = self.pos;
        let mut escaped = false;
        loop {
            // the common run of plain characters
            let run = bytes[self.pos..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .ok_or(Invalid)?;
            self.pos += run;
            match bytes[self.pos] {
                b'"' => {
                    let raw = &self.src[start..self.pos];
                    self.pos += 1;
                    return Ok(RawStr { raw, escaped });
                }
                b'\\' => {
                    escaped = true;
                    self.pos += 1;
                    self.escape()?;
                }
                _ => return Err(Invalid), // a control character
            }
        }
    }

    /// The escape after a backslash; `\u` surrogates must pair.
    fn escape(&mut self) -> Result<(), Invalid> {
        let bytes = self.bytes();
        let b = *bytes.get(self.pos).ok_or(Invalid)?;
        self.pos += 1;
        match b {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => {
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        if bytes.get(self.pos..self.pos + 2) != Some(&b"\\u"[..]) {
                            return Err(Invalid);
                        }
                        self.pos += 2;
                        match self.hex4()? {
                            0xDC00..=0xDFFF => Ok(()),
                            _ => Err(Invalid),
                        }
                    }
                    0xDC00..=0xDFFF => Err(Invalid),
                    _ => Ok(()),
                }
            }
            _ => Err(Invalid),
        }
    }

    fn hex4(&mut self) -> Result<u16, Invalid> {
        let digits = self.bytes().get(self.pos..self.pos + 4).ok_or(Invalid)?;
        let mut n = 0u16;
        for &d in digits {
            let v = (d as char).to_digit(16).ok_or(Invalid)?;
            n = (n << 4) | v as u16;
        }
        self.pos += 4;
        Ok(n)
    }

    fn literal(&mut self, word: &str) -> Result<(), Invalid> {
        if self.bytes()[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), Invalid> {
        let bytes = self.bytes();
        let digits = |pos: &mut usize| {
            let start = *pos;
            while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos - start
        };
        let mut pos = self.pos;
        if bytes.get(pos) == Some(&b'-') {
            pos += 1;
        }
        match bytes.get(pos) {
            Some(b'0') => pos += 1,
            Some(b'1'..=b'9') => {
                digits(&mut pos);
            }
            _ => return Err(Invalid),
        }
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            if digits(&mut pos) == 0 {
                return Err(Invalid);
            }
        }
        if matches!(bytes.get(pos), Some(b'e' | b'E')) {
            pos += 1;
            if matches!(bytes.get(pos), Some(b'+' | b'-')) {
                pos += 1;
            }
            if digits(&mut pos) == 0 {
                return Err(Invalid);
            }
        }
        self.pos = pos;
        Ok(())
    }

    /// Skips one value of any type, checking it, without recursion: a bit
    /// per open container (set for an object) tells what may follow.
    pub(super) fn skip_value(&mut self) -> Result<(), Invalid> {
        let mut objects: u32 = 0;
        let mut depth: u32 = 0;
        loop {
            // a value is expected here
            match self.peek().ok_or(Invalid)? {
                open @ (b'{' | b'[') => {
                    self.pos += 1;
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                    } else {
                        if depth == MAX_DEPTH {
                            return Err(Invalid);
                        }
                        objects = (objects << 1) | u32::from(open == b'{');
                        depth += 1;
                        if open == b'{' {
                            self.string()?;
                            self.eat(b':')?;
                        }
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal("true")?,
                b'f' => self.literal("false")?,
                b'n' => self.literal("null")?,
                _ => self.number()?,
            }
            // after a value: close containers, or go on after a comma
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let in_object = objects & 1 == 1;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if in_object {
                            self.string()?;
                            self.eat(b':')?;
                        }
                        break;
                    }
                    Some(b'}') if in_object => {}
                    Some(b']') if !in_object => {}
                    _ => return Err(Invalid),
                }
                self.pos += 1;
                objects >>= 1;
                depth -= 1;
            }
        }
    }
}

/// Decodes the escapes of a string [`Reader::string`] has checked.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let bytes = rest.as_bytes();
        let (c, used) = match bytes.get(i + 1) {
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'n') => ('\n', 2),
            Some(b'r') => ('\r', 2),
            Some(b't') => ('\t', 2),
            Some(b'u') => {
                let unit = |at: usize| {
                    rest.get(at..at + 4)
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .unwrap_or(0xFFFD)
                };
                let high = unit(i + 2);
                if (0xD800..0xDC00).contains(&high) {
                    let low = unit(i + 8);
                    let c = 0x10000 + ((high - 0xD800) << 10) + (low.wrapping_sub(0xDC00) & 0x3FF);
                    (char::from_u32(c).unwrap_or('\u{fffd}'), 12)
                } else {
                    (char::from_u32(high).unwrap_or('\u{fffd}'), 6)
                }
            }
            Some(&b) => (b as char, 2),
            None => ('\u{fffd}', 1),
        };
        out.push(c);
        rest = rest.get(i + used..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn skips(text: &str) -> bool {
        let mut r = Reader::new(text);
        r.skip_value().and_then(|()| r.end()).is_ok()
    }

    #[test]
    fn valid_and_invalid_json() {
        for ok in [
            "0",
            "-0",
            "1.5e-3",
            "12",
            "true",
            "null",
            r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#,
            "[]",
            "{}",
            r#"{"a":[1,{"b":null}],"c":"d"}"#,
            " [ 1 , 2 ] ",
        ] {
            assert!(skips(ok), "{ok}");
        }
        for bad in [
            "",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "NaN",
            "tru",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\"}",
            "{1:2}",
            "[1 2]",
            "\"\t\"",
            r#""\x""#,
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\u12""#,
            "\"abc",
            "[",
            "]",
            "{\"a\":1]",
            "[1}",
            "1 2",
        ] {
            assert!(!skips(bad), "{bad}");
        }
        let deep = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(skips(&deep));
        let deep = format!("{}1{}", "[".repeat(32), "]".repeat(32));
        assert!(skips(&deep));
        let deeper = format!("{}1{}", "[".repeat(33), "]".repeat(33));
        assert!(!skips(&deeper));
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let mut r = Reader::new(r#""plain""#);
        assert!(matches!(
            r.string().unwrap().decode(),
            Cow::Borrowed("plain")
        ));
        let mut r = Reader::new(r#""a\/b\u00e9\ud83d\ude00\n""#);
        assert_eq!(r.string().unwrap().decode(), "a/bé😀\n");
        let int = |text: &str| Reader::new(text).opt_u64();
        assert_eq!(int("12"), Ok(Some(12)));
        assert_eq!(int("null"), Ok(None));
        for bad in ["1.5", "-1", "1e2", "18446744073709551616", "\"7\"", "true"] {
            assert_eq!(int(bad), Err(Invalid), "{bad}");
        }
    }

    proptest! {
        /// On arbitrary text, the reader never panics, and whatever it
        /// accepts is JSON that serde_json accepts too.
        #[test]
        fn accepted_text_is_json(text in "[\\[\\]{}\",:0-9a-z\\\\.eE+\\- \u{e9}]{0,40}") {
            if skips(&text) {
                prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{}", text);
            }
        }

        /// Every JSON value serde_json writes is read, and strings decode
        /// to what was written.
        #[test]
        fn serde_json_output_is_read(s in "\\PC{0,40}", n in any::<u64>()) {
            let value = serde_json::json!({"s": s, "n": n, "a": [s, n, null, true, 1.5, {"x": []}]});
            let text = value.to_string();
            prop_assert!(skips(&text));
            let mut r = Reader::new(&text);
            let (mut got_s, mut got_n) = (None, None);
            r.object(|r, key| {
                if key.is("s") {
                    got_s = r.opt_string()?.map(Cow::into_owned);
                } else if key.is("n") {
                    got_n = r.opt_u64()?;
                } else {
                    r.skip_value()?;
                }
                Ok(())
            }).unwrap();
            prop_assert_eq!(got_s.as_deref(), Some(s.as_str()));
            prop_assert_eq!(got_n, Some(n));
        }
    }
}
