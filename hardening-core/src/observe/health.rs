//! Health checks.

use std::sync::Arc;
use std::time::Duration;

use super::label_enum;

label_enum! {
    /// The status of a check or a probe.
    pub enum CheckStatus {
        /// Healthy.
        Pass => "pass",
        /// Healthy with a concern.
        Warn => "warn",
        /// Unhealthy.
        Fail => "fail",
    }
}

label_enum! {
    /// Which probe was answered.
    pub enum ProbeKind {
        /// `/livez`.
        Liveness => "liveness",
        /// `/readyz`.
        Readiness => "readiness",
        /// `/health`.
        Health => "health",
    }
}

/// Hands out the observer of each health check and records probe answers.
pub trait HealthObserver: Send + Sync + 'static {
    /// The observer of the check called `name` (called once per check when
    /// the health service is built).
    fn check(&self, name: &str) -> Arc<dyn CheckObserver>;

    /// A probe was answered with `status`.
    fn probe(&self, probe: ProbeKind, status: CheckStatus) {
        let _ = (probe, status);
    }
}

/// What one health check reports.
pub trait CheckObserver: Send + Sync + 'static {
    /// A run finished after `elapsed` with `status` (after hysteresis);
    /// `timed_out` when the check's timeout cut it short.
    fn finished(&self, status: CheckStatus, elapsed: Duration, timed_out: bool) {
        let _ = (status, elapsed, timed_out);
    }

    /// A probe was answered from the check's cached reading.
    fn cache_hit(&self) {}
}
