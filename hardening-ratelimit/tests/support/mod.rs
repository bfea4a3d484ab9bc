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
