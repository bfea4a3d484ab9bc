//! What is retried: which requests may be retried at all, and which outcomes
//! of an attempt call for another one.

use std::error::Error;
use std::fmt;

use http::header::HeaderName;
use http::{HeaderMap, Method, StatusCode, Uri};

use crate::CircuitOpen;

/// The `Idempotency-Key` request header (IETF draft
/// `draft-ietf-httpapi-idempotency-key-header`).
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// What a classifier decides about one attempt's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Worth another attempt (if attempts, budget and deadline allow).
    Retry,
    /// Final: hand this outcome to the caller.
    Return,
}

/// The outcome of one attempt, as a classifier sees it: the response head or
/// the error.
#[derive(Clone, Copy, Debug)]
pub enum AttemptOutcome<'a> {
    /// The upstream answered.
    Response {
        /// The response status.
        status: StatusCode,
        /// The response headers.
        headers: &'a HeaderMap,
    },
    /// The attempt failed without a response (connection error, timeout, ...).
    Error(&'a (dyn Error + Send + Sync + 'static)),
}

/// Decides whether an attempt's outcome is worth a retry.
///
/// Closures `Fn(AttemptOutcome<'_>) -> Decision` implement it:
///
/// ```
/// use hardening_circuit::retry::{AttemptOutcome, Decision, RetryLayer};
///
/// // Retry errors and 503 only.
/// let layer = RetryLayer::builder()
///     .classify(|outcome: AttemptOutcome<'_>| match outcome {
///         AttemptOutcome::Response { status, .. } if status == 503 => Decision::Retry,
///         AttemptOutcome::Response { .. } => Decision::Return,
///         AttemptOutcome::Error(_) => Decision::Retry,
///     })
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
///
/// Whatever the classifier says, the layer never retries a [`CircuitOpen`]
/// error (found with [`CircuitOpen::find`], so errors that return it from
/// `source()` count too) nor a response carrying the overload marker header.
pub trait Classify: Send + Sync + 'static {
    /// The decision for one attempt.
    fn classify(&self, outcome: AttemptOutcome<'_>) -> Decision;
}

impl<F> Classify for F
where
    F: Fn(AttemptOutcome<'_>) -> Decision + Send + Sync + 'static,
{
    fn classify(&self, outcome: AttemptOutcome<'_>) -> Decision {
        self(outcome)
    }
}

/// The default classifier: every error (connection errors, timeouts) and the
/// statuses 408, 429, 502, 503 and 504 are retried; everything else is
/// returned.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use hardening_circuit::retry::{AttemptOutcome, Classify, DefaultClassifier, Decision};
///
/// let headers = HeaderMap::new();
/// let classify = DefaultClassifier::new();
/// let outcome = |status| AttemptOutcome::Response { status, headers: &headers };
/// assert_eq!(classify.classify(outcome(StatusCode::SERVICE_UNAVAILABLE)), Decision::Retry);
/// assert_eq!(classify.classify(outcome(StatusCode::INTERNAL_SERVER_ERROR)), Decision::Return);
///
/// let with_500 = DefaultClassifier::with_statuses([StatusCode::INTERNAL_SERVER_ERROR]);
/// assert_eq!(with_500.classify(outcome(StatusCode::INTERNAL_SERVER_ERROR)), Decision::Retry);
/// assert_eq!(with_500.classify(outcome(StatusCode::SERVICE_UNAVAILABLE)), Decision::Return);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultClassifier {
    /// Bit `s - 400` set for each retried status `s` in `400..528`.
    statuses: u128,
    retry_errors: bool,
}

impl Default for DefaultClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl DefaultClassifier {
    /// Retries errors and 408, 429, 502, 503, 504.
    pub fn new() -> Self {
        Self::with_statuses([
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::GATEWAY_TIMEOUT,
        ])
    }

    /// Retries errors and exactly the given statuses. Only statuses from 400
    /// to 527 can be retried; others are ignored.
    pub fn with_statuses(statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        let mut bits = 0u128;
        for status in statuses {
            if let Some(bit) = status_bit(status) {
                bits |= bit;
            }
        }
        Self {
            statuses: bits,
            retry_errors: true,
        }
    }

    /// Whether errors are retried (default `true`).
    pub fn retry_errors(mut self, retry: bool) -> Self {
        self.retry_errors = retry;
        self
    }

    #[inline]
    pub(crate) fn retries_status(&self, status: StatusCode) -> bool {
        status_bit(status).is_some_and(|bit| self.statuses & bit != 0)
    }
}

#[inline]
fn status_bit(status: StatusCode) -> Option<u128> {
    let offset = status.as_u16().checked_sub(400)?;
    1u128.checked_shl(u32::from(offset))
}

impl Classify for DefaultClassifier {
    #[inline]
    fn classify(&self, outcome: AttemptOutcome<'_>) -> Decision {
        let retry = match outcome {
            AttemptOutcome::Response { status, .. } => self.retries_status(status),
            AttemptOutcome::Error(_) => self.retry_errors,
        };
        if retry {
            Decision::Retry
        } else {
            Decision::Return
        }
    }
}

/// Decides, before the first attempt, whether a request may be retried at
/// all. A request that may not is sent once and costs no copy.
///
/// Closures `Fn(&Method, &Uri, &HeaderMap) -> bool` implement it:
///
/// ```
/// use http::{HeaderMap, Method, Uri};
/// use hardening_circuit::retry::RetryLayer;
///
/// // Also retry POSTs to the (side-effect free) search endpoint.
/// let layer = RetryLayer::builder()
///     .retryable_requests(|method: &Method, uri: &Uri, _headers: &HeaderMap| {
///         method.is_idempotent() || uri.path() == "/search"
///     })
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
pub trait RetryableRequest: Send + Sync + 'static {
    /// Whether a request with this head may be sent more than once.
    fn is_retryable(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool;
}

impl<F> RetryableRequest for F
where
    F: Fn(&Method, &Uri, &HeaderMap) -> bool + Send + Sync + 'static,
{
    fn is_retryable(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
        self(method, uri, headers)
    }
}

/// The default request rule: idempotent methods (GET, HEAD, OPTIONS, PUT,
/// DELETE, TRACE, per RFC 9110 §9.2.2) and any request carrying an
/// [`Idempotency-Key`](IDEMPOTENCY_KEY) header.
///
/// # Example
///
/// ```
/// use http::{HeaderMap, HeaderValue, Method, Uri};
/// use hardening_circuit::retry::{IdempotentRequests, RetryableRequest, IDEMPOTENCY_KEY};
///
/// let uri = Uri::from_static("/orders");
/// let mut headers = HeaderMap::new();
/// assert!(IdempotentRequests.is_retryable(&Method::PUT, &uri, &headers));
/// assert!(!IdempotentRequests.is_retryable(&Method::POST, &uri, &headers));
/// headers.insert(IDEMPOTENCY_KEY, HeaderValue::from_static("order-8e1f"));
/// assert!(IdempotentRequests.is_retryable(&Method::POST, &uri, &headers));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdempotentRequests;

impl RetryableRequest for IdempotentRequests {
    #[inline]
    fn is_retryable(&self, method: &Method, _uri: &Uri, headers: &HeaderMap) -> bool {
        method.is_idempotent() || headers.contains_key(IDEMPOTENCY_KEY)
    }
}

/// Whether `err` is, or wraps somewhere in its source chain, the circuit
/// breaker's [`CircuitOpen`] rejection, which is never retried.
pub(crate) fn is_circuit_open(err: &(dyn Error + 'static)) -> bool {
    CircuitOpen::find(err).is_some()
}

/// The classifier actually configured: the default is kept concrete so the
/// success path inlines it.
pub(crate) enum Classifier {
    Default(DefaultClassifier),
    Custom(Box<dyn Classify>),
}

impl Classifier {
    #[inline]
    pub(crate) fn classify(&self, outcome: AttemptOutcome<'_>) -> Decision {
        match self {
            Classifier::Default(c) => c.classify(outcome),
            Classifier::Custom(c) => c.classify(outcome),
        }
    }

    /// Cheap pre-check on a response status: `true` when the default
    /// classifier would return it without looking further.
    #[inline]
    pub(crate) fn surely_returns_status(&self, status: StatusCode) -> bool {
        match self {
            Classifier::Default(c) => !c.retries_status(status),
            Classifier::Custom(_) => false,
        }
    }
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Classifier::Default(c) => c.fmt(f),
            Classifier::Custom(_) => f.write_str("Classify"),
        }
    }
}

/// The request rule actually configured.
pub(crate) enum RequestRule {
    Idempotent,
    Custom(Box<dyn RetryableRequest>),
}

impl RequestRule {
    #[inline]
    pub(crate) fn is_retryable(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
        match self {
            RequestRule::Idempotent => IdempotentRequests.is_retryable(method, uri, headers),
            RequestRule::Custom(rule) => rule.is_retryable(method, uri, headers),
        }
    }
}

impl fmt::Debug for RequestRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestRule::Idempotent => f.write_str("IdempotentRequests"),
            RequestRule::Custom(_) => f.write_str("RetryableRequest"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn response(status: u16) -> Decision {
        let headers = HeaderMap::new();
        DefaultClassifier::new().classify(AttemptOutcome::Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: &headers,
        })
    }

    #[test]
    fn default_statuses() {
        for s in [408, 429, 502, 503, 504] {
            assert_eq!(response(s), Decision::Retry, "{s}");
        }
        for s in [
            200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 500, 501, 505, 599,
        ] {
            assert_eq!(response(s), Decision::Return, "{s}");
        }
    }

    #[test]
    fn errors_are_retried_unless_disabled() {
        let err: crate::BoxError = Box::new(std::io::Error::other("connection reset"));
        let outcome = AttemptOutcome::Error(&*err);
        assert_eq!(DefaultClassifier::new().classify(outcome), Decision::Retry);
        assert_eq!(
            DefaultClassifier::new()
                .retry_errors(false)
                .classify(outcome),
            Decision::Return
        );
    }

    #[test]
    fn statuses_outside_the_bitmap_are_ignored() {
        let c = DefaultClassifier::with_statuses([
            StatusCode::from_u16(599).unwrap(),
            StatusCode::OK,
            StatusCode::from_u16(527).unwrap(),
        ]);
        assert!(c.retries_status(StatusCode::from_u16(527).unwrap()));
        assert!(!c.retries_status(StatusCode::from_u16(599).unwrap()));
        assert!(!c.retries_status(StatusCode::OK));
    }

    #[test]
    fn idempotent_methods_and_idempotency_key() {
        let uri = Uri::from_static("/");
        let empty = HeaderMap::new();
        for m in ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert!(IdempotentRequests.is_retryable(&m, &uri, &empty), "{m}");
        }
        for m in ["POST", "PATCH", "CONNECT", "PURGE"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert!(!IdempotentRequests.is_retryable(&m, &uri, &empty), "{m}");
        }
        let mut keyed = HeaderMap::new();
        keyed.insert("Idempotency-Key", "abc".parse().unwrap());
        assert!(IdempotentRequests.is_retryable(&Method::POST, &uri, &keyed));
        assert!(IdempotentRequests.is_retryable(&Method::PATCH, &uri, &keyed));
    }

    #[derive(Debug)]
    struct Wrapper(Option<Box<dyn Error + Send + Sync>>);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("wrapper")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.0.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn circuit_open_is_found_in_the_source_chain() {
        let open = CircuitOpen {
            retry_after: Duration::from_secs(1),
        };
        let boxed: crate::BoxError = Box::new(open);
        assert!(is_circuit_open(&*boxed));
        let nested = Wrapper(Some(Box::new(Wrapper(Some(Box::new(open))))));
        assert!(is_circuit_open(&nested));
        assert!(!is_circuit_open(&Wrapper(None)));
        assert!(!is_circuit_open(&Wrapper(Some(Box::new(
            std::io::Error::other("x")
        )))));
    }
}
