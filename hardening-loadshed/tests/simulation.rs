//! Fake-clock simulations of each controller against a server whose latency
//! grows with concurrency past a knee (Little's law: with `K` workers and
//! service time `S`, `n > K` requests in flight take `S × n / K`).
//!
//! Each window lasts one simulated second; the offered load is far above
//! the limit, so the limiter is always full (`n = limit`).

use std::time::Duration;

use hardening_loadshed::algorithm::{Aimd, Gradient2, LimitAlgorithm, Vegas, WindowSample};
use proptest::prelude::*;

const KNEE: u32 = 64;
const BASE: Duration = Duration::from_millis(10);

/// The simulated server: `knee` workers, `base` service time.
#[derive(Clone, Copy, Debug)]
struct Server {
    knee: u32,
    base: Duration,
}

impl Server {
    fn latency(&self, in_flight: u32) -> Duration {
        let factor = (f64::from(in_flight) / f64::from(self.knee)).max(1.0);
        self.base.mul_f64(factor)
    }
}

/// One window at `now` with `in_flight` requests, latency scaled by `spike`.
fn window(server: Server, now: Duration, in_flight: u32, spike: f64) -> WindowSample {
    let rtt = server.latency(in_flight).mul_f64(spike);
    let samples = (f64::from(in_flight) / rtt.as_secs_f64()) as u32;
    WindowSample {
        now,
        samples: samples.max(1),
        dropped: 0,
        min_rtt: rtt,
        avg_rtt: rtt,
        max_in_flight: in_flight,
    }
}

/// Runs `windows` windows from `start` and returns the limits.
fn run(
    algo: &mut dyn LimitAlgorithm,
    server: Server,
    start: u64,
    windows: u64,
    spike: impl Fn(u64) -> f64,
) -> Vec<u32> {
    (start..start + windows)
        .map(|i| {
            let w = window(server, Duration::from_secs(i + 1), algo.limit(), spike(i));
            algo.update(&w)
        })
        .collect()
}

fn aimd() -> Aimd {
    Aimd::builder()
        .initial_limit(20)
        .increase(4.0)
        .latency_threshold(BASE.mul_f64(1.5))
        .build()
        .unwrap()
}

fn vegas() -> Vegas {
    Vegas::builder().initial_limit(20).build().unwrap()
}

fn gradient2() -> Gradient2 {
    Gradient2::builder().initial_limit(20).build().unwrap()
}

const SERVER: Server = Server {
    knee: KNEE,
    base: BASE,
};

/// Whether every limit in `limits[range]` lies in `band`, skipping probe
/// windows (a limit at most 60 % of the one before) and the window after.
fn within(
    limits: &[u32],
    range: std::ops::Range<usize>,
    band: std::ops::RangeInclusive<u32>,
) -> bool {
    range.clone().all(|i| {
        let probe = |j: usize| j > 0 && f64::from(limits[j]) <= 0.6 * f64::from(limits[j - 1]);
        probe(i) || (i > 0 && probe(i - 1)) || band.contains(&limits[i])
    })
}

/// name, controller, band around the knee of 64, windows to converge
type Case = (
    &'static str,
    Box<dyn LimitAlgorithm>,
    std::ops::RangeInclusive<u32>,
    usize,
);

fn all() -> Vec<Case> {
    // name, controller, band around the knee of 64, windows to converge
    vec![
        ("aimd", Box::new(aimd()), 80..=104, 20),
        ("vegas", Box::new(vegas()), 64..=80, 6),
        ("gradient2", Box::new(gradient2()), 96..=120, 12),
    ]
}

#[test]
fn each_controller_converges_near_the_knee_within_its_documented_windows() {
    for (name, mut algo, band, windows) in all() {
        let limits = run(&mut *algo, SERVER, 0, 120, |_| 1.0);
        assert!(
            within(&limits, windows..120, band.clone()),
            "{name}: {limits:?}"
        );
        // And not before: the start (20) is far below the knee.
        assert!(!band.contains(&limits[0]), "{name}");
    }
}

#[test]
fn each_controller_recovers_after_a_latency_spike() {
    for (name, mut algo, band, _) in all() {
        // Latency ×4 for five windows (40..45), between two probes.
        let limits = run(&mut *algo, SERVER, 0, 60, |i| {
            if (40..45).contains(&i) {
                4.0
            } else {
                1.0
            }
        });
        let low = *limits[40..46].iter().min().unwrap();
        assert!(
            low < *band.start(),
            "{name} backed off during the spike: {limits:?}"
        );
        assert!(
            within(&limits, 56..60, band),
            "{name} recovered by window 56: {limits:?}"
        );
    }
}

#[test]
fn a_probe_that_meets_a_spike_is_corrected_by_the_next_probes() {
    // The spike (60..65) covers the probe at 60 s: the baseline is measured
    // ×4 too high; quicker re-probes bring it back.
    for (name, mut algo, band, by) in [
        (
            "vegas",
            Box::new(vegas()) as Box<dyn LimitAlgorithm>,
            64..=85,
            75,
        ),
        ("gradient2", Box::new(gradient2()), 96..=120, 105),
    ] {
        let limits = run(&mut *algo, SERVER, 0, 130, |i| {
            if (60..65).contains(&i) {
                4.0
            } else {
                1.0
            }
        });
        assert!(
            within(&limits, by..130, band),
            "{name} back by window {by}: {limits:?}"
        );
    }
}

#[test]
fn after_a_lasting_latency_step_delay_based_controllers_relearn_the_baseline() {
    // From window 40 on the service takes twice as long at any concurrency;
    // its knee (in requests) is unchanged, so the right limit is too.
    let slow = Server {
        knee: KNEE,
        base: BASE * 2,
    };
    for (name, mut algo, band, _) in all().into_iter().skip(1) {
        let mut limits = run(&mut *algo, SERVER, 0, 40, |_| 1.0);
        limits.extend(run(&mut *algo, slow, 40, 80, |_| 1.0));
        let low = *limits[40..60].iter().min().unwrap();
        assert!(low < *band.start(), "{name} first backs off: {limits:?}");
        assert!(
            within(&limits, 100..120, band),
            "{name} relearned by window 100: {limits:?}"
        );
    }
    // AIMD's absolute threshold (15 ms) is now always exceeded: it backs off
    // to its minimum and stays there, as documented.
    let mut a = aimd();
    run(&mut a, SERVER, 0, 40, |_| 1.0);
    let limits = run(&mut a, slow, 40, 80, |_| 1.0);
    assert_eq!(*limits.last().unwrap(), 1);
}

#[test]
fn after_a_throughput_drop_each_controller_follows_the_knee_down() {
    // From window 40 the service has half the workers: knee 32.
    let half = Server {
        knee: KNEE / 2,
        base: BASE,
    };
    for (name, mut algo, band) in [
        ("aimd", Box::new(aimd()) as Box<dyn LimitAlgorithm>, 40..=52),
        ("vegas", Box::new(vegas()), 32..=44),
        ("gradient2", Box::new(gradient2()), 48..=64),
    ] {
        let mut limits = run(&mut *algo, SERVER, 0, 40, |_| 1.0);
        limits.extend(run(&mut *algo, half, 40, 80, |_| 1.0));
        assert!(within(&limits, 80..120, band), "{name}: {limits:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the latencies, demand and drops, no controller leaves its
    /// bounds, and Gradient2's step per window stays bounded.
    #[test]
    fn limits_never_leave_their_bounds(
        min in 1u32..50,
        span in 0u32..500,
        windows in proptest::collection::vec((1u64..2_000_000, 0u32..2_000, 0u32..3, 0u64..100_000), 1..200),
    ) {
        let max = min + span;
        let initial = min + span / 2;
        let mut algos: Vec<Box<dyn LimitAlgorithm>> = vec![
            Box::new(Aimd::builder().initial_limit(initial).min_limit(min).max_limit(max)
                .latency_threshold(Duration::from_millis(50)).build().unwrap()),
            Box::new(Vegas::builder().initial_limit(initial).min_limit(min).max_limit(max)
                .probe_interval(Some(Duration::from_secs(7))).build().unwrap()),
            Box::new(Gradient2::builder().initial_limit(initial).min_limit(min).max_limit(max)
                .probe_interval(Some(Duration::from_secs(7))).build().unwrap()),
            Box::new(Gradient2::builder().initial_limit(initial).min_limit(min).max_limit(max)
                .probe_interval(None).build().unwrap()),
        ];
        for (k, algo) in algos.iter_mut().enumerate() {
            let mut now = Duration::ZERO;
            for &(rtt_us, demand, dropped, extra_us) in &windows {
                now += Duration::from_secs(1);
                let before = algo.limit();
                let w = WindowSample {
                    now,
                    samples: 10,
                    dropped,
                    min_rtt: Duration::from_micros(rtt_us),
                    avg_rtt: Duration::from_micros(rtt_us + extra_us),
                    max_in_flight: demand.min(before),
                };
                let after = algo.update(&w);
                prop_assert!((min..=max).contains(&after), "{} left {min}..={max}: {after}", algo.name());
                prop_assert_eq!(after, algo.limit());
                if k == 3 {
                    // Without probes: down by at most 10 % (+1 for rounding),
                    // up by at most sqrt(limit) (+1).
                    let (b, a) = (f64::from(before), f64::from(after));
                    prop_assert!(a >= b * 0.9 - 1.0 && a <= b + b.sqrt() + 1.0, "{before} -> {after}");
                }
            }
        }
    }
}
