//! Per-thread counter stripes, so the closed-state path counts a call with a
//! plain store instead of an atomic read-modify-write on a shared line.
//!
//! Each thread that records calls claims one of [`count`] stripe numbers,
//! process-wide, for as long as it lives (released when it exits). A stripe
//! of a window has exactly one writer, its owner, which increments with a
//! load and a store; readers sum all stripes. Threads that find no free
//! stripe (more recording threads than stripes) share one extra stripe
//! updated with atomic read-modify-writes.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Bits of [`CLAIMED`]: at most 64 owned stripes.
const MAX_STRIPES: usize = 64;

static CLAIMED: AtomicU64 = AtomicU64::new(0);

/// How many owned stripes each window has: the machine's parallelism,
/// between 4 and 64.
pub(crate) fn count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .clamp(4, MAX_STRIPES)
    })
}

/// A thread's claim on a stripe number, released when the thread exits.
struct Claim {
    /// `usize::MAX`: not claimed yet; `NONE`: none was free.
    stripe: Cell<usize>,
}

const UNCLAIMED: usize = usize::MAX;
const NONE: usize = usize::MAX - 1;

impl Claim {
    fn claim() -> usize {
        let limit = count();
        let mut claimed = CLAIMED.load(Ordering::Relaxed);
        loop {
            let free = (!claimed).trailing_zeros() as usize;
            if free >= limit {
                return NONE;
            }
            match CLAIMED.compare_exchange_weak(
                claimed,
                claimed | (1 << free),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return free,
                Err(seen) => claimed = seen,
            }
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let stripe = self.stripe.get();
        if stripe < MAX_STRIPES {
            CLAIMED.fetch_and(!(1 << stripe), Ordering::AcqRel);
        }
    }
}

thread_local! {
    static CLAIM: Claim = const {
        Claim {
            stripe: Cell::new(UNCLAIMED),
        }
    };
}

/// This thread's stripe, or `None` if it must use the shared one.
#[inline]
pub(crate) fn current() -> Option<usize> {
    CLAIM
        .try_with(|claim| {
            let mut stripe = claim.stripe.get();
            if stripe == UNCLAIMED {
                stripe = Claim::claim();
                claim.stripe.set(stripe);
            }
            stripe
        })
        .ok()
        .filter(|s| *s < MAX_STRIPES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_get_distinct_stripes_and_release_them() {
        let mine = current();
        assert!(mine.is_some());
        assert_eq!(current(), mine, "stable for the thread");
        let other = std::thread::spawn(current).join().unwrap();
        assert_ne!(other, mine);
        // The exited thread's stripe is free again.
        let again = std::thread::spawn(current).join().unwrap();
        assert!(again.is_some());
        assert_eq!(
            CLAIMED.load(Ordering::SeqCst) & (1 << mine.unwrap()),
            1 << mine.unwrap()
        );
    }
}
