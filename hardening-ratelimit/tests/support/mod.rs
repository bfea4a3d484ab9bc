//! Shared by the store tests: deciding through any store, and real
//! `redis-server` processes.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use hardening_ratelimit::store::{Decision, MaybeReady, PolicyCheck, RateLimitStore, StoreError};

/// Decides through any store, awaiting it when it is not ready at once.
pub async fn decide<S: RateLimitStore>(
    store: &S,
    checks: &[PolicyCheck<'_>],
    now: Duration,
) -> Result<Decision, StoreError> {
    match store.check(checks, now) {
        MaybeReady::Ready(decision) => decision,
        MaybeReady::Pending(future) => future.await,
    }
}

#[cfg(feature = "redis")]
pub mod redis {
    //! Real Redis for tests: the shared server (`REDIS_URL`) or our own
    //! process for tests that kill it.

    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    /// The shared Redis of this run (`REDIS_URL`). `None` (after saying so on
    /// stderr) when it is unset outside CI; in CI a missing Redis fails the
    /// test.
    pub fn url(test: &str) -> Option<String> {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Some(url),
            _ if std::env::var_os("CI").is_some() => {
                panic!("{test}: REDIS_URL is not set, but CI is: the Redis tests must run in CI")
            }
            _ => {
                eprintln!(
                    "SKIPPED {test}: REDIS_URL is not set (start redis-server and export \
                     REDIS_URL=redis://127.0.0.1:6379/ to run the Redis tests)"
                );
                None
            }
        }
    }

    /// A key prefix no other test (or run) uses.
    pub fn unique_prefix(test: &str) -> String {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!(
            "hardening-test:{test}:{}:{nanos}:{}:",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A plain connection for inspecting what the store wrote.
    pub async fn connect(url: &str) -> ::redis::aio::MultiplexedConnection {
        ::redis::Client::open(url)
            .expect("valid REDIS_URL")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis")
    }

    /// Every key under `prefix` (SCAN).
    pub async fn keys_under(
        conn: &mut ::redis::aio::MultiplexedConnection,
        prefix: &str,
    ) -> Vec<String> {
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    /// A `redis-server` process of our own on a free loopback port, without
    /// persistence, killed on drop.
    pub struct RedisServer {
        port: u16,
        child: Option<Child>,
    }

    impl RedisServer {
        /// Starts one. `None` (after saying so) when `redis-server` is not
        /// installed outside CI; in CI that fails the test.
        pub fn start(test: &str) -> Option<Self> {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let mut server = RedisServer { port, child: None };
            match server.spawn() {
                Ok(()) => Some(server),
                Err(err) if std::env::var_os("CI").is_none() => {
                    eprintln!("SKIPPED {test}: cannot run redis-server ({err})");
                    None
                }
                Err(err) => panic!("{test}: cannot run redis-server in CI: {err}"),
            }
        }

        pub fn url(&self) -> String {
            format!("redis://127.0.0.1:{}/", self.port)
        }

        fn spawn(&mut self) -> std::io::Result<()> {
            let child = Command::new("redis-server")
                .args(["--port", &self.port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            self.child = Some(child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if self.answers_ping() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::io::Error::other(
                "redis-server did not answer PING within 10 s",
            ))
        }

        fn answers_ping(&self) -> bool {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
                return false;
            };
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 7];
            s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
        }

        /// Kills the server (SIGKILL: no goodbye to clients) and waits for it.
        pub fn kill(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        /// Starts it again on the same port, empty.
        pub fn restart(&mut self) {
            self.kill();
            self.spawn().expect("restart redis-server");
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            self.kill();
        }
    }
}
