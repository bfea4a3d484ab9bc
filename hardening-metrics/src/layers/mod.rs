//! Metrics of the hardening layers: the observer hooks of
//! [`hardening_core::observe`] implemented with Prometheus families.
//!
//! [`LayerMetrics::new`] registers every family into your [`Registry`]
//! once; its methods hand out the observer each layer's builder takes
//! (`.observer(...)`). Every label value is a name from configuration (a
//! breaker, check, policy or limiter name) or a fixed enum: the series count
//! is bounded by configuration, never by traffic. Named things are resolved
//! when the layer is built, so recording is one relaxed atomic add.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `hardening_circuit_breaker_state` | gauge (1 for the current state) | `breaker`, `state` |
//! | `hardening_circuit_transitions_total` | counter | `breaker`, `from`, `to` |
//! | `hardening_circuit_calls_total` | counter | `breaker`, `outcome` (`success`, `failure`, `slow`, `rejected`) |
//! | `hardening_retry_attempts_total` | counter | `retry`, `outcome` |
//! | `hardening_retry_budget_exhausted_total` | counter | `retry` |
//! | `hardening_retry_after_total` | counter | `retry`, `decision` (`honoured`, `capped`) |
//! | `hardening_health_check_status` | gauge (1 for the latest status) | `check`, `status` |
//! | `hardening_health_check_duration_seconds` | histogram | `check` |
//! | `hardening_health_check_timeouts_total` | counter | `check` |
//! | `hardening_health_check_cache_hits_total` | counter | `check` |
//! | `hardening_health_probe_status` | gauge (1 for the latest answer) | `probe`, `status` |
//! | `hardening_https_redirects_total` | counter | `outcome` (`redirected`, `rejected_host`) |
//! | `hardening_redactions_total` | counter | `rule` |
//! | `hardening_concurrency_limit` | gauge | `limiter` |
//! | `hardening_concurrency_in_flight` | gauge | `limiter`, `class` |
//! | `hardening_concurrency_rejected_total` | counter | `limiter`, `class` |
//! | `hardening_ratelimit_decisions_total` | counter | `policy`, `outcome` (`admitted`, `rejected`, `bypassed`, `store_error`) |
//! | `hardening_ratelimit_store_state` | gauge (1 for the current state) | `policy`, `state` (`up`, `local_fallback`, `fail_open`, `fail_closed`) |
//! | `hardening_ratelimit_fallback_decisions_total` | counter | `policy` |
//! | `hardening_ratelimit_overflow_total` | counter | `policy` |
//! | `hardening_ratelimit_tracked_keys` | gauge | `policy` |
//!
//! # Example
//!
//! ```
//! use hardening_core::observe::{BreakerState, CallOutcome, CircuitObserver};
//! use hardening_metrics::layers::LayerMetrics;
//! use prometheus_client::registry::Registry;
//!
//! let mut registry = Registry::default();
//! let metrics = LayerMetrics::new(&mut registry);
//! // A circuit breaker layer would call this once, with its name.
//! let breaker = metrics.circuit().breaker("payments");
//! breaker.call(CallOutcome::Rejected);
//! breaker.transition(BreakerState::Closed, BreakerState::Open);
//!
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains(r#"hardening_circuit_calls_total{breaker="payments",outcome="rejected"} 1"#));
//! assert!(text.contains(r#"hardening_circuit_breaker_state{breaker="payments",state="open"} 1"#));
//! ```

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hardening_core::observe::{
    BreakerObserver, BreakerState, CallOutcome, CheckObserver, CheckStatus, CircuitObserver,
    ConcurrencyObserver, ConcurrencyStats, HealthObserver, PolicyObserver, ProbeKind,
    RateLimitObserver, RateLimitOutcome, RateLimitStats, RedactObserver, RedactRuleObserver,
    RedirectObserver, RedirectOutcome, RetryAfterUse, RetryObserver, RetryOutcome, StoreState,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::http::Buckets;

/// Label pairs: names fixed by this module, values from configuration.
type Labels = Vec<(&'static str, String)>;

/// The bucket bounds, in seconds, of `hardening_health_check_duration_seconds`.
pub const CHECK_DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

fn labels<const N: usize>(pairs: [(&'static str, &str); N]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// Every family of the layer metrics, registered once.
#[derive(Clone)]
struct Families {
    breaker_state: Family<Labels, Gauge>,
    transitions: Family<Labels, Counter>,
    calls: Family<Labels, Counter>,
    retry_attempts: Family<Labels, Counter>,
    retry_budget: Family<Labels, Counter>,
    retry_after: Family<Labels, Counter>,
    check_status: Family<Labels, Gauge>,
    check_duration: Family<Labels, Histogram, Buckets>,
    check_timeouts: Family<Labels, Counter>,
    check_cache_hits: Family<Labels, Counter>,
    probe_status: Family<Labels, Gauge>,
    redirects: Family<Labels, Counter>,
    redactions: Family<Labels, Counter>,
    ratelimit_decisions: Family<Labels, Counter>,
    ratelimit_store: Family<Labels, Gauge>,
    ratelimit_fallback: Family<Labels, Counter>,
    ratelimit_overflow: Family<Labels, Counter>,
}

/// Named sources read at scrape time.
type Sources<T> = Mutex<Vec<(Arc<str>, Arc<T>)>>;

/// The sources read at scrape time.
#[derive(Default)]
struct Pulled {
    concurrency: Sources<dyn ConcurrencyStats>,
    ratelimit: Sources<dyn RateLimitStats>,
}

impl fmt::Debug for Pulled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pulled").finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct PulledCollector(Arc<Pulled>);

impl Collector for PulledCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        let limiters = self
            .0
            .concurrency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        {
            let mut metric = encoder.encode_descriptor(
                "hardening_concurrency_limit",
                "The current concurrency limit of each limiter.",
                None,
                MetricType::Gauge,
            )?;
            for (name, stats) in &limiters {
                let l = labels([("limiter", name)]);
                ConstGauge::new(stats.limit() as i64).encode(metric.encode_family(&l)?)?;
            }
        }
        let mut rows = Vec::new();
        for (name, stats) in &limiters {
            stats.classes(&mut |class, in_flight, rejected| {
                rows.push((
                    labels([("limiter", name), ("class", class)]),
                    in_flight,
                    rejected,
                ));
            });
        }
        {
            let mut metric = encoder.encode_descriptor(
                "hardening_concurrency_in_flight",
                "Requests in flight, by limiter and request class.",
                None,
                MetricType::Gauge,
            )?;
            for (l, in_flight, _) in &rows {
                ConstGauge::new(*in_flight as i64).encode(metric.encode_family(l)?)?;
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "hardening_concurrency_rejected",
                "Requests refused by the concurrency limit, by limiter and request class.",
                None,
                MetricType::Counter,
            )?;
            for (l, _, rejected) in &rows {
                ConstCounter::new(*rejected).encode(metric.encode_family(l)?)?;
            }
        }
        let policies = self
            .0
            .ratelimit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut metric = encoder.encode_descriptor(
            "hardening_ratelimit_tracked_keys",
            "Keys with rate-limit state in memory, by policy.",
            None,
            MetricType::Gauge,
        )?;
        // One series per policy name, even if several stores report it.
        let mut tracked: Vec<(&str, u64)> = Vec::with_capacity(policies.len());
        for (name, stats) in &policies {
            let keys = stats.tracked_keys();
            match tracked.iter_mut().find(|(n, _)| *n == &**name) {
                Some((_, sum)) => *sum += keys,
                None => tracked.push((name, keys)),
            }
        }
        for (name, keys) in tracked {
            let l = labels([("policy", name)]);
            ConstGauge::new(keys as i64).encode(metric.encode_family(&l)?)?;
        }
        Ok(())
    }
}

/// The metrics of every hardening layer, registered into one [`Registry`].
///
/// # Clone
///
/// Cheap; clones record into the same families.
#[derive(Clone)]
pub struct LayerMetrics {
    families: Families,
    pulled: Arc<Pulled>,
}

impl fmt::Debug for LayerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LayerMetrics").finish_non_exhaustive()
    }
}

impl LayerMetrics {
    /// Registers every layer family into `registry` (families without
    /// series are written with their `HELP` and `TYPE` only).
    pub fn new(registry: &mut Registry) -> Self {
        fn counter(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
            let family = Family::default();
            registry.register(name, help, family.clone());
            family
        }
        fn gauge(registry: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
            let family = Family::default();
            registry.register(name, help, family.clone());
            family
        }
        let check_duration = Family::new_with_constructor(Buckets::new(&CHECK_DURATION_BUCKETS));
        registry.register_with_unit(
            "hardening_health_check_duration",
            "How long each health check run took.",
            Unit::Seconds,
            check_duration.clone(),
        );
        let families = Families {
            breaker_state: gauge(
                registry,
                "hardening_circuit_breaker_state",
                "1 for the current state of each circuit breaker, 0 for the others.",
            ),
            transitions: counter(
                registry,
                "hardening_circuit_transitions",
                "Circuit breaker state changes, by breaker and from/to state.",
            ),
            calls: counter(
                registry,
                "hardening_circuit_calls",
                "Calls through each circuit breaker by outcome (slow calls are also counted as success or failure).",
            ),
            retry_attempts: counter(
                registry,
                "hardening_retry_attempts",
                "Decisions after each attempt of the retry layer, by outcome.",
            ),
            retry_budget: counter(
                registry,
                "hardening_retry_budget_exhausted",
                "Retries refused because the retry budget was empty.",
            ),
            retry_after: counter(
                registry,
                "hardening_retry_after",
                "Upstream Retry-After values honoured or capped (over max_retry_after).",
            ),
            check_status: gauge(
                registry,
                "hardening_health_check_status",
                "1 for the latest status of each health check, 0 for the others.",
            ),
            check_duration,
            check_timeouts: counter(
                registry,
                "hardening_health_check_timeouts",
                "Health check runs cut short by their timeout.",
            ),
            check_cache_hits: counter(
                registry,
                "hardening_health_check_cache_hits",
                "Probes answered from a health check's cached reading.",
            ),
            probe_status: gauge(
                registry,
                "hardening_health_probe_status",
                "1 for the latest answer of each health probe, 0 for the others.",
            ),
            redirects: counter(
                registry,
                "hardening_https_redirects",
                "Plain-HTTP requests redirected to HTTPS or refused for a foreign host.",
            ),
            redactions: counter(
                registry,
                "hardening_redactions",
                "Values masked by the redactor, by rule.",
            ),
            ratelimit_decisions: counter(
                registry,
                "hardening_ratelimit_decisions",
                "Rate-limit decisions by policy and outcome.",
            ),
            ratelimit_store: gauge(
                registry,
                "hardening_ratelimit_store_state",
                "1 for the current state of each policy's store, 0 for the others.",
            ),
            ratelimit_fallback: counter(
                registry,
                "hardening_ratelimit_fallback_decisions",
                "Rate-limit decisions taken without the shared store while it was down (local fallback or fail-open).",
            ),
            ratelimit_overflow: counter(
                registry,
                "hardening_ratelimit_overflow",
                "Requests whose key had no slot of its own and used the shared overflow bucket.",
            ),
        };
        let pulled = Arc::new(Pulled::default());
        registry.register_collector(Box::new(PulledCollector(Arc::clone(&pulled))));
        Self { families, pulled }
    }

    /// The observer for circuit breaker builders
    /// (`CircuitBreakerLayer::builder().observer(...)`); breakers are
    /// labelled by their own names.
    pub fn circuit(&self) -> CircuitMetrics {
        CircuitMetrics(self.families.clone())
    }

    /// The observer for a retry layer, labelled `retry="name"`.
    pub fn retry(&self, name: &str) -> RetryMetrics {
        let f = &self.families;
        let l = |outcome: &str| labels([("retry", name), ("outcome", outcome)]);
        RetryMetrics {
            attempts: RetryOutcome::ALL
                .iter()
                .map(|o| f.retry_attempts.get_or_create(&l(o.as_str())).clone())
                .collect(),
            budget: f
                .retry_budget
                .get_or_create(&labels([("retry", name)]))
                .clone(),
            after: RetryAfterUse::ALL
                .iter()
                .map(|u| {
                    f.retry_after
                        .get_or_create(&labels([("retry", name), ("decision", u.as_str())]))
                        .clone()
                })
                .collect(),
        }
    }

    /// The observer for `Health::builder().observer(...)`; checks are
    /// labelled by their names.
    pub fn health(&self) -> HealthMetrics {
        let probes = ProbeKind::ALL
            .iter()
            .map(|p| {
                CheckStatus::ALL
                    .iter()
                    .map(|s| {
                        self.families
                            .probe_status
                            .get_or_create(&labels([("probe", p.as_str()), ("status", s.as_str())]))
                            .clone()
                    })
                    .collect()
            })
            .collect();
        HealthMetrics {
            families: self.families.clone(),
            probes: Arc::new(probes),
        }
    }

    /// The observer for `HttpsRedirectLayer::builder().observer(...)`.
    pub fn redirect(&self) -> RedirectMetrics {
        RedirectMetrics(
            RedirectOutcome::ALL
                .iter()
                .map(|o| {
                    self.families
                        .redirects
                        .get_or_create(&labels([("outcome", o.as_str())]))
                        .clone()
                })
                .collect(),
        )
    }

    /// The observer for `Redactor::builder().observer(...)`; rules are
    /// labelled by their names.
    pub fn redact(&self) -> RedactMetrics {
        RedactMetrics(self.families.redactions.clone())
    }

    /// The observer for a concurrency limit, labelled `limiter="name"`;
    /// read at scrape time.
    pub fn concurrency(&self, name: &str) -> ConcurrencyMetrics {
        ConcurrencyMetrics {
            name: Arc::from(name),
            pulled: Arc::clone(&self.pulled),
        }
    }

    /// The observer for `RateLimitLayer::builder().observer(...)`;
    /// policies are labelled by their names.
    pub fn ratelimit(&self) -> RateLimitMetrics {
        RateLimitMetrics {
            families: self.families.clone(),
            pulled: Arc::clone(&self.pulled),
        }
    }
}

/// Rate-limit metrics; see [`LayerMetrics::ratelimit`].
#[derive(Clone)]
pub struct RateLimitMetrics {
    families: Families,
    pulled: Arc<Pulled>,
}

impl fmt::Debug for RateLimitMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RateLimitMetrics")
    }
}

impl RateLimitObserver for RateLimitMetrics {
    fn policy(&self, policy: &str) -> Arc<dyn PolicyObserver> {
        let f = &self.families;
        let state = StoreState::ALL
            .iter()
            .map(|s| {
                f.ratelimit_store
                    .get_or_create(&labels([("policy", policy), ("state", s.as_str())]))
                    .clone()
            })
            .collect::<Box<[Gauge]>>();
        set_one_hot(&state, StoreState::Up.index());
        Arc::new(PolicyMetrics {
            name: Arc::from(policy),
            decisions: RateLimitOutcome::ALL
                .iter()
                .map(|o| {
                    f.ratelimit_decisions
                        .get_or_create(&labels([("policy", policy), ("outcome", o.as_str())]))
                        .clone()
                })
                .collect(),
            state,
            fallback: f
                .ratelimit_fallback
                .get_or_create(&labels([("policy", policy)]))
                .clone(),
            overflow: f
                .ratelimit_overflow
                .get_or_create(&labels([("policy", policy)]))
                .clone(),
            pulled: Arc::clone(&self.pulled),
        })
    }
}

fn set_one_hot(gauges: &[Gauge], current: usize) {
    for (i, gauge) in gauges.iter().enumerate() {
        gauge.set(i64::from(i == current));
    }
}

/// Circuit breaker metrics; see [`LayerMetrics::circuit`].
#[derive(Clone)]
pub struct CircuitMetrics(Families);

impl fmt::Debug for CircuitMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CircuitMetrics")
    }
}

impl CircuitObserver for CircuitMetrics {
    fn breaker(&self, name: &str) -> Arc<dyn BreakerObserver> {
        let f = &self.0;
        let states: Box<[Gauge]> = BreakerState::ALL
            .iter()
            .map(|s| {
                f.breaker_state
                    .get_or_create(&labels([("breaker", name), ("state", s.as_str())]))
                    .clone()
            })
            .collect();
        set_one_hot(&states, BreakerState::Closed.index());
        Arc::new(BreakerMetrics {
            name: name.into(),
            calls: CallOutcome::ALL
                .iter()
                .map(|o| {
                    f.calls
                        .get_or_create(&labels([("breaker", name), ("outcome", o.as_str())]))
                        .clone()
                })
                .collect(),
            states,
            transitions: f.transitions.clone(),
        })
    }
}

struct BreakerMetrics {
    name: Box<str>,
    calls: Box<[Counter]>,
    states: Box<[Gauge]>,
    transitions: Family<Labels, Counter>,
}

impl BreakerObserver for BreakerMetrics {
    fn transition(&self, from: BreakerState, to: BreakerState) {
        set_one_hot(&self.states, to.index());
        self.transitions
            .get_or_create(&labels([
                ("breaker", &self.name),
                ("from", from.as_str()),
                ("to", to.as_str()),
            ]))
            .inc();
    }

    #[inline]
    fn call(&self, outcome: CallOutcome) {
        self.calls[outcome.index()].inc();
    }
}

/// Retry metrics; see [`LayerMetrics::retry`].
#[derive(Clone, Debug)]
pub struct RetryMetrics {
    attempts: Box<[Counter]>,
    budget: Counter,
    after: Box<[Counter]>,
}

impl RetryObserver for RetryMetrics {
    #[inline]
    fn attempt(&self, outcome: RetryOutcome) {
        self.attempts[outcome.index()].inc();
        if outcome == RetryOutcome::BudgetExhausted {
            self.budget.inc();
        }
    }

    fn retry_after(&self, used: RetryAfterUse) {
        self.after[used.index()].inc();
    }
}

/// Health metrics; see [`LayerMetrics::health`].
#[derive(Clone)]
pub struct HealthMetrics {
    families: Families,
    /// `[probe][status]`.
    probes: Arc<Vec<Box<[Gauge]>>>,
}

impl fmt::Debug for HealthMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HealthMetrics")
    }
}

impl HealthObserver for HealthMetrics {
    fn check(&self, name: &str) -> Arc<dyn CheckObserver> {
        let f = &self.families;
        let check = labels([("check", name)]);
        Arc::new(CheckMetrics {
            status: CheckStatus::ALL
                .iter()
                .map(|s| {
                    f.check_status
                        .get_or_create(&labels([("check", name), ("status", s.as_str())]))
                        .clone()
                })
                .collect(),
            duration: f.check_duration.get_or_create(&check).clone(),
            timeouts: f.check_timeouts.get_or_create(&check).clone(),
            cache_hits: f.check_cache_hits.get_or_create(&check).clone(),
        })
    }

    #[inline]
    fn probe(&self, probe: ProbeKind, status: CheckStatus) {
        let gauges = &self.probes[probe.index()];
        if gauges[status.index()].get() != 1 {
            set_one_hot(gauges, status.index());
        }
    }
}

struct CheckMetrics {
    status: Box<[Gauge]>,
    duration: Histogram,
    timeouts: Counter,
    cache_hits: Counter,
}

impl CheckObserver for CheckMetrics {
    fn finished(&self, status: CheckStatus, elapsed: Duration, timed_out: bool) {
        set_one_hot(&self.status, status.index());
        self.duration.observe(elapsed.as_secs_f64());
        if timed_out {
            self.timeouts.inc();
        }
    }

    #[inline]
    fn cache_hit(&self) {
        self.cache_hits.inc();
    }
}

/// HTTPS redirect metrics; see [`LayerMetrics::redirect`].
#[derive(Clone, Debug)]
pub struct RedirectMetrics(Box<[Counter]>);

impl RedirectObserver for RedirectMetrics {
    #[inline]
    fn redirect(&self, outcome: RedirectOutcome) {
        self.0[outcome.index()].inc();
    }
}

/// Redaction metrics; see [`LayerMetrics::redact`].
#[derive(Clone)]
pub struct RedactMetrics(Family<Labels, Counter>);

impl fmt::Debug for RedactMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedactMetrics")
    }
}

impl RedactObserver for RedactMetrics {
    fn rule(&self, rule: &str) -> Arc<dyn RedactRuleObserver> {
        Arc::new(RuleMetrics(
            self.0.get_or_create(&labels([("rule", rule)])).clone(),
        ))
    }
}

/// The redaction counter of one rule.
struct RuleMetrics(Counter);

impl RedactRuleObserver for RuleMetrics {
    #[inline]
    fn redacted(&self, count: u64) {
        self.0.inc_by(count);
    }
}

/// Concurrency limit metrics; see [`LayerMetrics::concurrency`].
#[derive(Clone, Debug)]
pub struct ConcurrencyMetrics {
    name: Arc<str>,
    pulled: Arc<Pulled>,
}

impl ConcurrencyObserver for ConcurrencyMetrics {
    fn attach(&self, stats: Arc<dyn ConcurrencyStats>) {
        self.pulled
            .concurrency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Arc::clone(&self.name), stats));
    }
}

/// Rate-limit metrics of one policy.
#[derive(Debug)]
struct PolicyMetrics {
    name: Arc<str>,
    decisions: Box<[Counter]>,
    state: Box<[Gauge]>,
    fallback: Counter,
    overflow: Counter,
    pulled: Arc<Pulled>,
}

impl PolicyObserver for PolicyMetrics {
    #[inline]
    fn decision(&self, outcome: RateLimitOutcome) {
        self.decisions[outcome.index()].inc();
    }

    fn fallback_decision(&self) {
        self.fallback.inc();
    }

    fn overflow(&self) {
        self.overflow.inc();
    }

    fn store_state(&self, state: StoreState) {
        set_one_hot(&self.state, state.index());
    }

    fn attach(&self, stats: Arc<dyn RateLimitStats>) {
        self.pulled
            .ratelimit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Arc::clone(&self.name), stats));
    }
}

#[cfg(test)]
mod tests;
