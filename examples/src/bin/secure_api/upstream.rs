//! The upstream behind `POST /llm/complete`.
//!
//! (The simulated upstream, hyper client, breaker and retry arrive with
//! `hardening-circuit`.)

use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;

use crate::cli::Config;

/// A handle to the upstream.
#[derive(Clone)]
pub(crate) struct Upstream {}

impl Upstream {
    pub(crate) async fn start(_config: &Config) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Upstream {})
    }

    /// Forwards a completion request.
    pub(crate) async fn complete(&self, body: Bytes) -> Response {
        Json(serde_json::json!({ "completion": String::from_utf8_lossy(&body) })).into_response()
    }
}
