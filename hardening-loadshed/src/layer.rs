//! The layer and its builder.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hardening_core::clock::{Clock, MonotonicClock};
use hardening_core::observe::ConcurrencyObserver;
use tower_layer::Layer;

use crate::algorithm::{check_limit, Fixed, LimitAlgorithm};
use crate::error::{invalid, ConfigError};
use crate::limiter::{AdaptiveSettings, LimitChange, LimitHook, Limiter};
use crate::priority::{Classify, Priority, RequestRef, Shares};
use crate::reject::{problem_body, BoxErrorRejection, ErrorRejection, ResponseRejection};
use crate::service::ConcurrencyLimit;

/// The component named in this module's configuration errors.
const COMPONENT: &str = "ConcurrencyLimitLayer";

/// What every service of a layer shares besides the limiter.
pub(crate) struct LayerConfig {
    /// No bypass paths and no classifier: every request is
    /// [`Priority::Default`] and counted (the service skips [`route`](Self::route)).
    pub(crate) plain: bool,
    classifier: Arc<dyn Classify>,
    classify: bool,
    pub(crate) bypass: Box<[String]>,
    problems: [Bytes; 3],
}

impl LayerConfig {
    /// The class of `req`, or `None` for a bypass path (not counted).
    #[inline]
    pub(crate) fn route<B>(&self, req: &http::Request<B>) -> Option<Priority> {
        let path = req.uri().path();
        if self.bypass.iter().any(|p| p == path) {
            return None;
        }
        Some(if self.classify {
            self.classifier.classify(&RequestRef::from(req))
        } else {
            Priority::Default
        })
    }

    /// The problem document of a refusal of class `priority`.
    #[cold]
    pub(crate) fn problem(&self, priority: Priority) -> Bytes {
        self.problems[priority.index()].clone()
    }
}

/// Limits the requests in flight and refuses the rest at once.
///
/// Unlike tower's `ConcurrencyLimit`, which queues callers until a slot
/// frees up, a request that finds the limit reached is refused immediately:
/// in server mode (the default) with `503 Service Unavailable`,
/// `Retry-After` and an `application/problem+json` body, in client mode
/// ([`into_error`](Self::into_error), [`into_box_error`](Self::into_box_error))
/// with an [`Overloaded`](crate::Overloaded) error. A request's slot is held
/// until its response body ends or is dropped, or its future is dropped.
///
/// The limit is [`Fixed`] or adaptive ([`Aimd`](crate::algorithm::Aimd),
/// [`Vegas`](crate::algorithm::Vegas),
/// [`Gradient2`](crate::algorithm::Gradient2)); requests are classified by
/// [`Priority`] and [`Shares`] reserve part of the limit for the higher
/// classes. See [`ConcurrencyLimitLayerBuilder`] for every setting.
///
/// # Clone
///
/// Clones, and every service they make, share one [`Limiter`].
pub struct ConcurrencyLimitLayer<R = ResponseRejection> {
    limiter: Limiter,
    config: Arc<LayerConfig>,
    _rejection: PhantomData<fn() -> R>,
}

impl<R> Clone for ConcurrencyLimitLayer<R> {
    fn clone(&self) -> Self {
        Self {
            limiter: self.limiter.clone(),
            config: Arc::clone(&self.config),
            _rejection: PhantomData,
        }
    }
}

impl<R> fmt::Debug for ConcurrencyLimitLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimitLayer")
            .field("limiter", &self.limiter)
            .field("bypass", &self.config.bypass)
            .finish()
    }
}

impl ConcurrencyLimitLayer {
    /// A fixed limit of `limit` requests in flight, one class, server mode.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `limit` when it is 0 or above 1,000,000.
    pub fn new(limit: u32) -> Result<Self, ConfigError> {
        Self::builder().limit(limit).build()
    }

    /// A builder; see [`ConcurrencyLimitLayerBuilder`] for the defaults.
    pub fn builder() -> ConcurrencyLimitLayerBuilder {
        ConcurrencyLimitLayerBuilder::default()
    }
}

impl<R> ConcurrencyLimitLayer<R> {
    /// The limiter shared by this layer's services.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Server mode: refusals become `503` responses and the inner error type
    /// is kept (the default).
    pub fn into_response(self) -> ConcurrencyLimitLayer<ResponseRejection> {
        self.with_rejection()
    }

    /// Client mode: refusals are `Err(E::from(Overloaded))`, keeping the
    /// inner error type `E`.
    pub fn into_error(self) -> ConcurrencyLimitLayer<ErrorRejection> {
        self.with_rejection()
    }

    /// Client mode with boxed errors: refusals are `Err(BoxError)` holding an
    /// [`Overloaded`](crate::Overloaded), as tower's own middleware does.
    pub fn into_box_error(self) -> ConcurrencyLimitLayer<BoxErrorRejection> {
        self.with_rejection()
    }

    fn with_rejection<R2>(self) -> ConcurrencyLimitLayer<R2> {
        ConcurrencyLimitLayer {
            limiter: self.limiter,
            config: self.config,
            _rejection: PhantomData,
        }
    }
}

impl<S, R> Layer<S> for ConcurrencyLimitLayer<R> {
    type Service = ConcurrencyLimit<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit::from_parts(inner, self.limiter.clone(), Arc::clone(&self.config))
    }
}

/// Builds a [`ConcurrencyLimitLayer`].
///
/// | setting | default |
/// |---|---|
/// | [`limit`](Self::limit) / [`algorithm`](Self::algorithm) | fixed 100 |
/// | [`classify`](Self::classify) | everything [`Priority::Default`] |
/// | [`shares`](Self::shares) | [`Shares::NONE`] (no reservations) |
/// | [`bypass_path`](Self::bypass_path) | none |
/// | [`retry_after`](Self::retry_after) | 1 s |
/// | [`window`](Self::window) | 250 ms |
/// | [`min_samples`](Self::min_samples) | 10 per window |
/// | [`clock`](Self::clock) | [`MonotonicClock`] |
/// | [`log_interval`](Self::log_interval) | 1 s between `tracing` events |
pub struct ConcurrencyLimitLayerBuilder {
    algorithm: Result<Box<dyn LimitAlgorithm>, ConfigError>,
    classifier: Option<Arc<dyn Classify>>,
    shares: Shares,
    bypass: Vec<String>,
    retry_after: Duration,
    window: Duration,
    min_samples: u32,
    clock: Arc<dyn Clock>,
    log_interval: Duration,
    hook: Option<LimitHook>,
    observers: Vec<Arc<dyn ConcurrencyObserver>>,
}

impl Default for ConcurrencyLimitLayerBuilder {
    fn default() -> Self {
        Self {
            algorithm: Ok(Box::new(Fixed::new(100).expect("100 is a valid limit"))),
            classifier: None,
            shares: Shares::NONE,
            bypass: Vec::new(),
            retry_after: Duration::from_secs(1),
            window: Duration::from_millis(250),
            min_samples: 10,
            clock: Arc::new(MonotonicClock::new()),
            log_interval: Duration::from_secs(1),
            hook: None,
            observers: Vec::new(),
        }
    }
}

impl fmt::Debug for ConcurrencyLimitLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimitLayerBuilder")
            .field("algorithm", &self.algorithm)
            .field("shares", &self.shares)
            .field("bypass", &self.bypass)
            .field("retry_after", &self.retry_after)
            .field("window", &self.window)
            .field("min_samples", &self.min_samples)
            .finish_non_exhaustive()
    }
}

impl ConcurrencyLimitLayerBuilder {
    /// A fixed limit (validated at [`build`](Self::build): `1..=1_000_000`).
    pub fn limit(mut self, limit: u32) -> Self {
        self.algorithm = check_limit(COMPONENT, "limit", limit)
            .map(|l| Box::new(Fixed::new(l).expect("checked")) as Box<dyn LimitAlgorithm>);
        self
    }

    /// Hands the limiter to `observer` when the layer is built (e.g.
    /// `hardening-metrics`' `LayerMetrics::concurrency`), which reads its
    /// limit, in-flight and rejection counts at scrape time. The limiter
    /// keeps those counts anyway, so observing costs the request path
    /// nothing. May be called more than once.
    pub fn observer(mut self, observer: impl ConcurrencyObserver) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// An adaptive (or custom) controller.
    pub fn algorithm(mut self, algorithm: impl LimitAlgorithm) -> Self {
        self.algorithm = Ok(Box::new(algorithm));
        self
    }

    /// How requests are classified; closures `Fn(&RequestRef<'_>) -> Priority`
    /// work.
    pub fn classify(mut self, classifier: impl Classify) -> Self {
        self.classifier = Some(Arc::new(classifier));
        self
    }

    /// The reservations of the limit by class.
    pub fn shares(mut self, shares: Shares) -> Self {
        self.shares = shares;
        self
    }

    /// Requests whose path is exactly `path` are never refused and not
    /// counted (health probes: an orchestrator must see an overloaded
    /// replica as alive). Repeat for several paths.
    pub fn bypass_path(mut self, path: impl Into<String>) -> Self {
        self.bypass.push(path.into());
        self
    }

    /// The `Retry-After` of refusals (rounded up to whole seconds, at least
    /// 1).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The shortest window of samples an adaptive controller sees.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// The fewest completed requests a window needs before it closes (it
    /// stretches until it has them). Under heavy traffic, when the limiter
    /// times one request in [`Limiter::sample_every`], each timed request
    /// counts for that many.
    pub fn min_samples(mut self, samples: u32) -> Self {
        self.min_samples = samples;
        self
    }

    /// The clock that times requests and windows.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The shortest time between two `tracing` events about limit changes
    /// (changes in between are counted in the next event's `suppressed`).
    pub fn log_interval(mut self, interval: Duration) -> Self {
        self.log_interval = interval;
        self
    }

    /// Called on every limit change (not rate-limited), e.g. to update a
    /// gauge.
    pub fn on_limit_change(mut self, hook: impl Fn(&LimitChange) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the bad setting: `limit`, `retry_after`
    /// (zero or above a day), `window` (zero or above a minute),
    /// `min_samples` (0), `bypass_path` (not starting with `/`).
    pub fn build(self) -> Result<ConcurrencyLimitLayer, ConfigError> {
        let observers = self.observers.clone();
        let layer = self.build_unobserved()?;
        for observer in observers {
            observer.attach(Arc::new(layer.limiter.clone()));
        }
        Ok(layer)
    }

    fn build_unobserved(self) -> Result<ConcurrencyLimitLayer, ConfigError> {
        let algorithm = self.algorithm?;
        if self.retry_after.is_zero() || self.retry_after > Duration::from_secs(86_400) {
            return Err(invalid(
                COMPONENT,
                "retry_after",
                self.retry_after,
                "1 ms ..= 1 day",
            ));
        }
        if self.window.is_zero() || self.window > Duration::from_secs(60) {
            return Err(invalid(
                COMPONENT,
                "window",
                self.window,
                "a positive duration ≤ 60 s",
            ));
        }
        if self.min_samples == 0 {
            return Err(invalid(COMPONENT, "min_samples", 0, "at least 1"));
        }
        if let Some(bad) = self.bypass.iter().find(|p| !p.starts_with('/')) {
            return Err(invalid(
                COMPONENT,
                "bypass_path",
                bad,
                "a path starting with `/`",
            ));
        }
        let secs = crate::Overloaded {
            priority: Priority::Default,
            limit: 0,
            retry_after: self.retry_after,
        }
        .retry_after_secs();
        let problems = Priority::ALL.map(|p| problem_body(p.as_str(), secs));
        let limiter = Limiter::new(
            algorithm,
            self.shares,
            self.retry_after,
            AdaptiveSettings {
                clock: self.clock,
                window: self.window,
                min_samples: self.min_samples,
                log_interval: self.log_interval,
                hook: self.hook,
            },
        );
        let classify = self.classifier.is_some();
        Ok(ConcurrencyLimitLayer {
            limiter,
            config: Arc::new(LayerConfig {
                plain: !classify && self.bypass.is_empty(),
                classifier: self.classifier.unwrap_or_else(|| Arc::new(())),
                classify,
                bypass: self.bypass.into_boxed_slice(),
                problems,
            }),
            _rejection: PhantomData,
        })
    }
}
