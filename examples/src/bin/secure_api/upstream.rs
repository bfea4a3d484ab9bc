//! The upstream behind `POST /llm/complete`, called through a circuit
//! breaker and, inside it, a retry layer.
//!
//! Without `--upstream URL` (`UPSTREAM_URL`) the example starts a small
//! simulated upstream on `127.0.0.1:0` that fails a share of its calls
//! (`UPSTREAM_FAILURE_RATE`, 0.0 to 1.0) after some latency
//! (`UPSTREAM_LATENCY_MS`). Requests go to it with hyper's client through a
//! `hardening_circuit` breaker; once the breaker is open, the route answers
//! `503 Service Unavailable` with `Retry-After` at once instead of waiting on
//! a failing upstream.
//!
//! Inside the breaker, a `hardening_circuit` retry layer makes up to 3
//! attempts per call (jittered backoff, 15 s deadline, shared budget). Every
//! call carries a fresh `Idempotency-Key`, which is what makes this POST
//! retryable: an upstream that deduplicates on the key runs it once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Json;
use bytes::Bytes;
use hardening_circuit::retry::{Backoff, DefaultClassifier, RetryLayer, IDEMPOTENCY_KEY};
use hardening_circuit::{BoxError, Breaker, CircuitBreakerLayer, CircuitOpen, SlidingWindow};
use hardening_metrics::layers::LayerMetrics;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

use crate::cli::Config;

/// The client stack: breaker (outermost) → retry → timeout → hyper's client.
type UpstreamService = BoxCloneSyncService<Request<Full<Bytes>>, Response<Incoming>, BoxError>;

/// The largest upstream answer passed on.
const MAX_UPSTREAM_BODY: usize = 1 << 20;

/// The longest one upstream call may take before it counts as failed.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts per completion, the first call included.
const UPSTREAM_ATTEMPTS: u32 = 3;

/// The longest a completion may take over all its attempts and waits.
const UPSTREAM_DEADLINE: Duration = Duration::from_secs(15);

/// A handle to the upstream.
#[derive(Clone)]
pub(crate) struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    /// Where completions are posted.
    endpoint: Uri,
    /// `host:port` of the upstream, for TCP health checks.
    addr: String,
    service: UpstreamService,
    breaker: Breaker,
}

impl Upstream {
    pub(crate) async fn start(
        config: &Config,
        metrics: &LayerMetrics,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let endpoint: Uri = match &config.upstream {
            Some(url) => url
                .parse()
                .map_err(|e| format!("invalid upstream URL `{url}`: {e}"))?,
            None => {
                let addr =
                    simulate(config.upstream_failure_rate, config.upstream_latency_ms).await?;
                format!("http://{addr}/v1/complete").parse()?
            }
        };
        if endpoint.scheme_str() != Some("http") {
            return Err(format!(
                "upstream URL `{endpoint}` must start with http:// (this example has no TLS client)"
            )
            .into());
        }
        let Some(authority) = endpoint.authority() else {
            return Err(format!("upstream URL `{endpoint}` has no host").into());
        };
        let addr = match authority.port_u16() {
            Some(_) => authority.to_string(),
            None => format!("{}:80", authority.host()),
        };

        let layer = CircuitBreakerLayer::builder()
            .name("llm_upstream")
            .failure_rate_threshold(0.5)
            .sliding_window(SlidingWindow::time(Duration::from_secs(10), 10))
            .minimum_calls(5)
            .consecutive_failures(10)
            .slow_call_duration(Duration::from_secs(2))
            .slow_call_rate_threshold(0.8)
            .open_duration(Duration::from_secs(5))
            .max_open_duration(Duration::from_secs(60))
            .half_open_probes(2)
            .half_open_timeout(Duration::from_secs(15))
            .observer(metrics.circuit())
            .build()?;
        let breaker = layer.breaker().clone();

        let retry = RetryLayer::builder()
            .max_attempts(UPSTREAM_ATTEMPTS)
            .backoff(Backoff::exponential(
                Duration::from_millis(50),
                Duration::from_secs(1),
            ))
            .deadline(UPSTREAM_DEADLINE)
            // This upstream reports transient failures as 500 too; the
            // Idempotency-Key on every call makes retrying them safe.
            .classify(DefaultClassifier::with_statuses([
                StatusCode::REQUEST_TIMEOUT,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::INTERNAL_SERVER_ERROR,
                StatusCode::BAD_GATEWAY,
                StatusCode::SERVICE_UNAVAILABLE,
                StatusCode::GATEWAY_TIMEOUT,
            ]))
            .observer(metrics.retry("llm_upstream"))
            .build()?;

        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        let service = ServiceBuilder::new()
            // The breaker is outermost: it sees one outcome per logical call
            // and, when open, answers before anything below runs.
            .layer(layer)
            // Retry goes INSIDE the breaker: a blip a retry absorbs is one
            // success for the breaker, a call that fails for good is one
            // failure (not three), and an open breaker stops retries too.
            .layer(retry)
            // The timeout is innermost, so it bounds each attempt.
            .timeout(UPSTREAM_TIMEOUT)
            .service(client);

        Ok(Upstream {
            inner: Arc::new(Inner {
                endpoint,
                addr,
                service: BoxCloneSyncService::new(service),
                breaker,
            }),
        })
    }

    /// `host:port` of the upstream (a TCP address to health-check).
    pub(crate) fn addr(&self) -> &str {
        &self.inner.addr
    }

    /// The breaker in front of the upstream (its state can feed readiness).
    pub(crate) fn breaker(&self) -> &Breaker {
        &self.inner.breaker
    }

    /// Forwards a completion request.
    pub(crate) async fn complete(&self, body: Bytes) -> axum::response::Response {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = self.inner.endpoint.clone();
        req.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // One key per logical call, the same on every retry of it.
        let key = format!("llm-{:032x}", rand::random::<u128>());
        if let Ok(key) = HeaderValue::try_from(key) {
            req.headers_mut().insert(IDEMPOTENCY_KEY, key);
        }

        let resp = match self.inner.service.clone().oneshot(req).await {
            Ok(resp) => resp,
            Err(err) => {
                if let Some(open) = CircuitOpen::find(&*err) {
                    return unavailable(open);
                }
                tracing::warn!(error = %err, "upstream call failed");
                return bad_gateway(json!({ "error": "upstream unreachable" }));
            }
        };
        let status = resp.status();
        let body = match Limited::new(resp.into_body(), MAX_UPSTREAM_BODY)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(err) => {
                tracing::warn!(error = %err, "upstream body unreadable");
                return bad_gateway(json!({ "error": "upstream answer unreadable" }));
            }
        };
        if !status.is_success() {
            return bad_gateway(json!({
                "error": "upstream failed",
                "upstream_status": status.as_u16(),
            }));
        }
        let mut resp = Response::new(Body::from(body));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

/// `503` with `Retry-After`, at once.
fn unavailable(open: &CircuitOpen) -> axum::response::Response {
    let (mut parts, ()) = open.to_response::<()>().into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let body = json!({
        "error": "upstream unavailable: circuit open",
        "retry_after_secs": open.retry_after_secs(),
    });
    Response::from_parts(parts, Body::from(body.to_string()))
}

fn bad_gateway(body: serde_json::Value) -> axum::response::Response {
    (StatusCode::BAD_GATEWAY, Json(body)).into_response()
}

/// Starts the simulated upstream on `127.0.0.1:0`; returns its address.
async fn simulate(failure_rate: f64, latency_ms: u64) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let latency = Duration::from_millis(latency_ms);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                Ok::<_, Infallible>(simulated_answer(req, failure_rate, latency).await)
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    tracing::info!(%addr, failure_rate, latency_ms, "simulated upstream started");
    Ok(addr)
}

async fn simulated_answer(
    req: Request<Incoming>,
    failure_rate: f64,
    latency: Duration,
) -> Response<Full<Bytes>> {
    let prompt = match Limited::new(req.into_body(), MAX_UPSTREAM_BODY)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(_) => Bytes::new(),
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (status, body) = if rand::random::<f64>() < failure_rate {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "error": "simulated upstream failure" }),
        )
    } else {
        (
            StatusCode::OK,
            json!({ "completion": String::from_utf8_lossy(&prompt) }),
        )
    };
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
