//! The validated configuration: the schema of `secure_api.toml`, its
//! defaults, and the checks that turn it into a [`Config`].
//!
//! Sources, later ones winning: the built-in defaults (equal to the shipped
//! `examples/secure_api.toml`, a test checks it), the file given with
//! `--config PATH` (or `SECURE_API_CONFIG`), environment variables, flags
//! (see `cli.rs`). Unknown keys are errors, and so is every value out of
//! range; each error names the key (`connections.idle_timeout_ms`), the bad
//! value and, when an override set it, the variable or flag.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use hardening_core::TrustedProxies;
use hardening_ratelimit::Quota;
use serde::{Deserialize, Serialize};

use crate::serve::ServeLimits;

/// The file's schema. Every section and key is optional: what is left out
/// keeps its default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Settings {
    pub(crate) server: ServerSettings,
    pub(crate) connections: ConnectionSettings,
    pub(crate) requests: RequestSettings,
    pub(crate) rate_limits: RateLimitSettings,
    pub(crate) upstream: UpstreamSettings,
    pub(crate) circuit: CircuitSettings,
    pub(crate) retry: RetrySettings,
    pub(crate) load_shedding: LoadShedSettings,
    pub(crate) health: HealthSettings,
}

/// `[server]`: where to listen and whom to believe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServerSettings {
    pub(crate) addr: String,
    pub(crate) metrics_addr: String,
    pub(crate) trusted_proxies: Vec<String>,
    pub(crate) public_hosts: Vec<String>,
    pub(crate) cors_origins: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:3000".into(),
            metrics_addr: crate::metrics::DEFAULT_METRICS_ADDR.into(),
            trusted_proxies: Vec::new(),
            public_hosts: Vec::new(),
            cors_origins: Vec::new(),
        }
    }
}

/// `[connections]`: the slow-client limits of `serve.rs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ConnectionSettings {
    pub(crate) header_read_timeout_ms: u64,
    pub(crate) idle_timeout_ms: u64,
    pub(crate) max_connections: u64,
    pub(crate) max_headers: u64,
    pub(crate) max_header_bytes: u64,
    pub(crate) h2_max_concurrent_streams: u64,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        let d = ServeLimits::default();
        Self {
            header_read_timeout_ms: d.header_read_timeout.as_millis() as u64,
            idle_timeout_ms: d.idle_timeout.as_millis() as u64,
            max_connections: d.max_connections as u64,
            max_headers: d.max_headers as u64,
            max_header_bytes: d.max_header_bytes as u64,
            h2_max_concurrent_streams: u64::from(d.h2_max_concurrent_streams),
        }
    }
}

/// `[requests]`: body limits and per-route timeouts (`baseline.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RequestSettings {
    pub(crate) body_limit_bytes: u64,
    pub(crate) auth_body_limit_bytes: u64,
    pub(crate) body_deadline_ms: u64,
    pub(crate) timeout_ms: u64,
    pub(crate) llm_timeout_ms: u64,
}

impl Default for RequestSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 10 * 1024 * 1024,
            auth_body_limit_bytes: 16 * 1024,
            body_deadline_ms: 30_000,
            timeout_ms: 10_000,
            llm_timeout_ms: 30_000,
        }
    }
}

/// `[rate_limits]`: one quota per policy, `COUNT/UNIT` with unit `sec`,
/// `min` or `hour`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RateLimitSettings {
    pub(crate) auth: String,
    pub(crate) api: String,
    pub(crate) llm: String,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            auth: "5/min".into(),
            api: "60/min".into(),
            llm: "20/min".into(),
        }
    }
}

/// `[upstream]`: the service behind `/llm/complete`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct UpstreamSettings {
    /// Empty: start the simulated upstream.
    pub(crate) url: String,
    pub(crate) failure_rate: f64,
    pub(crate) latency_ms: u64,
    pub(crate) attempt_timeout_ms: u64,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            url: String::new(),
            failure_rate: 0.0,
            latency_ms: 0,
            attempt_timeout_ms: 10_000,
        }
    }
}

/// `[circuit]`: the breaker in front of the upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CircuitSettings {
    pub(crate) failures: u64,
    pub(crate) window_secs: u64,
    pub(crate) failure_rate: f64,
    pub(crate) open_ms: u64,
    pub(crate) max_open_ms: u64,
    pub(crate) half_open_probes: u64,
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self {
            failures: 5,
            window_secs: 60,
            failure_rate: 0.5,
            open_ms: 5_000,
            max_open_ms: 60_000,
            half_open_probes: 2,
        }
    }
}

/// `[retry]`: retries of one upstream call, inside the breaker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RetrySettings {
    pub(crate) attempts: u64,
    pub(crate) backoff_base_ms: u64,
    pub(crate) backoff_max_ms: u64,
    pub(crate) deadline_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff_base_ms: 1_000,
            backoff_max_ms: 4_000,
            deadline_ms: 15_000,
        }
    }
}

/// `[load_shedding]`: the concurrency limit in front of the routes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LoadShedSettings {
    pub(crate) enabled: bool,
    /// `fixed`, `aimd`, `vegas` or `gradient2`.
    pub(crate) algorithm: String,
    /// The fixed limit, or the adaptive limit's start.
    pub(crate) limit: u64,
    pub(crate) min_limit: u64,
    pub(crate) max_limit: u64,
    pub(crate) critical_share: f64,
    pub(crate) default_share: f64,
    pub(crate) critical: Vec<String>,
    pub(crate) sheddable: Vec<String>,
    pub(crate) retry_after_secs: u64,
}

impl Default for LoadShedSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            algorithm: "gradient2".into(),
            limit: 64,
            min_limit: 8,
            max_limit: 512,
            critical_share: 0.1,
            default_share: 0.3,
            critical: vec!["/auth".into()],
            sheddable: vec!["/llm".into()],
            retry_after_secs: 1,
        }
    }
}

/// `[health]`: probes and shutdown (`probes.rs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct HealthSettings {
    pub(crate) drain_delay_ms: u64,
    pub(crate) shutdown_deadline_ms: u64,
    pub(crate) cache_ttl_ms: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        Self {
            drain_delay_ms: 5_000,
            shutdown_deadline_ms: 10_000,
            cache_ttl_ms: 1_000,
        }
    }
}

/// A setting that does not parse or is out of range; names it.
#[derive(Debug)]
pub(crate) struct ConfigError {
    /// The key (`server.addr`), or the flag or variable.
    key: String,
    value: String,
    expected: String,
    /// The variable or flag that set it, when not the file.
    source: Option<String>,
}

impl ConfigError {
    pub(crate) fn new(
        key: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Self {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
            source: None,
        }
    }

    /// Says which variable or flag set the key.
    pub(crate) fn set_by(mut self, source: Option<&str>) -> Self {
        if self.source.is_none() {
            self.source = source.map(str::to_owned);
        }
        self
    }

    /// The key it names.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid `{}` = `{}`", self.key, self.value)?;
        if let Some(source) = &self.source {
            write!(f, " (set by {source})")?;
        }
        write!(f, ": expected {}", self.expected)
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Parses a config file: unknown keys and mistyped values are errors
    /// naming the key path.
    #[cfg(test)]
    pub(crate) fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
            ConfigError::new("file", err.message(), "valid TOML")
        })?;
        Self::from_table(table)
    }

    /// Deserializes a table, naming the key of the first bad value.
    pub(crate) fn from_table(table: toml::Table) -> Result<Self, ConfigError> {
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(
            |err: serde_path_to_error::Error<toml::de::Error>| {
                let path = err.path().to_string();
                let inner = err.into_inner();
                let message = inner.message().to_owned();
                // `unknown field `x`, expected one of ...`: the path is the
                // section, the bad value is the field.
                if let Some(rest) = message.strip_prefix("unknown field `") {
                    let field = rest.split('`').next().unwrap_or(rest);
                    // The path already ends with the unknown field.
                    let key = if path.is_empty() || path == "." {
                        field.to_owned()
                    } else {
                        path
                    };
                    return ConfigError::new(key, field, format!("a known key ({message})"));
                }
                ConfigError::new(path, message, "a value of the key's type")
            },
        )
    }

    /// The defaults as a TOML table (the shape overrides are checked
    /// against).
    pub(crate) fn default_table() -> toml::Table {
        toml::Table::try_from(Settings::default()).expect("the defaults serialize")
    }

    /// Turns the settings into the running configuration, checking every
    /// value. `sources` says which variable or flag set a key, for errors.
    pub(crate) fn resolve(
        &self,
        sources: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        self.check().map_err(|err| {
            let source = sources(err.key());
            err.set_by(source.as_deref())
        })
    }

    fn check(&self) -> Result<Config, ConfigError> {
        let s = &self.server;
        let addr = socket_addr("server.addr", &s.addr)?;
        let metrics_addr = if s.metrics_addr.eq_ignore_ascii_case("off") {
            None
        } else {
            Some(socket_addr("server.metrics_addr", &s.metrics_addr)?)
        };
        let trusted_proxies = TrustedProxies::parse(s.trusted_proxies.iter().map(String::as_str))
            .map_err(|_| {
            ConfigError::new(
                "server.trusted_proxies",
                s.trusted_proxies.join(","),
                "IP addresses or CIDRs such as 10.0.0.0/8",
            )
        })?;
        for host in &s.public_hosts {
            if host.is_empty() || host.contains(['/', ' ', ':']) {
                return Err(ConfigError::new(
                    "server.public_hosts",
                    host,
                    "host names such as api.example.com or *.example.com",
                ));
            }
        }
        let cors_origins =
            crate::baseline::parse_origins(&s.cors_origins.join(",")).map_err(|why| {
                ConfigError::new("server.cors_origins", s.cors_origins.join(","), why)
            })?;

        let c = &self.connections;
        let serve = ServeLimits {
            header_read_timeout: millis(
                "connections.header_read_timeout_ms",
                c.header_read_timeout_ms,
            )?,
            idle_timeout: millis("connections.idle_timeout_ms", c.idle_timeout_ms)?,
            max_connections: range(
                "connections.max_connections",
                c.max_connections,
                1,
                1_000_000,
            )? as usize,
            max_headers: range("connections.max_headers", c.max_headers, 1, 1_000)? as usize,
            max_header_bytes: range(
                "connections.max_header_bytes",
                c.max_header_bytes,
                1024,
                1 << 20,
            )? as usize,
            h2_max_concurrent_streams: range(
                "connections.h2_max_concurrent_streams",
                c.h2_max_concurrent_streams,
                1,
                10_000,
            )? as u32,
        };

        let r = &self.requests;
        let requests = RequestLimits {
            body_limit: range("requests.body_limit_bytes", r.body_limit_bytes, 1, 1 << 32)?
                as usize,
            auth_body_limit: range(
                "requests.auth_body_limit_bytes",
                r.auth_body_limit_bytes,
                1,
                1 << 32,
            )? as usize,
            body_deadline: millis("requests.body_deadline_ms", r.body_deadline_ms)?,
            timeout: millis("requests.timeout_ms", r.timeout_ms)?,
            llm_timeout: millis("requests.llm_timeout_ms", r.llm_timeout_ms)?,
        };

        let q = &self.rate_limits;
        let quotas = Quotas {
            auth: quota("rate_limits.auth", &q.auth)?,
            api: quota("rate_limits.api", &q.api)?,
            llm: quota("rate_limits.llm", &q.llm)?,
        };

        let u = &self.upstream;
        if !(0.0..=1.0).contains(&u.failure_rate) {
            return Err(ConfigError::new(
                "upstream.failure_rate",
                u.failure_rate,
                "a number from 0.0 to 1.0",
            ));
        }
        let upstream = UpstreamConfig {
            url: (!u.url.is_empty()).then(|| u.url.clone()),
            failure_rate: u.failure_rate,
            latency: Duration::from_millis(u.latency_ms),
            attempt_timeout: millis("upstream.attempt_timeout_ms", u.attempt_timeout_ms)?,
        };

        let b = &self.circuit;
        if !(b.failure_rate > 0.0 && b.failure_rate <= 1.0) {
            return Err(ConfigError::new(
                "circuit.failure_rate",
                b.failure_rate,
                "a fraction above 0 and at most 1",
            ));
        }
        let circuit = CircuitConfig {
            failures: range("circuit.failures", b.failures, 1, 10_000)? as u32,
            window: Duration::from_secs(range("circuit.window_secs", b.window_secs, 1, 86_400)?),
            failure_rate: b.failure_rate,
            open: millis("circuit.open_ms", b.open_ms)?,
            max_open: millis("circuit.max_open_ms", b.max_open_ms)?,
            half_open_probes: range("circuit.half_open_probes", b.half_open_probes, 1, 1_000)?
                as u32,
        };
        if circuit.max_open < circuit.open {
            return Err(ConfigError::new(
                "circuit.max_open_ms",
                b.max_open_ms,
                format!("at least circuit.open_ms ({})", b.open_ms),
            ));
        }

        let t = &self.retry;
        let retry = RetryConfig {
            attempts: range("retry.attempts", t.attempts, 1, 10)? as u32,
            backoff_base: millis("retry.backoff_base_ms", t.backoff_base_ms)?,
            backoff_max: millis("retry.backoff_max_ms", t.backoff_max_ms)?,
            deadline: millis("retry.deadline_ms", t.deadline_ms)?,
        };
        if retry.backoff_max < retry.backoff_base {
            return Err(ConfigError::new(
                "retry.backoff_max_ms",
                t.backoff_max_ms,
                format!("at least retry.backoff_base_ms ({})", t.backoff_base_ms),
            ));
        }

        let l = &self.load_shedding;
        let algorithm = match l.algorithm.as_str() {
            "fixed" => ShedAlgorithm::Fixed,
            "aimd" => ShedAlgorithm::Aimd,
            "vegas" => ShedAlgorithm::Vegas,
            "gradient2" => ShedAlgorithm::Gradient2,
            other => {
                return Err(ConfigError::new(
                    "load_shedding.algorithm",
                    other,
                    "fixed, aimd, vegas or gradient2",
                ))
            }
        };
        let min_limit = range("load_shedding.min_limit", l.min_limit, 1, 1_000_000)? as u32;
        let max_limit = range("load_shedding.max_limit", l.max_limit, 1, 1_000_000)? as u32;
        let limit = range("load_shedding.limit", l.limit, 1, 1_000_000)? as u32;
        if algorithm != ShedAlgorithm::Fixed && !(min_limit..=max_limit).contains(&limit) {
            return Err(ConfigError::new(
                "load_shedding.limit",
                limit,
                format!("from load_shedding.min_limit ({min_limit}) to load_shedding.max_limit ({max_limit})"),
            ));
        }
        for (key, paths) in [
            ("load_shedding.critical", &l.critical),
            ("load_shedding.sheddable", &l.sheddable),
        ] {
            for path in paths {
                if !path.starts_with('/') {
                    return Err(ConfigError::new(key, path, "path prefixes such as /llm"));
                }
            }
        }
        let shares =
            hardening_loadshed::Shares::new(l.critical_share, l.default_share).map_err(|_| {
                if (0.0..=1.0).contains(&l.critical_share) {
                    ConfigError::new(
                        "load_shedding.default_share",
                        l.default_share,
                        "a fraction in 0..=1 with critical_share + default_share ≤ 1",
                    )
                } else {
                    ConfigError::new(
                        "load_shedding.critical_share",
                        l.critical_share,
                        "a fraction in 0..=1",
                    )
                }
            })?;
        let load_shedding = LoadShedConfig {
            enabled: l.enabled,
            algorithm,
            limit,
            min_limit,
            max_limit,
            shares,
            critical: l.critical.clone(),
            sheddable: l.sheddable.clone(),
            retry_after: Duration::from_secs(range(
                "load_shedding.retry_after_secs",
                l.retry_after_secs,
                1,
                3_600,
            )?),
        };

        let h = &self.health;
        let health = HealthConfig {
            drain_delay: Duration::from_millis(h.drain_delay_ms),
            shutdown_deadline: millis("health.shutdown_deadline_ms", h.shutdown_deadline_ms)?,
            cache_ttl: Duration::from_millis(h.cache_ttl_ms),
        };

        Ok(Config {
            addr,
            metrics_addr,
            trusted_proxies,
            public_hosts: s.public_hosts.clone(),
            cors_origins,
            serve,
            requests,
            quotas,
            upstream,
            circuit,
            retry,
            load_shedding,
            health,
            redis_url: None,
            token_secret: None,
        })
    }
}

fn socket_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value
        .parse()
        .map_err(|_| ConfigError::new(key, value, "HOST:PORT such as 127.0.0.1:3000"))
}

fn millis(key: &str, ms: u64) -> Result<Duration, ConfigError> {
    range(key, ms, 1, 86_400_000).map(Duration::from_millis)
}

fn range(key: &str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(
            key,
            value,
            format!("a whole number from {min} to {max}"),
        ))
    }
}

/// `COUNT/sec`, `COUNT/min` or `COUNT/hour`.
fn quota(key: &str, value: &str) -> Result<Quota, ConfigError> {
    let bad = || {
        ConfigError::new(
            key,
            value,
            "COUNT/UNIT such as 60/min (unit sec, min or hour)",
        )
    };
    let (count, unit) = value.split_once('/').ok_or_else(bad)?;
    let count: NonZeroU32 = count.trim().parse().map_err(|_| bad())?;
    match unit.trim() {
        "s" | "sec" | "second" => Ok(Quota::per_second(count)),
        "m" | "min" | "minute" => Ok(Quota::per_minute(count)),
        "h" | "hour" => Ok(Quota::per_hour(count)),
        _ => Err(bad()),
    }
}

/// The running configuration, every value checked.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) addr: SocketAddr,
    /// The admin listener serving `/metrics`; `None` when `off`.
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) public_hosts: Vec<String>,
    pub(crate) cors_origins: Vec<http::HeaderValue>,
    pub(crate) serve: ServeLimits,
    pub(crate) requests: RequestLimits,
    pub(crate) quotas: Quotas,
    pub(crate) upstream: UpstreamConfig,
    pub(crate) circuit: CircuitConfig,
    pub(crate) retry: RetryConfig,
    pub(crate) load_shedding: LoadShedConfig,
    pub(crate) health: HealthConfig,
    /// Redis for the shared rate limit and its health check (`REDIS_URL`
    /// only: it may hold a password).
    pub(crate) redis_url: Option<String>,
    /// The key that signs demo bearer tokens (`TOKEN_SECRET` only).
    pub(crate) token_secret: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("upstream", &self.upstream.url)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "[set]"))
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "token_secret",
                &self.token_secret.as_ref().map(|_| "[secret]"),
            )
            .finish_non_exhaustive()
    }
}

/// `[requests]`, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RequestLimits {
    pub(crate) body_limit: usize,
    pub(crate) auth_body_limit: usize,
    pub(crate) body_deadline: Duration,
    pub(crate) timeout: Duration,
    pub(crate) llm_timeout: Duration,
}

/// `[rate_limits]`, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Quotas {
    pub(crate) auth: Quota,
    pub(crate) api: Quota,
    pub(crate) llm: Quota,
}

/// `[upstream]`, checked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct UpstreamConfig {
    pub(crate) url: Option<String>,
    pub(crate) failure_rate: f64,
    pub(crate) latency: Duration,
    pub(crate) attempt_timeout: Duration,
}

/// `[circuit]`, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CircuitConfig {
    pub(crate) failures: u32,
    pub(crate) window: Duration,
    pub(crate) failure_rate: f64,
    pub(crate) open: Duration,
    pub(crate) max_open: Duration,
    pub(crate) half_open_probes: u32,
}

/// `[retry]`, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RetryConfig {
    pub(crate) attempts: u32,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) deadline: Duration,
}

/// The concurrency limit's controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShedAlgorithm {
    Fixed,
    Aimd,
    Vegas,
    Gradient2,
}

/// `[load_shedding]`, checked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LoadShedConfig {
    pub(crate) enabled: bool,
    pub(crate) algorithm: ShedAlgorithm,
    pub(crate) limit: u32,
    pub(crate) min_limit: u32,
    pub(crate) max_limit: u32,
    pub(crate) shares: hardening_loadshed::Shares,
    pub(crate) critical: Vec<String>,
    pub(crate) sheddable: Vec<String>,
    pub(crate) retry_after: Duration,
}

/// `[health]`, checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HealthConfig {
    pub(crate) drain_delay: Duration,
    pub(crate) shutdown_deadline: Duration,
    pub(crate) cache_ttl: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../secure_api.toml");

    #[test]
    fn the_shipped_file_is_the_defaults() {
        assert_eq!(Settings::from_toml(SHIPPED).unwrap(), Settings::default());
        let c = Settings::default().resolve(&|_| None).unwrap();
        assert_eq!(
            c.quotas.auth,
            Quota::per_minute(NonZeroU32::new(5).unwrap())
        );
        assert_eq!(
            c.quotas.api,
            Quota::per_minute(NonZeroU32::new(60).unwrap())
        );
        assert_eq!(
            c.quotas.llm,
            Quota::per_minute(NonZeroU32::new(20).unwrap())
        );
        assert_eq!(
            (c.circuit.failures, c.circuit.window),
            (5, Duration::from_secs(60))
        );
        assert_eq!(c.retry.attempts, 3);
        assert_eq!(
            (c.retry.backoff_base, c.retry.backoff_max),
            (Duration::from_secs(1), Duration::from_secs(4))
        );
        assert_eq!(c.serve, ServeLimits::default());
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(Settings::from_toml("").unwrap(), Settings::default());
        let s = Settings::from_toml("[server]\naddr = \"127.0.0.1:0\"\n").unwrap();
        assert_eq!(s.server.addr, "127.0.0.1:0");
        assert_eq!(s.rate_limits, RateLimitSettings::default());
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = Settings::from_toml("[server]\nadress = \"x\"\n").unwrap_err();
        assert_eq!(err.key(), "server.adress", "{err}");
        assert!(err.to_string().contains("adress"), "{err}");
        let err = Settings::from_toml("[sever]\naddr = \"x\"\n").unwrap_err();
        assert_eq!(err.key(), "sever", "{err}");
    }

    #[test]
    fn mistyped_values_name_the_key_and_value() {
        let err = Settings::from_toml("[connections]\nidle_timeout_ms = \"soon\"\n").unwrap_err();
        assert_eq!(err.key(), "connections.idle_timeout_ms", "{err}");
        assert!(err.to_string().contains("soon"), "{err}");
        let err = Settings::from_toml("[server\n").unwrap_err();
        assert_eq!(err.key(), "file", "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_key_and_value() {
        for (text, key, value) in [
            ("[server]\naddr = \"nope\"", "server.addr", "nope"),
            (
                "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"x\"]",
                "server.trusted_proxies",
                "x",
            ),
            (
                "[server]\ncors_origins = [\"*\"]",
                "server.cors_origins",
                "*",
            ),
            (
                "[connections]\nidle_timeout_ms = 0",
                "connections.idle_timeout_ms",
                "0",
            ),
            (
                "[rate_limits]\napi = \"60/fortnight\"",
                "rate_limits.api",
                "60/fortnight",
            ),
            (
                "[rate_limits]\nauth = \"0/min\"",
                "rate_limits.auth",
                "0/min",
            ),
            (
                "[upstream]\nfailure_rate = 2.0",
                "upstream.failure_rate",
                "2",
            ),
            ("[retry]\nbackoff_max_ms = 10", "retry.backoff_max_ms", "10"),
            ("[circuit]\nfailures = 0", "circuit.failures", "0"),
            (
                "[load_shedding]\nalgorithm = \"magic\"",
                "load_shedding.algorithm",
                "magic",
            ),
            (
                "[load_shedding]\ncritical_share = 0.9\ndefault_share = 0.5",
                "load_shedding.default_share",
                "0.5",
            ),
            (
                "[load_shedding]\nsheddable = [\"llm\"]",
                "load_shedding.sheddable",
                "llm",
            ),
        ] {
            let err = Settings::from_toml(text)
                .unwrap()
                .resolve(&|_| None)
                .unwrap_err();
            assert_eq!(err.key(), key, "{text}: {err}");
            assert!(err.to_string().contains(value), "{text}: {err}");
        }
    }
}
