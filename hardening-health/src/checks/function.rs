//! A synchronous function as a check.

use std::fmt;

use futures_util::future::{ready, Ready};

use crate::check::HealthCheck;
use crate::observation::{IntoObservation, Observation};

/// A synchronous function as a check: a flag, a gauge, a queue length.
///
/// It runs on a runtime worker, so it must return quickly; anything that
/// waits belongs in an `async` closure.
///
/// # Example
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use hardening_health::{checks::FunctionCheck, Check, Health, Probes, Status};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let worker_alive = Arc::new(AtomicBool::new(true));
/// let flag = worker_alive.clone();
/// let health = Health::builder()
///     .check(Check::new("worker:alive", FunctionCheck::new(move || flag.load(Ordering::Relaxed)))
///         .probes(Probes::LIVENESS)
///         .cache_ttl(std::time::Duration::ZERO))
///     .build()
///     .unwrap();
/// assert_eq!(health.liveness().await.status(), Status::Pass);
/// worker_alive.store(false, Ordering::Relaxed);
/// assert_eq!(health.liveness().await.status(), Status::Fail);
/// # }
/// ```
#[derive(Clone)]
pub struct FunctionCheck<F> {
    function: F,
}

impl<F> FunctionCheck<F> {
    /// Wraps `function`; its result is [`IntoObservation`] (`bool`,
    /// [`Status`](crate::Status), [`Observation`], `Result`).
    pub fn new(function: F) -> Self {
        Self { function }
    }
}

impl<F, R> HealthCheck for FunctionCheck<F>
where
    F: Fn() -> R + Send + Sync + 'static,
    R: IntoObservation,
{
    type Future = Ready<Observation>;

    fn check(&self) -> Self::Future {
        ready((self.function)().into_observation())
    }
}

impl<F> fmt::Debug for FunctionCheck<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionCheck").finish_non_exhaustive()
    }
}
