//! The state of a `hardening-circuit` breaker.

use futures_util::future::{ready, Ready};
use hardening_circuit::{Breaker, Metrics, State};

use crate::check::HealthCheck;
use crate::observation::Observation;
use crate::status::Status;

/// Reports the state of a [`hardening_circuit::Breaker`]: `closed` (and
/// `disabled`) pass, `half_open` warns (probes are testing a recovery),
/// `open` and `forced_open` report the status set with
/// [`when_open`](Self::when_open) (default `fail`). The state is the
/// `observedValue`; the output of a non-passing reading gives the window's
/// failure rate and the rejections.
///
/// Reading the state is cheap and local, but it describes a dependency, so
/// this is a dependency check: it is refused on the liveness probe.
///
/// # Example
///
/// ```
/// use hardening_circuit::CircuitBreakerLayer;
/// use hardening_health::{checks::BreakerCheck, Check, Health, Status};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = CircuitBreakerLayer::new();
/// let breaker = layer.breaker().clone();
/// let health = Health::builder()
///     .check(Check::new("payments:circuitState", BreakerCheck::new(breaker.clone()).when_open(Status::Warn))
///         .cache_ttl(std::time::Duration::ZERO))
///     .build()
///     .unwrap();
/// assert_eq!(health.readiness().await.status(), Status::Pass);
///
/// breaker.force_open();
/// let report = health.readiness().await;
/// assert_eq!(report.status(), Status::Warn); // degraded, still serving
/// assert!(report.check("payments:circuitState").unwrap().observation().output().unwrap().contains("forced_open"));
/// # }
/// ```
///
/// # Clone
///
/// Clones check the same breaker.
#[derive(Clone, Debug)]
pub struct BreakerCheck {
    breaker: Breaker,
    when_open: Status,
}

impl BreakerCheck {
    /// A check of `breaker`, failing while it is open.
    pub fn new(breaker: Breaker) -> Self {
        Self {
            breaker,
            when_open: Status::Fail,
        }
    }

    /// The status reported while the breaker is open or forced open:
    /// [`Status::Fail`] (the default) or [`Status::Warn`] (the service works
    /// without this dependency). `Pass` is taken as `Warn`: an open breaker is
    /// never healthy.
    #[must_use]
    pub fn when_open(mut self, status: Status) -> Self {
        self.when_open = status.worst(Status::Warn);
        self
    }

    /// The breaker checked.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    fn observe(&self) -> Observation {
        let metrics = self.breaker.metrics();
        let state = metrics.state;
        let status = match state {
            State::Closed | State::Disabled => Status::Pass,
            State::HalfOpen => Status::Warn,
            State::Open | State::ForcedOpen => self.when_open,
        };
        let observation = Observation::new(status).with_observed_value(state.as_str());
        if status == Status::Pass {
            observation
        } else {
            observation.with_output(describe(self.breaker.name(), &metrics))
        }
    }
}

fn describe(name: Option<&str>, m: &Metrics) -> String {
    let name = name.map(|n| format!("breaker {n} ")).unwrap_or_default();
    format!(
        "{name}is {}: {} of {} calls failed ({:.0}%), {} slow, {} rejected",
        m.state.as_str(),
        m.failures,
        m.calls,
        m.failure_rate * 100.0,
        m.slow_calls,
        m.rejections
    )
}

impl HealthCheck for BreakerCheck {
    type Future = Ready<Observation>;

    fn check(&self) -> Self::Future {
        ready(self.observe())
    }

    fn is_dependency(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::ObservedValue;
    use hardening_circuit::FakeClock;
    use std::time::Duration;

    #[test]
    fn states_map_to_statuses() {
        let breaker = Breaker::builder().name("llm").build_breaker().unwrap();
        let check = BreakerCheck::new(breaker.clone());
        let reading = check.observe();
        assert_eq!(reading.status(), Status::Pass);
        assert_eq!(
            reading.observed_value(),
            Some(&ObservedValue::Text("closed".into()))
        );
        assert_eq!(reading.output(), None);

        breaker.force_open();
        let reading = check.observe();
        assert_eq!(reading.status(), Status::Fail);
        assert_eq!(
            reading.observed_value(),
            Some(&ObservedValue::Text("forced_open".into()))
        );
        assert!(
            reading
                .output()
                .unwrap()
                .starts_with("breaker llm is forced_open"),
            "{reading:?}"
        );
        assert_eq!(
            check.clone().when_open(Status::Warn).observe().status(),
            Status::Warn
        );
        assert_eq!(
            check.clone().when_open(Status::Pass).observe().status(),
            Status::Warn
        );

        breaker.disable();
        assert_eq!(check.observe().status(), Status::Pass);
        breaker.reset();
        assert_eq!(check.observe().status(), Status::Pass);
        assert!(check.is_dependency());
    }

    /// A breaker tripped by real failures opens, then half-opens.
    #[tokio::test]
    async fn follows_a_tripping_breaker() {
        use tower::{service_fn, ServiceExt};
        let clock = FakeClock::new();
        let layer = hardening_circuit::CircuitBreakerLayer::builder()
            .minimum_calls(2)
            .open_duration(Duration::from_secs(5))
            .jitter(0.0)
            .half_open_probes(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        let check = BreakerCheck::new(layer.breaker().clone());
        let svc = tower::Layer::layer(
            &layer,
            service_fn(|_req: http::Request<()>| async {
                Ok::<_, hardening_circuit::BoxError>(
                    http::Response::builder().status(500).body(()).unwrap(),
                )
            }),
        );
        for _ in 0..2 {
            let _ = svc.clone().oneshot(http::Request::new(())).await;
        }
        let reading = check.observe();
        assert_eq!(reading.status(), Status::Fail, "{reading:?}");
        assert!(
            reading
                .output()
                .unwrap()
                .contains("2 of 2 calls failed (100%)"),
            "{reading:?}"
        );

        // After the open duration, a probe call that has not finished keeps
        // the breaker half-open.
        clock.advance(Duration::from_secs(5));
        let hanging = tower::Layer::layer(
            &layer,
            service_fn(|_req: http::Request<()>| {
                std::future::pending::<Result<http::Response<()>, hardening_circuit::BoxError>>()
            }),
        );
        let probe = tokio::spawn(hanging.oneshot(http::Request::new(())));
        tokio::task::yield_now().await;
        assert_eq!(check.observe().status(), Status::Warn, "half-open");
        probe.abort();
    }
}
