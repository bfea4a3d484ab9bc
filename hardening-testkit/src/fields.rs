//! [`FieldsOnly`]: a `tracing` subscriber that formats every field of every
//! event into nothing.
//!
//! What it measures is the work an event costs its emitter (each value's
//! `Debug`/`Display`, e.g. scrubbing done while formatting) without any real
//! subscriber's own formatting or I/O: for allocation counts and benches.
//!
//! ```
//! use hardening_testkit::FieldsOnly;
//!
//! let subscriber = FieldsOnly::default();
//! tracing::subscriber::with_default(subscriber.clone(), || {
//!     tracing::info!(uri = "/x", "seen");
//! });
//! assert_eq!(subscriber.events(), 1);
//! assert!(subscriber.formatted() >= "/x".len());
//! ```

use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Metadata, Subscriber};

/// Takes every event and formats each field into a byte counter. Clones
/// share their counters.
#[derive(Clone, Debug, Default)]
pub struct FieldsOnly {
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    formatted: AtomicUsize,
    events: AtomicUsize,
}

impl FieldsOnly {
    /// Events seen since creation or the last [`reset`](Self::reset).
    pub fn events(&self) -> usize {
        self.counts.events.load(Ordering::Relaxed)
    }

    /// Bytes of field values formatted since creation or the last reset.
    pub fn formatted(&self) -> usize {
        self.counts.formatted.load(Ordering::Relaxed)
    }

    /// Sets both counters back to zero.
    pub fn reset(&self) {
        self.counts.events.store(0, Ordering::Relaxed);
        self.counts.formatted.store(0, Ordering::Relaxed);
    }
}

/// Counts the bytes written to it and keeps none.
struct Discard(usize);

impl fmt::Write for Discard {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

impl Visit for Discard {
    fn record_debug(&mut self, _field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self, "{value:?}");
    }
}

impl Subscriber for FieldsOnly {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut out = Discard(0);
        event.record(&mut out);
        self.counts.formatted.fetch_add(out.0, Ordering::Relaxed);
        self.counts.events.fetch_add(1, Ordering::Relaxed);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
