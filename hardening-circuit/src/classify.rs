//! Deciding whether a finished call counts as a success, a failure or
//! neither.
//!
//! A [`Classify`] sees the whole `Result<Response, Error>` of the inner
//! service. Closures `Fn(&Result<Res, E>) -> Outcome` implement it;
//! [`HttpClassifier`] (the default) and [`ErrorsAreFailures`] are ready-made.
//!
//! # Example
//!
//! ```
//! use hardening_circuit::{Classify, HttpClassifier, Outcome};
//!
//! let classify = HttpClassifier::new().on_429(Outcome::Failure);
//! let too_many = http::Response::builder().status(429).body(()).unwrap();
//! let not_found = http::Response::builder().status(404).body(()).unwrap();
//! assert_eq!(classify.classify(&Ok::<_, std::io::Error>(too_many)), Outcome::Failure);
//! assert_eq!(classify.classify(&Ok::<_, std::io::Error>(not_found)), Outcome::Success);
//!
//! // Any closure over the whole result:
//! let only_errors = |r: &Result<u32, String>| match r {
//!     Ok(_) => Outcome::Success,
//!     Err(e) if e == "cancelled" => Outcome::Ignored,
//!     Err(_) => Outcome::Failure,
//! };
//! assert_eq!(only_errors.classify(&Err("cancelled".to_string())), Outcome::Ignored);
//! ```

/// How a finished call counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The upstream did its job.
    Success,
    /// The upstream failed; counts toward tripping the breaker.
    Failure,
    /// Neither (e.g. a cancelled call): not counted at all. A half-open
    /// probe that ends ignored gives its permit back.
    Ignored,
}

/// Classifies the result of a call.
///
/// Implemented by closures `Fn(&Result<Res, E>) -> Outcome`.
pub trait Classify<Res, E> {
    /// How `result` counts.
    fn classify(&self, result: &Result<Res, E>) -> Outcome;
}

impl<F, Res, E> Classify<Res, E> for F
where
    F: Fn(&Result<Res, E>) -> Outcome,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        self(result)
    }
}

/// The default classifier for HTTP: errors and `5xx` responses are failures,
/// everything else (including `4xx`, which are the caller's fault) succeeds.
///
/// Two statuses are configurable because they say "overloaded" rather than
/// "broken": `429 Too Many Requests` (default: success, like other `4xx`) and
/// `503 Service Unavailable` (default: failure, like other `5xx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpClassifier {
    on_429: Outcome,
    on_503: Outcome,
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClassifier {
    /// Errors and 5xx fail; 4xx (429 included) succeed.
    pub const fn new() -> Self {
        Self {
            on_429: Outcome::Success,
            on_503: Outcome::Failure,
        }
    }

    /// How a `429 Too Many Requests` counts (default [`Outcome::Success`]).
    pub const fn on_429(mut self, outcome: Outcome) -> Self {
        self.on_429 = outcome;
        self
    }

    /// How a `503 Service Unavailable` counts (default [`Outcome::Failure`]).
    pub const fn on_503(mut self, outcome: Outcome) -> Self {
        self.on_503 = outcome;
        self
    }

    /// How a response with `status` counts.
    pub fn classify_status(&self, status: http::StatusCode) -> Outcome {
        match status.as_u16() {
            429 => self.on_429,
            503 => self.on_503,
            500..=599 => Outcome::Failure,
            _ => Outcome::Success,
        }
    }
}

impl<B, E> Classify<http::Response<B>, E> for HttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(resp) => self.classify_status(resp.status()),
            Err(_) => Outcome::Failure,
        }
    }
}

/// For any service: `Ok` is a success and `Err` a failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorsAreFailures;

impl<Res, E> Classify<Res, E> for ErrorsAreFailures {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Result<http::Response<()>, ()> {
        Ok(http::Response::builder().status(code).body(()).unwrap())
    }

    #[test]
    fn http_default_rules() {
        let c = HttpClassifier::new();
        assert_eq!(c.classify(&status(200)), Outcome::Success);
        assert_eq!(c.classify(&status(302)), Outcome::Success);
        assert_eq!(c.classify(&status(400)), Outcome::Success);
        assert_eq!(c.classify(&status(404)), Outcome::Success);
        assert_eq!(c.classify(&status(429)), Outcome::Success);
        assert_eq!(c.classify(&status(500)), Outcome::Failure);
        assert_eq!(c.classify(&status(502)), Outcome::Failure);
        assert_eq!(c.classify(&status(503)), Outcome::Failure);
        assert_eq!(c.classify(&status(504)), Outcome::Failure);
        assert_eq!(
            c.classify(&Err::<http::Response<()>, _>(())),
            Outcome::Failure
        );
    }

    #[test]
    fn http_429_and_503_are_configurable() {
        let c = HttpClassifier::new()
            .on_429(Outcome::Failure)
            .on_503(Outcome::Ignored);
        assert_eq!(c.classify(&status(429)), Outcome::Failure);
        assert_eq!(c.classify(&status(503)), Outcome::Ignored);
        assert_eq!(c.classify(&status(500)), Outcome::Failure);
    }

    #[test]
    fn errors_are_failures() {
        let c = ErrorsAreFailures;
        assert_eq!(c.classify(&Ok::<_, ()>(1)), Outcome::Success);
        assert_eq!(c.classify(&Err::<(), _>(1)), Outcome::Failure);
    }
}
