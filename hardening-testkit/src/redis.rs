//! Real Redis for tests: the shared server of the run (`REDIS_URL`) or a
//! `redis-server` process of a test's own, for tests that kill it.
//!
//! Outside CI a missing Redis skips the test (saying so on stderr); in CI
//! (`CI` set) it fails the test, so the Redis tests cannot silently vanish.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use crate::redis_cluster::{cluster_urls, ClusterNode, RedisCluster};

/// The shared Redis of this run (`REDIS_URL`), or `None` (after saying so)
/// when it is unset outside CI.
///
/// # Panics
///
/// When `REDIS_URL` is unset and `CI` is set.
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

/// The shared TLS Redis of this run: `REDIS_TLS_URL` (`rediss://…`) and
/// the CA file that signed its certificate, `REDIS_TLS_CA`; `None` (after
/// saying so) when they are unset outside CI.
///
/// # Panics
///
/// When either is unset and `CI` is set.
pub fn tls_url(test: &str) -> Option<(String, PathBuf)> {
    let url = std::env::var("REDIS_TLS_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let ca = std::env::var_os("REDIS_TLS_CA").filter(|v| !v.is_empty());
    match (url, ca) {
        (Some(url), Some(ca)) => Some((url, PathBuf::from(ca))),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{test}: REDIS_TLS_URL or REDIS_TLS_CA is not set, but CI is: the TLS Redis tests \
             must run in CI"
        ),
        _ => {
            eprintln!(
                "SKIPPED {test}: REDIS_TLS_URL and REDIS_TLS_CA are not set (start a TLS \
                 redis-server and export them, as .ci/run does, to run the TLS tests)"
            );
            None
        }
    }
}

/// A key prefix no other test, process or run uses.
pub fn unique_prefix(test: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "hardening-test:{test}:{}:{nanos}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A `redis-server` process on a free loopback port, without persistence,
/// killed on drop (so a test may kill it without disturbing others).
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    tls: Option<Tls>,
}

/// The TLS side of a [`RedisServer::start_tls`] server.
#[derive(Debug)]
struct Tls {
    port: u16,
    dir: PathBuf,
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// What a harness that could not start does: outside CI the test is
/// skipped (`None`, after saying so); in CI, where the servers are
/// installed, it fails.
pub(crate) fn started_or_skip<T>(test: &str, what: &str, started: std::io::Result<T>) -> Option<T> {
    match started {
        Ok(harness) => Some(harness),
        Err(err) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED {test}: cannot {what} ({err})");
            None
        }
        Err(err) => panic!("{test}: cannot {what} in CI: {err}"),
    }
}

/// A free port for a cluster node: Redis listens for the cluster bus on
/// `port + 10000`, so the port must be at most 55535 and the bus port free
/// too. Ephemeral ports (32768–60999 on Linux) are often above that.
pub(crate) fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// Writes a self-signed CA (`ca.crt`) and a server certificate for
/// `127.0.0.1` and `localhost` signed by it (`server.crt`, `server.key`)
/// into `dir`, with the `openssl` command.
///
/// # Errors
///
/// When `openssl` cannot run or fails.
pub fn write_test_certificates(dir: &Path) -> std::io::Result<()> {
    let run = |args: &[&str]| -> std::io::Result<()> {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "openssl {} failed: {}",
                args[0],
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )?;
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=hardening test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ])?;
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ])?;
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.crt",
    ])
}

impl RedisServer {
    /// Starts one and waits until it answers `PING`. `None` (after saying
    /// so) when `redis-server` cannot run outside CI.
    ///
    /// # Panics
    ///
    /// When `redis-server` cannot run and `CI` is set.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, None)
    }

    /// Starts one that also speaks TLS on a second port, with a CA and a
    /// server certificate generated for it (by the `openssl` command) in a
    /// temporary directory removed on drop. The plain port stays open for
    /// [`command`](Self::command). `None` (after saying so) when
    /// `redis-server` or `openssl` cannot run outside CI.
    ///
    /// # Panics
    ///
    /// When either cannot run and `CI` is set.
    pub fn start_tls(test: &str) -> Option<Self> {
        let dir = std::env::temp_dir().join(unique_prefix("tls").replace(':', "-"));
        let prepared = std::fs::create_dir_all(&dir).and_then(|()| write_test_certificates(&dir));
        let tls = Tls {
            port: free_port(),
            dir,
        };
        match prepared {
            Ok(()) => Self::start_with(test, Some(tls)),
            Err(err) => {
                let _ = std::fs::remove_dir_all(&tls.dir);
                if std::env::var_os("CI").is_none() {
                    eprintln!("SKIPPED {test}: cannot generate TLS certificates ({err})");
                    return None;
                }
                panic!("{test}: cannot generate TLS certificates in CI: {err}")
            }
        }
    }

    fn start_with(test: &str, tls: Option<Tls>) -> Option<Self> {
        let mut server = RedisServer {
            port: free_port(),
            child: None,
            tls,
        };
        let started = server.spawn().map(|()| server);
        started_or_skip(test, "run redis-server", started)
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// `rediss://127.0.0.1:PORT/` of a [`start_tls`](Self::start_tls) server.
    ///
    /// # Panics
    ///
    /// When the server was started without TLS.
    pub fn tls_url(&self) -> String {
        let tls = self.tls.as_ref().expect("a server started with start_tls");
        format!("rediss://127.0.0.1:{}/", tls.port)
    }

    /// The CA file that signed a [`start_tls`](Self::start_tls) server's
    /// certificate.
    ///
    /// # Panics
    ///
    /// When the server was started without TLS.
    pub fn ca_file(&self) -> PathBuf {
        self.tls
            .as_ref()
            .expect("a server started with start_tls")
            .dir
            .join("ca.crt")
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]);
        if let Some(tls) = &self.tls {
            let file = |name: &str| tls.dir.join(name).display().to_string();
            command
                .args(["--tls-port", &tls.port.to_string()])
                .args(["--tls-cert-file", &file("server.crt")])
                .args(["--tls-key-file", &file("server.key")])
                .args(["--tls-ca-cert-file", &file("ca.crt")])
                .args(["--tls-auth-clients", "no"]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        // Waiting for a child process to open its port: there is no event to
        // await, so poll with a bound.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.command("PING").as_deref() == Some("+PONG") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(std::io::Error::other(
            "redis-server did not answer PING within 10 s",
        ))
    }

    /// Sends one inline command and returns the first line of the reply
    /// (`+PONG`, `:3`, …); `None` when the server does not answer.
    pub fn command(&self, command: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).ok()?;
        Some(line.trim_end().to_owned())
    }

    /// Kills the server (SIGKILL: no goodbye to clients) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty, after [`kill`](Self::kill).
    ///
    /// # Errors
    ///
    /// When `redis-server` cannot run or does not answer within 10 s.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if let Some(tls) = &self.tls {
            let _ = std::fs::remove_dir_all(&tls.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_of_our_own_answers_dies_and_comes_back() {
        let Some(mut server) = RedisServer::start("testkit") else {
            return;
        };
        assert_eq!(server.command("SET k 1").as_deref(), Some("+OK"));
        assert_eq!(server.command("GET k").as_deref(), Some("$1"));
        server.kill();
        assert_eq!(server.command("PING"), None);
        server.restart().unwrap();
        assert_eq!(server.command("PING").as_deref(), Some("+PONG"));
        assert_eq!(
            server.command("EXISTS k").as_deref(),
            Some(":0"),
            "empty after restart"
        );
    }

    #[test]
    fn prefixes_are_unique() {
        assert_ne!(unique_prefix("t"), unique_prefix("t"));
    }
}
