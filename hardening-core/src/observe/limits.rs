//! Concurrency limits and rate limits.

use std::sync::Arc;

use super::label_enum;

/// Counts a concurrency limiter keeps anyway, read when metrics are
/// scraped.
pub trait ConcurrencyStats: Send + Sync + 'static {
    /// The current limit.
    fn limit(&self) -> u64;

    /// Calls `each(class, in_flight, rejected_total)` for every request
    /// class (a fixed set of names).
    fn classes(&self, each: &mut dyn FnMut(&'static str, u64, u64));
}

/// Receives the stats of each concurrency limiter built with it.
pub trait ConcurrencyObserver: Send + Sync + 'static {
    /// A limiter was built; read `stats` whenever metrics are collected.
    fn attach(&self, stats: Arc<dyn ConcurrencyStats>);
}

label_enum! {
    /// The decision of a rate limiter for one request.
    pub enum RateLimitOutcome {
        /// Within the quota.
        Admitted => "admitted",
        /// Over the quota: answered `429`.
        Rejected => "rejected",
        /// Not limited (an exempt path or client, or no key).
        Bypassed => "bypassed",
        /// The store failed and no fallback decided.
        StoreError => "store_error",
    }
}

label_enum! {
    /// The state of a rate limiter's shared store.
    pub enum StoreState {
        /// The shared store answers.
        Up => "up",
        /// The shared store is down; a local limiter decides.
        LocalFallback => "local_fallback",
        /// The shared store is down; requests are admitted unlimited.
        FailOpen => "fail_open",
        /// The shared store is down; requests are refused (`503`).
        FailClosed => "fail_closed",
    }
}

/// Hands out the observer of each rate-limit policy, by its name (called
/// once per policy when the layer is built).
pub trait RateLimitObserver: Send + Sync + 'static {
    /// The observer of the policy called `name`.
    fn policy(&self, name: &str) -> Arc<dyn PolicyObserver>;
}

/// What one rate-limit policy reports.
pub trait PolicyObserver: Send + Sync + 'static {
    /// A decision for one request.
    fn decision(&self, outcome: RateLimitOutcome) {
        let _ = outcome;
    }

    /// A decision was taken without the shared store while it was down
    /// (by the local fallback, or admitted under fail-open); it is also
    /// reported to [`decision`](Self::decision).
    fn fallback_decision(&self) {}

    /// A request whose key had no slot of its own (the store was full for
    /// this policy) was counted under the shared overflow bucket.
    fn overflow(&self) {}

    /// The store moved to `state` (also called once when the policy is
    /// bound to a store that is not [`StoreState::Up`]). Rare: never on the
    /// request path of a healthy store.
    fn store_state(&self, state: StoreState) {
        let _ = state;
    }

    /// Attaches a reader for values the limiter keeps anyway (tracked
    /// keys), read when metrics are collected.
    fn attach(&self, stats: Arc<dyn RateLimitStats>) {
        let _ = stats;
    }
}

/// Values a rate limiter keeps anyway, read when metrics are scraped.
pub trait RateLimitStats: Send + Sync + 'static {
    /// Keys with state in memory.
    fn tracked_keys(&self) -> u64;
}
