//! Serving connections with hyper-util, with every limit a slow or hostile
//! client could otherwise exhaust.
//!
//! `axum::serve` sets no header-read timeout and no connection cap, so a few
//! thousand idle or trickling connections hold the server. Here:
//!
//! | limit | default | what it stops |
//! |---|---|---|
//! | `header_read_timeout` | 10 s | a client sending its request head byte by byte (slowloris); on HTTP/1 it also bounds the wait for the next request on a kept-alive connection |
//! | `idle_timeout` | 60 s | a connection that moves no byte in either direction (HTTP/1 and HTTP/2) is closed gracefully: requests in flight finish first |
//! | `max_connections` | 10 000 | past it, new connections wait in the kernel's accept backlog instead of costing memory and a task each |
//! | `max_headers`, `max_header_bytes` | 100, 16 KiB | oversized request heads get `431` (HTTP/1) or a stream reset (HTTP/2, `max_header_list_size`) |
//! | `h2_max_concurrent_streams` | 100 | one HTTP/2 connection multiplexing unbounded work |
//! | HTTP/2 resets | hyper's `max_pending_accept_reset_streams` 20, `max_local_error_reset_streams` 1024 | the rapid-reset flood (CVE-2023-44487) |
//! | HTTP/2 keep-alive | ping every 20 s, 10 s to answer | dead peers holding a connection |
//!
//! Request bodies are bounded in size and time by the request layers
//! (`baseline.rs`), not here.
//!
//! Shutdown: [`Server::run`] stops accepting when `graceful` resolves and
//! asks every connection to close gracefully (in-flight requests finish);
//! it returns when the last connection is gone. Bounding that wait is the
//! caller's (`main.rs` races it with the shutdown deadline).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hardening_core::proxy::PeerAddr;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt as _;

/// Connection limits; see the module docs for what each one stops.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ServeLimits {
    pub(crate) header_read_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_header_bytes: usize,
    pub(crate) h2_max_concurrent_streams: u32,
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_headers: 100,
            max_header_bytes: 16 * 1024,
            h2_max_concurrent_streams: 100,
        }
    }
}

impl ServeLimits {
    /// Smallest `max_header_bytes` hyper accepts (its read buffer minimum).
    pub(crate) const MIN_HEADER_BYTES: usize = 8192;
}

/// The accept loop and its connections.
pub(crate) struct Server {
    listener: TcpListener,
    limits: ServeLimits,
    builder: auto::Builder<TokioExecutor>,
}

impl Server {
    pub(crate) fn new(listener: TcpListener, limits: ServeLimits) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_headers(limits.max_headers)
            .max_buf_size(limits.max_header_bytes.max(ServeLimits::MIN_HEADER_BYTES))
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.h2_max_concurrent_streams)
            .max_header_list_size(limits.max_header_bytes as u32)
            .max_pending_accept_reset_streams(20)
            .max_local_error_reset_streams(1024)
            .keep_alive_interval(Duration::from_secs(20))
            .keep_alive_timeout(Duration::from_secs(10));
        Self {
            listener,
            limits,
            builder,
        }
    }

    /// Serves `app` until `graceful` resolves, then closes every connection
    /// gracefully and returns when the last one is gone.
    pub(crate) async fn run(self, app: Router, graceful: impl Future<Output = ()>) {
        let Server {
            listener,
            limits,
            builder,
        } = self;
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let (closing_tx, closing) = watch::channel(false);
        let mut graceful = std::pin::pin!(graceful);
        loop {
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => permit.expect("never closed"),
                () = &mut graceful => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut graceful => break,
            };
            let _ = stream.set_nodelay(true);
            let builder = builder.clone();
            let app = app.clone();
            let closing = closing.clone();
            let idle = limits.idle_timeout;
            tokio::spawn(async move {
                let _permit = permit;
                serve_connection(builder, stream, peer, app, closing, idle).await;
            });
        }
        drop(listener);
        let _ = closing_tx.send(true);
        // Every connection holds a permit until it is closed.
        let _all = slots
            .acquire_many(limits.max_connections as u32)
            .await
            .expect("never closed");
    }
}

async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    mut closing: watch::Receiver<bool>,
    idle_timeout: Duration,
) {
    let activity = Activity::new();
    let io = TokioIo::new(ActivityIo {
        inner: stream,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req.extensions_mut().insert(PeerAddr(peer));
        let app = app.clone();
        async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
    });
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut shutting_down = false;
    let mut tick = tokio::time::interval((idle_timeout / 4).max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, %peer, "connection ended with an error");
                }
                return;
            }
            changed = closing.wait_for(|closing| *closing), if !shutting_down => {
                let _ = changed;
                conn.as_mut().graceful_shutdown();
                shutting_down = true;
            }
            _ = tick.tick(), if !shutting_down => {
                if activity.idle_for() >= idle_timeout {
                    tracing::debug!(%peer, "closing idle connection");
                    conn.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
            }
        }
    }
}

/// When a connection last moved a byte, as milliseconds since it opened.
#[derive(Clone)]
struct Activity {
    opened: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.opened.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

pin_project_lite::pin_project! {
    /// A stream that records when it last read or wrote a byte.
    struct ActivityIo<T> {
        #[pin]
        inner: T,
        activity: Activity,
    }
}

impl<T: AsyncRead> AsyncRead for ActivityIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite> AsyncWrite for ActivityIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let polled = this.inner.poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
