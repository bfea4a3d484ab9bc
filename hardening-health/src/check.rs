//! The [`HealthCheck`] trait and [`Check`], a check with its settings.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use hardening_health::{Check, Criticality, Health, Observation, Probes};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let health = Health::builder()
//!     // A closure returning a future is a check.
//!     .check(
//!         Check::new("queue:depth", || async { Observation::pass().with_value(3u32, "jobs") })
//!             .component_type("component")
//!             .criticality(Criticality::Degrading)
//!             .timeout(Duration::from_millis(200))
//!             .cache_ttl(Duration::from_secs(2)),
//!     )
//!     // A process-local check explicitly marked for liveness.
//!     .check(Check::new("event-loop:lag", || async { true }).probes(Probes::LIVENESS))
//!     .build()
//!     .unwrap();
//! assert!(health.readiness().await.status().http_status().is_success());
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::ops::BitOr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{FutureExt, Map};

use crate::observation::{IntoObservation, Observation};
use crate::status::Criticality;

/// A health check: something that, when asked, looks at one component and
/// reports an [`Observation`].
///
/// Any `Fn() -> impl Future` whose output is [`IntoObservation`] (an
/// [`Observation`], a [`Status`](crate::Status), a `bool`, or a `Result`)
/// is a `HealthCheck`, so most checks are closures. Implement the trait
/// for a type when the check holds state, or to declare it a dependency
/// check.
///
/// The future is `'static` because it runs on its own task: a probe whose
/// client disconnects does not cancel a run other probes are waiting for.
/// A check that panics or outlives its timeout is reported as failed.
pub trait HealthCheck: Send + Sync + 'static {
    /// The future of one run.
    type Future: Future<Output = Observation> + Send + 'static;

    /// Starts one run of the check.
    fn check(&self) -> Self::Future;

    /// Whether the check looks at something outside the process (a database,
    /// a socket, an upstream's breaker). Dependency checks are refused on the
    /// liveness probe: a dependency outage must never make an orchestrator
    /// restart healthy processes. Default: `false`.
    fn is_dependency(&self) -> bool {
        false
    }
}

impl<F, Fut> HealthCheck for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoObservation,
{
    type Future = Map<Fut, fn(Fut::Output) -> Observation>;

    fn check(&self) -> Self::Future {
        self().map(IntoObservation::into_observation as fn(Fut::Output) -> Observation)
    }
}

pub(crate) type BoxObservationFuture = Pin<Box<dyn Future<Output = Observation> + Send>>;

/// Object-safe form of [`HealthCheck`], so checks of different types live in
/// one registry.
pub(crate) trait DynCheck: Send + Sync {
    fn run(&self) -> BoxObservationFuture;
    fn is_dependency(&self) -> bool;
}

impl<C: HealthCheck> DynCheck for C {
    fn run(&self) -> BoxObservationFuture {
        Box::pin(self.check())
    }

    fn is_dependency(&self) -> bool {
        HealthCheck::is_dependency(self)
    }
}

/// Which probe endpoints run a check, as a set. Every check also appears in
/// the full `/health` report.
///
/// ```
/// use hardening_health::Probes;
///
/// let both = Probes::LIVENESS | Probes::READINESS;
/// assert!(both.contains(Probes::LIVENESS) && both.contains(Probes::READINESS));
/// assert!(!Probes::REPORT_ONLY.contains(Probes::READINESS));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Probes(u8);

impl Probes {
    /// Only in the `/health` report.
    pub const REPORT_ONLY: Probes = Probes(0);
    /// `/livez`: for process-local checks only (see
    /// [`HealthCheck::is_dependency`]).
    pub const LIVENESS: Probes = Probes(1);
    /// `/readyz` (the default).
    pub const READINESS: Probes = Probes(2);

    /// Whether every probe of `other` is in `self`.
    pub const fn contains(self, other: Probes) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Probes {
    type Output = Probes;

    fn bitor(self, rhs: Probes) -> Probes {
        Probes(self.0 | rhs.0)
    }
}

impl Default for Probes {
    fn default() -> Self {
        Probes::READINESS
    }
}

impl fmt::Debug for Probes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        if self.contains(Probes::LIVENESS) {
            set.entry(&"liveness");
        }
        if self.contains(Probes::READINESS) {
            set.entry(&"readiness");
        }
        set.finish()
    }
}

/// A [`HealthCheck`] with its name and settings, ready to register with
/// [`HealthBuilder::check`](crate::HealthBuilder::check).
///
/// Defaults: [`Criticality::Required`], timeout 1 s, cached for 1 s, fails on
/// the first failure, runs on `/readyz` (and in `/health`).
///
/// Settings are validated by [`HealthBuilder::build`](crate::HealthBuilder::build).
///
/// # Clone
///
/// Clones share the [`HealthCheck`]; each registered clone gets its own
/// cache and failure count.
#[derive(Clone)]
pub struct Check {
    pub(crate) name: Cow<'static, str>,
    pub(crate) check: Arc<dyn DynCheck>,
    pub(crate) component_type: Option<Cow<'static, str>>,
    pub(crate) criticality: Criticality,
    pub(crate) timeout: Duration,
    pub(crate) ttl: Duration,
    pub(crate) fail_after: u32,
    pub(crate) probes: Probes,
}

impl Check {
    /// The default per-run timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    /// The default time a result is reused.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

    /// A check named `name`, the key of its entry in the report. The draft
    /// spells keys `component:measurement`, e.g. `"postgres:responseTime"`.
    pub fn new(name: impl Into<Cow<'static, str>>, check: impl HealthCheck) -> Self {
        Self {
            name: name.into(),
            check: Arc::new(check),
            component_type: None,
            criticality: Criticality::default(),
            timeout: Self::DEFAULT_TIMEOUT,
            ttl: Self::DEFAULT_TTL,
            fail_after: 1,
            probes: Probes::default(),
        }
    }

    /// The report's `componentType`: `"component"`, `"datastore"`,
    /// `"system"` or a type of your own.
    #[must_use]
    pub fn component_type(mut self, component_type: impl Into<Cow<'static, str>>) -> Self {
        self.component_type = Some(component_type.into());
        self
    }

    /// How the check's status affects its endpoints.
    #[must_use]
    pub fn criticality(mut self, criticality: Criticality) -> Self {
        self.criticality = criticality;
        self
    }

    /// How long one run may take before it is abandoned and reported as a
    /// failure. Must be greater than zero.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a result is reused before the check runs again. Within it,
    /// any number of probes cost one run; zero runs the check for every probe
    /// (concurrent probes still share a run).
    #[must_use]
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Hysteresis: report `fail` only after `runs` consecutive failed runs;
    /// the failures before that are reported as `warn`. One success resets
    /// the count. Must be at least 1 (the default: fail at once).
    #[must_use]
    pub fn fail_after(mut self, runs: u32) -> Self {
        self.fail_after = runs;
        self
    }

    /// Which probes run the check (default [`Probes::READINESS`]).
    #[must_use]
    pub fn probes(mut self, probes: Probes) -> Self {
        self.probes = probes;
        self
    }

    /// The check's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("component_type", &self.component_type)
            .field("criticality", &self.criticality)
            .field("timeout", &self.timeout)
            .field("ttl", &self.ttl)
            .field("fail_after", &self.fail_after)
            .field("probes", &self.probes)
            .finish_non_exhaustive()
    }
}
