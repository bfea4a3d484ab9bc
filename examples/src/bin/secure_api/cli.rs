//! Where the configuration comes from: the file, environment variables and
//! flags, later ones winning.
//!
//! - `--config PATH` (or `SECURE_API_CONFIG`): a TOML file (schema and
//!   defaults in `config.rs`, every key in the shipped
//!   `examples/secure_api.toml`).
//! - Environment: every key as `SECURE_API_<SECTION>_<KEY>`
//!   (`SECURE_API_CONNECTIONS_IDLE_TIMEOUT_MS=5000`; lists comma-separated),
//!   and the short names below. `REDIS_URL` and `TOKEN_SECRET` are read from
//!   the environment only: they may hold secrets.
//! - Flags: `--addr HOST:PORT`, `--upstream URL`, `--set KEY=VALUE`
//!   (`--set load_shedding.limit=32`), repeatable.

pub(crate) use crate::config::Config;
use crate::config::{ConfigError, Settings};

/// Short environment names and the keys they set.
pub(crate) const ENV_KEYS: &[(&str, &str)] = &[
    ("ADDR", "server.addr"),
    ("METRICS_ADDR", "server.metrics_addr"),
    ("TRUSTED_PROXIES", "server.trusted_proxies"),
    ("PUBLIC_HOSTS", "server.public_hosts"),
    ("CORS_ORIGINS", "server.cors_origins"),
    (
        "HEADER_READ_TIMEOUT_MS",
        "connections.header_read_timeout_ms",
    ),
    ("IDLE_TIMEOUT_MS", "connections.idle_timeout_ms"),
    ("MAX_CONNECTIONS", "connections.max_connections"),
    ("UPSTREAM_URL", "upstream.url"),
    ("UPSTREAM_FAILURE_RATE", "upstream.failure_rate"),
    ("UPSTREAM_LATENCY_MS", "upstream.latency_ms"),
    ("DRAIN_DELAY_MS", "health.drain_delay_ms"),
    ("SHUTDOWN_DEADLINE_MS", "health.shutdown_deadline_ms"),
    ("HEALTH_CACHE_TTL_MS", "health.cache_ttl_ms"),
];

impl Config {
    pub(crate) fn from_env_and_args() -> Result<Self, ConfigError> {
        Self::parse(
            std::env::args().skip(1),
            |name| std::env::var(name).ok(),
            |path| std::fs::read_to_string(path),
        )
    }

    pub(crate) fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
        read: impl Fn(&str) -> std::io::Result<String>,
    ) -> Result<Self, ConfigError> {
        // Flags first: `--config` decides the file, the rest win over it.
        let mut file = env("SECURE_API_CONFIG").filter(|s| !s.is_empty());
        let mut flag_sets: Vec<(String, String, String)> = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ConfigError::new(name, "", "a value after the flag"))
            };
            match flag.as_str() {
                "--config" => file = Some(value("--config")?),
                "--addr" => {
                    flag_sets.push(("server.addr".into(), value("--addr")?, "--addr".into()))
                }
                "--upstream" => flag_sets.push((
                    "upstream.url".into(),
                    value("--upstream")?,
                    "--upstream".into(),
                )),
                "--set" => {
                    let set = value("--set")?;
                    let (key, v) = set
                        .split_once('=')
                        .ok_or_else(|| ConfigError::new("--set", &set, "KEY=VALUE"))?;
                    flag_sets.push((key.trim().to_owned(), v.to_owned(), format!("--set {key}")));
                }
                _ => {
                    return Err(ConfigError::new(
                        "argument",
                        arg,
                        "--config PATH, --addr HOST:PORT, --upstream URL or --set KEY=VALUE",
                    ))
                }
            }
        }

        let mut table = match &file {
            None => toml::Table::new(),
            Some(path) => {
                let text = read(path).map_err(|err| {
                    ConfigError::new("--config", path, format!("a readable file ({err})"))
                })?;
                text.parse::<toml::Table>().map_err(|err| {
                    ConfigError::new(path.as_str(), err.message(), "valid TOML")
                        .set_by(Some("--config"))
                })?
            }
        };

        // Environment, then flags.
        let defaults = Settings::default_table();
        let mut sources: Vec<(String, String)> = Vec::new();
        for key in keys(&defaults) {
            let long = format!("SECURE_API_{}", key.replace('.', "_").to_ascii_uppercase());
            let short = ENV_KEYS.iter().find(|(_, k)| *k == key).map(|(n, _)| *n);
            for name in [Some(long.as_str()), short].into_iter().flatten() {
                if let Some(value) = env(name) {
                    set(&mut table, &defaults, &key, &value).map_err(|e| e.set_by(Some(name)))?;
                    sources.push((key.clone(), name.to_owned()));
                }
            }
        }
        for (key, value, flag) in flag_sets {
            set(&mut table, &defaults, &key, &value).map_err(|e| e.set_by(Some(&flag)))?;
            sources.push((key, flag));
        }

        let source_of = |key: &str| {
            sources
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, s)| s.clone())
        };
        let settings = Settings::from_table(table).map_err(|e| {
            let source =
                source_of(e.key()).or_else(|| file.as_ref().map(|f| format!("--config {f}")));
            e.set_by(source.as_deref())
        })?;
        let mut config = settings.resolve(&|key| {
            source_of(key).or_else(|| file.as_ref().map(|f| format!("--config {f}")))
        })?;

        config.redis_url = env("REDIS_URL").filter(|s| !s.is_empty());
        config.token_secret = env("TOKEN_SECRET").filter(|s| !s.is_empty());
        if let Some(secret) = &config.token_secret {
            if secret.len() < crate::token::MIN_SECRET_LEN {
                return Err(ConfigError::new(
                    "TOKEN_SECRET",
                    format!("[{} bytes]", secret.len()),
                    "at least 32 bytes",
                ));
            }
        }
        Ok(config)
    }
}

/// Every `section.key` of the defaults.
fn keys(defaults: &toml::Table) -> Vec<String> {
    let mut keys = Vec::new();
    for (section, value) in defaults {
        if let toml::Value::Table(table) = value {
            keys.extend(table.keys().map(|key| format!("{section}.{key}")));
        }
    }
    keys
}

/// Sets `key` (`section.key`) in `table` from a string, typed like its
/// default: strings as given, lists comma-separated, numbers and booleans
/// parsed (a value that does not parse is passed on as a string, so the
/// type error names it).
fn set(
    table: &mut toml::Table,
    defaults: &toml::Table,
    key: &str,
    raw: &str,
) -> Result<(), ConfigError> {
    let (section, field) = key
        .split_once('.')
        .ok_or_else(|| ConfigError::new(key, raw, "a key such as server.addr"))?;
    let default = defaults
        .get(section)
        .and_then(|s| s.as_table())
        .and_then(|s| s.get(field))
        .ok_or_else(|| ConfigError::new(key, raw, "a known key (see examples/secure_api.toml)"))?;
    let trimmed = raw.trim();
    let value = match default {
        toml::Value::String(_) => toml::Value::String(raw.to_owned()),
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(|c: char| c == ',' || c.is_whitespace())
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        toml::Value::Integer(_) => trimmed
            .parse()
            .map(toml::Value::Integer)
            .map_err(|_| ConfigError::new(key, raw, "a whole number"))?,
        toml::Value::Float(_) => trimmed
            .parse()
            .map(toml::Value::Float)
            .map_err(|_| ConfigError::new(key, raw, "a number"))?,
        toml::Value::Boolean(_) => trimmed
            .parse()
            .map(toml::Value::Boolean)
            .map_err(|_| ConfigError::new(key, raw, "true or false"))?,
        _ => toml::Value::String(raw.to_owned()),
    };
    let section = table
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    match section {
        toml::Value::Table(section) => {
            section.insert(field.to_owned(), value);
            Ok(())
        }
        _ => Err(ConfigError::new(key, raw, "a key inside a [section] table")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        parse_with_file(args, env, "")
    }

    fn parse_with_file(
        args: &[&str],
        env: &[(&str, &str)],
        file: &str,
    ) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let file = file.to_owned();
        Config::parse(
            args.iter().map(|s| s.to_string()),
            move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            move |_| Ok(file.clone()),
        )
    }

    #[test]
    fn defaults() {
        let c = parse(&[], &[]).unwrap();
        assert_eq!(c.addr, "127.0.0.1:3000".parse().unwrap());
        assert!(c.upstream.url.is_none() && c.redis_url.is_none());
        assert_eq!(c.upstream.failure_rate, 0.0);
    }

    #[test]
    fn flag_beats_env_beats_file() {
        let file = "[server]\naddr = \"127.0.0.1:5\"\n";
        let c = parse_with_file(&["--config", "f.toml"], &[], file).unwrap();
        assert_eq!(c.addr.port(), 5);
        let c = parse_with_file(&["--config", "f.toml"], &[("ADDR", "127.0.0.1:7")], file).unwrap();
        assert_eq!(c.addr.port(), 7);
        let c = parse_with_file(
            &["--config=f.toml", "--addr", "127.0.0.1:0"],
            &[("ADDR", "0.0.0.0:80")],
            file,
        )
        .unwrap();
        assert_eq!(c.addr.port(), 0);
        let c = parse(&["--addr=127.0.0.1:9"], &[]).unwrap();
        assert_eq!(c.addr.port(), 9);
    }

    #[test]
    fn every_key_has_an_env_name_and_a_set_flag() {
        let c = parse(&[], &[("SECURE_API_LOAD_SHEDDING_LIMIT", "32")]).unwrap();
        assert_eq!(c.load_shedding.limit, 32);
        let c = parse(&["--set", "rate_limits.api=100/min"], &[]).unwrap();
        assert_eq!(c.quotas.api.burst().get(), 100);
        let c = parse(
            &[],
            &[("CORS_ORIGINS", "https://a.example, https://b.example")],
        )
        .unwrap();
        assert_eq!(c.cors_origins.len(), 2);
    }

    #[test]
    fn errors_name_the_setting_and_its_source() {
        let err = parse(&["--addr", "nope"], &[]).unwrap_err().to_string();
        assert!(
            err.contains("server.addr") && err.contains("nope") && err.contains("--addr"),
            "{err}"
        );
        let err = parse(&[], &[("UPSTREAM_FAILURE_RATE", "2")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("upstream.failure_rate") && err.contains("UPSTREAM_FAILURE_RATE"),
            "{err}"
        );
        let err = parse(&[], &[("MAX_CONNECTIONS", "lots")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lots") && err.contains("MAX_CONNECTIONS"),
            "{err}"
        );
        let err = parse(&["--bogus"], &[]).unwrap_err().to_string();
        assert!(err.contains("--bogus"), "{err}");
        assert!(parse(&["--addr"], &[]).is_err());
        let err = parse(&["--set", "server.nope=1"], &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.nope"), "{err}");
        let err = parse(&[], &[("TRUSTED_PROXIES", "10.0.0.0/8, nope")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("server.trusted_proxies") && err.contains("TRUSTED_PROXIES"),
            "{err}"
        );
        let c = parse(&[], &[("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]).unwrap();
        assert!(c.trusted_proxies.contains("127.0.0.1".parse().unwrap()));
        let err = parse_with_file(&["--config", "f.toml"], &[], "[limits]\nx = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("limits") && err.contains("--config f.toml"),
            "{err}"
        );
        let err = parse_with_file(
            &["--config", "f.toml"],
            &[],
            "[requests]\ntimeout_ms = -1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("requests.timeout_ms") && err.contains("-1"),
            "{err}"
        );
    }
}
