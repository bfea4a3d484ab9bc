//! `peer_stack`: `secure_api`'s routes with the same function assembled
//! from peer crates, the comparison of the load script
//! (`examples/load/run.sh`): tower-http `TraceLayer` with JSON `fmt` logs,
//! 12 tower-http `SetResponseHeaderLayer`s (the headers `secure_api` sets on
//! its JSON routes) and `tower_governor` per peer IP.
//!
//! ```text
//! cargo run --release -p hardening-examples --bin peer_stack [-- --addr 127.0.0.1:3002]
//! ```
//!
//! `GOVERNOR_PER_SECOND` (default 1) and `GOVERNOR_BURST` (default 60) size
//! the limit, as 60/min with a burst of 60.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::PeerIpKeyExtractor;
use tower_governor::GovernorLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// The response headers of `secure_api`'s API set, as tower-http layers.
const HEADERS: [(&str, &str); 12] = [
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'",
    ),
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("cross-origin-embedder-policy", "require-corp"),
    ("x-permitted-cross-domain-policies", "none"),
    ("x-dns-prefetch-control", "off"),
    ("cache-control", "no-store"),
];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = addr();
    let per_second: u64 = env_or("GOVERNOR_PER_SECOND", 1);
    let burst: u32 = env_or("GOVERNOR_BURST", 60);
    let governor = GovernorConfigBuilder::default()
        .per_second(per_second)
        .burst_size(burst)
        .key_extractor(PeerIpKeyExtractor)
        .finish()
        .ok_or("GOVERNOR_PER_SECOND and GOVERNOR_BURST must be positive")?;

    let mut app = Router::new()
        .route(
            "/",
            get(|| async { axum::response::Html("<!doctype html><title>peer</title>") }),
        )
        .route("/api/items", get(items))
        .route(
            "/auth/login",
            post(|| async { Json(json!({ "token": "t" })) }),
        )
        .route(
            "/llm/complete",
            post(|body: String| async move { Json(json!({ "completion": body })) }),
        )
        .layer(GovernorLayer::new(Arc::new(governor)))
        .route("/livez", get(|| async { "ok" }));
    for (name, value) in HEADERS {
        app = app.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    let app = app.layer(
        TraceLayer::new_for_http()
            .on_request(DefaultOnRequest::new().level(Level::INFO))
            .on_response(DefaultOnResponse::new().level(Level::INFO)),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

async fn items() -> Json<serde_json::Value> {
    Json(json!({ "items": [ { "id": 1, "name": "widget" }, { "id": 2, "name": "gadget" } ] }))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `--addr HOST:PORT`, else `ADDR`, else `127.0.0.1:3002`.
fn addr() -> String {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            if let Some(addr) = args.next() {
                return addr;
            }
        }
    }
    std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3002".into())
}
