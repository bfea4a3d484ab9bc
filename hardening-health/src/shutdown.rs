//! Graceful shutdown: fail readiness, wait for load balancers, then stop.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_health::{Health, Status};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let health = Health::builder().drain_delay(Duration::from_millis(500)).build().unwrap();
//! let (stop, signal) = tokio::sync::oneshot::channel::<()>();
//! let shutdown = tokio::spawn(health.shutdown_on(async move { let _ = signal.await; }));
//!
//! assert_eq!(health.readiness().await.status(), Status::Pass);
//! stop.send(()).unwrap();
//! tokio::task::yield_now().await;
//! assert_eq!(health.readiness().await.status(), Status::Fail);
//! assert_eq!(health.liveness().await.status(), Status::Pass);
//! shutdown.await.unwrap(); // after the drain delay: the server may stop now
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

#[cfg(feature = "signal")]
use crate::Health;

/// The drain delay of [`Health::shutdown`](crate::Health::shutdown), as a
/// future. The delay counts from the `shutdown` call; the timer is created
/// on first poll, so the call itself works outside a runtime.
#[must_use = "the drain delay only passes while the future is awaited"]
#[derive(Debug)]
pub struct Drain {
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Drain {
    pub(crate) fn new(delay: Duration) -> Self {
        let now = Instant::now();
        Self {
            deadline: now
                .checked_add(delay)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
            sleep: None,
        }
    }
}

impl Future for Drain {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        self.sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)))
            .as_mut()
            .poll(cx)
    }
}

#[cfg(feature = "signal")]
impl Health {
    /// [`shutdown_on`](Health::shutdown_on) SIGTERM (what Kubernetes and
    /// systemd send) or Ctrl-C. A second signal during the drain ends it at
    /// once.
    pub fn shutdown_on_signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let health = self.clone();
        async move {
            termination_signal().await;
            let drain = std::pin::pin!(health.shutdown());
            let second = std::pin::pin!(termination_signal());
            futures_util::future::select(drain, second).await;
        }
    }
}

/// SIGTERM or SIGINT (Ctrl-C).
#[cfg(feature = "signal")]
async fn termination_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    futures_util::future::select(std::pin::pin!(ctrl_c), std::pin::pin!(term)).await;
}
