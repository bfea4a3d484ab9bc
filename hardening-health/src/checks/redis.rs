//! Redis `PING`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use crate::check::HealthCheck;
use crate::observation::Observation;
use crate::ConfigError;

/// Sends `PING` to Redis and expects `PONG`; reports the round trip
/// (`observedValue` in `ms`).
///
/// One multiplexed connection is opened on the first run and reused; after
/// an error it is dropped and the next run reconnects, so the check follows
/// Redis going away and coming back.
///
/// A dependency check: it is refused on the liveness probe.
///
/// # Example
///
/// ```no_run
/// use hardening_health::{checks::RedisPing, Check, Criticality, Health};
///
/// let health = Health::builder()
///     .check(Check::new("redis:responseTime", RedisPing::from_url("redis://127.0.0.1:6379/").unwrap())
///         .component_type("datastore")
///         .criticality(Criticality::Degrading))
///     .build()
///     .unwrap();
/// ```
///
/// # Clone
///
/// Clones share the connection.
#[derive(Clone)]
pub struct RedisPing {
    client: redis::Client,
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
}

impl RedisPing {
    /// A check through `client`.
    pub fn new(client: redis::Client) -> Self {
        Self {
            client,
            connection: Arc::new(Mutex::new(None)),
        }
    }

    /// A check of the Redis at `url` (`redis://[:password@]host:port/db`).
    /// Nothing is connected until the first run.
    ///
    /// # Errors
    ///
    /// When the URL does not parse; the error shows the URL without its
    /// password.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        redis::Client::open(url).map(Self::new).map_err(|_| {
            ConfigError::new(
                "RedisPing",
                "from_url",
                hardening_core::url::mask_password(url),
                "a Redis URL such as redis://127.0.0.1:6379/",
            )
        })
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn store(&self, connection: Option<MultiplexedConnection>) {
        *self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = connection;
    }
}

impl HealthCheck for RedisPing {
    type Future = Pin<Box<dyn Future<Output = Observation> + Send>>;

    fn check(&self) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let started = Instant::now();
            let mut connection = match this.cached() {
                Some(connection) => connection,
                None => match this.client.get_multiplexed_async_connection().await {
                    Ok(connection) => {
                        this.store(Some(connection.clone()));
                        connection
                    }
                    Err(err) => return Observation::fail(format!("connect: {err}")),
                },
            };
            match redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
            {
                Ok(reply) if reply == "PONG" => {
                    Observation::pass().with_value(started.elapsed(), "ms")
                }
                Ok(reply) => Observation::fail(format!("PING answered {reply:?}, not PONG")),
                Err(err) => {
                    this.store(None);
                    Observation::fail(format!("PING: {err}"))
                }
            }
        })
    }

    fn is_dependency(&self) -> bool {
        true
    }
}

impl fmt::Debug for RedisPing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisPing").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    #[test]
    fn url_errors_hide_the_password() {
        let err = RedisPing::from_url("nope://:hunter2@h").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(err.field(), "from_url");
    }

    /// A private `redis-server` on a free loopback port, killed on drop.
    struct Server {
        child: Child,
        port: u16,
    }

    impl Server {
        fn start(port: u16) -> Option<Server> {
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            Some(Server { child, port })
        }

        fn stop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop();
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn wait_until_up(check: &RedisPing) -> Observation {
        // redis-server needs a moment to open its port after spawn.
        let mut last = check.check().await;
        for _ in 0..200 {
            if last.status() == Status::Pass {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            last = check.check().await;
        }
        last
    }

    /// A real redis-server, stopped and started: the check follows it.
    #[tokio::test]
    async fn follows_a_real_server_down_and_up() {
        let port = free_port();
        let Some(mut server) = Server::start(port) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server must run in CI"
            );
            eprintln!("SKIPPED follows_a_real_server_down_and_up: cannot run redis-server");
            return;
        };
        let check = RedisPing::from_url(&format!("redis://127.0.0.1:{}/", server.port)).unwrap();
        let up = wait_until_up(&check).await;
        assert_eq!(up.status(), Status::Pass, "{up:?}");
        assert_eq!(up.observed_unit(), Some("ms"));

        server.stop();
        let down = check.check().await;
        assert_eq!(down.status(), Status::Fail, "{down:?}");
        assert!(down.output().is_some());

        let _server = Server::start(port).expect("restart redis-server");
        let again = wait_until_up(&check).await;
        assert_eq!(again.status(), Status::Pass, "reconnects: {again:?}");
    }
}
