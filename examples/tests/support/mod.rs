//! Runs the real `secure_api` binary on `127.0.0.1:0` and talks to it over
//! real TCP with hyper's client.
#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Environment variables that would change the example's behaviour and are
/// removed unless a test sets them.
const ISOLATED_ENV: &[&str] = &[
    "ADDR",
    "REDIS_URL",
    "UPSTREAM_URL",
    "UPSTREAM_FAILURE_RATE",
    "UPSTREAM_LATENCY_MS",
    "RUST_LOG",
    "TRUSTED_PROXIES",
    "DRAIN_DELAY_MS",
    "HEALTH_CACHE_TTL_MS",
    "PUBLIC_HOSTS",
    "CSP_TEST_PAGE",
    "SHUTDOWN_DEADLINE_MS",
    "TOKEN_SECRET",
    "METRICS_ADDR",
    "HEADER_READ_TIMEOUT_MS",
    "IDLE_TIMEOUT_MS",
    "MAX_CONNECTIONS",
    "CORS_ORIGINS",
    "SECURE_API_CONFIG",
];

/// A running `secure_api` process.
pub struct SecureApi {
    pub addr: SocketAddr,
    child: Child,
    output: Arc<Mutex<String>>,
}

impl SecureApi {
    /// Starts `secure_api` with its defaults on a free port.
    pub async fn start() -> Self {
        Self::start_with(&[], &[]).await
    }

    /// Starts `secure_api` with extra environment variables and arguments.
    pub async fn start_with(env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_secure_api"));
        for name in ISOLATED_ENV {
            cmd.env_remove(name);
        }
        cmd.env("ADDR", "127.0.0.1:0");
        cmd.env("METRICS_ADDR", "127.0.0.1:0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn secure_api");
        let output = Arc::new(Mutex::new(String::new()));

        let stderr = child.stderr.take().expect("stderr piped");
        let err_out = output.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut out = err_out.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });

        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let out = output.clone();
        tokio::spawn(async move {
            let mut tx = Some(tx);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.strip_prefix("listening on http://") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(rest.trim().to_owned());
                    }
                }
                let mut out = out.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });

        let addr = match tokio::time::timeout(Duration::from_secs(60), rx).await {
            Ok(Ok(addr)) => addr,
            _ => panic!(
                "secure_api did not print `listening on http://ADDR`; output:\n{}",
                output.lock().unwrap()
            ),
        };
        let addr: SocketAddr = addr.parse().expect("printed address parses");
        assert_ne!(addr.port(), 0, "the printed address is the bound one");
        SecureApi {
            addr,
            child,
            output,
        }
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output contains `needle` (or panics after `timeout`).
    pub async fn wait_for_output(&self, needle: &str, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.output().contains(needle) {
            if tokio::time::Instant::now() > deadline {
                panic!("output never contained {needle:?}:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A request builder for `path` with `Host` set to the bound address.
    pub fn request(&self, method: &str, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.addr.to_string())
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Response<Bytes> {
        self.send(self.request("GET", path).body(Bytes::new()).unwrap())
            .await
    }

    /// Sends one request on a fresh connection and reads the whole response.
    pub async fn send(&self, req: Request<Bytes>) -> Response<Bytes> {
        send_to(self.addr, req).await
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("process still running")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("process still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .expect("secure_api exits in time")
            .expect("wait for secure_api")
    }
}

/// Sends one request to `addr` on a fresh HTTP/1.1 connection (the request's
/// `Host` header is sent as given, so tests can forge it).
pub async fn send_to(addr: SocketAddr, req: Request<Bytes>) -> Response<Bytes> {
    try_send_to(addr, req).await.expect("request succeeds")
}

/// Like [`send_to`], returning connection errors instead of panicking.
pub async fn try_send_to(
    addr: SocketAddr,
    req: Request<Bytes>,
) -> Result<Response<Bytes>, Box<dyn std::error::Error + Send + Sync>> {
    let stream = TcpStream::connect(addr).await?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let req = req.map(Full::new);
    let resp = sender.send_request(req).await?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

pub use hardening_testkit::RedisServer;

/// A path to an external tool that a test needs, from the environment
/// variable `var` (set by `.ci/run`). `None` outside CI when it is not set
/// (after saying so on stderr); in CI (`CI` set) a missing variable or path
/// fails the test.
pub fn external_tool(test: &str, var: &str, what: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os(var).map(std::path::PathBuf::from);
    match path {
        Some(path) if path.exists() => Some(path),
        other => {
            let why = match other {
                Some(path) => format!("{var}={} does not exist", path.display()),
                None => format!("{var} is not set"),
            };
            if std::env::var_os("CI").is_some() {
                panic!("{test}: {what} is needed in CI: {why}");
            }
            eprintln!("SKIPPED {test}: {what} unavailable ({why})");
            None
        }
    }
}
