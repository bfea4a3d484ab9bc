//! The `/metrics` endpoint: a [`Registry`] rendered as OpenMetrics 1.0.0 or
//! Prometheus text 0.0.4, whichever the scraper's `Accept` prefers.
//!
//! Both renderings come from `prometheus_client` itself
//! ([`encoding::text`](prometheus_client::encoding::text) and
//! [`encoding::prometheus_text`](prometheus_client::encoding::prometheus_text)),
//! so the 0.0.4 output is the library's own conversion (no `# EOF`, no
//! `# UNIT`, counters named with `_total`, no exemplars), not a rewrite of
//! the OpenMetrics text.
//!
//! Prometheus asks for OpenMetrics first; `curl` and anything that sends no
//! `Accept` (or `*/*`) gets Prometheus text, as Go's client library does.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use hardening_metrics::exposition::{Format, MetricsService};
//! use http::{header, Request};
//! use prometheus_client::{metrics::counter::Counter, registry::Registry};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mut registry = Registry::default();
//! let jobs = Counter::<u64>::default();
//! registry.register("jobs", "Jobs done", jobs.clone());
//! jobs.inc();
//! let metrics = MetricsService::new(Arc::new(registry));
//!
//! let req = Request::get("/metrics")
//!     .header(header::ACCEPT, "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3")
//!     .body(())
//!     .unwrap();
//! let res = metrics.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.headers()[header::CONTENT_TYPE], Format::OpenMetrics.content_type());
//!
//! let res = metrics.oneshot(Request::get("/metrics").body(()).unwrap()).await.unwrap();
//! assert_eq!(res.headers()[header::CONTENT_TYPE], "text/plain; version=0.0.4; charset=utf-8");
//! # }
//! ```

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use prometheus_client::registry::Registry;
use tower_service::Service;

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// OpenMetrics text 1.0.0, ending in `# EOF`.
    OpenMetrics,
    /// Prometheus text format 0.0.4.
    PrometheusText,
}

/// The most `Accept` entries looked at; the rest are ignored, so the work
/// per scrape is bounded whatever a client sends.
const MAX_ACCEPT_ENTRIES: usize = 32;

impl Format {
    /// The `Content-Type` of this format.
    pub const fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format to answer a request with these headers: the supported
    /// media type with the highest `q` in `Accept` (OpenMetrics on a tie),
    /// and Prometheus text when `Accept` is missing, `*/*` or names nothing
    /// supported.
    pub fn negotiate(headers: &HeaderMap) -> Format {
        let mut best: Option<(u16, Format)> = None;
        let mut seen = 0;
        for value in headers.get_all(header::ACCEPT) {
            for entry in value.as_bytes().split(|&b| b == b',') {
                if seen == MAX_ACCEPT_ENTRIES {
                    break;
                }
                seen += 1;
                if let Some((q, format)) = parse_entry(entry) {
                    let better = match best {
                        None => q > 0,
                        Some((best_q, best_format)) => {
                            q > best_q
                                || (q == best_q
                                    && format == Format::OpenMetrics
                                    && best_format != Format::OpenMetrics)
                        }
                    };
                    if better {
                        best = Some((q, format));
                    }
                }
            }
        }
        match best {
            Some((q, format)) if q > 0 => format,
            _ => Format::PrometheusText,
        }
    }
}

/// One `Accept` entry: its quality (in thousandths) and the format it
/// selects, or `None` when it names nothing supported.
fn parse_entry(entry: &[u8]) -> Option<(u16, Format)> {
    let entry = std::str::from_utf8(entry).ok()?;
    let mut parts = entry.split(';');
    let media = parts.next()?.trim();
    let mut version = None;
    let mut q = 1000;
    for param in parts {
        let (name, value) = param.split_once('=')?;
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "q" => q = parse_q(value)?,
            "version" => version = Some(value),
            _ => {}
        }
    }
    let format = if media.eq_ignore_ascii_case("application/openmetrics-text") {
        match version {
            None | Some("1.0.0") => Format::OpenMetrics,
            _ => return None,
        }
    } else if media.eq_ignore_ascii_case("text/plain") {
        match version {
            None | Some("0.0.4") => Format::PrometheusText,
            _ => return None,
        }
    } else if media == "*/*" || media.eq_ignore_ascii_case("text/*") {
        Format::PrometheusText
    } else if media.eq_ignore_ascii_case("application/*") {
        Format::OpenMetrics
    } else {
        return None;
    };
    Some((q, format))
}

/// An RFC 9110 qvalue in thousandths: `0`, `0.5`, `1.000`.
fn parse_q(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value = frac
        .bytes()
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'))
        * 10u16.pow(3 - frac.len() as u32);
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

/// Renders `registry` in `format`.
///
/// # Errors
///
/// Only when a custom collector in the registry fails to encode.
pub fn render(registry: &Registry, format: Format) -> Result<String, std::fmt::Error> {
    let mut text = String::with_capacity(4096);
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, registry)?,
        Format::PrometheusText => {
            prometheus_client::encoding::prometheus_text::encode(&mut text, registry)?
        }
    }
    Ok(text)
}

/// Serves a [`Registry`] on `GET` and `HEAD`, negotiating the [`Format`];
/// other methods get `405 Method Not Allowed`.
///
/// Mount it where only operators reach it (an admin listener), not on the
/// public router. With axum: `Router::new().route_service("/metrics", svc)`.
///
/// # Clone
///
/// Clones share the registry.
#[derive(Clone, Debug)]
pub struct MetricsService {
    registry: Arc<Registry>,
}

impl MetricsService {
    /// Serves `registry`. Register every metric before: a registry behind
    /// an `Arc` can no longer be changed.
    pub fn new(registry: Arc<Registry>) -> Self {
        Self { registry }
    }

    /// The registry served.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The response to a request with this method and these headers.
    pub fn respond(&self, method: &Method, headers: &HeaderMap) -> Response<Full<Bytes>> {
        if method != Method::GET && method != Method::HEAD {
            let mut res = Response::new(Full::default());
            *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return res;
        }
        let format = Format::negotiate(headers);
        let Ok(text) = render(&self.registry, format) else {
            let mut res = Response::new(Full::from("metrics could not be encoded\n"));
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return res;
        };
        let len = text.len();
        let body = if method == Method::HEAD {
            Full::default()
        } else {
            Full::new(Bytes::from(text))
        };
        let mut res = Response::new(body);
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    }
}

impl<B> Service<Request<B>> for MetricsService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        ready(Ok(self.respond(req.method(), req.headers())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::registry::Unit;
    use proptest::prelude::*;

    fn accept(value: &str) -> Format {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        Format::negotiate(&headers)
    }

    #[test]
    fn prometheus_scrape_accept_headers() {
        // Prometheus 2.x's default scrape_protocols.
        assert_eq!(
            accept("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
            Format::OpenMetrics
        );
        // Older Prometheus, OpenMetrics 0.0.1 only: we do not render it.
        assert_eq!(
            accept("application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
            Format::PrometheusText
        );
        assert_eq!(
            accept("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
            Format::PrometheusText
        );
        assert_eq!(Format::negotiate(&HeaderMap::new()), Format::PrometheusText);
        assert_eq!(accept("*/*"), Format::PrometheusText);
        assert_eq!(accept("application/json"), Format::PrometheusText);
        assert_eq!(
            accept("application/openmetrics-text;q=0"),
            Format::PrometheusText
        );
        assert_eq!(
            accept("text/plain, application/openmetrics-text"),
            Format::OpenMetrics
        );
        assert_eq!(accept("APPLICATION/OpenMetrics-Text"), Format::OpenMetrics);
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.5555"), None);
        assert_eq!(parse_q("-1"), None);
        assert_eq!(parse_q(""), None);
    }

    fn registry() -> Registry {
        let mut registry = Registry::default();
        let counter = Counter::<u64>::default();
        registry.register("hardening_test_decisions", "Decisions", counter.clone());
        counter.inc_by(3);
        let histogram = Histogram::new([0.1, 1.0]);
        registry.register_with_unit(
            "hardening_test_wait",
            "Wait",
            Unit::Seconds,
            histogram.clone(),
        );
        histogram.observe(0.5);
        registry
    }

    #[test]
    fn the_two_formats() {
        let registry = registry();
        let om = render(&registry, Format::OpenMetrics).unwrap();
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains("# TYPE hardening_test_decisions counter\n"));
        assert!(om.contains("hardening_test_decisions_total 3\n"));
        assert!(om.contains("# UNIT hardening_test_wait_seconds seconds\n"));

        let text = render(&registry, Format::PrometheusText).unwrap();
        assert!(!text.contains("# EOF"));
        assert!(!text.contains("# UNIT"));
        // 0.0.4 names the counter family with its `_total` sample name.
        assert!(text.contains("# TYPE hardening_test_decisions_total counter\n"));
        assert!(text.contains("hardening_test_decisions_total 3\n"));
        assert!(
            text.contains("hardening_test_wait_seconds_bucket{le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            om.contains("hardening_test_wait_seconds_bucket{le=\"1.0\"} 1\n"),
            "{om}"
        );
    }

    #[tokio::test]
    async fn service_negotiates_and_refuses_other_methods() {
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        let svc = MetricsService::new(Arc::new(registry()));
        let req = Request::get("/metrics")
            .header(
                header::ACCEPT,
                "application/openmetrics-text; version=1.0.0",
            )
            .body(())
            .unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/openmetrics-text; version=1.0.0; charset=utf-8"
        );
        assert_eq!(res.headers()[header::VARY], "accept");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(body.ends_with(b"# EOF\n"));

        let res = svc
            .clone()
            .oneshot(Request::head("/metrics").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .is_empty());

        let res = svc
            .oneshot(Request::post("/metrics").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "GET, HEAD");
    }

    proptest! {
        // Any Accept bytes: no panic, one of the two formats, and the work
        // stops after MAX_ACCEPT_ENTRIES entries.
        #[test]
        fn negotiate_any_accept(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(value) = HeaderValue::from_bytes(&bytes) {
                let mut headers = HeaderMap::new();
                headers.insert(header::ACCEPT, value);
                let format = Format::negotiate(&headers);
                prop_assert!(matches!(format, Format::OpenMetrics | Format::PrometheusText));
            }
            let _ = parse_entry(&bytes);
        }

        // An OpenMetrics entry after MAX_ACCEPT_ENTRIES junk entries is not
        // looked at; within the limit it wins.
        #[test]
        fn entries_past_the_limit_are_ignored(junk in 0usize..64) {
            let value = format!("{}application/openmetrics-text", "x/y,".repeat(junk));
            let format = accept(&value);
            if junk < MAX_ACCEPT_ENTRIES {
                prop_assert_eq!(format, Format::OpenMetrics);
            } else {
                prop_assert_eq!(format, Format::PrometheusText);
            }
        }
    }
}
