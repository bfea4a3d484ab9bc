//! A [`MakeSpan`] for tower-http's [`TraceLayer`] that records a redacted URI
//! and only safe headers.
//!
//! tower-http's default span records the full URI (`?token=...` included)
//! and, at `DEBUG`, every header. [`RedactedMakeSpan`] records:
//!
//! - `method`;
//! - `uri`, through [`Redactor::redact_uri`]: sensitive query parameters
//!   masked (names matched after percent-decoding), URLs nested in
//!   parameter values decoded and scrubbed, tokens in the path removed;
//! - `version`;
//! - `headers`: only the allowlisted ones ([`DEFAULT_SAFE_HEADERS`] or your
//!   own), their values scanned as well.
//!
//! # Example
//!
//! ```
//! use hardening_redact::trace::RedactedMakeSpan;
//! use hardening_redact::Redactor;
//! use tower_http::trace::{MakeSpan, TraceLayer};
//!
//! let layer = TraceLayer::new_for_http().make_span_with(RedactedMakeSpan::new(Redactor::default()));
//! # let _ = layer;
//!
//! // What the span records:
//! let make = RedactedMakeSpan::new(Redactor::default());
//! let req = http::Request::get("/items?page=2&api_key=k123").body(()).unwrap();
//! assert_eq!(make.redacted_uri(&req), "/items?page=2&api_key=[REDACTED]");
//! ```
//!
//! [`MakeSpan`]: tower_http::trace::MakeSpan
//! [`TraceLayer`]: tower_http::trace::TraceLayer

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::header::{self, HeaderMap, HeaderName};
use http::Request;
use tracing::{Level, Span};

use crate::Redactor;

/// Headers recorded by default: none of them carries credentials.
pub const DEFAULT_SAFE_HEADERS: [HeaderName; 8] = [
    header::HOST,
    header::USER_AGENT,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::ACCEPT,
    header::ACCEPT_ENCODING,
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
];

/// Makes request spans with a redacted URI and allowlisted headers.
///
/// # Clone
///
/// Clones share the redactor and the allowlist.
#[derive(Debug, Clone)]
pub struct RedactedMakeSpan {
    redactor: Redactor,
    level: Level,
    safe_headers: Arc<[HeaderName]>,
}

impl RedactedMakeSpan {
    /// Spans named `request` at `INFO`, recording [`DEFAULT_SAFE_HEADERS`].
    pub fn new(redactor: Redactor) -> Self {
        RedactedMakeSpan {
            redactor,
            level: Level::INFO,
            safe_headers: Arc::new(DEFAULT_SAFE_HEADERS),
        }
    }

    /// The span level (default `INFO`).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Records exactly these headers (replacing the default allowlist).
    pub fn safe_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.safe_headers = names.into_iter().collect();
        self
    }

    /// The request target as the span records it.
    pub fn redacted_uri<'a, B>(&self, req: &'a Request<B>) -> Cow<'a, str> {
        let uri = req.uri();
        match (uri.scheme(), uri.path_and_query()) {
            (None, Some(pq)) => self.redactor.redact_uri(pq.as_str()),
            _ => Cow::Owned(self.redactor.redact_uri(&uri.to_string()).into_owned()),
        }
    }
}

/// `Debug`s as a map of the allowlisted headers, values scanned.
struct SafeHeaders<'a> {
    headers: &'a HeaderMap,
    allow: &'a [HeaderName],
    redactor: &'a Redactor,
}

impl fmt::Debug for SafeHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for name in self.allow {
            for value in self.headers.get_all(name) {
                match value.to_str() {
                    Ok(v) => map.entry(&name.as_str(), &self.redactor.redact(v)),
                    Err(_) => map.entry(&name.as_str(), &"<non-ascii>"),
                };
            }
        }
        map.finish()
    }
}

impl<B> tower_http::trace::MakeSpan<B> for RedactedMakeSpan {
    fn make_span(&mut self, req: &Request<B>) -> Span {
        let uri = self.redacted_uri(req);
        let headers = SafeHeaders {
            headers: req.headers(),
            allow: &self.safe_headers,
            redactor: &self.redactor,
        };
        macro_rules! make {
            ($level:expr) => {
                tracing::span!(
                    $level,
                    "request",
                    method = %req.method(),
                    uri = %uri,
                    version = ?req.version(),
                    headers = ?headers,
                )
            };
        }
        match self.level {
            Level::ERROR => make!(Level::ERROR),
            Level::WARN => make!(Level::WARN),
            Level::INFO => make!(Level::INFO),
            Level::DEBUG => make!(Level::DEBUG),
            _ => make!(Level::TRACE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_forms() {
        let make = RedactedMakeSpan::new(Redactor::default());
        let req = |u: &str| Request::get(u).body(()).unwrap();
        assert_eq!(make.redacted_uri(&req("/a?b=1")), "/a?b=1");
        assert!(matches!(
            make.redacted_uri(&req("/a?b=1")),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            make.redacted_uri(&req("http://h/cb?%74oken=abc&x=1")),
            "http://h/cb?%74oken=[REDACTED]&x=1"
        );
        assert_eq!(
            make.redacted_uri(&req("/r?next=%2Fcb%3Fpassword%3Dhunter2")),
            "/r?next=/cb%3Fpassword%3D[REDACTED]"
        );
        assert_eq!(
            make.redacted_uri(&req("/reset/ghp_16C7e42F292c6912E7710c838347Ae178B4a")),
            "/reset/[REDACTED]"
        );
    }

    #[test]
    fn safe_headers_only() {
        let r = Redactor::default();
        let mut h = HeaderMap::new();
        h.insert(header::USER_AGENT, "curl/8".parse().unwrap());
        h.insert(
            header::AUTHORIZATION,
            "Bearer abcdefgh12345678".parse().unwrap(),
        );
        h.insert(header::COOKIE, "sid=x".parse().unwrap());
        let s = format!(
            "{:?}",
            SafeHeaders {
                headers: &h,
                allow: &DEFAULT_SAFE_HEADERS,
                redactor: &r
            }
        );
        assert_eq!(s, r#"{"user-agent": "curl/8"}"#);
    }
}
