//! The baseline (no-load) RTT: the smallest RTT seen, re-probed
//! periodically by lowering the limit for one window.

use std::time::Duration;

/// What the controller should do with this window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Step {
    /// Run the controller's own rule against [`BaselineRtt::get`].
    Update,
    /// A probe starts: use this (lowered) limit for one window.
    StartProbe(f64),
    /// The probe window is over and measured the new baseline: go back to
    /// this limit.
    EndProbe(f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Tracking,
    Probing { saved: f64 },
}

/// Minimum-RTT tracking with periodic re-probing.
#[derive(Clone, Debug)]
pub(crate) struct BaselineRtt {
    baseline: Option<Duration>,
    interval: Option<Duration>,
    fraction: f64,
    next_probe: Option<Duration>,
    state: State,
}

impl BaselineRtt {
    pub(crate) fn new(interval: Option<Duration>, fraction: f64) -> Self {
        Self {
            baseline: None,
            interval,
            fraction,
            next_probe: None,
            state: State::Tracking,
        }
    }

    /// The current baseline (the window's minimum before the first window).
    pub(crate) fn get(&self) -> Option<Duration> {
        self.baseline
    }

    /// Takes a window's minimum RTT at `now`, with the controller's current
    /// estimate `limit` and its lower bound `min`.
    pub(crate) fn observe(
        &mut self,
        now: Duration,
        min_rtt: Duration,
        limit: f64,
        min: f64,
    ) -> Step {
        if let State::Probing { saved } = self.state {
            // A baseline that moved by more than 5 % may be a lasting change,
            // a passing spike that happened to meet the probe, or a probe
            // that did not drain the queue: check again soon (after a
            // quarter of the interval) until two probes agree.
            let rose = self.baseline.is_some_and(|b| {
                let (b, m) = (b.as_secs_f64(), min_rtt.as_secs_f64());
                (m - b).abs() > 0.05 * b
            });
            self.baseline = Some(min_rtt);
            self.state = State::Tracking;
            self.next_probe = self
                .interval
                .map(|i| now.saturating_add(if rose { i / 4 } else { i }));
            return Step::EndProbe(saved);
        }
        self.baseline = Some(self.baseline.map_or(min_rtt, |b| b.min(min_rtt)));
        let Some(interval) = self.interval else {
            return Step::Update;
        };
        match self.next_probe {
            None => {
                self.next_probe = Some(now.saturating_add(interval));
                Step::Update
            }
            Some(at) if now >= at => {
                self.state = State::Probing { saved: limit };
                Step::StartProbe((limit * self.fraction).max(min))
            }
            Some(_) => Step::Update,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn tracks_the_minimum_and_reprobes_on_schedule() {
        let mut b = BaselineRtt::new(Some(Duration::from_secs(10)), 0.5);
        assert_eq!(
            b.observe(Duration::from_secs(1), 20 * MS, 40.0, 1.0),
            Step::Update
        );
        assert_eq!(b.get(), Some(20 * MS));
        assert_eq!(
            b.observe(Duration::from_secs(2), 10 * MS, 40.0, 1.0),
            Step::Update
        );
        assert_eq!(
            b.observe(Duration::from_secs(3), 30 * MS, 40.0, 1.0),
            Step::Update
        );
        assert_eq!(b.get(), Some(10 * MS));
        // At 11 s the probe starts; the next window's minimum replaces the
        // baseline, even when higher (the service became slower).
        assert_eq!(
            b.observe(Duration::from_secs(11), 30 * MS, 40.0, 1.0),
            Step::StartProbe(20.0)
        );
        assert_eq!(
            b.observe(Duration::from_secs(12), 25 * MS, 20.0, 1.0),
            Step::EndProbe(40.0)
        );
        assert_eq!(b.get(), Some(25 * MS));
        // The baseline moved: the next probe comes after a quarter interval.
        assert_eq!(
            b.observe(Duration::from_secs(14), 25 * MS, 40.0, 1.0),
            Step::Update
        );
        assert!(matches!(
            b.observe(Duration::from_secs(15), 25 * MS, 40.0, 1.0),
            Step::StartProbe(_)
        ));
        // It did not move this time: back to the full interval.
        assert_eq!(
            b.observe(Duration::from_secs(16), 25 * MS, 20.0, 1.0),
            Step::EndProbe(40.0)
        );
        assert_eq!(
            b.observe(Duration::from_secs(25), 25 * MS, 40.0, 1.0),
            Step::Update
        );
        assert!(matches!(
            b.observe(Duration::from_secs(26), 25 * MS, 40.0, 1.0),
            Step::StartProbe(_)
        ));
    }

    #[test]
    fn probe_never_goes_below_the_minimum_and_can_be_disabled() {
        let mut b = BaselineRtt::new(Some(Duration::ZERO), 0.1);
        b.observe(Duration::ZERO, MS, 4.0, 1.0);
        assert_eq!(
            b.observe(Duration::ZERO, MS, 4.0, 3.0),
            Step::StartProbe(3.0)
        );
        let mut never = BaselineRtt::new(None, 0.5);
        for s in 0..100 {
            assert_eq!(
                never.observe(Duration::from_secs(s), MS, 4.0, 1.0),
                Step::Update
            );
        }
    }
}
