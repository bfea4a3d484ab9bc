//! Work accounting behind the linear-time guarantee (not part of the API).
//!
//! Every pass of the scanner reports the bytes it examines with `add`. In
//! debug builds (what `cargo test` runs) the counts go to a per-thread
//! counter that tests read with [`measure`] and hold against
//! [`MAX_STEPS_PER_BYTE`](crate::MAX_STEPS_PER_BYTE); in release builds
//! `add` compiles to nothing.

/// At most this many scanner steps per input byte (plus this many for the
/// call itself): the bound that [`Redactor`](crate::Redactor) keeps on
/// every input, however hostile.
///
/// A step is one byte examined by one pass. The bound is the sum of what
/// each part costs per byte in the worst case: at one nesting level, every
/// byte is read by at most a fixed number of passes (the literal-anchor
/// search, the separator pass, the card skip-scan, each kind of value walk
/// and key walk once, thanks to the walk memos, and one percent-decode and
/// copy); percent-encoded URLs nested in values are decoded and scanned
/// once per level, at most four levels deep, and
/// [`redact_uri`](crate::Redactor::redact_uri) adds at most four levels of
/// splitting and decoding on top. Custom regex patterns are linear too
/// (the `regex` crate guarantees it) and count one step per byte each.
pub const MAX_STEPS_PER_BYTE: u64 = 64;

#[cfg(debug_assertions)]
thread_local! {
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Records `n` steps of work.
#[inline(always)]
pub(crate) fn add(n: usize) {
    #[cfg(debug_assertions)]
    {
        let _ = STEPS.try_with(|s| s.set(s.get().saturating_add(n as u64)));
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = n;
    }
}

/// Runs `f` and returns its result with the scanner steps it took on this
/// thread (debug builds only: release builds do not count).
#[cfg(debug_assertions)]
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = STEPS.try_with(std::cell::Cell::get).unwrap_or(0);
    let r = f();
    let after = STEPS.try_with(std::cell::Cell::get).unwrap_or(0);
    (r, after - before)
}
