//! Security headers and HTTPS redirect.
//!
//! (The layers arrive with `hardening-headers`.)

use axum::response::Html;
use axum::Router;

use crate::cli::Config;

/// Adds the security headers.
pub(crate) fn apply(
    router: Router,
    _config: &Config,
) -> Result<Router, Box<dyn std::error::Error>> {
    Ok(router)
}

/// `GET /`: an HTML page with an inline script.
pub(crate) async fn index() -> Html<&'static str> {
    Html("<!doctype html><html><head><title>secure_api</title></head><body><h1>secure_api</h1><script>document.body.dataset.ready = 'yes';</script></body></html>")
}
