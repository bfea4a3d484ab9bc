//! The shared store: GCRA state in Redis, so every replica of a service
//! enforces one limit (cargo feature `redis`). See [`RedisStore`].

mod backend;
mod builder;
mod connection;
#[cfg(feature = "redis-cluster")]
mod cross_slot;
mod health;
mod script;
mod short_circuit;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hardening_core::clock::duration_to_nanos;

use self::connection::Inner;
use self::health::Route;
use self::script::{decision_command, KeyList};
use self::short_circuit::LimitedKeys;
use super::memory::InMemoryStore;
use super::{Decision, MaybeReady, PolicyCheck, RateLimitStore, StoreError};
use crate::key::Key;
use crate::policy::Policy;
use crate::ConfigError;

pub use self::builder::{
    RedisStoreBuilder, DEFAULT_KEY_PREFIX, DEFAULT_RETRY_INTERVAL, DEFAULT_SHORT_CIRCUIT_CAPACITY,
    DEFAULT_TIMEOUT, DEFAULT_WARN_INTERVAL,
};
pub use self::connection::FailurePolicy;

/// Counters of a [`RedisStore`], for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStoreStats {
    /// Decisions sent to Redis (successful or not).
    pub round_trips: u64,
    /// Calls to Redis that failed or timed out.
    pub failures: u64,
    /// Decisions made by the [`FailurePolicy`] instead of Redis (after a
    /// failure, or while waiting to probe Redis again).
    pub fallbacks: u64,
    /// Requests rejected locally by the short-circuit, without a round trip.
    pub short_circuited: u64,
}

/// Rate-limit state in Redis, shared by every replica that uses the same
/// Redis, key prefix and policy names (cargo feature `redis`).
///
/// Built with [`RedisStore::builder`]; connecting is lazy (on the first
/// decision, which must run inside a Tokio runtime), so a service starts
/// even while Redis is down. [`ping`](RedisStore::ping) checks the
/// connection.
///
/// # How it decides
///
/// One request is one round trip: `EVALSHA` of a Lua script
/// (`gcra.lua`, loaded on first use and again whenever Redis answers
/// `NOSCRIPT`, e.g. after a restart or `SCRIPT FLUSH`). The script reads the
/// server's `TIME` — so replicas whose clocks disagree still agree on every
/// decision — reads the state of every policy matching the request, decides
/// each with the same arithmetic as [`Gcra`](crate::gcra::Gcra), and writes
/// all of them or none (the [`RateLimitStore`] contract). Redis runs a script
/// atomically, so concurrent replicas behave as if they took turns.
///
/// # What Redis holds
///
/// One string per `(policy, client)` that is not fully recovered:
/// `<prefix><policy name>:<key form>` (e.g. `ratelimit:auth:ip:203.0.113.9`)
/// holding the client's theoretical arrival time in nanoseconds since the
/// Unix epoch, with a `PEXPIRE` equal to the time until that state has fully
/// recovered. An expired key and a recovered state are the same thing, so
/// Redis never holds dead keys: its memory is bounded by the clients limited
/// *now*. User ids, API keys and custom keys appear in key names only as
/// their SHA-256 (`ratelimit:api:user:<64 hex digits>`, see
/// [`Key::write_storage`]); IP addresses appear in clear. On a Redis
/// Cluster the key form is the key's hash tag
/// (`ratelimit:auth:{ip:203.0.113.9}`), see below.
///
/// Decisions are exact to the nanosecond for quota windows (burst × period)
/// up to 2<sup>53</sup> ns, about 104 days (Lua numbers are doubles);
/// longer windows are computed to double precision.
///
/// # TLS and credentials
///
/// With the cargo feature `redis-tls`, `rediss://host:port/` URLs connect
/// over TLS (rustls), trusting the platform's roots or the certificates of
/// [`RedisStoreBuilder::ca_file`]. ACL users go in the URL
/// (`rediss://user:password@host/`). The password never appears in an
/// error or a log line of this store: [`ConfigError`]s show the URL with
/// [`mask_password`](hardening_core::url::mask_password), and a
/// [`StoreError`] whose Redis error would quote it gets it masked.
///
/// # Redis Cluster
///
/// With the cargo feature `redis-cluster`,
/// [`RedisStore::cluster_builder`] takes the URLs of a few seed nodes and
/// the store runs on the cluster (the redis crate's async cluster client).
/// Every key carries its client as a hash tag, so all the policies of one
/// request that key on the same client (the usual case: one policy per
/// route, or `auth` and `login` both by IP) live in one slot and are
/// decided by one script call, all or nothing, exactly as on a standalone
/// Redis.
///
/// A request whose policies key on different clients (auth by IP, api by
/// user) spans slots: the store decides each slot's share with one script
/// call, sends them together, and admits the request when every slot
/// admits it. What holds then:
///
/// - **Per slot, everything**: each slot's share is atomic, reads the
///   server's time and consumes nothing when that slot rejects.
/// - **Across slots, no quota burned on rejection, after the fact**: when
///   one slot rejects, the slots that admitted get their unit back (a
///   second script call, `gcra_refund.lua`, before the answer), so a
///   rejected request ends up consuming nothing. Exact unless the state
///   fully recovered between the two calls (then nothing is left to give
///   back) or the refund fails (then one unit stays consumed).
/// - **Across slots, not linearizable**: between the two calls another
///   request may see the unit that is about to be given back and be
///   rejected for it. Limits are never exceeded, but under contention a
///   cross-slot request can be rejected where a standalone Redis would have
///   admitted it.
///
/// `MOVED` and `ASK` (resharding) and `TRYAGAIN` are followed by the
/// cluster client within the store's timeout, and a failover is followed
/// by refreshing the slot map; in the gap between a primary's death and
/// its replica's promotion the [failure policy](#when-redis-fails) decides.
/// One failed node marks the whole store down for the retry interval (the
/// health state is per store, not per node). A key
/// migrated to another node is read against that node's clock: keep the
/// nodes' clocks in sync (NTP), as for replicas of a standalone primary. A
/// multi-key decision whose slot is half migrated can get `TRYAGAIN` until
/// its keys are together again; the client retries a few times within the
/// timeout, then the failure policy decides.
///
/// ```no_run
/// # #[cfg(feature = "redis-cluster")]
/// # fn main() -> Result<(), hardening_ratelimit::ConfigError> {
/// use hardening_ratelimit::store::RedisStore;
///
/// let store = RedisStore::cluster_builder([
///     "redis://10.0.0.1:6379/",
///     "redis://10.0.0.2:6379/",
///     "redis://10.0.0.3:6379/",
/// ])
/// .key_prefix("myapp:rl:")
/// .build()?;
/// assert!(store.is_cluster());
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "redis-cluster"))]
/// # fn main() {}
/// ```
///
/// # Eviction
///
/// Every key the store writes has a TTL, so `maxmemory-policy`
/// `noeviction`, `volatile-lru` and `volatile-ttl` keep limiter state
/// until it has recovered (`volatile-ttl` evicts the most nearly
/// recovered first, the least harmful). `allkeys-lru`/`allkeys-lfu`/
/// `allkeys-random` may evict a limited client's state, handing it its
/// whole burst back early. After the first decision Redis makes, the store
/// asks `CONFIG GET maxmemory-policy` once, in the background (ignoring a
/// refusal, e.g. by an ACL or a managed Redis), and logs a warning (target
/// `hardening_ratelimit`) for an `allkeys-*` policy. On a cluster the
/// answer comes from one node.
///
/// # When Redis fails
///
/// Each call has a timeout ([`RedisStoreBuilder::timeout`], 50 ms by
/// default). When Redis is down, too slow or answers an error, the
/// [`FailurePolicy`] applies: [`Local`](FailurePolicy::Local) (the default)
/// decides with an in-process [`InMemoryStore`], so every replica keeps
/// limiting on its own; [`FailOpen`](FailurePolicy::FailOpen) admits;
/// [`FailClosed`](FailurePolicy::FailClosed) returns a [`StoreError`] and the
/// layer answers `503` with `Retry-After`. A `tracing` warning (target
/// `hardening_ratelimit`) is emitted at most once per
/// [`warn_interval`](RedisStoreBuilder::warn_interval) with the number of
/// failures it stands for.
///
/// After a failure the store stops asking Redis for
/// [`retry_interval`](RedisStoreBuilder::retry_interval) (250 ms by default):
/// requests meanwhile get the failure policy at once instead of each waiting
/// for a timeout, and a dead Redis sees one connection attempt per interval
/// instead of one per request. Then one request probes Redis; when it
/// answers, every request goes back to Redis. The store never trips for
/// good.
///
/// # Short-circuit
///
/// When Redis says a client is limited under a policy for the next `T`, the
/// store remembers it (in a bounded map,
/// [`short_circuit_capacity`](RedisStoreBuilder::short_circuit_capacity))
/// and answers that client's requests locally until `T` has passed, without
/// a round trip, whenever every policy the request matches is remembered as
/// limited (the usual case: one policy per route). A flood from one client
/// then costs Redis about one call per period instead of one per request.
/// The local answer is the one Redis would give: a GCRA state only moves
/// forward and a limited client consumes nothing, so nothing another replica
/// does can admit the client before `T`. `T` is measured on the layer's
/// clock from before the round trip, so it errs early, never late. (Deleting
/// a key by hand does not lift a short-circuit; it ends at `T` anyway.)
///
/// # Example
///
/// Nothing listens on port 1, so this store falls back to its local limiter:
///
/// ```
/// use std::num::NonZeroU32;
/// use std::time::Duration;
/// use hardening_ratelimit::store::{FailurePolicy, MaybeReady, PolicyCheck, RateLimitStore, RedisStore};
/// use hardening_ratelimit::{Key, Policy, Quota};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let store = RedisStore::builder("redis://127.0.0.1:1/")
///     .key_prefix("myapp:rl:")
///     .timeout(Duration::from_millis(50))
///     .failure_policy(FailurePolicy::Local)
///     .build()
///     .unwrap();
///
/// let login = Policy::new("login", Quota::per_minute(NonZeroU32::new(2).unwrap()));
/// let client = Key::ip("203.0.113.9".parse().unwrap(), 64);
/// let mut admitted = 0;
/// for _ in 0..3 {
///     let decision = match store.check(&[PolicyCheck::new(&login, &client)], Duration::ZERO) {
///         MaybeReady::Ready(decision) => decision,
///         MaybeReady::Pending(future) => future.await,
///     };
///     admitted += usize::from(decision.unwrap().is_allowed());
/// }
/// assert_eq!(admitted, 2);
/// assert!(!store.is_redis_up());
///
/// let err = RedisStore::builder("redis://127.0.0.1:6379/").timeout(Duration::ZERO).build().unwrap_err();
/// assert_eq!(err.field(), "timeout");
/// # });
/// ```
///
/// # Clone
///
/// Clones share everything: the connection, the local fallback store, the
/// short-circuit and the health state.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("RedisStore")
            .field("key_prefix", &inner.key_prefix)
            .field("timeout", &inner.timeout)
            .field("failure_policy", &inner.failure_policy)
            .field("redis_up", &inner.health.is_up())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A builder for a store on the Redis at `url`: `redis://host:port/db`,
    /// `redis://:password@host/`, `redis://user:password@host/` or
    /// `redis+unix:///path/to/socket`.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder::new(url.into())
    }

    /// A store on the Redis at `url` with every default.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `url` is not a Redis URL.
    pub fn new(url: impl Into<String>) -> Result<Self, ConfigError> {
        Self::builder(url).build()
    }

    /// A builder for a store on the Redis Cluster reached through the seed
    /// nodes at `urls` (cargo feature `redis-cluster`): `redis://host:port/`
    /// for each of a few nodes (any of them, primaries or replicas; the
    /// client learns the rest with `CLUSTER SLOTS`), the same credentials in
    /// each, and `rediss://` URLs with the `redis-tls` feature. See
    /// [Redis Cluster](RedisStore#redis-cluster).
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_builder<I>(urls: I) -> RedisStoreBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        RedisStoreBuilder::cluster(urls.into_iter().map(Into::into).collect())
    }

    /// Whether the store is on a Redis Cluster
    /// ([`cluster_builder`](RedisStore::cluster_builder)).
    pub fn is_cluster(&self) -> bool {
        self.inner.backend.is_cluster()
    }

    /// The prefix of every key this store writes.
    pub fn key_prefix(&self) -> &str {
        &self.inner.key_prefix
    }

    /// What the store does when Redis fails.
    pub fn failure_policy(&self) -> FailurePolicy {
        self.inner.failure_policy
    }

    /// Whether the store currently asks Redis: `false` from a failure until
    /// a probe succeeds.
    pub fn is_redis_up(&self) -> bool {
        self.inner.health.is_up()
    }

    /// The in-process store used by [`FailurePolicy::Local`] (to inspect it,
    /// or to [`sweep`](InMemoryStore::sweep) it from a background task).
    pub fn local_store(&self) -> Option<&InMemoryStore> {
        self.inner.local.as_ref()
    }

    /// Keys currently held by the short-circuit (0 when it is disabled).
    pub fn short_circuit_len(&self) -> usize {
        self.inner.limited.as_ref().map_or(0, LimitedKeys::len)
    }

    /// The store's counters.
    pub fn stats(&self) -> RedisStoreStats {
        let inner = &self.inner;
        RedisStoreStats {
            round_trips: inner.round_trips.load(Ordering::Relaxed),
            failures: inner.failures.load(Ordering::Relaxed),
            fallbacks: inner.fallbacks.load(Ordering::Relaxed),
            short_circuited: inner.short_circuited.load(Ordering::Relaxed),
        }
    }

    /// Asks Redis for `PING`, within the store's timeout (a readiness check).
    /// Must run inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// A [`StoreError`] when Redis does not answer in time or answers an
    /// error.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let ping = async {
            let mut conn = inner.connection()?;
            ::redis::cmd("PING").query_async::<()>(&mut conn).await
        };
        match tokio::time::timeout(inner.timeout, ping).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(inner.redis_error("Redis PING failed", err)),
            Err(_) => Err(StoreError::new(format!(
                "Redis PING timed out after {:?}",
                inner.timeout
            ))),
        }
    }
}

/// The future of a decision that asks Redis.
pub struct RedisDecisionFuture {
    inner: Pin<Box<dyn Future<Output = Result<Decision, StoreError>> + Send + 'static>>,
}

impl fmt::Debug for RedisDecisionFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisDecisionFuture")
            .finish_non_exhaustive()
    }
}

impl Future for RedisDecisionFuture {
    type Output = Result<Decision, StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl RateLimitStore for RedisStore {
    type Future = RedisDecisionFuture;

    fn check(&self, checks: &[PolicyCheck<'_>], now: Duration) -> MaybeReady<Self::Future> {
        let inner = &self.inner;
        if checks.is_empty() {
            return MaybeReady::Ready(Ok(Decision::new()));
        }
        let now_nanos = duration_to_nanos(now);
        let cluster = inner.backend.is_cluster();
        let keys = KeyList::new(&inner.key_prefix, checks, cluster);
        if let Some(decision) = inner.short_circuit(&keys, now_nanos) {
            inner.short_circuited.fetch_add(1, Ordering::Relaxed);
            return MaybeReady::Ready(Ok(decision));
        }
        if inner.health.route() == Route::Skip {
            return MaybeReady::Ready(inner.fallback(checks, now, None));
        }

        let own = || -> Vec<(Policy, Key)> {
            checks
                .iter()
                .map(|c| (c.policy().clone(), c.key().clone()))
                .collect()
        };
        #[cfg(feature = "redis-cluster")]
        if cluster {
            if let Some(groups) = keys.tag_groups() {
                let groups = groups
                    .into_iter()
                    .map(|group| cross_slot::SlotGroup {
                        cmd: script::group_command(&inner.script_sha, &keys, checks, &group),
                        checks: group,
                    })
                    .collect();
                // Refunds need every policy, whatever the failure policy.
                return MaybeReady::Pending(RedisDecisionFuture {
                    inner: Box::pin(Arc::clone(inner).decide_groups(groups, keys, own(), now)),
                });
            }
        }
        let cmd = decision_command(&inner.script_sha, &keys, checks);
        // What a fallback needs after the call, owned (cheap: reference counts).
        let owned: Vec<(Policy, Key)> = match inner.failure_policy {
            FailurePolicy::FailClosed => Vec::new(),
            FailurePolicy::FailOpen | FailurePolicy::Local => own(),
        };
        MaybeReady::Pending(RedisDecisionFuture {
            inner: Box::pin(Arc::clone(inner).decide_remote(cmd, keys, owned, now)),
        })
    }
}
