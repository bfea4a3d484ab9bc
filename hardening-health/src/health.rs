//! The [`Health`] registry and its builder.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use futures_util::future::join_all;
use hardening_core::observe::{CheckStatus, HealthObserver, ProbeKind};
use hardening_core::{Clock, MonotonicClock};
use http::HeaderValue;

use crate::check::{Check, Probes};
use crate::details::Details;
use crate::layer::HealthLayer;
use crate::report::{CheckReport, Meta, Probe, Report};
use crate::service::HealthService;
use crate::shutdown::Drain;
use crate::slot::Slot;
use crate::status::{aggregate, Status};
use crate::ConfigError;

/// The health of a service: its checks, probe paths, report settings and
/// shutdown state.
///
/// Build one with [`Health::builder`], then serve it with
/// [`layer`](Health::layer) (probe paths answered, everything else passed
/// on) or [`service`](Health::service) (a standalone service), and call
/// [`shutdown`](Health::shutdown) when the process is asked to stop.
///
/// # Example
///
/// ```
/// use hardening_health::{Check, Health, Status};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let health = Health::builder()
///     .check(Check::new("db:ping", || async { Err::<(), _>("connection refused") }))
///     .build()
///     .unwrap();
/// assert_eq!(health.liveness().await.status(), Status::Pass); // the process is fine
/// let ready = health.readiness().await;
/// assert_eq!(ready.status(), Status::Fail); // but it cannot serve
/// assert_eq!(ready.check("db:ping").unwrap().observation().output(), Some("connection refused"));
/// # }
/// ```
///
/// # Clone
///
/// Clones share everything: checks, cached readings and the shutdown flag.
#[derive(Clone)]
pub struct Health {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    slots: Box<[Arc<Slot>]>,
    liveness: Box<[Arc<Slot>]>,
    readiness: Box<[Arc<Slot>]>,
    clock: Arc<dyn Clock>,
    meta: Arc<Meta>,
    pub(crate) paths: Paths,
    pub(crate) details: Details,
    pub(crate) cache_control: HeaderValue,
    shutting_down: AtomicBool,
    shutdown_at: OnceLock<SystemTime>,
    drain_delay: Duration,
    observer: Option<Arc<dyn HealthObserver>>,
}

pub(crate) struct Paths {
    pub(crate) liveness: Box<str>,
    pub(crate) readiness: Box<str>,
    pub(crate) health: Box<str>,
}

impl Paths {
    pub(crate) fn probe(&self, path: &str) -> Option<Probe> {
        if path == &*self.liveness {
            Some(Probe::Liveness)
        } else if path == &*self.readiness {
            Some(Probe::Readiness)
        } else if path == &*self.health {
            Some(Probe::Health)
        } else {
            None
        }
    }
}

impl Health {
    /// The default drain delay of [`shutdown`](Health::shutdown).
    pub const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(5);

    /// A builder with the defaults: paths `/livez`, `/readyz`, `/health`,
    /// details for loopback peers only, `Cache-Control: no-store`, a 5 s
    /// drain delay, no checks.
    pub fn builder() -> HealthBuilder {
        HealthBuilder::default()
    }

    /// A layer that answers the probe paths and passes every other request
    /// to the service it wraps.
    pub fn layer(&self) -> HealthLayer {
        HealthLayer::new(self.clone())
    }

    /// A service that answers the probe paths (`404` for anything else).
    pub fn service(&self) -> HealthService {
        HealthService::new(self.clone())
    }

    /// Runs the liveness probe (`/livez`).
    pub fn liveness(&self) -> impl Future<Output = Report> + Send + 'static {
        self.probe(Probe::Liveness)
    }

    /// Runs the readiness probe (`/readyz`).
    pub fn readiness(&self) -> impl Future<Output = Report> + Send + 'static {
        self.probe(Probe::Readiness)
    }

    /// Runs every check (`/health`).
    pub fn report(&self) -> impl Future<Output = Report> + Send + 'static {
        self.probe(Probe::Health)
    }

    /// Runs `probe`: its checks concurrently, each answered from its cache
    /// while fresh or by the run already in flight.
    pub fn probe(&self, probe: Probe) -> impl Future<Output = Report> + Send + 'static {
        let inner = Arc::clone(&self.inner);
        let slots = inner.slots_for(probe);
        let now = inner.clock.now();
        let reads: Vec<_> = slots
            .iter()
            .map(|slot| slot.read(&inner.clock, now))
            .collect();
        let shutting_down = match probe {
            Probe::Liveness => None,
            Probe::Readiness | Probe::Health => inner.shutdown_time(),
        };
        async move {
            let readings = join_all(reads).await;
            let checks: Vec<CheckReport> = inner
                .slots_for(probe)
                .iter()
                .zip(readings)
                .map(|(slot, reading)| CheckReport {
                    name: slot.check.name.clone(),
                    component_type: slot.check.component_type.clone(),
                    criticality: slot.check.criticality,
                    observation: reading.observation.clone(),
                    time: reading.time,
                })
                .collect();
            let mut status = aggregate(checks.iter().map(|c| (c.criticality, c.status())));
            if shutting_down.is_some() {
                status = Status::Fail;
            }
            inner.observe_probe(probe, status);
            Report {
                probe,
                status,
                checks,
                shutting_down,
                meta: Arc::clone(&inner.meta),
            }
        }
    }

    /// Starts a graceful shutdown: readiness (and `/health`) fail from this
    /// call on, liveness stays `pass`. The returned future resolves after the
    /// drain delay, the time load balancers need to notice and stop sending
    /// traffic; then let the server finish its in-flight requests.
    ///
    /// Calling it again is harmless (the flag stays set; each call waits its
    /// own delay).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hardening_health::{Health, Status};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
    /// let health = Health::builder().drain_delay(Duration::from_secs(3)).build().unwrap();
    /// let drain = health.shutdown();
    /// assert_eq!(health.readiness().await.status(), Status::Fail);
    /// assert_eq!(health.liveness().await.status(), Status::Pass);
    /// let started = tokio::time::Instant::now();
    /// drain.await;
    /// assert_eq!(started.elapsed(), Duration::from_secs(3));
    /// # }
    /// ```
    pub fn shutdown(&self) -> Drain {
        if !self.inner.shutting_down.swap(true, Ordering::SeqCst) {
            let _ = self.inner.shutdown_at.set(self.inner.clock.system_time());
        }
        Drain::new(self.inner.drain_delay)
    }

    /// A future for axum's `with_graceful_shutdown` (or hyper-util's
    /// graceful shutdown): waits for `signal`, then [`shutdown`](Self::shutdown)s
    /// and waits out the drain delay.
    ///
    /// ```no_run
    /// # async fn run(app: axum::Router, health: hardening_health::Health) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    /// let signal = async { let _ = tokio::signal::ctrl_c().await; };
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(health.shutdown_on(signal))
    ///     .await
    /// # }
    /// ```
    pub fn shutdown_on<F>(&self, signal: F) -> impl Future<Output = ()> + Send + 'static
    where
        F: Future + Send + 'static,
    {
        let health = self.clone();
        async move {
            signal.await;
            health.shutdown().await;
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Relaxed)
    }

    /// The drain delay of [`shutdown`](Self::shutdown).
    pub fn drain_delay(&self) -> Duration {
        self.inner.drain_delay
    }

    /// The status of `probe` if it can be told without waiting: every check
    /// it runs has a fresh cached reading. `None` means a check must run.
    pub(crate) fn status_now(&self, probe: Probe) -> Option<Status> {
        let inner = &*self.inner;
        if probe != Probe::Liveness && inner.shutting_down.load(Ordering::Relaxed) {
            return Some(Status::Fail);
        }
        let slots = inner.slots_for(probe);
        if slots.is_empty() {
            return Some(Status::Pass);
        }
        let now = inner.clock.now_nanos();
        let mut status = Status::Pass;
        for slot in slots {
            status = status.worst(slot.check.criticality.effect(slot.fresh_status(now)?));
        }
        inner.observe_probe(probe, status);
        Some(status)
    }
}

impl Inner {
    #[inline]
    fn observe_probe(&self, probe: Probe, status: Status) {
        if let Some(observer) = &self.observer {
            let kind = match probe {
                Probe::Liveness => ProbeKind::Liveness,
                Probe::Readiness => ProbeKind::Readiness,
                Probe::Health => ProbeKind::Health,
            };
            observer.probe(kind, observed(status));
        }
    }

    fn slots_for(&self, probe: Probe) -> &[Arc<Slot>] {
        match probe {
            Probe::Liveness => &self.liveness,
            Probe::Readiness => &self.readiness,
            Probe::Health => &self.slots,
        }
    }

    fn shutdown_time(&self) -> Option<SystemTime> {
        if self.shutting_down.load(Ordering::Relaxed) {
            Some(
                self.shutdown_at
                    .get()
                    .copied()
                    .unwrap_or_else(|| self.clock.system_time()),
            )
        } else {
            None
        }
    }
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.slots.iter().map(|s| s.check.name()).collect();
        f.debug_struct("Health")
            .field("checks", &names)
            .field("liveness_path", &self.inner.paths.liveness)
            .field("readiness_path", &self.inner.paths.readiness)
            .field("health_path", &self.inner.paths.health)
            .field("details", &self.inner.details)
            .field("cache_control", &self.inner.cache_control)
            .field("drain_delay", &self.inner.drain_delay)
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

/// Builds a [`Health`]; every setting is checked by [`build`](Self::build).
#[derive(Debug)]
pub struct HealthBuilder {
    checks: Vec<Check>,
    clock: Arc<dyn Clock>,
    meta: Meta,
    liveness_path: String,
    readiness_path: String,
    health_path: String,
    details: Details,
    max_age: Option<Duration>,
    drain_delay: Duration,
    observer: Option<Arc<dyn HealthObserver>>,
}

/// The observer's name for a status.
pub(crate) const fn observed(status: Status) -> CheckStatus {
    match status {
        Status::Pass => CheckStatus::Pass,
        Status::Warn => CheckStatus::Warn,
        Status::Fail => CheckStatus::Fail,
    }
}

impl Default for HealthBuilder {
    fn default() -> Self {
        Self {
            checks: Vec::new(),
            clock: Arc::new(MonotonicClock::new()),
            meta: Meta::default(),
            liveness_path: "/livez".to_owned(),
            readiness_path: "/readyz".to_owned(),
            health_path: "/health".to_owned(),
            details: Details::default(),
            max_age: None,
            drain_delay: Health::DEFAULT_DRAIN_DELAY,
            observer: None,
        }
    }
}

impl HealthBuilder {
    /// Reports every check's runs (status, duration, timeouts), its cache
    /// hits and every probe's answer to `observer` (e.g.
    /// `hardening-metrics`' `LayerMetrics::health`); each check is bound
    /// once by its name when [`build`](Self::build) runs.
    #[must_use]
    pub fn observer(mut self, observer: impl HealthObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// Registers a check.
    #[must_use]
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// The clock for cache ages and report times (tests pass a
    /// [`FakeClock`](hardening_core::FakeClock)).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The report's `version` (the public version of the service, e.g. `"1"`).
    #[must_use]
    pub fn version(mut self, version: impl Into<Cow<'static, str>>) -> Self {
        self.meta.version = Some(version.into());
        self
    }

    /// The report's `releaseId` (the release, e.g. `"1.4.2"` or a commit).
    #[must_use]
    pub fn release_id(mut self, release_id: impl Into<Cow<'static, str>>) -> Self {
        self.meta.release_id = Some(release_id.into());
        self
    }

    /// The report's `serviceId`.
    #[must_use]
    pub fn service_id(mut self, service_id: impl Into<Cow<'static, str>>) -> Self {
        self.meta.service_id = Some(service_id.into());
        self
    }

    /// The report's `description`.
    #[must_use]
    pub fn description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.meta.description = Some(description.into());
        self
    }

    /// The liveness path (default `/livez`).
    #[must_use]
    pub fn liveness_path(mut self, path: impl Into<String>) -> Self {
        self.liveness_path = path.into();
        self
    }

    /// The readiness path (default `/readyz`).
    #[must_use]
    pub fn readiness_path(mut self, path: impl Into<String>) -> Self {
        self.readiness_path = path.into();
        self
    }

    /// The full report's path (default `/health`).
    #[must_use]
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = path.into();
        self
    }

    /// Who sees details (default [`Details::loopback`]).
    #[must_use]
    pub fn details(mut self, details: Details) -> Self {
        self.details = details;
        self
    }

    /// Lets clients and proxies cache responses for `max_age`
    /// (`Cache-Control: max-age=N`, whole seconds) instead of the default
    /// `no-store`.
    #[must_use]
    pub fn cache_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// How long [`Health::shutdown`] waits with readiness failing before the
    /// server stops accepting connections (default 5 s).
    #[must_use]
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Checks the settings and builds the registry.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first bad setting: a path that does not
    /// start with `/` or is used twice; a check with an empty, overlong or
    /// duplicate name, a zero timeout, `fail_after(0)`, or a dependency check
    /// marked for liveness.
    pub fn build(self) -> Result<Health, ConfigError> {
        let paths = [
            ("liveness_path", &self.liveness_path),
            ("readiness_path", &self.readiness_path),
            ("health_path", &self.health_path),
        ];
        for (i, (field, path)) in paths.iter().enumerate() {
            validate_path(field, path)?;
            if paths[..i].iter().any(|(_, other)| other == path) {
                return Err(ConfigError::new(
                    "Health",
                    field,
                    path.as_str(),
                    "a path no other probe uses",
                ));
            }
        }

        let mut names = HashSet::new();
        for check in &self.checks {
            validate_check(check)?;
            if !names.insert(check.name.as_ref()) {
                return Err(ConfigError::new(
                    "Check",
                    "name",
                    check.name.as_ref(),
                    "a name no other check uses",
                ));
            }
        }

        let cache_control = match self.max_age {
            None => HeaderValue::from_static("no-store"),
            Some(age) => {
                HeaderValue::from_str(&format!("max-age={}", age.as_secs())).map_err(|_| {
                    ConfigError::new("Health", "cache_max_age", format!("{age:?}"), "seconds")
                })?
            }
        };

        let slots: Box<[Arc<Slot>]> = self
            .checks
            .into_iter()
            .map(|check| {
                let observer = self.observer.as_ref().map(|o| o.check(check.name()));
                Arc::new(Slot::new(check, observer))
            })
            .collect();
        let select = |probes: Probes| -> Box<[Arc<Slot>]> {
            slots
                .iter()
                .filter(|s| s.check.probes.contains(probes))
                .cloned()
                .collect()
        };
        let liveness = select(Probes::LIVENESS);
        let readiness = select(Probes::READINESS);

        Ok(Health {
            inner: Arc::new(Inner {
                liveness,
                readiness,
                slots,
                clock: self.clock,
                meta: Arc::new(self.meta),
                paths: Paths {
                    liveness: self.liveness_path.into(),
                    readiness: self.readiness_path.into(),
                    health: self.health_path.into(),
                },
                details: self.details,
                cache_control,
                shutting_down: AtomicBool::new(false),
                shutdown_at: OnceLock::new(),
                drain_delay: self.drain_delay,
                observer: self.observer,
            }),
        })
    }
}

const MAX_NAME_LEN: usize = 200;

fn validate_path(field: &'static str, path: &str) -> Result<(), ConfigError> {
    if !path.starts_with('/') {
        return Err(ConfigError::new(
            "Health",
            field,
            path,
            "a path that starts with `/`",
        ));
    }
    if path.contains(['?', '#']) || path.chars().any(|c| c.is_control() || c == ' ') {
        return Err(ConfigError::new(
            "Health",
            field,
            path,
            "a plain path without query, fragment, spaces or control characters",
        ));
    }
    Ok(())
}

fn validate_check(check: &Check) -> Result<(), ConfigError> {
    let name = check.name.as_ref();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(ConfigError::new(
            "Check",
            "name",
            name,
            "1 to 200 characters without control characters, such as `db:responseTime`",
        ));
    }
    if check.timeout.is_zero() {
        return Err(ConfigError::new(
            "Check",
            "timeout",
            format!("{name}: {:?}", check.timeout),
            "a timeout greater than zero",
        ));
    }
    if check.fail_after == 0 {
        return Err(ConfigError::new(
            "Check",
            "fail_after",
            format!("{name}: 0"),
            "at least 1 consecutive failure",
        ));
    }
    if check.probes.contains(Probes::LIVENESS) && check.check.is_dependency() {
        return Err(ConfigError::new(
            "Check",
            "probes",
            name,
            "a process-local check on the liveness probe (dependency checks belong on readiness: \
             a dependency outage must not restart healthy processes)",
        ));
    }
    Ok(())
}
