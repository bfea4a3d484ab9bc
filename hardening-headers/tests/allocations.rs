//! Counts heap allocations on the request path with an instrumented global
//! allocator. One test in its own binary, so nothing else allocates while it
//! measures.

use std::alloc::System;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use hardening_core::{ConnectionScheme, Scheme};
use hardening_headers::{HttpsRedirectLayer, SecurityHeadersLayer};
use http::header::{self, HeaderValue};
use http::{Request, Response};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tower::{Layer, Service};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const N: usize = 1_000;

/// A handler answering with `headers` content headers.
#[derive(Clone, Copy)]
struct Handler {
    headers: usize,
}

impl Service<Request<()>> for Handler {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        const NAMES: [&str; 12] = [
            "content-type",
            "x-a",
            "x-b",
            "x-c",
            "x-d",
            "x-e",
            "x-f",
            "x-g",
            "x-h",
            "x-i",
            "x-j",
            "x-k",
        ];
        let mut res = Response::new(());
        for name in &NAMES[..self.headers] {
            res.headers_mut()
                .append(*name, HeaderValue::from_static("text/html"));
        }
        ready(Ok(res))
    }
}

fn requests() -> Vec<Request<()>> {
    (0..N)
        .map(|_| {
            let mut req = Request::get("/")
                .header(header::HOST, "example.com")
                .body(())
                .unwrap();
            req.extensions_mut().insert(ConnectionScheme(Scheme::Https));
            req
        })
        .collect()
}

/// Allocations and reallocations per request of `svc`, requests built
/// beforehand.
fn per_request<S>(mut svc: S) -> (f64, f64)
where
    S: Service<Request<()>, Response = Response<()>>,
{
    let mut cx = Context::from_waker(Waker::noop());
    // warm up: the thread-local RNG, first clones of shared values
    for req in requests().into_iter().take(10) {
        let _ = pin!(svc.call(req)).poll(&mut cx);
    }
    let reqs = requests();
    let region = Region::new(GLOBAL);
    for req in reqs {
        match pin!(svc.call(req)).poll(&mut cx) {
            Poll::Ready(Ok(res)) => assert!(!res.headers().is_empty()),
            _ => unreachable!(),
        }
    }
    let stats = region.change();
    (
        stats.allocations as f64 / N as f64,
        stats.reallocations as f64 / N as f64,
    )
}

#[test]
fn request_path_allocates_only_header_storage_and_the_nonce() {
    for handler_headers in [1, 12] {
        let handler = Handler {
            headers: handler_headers,
        };
        let (bare, bare_re) = per_request(handler);
        let (strict, strict_re) = per_request(SecurityHeadersLayer::strict().layer(handler));
        let (nonce, nonce_re) = per_request(
            SecurityHeadersLayer::builder()
                .csp_nonce()
                .build()
                .unwrap()
                .layer(handler),
        );
        let (redirect, redirect_re) = per_request(
            HttpsRedirectLayer::builder()
                .allow_host("example.com")
                .build()
                .unwrap()
                .layer(handler),
        );
        eprintln!(
            "{handler_headers} handler headers: bare {bare}+{bare_re}r, strict {strict}+{strict_re}r, \
             nonce {nonce}+{nonce_re}r, redirect pass-through {redirect}+{redirect_re}r"
        );
        // Header values are shared (static or reference-counted): the only
        // extra allocations are the header table's own storage, at most a
        // fresh table (2) and one growth of its entries.
        assert!(strict - bare <= 2.0, "strict: {strict} vs bare {bare}");
        assert!(strict_re - bare_re <= 1.0, "strict: {strict_re} reallocs");
        // The nonce adds two: its request extension and the CSP value (one
        // more header may also grow a large response's table once).
        assert_eq!(nonce - strict, 2.0, "nonce: {nonce} vs strict {strict}");
        assert!(nonce_re - strict_re <= 1.0, "nonce: {nonce_re} reallocs");
        // An HTTPS request passing the redirect layer (HSTS added) costs at
        // most the growth of the handler's table.
        assert!(
            redirect - bare <= 1.0,
            "redirect: {redirect} vs bare {bare}"
        );
    }
}
