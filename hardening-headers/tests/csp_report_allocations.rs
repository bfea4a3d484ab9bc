//! Counts heap allocations of `CspReportLayer` per report, with an
//! instrumented global allocator, in its own binary so nothing else
//! allocates while it measures. The subscriber formats every field of the
//! event (so the scrubbing runs) into nothing: what is counted is the
//! layer's own work, not a subscriber's.
#![cfg(feature = "csp-report")]

use std::alloc::System;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use hardening_headers::csp_report::CspReportLayer;
use hardening_testkit::FieldsOnly;
use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::{Layer, Service};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: usize = 1_000;

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

const REPORT: &str = r#"{"csp-report":{"document-uri":"https://example.com/account?session=abc123","referrer":"","violated-directive":"script-src-elem","effective-directive":"script-src-elem","original-policy":"script-src 'nonce-x'","disposition":"enforce","blocked-uri":"https://u:p@evil.example/x.js?k=1","line-number":12,"column-number":5,"source-file":"https://example.com/account?session=abc123","status-code":200,"script-sample":""}}"#;

#[test]
fn a_report_uri_report_is_parsed_scrubbed_and_logged_without_allocating() {
    let mut svc = CspReportLayer::builder("/csp-reports")
        .build()
        .unwrap()
        .layer(Empty);
    let requests: Vec<_> = (0..=N)
        .map(|_| {
            Request::post("/csp-reports")
                .header(CONTENT_TYPE, "application/csp-report")
                .body(Full::new(Bytes::from_static(REPORT.as_bytes())))
                .unwrap()
        })
        .collect();
    let mut statuses = Vec::with_capacity(N);
    let fields = FieldsOnly::default();
    tracing::subscriber::with_default(fields.clone(), || {
        tracing::callsite::rebuild_interest_cache();
        let mut requests = requests.into_iter();
        // the first event registers its callsite (allocating once)
        let mut cx = Context::from_waker(Waker::noop());
        let warm_up = pin!(svc.call(requests.next().unwrap())).poll(&mut cx);
        assert!(matches!(warm_up, Poll::Ready(Ok(_))));
        fields.reset();
        let region = Region::new(GLOBAL);
        for req in requests {
            let mut cx = Context::from_waker(Waker::noop());
            match pin!(svc.call(req)).poll(&mut cx) {
                Poll::Ready(Ok(res)) => statuses.push(res.status()),
                _ => unreachable!("a full body is read in one poll"),
            }
        }
        let stats = region.change();
        assert_eq!(
            (stats.allocations, stats.reallocations),
            (0, 0),
            "{stats:?} over {N} reports"
        );
    });
    assert!(statuses.iter().all(|s| *s == StatusCode::NO_CONTENT));
    assert_eq!(fields.events(), N);
    assert!(fields.formatted() > N * 60, "every field was formatted");
}
