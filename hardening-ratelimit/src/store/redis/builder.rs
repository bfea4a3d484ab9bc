//! [`RedisStoreBuilder`]: the settings of a [`RedisStore`], validated.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ::redis::aio::ConnectionManagerConfig;
use ::redis::Client;
use hardening_core::clock::duration_to_nanos;
use hardening_core::{Clock, MonotonicClock};

use super::backend::Backend;
use super::connection::{FailurePolicy, Inner};
use super::health::Health;
#[cfg(feature = "redis-cluster")]
use super::script::REFUND_SCRIPT;
use super::script::SCRIPT;
use super::short_circuit::LimitedKeys;
use super::RedisStore;
use crate::store::memory::{InMemoryStore, DEFAULT_MAX_KEYS};
use crate::ConfigError;

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

/// Builds a [`RedisStore`]; see [`RedisStore::builder`].
#[derive(Debug)]
#[must_use]
pub struct RedisStoreBuilder {
    target: Target,
    key_prefix: String,
    timeout: Duration,
    connect_timeout: Duration,
    failure_policy: FailurePolicy,
    retry_interval: Duration,
    warn_interval: Duration,
    short_circuit: Option<usize>,
    local_max_keys: usize,
    clock: Option<Arc<dyn Clock>>,
    #[cfg(feature = "redis-tls")]
    ca_file: Option<std::path::PathBuf>,
}

/// Which Redis the builder was given.
#[derive(Debug)]
enum Target {
    Standalone(String),
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<String>),
}

impl RedisStoreBuilder {
    pub(super) fn new(url: String) -> Self {
        Self::with_target(Target::Standalone(url))
    }

    #[cfg(feature = "redis-cluster")]
    pub(super) fn cluster(urls: Vec<String>) -> Self {
        Self::with_target(Target::Cluster(urls))
    }

    fn with_target(target: Target) -> Self {
        RedisStoreBuilder {
            target,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: Duration::from_secs(1),
            failure_policy: FailurePolicy::default(),
            retry_interval: DEFAULT_RETRY_INTERVAL,
            warn_interval: DEFAULT_WARN_INTERVAL,
            short_circuit: Some(DEFAULT_SHORT_CIRCUIT_CAPACITY),
            local_max_keys: DEFAULT_MAX_KEYS,
            clock: None,
            #[cfg(feature = "redis-tls")]
            ca_file: None,
        }
    }

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

    /// Trusts the certificate authorities in the PEM file at `path` (instead
    /// of the platform's roots) for a `rediss://` URL: a private CA, or the
    /// self-signed one of a test (cargo feature `redis-tls`). Read by
    /// [`build`](RedisStoreBuilder::build).
    #[cfg(feature = "redis-tls")]
    pub fn ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The PEM of [`ca_file`](Self::ca_file), checked, when one is set;
    /// `tls_url` says whether the (first) URL is `rediss://`.
    #[cfg(feature = "redis-tls")]
    fn ca_pem(&self, tls_url: bool) -> Result<Option<Vec<u8>>, ConfigError> {
        let Some(path) = &self.ca_file else {
            return Ok(None);
        };
        let bad_ca = |expected: &'static str| {
            ConfigError::new("RedisStore", "ca_file", path.display(), expected)
        };
        if !tls_url {
            return Err(bad_ca("a rediss:// URL to use the CA file with"));
        }
        let pem = std::fs::read(path).map_err(|_| bad_ca("a readable PEM file"))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(bad_ca("a PEM file with at least one CERTIFICATE"));
        }
        Ok(Some(pem))
    }

    /// Opens the client of the target (TLS with the CA file when one is
    /// set) and returns it with the URL's password, if any.
    fn backend(
        &self,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<(Backend, Option<String>), ConfigError> {
        match &self.target {
            Target::Standalone(url) => {
                let client = self.standalone_client(url)?;
                let password = client
                    .get_connection_info()
                    .redis_settings()
                    .password()
                    .map(str::to_owned);
                // One connection attempt per reconnect: the store's own retry
                // interval paces the attempts, so a dead Redis sees one attempt per
                // interval rather than the manager's exponential series per request.
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(Some(connect_timeout))
                    .set_response_timeout(Some(timeout));
                Ok((
                    Backend::Standalone {
                        client,
                        config,
                        connection: OnceLock::new(),
                    },
                    password,
                ))
            }
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(urls) => self.cluster_client(urls, connect_timeout, timeout),
        }
    }

    fn standalone_client(&self, url: &str) -> Result<Client, ConfigError> {
        let bad_url = || {
            ConfigError::new(
                "RedisStore",
                "url",
                hardening_core::url::mask_password(url),
                if cfg!(feature = "redis-tls") {
                    "a Redis URL such as redis://127.0.0.1:6379/ or rediss://host:6380/"
                } else {
                    "a Redis URL such as redis://127.0.0.1:6379/ (rediss:// needs the redis-tls feature)"
                },
            )
        };
        #[cfg(feature = "redis-tls")]
        if let Some(pem) = self.ca_pem(url.starts_with("rediss://"))? {
            let certs = ::redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            };
            return Client::build_with_tls(url, certs).map_err(|_| bad_url());
        }
        Client::open(url).map_err(|_| bad_url())
    }

    #[cfg(feature = "redis-cluster")]
    fn cluster_client(
        &self,
        urls: &[String],
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<(Backend, Option<String>), ConfigError> {
        use ::redis::IntoConnectionInfo;

        let bad = |value: String, expected: &'static str| {
            ConfigError::new("RedisStore", "cluster_builder", value, expected)
        };
        let Some(first) = urls.first() else {
            return Err(bad(
                "[]".to_owned(),
                "at least one seed node URL, such as redis://10.0.0.1:6379/",
            ));
        };
        let mut password = None;
        for url in urls {
            let masked = hardening_core::url::mask_password(url).to_string();
            let info = url.as_str().into_connection_info().map_err(|_| {
                bad(
                    masked.clone(),
                    if cfg!(feature = "redis-tls") {
                        "seed node URLs such as redis://10.0.0.1:6379/ or rediss://host:6380/"
                    } else {
                        "seed node URLs such as redis://10.0.0.1:6379/ (rediss:// needs the redis-tls feature)"
                    },
                )
            })?;
            if info.redis_settings().db() != 0 {
                return Err(bad(masked, "URLs of database 0 (a cluster has no other)"));
            }
            if url.starts_with("rediss://") != first.starts_with("rediss://") {
                return Err(bad(
                    masked,
                    "seed node URLs that all use TLS (rediss://) or none",
                ));
            }
            if password.is_none() {
                password = info.redis_settings().password().map(str::to_owned);
            }
        }
        // Retries are quick and few: a redirect (MOVED/ASK) or TRYAGAIN
        // during resharding is retried at once or after a millisecond or so,
        // well within the store's timeout; a dead primary exhausts them
        // fast, and the store's failure policy covers the gap until the
        // cluster has promoted its replica.
        #[allow(unused_mut)]
        let mut builder = ::redis::cluster::ClusterClient::builder(urls.iter().map(String::as_str))
            .retries(3)
            .min_retry_wait(1)
            .max_retry_wait(10)
            .connection_timeout(connect_timeout)
            .response_timeout(timeout);
        #[cfg(feature = "redis-tls")]
        if let Some(pem) = self.ca_pem(first.starts_with("rediss://"))? {
            builder = builder.certs(::redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem),
            });
        }
        let client = builder.build().map_err(|err| {
            bad(
                hardening_core::url::mask_password(first).to_string(),
                cluster_expectation(&err),
            )
        })?;
        let config = ::redis::cluster::ClusterConfig::new()
            .set_connection_timeout(connect_timeout)
            .set_response_timeout(timeout);
        Ok((
            Backend::Cluster {
                client,
                config,
                connection: OnceLock::new(),
            },
            password,
        ))
    }

    /// Checks the settings and builds the store. Does not connect.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the setting: `url` (not a Redis URL; a
    /// password in it is masked in the error), `timeout` or
    /// `connect_timeout` (zero), `short_circuit_capacity` (zero),
    /// `local_max_keys` (zero), `ca_file` (unreadable, no certificate in
    /// it, or the URL is not `rediss://`); on a cluster `cluster_builder`
    /// (no seed URL, a URL that is not a Redis URL or names a database
    /// other than 0, TLS and plain URLs mixed, credentials that differ;
    /// passwords masked) and `key_prefix` (contains `{`, which would take
    /// the place of the store's hash tags).
    pub fn build(self) -> Result<RedisStore, ConfigError> {
        let (backend, password) = self.backend(self.connect_timeout, self.timeout)?;
        if backend.is_cluster() && self.key_prefix.contains('{') {
            return Err(ConfigError::new(
                "RedisStore",
                "key_prefix",
                &self.key_prefix,
                "a prefix without '{' on a cluster (the store puts each client's hash tag in braces)",
            ));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::new(
                "RedisStore",
                "timeout",
                format_args!("{:?}", self.timeout),
                "a timeout longer than zero, such as 50ms",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::new(
                "RedisStore",
                "connect_timeout",
                format_args!("{:?}", self.connect_timeout),
                "a timeout longer than zero, such as 1s",
            ));
        }
        if self.short_circuit == Some(0) {
            return Err(ConfigError::new(
                "RedisStore",
                "short_circuit_capacity",
                0,
                "at least one key (or without_short_circuit())",
            ));
        }
        if self.local_max_keys == 0 && matches!(self.failure_policy, FailurePolicy::Local) {
            return Err(ConfigError::new(
                "RedisStore",
                "local_max_keys",
                0,
                "at least one tracked key",
            ));
        }
        let local = match self.failure_policy {
            FailurePolicy::Local => Some(InMemoryStore::with_max_keys(self.local_max_keys)?),
            FailurePolicy::FailOpen | FailurePolicy::FailClosed => None,
        };
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(MonotonicClock::new()));
        Ok(RedisStore {
            inner: Arc::new(Inner {
                backend,
                script_sha: ::redis::Script::new(SCRIPT).get_hash().to_owned(),
                #[cfg(feature = "redis-cluster")]
                refund_sha: ::redis::Script::new(REFUND_SCRIPT).get_hash().to_owned(),
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
                password,
                eviction_checked: AtomicBool::new(false),
            }),
        })
    }
}

/// What a cluster seed list needs, after the redis client refused it.
#[cfg(feature = "redis-cluster")]
fn cluster_expectation(err: &::redis::RedisError) -> &'static str {
    if err.kind() == ::redis::ErrorKind::InvalidClientConfig {
        "seed node URLs with the same username and password"
    } else {
        "seed node URLs the redis client accepts"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rejects_bad_settings() {
        let err = RedisStore::builder("http://:hunter2@example.com/")
            .build()
            .unwrap_err();
        assert_eq!((err.component(), err.field()), ("RedisStore", "url"));
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(err.value().contains("example.com"), "{err}");
        let err = RedisStore::builder("redis://127.0.0.1/")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "timeout");
        assert_eq!(err.value(), "0ns");
        let err = RedisStore::builder("redis://127.0.0.1/")
            .connect_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "connect_timeout");
        let err = RedisStore::builder("redis://127.0.0.1/")
            .short_circuit_capacity(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "short_circuit_capacity");
        let err = RedisStore::builder("redis://127.0.0.1/")
            .local_max_keys(0)
            .build()
            .unwrap_err();
        assert_eq!(err.field(), "local_max_keys");
        let store = RedisStore::builder("redis://127.0.0.1/").build().unwrap();
        assert_eq!(store.key_prefix(), DEFAULT_KEY_PREFIX);
        assert_eq!(store.failure_policy(), FailurePolicy::Local);
        assert!(store.local_store().is_some());
        assert!(store.is_redis_up(), "innocent until proven guilty");
    }
}
