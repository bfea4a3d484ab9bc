//! A receiver for Content-Security-Policy violation reports:
//! [`CspReportLayer`] answers `POST`s at one path and logs each violation as
//! one structured `tracing` event.
//!
//! It accepts both ways browsers send reports:
//!
//! - `application/csp-report`: one `{"csp-report": {...}}` per request, for
//!   the `report-uri` directive (Firefox and Safari; Chrome too when
//!   `report-to` is absent);
//! - `application/reports+json`: the Reporting API's array of reports, for
//!   `report-to` with a `Reporting-Endpoints` header (Chrome, Edge). Reports
//!   of other types in the array (deprecations, interventions) are skipped.
//!
//! Each violation is logged at `WARN` with the message
//! `content security policy violation` and the fields `directive`,
//! `blocked_uri`, `document_uri`, `disposition`, and `source_file`, `line`,
//! `column` when known. URIs are **scrubbed**: query string, fragment and
//! `user:password@` removed (they carry session ids, tokens, e-mail
//! addresses), control characters replaced, each field cut to
//! [`MAX_FIELD_LEN`] bytes. Code samples and the policy text are not logged.
//!
//! Answers: `204` when the body was logged; `400` for a body that is not a
//! report — **without logging any of it** (a `DEBUG` event gives the reason
//! and size only), and a body with one bad report is refused whole; `413`
//! for a body over the limit (64 KiB by default, declared or streamed); `415`
//! for another content type; `405` for a method other than `POST`.
//!
//! Reports come from anyone who can load your pages, so rate-limit the path
//! per client (in `secure_api`, `hardening-ratelimit` on the report path).
//!
//! # Example
//!
//! ```
//! use http::{header::CONTENT_TYPE, Request, Response, StatusCode};
//! use hardening_headers::csp_report::CspReportLayer;
//! use http_body_util::Full;
//! use bytes::Bytes;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let app = ServiceBuilder::new()
//!     .layer(CspReportLayer::builder("/csp-reports").build().unwrap())
//!     .service(service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
//!     }));
//!
//! let report = r#"{"csp-report":{"document-uri":"https://example.com/?token=x",
//!     "effective-directive":"script-src-elem","blocked-uri":"inline"}}"#;
//! let req = Request::post("/csp-reports")
//!     .header(CONTENT_TYPE, "application/csp-report")
//!     .body(Full::new(Bytes::from(report)))
//!     .unwrap();
//! // logged as directive=script-src-elem blocked_uri=inline document_uri=https://example.com/
//! assert_eq!(app.clone().oneshot(req).await.unwrap().status(), StatusCode::NO_CONTENT);
//!
//! let junk = Request::post("/csp-reports")
//!     .header(CONTENT_TYPE, "application/csp-report")
//!     .body(Full::new(Bytes::from("<script>not a report</script>")))
//!     .unwrap();
//! assert_eq!(app.clone().oneshot(junk).await.unwrap().status(), StatusCode::BAD_REQUEST);
//!
//! // every other request reaches the inner service
//! let page = Request::get("/").body(Full::default()).unwrap();
//! assert_eq!(app.oneshot(page).await.unwrap().status(), StatusCode::OK);
//! # }
//! ```

mod json;
mod layer;
mod parse;
mod scrub;
mod service;

pub use layer::{CspReportBuilder, CspReportLayer, DEFAULT_MAX_BODY};
pub use scrub::{scrub_uri, MAX_FIELD_LEN};
pub use service::{CspReport, ResponseFuture};

use parse::Violation;
use scrub::{Scrubbed, MAX_DISPOSITION_LEN};

/// Logs one violation: the crate's one `tracing` event per report. The
/// fields are scrubbed as the subscriber formats them, with no copy.
fn log(v: &Violation<'_>) {
    tracing::warn!(
        directive = %v.directive,
        blocked_uri = %Scrubbed::uri(&v.blocked),
        document_uri = %Scrubbed::uri(&v.document),
        disposition = %Scrubbed::text(&v.disposition, MAX_DISPOSITION_LEN),
        source_file = v.source_file.as_deref().map(Scrubbed::uri).map(tracing::field::display),
        line = v.line,
        column = v.column,
        "content security policy violation"
    );
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
    use http::{Request, Response, StatusCode};
    use http_body_util::{Full, StreamBody};
    use proptest::prelude::*;
    use tower::{service_fn, Layer, ServiceExt};

    use super::*;
    use crate::ConfigError;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn layer() -> CspReportLayer {
        CspReportLayer::builder("/csp-reports")
            .max_body_bytes(1024)
            .build()
            .unwrap()
    }

    async fn send<B>(layer: &CspReportLayer, req: Request<B>) -> StatusCode
    where
        B: http_body::Body + Send + 'static,
    {
        let svc = layer.layer(service_fn(|_req: Request<B>| async {
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }));
        svc.oneshot(req).await.unwrap().status()
    }

    fn post(content_type: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
        Request::post("/csp-reports")
            .header(CONTENT_TYPE, content_type)
            .body(Full::new(body.into()))
            .unwrap()
    }

    /// Runs `f` with a capturing subscriber; returns what it logged.
    fn logs_of(f: impl FnOnce(&tokio::runtime::Runtime)) -> String {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::TRACE)
            .finish();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            // a callsite registered concurrently by a parallel test must not miss it
            tracing::callsite::rebuild_interest_cache();
            f(&rt)
        });
        let out = capture.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }

    const REPORT: &str = r#"{"csp-report":{"document-uri":"https://example.com/a?session=SECRET1","effective-directive":"script-src-elem","blocked-uri":"https://evil.example/x.js?k=SECRET2","disposition":"enforce","script-sample":"SECRET3"}}"#;

    #[test]
    fn each_report_is_one_scrubbed_event() {
        let logs = logs_of(|rt| {
            rt.block_on(async {
                assert_eq!(send(&layer(), post("application/csp-report", REPORT)).await, StatusCode::NO_CONTENT);
                let two = r#"[{"type":"csp-violation","body":{"documentURL":"https://example.com/b?t=SECRET4","effectiveDirective":"img-src","blockedURL":"data"}},
                              {"type":"csp-violation","body":{"documentURL":"https://example.com/c","effectiveDirective":"style-src-elem","blockedURL":"inline"}}]"#;
                assert_eq!(send(&layer(), post("application/reports+json", two)).await, StatusCode::NO_CONTENT);
            })
        });
        assert_eq!(
            logs.matches("content security policy violation").count(),
            3,
            "{logs}"
        );
        assert!(logs.contains("directive=script-src-elem blocked_uri=https://evil.example/x.js document_uri=https://example.com/a disposition=enforce"), "{logs}");
        assert!(
            logs.contains("directive=img-src blocked_uri=data document_uri=https://example.com/b"),
            "{logs}"
        );
        assert!(logs.contains("directive=style-src-elem"), "{logs}");
        assert!(
            !logs.contains("SECRET"),
            "query strings and samples are never logged: {logs}"
        );
    }

    #[test]
    fn refused_requests_log_nothing_of_the_body() {
        let logs = logs_of(|rt| {
            rt.block_on(async {
                let l = layer();
                let bad = r#"{"csp-report":{"document-uri":"https://x/?SECRET","effective-directive":"NOT A DIRECTIVE"}}"#;
                assert_eq!(send(&l, post("application/csp-report", bad)).await, StatusCode::BAD_REQUEST);
                assert_eq!(send(&l, post("application/csp-report", "SECRET not json")).await, StatusCode::BAD_REQUEST);
                assert_eq!(send(&l, post("text/plain", REPORT)).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
                let big = format!("{REPORT}{}", " ".repeat(1024));
                assert_eq!(send(&l, post("application/csp-report", big)).await, StatusCode::PAYLOAD_TOO_LARGE);
                // a streamed body over the limit, without Content-Length
                let chunks = (0..8).map(|_| Ok::<_, Infallible>(http_body::Frame::data(Bytes::from(vec![b' '; 200]))));
                let streamed = Request::post("/csp-reports")
                    .header(CONTENT_TYPE, "application/csp-report")
                    .body(StreamBody::new(futures_util::stream::iter(chunks)))
                    .unwrap();
                assert_eq!(send(&l, streamed).await, StatusCode::PAYLOAD_TOO_LARGE);
                let declared = Request::post("/csp-reports")
                    .header(CONTENT_TYPE, "application/csp-report")
                    .header(CONTENT_LENGTH, "1000000")
                    .body(Full::new(Bytes::from(REPORT)))
                    .unwrap();
                assert_eq!(send(&l, declared).await, StatusCode::PAYLOAD_TOO_LARGE);
            })
        });
        assert!(!logs.contains("SECRET"), "{logs}");
        assert!(
            !logs.contains("content security policy violation"),
            "{logs}"
        );
        assert_eq!(
            logs.matches("malformed csp report refused").count(),
            2,
            "{logs}"
        );
    }

    #[tokio::test]
    async fn other_methods_and_paths() {
        let l = layer();
        let svc = l.layer(service_fn(|_req: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
        }));
        let res = svc
            .clone()
            .oneshot(Request::get("/csp-reports").body(Full::default()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[ALLOW], "POST");
        for path in ["/", "/csp-reports/x", "/csp-report"] {
            let req = Request::post(path)
                .header(CONTENT_TYPE, "application/csp-report")
                .body(Full::default())
                .unwrap();
            assert_eq!(
                svc.clone().oneshot(req).await.unwrap().status(),
                StatusCode::OK,
                "{path}"
            );
        }
    }

    #[test]
    fn invalid_configuration_is_refused() {
        for bad in ["csp-reports", "//evil", "/a?b", "/a b", ""] {
            assert_eq!(
                CspReportLayer::builder(bad).build().unwrap_err(),
                ConfigError::InvalidPath { path: bad.into() }
            );
        }
        assert_eq!(
            CspReportLayer::builder("/r")
                .max_body_bytes(0)
                .build()
                .unwrap_err(),
            ConfigError::InvalidReportBodyLimit
        );
        assert_eq!(CspReportLayer::builder("/r").build().unwrap().path(), "/r");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the body, the answer is 204 or 400 (never a panic), and a
        /// refused body leaves no trace of its bytes in the logs.
        #[test]
        fn arbitrary_bodies_are_never_logged_raw(
            body in proptest::collection::vec(any::<u8>(), 0..400),
            content_type in proptest::sample::select(vec!["application/csp-report", "application/reports+json", "application/json"]),
        ) {
            let mut marked = b"MARKER".to_vec();
            marked.extend_from_slice(&body);
            let mut status = StatusCode::OK;
            let logs = logs_of(|rt| {
                status = rt.block_on(send(&layer(), post(content_type, marked)));
            });
            prop_assert!(status == StatusCode::NO_CONTENT || status == StatusCode::BAD_REQUEST);
            if status == StatusCode::BAD_REQUEST {
                prop_assert!(!logs.contains("MARKER"), "{}", logs);
                prop_assert!(!logs.contains("content security policy violation"), "{}", logs);
            }
        }
    }
}
