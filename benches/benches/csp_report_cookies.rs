//! Per-report cost of `CspReportLayer` (parse, scrub and log one violation
//! report) and per-response cost of `SecureCookiesLayer` (three cookies).
//!
//! ```text
//! cargo bench -p hardening-benches --bench csp_report_cookies
//! ```
//!
//! No peer receives CSP reports or rewrites cookies (Helmet, tower-http and
//! the axum cookie crates leave both to each handler), so each group has the
//! bare inner service as its baseline, and the report group a hand-written
//! receiver (`serde_json::Value` + one `tracing` event of the raw fields,
//! unscrubbed) as the nearest thing a handler would do.
//!
//! The report group splits the cost three ways:
//! - with a JSON `tracing-subscriber` writing to `io::sink()`, like
//!   `secure_api`'s logs: everything, the subscriber's formatting included;
//! - with a subscriber that formats every field of the event into nothing
//!   (`FieldsOnly`): the layer's own work — parsing, scrubbing (done as the
//!   fields are formatted) and emitting the event;
//! - the JSON subscriber given the same event, already parsed: what the
//!   subscriber costs, whoever emits the event.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hardening_core::{ConnectionScheme, Scheme};
use hardening_headers::csp_report::CspReportLayer;
use hardening_headers::SecureCookiesLayer;
use hardening_testkit::FieldsOnly;
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tower::{Layer, Service};

const REPORT: &str = r#"{"csp-report":{"document-uri":"https://example.com/account/settings?session=abc123&tab=2","referrer":"https://example.com/","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"default-src 'none'; script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'; report-uri /csp-reports","disposition":"enforce","blocked-uri":"https://evil.example/x.js?k=1","line-number":12,"column-number":5,"source-file":"https://example.com/account/settings?session=abc123","status-code":200,"script-sample":""}}"#;

const REPORTING_API: &str = r#"[{"age":0,"body":{"blockedURL":"inline","columnNumber":5,"disposition":"enforce","documentURL":"https://example.com/account/settings?session=abc123&tab=2","effectiveDirective":"script-src-elem","lineNumber":12,"originalPolicy":"default-src 'none'; script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'; report-to csp","referrer":"https://example.com/","sample":"","sourceFile":"https://example.com/account/settings?session=abc123","statusCode":200},"type":"csp-violation","url":"https://example.com/account/settings?session=abc123&tab=2","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"}]"#;

fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(fut).poll(&mut cx)
}

#[derive(Clone)]
struct Empty;

impl<B> Service<Request<B>> for Empty {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        ready(Ok(Response::new(Full::default())))
    }
}

/// A handler that answers with three cookies, as a login response might.
#[derive(Clone)]
struct ThreeCookies;

impl Service<Request<()>> for ThreeCookies {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        let mut res = Response::new(());
        let h = res.headers_mut();
        h.append(
            SET_COOKIE,
            HeaderValue::from_static(
                "__Host-session=0123456789abcdef0123456789abcdef; Path=/; Max-Age=3600",
            ),
        );
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("csrf=f00dfeedbeef; Path=/"),
        );
        h.append(
            SET_COOKIE,
            HeaderValue::from_static("theme=dark; Max-Age=31536000; SameSite=Strict"),
        );
        ready(Ok(res))
    }
}

fn report_request(content_type: &'static str, body: &'static str) -> Request<Full<Bytes>> {
    Request::post("/csp-reports")
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

/// The hand-written receiver a handler would have: parse into a `Value`,
/// log the raw fields.
fn naive_receiver(body: &[u8]) -> u16 {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => {
            let r = &v["csp-report"];
            tracing::warn!(
                directive = r["effective-directive"].as_str(),
                blocked_uri = r["blocked-uri"].as_str(),
                document_uri = r["document-uri"].as_str(),
                "csp violation"
            );
            204
        }
        Err(_) => 400,
    }
}

fn json_subscriber() -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::sink)
        .finish()
}

fn bench_reports(c: &mut Criterion) {
    let layer = CspReportLayer::builder("/csp-reports").build().unwrap();
    let mut svc = layer.layer(Empty);
    let mut group = c.benchmark_group("headers/csp_report_per_report");
    group.throughput(Throughput::Elements(1));
    let mut layer_bench = |group: &mut criterion::BenchmarkGroup<'_, _>, name: &str, ct, body| {
        group.bench_function(name, |b| {
            b.iter(|| match poll_once(svc.call(report_request(ct, body))) {
                Poll::Ready(Ok(res)) => black_box(res.status()),
                _ => unreachable!("a full body is read in one poll"),
            })
        });
    };
    tracing::subscriber::with_default(json_subscriber(), || {
        tracing::callsite::rebuild_interest_cache();
        layer_bench(
            &mut group,
            "hardening CspReportLayer (parse, scrub, log JSON)",
            "application/csp-report",
            REPORT,
        );
        layer_bench(
            &mut group,
            "hardening CspReportLayer, Reporting API body (parse, scrub, log JSON)",
            "application/reports+json",
            REPORTING_API,
        );
        // the subscriber's share: the same event, values already parsed and scrubbed
        group.bench_function("JSON subscriber alone (the same event, pre-parsed)", |b| {
            b.iter(|| {
                black_box(report_request("application/csp-report", REPORT));
                tracing::warn!(
                    directive = %"script-src-elem",
                    blocked_uri = %"https://evil.example/x.js",
                    document_uri = %"https://example.com/account/settings",
                    disposition = %"enforce",
                    source_file = Some(tracing::field::display("https://example.com/account/settings")),
                    line = Some(12u64),
                    column = Some(5u64),
                    "content security policy violation"
                );
            })
        });
        group.bench_function(
            "hand-written serde_json::Value handler (unscrubbed, log JSON)",
            |b| {
                b.iter(|| {
                    let req = report_request("application/csp-report", REPORT);
                    let body = Bytes::from_static(REPORT.as_bytes());
                    black_box(req);
                    black_box(naive_receiver(&body))
                })
            },
        );
    });
    tracing::subscriber::with_default(FieldsOnly::default(), || {
        tracing::callsite::rebuild_interest_cache();
        layer_bench(
            &mut group,
            "hardening CspReportLayer (parse, scrub, event; fields formatted to nothing)",
            "application/csp-report",
            REPORT,
        );
        layer_bench(
            &mut group,
            "hardening CspReportLayer, Reporting API body (fields formatted to nothing)",
            "application/reports+json",
            REPORTING_API,
        );
    });
    tracing::callsite::rebuild_interest_cache();
    group.bench_function("bare inner service (request only)", |b| {
        let mut inner = Empty;
        b.iter(
            || match poll_once(inner.call(report_request("application/csp-report", REPORT))) {
                Poll::Ready(Ok(res)) => black_box(res.status()),
                _ => unreachable!(),
            },
        )
    });
    group.finish();
}

fn bench_cookies(c: &mut Criterion) {
    let https = || {
        let mut req = Request::get("/login").body(()).unwrap();
        req.extensions_mut().insert(ConnectionScheme(Scheme::Https));
        req
    };
    let mut svc = SecureCookiesLayer::builder()
        .http_only_exempt(["theme"])
        .build()
        .unwrap()
        .layer(ThreeCookies);
    let mut bare = ThreeCookies;
    let mut group = c.benchmark_group("headers/secure_cookies_per_response_3_cookies");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hardening SecureCookiesLayer", |b| {
        b.iter(|| match poll_once(svc.call(https())) {
            Poll::Ready(Ok(res)) => black_box(res.headers().len()),
            _ => unreachable!(),
        })
    });
    group.bench_function("bare handler (cookies as set)", |b| {
        b.iter(|| match poll_once(bare.call(https())) {
            Poll::Ready(Ok(res)) => black_box(res.headers().len()),
            _ => unreachable!(),
        })
    });
    group.finish();
}

criterion_group!(benches, bench_reports, bench_cookies);
criterion_main!(benches);
