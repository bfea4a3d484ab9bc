//! [`LogBuffer`]: a `tracing-subscriber` writer that keeps what it is given.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

/// Appends everything written to one shared buffer; clones share it.
///
/// It is both an [`io::Write`] and a
/// [`MakeWriter`](tracing_subscriber::fmt::MakeWriter), so it goes straight
/// into `tracing_subscriber::fmt().with_writer(buffer.clone())`.
///
/// # Example
///
/// ```
/// use std::io::Write;
/// use hardening_testkit::LogBuffer;
///
/// let logs = LogBuffer::new();
/// logs.clone().write_all(b"hello").unwrap();
/// assert_eq!(logs.contents(), "hello");
/// ```
#[derive(Clone, Debug, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, as (lossy) UTF-8.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.lock().clone()
    }

    /// Forgets what was written.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A test that panicked while writing leaves consistent bytes behind.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}
