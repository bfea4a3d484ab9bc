//! The local short-circuit: keys Redis reported as limited, until when.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

/// What Redis said about one limited key, on the layer's clock (nanoseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Limited {
    /// The key admits no request before this time.
    pub(super) until: u64,
    /// The key has its whole burst back at this time.
    pub(super) reset_at: u64,
}

/// A bounded map from storage key to [`Limited`].
///
/// Entries are dropped when looked up after they expire, and expired entries
/// are swept when the map is full. When it is full of live entries a new one
/// is simply not cached (that request and the next go to Redis as usual), so
/// memory stays bounded by `capacity` (plus at most one entry per thread
/// inserting at the same moment).
pub(super) struct LimitedKeys {
    map: DashMap<Box<str>, Limited>,
    capacity: usize,
    /// No entry expires before this time: the earliest `until` seen by the
    /// last sweep, so a full map of live entries is not swept on every insert.
    next_sweep: AtomicU64,
}

impl LimitedKeys {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::new(),
            capacity,
            next_sweep: AtomicU64::new(0),
        }
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The entry of `key` if it is still limited at `now`.
    pub(super) fn get(&self, key: &str, now: u64) -> Option<Limited> {
        let hit = self.map.get(key).map(|e| *e)?;
        if hit.until > now {
            return Some(hit);
        }
        self.map.remove_if(key, |_, v| v.until <= now);
        None
    }

    /// Remembers that `key` is limited.
    pub(super) fn insert(&self, key: &str, limited: Limited, now: u64) {
        if self.map.len() >= self.capacity && !self.map.contains_key(key) {
            if now < self.next_sweep.load(Ordering::Relaxed) {
                return;
            }
            self.map.retain(|_, v| v.until > now);
            let earliest = self.map.iter().map(|e| e.until).min().unwrap_or(0);
            self.next_sweep.store(earliest, Ordering::Relaxed);
            if self.map.len() >= self.capacity {
                return;
            }
        }
        self.map.insert(key.into(), limited);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(until: u64) -> Limited {
        Limited {
            until,
            reset_at: until + 10,
        }
    }

    #[test]
    fn entries_expire() {
        let keys = LimitedKeys::new(8);
        keys.insert("a", limited(100), 0);
        assert_eq!(keys.get("a", 99), Some(limited(100)));
        assert_eq!(keys.get("a", 100), None);
        assert_eq!(keys.len(), 0, "an expired entry is dropped when read");
        assert_eq!(keys.get("b", 0), None);
    }

    #[test]
    fn bounded_and_sweeps_when_full() {
        let keys = LimitedKeys::new(4);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            keys.insert(key, limited(100 + i as u64), 0);
        }
        // full of live entries: not cached
        keys.insert("e", limited(500), 50);
        assert_eq!(keys.len(), 4);
        assert_eq!(keys.get("e", 50), None);
        // an existing key is updated even when full
        keys.insert("a", limited(300), 50);
        assert_eq!(keys.get("a", 50), Some(limited(300)));
        // at 100 nothing has expired yet
        keys.insert("e", limited(500), 100);
        assert_eq!(keys.len(), 4);
        // at 102, "b" and "c" have expired: room again
        keys.insert("e", limited(500), 102);
        assert_eq!(keys.get("e", 102), Some(limited(500)));
        assert!(keys.len() <= 4);
        for i in 0..1000 {
            keys.insert(&i.to_string(), limited(1_000_000), 200);
        }
        assert!(keys.len() <= keys.capacity());
    }
}
