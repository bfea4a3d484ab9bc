//! Shared by the store tests: deciding through any store, and real
//! `redis-server` processes.
#![allow(dead_code, unused_imports, unreachable_pub)]

use std::time::Duration;

use hardening_ratelimit::store::{Decision, MaybeReady, PolicyCheck, RateLimitStore, StoreError};

/// Decides through any store, awaiting it when it is not ready at once.
pub async fn decide<S: RateLimitStore>(
    store: &S,
    checks: &[PolicyCheck<'_>],
    now: Duration,
) -> Result<Decision, StoreError> {
    match store.check(checks, now) {
        MaybeReady::Ready(decision) => decision,
        MaybeReady::Pending(future) => future.await,
    }
}

#[cfg(feature = "redis")]
pub mod redis {
    //! Real Redis for tests: the shared server (`REDIS_URL`) or our own
    //! process for tests that kill it.

    pub use hardening_testkit::redis::{unique_prefix, url, RedisServer};

    /// A plain connection for inspecting what the store wrote.
    pub async fn connect(url: &str) -> ::redis::aio::MultiplexedConnection {
        ::redis::Client::open(url)
            .expect("valid REDIS_URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis")
    }

    /// Every key under `prefix` (SCAN).
    pub async fn keys_under(
        conn: &mut ::redis::aio::MultiplexedConnection,
        prefix: &str,
    ) -> Vec<String> {
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }
}

pub mod observe {
    //! A recording rate-limit observer: what a metrics backend would see.

    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use hardening_core::observe::{
        PolicyObserver, RateLimitObserver, RateLimitOutcome, RateLimitStats, StoreState,
    };

    /// Hands out one [`Policy`] recorder per policy name and keeps them.
    #[derive(Clone, Default)]
    pub struct Recorder(Arc<Mutex<HashMap<String, Arc<Policy>>>>);

    impl Recorder {
        /// The recorder of policy `name` (bound when the layer was built).
        pub fn policy(&self, name: &str) -> Arc<Policy> {
            self.0.lock().unwrap()[name].clone()
        }
    }

    impl RateLimitObserver for Recorder {
        fn policy(&self, name: &str) -> Arc<dyn PolicyObserver> {
            let policy = Arc::new(Policy::default());
            self.0
                .lock()
                .unwrap()
                .insert(name.to_owned(), policy.clone());
            policy
        }
    }

    /// Everything one policy reported.
    #[derive(Default)]
    pub struct Policy {
        decisions: [AtomicU64; 4],
        fallback: AtomicU64,
        overflow: AtomicU64,
        states: Mutex<Vec<StoreState>>,
        stats: Mutex<Vec<Arc<dyn RateLimitStats>>>,
    }

    impl Policy {
        /// Decisions reported with `outcome`.
        pub fn decisions(&self, outcome: RateLimitOutcome) -> u64 {
            self.decisions[outcome.index()].load(Ordering::Relaxed)
        }

        /// Decisions taken without the shared store.
        pub fn fallback(&self) -> u64 {
            self.fallback.load(Ordering::Relaxed)
        }

        /// Requests sent to the overflow bucket.
        pub fn overflow(&self) -> u64 {
            self.overflow.load(Ordering::Relaxed)
        }

        /// Every store state reported, in order.
        pub fn states(&self) -> Vec<StoreState> {
            self.states.lock().unwrap().clone()
        }

        /// The tracked keys, read from the attached stats (`None`: none
        /// attached).
        pub fn tracked_keys(&self) -> Option<u64> {
            let stats = self.stats.lock().unwrap();
            (!stats.is_empty()).then(|| stats.iter().map(|s| s.tracked_keys()).sum())
        }
    }

    impl PolicyObserver for Policy {
        fn decision(&self, outcome: RateLimitOutcome) {
            self.decisions[outcome.index()].fetch_add(1, Ordering::Relaxed);
        }

        fn fallback_decision(&self) {
            self.fallback.fetch_add(1, Ordering::Relaxed);
        }

        fn overflow(&self) {
            self.overflow.fetch_add(1, Ordering::Relaxed);
        }

        fn store_state(&self, state: StoreState) {
            self.states.lock().unwrap().push(state);
        }

        fn attach(&self, stats: Arc<dyn RateLimitStats>) {
            self.stats.lock().unwrap().push(stats);
        }
    }
}
