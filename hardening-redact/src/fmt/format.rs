//! [`RedactingFormat`]: an event formatter wrapper.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::fmt;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::Redactor;

/// Values of sensitive fields shorter than this are not searched for
/// elsewhere in the line (they would match ordinary text).
const MIN_SCRUB_LEN: usize = 4;

const CALLSITE_SLOTS: usize = 64;

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    /// The redactor config id whose redacted output `LINE` holds (0: none).
    static EMITTED: Cell<u64> = const { Cell::new(0) };
    /// `(metadata address, redactor config id, has a sensitive field name)`:
    /// field names are fixed per callsite, so they are judged once.
    static CALLSITES: RefCell<[(usize, u64, bool); CALLSITE_SLOTS]> =
        const { RefCell::new([(0, 0, false); CALLSITE_SLOTS]) };
}

/// Whether any field of the event's callsite has a sensitive name.
fn has_sensitive_field(redactor: &Redactor, event: &Event<'_>) -> bool {
    let meta = event.metadata();
    let key = meta as *const _ as usize;
    let id = redactor.config_id();
    let slot = (key >> 4) % CALLSITE_SLOTS;
    let cached = CALLSITES
        .try_with(|c| {
            c.try_borrow()
                .ok()
                .and_then(|c| (c[slot].0 == key && c[slot].1 == id).then_some(c[slot].2))
        })
        .ok()
        .flatten();
    if let Some(v) = cached {
        return v;
    }
    let v = meta
        .fields()
        .iter()
        .any(|f| f.name() != "message" && redactor.is_sensitive_field(f.name()));
    let _ = CALLSITES.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c[slot] = (key, id, v);
        }
    });
    v
}

/// Wraps an event formatter so that every line it produces is redacted.
///
/// The inner formatter writes into a reused per-thread buffer; the line is
/// scanned with [`Redactor::redact`], values of fields with a sensitive
/// name are removed wherever they appear, and the result is written out.
/// ANSI colours are off (the inner formatter sees a plain buffer).
///
/// # Clone
///
/// Clones share the redactor.
///
/// # Example
///
/// See the [module docs](crate::fmt).
#[derive(Debug, Clone)]
pub struct RedactingFormat<E> {
    inner: E,
    redactor: Redactor,
}

impl<E> RedactingFormat<E> {
    /// Wraps `inner` (e.g. `tracing_subscriber::fmt::format().json()`).
    pub fn new(redactor: Redactor, inner: E) -> Self {
        RedactingFormat { inner, redactor }
    }

    /// The wrapped formatter.
    pub fn get_ref(&self) -> &E {
        &self.inner
    }
}

impl<S, N, E> FormatEvent<S, N> for RedactingFormat<E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    E: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fresh = String::new();
        LINE.with(|cell| {
            let mut guard = cell.try_borrow_mut();
            // Re-entrant use (a formatter that logs) gets its own buffer.
            let (line, reentrant): (&mut String, bool) = match guard {
                Ok(ref mut l) => (l, false),
                Err(_) => (&mut fresh, true),
            };
            line.clear();
            EMITTED.set(0);
            self.inner.format_event(ctx, Writer::new(line), event)?;
            let mut values = SensitiveValues {
                redactor: &self.redactor,
                values: Vec::new(),
            };
            if has_sensitive_field(&self.redactor, event) {
                event.record(&mut values);
            }
            // One scan: the secrets the scanner finds and every occurrence
            // of a sensitive field's value are replaced in one pass.
            let redacted = redact_line(&self.redactor, line, &values.values);
            if let Cow::Owned(out) = redacted {
                // A copy, not a move: the buffer keeps its capacity.
                line.clear();
                line.push_str(&out);
            }
            let out = writer.write_str(line);
            if !reentrant {
                // `line` now holds exactly the redacted line: a
                // `RedactingWriter` with this redactor that receives these
                // bytes next need not scan them again.
                EMITTED.set(self.redactor.config_id());
            }
            if line.capacity() > 64 * 1024 {
                *line = String::new(); // don't keep a huge buffer per thread
                EMITTED.set(0);
            }
            out
        })
    }
}

/// Whether `bytes` is exactly the line that [`RedactingFormat`] with this
/// `redactor`'s configuration produced last on this thread (and so is
/// already redacted). One-shot: a second call for the same line says no.
pub(super) fn take_already_redacted(redactor: &Redactor, bytes: &[u8]) -> bool {
    let id = EMITTED.get();
    if id == 0 || id != redactor.config_id() {
        return false;
    }
    EMITTED.set(0);
    LINE.try_with(|cell| cell.try_borrow().is_ok_and(|line| line.as_bytes() == bytes))
        .unwrap_or(false)
}

/// `line` with the scanner's findings and every occurrence of `values`
/// (raw, JSON-escaped and `Debug`-escaped) replaced, in one pass.
fn redact_line<'a>(redactor: &Redactor, line: &'a str, values: &[String]) -> Cow<'a, str> {
    if values.iter().all(|v| v.len() < MIN_SCRUB_LEN) {
        return redactor.redact(line);
    }
    let mut extra = Vec::new();
    for value in values {
        if value.len() < MIN_SCRUB_LEN {
            continue;
        }
        let needs_escape = value
            .chars()
            .any(|c| c == '"' || c == '\\' || c.is_control() || c.escape_debug().len() > 1);
        let forms = [
            Some(Cow::Borrowed(value.as_str())),
            needs_escape.then(|| Cow::Owned(json_escaped(value))),
            needs_escape.then(|| {
                let debug = format!("{value:?}");
                Cow::Owned(debug[1..debug.len() - 1].to_owned())
            }),
        ];
        for form in forms.iter().flatten() {
            for at in memchr::memmem::find_iter(line.as_bytes(), form.as_bytes()) {
                extra.push((at, at + form.len()));
            }
        }
    }
    redactor.redact_with(line, extra)
}

/// Collects the values of fields whose name is sensitive.
struct SensitiveValues<'r> {
    redactor: &'r Redactor,
    values: Vec<String>,
}

impl Visit for SensitiveValues<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.redactor.is_sensitive_field_cached(field.name()) {
            self.values.push(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.redactor.is_sensitive_field_cached(field.name()) {
            let mut s = format!("{value:?}");
            // A quoted `Debug` string: its content is what appears in text.
            if s.len() >= 2 + MIN_SCRUB_LEN && s.starts_with('"') && s.ends_with('"') {
                s.pop();
                s.remove(0);
            }
            self.values.push(s);
        }
    }
}

/// `value` escaped as a JSON string body, the way `serde_json` writes it.
fn json_escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    hardening_core::json::escape_into(&mut out, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escaping_matches_serde_json() {
        for v in ["It's\"Secret1", "a\\b\tc\nd\u{1}e\u{7f}é", "plain"] {
            let json = serde_json::to_string(v).unwrap();
            assert_eq!(json_escaped(v), json[1..json.len() - 1], "{v:?}");
        }
    }

    #[test]
    fn every_escaped_form_is_scrubbed() {
        let r = Redactor::default();
        let pw = "It's\"Secret1".to_owned();
        for line in [
            "password=It's\"Secret1 end",
            r#"{"message":"password=It's\"Secret1 end"}"#,
            r#"password="It's\"Secret1" end"#,
        ] {
            let out = redact_line(&r, line, std::slice::from_ref(&pw));
            assert!(!out.contains("Secret1"), "{line} -> {out}");
            assert!(out.contains("[REDACTED]") && out.contains(" end"), "{out}");
        }
    }
}
