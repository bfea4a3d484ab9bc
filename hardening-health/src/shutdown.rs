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

use futures_util::{Stream, StreamExt as _};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

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

/// Where a bounded shutdown stands; only ever moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Running,
    Graceful,
    Forced,
}

/// The two moments of a bounded shutdown, from
/// [`Health::shutdown_on_signals`] or (feature `signal`)
/// [`Health::shutdown_on_signal_with_deadline`].
///
/// - [`graceful`](Self::graceful) resolves after the first signal and the
///   drain delay: stop accepting connections and let in-flight requests
///   finish (axum's `with_graceful_shutdown`).
/// - [`forced`](Self::forced) resolves `deadline` later, or at once on any
///   further signal (during the drain or after it): close whatever is still
///   open, e.g. by returning from `main`. A client trickling a request body
///   cannot keep the process alive past it.
///
/// ```
/// use std::time::Duration;
/// use hardening_health::Health;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let health = Health::builder().drain_delay(Duration::from_secs(5)).build().unwrap();
/// let (signal, signals) = tokio::sync::mpsc::unbounded_channel::<()>();
/// let signals = futures_util::stream::unfold(signals, |mut rx| async move {
///     rx.recv().await.map(|s| (s, rx))
/// });
/// let phases = health.shutdown_on_signals(signals, Duration::from_secs(10));
///
/// let start = tokio::time::Instant::now();
/// signal.send(()).unwrap();                 // SIGTERM
/// phases.graceful().await;                  // after the 5 s drain: stop accepting
/// assert_eq!(start.elapsed(), Duration::from_secs(5));
/// phases.forced().await;                    // 10 s later: close the rest
/// assert_eq!(start.elapsed(), Duration::from_secs(15));
/// # }
/// ```
///
/// # Clone
///
/// Clones watch the same shutdown.
#[derive(Clone, Debug)]
pub struct ShutdownPhases {
    phase: watch::Receiver<Phase>,
}

impl ShutdownPhases {
    /// Resolves when the server should stop accepting and finish the
    /// requests in flight (also when [`forced`](Self::forced) has).
    pub fn graceful(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Phase::Graceful)
    }

    /// Resolves when the remaining connections must be closed: the deadline
    /// after the drain passed, or a further signal arrived.
    pub fn forced(&self) -> impl Future<Output = ()> + Send + 'static {
        self.reached(Phase::Forced)
    }

    fn reached(&self, phase: Phase) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.phase.clone();
        async move {
            if rx.wait_for(|now| *now >= phase).await.is_err() {
                // The driver ended without reaching `phase`: its signal
                // stream ended before the first signal. Never resolve.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Health {
    /// A bounded shutdown driven by `signals` (each item is one signal, e.g.
    /// SIGTERM): the first item [`shutdown`](Self::shutdown)s (readiness fails
    /// at once); after the drain delay [`ShutdownPhases::graceful`]
    /// resolves; `deadline` after that, or at any further item,
    /// [`ShutdownPhases::forced`] resolves.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the phases are driven by a spawned task).
    pub fn shutdown_on_signals<S>(&self, signals: S, deadline: Duration) -> ShutdownPhases
    where
        S: Stream<Item = ()> + Send + 'static,
    {
        let (tx, rx) = watch::channel(Phase::Running);
        let health = self.clone();
        tokio::spawn(async move {
            let mut signals = std::pin::pin!(signals);
            if signals.next().await.is_none() {
                return;
            }
            let drained = {
                let drain = std::pin::pin!(health.shutdown());
                let next = std::pin::pin!(next_signal(signals.as_mut()));
                matches!(
                    futures_util::future::select(drain, next).await,
                    futures_util::future::Either::Left(_)
                )
            };
            if !drained {
                let _ = tx.send(Phase::Forced);
                return;
            }
            let _ = tx.send(Phase::Graceful);
            let sleep = std::pin::pin!(tokio::time::sleep(deadline));
            let next = std::pin::pin!(next_signal(signals.as_mut()));
            futures_util::future::select(sleep, next).await;
            let _ = tx.send(Phase::Forced);
        });
        ShutdownPhases { phase: rx }
    }

    /// [`shutdown_on_signals`](Self::shutdown_on_signals) with SIGTERM and
    /// SIGINT (Ctrl-C), registered when this is called: the first signal
    /// starts the drain, a second one forces the exit, and so does
    /// `deadline` after the drain.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    #[cfg(feature = "signal")]
    pub fn shutdown_on_signal_with_deadline(&self, deadline: Duration) -> ShutdownPhases {
        self.shutdown_on_signals(termination_signals(), deadline)
    }
}

/// The next item of `signals`, or never when it has ended.
async fn next_signal<S: Stream<Item = ()>>(signals: Pin<&mut S>) {
    let mut signals = signals;
    if signals.next().await.is_none() {
        std::future::pending::<()>().await;
    }
}

/// Every SIGTERM and SIGINT from now on, as a stream (one listener each,
/// registered at once, so no signal between two items is lost).
#[cfg(feature = "signal")]
fn termination_signals() -> impl Stream<Item = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        futures_util::stream::unfold((term, int), |(mut term, mut int)| async move {
            {
                let term = std::pin::pin!(async {
                    let received = match term.as_mut() {
                        Some(sig) => sig.recv().await.is_some(),
                        None => false,
                    };
                    if !received {
                        std::future::pending::<()>().await;
                    }
                });
                let int = std::pin::pin!(async {
                    let received = match int.as_mut() {
                        Some(sig) => sig.recv().await.is_some(),
                        None => false,
                    };
                    if !received {
                        std::future::pending::<()>().await;
                    }
                });
                futures_util::future::select(term, int).await;
            }
            Some(((), (term, int)))
        })
    }
    #[cfg(not(unix))]
    {
        futures_util::stream::unfold((), |()| async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
            Some(((), ()))
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;
    use tokio::sync::mpsc;

    fn channel_signals() -> (mpsc::UnboundedSender<()>, impl Stream<Item = ()> + Send) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|s| (s, rx)) },
            );
        (tx, stream)
    }

    fn health(drain: Duration) -> Health {
        Health::builder().drain_delay(drain).build().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn drain_then_deadline() {
        let health = health(Duration::from_secs(5));
        let (signal, signals) = channel_signals();
        let phases = health.shutdown_on_signals(signals, Duration::from_secs(10));
        let start = Instant::now();

        // Nothing happens before a signal.
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(!health.is_shutting_down());
        let start_signal = Instant::now();
        signal.send(()).unwrap();
        let graceful = phases.graceful();
        graceful.await;
        assert!(health.is_shutting_down());
        assert_eq!(health.readiness().await.status(), Status::Fail);
        assert_eq!(start_signal.elapsed(), Duration::from_secs(5));
        phases.forced().await;
        assert_eq!(start_signal.elapsed(), Duration::from_secs(15));
        assert!(start.elapsed() >= Duration::from_secs(115));
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_signal_during_the_drain_forces_at_once() {
        let health = health(Duration::from_secs(3600));
        let (signal, signals) = channel_signals();
        let phases = health.shutdown_on_signals(signals, Duration::from_secs(3600));
        signal.send(()).unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(health.is_shutting_down());
        let start = Instant::now();
        signal.send(()).unwrap();
        phases.forced().await;
        phases.graceful().await; // forced implies graceful
        assert!(start.elapsed() < Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_after_the_drain_cuts_the_deadline_short() {
        let health = health(Duration::from_secs(1));
        let (signal, signals) = channel_signals();
        let phases = health.shutdown_on_signals(signals, Duration::from_secs(3600));
        signal.send(()).unwrap();
        phases.graceful().await;
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        signal.send(()).unwrap();
        phases.forced().await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stream_that_ends_before_any_signal_never_shuts_down() {
        let health = health(Duration::from_secs(1));
        let (signal, signals) = channel_signals();
        let phases = health.shutdown_on_signals(signals, Duration::from_secs(1));
        drop(signal);
        let waited = tokio::time::timeout(Duration::from_secs(3600), phases.graceful()).await;
        assert!(waited.is_err());
        assert!(!health.is_shutting_down());
    }
}
