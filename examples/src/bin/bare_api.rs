//! `bare_api`: `secure_api`'s routes with no middleware at all, the
//! baseline of the load script (`examples/load/run.sh`).
//!
//! ```text
//! cargo run --release -p hardening-examples --bin bare_api [-- --addr 127.0.0.1:3001]
//! ```

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = listen_addr();
    let app = Router::new()
        .route(
            "/",
            get(|| async { axum::response::Html("<!doctype html><title>bare</title>") }),
        )
        .route("/livez", get(|| async { "ok" }))
        .route("/api/items", get(items))
        .route(
            "/auth/login",
            post(|| async { Json(json!({ "token": "t" })) }),
        )
        .route(
            "/llm/complete",
            post(|body: String| async move { Json(json!({ "completion": body })) }),
        );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}

async fn items() -> Json<serde_json::Value> {
    Json(json!({ "items": [ { "id": 1, "name": "widget" }, { "id": 2, "name": "gadget" } ] }))
}

/// `--addr HOST:PORT`, else `ADDR`, else `127.0.0.1:3001`.
fn listen_addr() -> String {
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--addr" {
            if let Some(addr) = args.next() {
                return addr;
            }
        }
    }
    std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3001".into())
}
