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
//! unscrubbed) as the nearest thing a handler would do. Logging goes to a JSON
//! `tracing-subscriber` writing to `io::sink()`, like `secure_api`'s logs.
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
use http::header::{CONTENT_TYPE, SET_COOKIE};
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use tower::{Layer, Service};

const REPORT: &str = r#"{"csp-report":{"document-uri":"https://example.com/account/settings?session=abc123&tab=2","referrer":"https://example.com/","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"default-src 'none'; script-src 'strict-dynamic' https: 'unsafe-inline' 'nonce-AAAAAAAAAAAAAAAAAAAAAAAA'; report-uri /csp-reports","disposition":"enforce","blocked-uri":"https://evil.example/x.js?k=1","line-number":12,"column-number":5,"source-file":"https://example.com/account/settings?session=abc123","status-code":200,"script-sample":""}}"#;

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

fn report_request() -> Request<Full<Bytes>> {
    Request::post("/csp-reports")
        .header(CONTENT_TYPE, "application/csp-report")
        .body(Full::new(Bytes::from_static(REPORT.as_bytes())))
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

fn bench_reports(c: &mut Criterion) {
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::sink)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let layer = CspReportLayer::builder("/csp-reports").build().unwrap();
    let mut svc = layer.layer(Empty);
    let mut group = c.benchmark_group("headers/csp_report_per_report");
    group.throughput(Throughput::Elements(1));
    group.bench_function("hardening CspReportLayer (parse, scrub, log JSON)", |b| {
        b.iter(|| match poll_once(svc.call(report_request())) {
            Poll::Ready(Ok(res)) => black_box(res.status()),
            _ => unreachable!("a full body is read in one poll"),
        })
    });
    // the same with events disabled: parse and scrub only
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        tracing::callsite::rebuild_interest_cache();
        group.bench_function(
            "hardening CspReportLayer (parse, scrub; no subscriber)",
            |b| {
                b.iter(|| match poll_once(svc.call(report_request())) {
                    Poll::Ready(Ok(res)) => black_box(res.status()),
                    _ => unreachable!("a full body is read in one poll"),
                })
            },
        );
    });
    tracing::callsite::rebuild_interest_cache();
    group.bench_function("hand-written serde_json::Value handler (unscrubbed)", |b| {
        b.iter(|| {
            let req = report_request();
            let body = Bytes::from_static(REPORT.as_bytes());
            black_box(req);
            black_box(naive_receiver(&body))
        })
    });
    group.bench_function("bare inner service (request only)", |b| {
        let mut inner = Empty;
        b.iter(|| match poll_once(inner.call(report_request())) {
            Poll::Ready(Ok(res)) => black_box(res.status()),
            _ => unreachable!(),
        })
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
