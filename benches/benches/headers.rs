//! Per-request cost of adding the strict security header set:
//! `hardening_headers::SecurityHeadersLayer::strict()` against the same
//! headers from tower-http `SetResponseHeaderLayer::if_not_present` layers
//! (one per header, plus a `MapResponseLayer` stripping `X-Powered-By` and
//! `Server`), in one group. Also: the CSP nonce's extra cost, tower-http's
//! `SetMultipleResponseHeadersLayer`, and the bare inner service. A second
//! group repeats the comparison for a handler that sets 11 headers itself.
//!
//! ```text
//! cargo bench -p hardening-benches --bench headers
//! ```
//!
//! Every request arrives over HTTPS (a `ConnectionScheme` extension), so
//! `SecurityHeadersLayer` sends HSTS and the full CSP like the static stack
//! does, and pays for its scheme check. The response is built, decorated and
//! dropped inside the measurement.
#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::hint::black_box;
use std::task::{Context, Poll};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hardening_benches::poll_once;
use hardening_core::{ConnectionScheme, Scheme};
use hardening_headers::SecurityHeadersLayer;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response};
use tower::util::MapResponseLayer;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::set_header::response::SetMultipleResponseHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// The handler: a response with a content type, like a real page, and
/// `extra` more headers (a proxied response, say).
#[derive(Clone, Copy)]
struct Handler {
    extra: usize,
}

const HANDLER: Handler = Handler { extra: 0 };

impl Service<Request<()>> for Handler {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<()>) -> Self::Future {
        const EXTRA: [&str; 10] = [
            "x-a", "x-b", "x-c", "x-d", "x-e", "x-f", "x-g", "x-h", "x-i", "x-j",
        ];
        let mut res = Response::new(());
        for name in &EXTRA[..self.extra] {
            res.headers_mut()
                .insert(*name, HeaderValue::from_static("value"));
        }
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        ready(Ok(res))
    }
}

/// The strict preset's headers, as `SecurityHeadersLayer::strict()` sends
/// them over HTTPS.
fn strict_headers() -> Vec<(HeaderName, HeaderValue)> {
    let mut res = Response::new(());
    let mut svc = SecurityHeadersLayer::strict().layer(HANDLER);
    if let Poll::Ready(Ok(r)) = poll_once(svc.call(request())) {
        res = r;
    }
    let headers: Vec<_> = res
        .headers()
        .iter()
        .filter(|(name, _)| **name != header::CONTENT_TYPE)
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    assert_eq!(headers.len(), 13, "{headers:?}");
    headers
}

fn request() -> Request<()> {
    let mut req = Request::get("/").body(()).unwrap();
    req.extensions_mut().insert(ConnectionScheme(Scheme::Https));
    req
}

fn run<S>(svc: &mut S, req: Request<()>) -> usize
where
    S: Service<Request<()>, Response = Response<()>>,
{
    match poll_once(svc.call(req)) {
        Poll::Ready(Ok(res)) => black_box(&res).headers().len(),
        _ => unreachable!("the handler is always ready"),
    }
}

fn strip_identifying_headers(mut res: Response<()>) -> Response<()> {
    res.headers_mut().remove("x-powered-by");
    res.headers_mut().remove(header::SERVER);
    res
}

/// The tower-http stack: one `SetResponseHeaderLayer::if_not_present` per
/// header (spelled out: thirteen nested services, no dynamic dispatch) and a
/// `MapResponseLayer` stripping `X-Powered-By` and `Server`.
fn tower_http_stack(
    headers: &[(HeaderName, HeaderValue)],
    handler: Handler,
) -> impl Service<Request<()>, Response = Response<()>> {
    let h = |i: usize| {
        SetResponseHeaderLayer::if_not_present(headers[i].0.clone(), headers[i].1.clone())
    };
    ServiceBuilder::new()
        .layer(MapResponseLayer::new(strip_identifying_headers))
        .layer(h(0))
        .layer(h(1))
        .layer(h(2))
        .layer(h(3))
        .layer(h(4))
        .layer(h(5))
        .layer(h(6))
        .layer(h(7))
        .layer(h(8))
        .layer(h(9))
        .layer(h(10))
        .layer(h(11))
        .layer(h(12))
        .service(handler)
}

fn bench(c: &mut Criterion) {
    let headers = strict_headers();

    let mut tower_http = tower_http_stack(&headers, HANDLER);
    let mut tower_http_multiple = ServiceBuilder::new()
        .layer(MapResponseLayer::new(strip_identifying_headers))
        .layer(SetMultipleResponseHeadersLayer::if_not_present(
            headers.iter().cloned().map(Into::into).collect(),
        ))
        .service(HANDLER);
    let mut strict = SecurityHeadersLayer::strict().layer(HANDLER);
    let mut strict_nonce = SecurityHeadersLayer::builder()
        .csp_nonce()
        .build()
        .unwrap()
        .layer(HANDLER);
    let mut bare = HANDLER;

    // same headers, same values
    assert_eq!(run(&mut tower_http, request()), 14);
    assert_eq!(run(&mut tower_http_multiple, request()), 14);
    assert_eq!(run(&mut strict, request()), 14);
    assert_eq!(run(&mut strict_nonce, request()), 14);

    let mut group = c.benchmark_group("headers/strict_per_request");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        "tower-http SetResponseHeaderLayer::if_not_present x13",
        |b| {
            b.iter_batched(
                request,
                |req| run(&mut tower_http, req),
                BatchSize::SmallInput,
            )
        },
    );
    group.bench_function("tower-http SetMultipleResponseHeadersLayer", |b| {
        b.iter_batched(
            request,
            |req| run(&mut tower_http_multiple, req),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("hardening SecurityHeadersLayer::strict()", |b| {
        b.iter_batched(request, |req| run(&mut strict, req), BatchSize::SmallInput)
    });
    group.bench_function("hardening strict + csp_nonce()", |b| {
        b.iter_batched(
            request,
            |req| run(&mut strict_nonce, req),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bare handler (no headers)", |b| {
        b.iter_batched(request, |req| run(&mut bare, req), BatchSize::SmallInput)
    });
    group.finish();

    // A handler that already sets 11 headers (a proxied response, say): the
    // less favourable case, where the layer moves all of them into its
    // precomputed map.
    let busy = Handler { extra: 10 };
    let mut tower_http = tower_http_stack(&headers, busy);
    let mut strict = SecurityHeadersLayer::strict().layer(busy);
    let mut bare = busy;
    assert_eq!(run(&mut tower_http, request()), 24);
    assert_eq!(run(&mut strict, request()), 24);
    let mut group = c.benchmark_group("headers/strict_per_request_11_handler_headers");
    group.throughput(Throughput::Elements(1));
    group.bench_function(
        "tower-http SetResponseHeaderLayer::if_not_present x13",
        |b| {
            b.iter_batched(
                request,
                |req| run(&mut tower_http, req),
                BatchSize::SmallInput,
            )
        },
    );
    group.bench_function("hardening SecurityHeadersLayer::strict()", |b| {
        b.iter_batched(request, |req| run(&mut strict, req), BatchSize::SmallInput)
    });
    group.bench_function("bare handler (no headers)", |b| {
        b.iter_batched(request, |req| run(&mut bare, req), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
