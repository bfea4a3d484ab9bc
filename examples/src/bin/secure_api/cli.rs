//! Configuration from command-line flags and environment variables.

use std::fmt;
use std::net::SocketAddr;

use hardening_core::TrustedProxies;

/// The example's configuration.
#[derive(Clone)]
pub(crate) struct Config {
    /// Where to listen (`--addr`, `ADDR`; default `127.0.0.1:3000`, port 0 picks a free one).
    pub(crate) addr: SocketAddr,
    /// A real upstream for `/llm/complete` (`--upstream`, `UPSTREAM_URL`);
    /// `None` starts the simulated one.
    pub(crate) upstream: Option<String>,
    /// Failure rate of the simulated upstream, 0.0..=1.0 (`UPSTREAM_FAILURE_RATE`).
    pub(crate) upstream_failure_rate: f64,
    /// Added latency of the simulated upstream (`UPSTREAM_LATENCY_MS`).
    pub(crate) upstream_latency_ms: u64,
    /// Redis for the shared rate limit and its health check (`REDIS_URL`).
    pub(crate) redis_url: Option<String>,
    /// Reverse proxies whose forwarding headers are believed
    /// (`TRUSTED_PROXIES`, comma-separated CIDRs; default: none).
    pub(crate) trusted_proxies: TrustedProxies,
    /// The key that signs demo bearer tokens (`TOKEN_SECRET`, at least 32
    /// bytes; default: random per process).
    pub(crate) token_secret: Option<String>,
    /// Connection limits (see `serve.rs`).
    pub(crate) serve: crate::serve::ServeLimits,
    /// Origins allowed by CORS (`CORS_ORIGINS`; default none).
    pub(crate) cors_origins: Vec<http::HeaderValue>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("addr", &self.addr)
            .field("upstream", &self.upstream)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "[set]"))
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "token_secret",
                &self.token_secret.as_ref().map(|_| "[secret]"),
            )
            .finish_non_exhaustive()
    }
}

/// A flag or variable that does not parse; names it.
#[derive(Debug)]
pub(crate) struct ConfigError {
    name: &'static str,
    value: String,
    expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} `{}`: expected {}",
            self.name, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    pub(crate) fn from_env_and_args() -> Result<Self, ConfigError> {
        Self::parse(std::env::args().skip(1), |name| std::env::var(name).ok())
    }

    fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut addr = env("ADDR");
        let mut upstream = env("UPSTREAM_URL").filter(|s| !s.is_empty());
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            let mut value = |name: &'static str| {
                inline.clone().or_else(|| args.next()).ok_or(ConfigError {
                    name,
                    value: String::new(),
                    expected: "a value after the flag",
                })
            };
            match flag.as_str() {
                "--addr" => addr = Some(value("--addr")?),
                "--upstream" => upstream = Some(value("--upstream")?),
                _ => {
                    return Err(ConfigError {
                        name: "argument",
                        value: arg,
                        expected: "--addr HOST:PORT or --upstream URL",
                    })
                }
            }
        }

        let addr = addr.unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let addr = addr.parse().map_err(|_| ConfigError {
            name: "ADDR/--addr",
            value: addr.clone(),
            expected: "HOST:PORT such as 127.0.0.1:3000",
        })?;

        let upstream_failure_rate = match env("UPSTREAM_FAILURE_RATE") {
            None => 0.0,
            Some(v) => match v.parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => rate,
                _ => {
                    return Err(ConfigError {
                        name: "UPSTREAM_FAILURE_RATE",
                        value: v,
                        expected: "a number from 0.0 to 1.0",
                    })
                }
            },
        };
        let upstream_latency_ms = match env("UPSTREAM_LATENCY_MS") {
            None => 0,
            Some(v) => v.parse().map_err(|_| ConfigError {
                name: "UPSTREAM_LATENCY_MS",
                value: v,
                expected: "whole milliseconds",
            })?,
        };

        let trusted_proxies = match env("TRUSTED_PROXIES") {
            None => TrustedProxies::none(),
            Some(v) => v.parse().map_err(|_| ConfigError {
                name: "TRUSTED_PROXIES",
                value: v,
                expected: "comma-separated IP addresses or CIDRs such as 10.0.0.0/8",
            })?,
        };

        let mut serve = crate::serve::ServeLimits::default();
        if let Some(v) = env("HEADER_READ_TIMEOUT_MS") {
            serve.header_read_timeout = millis("HEADER_READ_TIMEOUT_MS", v)?;
        }
        if let Some(v) = env("IDLE_TIMEOUT_MS") {
            serve.idle_timeout = millis("IDLE_TIMEOUT_MS", v)?;
        }
        if let Some(v) = env("MAX_CONNECTIONS") {
            serve.max_connections = match v.parse::<usize>() {
                Ok(n) if (1..=1_000_000).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        name: "MAX_CONNECTIONS",
                        value: v,
                        expected: "a whole number from 1 to 1000000",
                    })
                }
            };
        }

        let cors_origins = match env("CORS_ORIGINS") {
            None => Vec::new(),
            Some(v) => crate::baseline::parse_origins(&v).map_err(|_| ConfigError {
                name: "CORS_ORIGINS",
                value: v,
                expected: "comma-separated origins such as https://app.example.com",
            })?,
        };

        let token_secret = env("TOKEN_SECRET").filter(|s| !s.is_empty());
        if let Some(secret) = &token_secret {
            if secret.len() < crate::token::MIN_SECRET_LEN {
                return Err(ConfigError {
                    name: "TOKEN_SECRET",
                    value: format!("[{} bytes]", secret.len()),
                    expected: "at least 32 bytes",
                });
            }
        }

        Ok(Config {
            addr,
            trusted_proxies,
            upstream,
            upstream_failure_rate,
            upstream_latency_ms,
            redis_url: env("REDIS_URL").filter(|s| !s.is_empty()),
            token_secret,
            serve,
            cors_origins,
        })
    }
}

/// A positive whole number of milliseconds.
fn millis(name: &'static str, value: String) -> Result<std::time::Duration, ConfigError> {
    match value.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(std::time::Duration::from_millis(ms)),
        _ => Err(ConfigError {
            name,
            value,
            expected: "a positive whole number of milliseconds",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::parse(args.iter().map(|s| s.to_string()), move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults() {
        let c = parse(&[], &[]).unwrap();
        assert_eq!(c.addr, "127.0.0.1:3000".parse().unwrap());
        assert!(c.upstream.is_none() && c.redis_url.is_none());
        assert_eq!(c.upstream_failure_rate, 0.0);
    }

    #[test]
    fn flag_beats_env() {
        let c = parse(&["--addr", "127.0.0.1:0"], &[("ADDR", "0.0.0.0:80")]).unwrap();
        assert_eq!(c.addr.port(), 0);
        let c = parse(&["--addr=127.0.0.1:9"], &[]).unwrap();
        assert_eq!(c.addr.port(), 9);
        let c = parse(&[], &[("ADDR", "127.0.0.1:7")]).unwrap();
        assert_eq!(c.addr.port(), 7);
    }

    #[test]
    fn errors_name_the_setting() {
        let err = parse(&["--addr", "nope"], &[]).unwrap_err().to_string();
        assert!(err.contains("ADDR/--addr") && err.contains("nope"), "{err}");
        let err = parse(&[], &[("UPSTREAM_FAILURE_RATE", "2")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("UPSTREAM_FAILURE_RATE"), "{err}");
        let err = parse(&["--bogus"], &[]).unwrap_err().to_string();
        assert!(err.contains("--bogus"), "{err}");
        assert!(parse(&["--addr"], &[]).is_err());
        let err = parse(&[], &[("TRUSTED_PROXIES", "10.0.0.0/8, nope")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("TRUSTED_PROXIES"), "{err}");
        let c = parse(&[], &[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]).unwrap();
        assert!(c.trusted_proxies.contains("127.0.0.1".parse().unwrap()));
    }
}
