//! `secure_api`: the router users copy. Every hardening layer, composed.
//!
//! ```text
//! cargo run -p hardening-examples --bin secure_api [-- --addr 127.0.0.1:3000] [--upstream URL]
//! ```
//!
//! Layers, outermost first (a request passes them top to bottom):
//!
//! 1. `logging`  - request spans with redacted URIs; JSON logs scrubbed of secrets.
//! 2. `security` - security headers on every response (429s and 503s included),
//!    HTTPS redirect for hosts in `PUBLIC_HOSTS` (loopback exempt).
//! 3. `probes`   - `/livez`, `/readyz`, `/health`, answered before rate limiting
//!    so probes are never throttled.
//! 4. `limits`   - per-client rate limits on `/auth`, `/api`, `/llm`.
//! 5. the routes; `/llm/complete` calls its upstream through retry + breaker.

mod cli;
mod limits;
mod logging;
mod probes;
mod security;
mod upstream;

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;

use crate::cli::Config;
use crate::upstream::Upstream;

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    upstream: Upstream,
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env_and_args() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("secure_api: {err}");
            return ExitCode::from(2);
        }
    };
    logging::init(&config);

    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("secure_api: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let upstream = Upstream::start(&config).await?;
    let probes = probes::Probes::new(&config, &upstream).await?;

    let app = routes(AppState { upstream });
    let app = limits::apply(app, &config).await?;
    let app = probes.apply(app);
    let app = security::apply(app, &config)?;
    let app = logging::apply(app);

    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, "secure_api started");

    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(probes.shutdown_signal())
    .await?;
    tracing::info!("secure_api stopped");
    Ok(())
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(security::index))
        .route("/auth/login", post(login))
        .route("/api/items", get(items))
        .route("/llm/complete", post(complete))
        .with_state(state)
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// A demo login. It logs the submitted credentials the way careless code
/// does; the redacting log formatter keeps the password out of the output.
async fn login(Json(login): Json<Login>) -> Response {
    tracing::info!(username = %login.username, password = %login.password, "login attempt for user={} password={}", login.username, login.password);
    if login.username.is_empty() || login.password.is_empty() {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid credentials"})),
        )
            .into_response();
    }
    let token = format!("demo-{}", login.username);
    Json(json!({ "token": token, "token_type": "Bearer" })).into_response()
}

async fn items() -> Json<serde_json::Value> {
    Json(json!({ "items": [ { "id": 1, "name": "widget" }, { "id": 2, "name": "gadget" } ] }))
}

async fn complete(State(state): State<AppState>, body: Bytes) -> Response {
    state.upstream.complete(body).await
}
