//! TCP connect to `host:port`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::Uri;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::check::HealthCheck;
use crate::observation::Observation;
use crate::ConfigError;

/// Connects to `host:port` over TCP; passes when the connection opens and
/// reports the connect time (`observedValue` in `ms`). The connection is
/// closed at once.
///
/// A dependency check: it is refused on the liveness probe.
///
/// # Example
///
/// ```
/// use hardening_health::{checks::TcpCheck, Check, Criticality, Health, Status};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
/// let addr = listener.local_addr().unwrap();
/// let health = Health::builder()
///     .check(Check::new("upstream:responseTime", TcpCheck::new(addr.to_string()).unwrap())
///         .component_type("component"))
///     .build()
///     .unwrap();
/// assert_eq!(health.readiness().await.status(), Status::Pass);
///
/// assert!(TcpCheck::new("no-port").is_err());
/// assert_eq!(TcpCheck::for_url("https://api.example.com/v1").unwrap().addr(), "api.example.com:443");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TcpCheck {
    addr: Arc<str>,
}

impl TcpCheck {
    /// A check of `addr`, `host:port` (`[v6]:port` for IPv6 literals). The
    /// host is resolved on every run.
    ///
    /// # Errors
    ///
    /// When `addr` is not `host:port` with a port from 1 to 65535.
    pub fn new(addr: impl Into<String>) -> Result<Self, ConfigError> {
        let addr = addr.into();
        let valid = addr.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')))
                && port.parse::<u16>().is_ok_and(|p| p != 0)
        });
        if !valid {
            return Err(ConfigError::new(
                "TcpCheck",
                "new",
                addr,
                "host:port such as db.internal:5432 or [::1]:6379",
            ));
        }
        Ok(Self { addr: addr.into() })
    }

    /// A check of a socket address.
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        Self {
            addr: addr.to_string().into(),
        }
    }

    /// A check of the host and port of an `http` or `https` URL (port 80 or
    /// 443 when the URL has none).
    ///
    /// # Errors
    ///
    /// When `url` is not an absolute `http`/`https` URL with a host.
    pub fn for_url(url: &str) -> Result<Self, ConfigError> {
        let bad = || {
            ConfigError::new(
                "TcpCheck",
                "for_url",
                url,
                "an absolute http or https URL such as http://127.0.0.1:8080/",
            )
        };
        let uri: Uri = url.parse().map_err(|_| bad())?;
        let default_port = match uri.scheme_str() {
            Some("http") => 80,
            Some("https") => 443,
            _ => return Err(bad()),
        };
        let authority = uri.authority().ok_or_else(bad)?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad());
        }
        let port = authority.port_u16().unwrap_or(default_port);
        Self::new(format!("{host}:{port}")).map_err(|_| bad())
    }

    /// The address checked, `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

impl HealthCheck for TcpCheck {
    type Future = Pin<Box<dyn Future<Output = Observation> + Send>>;

    fn check(&self) -> Self::Future {
        let addr = Arc::clone(&self.addr);
        Box::pin(async move {
            let started = Instant::now();
            match TcpStream::connect(&*addr).await {
                Ok(stream) => {
                    let elapsed = started.elapsed();
                    // With nothing listening on a port of the ephemeral
                    // range, the kernel may pick that very port as the
                    // source and connect the socket to itself.
                    let local = stream.local_addr().ok();
                    if local.is_some() && local == stream.peer_addr().ok() {
                        return Observation::fail(format!(
                            "connect to {addr}: nothing listening (the socket connected to itself)"
                        ));
                    }
                    Observation::pass().with_value(elapsed, "ms")
                }
                Err(err) => Observation::fail(format!("connect to {addr}: {err}")),
            }
        })
    }

    fn is_dependency(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;

    #[test]
    fn address_validation() {
        for good in [
            "localhost:80",
            "10.0.0.1:5432",
            "[::1]:6379",
            "db.internal:65535",
        ] {
            assert_eq!(TcpCheck::new(good).unwrap().addr(), good);
        }
        for bad in [
            "",
            "host",
            ":80",
            "host:",
            "host:0",
            "host:70000",
            "::1:80",
            "a b:80",
        ] {
            let err = TcpCheck::new(bad).unwrap_err();
            assert_eq!((err.field(), err.value()), ("new", bad));
        }
        assert_eq!(
            TcpCheck::for_url("http://127.0.0.1:9/x").unwrap().addr(),
            "127.0.0.1:9"
        );
        assert_eq!(TcpCheck::for_url("http://h").unwrap().addr(), "h:80");
        assert_eq!(
            TcpCheck::for_url("http://[::1]:7/").unwrap().addr(),
            "[::1]:7"
        );
        for bad in ["ftp://h:1", "/relative", "not a url", "http://:80"] {
            assert!(TcpCheck::for_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn reports_refusals_and_connects() {
        // Bound but not listening: the port is held (no other test can take
        // it) and connections are refused.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let check = TcpCheck::from_socket_addr(addr);
        let down = check.check().await;
        assert_eq!(down.status(), Status::Fail, "{down:?}");
        assert!(
            down.output().unwrap().contains(&addr.to_string()),
            "{down:?}"
        );

        let _listener = socket.listen(16).unwrap();
        let up = check.check().await;
        assert_eq!(up.status(), Status::Pass, "{up:?}");
        assert_eq!(up.observed_unit(), Some("ms"));
        assert!(check.is_dependency());
    }
}
