//! `Health::shutdown_on_signal` with real signals, in a process of its own.
#![cfg(all(unix, feature = "signal"))]

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use hardening_health::{Health, Status};
use tokio::signal::unix::{signal, SignalKind};

fn send_sigterm_to_self() {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Polls `future` once, so it registers its signal handlers.
async fn poll_once(future: &mut Pin<Box<dyn Future<Output = ()> + Send>>) {
    std::future::poll_fn(|cx| {
        assert!(future.as_mut().poll(cx).is_pending());
        Poll::Ready(())
    })
    .await;
}

#[tokio::test]
async fn sigterm_starts_the_drain_and_a_second_one_ends_it() {
    // A handler of the test's own first, so a SIGTERM can never kill the
    // test process, whatever the timing.
    let mut own = signal(SignalKind::terminate()).unwrap();

    let health = Health::builder()
        .drain_delay(Duration::from_secs(3600))
        .build()
        .unwrap();
    let mut shutdown: Pin<Box<dyn Future<Output = ()> + Send>> =
        Box::pin(health.shutdown_on_signal());
    poll_once(&mut shutdown).await;
    assert!(!health.is_shutting_down());

    send_sigterm_to_self();
    own.recv().await;
    // The drain has begun: readiness fails, liveness passes.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !health.is_shutting_down() {
            poll_once(&mut shutdown).await;
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the signal starts the drain");
    assert_eq!(health.readiness().await.status(), Status::Fail);
    assert_eq!(health.liveness().await.status(), Status::Pass);

    // An hour of drain is cut short by a second signal.
    send_sigterm_to_self();
    tokio::time::timeout(Duration::from_secs(10), shutdown)
        .await
        .expect("a second signal ends the drain");
}
