//! The HTTP instruments and the record of one exchange.
//!
//! [`HttpInstruments`] owns the metric families; an [`Exchange`] is one
//! request in flight. The tower glue only starts an exchange, tells it the
//! outcome and lets it go: dropping it records, exactly once.

use std::fmt;
use std::sync::Arc;

use hardening_core::Clock;
use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::method::MethodLabel;
use super::route::{RouteLabel, RouteTable};

/// The `error_type` of a response whose body failed while streaming.
pub const BODY_ERROR: &str = "body_error";

/// The bucket bounds, in seconds, the OpenTelemetry HTTP semantic
/// conventions advise for `http.server.request.duration`.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The default bucket bounds, in bytes, of the body size histograms:
/// powers of four from 64 B to 16 MiB.
pub const BODY_SIZE_BUCKETS: [f64; 10] = [
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// Makes histograms with fixed bounds for a family.
#[derive(Clone, Debug)]
pub(crate) struct Buckets(Arc<[f64]>);

impl Buckets {
    pub(crate) fn new(bounds: &[f64]) -> Self {
        Self(Arc::from(bounds))
    }
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// What went wrong, for the `error_type` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ErrorLabel {
    /// No error: the label is absent.
    None,
    /// A 5xx response: the label is the status code, as the conventions say.
    ServerStatus,
    /// The inner service failed (its error's type name) or the body did.
    Named(&'static str),
}

/// The labels of the per-request histograms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RequestLabels {
    method: MethodLabel,
    route: RouteLabel,
    /// `0` when the inner service failed before a response.
    status: u16,
    error: ErrorLabel,
}

impl EncodeLabelSet for RequestLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), fmt::Error> {
        ("http_request_method", self.method.as_str()).encode(encoder.encode_label())?;
        ("http_route", self.route.as_str()).encode(encoder.encode_label())?;
        if self.status != 0 {
            ("http_response_status_code", self.status).encode(encoder.encode_label())?;
        }
        match self.error {
            ErrorLabel::None => {}
            ErrorLabel::ServerStatus => {
                ("error_type", self.status).encode(encoder.encode_label())?;
            }
            ErrorLabel::Named(name) => {
                ("error_type", name).encode(encoder.encode_label())?;
            }
        }
        Ok(())
    }
}

/// The label of the active-requests gauge.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ActiveLabels {
    method: MethodLabel,
}

impl EncodeLabelSet for ActiveLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> Result<(), fmt::Error> {
        ("http_request_method", self.method.as_str()).encode(encoder.encode_label())
    }
}

/// The metric families of one [`HttpMetricsLayer`](super::HttpMetricsLayer).
pub(crate) struct HttpInstruments {
    duration: Family<RequestLabels, Histogram, Buckets>,
    request_size: Option<Family<RequestLabels, Histogram, Buckets>>,
    response_size: Option<Family<RequestLabels, Histogram, Buckets>>,
    /// One gauge per method label, created up front: no lookup per request.
    active: [Gauge; MethodLabel::ALL.len()],
    pub(crate) routes: RouteTable,
    clock: Arc<dyn Clock>,
}

pub(crate) struct InstrumentsConfig {
    pub(crate) duration_buckets: Vec<f64>,
    pub(crate) body_size_buckets: Option<Vec<f64>>,
    pub(crate) max_routes: usize,
    pub(crate) clock: Arc<dyn Clock>,
}

impl HttpInstruments {
    pub(crate) fn register(registry: &mut Registry, config: InstrumentsConfig) -> Self {
        let duration = Family::new_with_constructor(Buckets::new(&config.duration_buckets));
        registry.register_with_unit(
            "http_server_request_duration",
            "Duration of HTTP server requests, until the response body ended",
            Unit::Seconds,
            duration.clone(),
        );
        let active_family = Family::<ActiveLabels, Gauge>::default();
        registry.register(
            "http_server_active_requests",
            "Number of HTTP server requests in flight",
            active_family.clone(),
        );
        let active = MethodLabel::ALL
            .map(|method| active_family.get_or_create_owned(&ActiveLabels { method }));
        let (request_size, response_size) = match &config.body_size_buckets {
            Some(bounds) => {
                let request = Family::new_with_constructor(Buckets::new(bounds));
                registry.register_with_unit(
                    "http_server_request_body_size",
                    "Size of HTTP server request bodies, from Content-Length",
                    Unit::Bytes,
                    request.clone(),
                );
                let response = Family::new_with_constructor(Buckets::new(bounds));
                registry.register_with_unit(
                    "http_server_response_body_size",
                    "Size of HTTP server response bodies, as sent",
                    Unit::Bytes,
                    response.clone(),
                );
                (Some(request), Some(response))
            }
            None => (None, None),
        };
        Self {
            duration,
            request_size,
            response_size,
            active,
            routes: RouteTable::new(config.max_routes),
            clock: config.clock,
        }
    }

    pub(crate) fn body_sizes(&self) -> bool {
        self.request_size.is_some()
    }
}

impl fmt::Debug for HttpInstruments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpInstruments")
            .field("routes", &self.routes)
            .field("body_sizes", &self.body_sizes())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// One request in flight. Counted as active from [`start`](Self::start)
/// until dropped; dropped with an outcome, it records the duration (and
/// sizes) under the outcome's labels. Dropped without one (the request was
/// cancelled before a response existed), it only leaves the active gauge.
pub(crate) struct Exchange {
    instruments: Arc<HttpInstruments>,
    method: MethodLabel,
    route: RouteLabel,
    start_nanos: u64,
    request_size: Option<u64>,
    status: u16,
    error: ErrorLabel,
    outcome: bool,
    response_bytes: u64,
}

impl Exchange {
    #[inline]
    pub(crate) fn start(
        instruments: Arc<HttpInstruments>,
        method: MethodLabel,
        route: RouteLabel,
        request_size: Option<u64>,
    ) -> Self {
        instruments.active[method.index()].inc();
        let start_nanos = instruments.clock.now_nanos();
        Self {
            instruments,
            method,
            route,
            start_nanos,
            request_size,
            status: 0,
            error: ErrorLabel::None,
            outcome: false,
            response_bytes: 0,
        }
    }

    /// The inner service answered with `status`.
    #[inline]
    pub(crate) fn responded(&mut self, status: http::StatusCode) {
        self.status = status.as_u16();
        self.error = if status.is_server_error() {
            ErrorLabel::ServerStatus
        } else {
            ErrorLabel::None
        };
        self.outcome = true;
    }

    /// The inner service failed with an error of type `E`.
    pub(crate) fn failed<E>(&mut self) {
        self.error = ErrorLabel::Named(short_type_name::<E>());
        self.outcome = true;
    }

    /// The response body failed while streaming.
    pub(crate) fn body_failed(&mut self) {
        self.error = ErrorLabel::Named(BODY_ERROR);
    }

    /// `n` more response body bytes were sent.
    #[inline]
    pub(crate) fn sent(&mut self, n: usize) {
        self.response_bytes = self.response_bytes.saturating_add(n as u64);
    }
}

impl Drop for Exchange {
    #[inline]
    fn drop(&mut self) {
        let instruments = &*self.instruments;
        instruments.active[self.method.index()].dec();
        if !self.outcome {
            return;
        }
        let elapsed = instruments
            .clock
            .now_nanos()
            .saturating_sub(self.start_nanos);
        let labels = RequestLabels {
            method: self.method,
            route: self.route.clone(),
            status: self.status,
            error: self.error,
        };
        instruments
            .duration
            .get_or_create(&labels)
            .observe(elapsed as f64 / 1e9);
        if let (Some(request), Some(response)) =
            (&instruments.request_size, &instruments.response_size)
        {
            if let Some(size) = self.request_size {
                request.get_or_create(&labels).observe(size as f64);
            }
            response
                .get_or_create(&labels)
                .observe(self.response_bytes as f64);
        }
    }
}

/// `E`'s name without its path or generic arguments (`io::Error` → `Error`,
/// `Box<dyn Error>` → `Box`): one fixed value per error type.
pub(crate) fn short_type_name<E>() -> &'static str {
    let full = std::any::type_name::<E>();
    let base = full.split('<').next().unwrap_or(full);
    match base.rsplit("::").next() {
        Some(name) if !name.is_empty() => name,
        _ => "_OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_names() {
        assert_eq!(short_type_name::<std::io::Error>(), "Error");
        assert_eq!(short_type_name::<Box<dyn std::error::Error>>(), "Box");
        assert_eq!(short_type_name::<std::convert::Infallible>(), "Infallible");
        assert_eq!(short_type_name::<u8>(), "u8");
    }

    #[test]
    fn semconv_buckets_are_increasing() {
        assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert!(BODY_SIZE_BUCKETS.windows(2).all(|w| w[0] < w[1]));
    }
}
