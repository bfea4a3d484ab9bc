//! [`RetryLayer`] and its validating builder.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use hardening_core::clock::{Clock, MonotonicClock};
use hardening_core::observe::RetryObserver;
use http::header::HeaderName;
use tower_layer::Layer;

use super::backoff::{Backoff, Random};
use super::budget::Budget;
use super::classify::{Classifier, Classify, DefaultClassifier, RequestRule, RetryableRequest};
use super::config::Config;
use super::service::Retry;
use crate::ConfigError;
use crate::{DefaultRandom, RandomSource};

/// The overload marker header recognised by default: Envoy sets
/// `x-envoy-overloaded` on responses it sheds under overload, and retrying
/// those would feed the overload.
pub const DEFAULT_OVERLOAD_HEADER: &str = "x-envoy-overloaded";

/// Retries failed HTTP calls with backoff and jitter, within a deadline and a
/// retry budget, honouring `Retry-After`.
///
/// # What is retried
///
/// A request is retried only if all of these hold:
///
/// - it may be sent twice: by default an idempotent method (GET, HEAD,
///   OPTIONS, PUT, DELETE, TRACE) or an `Idempotency-Key` header
///   ([`IdempotentRequests`](super::IdempotentRequests), replaceable with
///   [`retryable_requests`](RetryBuilder::retryable_requests)), and its body
///   can be replayed ([`ReplayableBody`](super::ReplayableBody); wrap
///   streaming bodies in [`ReplayBody`](super::ReplayBody));
/// - the attempt's outcome is retryable: by default any error (connection
///   errors, timeouts) and 408, 429, 502, 503, 504
///   ([`DefaultClassifier`](super::DefaultClassifier),
///   replaceable with [`classify`](RetryBuilder::classify));
/// - it is not the circuit breaker's [`CircuitOpen`](crate::CircuitOpen)
///   rejection (retrying it would defeat the breaker). It is looked for with
///   [`CircuitOpen::find`](crate::CircuitOpen::find) along the error's
///   `source()` chain, so an error type of yours that wraps a `CircuitOpen`
///   opts in by returning it from `source()`;
/// - the response does not carry the overload marker header (default
///   [`DEFAULT_OVERLOAD_HEADER`]);
/// - attempts remain: `max_attempts` **counts the first call** (default 3,
///   i.e. at most 2 retries). Polly's `MaxRetryAttempts` and
///   Resilience4j's `maxAttempts` differ: Polly counts retries only
///   (Polly `MaxRetryAttempts = 2` is our `max_attempts(3)`), while
///   Resilience4j counts like we do;
/// - the wait fits before the overall [`deadline`](RetryBuilder::deadline)
///   and the shared [`Budget`] has room.
///
/// The wait is the [`Backoff`] (default full-jitter exponential, 100 ms base,
/// 10 s cap), except that a 429 or 503 carrying `Retry-After` (seconds or an
/// HTTP-date) waits exactly that long. A `Retry-After` above
/// [`max_retry_after`](RetryBuilder::max_retry_after) (default 30 s) or one
/// that would pass the deadline is not waited for: that response is returned
/// at once, since retrying earlier than the server asked would only add load.
///
/// The caller always gets the last attempt's real outcome, unchanged: the
/// response as the upstream sent it, or its error (boxed; downcast to get the
/// original type). The layer adds only two errors of its own:
/// [`AttemptTimeout`](super::AttemptTimeout) when an attempt exceeds the
/// optional [`attempt_timeout`](RetryBuilder::attempt_timeout) (an outcome
/// like any other, retried by default) and
/// [`DeadlineExceeded`](super::DeadlineExceeded) when the deadline cuts an
/// attempt short.
///
/// Each retry emits a `tracing` event (target `hardening_circuit`, level
/// INFO) with the attempt number, the delay and the reason. With
/// [`attempt_header`](RetryBuilder::attempt_header) (off by default) every
/// attempt tells the upstream its number.
///
/// # With the circuit breaker: retry goes inside
///
/// ```text
/// ServiceBuilder::new()
///     .layer(circuit_breaker)   // outer: sees one outcome per logical call
///     .layer(retry)             // inner: retries transient faults
///     .service(client)
/// ```
///
/// Put the retry layer *inside* the breaker. The breaker then records one
/// outcome per logical call, after retries: a blip that a retry absorbed is a
/// success, and only calls that failed for good count towards tripping. When
/// the breaker is open it rejects the call before any attempt, so an outage
/// costs no retries at all. The other order would let the retry layer hammer
/// an open breaker (that is why `CircuitOpen` is never retried) and would
/// feed the breaker up to `max_attempts` failures per call, tripping it on
/// faults the caller never saw.
///
/// # Clone
///
/// Clones of the layer, and every service it makes, share one
/// configuration and one [`Budget`].
///
/// # Runtime
///
/// Waits and timeouts use `tokio::time`, so attempts after the first, and
/// any call with a deadline or an attempt timeout, must run inside a Tokio
/// runtime with the time driver enabled (`tokio::time::pause` works in
/// tests).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use hardening_circuit::retry::{Backoff, RetryLayer};
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// let calls = Arc::new(AtomicU32::new(0));
/// let counter = calls.clone();
/// // An upstream that fails twice, then answers.
/// let upstream = service_fn(move |_req: Request<Full<Bytes>>| {
///     let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
///     async move {
///         let status = if n < 3 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
///         let mut res = Response::new(Full::new(Bytes::new()));
///         *res.status_mut() = status;
///         Ok::<_, std::io::Error>(res)
///     }
/// });
///
/// let layer = RetryLayer::builder()
///     .max_attempts(3)
///     .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2)))
///     .deadline(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// let client = ServiceBuilder::new().layer(layer).service(upstream);
///
/// let req = Request::get("http://upstream/items").body(Full::new(Bytes::new())).unwrap();
/// let res = client.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), StatusCode::OK);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RetryLayer {
    config: Arc<Config>,
}

impl RetryLayer {
    /// A layer with every default: 3 attempts, full-jitter exponential
    /// backoff (100 ms, 10 s), the default budget, no deadline, no attempt
    /// timeout.
    pub fn new() -> Self {
        // The defaults validate (a unit test checks it); never panic here.
        match Self::builder().build() {
            Ok(layer) => layer,
            Err(_) => Self::fallback(),
        }
    }

    /// A builder starting from the defaults.
    pub fn builder() -> RetryBuilder {
        RetryBuilder::default()
    }

    /// A layer that never retries: only reachable if the defaults stopped
    /// validating, which the tests rule out.
    fn fallback() -> Self {
        Self {
            config: Arc::new(Config {
                max_attempts: 1,
                backoff: Backoff::default(),
                deadline: None,
                attempt_timeout: None,
                budget: None,
                classifier: Classifier::Default(DefaultClassifier::new()),
                requests: RequestRule::Idempotent,
                overload_header: None,
                attempt_header: None,
                max_retry_after: Duration::ZERO,
                random: Random(Box::new(DefaultRandom::new())),
                clock: Box::new(MonotonicClock::new()),
                observer: None,
            }),
        }
    }

    /// The budget shared by this layer's services, if any.
    pub fn budget(&self) -> Option<&Budget> {
        self.config.budget.as_ref()
    }
}

impl Default for RetryLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for RetryLayer {
    type Service = Retry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::from_config(inner, Arc::clone(&self.config))
    }
}

/// Builds a [`RetryLayer`]; [`build`](RetryBuilder::build) validates every
/// setting.
pub struct RetryBuilder {
    max_attempts: u32,
    backoff: Backoff,
    deadline: Option<Duration>,
    attempt_timeout: Option<Duration>,
    budget: BudgetChoice,
    classifier: Classifier,
    requests: RequestRule,
    overload_header: Option<String>,
    attempt_header: Option<String>,
    max_retry_after: Duration,
    random: Option<Box<dyn RandomSource>>,
    clock: Option<Arc<dyn Clock>>,
    observer: Option<Arc<dyn RetryObserver>>,
}

enum BudgetChoice {
    Default,
    None,
    Given(Budget),
}

impl Default for RetryBuilder {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff::default(),
            deadline: None,
            attempt_timeout: None,
            budget: BudgetChoice::Default,
            classifier: Classifier::Default(DefaultClassifier::new()),
            requests: RequestRule::Idempotent,
            overload_header: Some(DEFAULT_OVERLOAD_HEADER.to_owned()),
            attempt_header: None,
            max_retry_after: Duration::from_secs(30),
            random: None,
            clock: None,
            observer: None,
        }
    }
}

impl fmt::Debug for RetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBuilder")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("deadline", &self.deadline)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("classifier", &self.classifier)
            .field("requests", &self.requests)
            .field("overload_header", &self.overload_header)
            .field("attempt_header", &self.attempt_header)
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}

impl RetryBuilder {
    /// Total attempts, **the first call included** (default 3: one call and
    /// up to two retries). `1` disables retries. Must be at least 1.
    ///
    /// Polly's `MaxRetryAttempts` counts retries only (add one to convert);
    /// Resilience4j's `maxAttempts` counts like this.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The wait before each retry (default
    /// `Backoff::exponential(100 ms, 10 s)`, full jitter).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// An overall deadline across all attempts and waits, counted from the
    /// call (default none). No wait that would pass it is started (the last
    /// outcome is returned instead); an attempt still running when it passes
    /// is abandoned with [`DeadlineExceeded`](super::DeadlineExceeded).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// A timeout for each attempt (default none). An attempt that exceeds it
    /// is abandoned and ends with [`AttemptTimeout`](super::AttemptTimeout),
    /// which the default classifier retries.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The retry budget (default [`Budget::new`]: 10 % of requests plus
    /// 10 retries per 10 s window). Pass a clone of one budget to several
    /// layers to share it.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = BudgetChoice::Given(budget);
        self
    }

    /// Reports each attempt's outcome and each use of `Retry-After` to
    /// `observer` (e.g. `hardening-metrics`' `LayerMetrics::retry`).
    /// Without one the retry path pays a single branch.
    pub fn observer(mut self, observer: impl RetryObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// No retry budget: only `max_attempts` and the deadline bound retries.
    pub fn no_budget(mut self) -> Self {
        self.budget = BudgetChoice::None;
        self
    }

    /// Which outcomes are retried (default [`DefaultClassifier`]).
    /// `CircuitOpen` and overload-marked responses are never retried,
    /// whatever the classifier says.
    pub fn classify(mut self, classifier: impl Classify) -> Self {
        let any: &dyn Any = &classifier;
        self.classifier = match any.downcast_ref::<DefaultClassifier>() {
            // Keep the default type concrete so it inlines.
            Some(default) => Classifier::Default(*default),
            None => Classifier::Custom(Box::new(classifier)),
        };
        self
    }

    /// Which requests may be retried at all (default
    /// [`IdempotentRequests`](super::IdempotentRequests)).
    pub fn retryable_requests(mut self, rule: impl RetryableRequest) -> Self {
        let any: &dyn Any = &rule;
        self.requests = match any.downcast_ref::<super::IdempotentRequests>() {
            Some(_) => RequestRule::Idempotent,
            None => RequestRule::Custom(Box::new(rule)),
        };
        self
    }

    /// The response header that marks "overloaded, do not retry" (default
    /// [`DEFAULT_OVERLOAD_HEADER`]). A response carrying it is returned as
    /// is, whatever its status.
    pub fn overload_header(mut self, name: &str) -> Self {
        self.overload_header = Some(name.to_owned());
        self
    }

    /// Recognise no overload marker header.
    pub fn no_overload_header(mut self) -> Self {
        self.overload_header = None;
        self
    }

    /// Sends the attempt number (`1`, `2`, ...) to the upstream in this
    /// request header on every attempt, e.g. `x-retry-attempt`. Off by
    /// default.
    pub fn attempt_header(mut self, name: &str) -> Self {
        self.attempt_header = Some(name.to_owned());
        self
    }

    /// The longest `Retry-After` the layer waits for (default 30 s). A
    /// longer one makes the response final at once. Values are read with
    /// [`hardening_core::retry_after::parse`], which caps them at one day, so
    /// a limit of a day or more never refuses a wait.
    pub fn max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    /// The random source for jitter (default [`DefaultRandom`]). Closures
    /// `Fn() -> f64` work; a constant makes tests exact.
    pub fn random(mut self, random: impl RandomSource) -> Self {
        self.random = Some(Box::new(random));
        self
    }

    /// The clock for `Retry-After` HTTP-dates and for the default budget's
    /// window (default [`MonotonicClock`]). A budget passed to
    /// [`budget`](RetryBuilder::budget) keeps its own clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the setting and value: `max_attempts` of
    /// 0, a [`Backoff`] `cap` below its base, a zero `deadline` or
    /// `attempt_timeout`, or an `overload_header` / `attempt_header` that is
    /// not a valid header name.
    pub fn build(self) -> Result<RetryLayer, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                "RetryLayer",
                "max_attempts",
                "0",
                "at least 1 (the first call counts)",
            ));
        }
        self.backoff.validate()?;
        if self.deadline == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "RetryLayer",
                "deadline",
                "0ns",
                "more than zero",
            ));
        }
        if self.attempt_timeout == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                "RetryLayer",
                "attempt_timeout",
                "0ns",
                "more than zero",
            ));
        }
        let overload_header = header_name("overload_header", self.overload_header)?;
        let attempt_header = header_name("attempt_header", self.attempt_header)?;
        let budget = match self.budget {
            BudgetChoice::Default => {
                let mut budget = Budget::builder();
                if let Some(clock) = &self.clock {
                    budget = budget.clock(Arc::clone(clock));
                }
                Some(budget.build()?)
            }
            BudgetChoice::None => None,
            BudgetChoice::Given(budget) => Some(budget),
        };
        Ok(RetryLayer {
            config: Arc::new(Config {
                max_attempts: self.max_attempts,
                backoff: self.backoff,
                deadline: self.deadline,
                attempt_timeout: self.attempt_timeout,
                budget,
                classifier: self.classifier,
                requests: self.requests,
                overload_header,
                attempt_header,
                max_retry_after: self.max_retry_after,
                random: Random(
                    self.random
                        .unwrap_or_else(|| Box::new(DefaultRandom::new())),
                ),
                clock: match self.clock {
                    Some(clock) => Box::new(clock),
                    None => Box::new(MonotonicClock::new()),
                },
                observer: self.observer,
            }),
        })
    }
}

fn header_name(
    field: &'static str,
    name: Option<String>,
) -> Result<Option<HeaderName>, ConfigError> {
    name.map(|name| {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::new("RetryLayer", field, name, "a valid HTTP header name"))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let layer = RetryBuilder::default().build().unwrap();
        let c = &layer.config;
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.backoff, Backoff::default());
        assert_eq!(c.deadline, None);
        assert_eq!(c.attempt_timeout, None);
        assert!(c.budget.is_some());
        assert_eq!(
            c.overload_header.as_ref().map(|h| h.as_str()),
            Some(DEFAULT_OVERLOAD_HEADER)
        );
        assert!(c.attempt_header.is_none());
        assert_eq!(c.max_retry_after, Duration::from_secs(30));
        assert!(matches!(c.classifier, Classifier::Default(_)));
        assert!(matches!(c.requests, RequestRule::Idempotent));
        assert_eq!(RetryLayer::new().config.max_attempts, 3);
    }

    #[test]
    fn invalid_settings_name_field_and_value() {
        let cases: Vec<(RetryBuilder, &str, &str)> = vec![
            (RetryLayer::builder().max_attempts(0), "max_attempts", "0"),
            (
                RetryLayer::builder().backoff(Backoff::decorrelated(
                    Duration::from_secs(2),
                    Duration::from_secs(1),
                )),
                "cap",
                "1s (base 2s)",
            ),
            (
                RetryLayer::builder().deadline(Duration::ZERO),
                "deadline",
                "0ns",
            ),
            (
                RetryLayer::builder().attempt_timeout(Duration::ZERO),
                "attempt_timeout",
                "0ns",
            ),
            (
                RetryLayer::builder().overload_header("bad header"),
                "overload_header",
                "bad header",
            ),
            (
                RetryLayer::builder().attempt_header("x-ä"),
                "attempt_header",
                "x-ä",
            ),
        ];
        for (builder, field, value) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!((err.field(), err.value()), (field, value));
            assert!(err.to_string().contains(value), "{err}");
        }
    }

    #[test]
    fn the_default_classifier_stays_concrete() {
        let layer = RetryLayer::builder()
            .classify(DefaultClassifier::new().retry_errors(false))
            .retryable_requests(super::super::IdempotentRequests)
            .build()
            .unwrap();
        assert!(matches!(layer.config.classifier, Classifier::Default(_)));
        assert!(matches!(layer.config.requests, RequestRule::Idempotent));
    }
}
