use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::*;

fn text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

struct Stats(AtomicU64);

impl ConcurrencyStats for Stats {
    fn limit(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn classes(&self, each: &mut dyn FnMut(&'static str, u64, u64)) {
        each("critical", 1, 0);
        each("default", 2, 7);
    }
}

impl RateLimitStats for Stats {
    fn tracked_keys(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[test]
fn every_observer_records_into_its_family() {
    let mut registry = Registry::default();
    let m = LayerMetrics::new(&mut registry);

    let b = m.circuit().breaker("pay");
    b.call(CallOutcome::Success);
    b.call(CallOutcome::Failure);
    b.call(CallOutcome::Failure);
    b.transition(BreakerState::Closed, BreakerState::Open);

    let r = m.retry("up");
    r.attempt(RetryOutcome::Retried);
    r.attempt(RetryOutcome::BudgetExhausted);
    r.retry_after(RetryAfterUse::Capped);

    let h = m.health();
    let c = h.check("db");
    c.finished(CheckStatus::Fail, Duration::from_millis(30), true);
    c.cache_hit();
    h.probe(ProbeKind::Readiness, CheckStatus::Fail);

    m.redirect().redirect(RedirectOutcome::RejectedHost);
    m.redact().rule("jwt").redacted(3);
    m.concurrency("api")
        .attach(Arc::new(Stats(AtomicU64::new(40))));
    let p = m.ratelimit().policy("login");
    p.decision(RateLimitOutcome::Rejected);
    p.store_state(StoreState::LocalFallback);
    p.fallback_decision();
    p.overflow();
    p.attach(Arc::new(Stats(AtomicU64::new(12))));

    let t = text(&registry);
    let expect = [
        (
            r#"hardening_circuit_calls_total{breaker="pay",outcome="failure"}"#,
            2.0,
        ),
        (
            r#"hardening_circuit_calls_total{breaker="pay",outcome="rejected"}"#,
            0.0,
        ),
        (
            r#"hardening_circuit_breaker_state{breaker="pay",state="open"}"#,
            1.0,
        ),
        (
            r#"hardening_circuit_breaker_state{breaker="pay",state="closed"}"#,
            0.0,
        ),
        (
            r#"hardening_circuit_transitions_total{breaker="pay",from="closed",to="open"}"#,
            1.0,
        ),
        (
            r#"hardening_retry_attempts_total{retry="up",outcome="retried"}"#,
            1.0,
        ),
        (r#"hardening_retry_budget_exhausted_total{retry="up"}"#, 1.0),
        (
            r#"hardening_retry_after_total{retry="up",decision="capped"}"#,
            1.0,
        ),
        (
            r#"hardening_health_check_status{check="db",status="fail"}"#,
            1.0,
        ),
        (r#"hardening_health_check_timeouts_total{check="db"}"#, 1.0),
        (
            r#"hardening_health_check_cache_hits_total{check="db"}"#,
            1.0,
        ),
        (
            r#"hardening_health_check_duration_seconds_count{check="db"}"#,
            1.0,
        ),
        (
            r#"hardening_health_probe_status{probe="readiness",status="fail"}"#,
            1.0,
        ),
        (
            r#"hardening_https_redirects_total{outcome="rejected_host"}"#,
            1.0,
        ),
        (r#"hardening_redactions_total{rule="jwt"}"#, 3.0),
        (r#"hardening_concurrency_limit{limiter="api"}"#, 40.0),
        (
            r#"hardening_concurrency_in_flight{limiter="api",class="default"}"#,
            2.0,
        ),
        (
            r#"hardening_concurrency_rejected_total{limiter="api",class="default"}"#,
            7.0,
        ),
        (
            r#"hardening_ratelimit_decisions_total{policy="login",outcome="rejected"}"#,
            1.0,
        ),
        (
            r#"hardening_ratelimit_store_state{policy="login",state="local_fallback"}"#,
            1.0,
        ),
        (
            r#"hardening_ratelimit_store_state{policy="login",state="up"}"#,
            0.0,
        ),
        (
            r#"hardening_ratelimit_fallback_decisions_total{policy="login"}"#,
            1.0,
        ),
        (r#"hardening_ratelimit_overflow_total{policy="login"}"#, 1.0),
        (r#"hardening_ratelimit_tracked_keys{policy="login"}"#, 12.0),
    ];
    for (series, want) in expect {
        assert_eq!(value(&t, series), Some(want), "{series} in\n{t}");
    }
}

#[test]
fn a_new_breaker_starts_closed_and_binding_twice_shares_series() {
    let mut registry = Registry::default();
    let m = LayerMetrics::new(&mut registry);
    let a = m.circuit().breaker("x");
    let b = m.circuit().breaker("x");
    a.call(CallOutcome::Rejected);
    b.call(CallOutcome::Rejected);
    let t = text(&registry);
    assert_eq!(
        value(
            &t,
            r#"hardening_circuit_breaker_state{breaker="x",state="closed"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &t,
            r#"hardening_circuit_calls_total{breaker="x",outcome="rejected"}"#
        ),
        Some(2.0)
    );
}

#[test]
fn series_are_bounded_by_configuration() {
    let mut registry = Registry::default();
    let m = LayerMetrics::new(&mut registry);
    let b = m.circuit().breaker("only");
    let before = text(&registry).lines().count();
    for _ in 0..10_000 {
        b.call(CallOutcome::Success);
        b.call(CallOutcome::Slow);
    }
    assert_eq!(text(&registry).lines().count(), before);
}

#[test]
fn tracked_keys_of_one_policy_name_are_one_series() {
    let mut registry = Registry::default();
    let m = LayerMetrics::new(&mut registry);
    let a = m.ratelimit().policy("login");
    a.attach(Arc::new(Stats(AtomicU64::new(3))));
    let b = m.ratelimit().policy("login");
    b.attach(Arc::new(Stats(AtomicU64::new(4))));
    b.store_state(StoreState::FailClosed);
    let t = text(&registry);
    let series = r#"hardening_ratelimit_tracked_keys{policy="login"}"#;
    assert_eq!(t.matches(series).count(), 1, "{t}");
    assert_eq!(value(&t, series), Some(7.0));
    assert_eq!(
        value(
            &t,
            r#"hardening_ratelimit_store_state{policy="login",state="fail_closed"}"#
        ),
        Some(1.0)
    );
}
