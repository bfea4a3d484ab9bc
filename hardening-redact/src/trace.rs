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
//!   then cut to [`DEFAULT_MAX_URI_LEN`] bytes (configurable with
//!   [`RedactedMakeSpan::max_uri_len`]) with a visible
//!   `...[truncated N bytes]` marker;
//! - `version`;
//! - `headers`, only when asked for ([`RedactedMakeSpan::record_headers`]
//!   or [`RedactedMakeSpan::safe_headers`]): only the allowlisted ones
//!   ([`DEFAULT_SAFE_HEADERS`] or your own), their values scanned as well.
//!   Off by default: span fields are printed on every line logged inside
//!   the span, so headers there would repeat on every line.
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
use std::fmt::{self, Write as _};
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

/// The longest URI a span records by default, in bytes (after redaction).
pub const DEFAULT_MAX_URI_LEN: usize = 2048;

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
    record_headers: bool,
    max_uri_len: usize,
}

impl RedactedMakeSpan {
    /// Spans named `request` at `INFO` with `method`, `uri` and `version`
    /// (no headers: see [`record_headers`](Self::record_headers)).
    pub fn new(redactor: Redactor) -> Self {
        RedactedMakeSpan {
            redactor,
            level: Level::INFO,
            safe_headers: Arc::new(DEFAULT_SAFE_HEADERS),
            record_headers: false,
            max_uri_len: DEFAULT_MAX_URI_LEN,
        }
    }

    /// The longest URI recorded, in bytes (default [`DEFAULT_MAX_URI_LEN`]).
    ///
    /// The whole URI is redacted first (in time linear in its length), and
    /// then the redacted text is cut at this length and
    /// `...[truncated N bytes]` appended, so a cut never splits a secret
    /// into a part that is no longer recognised. `0` records only the
    /// marker.
    pub fn max_uri_len(mut self, bytes: usize) -> Self {
        self.max_uri_len = bytes;
        self
    }

    /// The span level (default `INFO`).
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Whether the span records a `headers` field with the allowlisted
    /// headers ([`DEFAULT_SAFE_HEADERS`] unless set with
    /// [`safe_headers`](Self::safe_headers)); default `false`.
    ///
    /// Every line logged inside the span prints the span's fields, so the
    /// headers then repeat on every line of the request.
    pub fn record_headers(mut self, record: bool) -> Self {
        self.record_headers = record;
        self
    }

    /// Records exactly these headers (replacing the default allowlist);
    /// turns [`record_headers`](Self::record_headers) on.
    pub fn safe_headers(mut self, names: impl IntoIterator<Item = HeaderName>) -> Self {
        self.safe_headers = names.into_iter().collect();
        self.record_headers = true;
        self
    }

    /// The request target as the span records it: redacted, then cut to
    /// [`max_uri_len`](Self::max_uri_len).
    pub fn redacted_uri<'a, B>(&self, req: &'a Request<B>) -> Cow<'a, str> {
        let uri = req.uri();
        let redacted = match (uri.scheme(), uri.path_and_query()) {
            (None, Some(pq)) => self.redactor.redact_uri(pq.as_str()),
            _ => Cow::Owned(self.redactor.redact_uri(&uri.to_string()).into_owned()),
        };
        truncate(redacted, self.max_uri_len)
    }
}

/// Cuts `text` to at most `max` bytes (on a character boundary) and marks
/// the cut with `...[truncated N bytes]`.
fn truncate(text: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + 32);
    out.push_str(&text[..cut]);
    let _ = write!(out, "...[truncated {} bytes]", text.len() - cut);
    Cow::Owned(out)
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
                if self.record_headers {
                    tracing::span!(
                        $level,
                        "request",
                        method = %req.method(),
                        uri = %uri,
                        version = ?req.version(),
                        headers = ?headers,
                    )
                } else {
                    tracing::span!(
                        $level,
                        "request",
                        method = %req.method(),
                        uri = %uri,
                        version = ?req.version(),
                    )
                }
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
    fn long_uris_are_cut_with_a_marker() {
        let req = |u: &str| Request::get(u).body(()).unwrap();
        let long = format!("/a/{}", "b".repeat(5000));
        let make = RedactedMakeSpan::new(Redactor::default());
        let got = make.redacted_uri(&req(&long)).into_owned();
        assert_eq!(
            got.len(),
            DEFAULT_MAX_URI_LEN + "...[truncated 2955 bytes]".len()
        );
        assert!(got.starts_with("/a/bbb"));
        assert!(got.ends_with("...[truncated 2955 bytes]"), "{got}");

        // Redaction happens before the cut: a secret straddling the limit
        // is gone, not half-printed.
        let make = make.max_uri_len(20);
        let got = make
            .redacted_uri(&req("/cb?x=1&access_token=SECRETSECRETSECRET&y=2"))
            .into_owned();
        assert_eq!(got, "/cb?x=1&access_token...[truncated 15 bytes]");
        assert!(!got.contains("SECRET"));

        // At or under the limit nothing changes and nothing is copied.
        let make = RedactedMakeSpan::new(Redactor::default()).max_uri_len(6);
        assert!(matches!(
            make.redacted_uri(&req("/a?b=1")),
            Cow::Borrowed("/a?b=1")
        ));
        let make = make.max_uri_len(0);
        assert_eq!(make.redacted_uri(&req("/a?b=1")), "...[truncated 6 bytes]");
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

    #[test]
    fn headers_only_when_asked() {
        use std::sync::{Arc, Mutex};
        use tower_http::trace::MakeSpan;

        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let run = |mut make: RedactedMakeSpan| {
            let sink = Sink::default();
            let w = sink.clone();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_writer(move || w.clone())
                .finish();
            tracing::subscriber::with_default(subscriber, || {
                let req = Request::get("/a")
                    .header(header::USER_AGENT, "agent-x/1")
                    .body(())
                    .unwrap();
                let _e = make.make_span(&req).entered();
                tracing::info!("inside");
            });
            let v = sink.0.lock().unwrap().clone();
            String::from_utf8(v).unwrap()
        };
        let r = Redactor::default();
        let off = run(RedactedMakeSpan::new(r.clone()));
        assert!(
            off.contains(r#""uri":"/a""#) && !off.contains("agent-x"),
            "{off}"
        );
        let on = run(RedactedMakeSpan::new(r.clone()).record_headers(true));
        assert!(on.contains("agent-x/1"), "{on}");
        let own = run(RedactedMakeSpan::new(r).safe_headers([header::HOST]));
        assert!(own.contains("headers") && !own.contains("agent-x"), "{own}");
    }
}
