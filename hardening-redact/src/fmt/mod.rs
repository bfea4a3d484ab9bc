//! `tracing-subscriber` integration: a redacting event formatter, a
//! redacting field formatter for text output, and a redacting `MakeWriter`.
//!
//! - [`RedactingFormat`] wraps any event formatter (`Full`, `Compact`,
//!   `Json`, ...). It formats the event, then scans the whole line — the
//!   message, every field value, span fields, even the target. Values of
//!   fields with a sensitive *name* are also removed wherever else they
//!   appear in the line, so `info!(password = %pw, "login with {pw}")`
//!   prints the password in neither place.
//! - [`RedactingFields`] formats fields for text output: a field with a
//!   sensitive name prints `name=[REDACTED]`, whatever its value looks like.
//!   (JSON output quotes every value, so `RedactingFormat` alone redacts
//!   JSON fields by name exactly.)
//! - [`RedactingMakeWriter`] scrubs whatever is written through it, line by
//!   line: a last line of defence behind any formatter. Behind
//!   `RedactingFormat` with the same [`Redactor`](crate::Redactor) (or a
//!   clone) each line is still scanned only once: the writer passes on
//!   unscanned exactly the bytes the formatter just produced on the same
//!   thread, and scans everything else.
//!
//! # Example
//!
//! JSON lines on stdout, in two lines of setup:
//!
//! ```no_run
//! use hardening_redact::fmt::{RedactingFormat, RedactingMakeWriter};
//! use hardening_redact::Redactor;
//!
//! let redactor = Redactor::default();
//! tracing_subscriber::fmt()
//!     .json()
//!     .map_event_format(|f| RedactingFormat::new(redactor.clone(), f))
//!     .with_writer(RedactingMakeWriter::new(redactor, std::io::stdout))
//!     .init();
//!
//! tracing::info!(user = "alice", password = "hunter2", "login");
//! // {"timestamp":"...","level":"INFO","fields":{"message":"login","user":"alice","password":"[REDACTED]"},...}
//! ```
//!
//! A runnable check of the same (text output, captured in memory):
//!
//! ```
//! use hardening_redact::fmt::{RedactingFields, RedactingFormat};
//! use hardening_redact::Redactor;
//! use hardening_testkit::LogBuffer;
//!
//! let out = LogBuffer::new();
//! let redactor = Redactor::default();
//! let subscriber = tracing_subscriber::fmt()
//!     .without_time()
//!     .fmt_fields(RedactingFields::new(redactor.clone()))
//!     .map_event_format(|f| RedactingFormat::new(redactor, f))
//!     .with_writer(out.clone())
//!     .finish();
//! tracing::subscriber::with_default(subscriber, || {
//!     let pw = "correct horse battery staple";
//!     tracing::info!(user = "alice", password = pw, "login for alice with {pw}");
//! });
//! let text = out.contents();
//! assert!(text.contains("user=\"alice\"") && text.contains("password=[REDACTED]"));
//! assert!(!text.contains("horse"), "{text}");
//! ```

mod fields;
mod format;
mod writer;

pub use fields::RedactingFields;
pub use format::RedactingFormat;
pub use writer::{RedactingMakeWriter, RedactingWriter};
