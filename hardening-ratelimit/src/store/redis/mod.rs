//! The shared store: GCRA state in Redis, so every replica of a service
//! enforces one limit (cargo feature `redis`). See [`RedisStore`].

mod health;
mod short_circuit;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, ErrorKind, RedisError, ServerErrorKind, Value};
use hardening_core::clock::duration_to_nanos;
use hardening_core::{Clock, MonotonicClock};

use self::health::{Health, Route};
use self::short_circuit::{Limited, LimitedKeys};
use super::memory::{InMemoryStore, DEFAULT_MAX_KEYS};
use super::{Decision, MaybeReady, PolicyCheck, PolicyOutcome, RateLimitStore, StoreError};
use crate::error::ConfigError;
use crate::gcra::Gcra;
use crate::key::Key;
use crate::policy::Policy;

/// The Lua script deciding one request (see `gcra.lua`).
const SCRIPT: &str = include_str!("gcra.lua");

/// Periods and windows are passed to Lua as doubles and come back as 64-bit
/// integers; clamping them here keeps absurd quotas (centuries) in range.
const MAX_LUA_NANOS: u64 = 1 << 62;

/// The default [`RedisStoreBuilder::key_prefix`].
pub const DEFAULT_KEY_PREFIX: &str = "ratelimit:";
/// The default [`RedisStoreBuilder::timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// The default [`RedisStoreBuilder::retry_interval`].
pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_millis(250);
/// The default [`RedisStoreBuilder::warn_interval`].
pub const DEFAULT_WARN_INTERVAL: Duration = Duration::from_secs(10);
/// The default [`RedisStoreBuilder::short_circuit_capacity`].
pub const DEFAULT_SHORT_CIRCUIT_CAPACITY: usize = 10_000;

/// What a [`RedisStore`] does when Redis is down, too slow, or answers an
/// error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Admit every request (availability over protection). Outcomes describe
    /// a client with no history: `remaining` is the burst minus one.
    FailOpen,
    /// Decide nothing: the store returns a [`StoreError`] and the layer
    /// answers `503 Service Unavailable` with `Retry-After`.
    FailClosed,
    /// Decide with an in-process [`InMemoryStore`] (the default): each
    /// replica enforces the quota on its own, so a fleet of `n` replicas
    /// admits up to `n` times the quota while Redis is away.
    #[default]
    Local,
}

impl FailurePolicy {
    fn name(self) -> &'static str {
        match self {
            FailurePolicy::FailOpen => "fail-open",
            FailurePolicy::FailClosed => "fail-closed",
            FailurePolicy::Local => "local",
        }
    }
}

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
/// [`Key::write_storage`]); IP addresses appear in clear. The store needs a standalone Redis (or the primary behind
/// Sentinel): one script touches several keys, which Redis Cluster only
/// allows within one hash slot.
///
/// Decisions are exact to the nanosecond for quota windows (burst × period)
/// up to 2<sup>53</sup> ns, about 104 days (Lua numbers are doubles);
/// longer windows are computed to double precision.
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
/// assert_eq!(err.field(), "RedisStore timeout");
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

struct Inner {
    client: Client,
    connection_config: ConnectionManagerConfig,
    connection: OnceLock<ConnectionManager>,
    script_sha: String,
    key_prefix: String,
    timeout: Duration,
    failure_policy: FailurePolicy,
    local: Option<InMemoryStore>,
    limited: Option<LimitedKeys>,
    health: Health,
    round_trips: AtomicU64,
    failures: AtomicU64,
    fallbacks: AtomicU64,
    short_circuited: AtomicU64,
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

/// Builds a [`RedisStore`]; see [`RedisStore::builder`].
#[derive(Debug)]
#[must_use]
pub struct RedisStoreBuilder {
    url: String,
    key_prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
    failure_policy: FailurePolicy,
    retry_interval: Duration,
    warn_interval: Duration,
    short_circuit: Option<usize>,
    local_max_keys: usize,
    clock: Option<Arc<dyn Clock>>,
}

impl RedisStore {
    /// A builder for a store on the Redis at `url`: `redis://host:port/db`,
    /// `redis://:password@host/`, `redis://user:password@host/` or
    /// `redis+unix:///path/to/socket`.
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.into(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(1),
            failure_policy: FailurePolicy::default(),
            retry_interval: DEFAULT_RETRY_INTERVAL,
            warn_interval: DEFAULT_WARN_INTERVAL,
            short_circuit: Some(DEFAULT_SHORT_CIRCUIT_CAPACITY),
            local_max_keys: DEFAULT_MAX_KEYS,
            clock: None,
        }
    }

    /// A store on the Redis at `url` with every default.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when `url` is not a Redis URL.
    pub fn new(url: impl Into<String>) -> Result<Self, ConfigError> {
        Self::builder(url).build()
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
            Ok(Err(err)) => Err(StoreError::new("Redis PING failed").with_source(err)),
            Err(_) => Err(StoreError::new(format!(
                "Redis PING timed out after {:?}",
                inner.timeout
            ))),
        }
    }
}

impl RedisStoreBuilder {
    /// Prefixes every key the store writes (default
    /// [`DEFAULT_KEY_PREFIX`], `"ratelimit:"`). Replicas that share a limit
    /// must use the same prefix; use different prefixes to keep several
    /// applications apart on one Redis.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// How long one decision may take before the [`FailurePolicy`] applies
    /// (default 50 ms). Must not be zero.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long one attempt to connect to Redis may take (default 1 s). Runs
    /// in the background; requests never wait longer than
    /// [`timeout`](RedisStoreBuilder::timeout). Must not be zero.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// What to do when Redis fails (default [`FailurePolicy::Local`]).
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = policy;
        self
    }

    /// After a failure, how long to leave Redis alone before one request
    /// probes it again (default 250 ms). Zero probes on every request.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.retry_interval = interval;
        self
    }

    /// At most one warning per `interval` while Redis fails (default 10 s).
    pub fn warn_interval(mut self, interval: Duration) -> Self {
        self.warn_interval = interval;
        self
    }

    /// Remember up to `capacity` clients that Redis reported as limited and
    /// reject them locally until they may retry (default
    /// [`DEFAULT_SHORT_CIRCUIT_CAPACITY`]). Must not be zero.
    pub fn short_circuit_capacity(mut self, capacity: usize) -> Self {
        self.short_circuit = Some(capacity);
        self
    }

    /// Asks Redis on every request, even for clients it just reported as
    /// limited.
    pub fn without_short_circuit(mut self) -> Self {
        self.short_circuit = None;
        self
    }

    /// The cap on client keys of the local fallback store (default
    /// [`DEFAULT_MAX_KEYS`]; see [`InMemoryStore::with_max_keys`]).
    pub fn local_max_keys(mut self, max_keys: usize) -> Self {
        self.local_max_keys = max_keys;
        self
    }

    /// The clock that times [`retry_interval`](RedisStoreBuilder::retry_interval)
    /// and [`warn_interval`](RedisStoreBuilder::warn_interval) (default
    /// [`MonotonicClock`]). Decisions use Redis's time, and the local
    /// fallback and short-circuit use the `now` the layer passes.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks the settings and builds the store. Does not connect.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the setting: `RedisStore url` (not a Redis
    /// URL; a password in it is masked in the error), `RedisStore timeout`
    /// or `RedisStore connect_timeout` (zero),
    /// `RedisStore short_circuit_capacity` (zero), `max_keys` (zero local
    /// cap).
    pub fn build(self) -> Result<RedisStore, ConfigError> {
        let client = Client::open(self.url.as_str()).map_err(|_| {
            ConfigError::new(
                "RedisStore url",
                mask_password(&self.url),
                "a Redis URL such as redis://127.0.0.1:6379/",
            )
        })?;
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "RedisStore timeout",
                format_args!("{:?}", self.timeout),
                "a timeout longer than zero, such as 50ms",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "RedisStore connect_timeout",
                format_args!("{:?}", self.connect_timeout),
                "a timeout longer than zero, such as 1s",
            ));
        }
        if self.short_circuit == Some(0) {
            return Err(ConfigError::new(
                "RedisStore short_circuit_capacity",
                0,
                "at least one key (or without_short_circuit())",
            ));
        }
        let local = match self.failure_policy {
            FailurePolicy::Local => Some(InMemoryStore::with_max_keys(self.local_max_keys)?),
            FailurePolicy::FailOpen | FailurePolicy::FailClosed => None,
        };
        // One connection attempt per reconnect: the store's own retry
        // interval paces the attempts, so a dead Redis sees one attempt per
        // interval rather than the manager's exponential series per request.
        let connection_config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.timeout));
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(MonotonicClock::new()));
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                connection_config,
                connection: OnceLock::new(),
                script_sha: ::redis::Script::new(SCRIPT).get_hash().to_owned(),
                key_prefix: self.key_prefix,
                timeout: self.timeout,
                failure_policy: self.failure_policy,
                local,
                limited: self.short_circuit.map(LimitedKeys::new),
                health: Health::new(
                    clock,
                    duration_to_nanos(self.retry_interval),
                    duration_to_nanos(self.warn_interval),
                ),
                round_trips: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                fallbacks: AtomicU64::new(0),
                short_circuited: AtomicU64::new(0),
            }),
        })
    }
}

/// `redis://user:secret@host/` → `redis://user:***@host/`, so a password
/// never reaches an error message or a log.
fn mask_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let userinfo = &rest[..at];
    let user = userinfo.split_once(':').map_or("", |(user, _)| user);
    format!("{scheme}://{user}:***{}", &rest[at..])
}

impl Inner {
    fn connection(&self) -> Result<ConnectionManager, RedisError> {
        if let Some(conn) = self.connection.get() {
            return Ok(conn.clone());
        }
        let conn = ConnectionManager::new_lazy_with_config(
            self.client.clone(),
            self.connection_config.clone(),
        )?;
        // Two first requests may race; the loser's manager is dropped unused.
        Ok(self.connection.get_or_init(|| conn).clone())
    }

    /// Runs the decision script; loads it when Redis does not know it.
    async fn eval(&self, cmd: &Cmd) -> Result<Value, RedisError> {
        let mut conn = self.connection()?;
        match cmd.query_async::<Value>(&mut conn).await {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                let sha: String = ::redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(SCRIPT)
                    .query_async(&mut conn)
                    .await?;
                if sha != self.script_sha {
                    return Err(RedisError::from((
                        ErrorKind::Client,
                        "SCRIPT LOAD returned an unexpected SHA1",
                        sha,
                    )));
                }
                cmd.query_async::<Value>(&mut conn).await
            }
            other => other,
        }
    }

    /// A decision without Redis, per the failure policy.
    fn fallback(
        &self,
        checks: &[PolicyCheck<'_>],
        now: Duration,
        error: Option<StoreError>,
    ) -> Result<Decision, StoreError> {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        match self.failure_policy {
            FailurePolicy::FailOpen => Ok(checks
                .iter()
                .map(|c| outcome_from_nanos(true, c.policy().gcra().decide(0, 0)))
                .collect()),
            FailurePolicy::FailClosed => Err(error.unwrap_or_else(|| {
                StoreError::new("Redis is unavailable (failed recently; retrying soon)")
            })),
            FailurePolicy::Local => match self.local.as_ref().map(|l| l.check(checks, now)) {
                Some(MaybeReady::Ready(decision)) => decision,
                // The in-memory store always answers at once.
                Some(MaybeReady::Pending(_)) | None => {
                    Err(StoreError::new("local fallback store unavailable"))
                }
            },
        }
    }

    /// A local rejection when every one of `keys` is known to be limited at
    /// `now`: then every outcome is known (no policy admits, so nothing
    /// remains) and the decision is the one Redis would make.
    fn short_circuit(&self, keys: &KeyList, now: u64) -> Option<Decision> {
        let limited = self.limited.as_ref()?;
        let mut decision = Decision::new();
        for key in keys.iter() {
            let l = limited.get(key, now)?;
            decision.push(PolicyOutcome {
                allowed: false,
                remaining: 0,
                reset_after: Duration::from_nanos(l.reset_at.saturating_sub(now)),
                retry_after: Duration::from_nanos(l.until.saturating_sub(now)),
            });
        }
        Some(decision)
    }
}

/// The prefixed storage keys of one request, in one string.
struct KeyList {
    text: String,
    ends: Vec<usize>,
}

impl KeyList {
    fn new(prefix: &str, checks: &[PolicyCheck<'_>]) -> Self {
        let mut text = String::with_capacity(checks.len() * (prefix.len() + 32));
        let mut ends = Vec::with_capacity(checks.len());
        for check in checks {
            text.push_str(prefix);
            check.write_storage_key(&mut text);
            ends.push(text.len());
        }
        Self { text, ends }
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let key = &self.text[start..end];
            start = end;
            key
        })
    }
}

fn outcome_from_nanos(allowed: bool, step: crate::gcra::GcraStep) -> PolicyOutcome {
    PolicyOutcome {
        allowed,
        remaining: step.remaining,
        reset_after: Duration::from_nanos(step.reset_after),
        retry_after: Duration::from_nanos(step.retry_after),
    }
}

/// Turns the script's reply into a decision.
fn parse_reply(value: Value, checks: usize) -> Result<Decision, StoreError> {
    let bad = || StoreError::new("Redis answered the rate limit script with an unexpected reply");
    let Value::Array(items) = value else {
        return Err(bad());
    };
    if items.len() != 1 + 4 * checks {
        return Err(bad());
    }
    let int = |v: &Value| match v {
        Value::Int(n) => u64::try_from(*n).map_err(|_| bad()),
        _ => Err(bad()),
    };
    let mut decision = Decision::new();
    for chunk in items[1..].chunks_exact(4) {
        decision.push(PolicyOutcome {
            allowed: int(&chunk[0])? == 1,
            remaining: u32::try_from(int(&chunk[1])?).unwrap_or(u32::MAX),
            reset_after: Duration::from_nanos(int(&chunk[2])?),
            retry_after: Duration::from_nanos(int(&chunk[3])?),
        });
    }
    Ok(decision)
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
        let keys = KeyList::new(&inner.key_prefix, checks);
        if let Some(decision) = inner.short_circuit(&keys, now_nanos) {
            inner.short_circuited.fetch_add(1, Ordering::Relaxed);
            return MaybeReady::Ready(Ok(decision));
        }
        if inner.health.route() == Route::Skip {
            return MaybeReady::Ready(inner.fallback(checks, now, None));
        }

        let mut cmd = ::redis::cmd("EVALSHA");
        cmd.arg(inner.script_sha.as_str()).arg(checks.len());
        for key in keys.iter() {
            cmd.arg(key);
        }
        cmd.arg(""); // the script reads the server's TIME
        for check in checks {
            let gcra: &Gcra = check.policy().gcra();
            cmd.arg(gcra.period().min(MAX_LUA_NANOS))
                .arg(gcra.window().min(MAX_LUA_NANOS))
                .arg(gcra.burst());
        }
        // What a fallback needs after the call, owned (cheap: reference counts).
        let owned: Vec<(Policy, Key)> = match inner.failure_policy {
            FailurePolicy::FailClosed => Vec::new(),
            FailurePolicy::FailOpen | FailurePolicy::Local => checks
                .iter()
                .map(|c| (c.policy().clone(), c.key().clone()))
                .collect(),
        };
        let inner = Arc::clone(inner);
        let n = checks.len();
        MaybeReady::Pending(RedisDecisionFuture {
            inner: Box::pin(async move {
                inner.round_trips.fetch_add(1, Ordering::Relaxed);
                let reply = match tokio::time::timeout(inner.timeout, inner.eval(&cmd)).await {
                    Ok(Ok(value)) => parse_reply(value, n),
                    // The message names the cause for the log; RedisError
                    // displays no credentials.
                    Ok(Err(err)) => {
                        Err(StoreError::new(format!("Redis failed: {err}")).with_source(err))
                    }
                    Err(_) => Err(StoreError::new(format!(
                        "Redis did not answer within {:?}",
                        inner.timeout
                    ))),
                };
                match reply {
                    Ok(decision) => {
                        inner.health.succeeded();
                        if let Some(limited) = inner.limited.as_ref() {
                            for (key, o) in keys.iter().zip(decision.outcomes()) {
                                if !o.allowed {
                                    limited.insert(
                                        key,
                                        Limited {
                                            until: now_nanos
                                                .saturating_add(duration_to_nanos(o.retry_after)),
                                            reset_at: now_nanos
                                                .saturating_add(duration_to_nanos(o.reset_after)),
                                        },
                                        now_nanos,
                                    );
                                }
                            }
                        }
                        Ok(decision)
                    }
                    Err(err) => {
                        inner.failures.fetch_add(1, Ordering::Relaxed);
                        inner.health.failed(&err, inner.failure_policy.name());
                        let checks: Vec<PolicyCheck<'_>> =
                            owned.iter().map(|(p, k)| PolicyCheck::new(p, k)).collect();
                        inner.fallback(&checks, now, Some(err))
                    }
                }
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("redis://user:s3cret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(mask_password("redis://:s3cret@host/"), "redis://:***@host/");
        assert_eq!(mask_password("redis://host:6379/"), "redis://host:6379/");
        assert_eq!(mask_password("nonsense"), "nonsense");
    }

    #[test]
    fn builder_rejects_bad_settings() {
        let err = RedisStore::builder("http://:hunter2@example.com/")
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "RedisStore url");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.value().contains("example.com"), "{err}");
        let err = RedisStore::builder("redis://127.0.0.1/")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "RedisStore timeout");
        assert_eq!(err.value(), "0ns");
        let err = RedisStore::builder("redis://127.0.0.1/")
            .connect_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "RedisStore connect_timeout");
        let err = RedisStore::builder("redis://127.0.0.1/")
            .short_circuit_capacity(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "RedisStore short_circuit_capacity");
        let err = RedisStore::builder("redis://127.0.0.1/")
            .local_max_keys(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "max_keys");
        let store = RedisStore::builder("redis://127.0.0.1/").build().unwrap();
        assert_eq!(store.key_prefix(), DEFAULT_KEY_PREFIX);
        assert_eq!(store.failure_policy(), FailurePolicy::Local);
        assert!(store.local_store().is_some());
        assert!(store.is_redis_up(), "innocent until proven guilty");
    }

    #[test]
    fn replies_are_validated() {
        let ok = Value::Array(vec![
            Value::Int(0),
            Value::Int(0),
            Value::Int(0),
            Value::Int(5),
            Value::Int(7),
        ]);
        let d = parse_reply(ok, 1).unwrap();
        assert_eq!(
            d.outcomes()[0],
            PolicyOutcome {
                allowed: false,
                remaining: 0,
                reset_after: Duration::from_nanos(5),
                retry_after: Duration::from_nanos(7),
            }
        );
        assert!(parse_reply(Value::Array(vec![Value::Int(1)]), 1).is_err());
        assert!(parse_reply(Value::Nil, 1).is_err());
        let negative = Value::Array(vec![
            Value::Int(1),
            Value::Int(1),
            Value::Int(-1),
            Value::Int(0),
            Value::Int(0),
        ]);
        assert!(parse_reply(negative, 1).is_err());
    }

    #[test]
    fn key_list_holds_prefixed_storage_keys() {
        let a = Policy::new("a", crate::Quota::per_second(std::num::NonZeroU32::MIN));
        let b = Policy::new("b", crate::Quota::per_second(std::num::NonZeroU32::MIN));
        let user = Key::user("u:1");
        let ip = Key::ip("10.0.0.1".parse().unwrap(), 64);
        let keys = KeyList::new(
            "p:",
            &[PolicyCheck::new(&a, &user), PolicyCheck::new(&b, &ip)],
        );
        let keys: Vec<&str> = keys.iter().collect();
        let user_form = format!("p:a:{}", user.to_storage_string());
        assert_eq!(keys, [user_form.as_str(), "p:b:ip:10.0.0.1"]);
        assert!(!keys[0].contains("u:1"), "user ids are hashed: {}", keys[0]);
    }
}
