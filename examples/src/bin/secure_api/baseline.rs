//! What every request passes besides the hardening crates, composed from
//! tower-http: request ids, problem details, panic containment,
//! compression, CORS, body limits and timeouts.
//!
//! | piece | setting | default |
//! |---|---|---|
//! | `x-request-id` | accepted only from `TRUSTED_PROXIES` (and only `[A-Za-z0-9._-]{1,64}`), else a fresh UUID; echoed on the response, in a span around every log line of the request, and in every problem+json body | on |
//! | problem details | error responses without a body or with a framework's plain-text one (404, 405, 413, 415, timeouts, ...) become `application/problem+json` (4xx text kept as a bounded `detail`, 5xx text dropped); problem bodies of inner layers (429, 503) get `request_id` | on |
//! | `CatchPanicLayer` | a panicking handler answers a problem+json `500` with no panic text; the panic is logged through the redacting formatter | on |
//! | `CompressionLayer` | gzip, br, zstd for bodies ≥ 1 KiB, except already-compressed types and responses that carry a secret (see below) | on |
//! | `CorsLayer` | `server.cors_origins` (`CORS_ORIGINS`), exact origins | none: no CORS headers |
//! | `RequestBodyLimitLayer` | 10 MiB; 16 KiB on `/auth` | |
//! | `RequestBodyDeadlineLayer` | a whole body within 30 s, however it trickles | |
//! | `TimeoutLayer` | 10 s per request (`503`), 30 s on `/llm` (`504`) | |
//!
//! The sizes and times are keys of `[requests]` in the config file
//! (`config.rs`: `body_limit_bytes`, `auth_body_limit_bytes`,
//! `body_deadline_ms`, `timeout_ms`, `llm_timeout_ms`); the defaults are
//! shown.
//!
//! # Compression and BREACH
//!
//! BREACH recovers a secret from the *size* of compressed responses that
//! hold the secret next to bytes the attacker influences (a reflected query
//! parameter, say), by making many requests. Two kinds of response here
//! hold something secret: the HTML page, whose CSP nonce is in its body, and
//! `/auth/login`'s answer, whose body is a bearer token. A nonce changes on
//! every response, which defeats the many-request guessing on its own, but
//! the saving on a small page is not worth an argument: neither is
//! compressed. [`NoSecrets`] skips a response whose CSP carries a nonce,
//! that sets a cookie, or that a handler marked [`CredentialBody`].

use std::any::Any;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hardening_core::TrustedProxies;
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;
use http_body_util::BodyExt as _;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};
use tracing::Instrument as _;

use crate::config::RequestLimits;

/// Smallest body that is compressed.
pub(crate) const COMPRESS_MIN_BYTES: u64 = 1024;
/// Largest problem body read back to add the request id.
const MAX_PROBLEM_BYTES: usize = 16 * 1024;
/// Longest `detail` taken from a framework's plain-text 4xx body.
const MAX_DETAIL_CHARS: usize = 200;
/// Longest request id accepted from a trusted proxy.
const MAX_REQUEST_ID_LEN: usize = 64;

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

/// Marks a response whose body is a credential (a token), so it is never
/// compressed. Handlers insert it as a response extension.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CredentialBody;

/// The compression predicate: a body worth compressing that holds no secret.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NoSecrets;

impl Predicate for NoSecrets {
    fn should_compress<B>(&self, response: &http::Response<B>) -> bool
    where
        B: http_body::Body,
    {
        let nonce = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|csp| csp.contains("'nonce-"));
        let credential = response.extensions().get::<CredentialBody>().is_some()
            || response.headers().contains_key(header::SET_COOKIE);
        !nonce && !credential
    }
}

/// The routes' own limits: body size on `/auth`, per-route timeouts.
pub(crate) fn per_route<S>(
    auth: Router<S>,
    api: Router<S>,
    llm: Router<S>,
    limits: &RequestLimits,
) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let auth = auth
        .layer(RequestBodyLimitLayer::new(limits.auth_body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.timeout,
        ));
    let api = api.layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        limits.timeout,
    ));
    let llm = llm.layer(TimeoutLayer::with_status_code(
        StatusCode::GATEWAY_TIMEOUT,
        limits.llm_timeout,
    ));
    auth.merge(api).merge(llm)
}

/// Body limits of every route (inside the probes, so they cover all
/// application routes).
pub(crate) fn body_limits(router: Router, limits: &RequestLimits) -> Router {
    router
        // axum's extractors have a 2 MB limit of their own; ours is the one.
        .layer(DefaultBodyLimit::max(limits.body_limit))
        .layer(RequestBodyLimitLayer::new(limits.body_limit))
        .layer(RequestBodyDeadlineLayer::new(limits.body_deadline))
}

/// CORS for `origins` (none: no layer, so no CORS headers at all).
pub(crate) fn cors(router: Router, origins: &[HeaderValue]) -> Router {
    if origins.is_empty() {
        return router;
    }
    router.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([http::Method::GET, http::Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                HeaderName::from_static("ratelimit"),
                HeaderName::from_static("ratelimit-policy"),
                X_REQUEST_ID.clone(),
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Panic containment (inside the security headers, so the `500` gets them).
pub(crate) fn catch_panic(router: Router) -> Router {
    router.layer(CatchPanicLayer::custom(panic_response))
}

/// Compression (outside the security headers: it must see the CSP to skip
/// nonce-bearing pages).
pub(crate) fn compression(router: Router) -> Router {
    let compress = SizeAbove::new(COMPRESS_MIN_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::const_new("application/gzip"))
        .and(NotForContentType::const_new("application/zip"))
        .and(NotForContentType::const_new("application/zstd"))
        .and(NotForContentType::const_new("font/woff"))
        .and(NotForContentType::const_new("video/"))
        .and(NotForContentType::const_new("audio/"))
        .and(NoSecrets);
    router.layer(
        CompressionLayer::new()
            .gzip(true)
            .br(true)
            .zstd(true)
            .compress_when(compress),
    )
}

/// Request ids and problem details (outermost: the logging sits between
/// the two, so every log line of a request is inside its id's span).
pub(crate) fn problem_details(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(add_problem_details))
}

/// The request id layers and the span that carries the id (outermost).
pub(crate) fn request_ids(router: Router, trusted: TrustedProxies) -> Router {
    router
        .layer(axum::middleware::from_fn(request_span))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID.clone()))
        .layer(SetRequestIdLayer::new(
            X_REQUEST_ID.clone(),
            MakeRequestUuid,
        ))
        .layer(axum::middleware::map_request(move |req: Request| {
            let trusted = trusted.clone();
            async move { keep_trusted_request_id(&trusted, req) }
        }))
}

/// Drops a client's `x-request-id` unless a trusted proxy sent it and it is
/// a plain token (so logs can't be forged with newlines or padded out).
fn keep_trusted_request_id(trusted: &TrustedProxies, mut req: Request) -> Request {
    let Some(id) = req.headers().get(&X_REQUEST_ID) else {
        return req;
    };
    let well_formed = (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let from_proxy = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| trusted.contains(peer.ip()));
    if !(well_formed && from_proxy) {
        req.headers_mut().remove(&X_REQUEST_ID);
    }
    req
}

fn request_id(req_headers: &http::HeaderMap) -> &str {
    req_headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

async fn request_span(req: Request, next: Next) -> Response {
    let span = tracing::info_span!("request", request_id = %request_id(req.headers()));
    next.run(req).instrument(span).await
}

async fn add_problem_details(req: Request, next: Next) -> Response {
    let id = req.headers().get(&X_REQUEST_ID).cloned();
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error())
        || res.headers().contains_key(header::CONTENT_ENCODING)
    {
        return res;
    }
    let id = id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let empty = http_body::Body::size_hint(res.body()).exact() == Some(0);
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"text/plain"));
    if !is_problem && !empty && !plain {
        return res; // a handler's own error body (JSON, HTML)
    }
    let (mut parts, body) = res.into_parts();
    let read = http_body_util::Limited::new(body, MAX_PROBLEM_BYTES)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut problem = serde_json::Map::new();
    if is_problem {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&read) {
            problem = map;
        }
    } else if plain && status.is_client_error() {
        // A framework rejection ("length limit exceeded", a JSON syntax
        // error): useful to the client that caused it, so kept, bounded.
        // 5xx text is never passed on: it may describe internals.
        let text = String::from_utf8_lossy(&read);
        let detail: String = text.trim().chars().take(MAX_DETAIL_CHARS).collect();
        if !detail.is_empty() {
            problem.insert("detail".into(), detail.into());
        }
    }
    problem
        .entry("type")
        .or_insert_with(|| "about:blank".into());
    problem
        .entry("title")
        .or_insert_with(|| status.canonical_reason().unwrap_or("Error").into());
    problem
        .entry("status")
        .or_insert_with(|| status.as_u16().into());
    problem.insert("request_id".into(), id.into());
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_TYPE, PROBLEM_JSON.clone());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// A problem+json `500` that says nothing about the panic; the panic itself
/// is logged by the panic hook (`logging.rs`), through the redactor.
fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> http::Response<Body> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
    });
    let mut res = (StatusCode::INTERNAL_SERVER_ERROR, body.to_string()).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, PROBLEM_JSON.clone());
    res
}

/// Parses `CORS_ORIGINS`: comma-separated exact origins
/// (`https://app.example.com`, `http://localhost:5173`), no paths, no `*`.
pub(crate) fn parse_origins(value: &str) -> Result<Vec<HeaderValue>, String> {
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let uri: http::Uri = origin
            .parse()
            .map_err(|_| format!("`{origin}` is not an origin"))?;
        let ok = matches!(uri.scheme_str(), Some("https" | "http"))
            && uri.authority().is_some()
            && !origin.contains('*')
            && !origin.contains('@')
            && uri
                .path_and_query()
                .is_none_or(|p| p.as_str().is_empty() || p.as_str() == "/")
            && !origin.ends_with('/');
        if !ok {
            return Err(format!(
                "`{origin}` is not an origin like https://app.example.com"
            ));
        }
        origins.push(HeaderValue::from_str(origin).map_err(|e| e.to_string())?);
    }
    Ok(origins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt as _;

    fn app() -> Router {
        let router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("secret=hunter2 in a panic");
                    }
                    "unreachable"
                }),
            )
            .route("/big", get(|| async { "x".repeat(4096) }))
            .route(
                "/token",
                get(|| async {
                    let mut res = "t".repeat(4096).into_response();
                    res.extensions_mut().insert(CredentialBody);
                    res
                }),
            )
            .route("/small", get(|| async { "ok" }));
        let router = compression(catch_panic(router));
        let router = problem_details(router);
        request_ids(router, TrustedProxies::parse(["10.0.0.0/8"]).unwrap())
    }

    fn get_req(path: &str, peer: &str, headers: &[(&str, &str)]) -> Request {
        let mut req = Request::builder().uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(Body::empty()).unwrap();
        let peer: std::net::SocketAddr = peer.parse().unwrap();
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    }

    async fn body_json(res: Response) -> serde_json::Value {
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_panic_answers_problem_json_without_its_text() {
        let res = app()
            .oneshot(get_req("/boom", "192.0.2.1:1", &[]))
            .await
            .unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
        let json = body_json(res).await;
        assert_eq!(json["status"], 500);
        assert_eq!(json["request_id"], id.as_str());
        assert!(!json.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn request_ids_come_from_trusted_proxies_only() {
        let id = "abc-123";
        let res = app()
            .oneshot(get_req("/missing", "10.0.0.2:1", &[("x-request-id", id)]))
            .await
            .unwrap();
        assert_eq!(res.headers()["x-request-id"], id);
        assert_eq!(res.status(), 404);
        assert_eq!(body_json(res).await["request_id"], id);

        for (peer, value) in [
            ("192.0.2.1:1", "abc-123"),
            ("10.0.0.2:1", "has space"),
            ("10.0.0.2:1", &"x".repeat(65)),
        ] {
            let res = app()
                .oneshot(get_req("/small", peer, &[("x-request-id", value)]))
                .await
                .unwrap();
            let got = res.headers()["x-request-id"].to_str().unwrap();
            assert_ne!(got, value, "{peer} {value}");
            assert_eq!(got.len(), 36, "a fresh UUID: {got}");
        }
    }

    #[tokio::test]
    async fn compression_skips_small_and_secret_bodies() {
        let enc = |res: &Response| {
            res.headers()
                .get(header::CONTENT_ENCODING)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let gzip = [("accept-encoding", "gzip")];
        let res = app()
            .oneshot(get_req("/big", "192.0.2.1:1", &gzip))
            .await
            .unwrap();
        assert_eq!(enc(&res).as_deref(), Some("gzip"));
        let res = app()
            .oneshot(get_req("/small", "192.0.2.1:1", &gzip))
            .await
            .unwrap();
        assert_eq!(enc(&res), None);
        let res = app()
            .oneshot(get_req("/token", "192.0.2.1:1", &gzip))
            .await
            .unwrap();
        assert_eq!(enc(&res), None);
        let zstd = [("accept-encoding", "zstd")];
        let res = app()
            .oneshot(get_req("/big", "192.0.2.1:1", &zstd))
            .await
            .unwrap();
        assert_eq!(enc(&res).as_deref(), Some("zstd"));
    }

    #[test]
    fn nonce_csp_responses_are_not_compressed() {
        let res = http::Response::builder()
            .header(
                header::CONTENT_SECURITY_POLICY,
                "script-src 'nonce-abc' 'strict-dynamic'",
            )
            .body(Body::empty())
            .unwrap();
        assert!(!NoSecrets.should_compress(&res));
        let res = http::Response::builder()
            .header(header::CONTENT_SECURITY_POLICY, "default-src 'none'")
            .body(Body::empty())
            .unwrap();
        assert!(NoSecrets.should_compress(&res));
    }

    #[test]
    fn origins_are_exact() {
        let ok = parse_origins("https://app.example.com, http://localhost:5173").unwrap();
        assert_eq!(ok.len(), 2);
        assert!(parse_origins("").unwrap().is_empty());
        for bad in [
            "*",
            "https://*.example.com",
            "app.example.com",
            "https://app.example.com/path",
            "https://app.example.com/",
            "ftp://x",
            "https://user@app.example.com",
        ] {
            assert!(parse_origins(bad).is_err(), "{bad}");
        }
    }
}
