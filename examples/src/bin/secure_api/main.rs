//! `secure_api`: the router users copy. Every hardening layer, composed.
//!
//! ```text
//! cargo run -p hardening-examples --bin secure_api [-- --config examples/secure_api.toml] [--addr 127.0.0.1:3000] [--set KEY=VALUE]
//! ```
//!
//! Layers, outermost first (a request passes them top to bottom):
//!
//! 0. `baseline` - request ids (outermost), problem+json error bodies,
//!    compression, panic containment, CORS, body limits and per-route
//!    timeouts, from tower-http (see `baseline.rs` for the order).
//! 1. `logging`  - request spans with redacted URIs; JSON logs scrubbed of secrets.
//! 2. `security` - security headers on every response (429s and 503s included),
//!    HTTPS redirect for hosts in `PUBLIC_HOSTS` (loopback exempt).
//! 3. `probes`   - `/livez`, `/readyz`, `/health`, answered before rate limiting
//!    so probes are never throttled; a bounded graceful shutdown.
//! 4. `limits`   - per-client rate limits on `/auth`, `/api`, `/llm`.
//! 5. `loadshed` - a concurrency limit that refuses `/llm` first and keeps
//!    room for `/auth` (`hardening-loadshed`).
//! 6. the routes; `/llm/complete` calls its upstream through retry + breaker.
//!
//! Configuration: `config.rs` (the `--config` TOML file, checked) and
//! `cli.rs` (environment variables and flags over it).

mod baseline;
mod cli;
mod config;
mod limits;
mod loadshed;
mod logging;
mod metrics;
mod probes;
mod security;
mod serve;
mod token;
mod upstream;

use std::process::ExitCode;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use hardening_redact::Redactor;
use serde::Deserialize;
use serde_json::json;

use crate::config::Config;
use crate::token::TokenKey;
use crate::upstream::Upstream;

/// What the handlers share.
#[derive(Clone)]
struct AppState {
    upstream: Upstream,
    tokens: TokenKey,
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
    // Built first: the log redactor and every layer report into its registry.
    let metrics = metrics::Metrics::new();
    let redactor = match logging::redactor(metrics.layers()) {
        Ok(redactor) => redactor,
        Err(err) => {
            eprintln!("secure_api: {err}");
            return ExitCode::FAILURE;
        }
    };
    logging::init(&config, redactor.clone());

    match run(config, metrics, redactor).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("secure_api: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    config: Config,
    metrics: metrics::Metrics,
    redactor: Redactor,
) -> Result<(), Box<dyn std::error::Error>> {
    let upstream = Upstream::start(&config, metrics.layers()).await?;
    let probes = probes::Probes::new(&config, &upstream, metrics.layers()).await?;

    let tokens = match &config.token_secret {
        Some(secret) => TokenKey::new(secret.as_bytes())?,
        None => TokenKey::random(),
    };
    let app = routes(
        AppState {
            upstream,
            tokens: tokens.clone(),
        },
        &config,
    );
    let app = loadshed::apply(app, &config.load_shedding, metrics.layers())?;
    let app = limits::apply(app, &config, &tokens, metrics.layers()).await?;
    let app = metrics.apply(app);
    let app = baseline::body_limits(app, &config.requests);
    let app = probes.apply(app);
    let app = baseline::cors(app, &config.cors_origins);
    let app = baseline::catch_panic(app);
    let app = security::apply(app, &config, metrics.layers())?;
    let app = baseline::compression(app);
    let app = baseline::problem_details(app);
    let app = logging::apply(app, redactor);
    let app = baseline::request_ids(app, config.trusted_proxies.clone());

    metrics.serve(config.metrics_addr).await?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let phases = probes.shutdown_phases();
    println!("listening on http://{addr}");
    tracing::info!(%addr, "secure_api started");

    let server = serve::Server::new(listener, config.serve);
    let graceful = phases.graceful();
    let served = server.run(app, async move {
        graceful.await;
        tracing::info!("drain complete: finishing in-flight requests");
    });
    // The graceful shutdown waits for every connection; `forced` bounds that
    // wait. Returning from `main` drops the runtime and with it the
    // connections still open.
    tokio::select! {
        () = served => {}
        () = phases.forced() => {
            tracing::warn!("shutdown deadline passed or second signal: closing remaining connections");
        }
    }
    tracing::info!("secure_api stopped");
    Ok(())
}

fn routes(state: AppState, config: &Config) -> Router {
    let auth = Router::new().route("/auth/login", post(login));
    let api = Router::new().route("/api/items", get(items));
    let llm = Router::new().route("/llm/complete", post(complete));
    Router::new()
        .route("/", get(security::index))
        .merge(baseline::per_route(auth, api, llm, &config.requests))
        .with_state(state)
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// A demo login: any non-empty password is accepted, and the answer is a
/// signed token ([`token`]) that the rate limits verify. It logs the
/// submitted credentials the way careless code does; the redacting log
/// formatter keeps the password out of the output.
async fn login(State(state): State<AppState>, Json(login): Json<Login>) -> Response {
    tracing::info!(username = %login.username, password = %login.password, "login attempt for user={} password={}", login.username, login.password);
    let token = (!login.password.is_empty())
        .then(|| {
            state
                .tokens
                .issue(&login.username, std::time::SystemTime::now())
        })
        .flatten();
    match token {
        Some(token) => {
            let mut res = Json(json!({
                "token": token,
                "token_type": "Bearer",
                "expires_in": token::TOKEN_TTL.as_secs(),
            }))
            .into_response();
            // A credential: never compressed (BREACH, see baseline.rs).
            res.extensions_mut().insert(baseline::CredentialBody);
            res
        }
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid credentials"})),
        )
            .into_response(),
    }
}

async fn items() -> Json<serde_json::Value> {
    Json(json!({ "items": [ { "id": 1, "name": "widget" }, { "id": 2, "name": "gadget" } ] }))
}

async fn complete(State(state): State<AppState>, body: Bytes) -> Response {
    state.upstream.complete(body).await
}
