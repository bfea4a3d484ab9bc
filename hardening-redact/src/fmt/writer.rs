//! [`RedactingMakeWriter`]: scrubs whatever is written through it.

use std::io;

use tracing_core::Metadata;
use tracing_subscriber::fmt::MakeWriter;

use crate::Redactor;

/// Wraps a [`MakeWriter`] so that every line written is redacted first.
///
/// Writes are buffered until a newline; everything up to the last newline
/// is scanned as one piece (so a multi-line private key in one event is
/// caught), and a trailing partial line is scanned when the writer is
/// dropped. The `fmt` layer writes each event in one call, which takes a
/// fast path without buffering.
///
/// Behind [`RedactingFormat`](super::RedactingFormat) with the same
/// redactor (a clone: same configuration), a line that is byte for byte
/// the one the formatter just redacted on this thread is written without
/// a second scan; any other write is scanned.
///
/// # Clone
///
/// Clones share the redactor and clone the inner `MakeWriter`.
///
/// # Example
///
/// ```
/// use std::io::Write;
/// use hardening_redact::fmt::RedactingMakeWriter;
/// use hardening_redact::Redactor;
/// use hardening_testkit::LogBuffer;
/// use tracing_subscriber::fmt::MakeWriter;
///
/// let out = LogBuffer::new();
/// let make = RedactingMakeWriter::new(Redactor::default(), out.clone());
/// make.make_writer().write_all(b"connect postgres://app:s3cret@db/app\n").unwrap();
/// assert_eq!(out.contents(), "connect postgres://app:[REDACTED]@db/app\n");
/// ```
#[derive(Debug, Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
    redactor: Redactor,
}

impl<M> RedactingMakeWriter<M> {
    /// Wraps `inner` (e.g. `std::io::stdout`).
    pub fn new(redactor: Redactor, inner: M) -> Self {
        RedactingMakeWriter { inner, redactor }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(self.redactor.clone(), self.inner.make_writer())
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> Self::Writer {
        RedactingWriter::new(self.redactor.clone(), self.inner.make_writer_for(meta))
    }
}

/// The writer made by [`RedactingMakeWriter`]; also usable on its own
/// around any [`io::Write`].
#[derive(Debug)]
pub struct RedactingWriter<W: io::Write> {
    inner: W,
    redactor: Redactor,
    pending: Vec<u8>,
}

impl<W: io::Write> RedactingWriter<W> {
    /// Redacts what is written before passing it to `inner`.
    pub fn new(redactor: Redactor, inner: W) -> Self {
        RedactingWriter {
            inner,
            redactor,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, chunk: &[u8]) -> io::Result<()> {
        if super::format::take_already_redacted(&self.redactor, chunk) {
            // Exactly the line `RedactingFormat` just produced with this
            // redactor: scanning it again would change nothing.
            return self.inner.write_all(chunk);
        }
        match std::str::from_utf8(chunk) {
            Ok(text) => {
                let redacted = self.redactor.redact(text);
                self.inner.write_all(redacted.as_bytes())
            }
            Err(_) => {
                let text = String::from_utf8_lossy(chunk);
                let redacted = self.redactor.redact(&text);
                self.inner.write_all(redacted.as_bytes())
            }
        }
    }
}

impl<W: io::Write> io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending.is_empty() && buf.last() == Some(&b'\n') {
            self.emit(buf)?;
            return Ok(buf.len());
        }
        self.pending.extend_from_slice(buf);
        if let Some(nl) = memchr::memrchr(b'\n', &self.pending) {
            let rest = self.pending.split_off(nl + 1);
            let complete = std::mem::replace(&mut self.pending, rest);
            self.emit(&complete)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: io::Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            let _ = self.emit(&rest);
        }
        let _ = self.inner.flush();
    }
}
