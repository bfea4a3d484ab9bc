//! The validated configuration every clone of a retry layer shares, the
//! decision taken after each attempt, and the configuration error.

use std::fmt;
use std::time::{Duration, SystemTime};

use hardening_core::clock::Clock;
use http::header::{HeaderName, RETRY_AFTER};
use http::{HeaderMap, StatusCode};

use super::backoff::{Backoff, Random};
use super::budget::RetryBudget;
use super::classify::{is_circuit_open, AttemptOutcome, Classifier, RequestRule, RetryDecision};

/// A retry setting that does not validate, naming the setting and the value.
///
/// # Example
///
/// ```
/// use hardening_circuit::RetryLayer;
///
/// let err = RetryLayer::builder().max_attempts(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_attempts");
/// assert_eq!(err.value(), "0");
/// assert_eq!(
///     err.to_string(),
///     "invalid retry setting max_attempts = 0: must be at least 1 (the first call counts)"
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryConfigError {
    field: &'static str,
    value: String,
    reason: &'static str,
}

impl RetryConfigError {
    pub(crate) fn new(field: &'static str, value: impl Into<String>, reason: &'static str) -> Self {
        Self {
            field,
            value: value.into(),
            reason,
        }
    }

    /// The setting, e.g. `"max_attempts"` or `"backoff.cap"`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the setting requires.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for RetryConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid retry setting {} = {}: {}",
            self.field, self.value, self.reason
        )
    }
}

impl std::error::Error for RetryConfigError {}

/// Everything a retry layer was configured with; shared behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) deadline: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) budget: Option<RetryBudget>,
    pub(crate) classifier: Classifier,
    pub(crate) requests: RequestRule,
    pub(crate) overload_header: Option<HeaderName>,
    pub(crate) attempt_header: Option<HeaderName>,
    pub(crate) max_retry_after: Duration,
    pub(crate) random: Random,
    pub(crate) clock: Box<dyn Clock>,
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Wait this long, then send the next attempt.
    Retry { delay: Duration },
    /// Hand the outcome to the caller.
    Return(Stop),
}

/// Why the outcome is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The classifier accepted it (success, or a failure not worth retrying).
    Classified,
    CircuitOpen,
    Overloaded,
    AttemptsExhausted,
    RetryAfterTooLong,
    DeadlineTooClose,
    BudgetExhausted,
}

impl Stop {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stop::Classified => "classified as final",
            Stop::CircuitOpen => "circuit open",
            Stop::Overloaded => "upstream marked the response as overloaded",
            Stop::AttemptsExhausted => "max attempts reached",
            Stop::RetryAfterTooLong => "Retry-After exceeds max_retry_after",
            Stop::DeadlineTooClose => "the wait would pass the deadline",
            Stop::BudgetExhausted => "retry budget exhausted",
        }
    }
}

impl Config {
    /// The decision after attempt number `attempt` (1-based) ended with
    /// `outcome`. `previous` is the previous backoff wait, `remaining` the
    /// time left before the deadline. Withdraws from the budget when it
    /// decides to retry.
    pub(crate) fn after_attempt(
        &self,
        attempt: u32,
        outcome: AttemptOutcome<'_>,
        previous: Duration,
        remaining: Option<Duration>,
    ) -> Next {
        if let AttemptOutcome::Error(err) = outcome {
            if is_circuit_open(err) {
                return Next::Return(Stop::CircuitOpen);
            }
        }
        if self.classifier.classify(outcome) == RetryDecision::Return {
            return Next::Return(Stop::Classified);
        }
        if attempt >= self.max_attempts {
            return Next::Return(Stop::AttemptsExhausted);
        }
        let mut server_delay = None;
        if let AttemptOutcome::Response { status, headers } = outcome {
            if let Some(marker) = &self.overload_header {
                if headers.contains_key(marker) {
                    return Next::Return(Stop::Overloaded);
                }
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            {
                server_delay = retry_after(headers, self.clock.system_time());
            }
        }
        let delay = match server_delay {
            Some(wait) if wait > self.max_retry_after => {
                return Next::Return(Stop::RetryAfterTooLong)
            }
            Some(wait) => wait,
            None => self
                .backoff
                .delay(attempt, previous, self.random.0.next_fraction()),
        };
        if remaining.is_some_and(|left| delay >= left) {
            return Next::Return(Stop::DeadlineTooClose);
        }
        if let Some(budget) = &self.budget {
            if !budget.try_withdraw() {
                return Next::Return(Stop::BudgetExhausted);
            }
        }
        Next::Retry { delay }
    }
}

/// The wait a `Retry-After` header asks for: delay-seconds or an HTTP-date
/// (RFC 9110 §10.2.3), measured from `now`. `None` when absent or invalid;
/// a date in the past means no wait.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for a u64 is still "a very long time".
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_in_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            retry_after(&headers("120"), now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(retry_after(&headers(" 0 "), now), Some(Duration::ZERO));
        assert_eq!(
            retry_after(&headers("99999999999999999999999"), now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_as_http_date() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // 1_700_000_000 s after the epoch is Tue, 14 Nov 2023 22:13:20 GMT.
        assert_eq!(
            retry_after(&headers("Tue, 14 Nov 2023 22:13:50 GMT"), now),
            Some(Duration::from_secs(30))
        );
        // Obsolete RFC 850 and asctime forms are accepted too.
        assert_eq!(
            retry_after(&headers("Tuesday, 14-Nov-23 22:14:20 GMT"), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            retry_after(&headers("Tue Nov 14 22:13:25 2023"), now),
            Some(Duration::from_secs(5))
        );
        // In the past: retry without waiting.
        assert_eq!(
            retry_after(&headers("Tue, 14 Nov 2023 22:00:00 GMT"), now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn invalid_retry_after_is_ignored() {
        let now = SystemTime::now();
        for bad in ["-5", "1.5", "soon", "", "Tue, 99 Nov 2023 22:13:50 GMT"] {
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, bad.parse().unwrap());
            assert_eq!(retry_after(&h, now), None, "{bad:?}");
        }
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn config_error_names_field_value_and_reason() {
        let err = RetryConfigError::new("deadline", "0ns", "must be more than zero");
        assert_eq!(err.field(), "deadline");
        assert_eq!(err.value(), "0ns");
        assert_eq!(err.reason(), "must be more than zero");
        assert_eq!(
            err.to_string(),
            "invalid retry setting deadline = 0ns: must be more than zero"
        );
    }

    mod hostile_retry_after {
        use super::*;
        use proptest::prelude::*;
        use std::time::UNIX_EPOCH;

        fn parse(bytes: &[u8], now: SystemTime) -> Option<Option<Duration>> {
            let value = http::HeaderValue::from_bytes(bytes).ok()?;
            let mut h = HeaderMap::new();
            h.insert(RETRY_AFTER, value);
            Some(retry_after(&h, now))
        }

        /// Pieces of the three HTTP-date forms, mixed with junk.
        fn date_like() -> impl Strategy<Value = String> {
            let piece = prop_oneof![
                Just("Tue, ".to_owned()),
                Just("Tuesday, ".to_owned()),
                Just("Nov ".to_owned()),
                Just("GMT".to_owned()),
                Just(" ".to_owned()),
                Just("-".to_owned()),
                Just(":".to_owned()),
                Just(",".to_owned()),
                "[0-9]{1,25}",
                "[A-Za-z]{1,4}",
                "[\\x00-\\xff]{0,3}",
            ];
            proptest::collection::vec(piece, 0..16).prop_map(|v| v.concat())
        }

        proptest! {
            /// Arbitrary bytes from a hostile upstream: never a panic, and a
            /// wait is only ever read from digits or a real date.
            #[test]
            fn arbitrary_bytes_never_panic(
                bytes in proptest::collection::vec(any::<u8>(), 0..512),
                now_secs in 0u64..=253_402_300_799,
            ) {
                let now = UNIX_EPOCH + Duration::from_secs(now_secs);
                if let Some(Some(wait)) = parse(&bytes, now) {
                    let text = std::str::from_utf8(&bytes).unwrap().trim();
                    if !text.bytes().all(|b| b.is_ascii_digit()) {
                        // A date: never later than the last date HTTP can say.
                        let latest = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
                        prop_assert!(now + wait <= latest, "{:?} -> {:?}", text, wait);
                    }
                }
            }

            /// Odd dates (fragments of every form, out-of-range fields) never
            /// panic, and a date in the past is no wait at all.
            #[test]
            fn odd_dates_never_panic(value in date_like(), now_secs in 0u64..=4_000_000_000) {
                let now = UNIX_EPOCH + Duration::from_secs(now_secs);
                if let Some(Some(wait)) = parse(value.as_bytes(), now) {
                    if let Ok(date) = httpdate::parse_http_date(value.trim()) {
                        prop_assert_eq!(wait, date.duration_since(now).unwrap_or(Duration::ZERO));
                    }
                }
            }

            /// Huge numbers saturate instead of wrapping: any run of digits
            /// is exactly its value in seconds, or `u64::MAX` seconds
            /// (which `max_retry_after` then refuses), never a small wait.
            #[test]
            fn huge_numbers_saturate(digits in "[0-9]{1,400}") {
                let wait = parse(digits.as_bytes(), SystemTime::now()).unwrap().unwrap();
                let expected = digits.parse::<u64>().unwrap_or(u64::MAX);
                prop_assert_eq!(wait, Duration::from_secs(expected));
            }
        }

        /// Work is linear: a 64 KiB value of digits is read in one pass.
        #[test]
        fn long_values_are_cheap() {
            let digits = "9".repeat(64 * 1024);
            let started = std::time::Instant::now();
            for _ in 0..100 {
                assert_eq!(
                    parse(digits.as_bytes(), SystemTime::now()).unwrap(),
                    Some(Duration::from_secs(u64::MAX))
                );
            }
            // Generous: 100 passes over 64 KiB take well under a millisecond
            // each, even in a debug build on a loaded machine.
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{:?}",
                started.elapsed()
            );
        }
    }
}
