//! [`RedactingFields`]: a field formatter for text output.

use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;

use crate::Redactor;

/// Formats fields as `name=value` pairs like the default text formatter,
/// except that a field with a sensitive name prints `name=[REDACTED]` and
/// every other value (and the message) is scanned with
/// [`Redactor::redact`].
///
/// Use it for text output (`fmt().fmt_fields(...)`); for JSON keep the
/// default `JsonFields` and wrap the event formatter in
/// [`RedactingFormat`](super::RedactingFormat).
///
/// # Clone
///
/// Clones share the redactor.
#[derive(Debug, Clone)]
pub struct RedactingFields {
    redactor: Redactor,
}

impl RedactingFields {
    /// Formats fields with `redactor`.
    pub fn new(redactor: Redactor) -> Self {
        RedactingFields { redactor }
    }
}

impl<'w> FormatFields<'w> for RedactingFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut visitor = Visitor {
            redactor: &self.redactor,
            writer,
            first: true,
            result: Ok(()),
            scratch: String::new(),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Visitor<'a, 'w> {
    redactor: &'a Redactor,
    writer: Writer<'w>,
    first: bool,
    result: fmt::Result,
    scratch: String,
}

impl Visitor<'_, '_> {
    fn write(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        let sep = if self.first { "" } else { " " };
        self.first = false;
        if name != "message" && self.redactor.is_sensitive_field_cached(name) {
            self.redactor.count(crate::scan::FIELD_NAME);
            self.scratch.clear();
            if self.redactor.has_fingerprint() {
                let _ = self.scratch.write_fmt(value);
            }
            let replacement = self.redactor.replacement_for(&self.scratch);
            self.result = write!(self.writer, "{sep}{name}={replacement}");
            return;
        }
        self.scratch.clear();
        let _ = self.scratch.write_fmt(value);
        let redacted = self.redactor.redact(&self.scratch);
        self.result = if name == "message" {
            write!(self.writer, "{sep}{redacted}")
        } else {
            write!(self.writer, "{sep}{name}={redacted}")
        };
    }
}

impl Visit for Visitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, format_args!("{value}"));
        } else {
            self.write(field, format_args!("{value:?}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, format_args!("{value:?}"));
    }
}
