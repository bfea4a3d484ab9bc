//! The validating builder of a breaker and its settings.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hardening_core::clock::{duration_to_nanos, Clock, CoarseMonotonicClock};
use hardening_core::observe::CircuitObserver;

use crate::breaker::Breaker;
use crate::keyed::KeyedCircuitBreakerLayer;
use crate::layer::CircuitBreakerLayer;
use crate::state::StateChange;
use crate::ConfigError;

/// Most buckets a time-based window may have.
const MAX_BUCKETS: u32 = 1_000;
/// Largest count-based window.
const MAX_WINDOW_CALLS: u32 = 1_000_000;
/// Most half-open probes (they are counted in 16 bits).
const MAX_PROBES: u32 = 10_000;

/// The sliding window over which failure and slow-call rates are computed.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_circuit::{CircuitBreakerLayer, SlidingWindow};
///
/// // The last 100 calls:
/// let layer = CircuitBreakerLayer::builder()
///     .sliding_window(SlidingWindow::count(100))
///     .minimum_calls(10)
///     .build();
/// assert!(layer.is_ok());
///
/// // Calls of the last 10 seconds, counted in 10 one-second buckets:
/// let window = SlidingWindow::time(Duration::from_secs(10), 10);
/// assert_eq!(window, SlidingWindow::Time { length: Duration::from_secs(10), buckets: 10 });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `size` calls. Costs two atomic read-modify-writes per call
    /// on a shared sequence (the time-based window costs none).
    Count {
        /// How many calls the window holds (1 to 1,000,000).
        size: u32,
    },
    /// The calls that finished in the last `length`, kept in `buckets`
    /// buckets of `length / buckets` each (1 to 1,000 buckets); the window
    /// slides one bucket at a time.
    Time {
        /// How far back the window reaches.
        length: Duration,
        /// How many buckets it is divided into.
        buckets: u32,
    },
}

impl SlidingWindow {
    /// A count-based window over the last `size` calls.
    pub const fn count(size: u32) -> Self {
        Self::Count { size }
    }

    /// A time-based window over `length`, in `buckets` buckets.
    pub const fn time(length: Duration, buckets: u32) -> Self {
        Self::Time { length, buckets }
    }
}

impl Default for SlidingWindow {
    /// 30 seconds in 10 buckets of 3 seconds.
    fn default() -> Self {
        Self::time(Duration::from_secs(30), 10)
    }
}

/// A source of random fractions in `[0, 1)`, used for the jitter of the
/// open duration.
///
/// Closures `Fn() -> f64` implement it, so tests can fix the jitter:
/// `.random(|| 0.0)`. Values outside `[0, 1)` are clamped into it.
pub trait RandomSource: Send + Sync + 'static {
    /// A fraction in `[0, 1)`.
    fn next_fraction(&self) -> f64;
}

impl<F> RandomSource for F
where
    F: Fn() -> f64 + Send + Sync + 'static,
{
    fn next_fraction(&self) -> f64 {
        self()
    }
}

/// The default [`RandomSource`]: a SplitMix64 generator seeded from the
/// standard library's per-process random hash keys. Not cryptographic, it
/// only spreads probe times.
#[derive(Debug)]
pub struct DefaultRandom {
    state: AtomicU64,
}

impl Default for DefaultRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl DefaultRandom {
    /// A generator with a fresh random seed.
    pub fn new() -> Self {
        Self::with_seed(RandomState::new().hash_one(0x5eed_u64))
    }

    /// A generator with a fixed seed (same seed, same sequence).
    pub fn with_seed(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }
}

impl RandomSource for DefaultRandom {
    fn next_fraction(&self) -> f64 {
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits into [0, 1).
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

pub(crate) type Hook = Arc<dyn Fn(&StateChange) + Send + Sync>;

/// Builds a circuit breaker, validating every setting.
///
/// Obtained from [`CircuitBreakerLayer::builder`] (or
/// [`KeyedCircuitBreakerLayer::builder`]); finish with
/// [`build`](Self::build), [`build_keyed`](Self::build_keyed) or
/// [`build_breaker`](Self::build_breaker).
///
/// | setting | default |
/// |---|---|
/// | [`failure_rate_threshold`](Self::failure_rate_threshold) | 0.5 (50 %) |
/// | [`sliding_window`](Self::sliding_window) | time-based, 30 s in 10 buckets |
/// | [`minimum_calls`](Self::minimum_calls) | 20 |
/// | [`consecutive_failures`](Self::consecutive_failures) | off |
/// | [`slow_call_duration`](Self::slow_call_duration) | off |
/// | [`slow_call_rate_threshold`](Self::slow_call_rate_threshold) | 1.0 (100 %) |
/// | [`open_duration`](Self::open_duration) | 30 s |
/// | [`max_open_duration`](Self::max_open_duration) | 300 s |
/// | [`open_backoff`](Self::open_backoff) | ×2 per repeated trip |
/// | [`jitter`](Self::jitter) | 0.2 (up to 20 % shorter) |
/// | [`half_open_probes`](Self::half_open_probes) | 3 |
/// | [`half_open_timeout`](Self::half_open_timeout) | 30 s |
/// | [`clock`](Self::clock) | [`CoarseMonotonicClock`] |
///
/// # Errors
///
/// The `build*` methods return a [`ConfigError`] naming the first invalid
/// setting and its value.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_circuit::{CircuitBreakerLayer, SlidingWindow};
///
/// let layer = CircuitBreakerLayer::builder()
///     .failure_rate_threshold(0.25)
///     .sliding_window(SlidingWindow::count(50))
///     .minimum_calls(10)
///     .consecutive_failures(5)
///     .slow_call_duration(Duration::from_secs(2))
///     .slow_call_rate_threshold(0.8)
///     .open_duration(Duration::from_secs(10))
///     .max_open_duration(Duration::from_secs(120))
///     .half_open_probes(2)
///     .name("payments")
///     .build()
///     .expect("valid settings");
/// assert_eq!(layer.breaker().name(), Some("payments"));
///
/// let err = CircuitBreakerLayer::builder().minimum_calls(0).build().unwrap_err();
/// assert_eq!(err.field(), "minimum_calls");
/// ```
#[derive(Clone)]
#[must_use]
pub struct CircuitBreakerBuilder {
    failure_rate_threshold: f64,
    window: SlidingWindow,
    minimum_calls: u32,
    consecutive_failures: Option<u32>,
    slow_call_duration: Option<Duration>,
    slow_call_rate_threshold: f64,
    open_duration: Duration,
    max_open_duration: Duration,
    open_backoff: f64,
    jitter: f64,
    half_open_probes: u32,
    half_open_timeout: Duration,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    on_state_change: Option<Hook>,
    observer: Option<Arc<dyn CircuitObserver>>,
    name: Option<Arc<str>>,
}

impl Default for CircuitBreakerBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("failure_rate_threshold", &self.failure_rate_threshold)
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("slow_call_duration", &self.slow_call_duration)
            .field("slow_call_rate_threshold", &self.slow_call_rate_threshold)
            .field("open_duration", &self.open_duration)
            .field("max_open_duration", &self.max_open_duration)
            .field("open_backoff", &self.open_backoff)
            .field("jitter", &self.jitter)
            .field("half_open_probes", &self.half_open_probes)
            .field("half_open_timeout", &self.half_open_timeout)
            .field("clock", &self.clock)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerBuilder {
    /// A builder with the defaults listed above.
    pub fn new() -> Self {
        Self {
            failure_rate_threshold: 0.5,
            window: SlidingWindow::default(),
            minimum_calls: 20,
            consecutive_failures: None,
            slow_call_duration: None,
            slow_call_rate_threshold: 1.0,
            open_duration: Duration::from_secs(30),
            max_open_duration: Duration::from_secs(300),
            open_backoff: 2.0,
            jitter: 0.2,
            half_open_probes: 3,
            half_open_timeout: Duration::from_secs(30),
            clock: Arc::new(CoarseMonotonicClock::new()),
            random: Arc::new(DefaultRandom::new()),
            on_state_change: None,
            observer: None,
            name: None,
        }
    }

    /// Trip when the share of failed calls in the window reaches this
    /// fraction (`0.0 < t <= 1.0`, default 0.5). Compared exactly, to a
    /// millionth: 3 failures in 10 calls reach a threshold of 0.3.
    pub fn failure_rate_threshold(mut self, threshold: f64) -> Self {
        self.failure_rate_threshold = threshold;
        self
    }

    /// The window the rates are computed over (default: time-based, 30 s in
    /// 10 buckets).
    pub fn sliding_window(mut self, window: SlidingWindow) -> Self {
        self.window = window;
        self
    }

    /// The rate rules apply only once the window holds at least this many
    /// calls (default 20, at least 1; at most the size of a count-based
    /// window).
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = calls;
        self
    }

    /// Also trip after this many failures in a row, whatever the rate and
    /// the number of calls (off by default; at least 1).
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.consecutive_failures = Some(failures);
        self
    }

    /// Calls that take at least this long are slow (off by default; more
    /// than zero). A slow call still counts as a success or a failure too.
    pub fn slow_call_duration(mut self, duration: Duration) -> Self {
        self.slow_call_duration = Some(duration);
        self
    }

    /// Trip when the share of slow calls in the window reaches this fraction
    /// (`0.0 < t <= 1.0`, default 1.0). Needs
    /// [`slow_call_duration`](Self::slow_call_duration).
    pub fn slow_call_rate_threshold(mut self, threshold: f64) -> Self {
        self.slow_call_rate_threshold = threshold;
        self
    }

    /// How long the breaker stays open after its first trip (default 30 s,
    /// more than zero).
    pub fn open_duration(mut self, duration: Duration) -> Self {
        self.open_duration = duration;
        self
    }

    /// The longest the open duration grows to on repeated trips (default
    /// 300 s, at least [`open_duration`](Self::open_duration)).
    pub fn max_open_duration(mut self, duration: Duration) -> Self {
        self.max_open_duration = duration;
        self
    }

    /// The factor the open duration grows by each time the breaker trips
    /// again without having closed in between (default 2.0, from 1.0 to
    /// 100.0; 1.0 keeps it constant).
    pub fn open_backoff(mut self, factor: f64) -> Self {
        self.open_backoff = factor;
        self
    }

    /// The open duration is shortened by a random share of up to this
    /// fraction (default 0.2, `0.0 <= j < 1.0`), so replicas that tripped
    /// together do not probe together. Never lengthened, so it stays within
    /// [`max_open_duration`](Self::max_open_duration).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = fraction;
        self
    }

    /// Where the jitter's randomness comes from (default [`DefaultRandom`]).
    /// Tests pass a closure such as `|| 0.5`.
    pub fn random(mut self, random: impl RandomSource) -> Self {
        self.random = Arc::new(random);
        self
    }

    /// How many probe calls the half-open breaker admits (default 3, 1 to
    /// 10,000). It closes when all of them succeed and opens again on the
    /// first failure.
    pub fn half_open_probes(mut self, probes: u32) -> Self {
        self.half_open_probes = probes;
        self
    }

    /// If the probes have not all finished this long after the breaker went
    /// half-open, it opens again (default 30 s, more than zero).
    pub fn half_open_timeout(mut self, timeout: Duration) -> Self {
        self.half_open_timeout = timeout;
        self
    }

    /// The clock (default [`CoarseMonotonicClock`]: millisecond resolution,
    /// several times cheaper to read than
    /// [`MonotonicClock`](hardening_core::MonotonicClock), which the
    /// time-based window reads on every call). Pass `MonotonicClock` to
    /// time slow calls of a few milliseconds precisely; tests pass a
    /// [`FakeClock`](hardening_core::FakeClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Called after every state change, outside the breaker's lock (it may
    /// call the breaker). Keep it short: it runs on the caller's task.
    pub fn on_state_change<F>(mut self, hook: F) -> Self
    where
        F: Fn(&StateChange) + Send + Sync + 'static,
    {
        self.on_state_change = Some(Arc::new(hook));
        self
    }

    /// Reports state changes and call outcomes to `observer` (e.g.
    /// `hardening-metrics`' `LayerMetrics::circuit`), bound once per breaker
    /// by its [`name`](Self::name) (`""` when unnamed; a keyed layer's
    /// breakers by their keys). Without one the call path pays a single
    /// branch.
    pub fn observer(mut self, observer: impl CircuitObserver) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// A name for the breaker, used in its `tracing` events and state
    /// changes.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(Arc::from(name.into()));
        self
    }

    pub(crate) fn named(mut self, name: Arc<str>) -> Self {
        self.name = Some(name);
        self
    }

    /// Builds a [`CircuitBreakerLayer`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<CircuitBreakerLayer, ConfigError> {
        Ok(CircuitBreakerLayer::from_breaker(self.build_breaker()?))
    }

    /// Builds a [`KeyedCircuitBreakerLayer`] whose breakers (one per key)
    /// all have these settings, each named after its key.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting.
    pub fn build_keyed(self) -> Result<KeyedCircuitBreakerLayer, ConfigError> {
        self.validate()?;
        Ok(KeyedCircuitBreakerLayer::from_builder(self))
    }

    /// Builds a bare [`Breaker`] handle, e.g. to share one breaker between
    /// several layers with [`CircuitBreakerLayer::from_breaker`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid setting.
    pub fn build_breaker(self) -> Result<Breaker, ConfigError> {
        let settings = self.validate()?;
        Ok(Breaker::from_settings(settings))
    }

    pub(crate) fn validate(&self) -> Result<Settings, ConfigError> {
        /// A setting of the breaker, its value written by `Debug`.
        fn invalid(
            field: &'static str,
            value: impl fmt::Debug,
            expected: &'static str,
        ) -> ConfigError {
            ConfigError::new("CircuitBreaker", field, format_args!("{value:?}"), expected)
        }
        fn fraction(
            field: &'static str,
            v: f64,
            expected: &'static str,
        ) -> Result<u64, ConfigError> {
            if v.is_finite() && v > 0.0 && v <= 1.0 {
                Ok(((v * PPM as f64).round() as u64).clamp(1, PPM))
            } else {
                Err(invalid(field, v, expected))
            }
        }
        let failure_ppm = fraction(
            "failure_rate_threshold",
            self.failure_rate_threshold,
            "a fraction greater than 0.0 and at most 1.0",
        )?;
        let slow_ppm = fraction(
            "slow_call_rate_threshold",
            self.slow_call_rate_threshold,
            "a fraction greater than 0.0 and at most 1.0",
        )?;

        let window = match self.window {
            SlidingWindow::Count { size } => {
                if size == 0 || size > MAX_WINDOW_CALLS {
                    return Err(invalid(
                        "sliding_window",
                        self.window,
                        "a count window of 1 to 1,000,000 calls",
                    ));
                }
                WindowSettings::Count { size }
            }
            SlidingWindow::Time { length, buckets } => {
                if buckets == 0 || buckets > MAX_BUCKETS {
                    return Err(invalid(
                        "sliding_window",
                        self.window,
                        "a time window of 1 to 1,000 buckets",
                    ));
                }
                let length_nanos = duration_to_nanos(length);
                let bucket_nanos = length_nanos / u64::from(buckets);
                if bucket_nanos < 1_000_000 {
                    return Err(invalid(
                        "sliding_window",
                        self.window,
                        "a time window whose buckets are at least 1 ms long",
                    ));
                }
                WindowSettings::Time {
                    bucket_nanos,
                    buckets,
                }
            }
        };

        if self.minimum_calls == 0 {
            return Err(invalid("minimum_calls", self.minimum_calls, "at least 1"));
        }
        if let SlidingWindow::Count { size } = self.window {
            if self.minimum_calls > size {
                return Err(invalid(
                    "minimum_calls",
                    self.minimum_calls,
                    "at most the size of the count window (or the breaker could never trip)",
                ));
            }
        }
        if self.consecutive_failures == Some(0) {
            return Err(invalid("consecutive_failures", 0, "at least 1"));
        }
        if let Some(d) = self.slow_call_duration {
            if d.is_zero() {
                return Err(invalid(
                    "slow_call_duration",
                    d,
                    "a duration greater than zero",
                ));
            }
        }
        if self.open_duration.is_zero() {
            return Err(invalid(
                "open_duration",
                self.open_duration,
                "a duration greater than zero",
            ));
        }
        if self.max_open_duration < self.open_duration {
            return Err(invalid(
                "max_open_duration",
                self.max_open_duration,
                "at least open_duration",
            ));
        }
        if !(self.open_backoff.is_finite() && (1.0..=100.0).contains(&self.open_backoff)) {
            return Err(invalid(
                "open_backoff",
                self.open_backoff,
                "a factor from 1.0 to 100.0",
            ));
        }
        if !(self.jitter.is_finite() && (0.0..1.0).contains(&self.jitter)) {
            return Err(invalid(
                "jitter",
                self.jitter,
                "a fraction from 0.0 up to (not including) 1.0",
            ));
        }
        if self.half_open_probes == 0 || self.half_open_probes > MAX_PROBES {
            return Err(invalid(
                "half_open_probes",
                self.half_open_probes,
                "1 to 10,000 probes",
            ));
        }
        if self.half_open_timeout.is_zero() {
            return Err(invalid(
                "half_open_timeout",
                self.half_open_timeout,
                "a duration greater than zero",
            ));
        }

        Ok(Settings {
            failure_ppm,
            slow_ppm,
            window,
            minimum_calls: u64::from(self.minimum_calls),
            consecutive_failures: self.consecutive_failures.unwrap_or(0),
            slow_nanos: self.slow_call_duration.map(duration_to_nanos).unwrap_or(0),
            open_nanos: duration_to_nanos(self.open_duration),
            max_open_nanos: duration_to_nanos(self.max_open_duration),
            open_backoff: self.open_backoff,
            jitter: self.jitter,
            half_open_probes: self.half_open_probes,
            half_open_timeout_nanos: duration_to_nanos(self.half_open_timeout),
            clock: self.clock.clone(),
            random: self.random.clone(),
            on_state_change: self.on_state_change.clone(),
            observer: self.observer.clone(),
            name: self.name.clone(),
        })
    }
}

/// Rates are compared in millionths.
pub(crate) const PPM: u64 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowSettings {
    Count { size: u32 },
    Time { bucket_nanos: u64, buckets: u32 },
}

/// Validated settings, in the units the core works in.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) failure_ppm: u64,
    pub(crate) slow_ppm: u64,
    pub(crate) window: WindowSettings,
    pub(crate) minimum_calls: u64,
    /// 0 = rule off.
    pub(crate) consecutive_failures: u32,
    /// 0 = slow-call rule off.
    pub(crate) slow_nanos: u64,
    pub(crate) open_nanos: u64,
    pub(crate) max_open_nanos: u64,
    pub(crate) open_backoff: f64,
    pub(crate) jitter: f64,
    pub(crate) half_open_probes: u32,
    pub(crate) half_open_timeout_nanos: u64,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) random: Arc<dyn RandomSource>,
    pub(crate) on_state_change: Option<Hook>,
    /// Bound by [`Breaker::from_settings`](crate::Breaker).
    pub(crate) observer: Option<Arc<dyn CircuitObserver>>,
    pub(crate) name: Option<Arc<str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(b: CircuitBreakerBuilder) -> &'static str {
        b.validate().err().expect("invalid").field()
    }

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let s = CircuitBreakerBuilder::new().validate().unwrap();
        assert_eq!(s.failure_ppm, 500_000);
        assert_eq!(
            s.window,
            WindowSettings::Time {
                bucket_nanos: 3_000_000_000,
                buckets: 10
            }
        );
        assert_eq!(s.minimum_calls, 20);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.slow_nanos, 0);
        assert_eq!(s.open_nanos, 30_000_000_000);
        assert_eq!(s.max_open_nanos, 300_000_000_000);
        assert_eq!(s.half_open_probes, 3);
    }

    #[test]
    fn every_invalid_setting_is_named() {
        let b = CircuitBreakerBuilder::new;
        assert_eq!(
            field_of(b().failure_rate_threshold(0.0)),
            "failure_rate_threshold"
        );
        assert_eq!(
            field_of(b().failure_rate_threshold(f64::NAN)),
            "failure_rate_threshold"
        );
        assert_eq!(
            field_of(b().slow_call_rate_threshold(2.0)),
            "slow_call_rate_threshold"
        );
        assert_eq!(
            field_of(b().sliding_window(SlidingWindow::count(0))),
            "sliding_window"
        );
        assert_eq!(
            field_of(b().sliding_window(SlidingWindow::time(Duration::from_secs(1), 0))),
            "sliding_window"
        );
        assert_eq!(
            field_of(b().sliding_window(SlidingWindow::time(Duration::from_micros(10), 5))),
            "sliding_window"
        );
        assert_eq!(field_of(b().minimum_calls(0)), "minimum_calls");
        assert_eq!(
            field_of(
                b().sliding_window(SlidingWindow::count(10))
                    .minimum_calls(11)
            ),
            "minimum_calls"
        );
        assert_eq!(
            field_of(b().consecutive_failures(0)),
            "consecutive_failures"
        );
        assert_eq!(
            field_of(b().slow_call_duration(Duration::ZERO)),
            "slow_call_duration"
        );
        assert_eq!(field_of(b().open_duration(Duration::ZERO)), "open_duration");
        assert_eq!(
            field_of(
                b().open_duration(Duration::from_secs(60))
                    .max_open_duration(Duration::from_secs(59))
            ),
            "max_open_duration"
        );
        assert_eq!(field_of(b().open_backoff(0.5)), "open_backoff");
        assert_eq!(field_of(b().jitter(1.0)), "jitter");
        assert_eq!(field_of(b().jitter(-0.1)), "jitter");
        assert_eq!(field_of(b().half_open_probes(0)), "half_open_probes");
        assert_eq!(field_of(b().half_open_probes(70_000)), "half_open_probes");
        assert_eq!(
            field_of(b().half_open_timeout(Duration::ZERO)),
            "half_open_timeout"
        );
    }

    #[test]
    fn error_message_names_field_and_value() {
        let err = CircuitBreakerBuilder::new()
            .half_open_probes(0)
            .validate()
            .err()
            .unwrap();
        assert_eq!(err.value(), "0");
        assert_eq!(
            err.to_string(),
            "invalid CircuitBreaker setting `half_open_probes` = `0`: expected 1 to 10,000 probes"
        );
    }

    #[test]
    fn thresholds_round_to_millionths() {
        let s = CircuitBreakerBuilder::new()
            .failure_rate_threshold(0.3)
            .slow_call_rate_threshold(1e-9)
            .validate()
            .unwrap();
        assert_eq!(s.failure_ppm, 300_000);
        assert_eq!(s.slow_ppm, 1, "never rounds down to an always-trip zero");
    }

    #[test]
    fn default_random_is_in_unit_interval_and_seedable() {
        let a = DefaultRandom::with_seed(7);
        let b = DefaultRandom::with_seed(7);
        for _ in 0..1000 {
            let x = a.next_fraction();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x, b.next_fraction());
        }
    }
}
