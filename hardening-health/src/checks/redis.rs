//! Redis `PING`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use crate::check::HealthCheck;
use crate::error::ConfigError;
use crate::observation::Observation;

/// Sends `PING` to Redis and expects `PONG`; reports the round trip
/// (`observedValue` in `ms`).
///
/// One multiplexed connection is opened on the first run and reused while
/// it answers. A run takes the connection out of the cache and puts it back
/// only after a `PONG`: after an error, a wrong answer, or a run cut short by
/// the check's timeout (the future is dropped mid-`PING`), the connection is
/// dropped and the next run connects afresh. So a Redis that stops
/// answering on an open connection (a black hole: a dead host, a hung
/// server, a network partition that drops packets) shows as failing from
/// the first run that times out, and the check follows Redis coming back
/// within one check interval.
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
                "redis_ping.url",
                redact_password(url),
                "a Redis URL such as redis://127.0.0.1:6379/",
            )
        })
    }

    /// The cached connection, taken out: a run that does not finish with
    /// a `PONG` never puts it back.
    fn take(&self) -> Option<MultiplexedConnection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
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
            // Owned by this future: if the check's timeout drops the future,
            // the connection goes with it and the next run reconnects.
            let mut connection = match this.take() {
                Some(connection) => connection,
                None => match this.client.get_multiplexed_async_connection().await {
                    Ok(connection) => connection,
                    Err(err) => return Observation::fail(format!("connect: {err}")),
                },
            };
            match redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
            {
                Ok(reply) if reply == "PONG" => {
                    this.store(Some(connection));
                    Observation::pass().with_value(started.elapsed(), "ms")
                }
                // A connection that answers something else is not trusted
                // again: it is dropped here.
                Ok(reply) => Observation::fail(format!("PING answered {reply:?}, not PONG")),
                Err(err) => Observation::fail(format!("PING: {err}")),
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

/// `scheme://user:secret@host` → `scheme://user:***@host`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(user, _)| user);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
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
        assert_eq!(
            redact_password("redis://u:hunter2@h:1/0"),
            "redis://u:***@h:1/0"
        );
        assert_eq!(redact_password("redis://:hunter2@h"), "redis://:***@h");
        assert_eq!(redact_password("redis://h:1"), "redis://h:1");
        let err = RedisPing::from_url("nope://:hunter2@h").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(err.field(), "redis_ping.url");
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

    const TIMEOUT: Duration = Duration::from_millis(300);
    const INTERVAL: Duration = Duration::from_secs(1);

    /// A `Health` running `check` with a 300 ms timeout, cached for 1 s of
    /// the returned fake clock: one check interval is one `advance`.
    fn health_of(check: RedisPing) -> (crate::Health, hardening_core::FakeClock) {
        let clock = hardening_core::FakeClock::new();
        let health = crate::Health::builder()
            .check(
                crate::Check::new("redis", check)
                    .timeout(TIMEOUT)
                    .cache_ttl(INTERVAL),
            )
            .clock(clock.clone())
            .build()
            .unwrap();
        (health, clock)
    }

    async fn run(health: &crate::Health, clock: &hardening_core::FakeClock) -> Observation {
        clock.advance(INTERVAL);
        let started = std::time::Instant::now();
        let report = health.report().await;
        // generous: the timeout plus scheduling on a loaded machine
        assert!(started.elapsed() < TIMEOUT + Duration::from_secs(2));
        report.check("redis").unwrap().observation().clone()
    }

    /// A TCP server that accepts connections and never answers: what a
    /// hung Redis, or a host behind a partition that drops packets, looks
    /// like to a client whose connection is open.
    async fn black_hole() -> (u16, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        (port, task)
    }

    /// Issue 11, item 11: a black-holed Redis fails the first run, by the
    /// check's timeout, and every run after it.
    #[tokio::test]
    async fn a_black_holed_redis_fails_within_one_interval() {
        let (port, _hole) = black_hole().await;
        let (health, clock) =
            health_of(RedisPing::from_url(&format!("redis://127.0.0.1:{port}/")).unwrap());
        for _ in 0..3 {
            let seen = run(&health, &clock).await;
            assert_eq!(seen.status(), Status::Fail, "{seen:?}");
        }
    }

    /// A relay in front of a real redis-server that can freeze the
    /// connections open so far: they stay open but nothing passes any more
    /// (the PING is swallowed), while new connections pass normally.
    struct Relay {
        port: u16,
        frozen: Arc<Mutex<Vec<Arc<std::sync::atomic::AtomicBool>>>>,
    }

    impl Relay {
        async fn start(upstream: u16) -> Relay {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let frozen: Arc<Mutex<Vec<Arc<std::sync::atomic::AtomicBool>>>> = Arc::default();
            let flags = frozen.clone();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                    else {
                        continue;
                    };
                    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
                    flags.lock().unwrap().push(flag.clone());
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    for (mut from, mut to, flag) in [
                        (
                            Box::new(cr) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                            Box::new(sw) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                            flag.clone(),
                        ),
                        (Box::new(sr) as _, Box::new(cw) as _, flag),
                    ] {
                        tokio::spawn(async move {
                            let mut buf = [0u8; 4096];
                            loop {
                                let n = match from.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => n,
                                };
                                if flag.load(std::sync::atomic::Ordering::SeqCst) {
                                    // black-holed: hold the socket, pass nothing
                                    std::future::pending::<()>().await;
                                }
                                if to.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        });
                    }
                }
            });
            Relay { port, frozen }
        }

        fn freeze_open_connections(&self) {
            for flag in self.frozen.lock().unwrap().iter() {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
    }

    /// The defect of issue 11, item 11: the open connection stops
    /// answering, the check's timeout fires first (before redis-rs's own
    /// response timeout), and the check used to keep that stuck connection
    /// and fail forever. It must drop it and pass again one interval later.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_that_stops_answering_is_replaced() {
        let port = free_port();
        let Some(_server) = Server::start(port) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server must run in CI"
            );
            eprintln!(
                "SKIPPED a_connection_that_stops_answering_is_replaced: cannot run redis-server"
            );
            return;
        };
        let direct = RedisPing::from_url(&format!("redis://127.0.0.1:{port}/")).unwrap();
        assert_eq!(wait_until_up(&direct).await.status(), Status::Pass);
        let relay = Relay::start(port).await;
        let (health, clock) =
            health_of(RedisPing::from_url(&format!("redis://127.0.0.1:{}/", relay.port)).unwrap());
        let up = run(&health, &clock).await;
        assert_eq!(up.status(), Status::Pass, "{up:?}");

        relay.freeze_open_connections();
        let stuck = run(&health, &clock).await;
        assert_eq!(stuck.status(), Status::Fail, "{stuck:?}");
        assert!(
            stuck
                .output()
                .is_some_and(|o| o.contains("timed out") || o.contains("timeout")),
            "{stuck:?}"
        );
        let again = run(&health, &clock).await;
        assert_eq!(again.status(), Status::Pass, "reconnected: {again:?}");
    }

    /// `CLIENT KILL TYPE normal` on a real server closes the check's
    /// connection: at most one run fails, the next one reconnects.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_connection_is_replaced() {
        let port = free_port();
        let Some(_server) = Server::start(port) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server must run in CI"
            );
            eprintln!("SKIPPED a_killed_connection_is_replaced: cannot run redis-server");
            return;
        };
        let url = format!("redis://127.0.0.1:{port}/");
        let direct = RedisPing::from_url(&url).unwrap();
        assert_eq!(wait_until_up(&direct).await.status(), Status::Pass);
        let (health, clock) = health_of(RedisPing::from_url(&url).unwrap());
        assert_eq!(run(&health, &clock).await.status(), Status::Pass);

        let mut admin = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let killed: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("normal")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert!(
            killed >= 2,
            "the check's and `direct`'s connections: {killed}"
        );

        let first = run(&health, &clock).await;
        let second = run(&health, &clock).await;
        assert_eq!(second.status(), Status::Pass, "after {first:?}: {second:?}");
    }
}
