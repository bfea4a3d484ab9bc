//! Logging: JSON lines on stdout, scrubbed of secrets.
//!
//! - Every event goes through [`RedactingFormat`] (fields with sensitive
//!   names, message text, span fields) and then [`RedactingMakeWriter`]
//!   (a last scrub of anything else written) on its way to stdout. Each
//!   line is scanned once: the writer passes on unscanned exactly the
//!   line the formatter just redacted, and scans everything else.
//! - Span fields are printed once per line, in `spans` (outermost first:
//!   the `request_id` span, then the request span); the JSON formatter's
//!   `span` copy of the innermost one is off.
//! - Each request gets a span from [`RedactedMakeSpan`]: method, the URI
//!   with sensitive query parameters masked, and the version. Headers are
//!   not recorded (they would repeat on every line of the request).
//! - [`SensitiveHeadersLayer`] marks `Authorization`, `Cookie`,
//!   `Set-Cookie`, `X-Api-Key`, ... sensitive, so any `Debug` of the
//!   headers further in prints `Sensitive`.

use axum::Router;
use hardening_metrics::layers::LayerMetrics;
use hardening_redact::fmt::{RedactingFormat, RedactingMakeWriter};
use hardening_redact::headers::SensitiveHeadersLayer;
use hardening_redact::trace::RedactedMakeSpan;
use hardening_redact::Redactor;
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::cli::Config;

/// The redactor of the logs and request spans: the default rules,
/// reporting what it masks as `hardening_redactions_total{rule}`.
pub(crate) fn redactor(metrics: &LayerMetrics) -> Result<Redactor, hardening_redact::ConfigError> {
    Redactor::builder().observer(metrics.redact()).build()
}

/// Installs the global `tracing` subscriber: JSON lines on stdout.
pub(crate) fn init(_config: &Config, redactor: Redactor) {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_span_list(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .map_event_format(|format| RedactingFormat::new(redactor.clone(), format))
        .with_writer(RedactingMakeWriter::new(redactor, std::io::stdout))
        .init();
    // A panic message can hold anything (a request, a secret): send it
    // through the redacting pipeline instead of raw to stderr.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
}

/// Adds request spans (redacted URI, no headers) and marks credential
/// headers sensitive. Outermost first: sensitive headers, then tracing.
pub(crate) fn apply(router: Router, redactor: Redactor) -> Router {
    let trace = TraceLayer::new_for_http()
        .make_span_with(RedactedMakeSpan::new(redactor))
        .on_request(DefaultOnRequest::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO));
    router.layer(trace).layer(SensitiveHeadersLayer::new())
}
