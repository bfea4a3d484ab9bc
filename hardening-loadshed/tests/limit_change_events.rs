//! Limit changes are logged at most once per `log_interval`, with the
//! number of changes suppressed in between.
//!
//! Its own test binary: tracing's callsite interest cache is global, so a
//! test that captures events with a thread-local subscriber races any other
//! test thread that registers the same callsites with no subscriber.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hardening_core::clock::FakeClock;
use hardening_loadshed::algorithm::Aimd;
use hardening_loadshed::{ConcurrencyLimitLayer, Outcome, Priority};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn limit_changes_emit_rate_limited_tracing_events() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tracing::callsite::rebuild_interest_cache();
        let clock = FakeClock::new();
        let hooks = Arc::new(AtomicUsize::new(0));
        let h = hooks.clone();
        let layer = ConcurrencyLimitLayer::builder()
            .algorithm(Aimd::builder().initial_limit(50).build().unwrap())
            .window(Duration::from_millis(10))
            .min_samples(1)
            .log_interval(Duration::from_secs(1))
            .clock(clock.clone())
            .on_limit_change(move |_| {
                h.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let limiter = layer.limiter();
        // Every window has a drop: the limit falls each time (50 → 45 → …).
        let window = || {
            clock.advance(Duration::from_millis(10));
            let mut p = limiter.try_acquire(Priority::Default).unwrap();
            p.record(Outcome::Dropped);
        };
        for _ in 0..5 {
            window(); // five changes within 50 ms
        }
        clock.advance(Duration::from_secs(1));
        window();
        assert_eq!(
            hooks.load(Ordering::SeqCst),
            6,
            "the hook sees every change"
        );
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("concurrency limit changed"))
        .collect();
    assert_eq!(
        events.len(),
        2,
        "one event, then one after the interval: {text}"
    );
    assert!(
        events[0].contains("from=50") && events[0].contains("to=45"),
        "{}",
        events[0]
    );
    assert!(events[1].contains("suppressed=4"), "{}", events[1]);
}
