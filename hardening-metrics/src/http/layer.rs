//! [`HttpMetricsLayer`] and its builder.

use std::sync::Arc;

use hardening_core::{Clock, MonotonicClock};
use prometheus_client::registry::Registry;
use tower_layer::Layer;

use super::instruments::{HttpInstruments, InstrumentsConfig, BODY_SIZE_BUCKETS, DURATION_BUCKETS};
use super::route::DefaultRoute;
use super::service::HttpMetrics;
use crate::ConfigError;

/// The default [`max_routes`](HttpMetricsBuilder::max_routes).
pub const DEFAULT_MAX_ROUTES: usize = 256;

/// Records OpenTelemetry-convention HTTP server metrics into a
/// [`Registry`].
///
/// See the [module docs](super) for the metrics and their labels.
///
/// # Clone
///
/// Clones share the metric families and the route table: every service the
/// layer makes records into the same series.
#[derive(Debug)]
pub struct HttpMetricsLayer<R = DefaultRoute> {
    instruments: Arc<HttpInstruments>,
    classify: Arc<R>,
}

impl<R> Clone for HttpMetricsLayer<R> {
    fn clone(&self) -> Self {
        Self {
            instruments: self.instruments.clone(),
            classify: self.classify.clone(),
        }
    }
}

impl HttpMetricsLayer {
    /// The layer with default settings, registered in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        match Self::builder().build(registry) {
            Ok(layer) => layer,
            // The defaults are valid; `build` cannot fail on them.
            Err(err) => unreachable!("default HTTP metrics settings rejected: {err}"),
        }
    }

    /// A builder, starting from the defaults: semantic-convention duration
    /// buckets, no body size histograms, [`DEFAULT_MAX_ROUTES`], the
    /// [`DefaultRoute`] classifier and the monotonic clock.
    pub fn builder() -> HttpMetricsBuilder {
        HttpMetricsBuilder {
            classify: DefaultRoute,
            max_routes: DEFAULT_MAX_ROUTES,
            duration_buckets: DURATION_BUCKETS.to_vec(),
            body_size_buckets: None,
            clock: Arc::new(MonotonicClock::new()),
        }
    }
}

impl<S, R> Layer<S> for HttpMetricsLayer<R> {
    type Service = HttpMetrics<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetrics::new(inner, self.instruments.clone(), self.classify.clone())
    }
}

/// Configures an [`HttpMetricsLayer`]; made by [`HttpMetricsLayer::builder`].
#[derive(Debug)]
pub struct HttpMetricsBuilder<R = DefaultRoute> {
    classify: R,
    max_routes: usize,
    duration_buckets: Vec<f64>,
    body_size_buckets: Option<Vec<f64>>,
    clock: Arc<dyn Clock>,
}

impl<R> HttpMetricsBuilder<R> {
    /// Names routes with `classify` instead of [`DefaultRoute`]: any
    /// [`ClassifyRoute`](super::ClassifyRoute), closures included.
    pub fn route_classifier<C>(self, classify: C) -> HttpMetricsBuilder<C> {
        HttpMetricsBuilder {
            classify,
            max_routes: self.max_routes,
            duration_buckets: self.duration_buckets,
            body_size_buckets: self.body_size_buckets,
            clock: self.clock,
        }
    }

    /// The most distinct `http_route` values besides the two reserved ones
    /// (default [`DEFAULT_MAX_ROUTES`]); later new names are recorded as
    /// [`OVERFLOW_ROUTE`](super::OVERFLOW_ROUTE). At least 1.
    pub fn max_routes(mut self, max_routes: usize) -> Self {
        self.max_routes = max_routes;
        self
    }

    /// Bucket bounds of `http_server_request_duration_seconds`, in seconds
    /// (default [`DURATION_BUCKETS`]): finite, positive, strictly increasing.
    pub fn duration_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.duration_buckets = bounds.into_iter().collect();
        self
    }

    /// Records `http_server_request_body_size_bytes` (from the request's
    /// exact size hint, i.e. `Content-Length`) and
    /// `http_server_response_body_size_bytes` (bytes sent), with
    /// [`BODY_SIZE_BUCKETS`]. Off by default.
    pub fn body_sizes(mut self, enabled: bool) -> Self {
        self.body_size_buckets = enabled.then(|| BODY_SIZE_BUCKETS.to_vec());
        self
    }

    /// Records body sizes with these bucket bounds, in bytes.
    pub fn body_size_buckets(mut self, bounds: impl IntoIterator<Item = f64>) -> Self {
        self.body_size_buckets = Some(bounds.into_iter().collect());
        self
    }

    /// The clock durations are measured with (default the monotonic clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Registers the metric families in `registry` and returns the layer.
    ///
    /// Register one `HttpMetricsLayer` per registry (use
    /// [`Registry::sub_registry_with_label`] for several servers in one).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `max_routes`, `duration_buckets` or
    /// `body_size_buckets` when that value is invalid.
    pub fn build(self, registry: &mut Registry) -> Result<HttpMetricsLayer<R>, ConfigError> {
        if self.max_routes == 0 {
            return Err(ConfigError::new(
                "HttpMetricsLayer",
                "max_routes",
                0,
                "at least 1",
            ));
        }
        check_buckets("duration_buckets", &self.duration_buckets)?;
        if let Some(bounds) = &self.body_size_buckets {
            check_buckets("body_size_buckets", bounds)?;
        }
        let instruments = HttpInstruments::register(
            registry,
            InstrumentsConfig {
                duration_buckets: self.duration_buckets,
                body_size_buckets: self.body_size_buckets,
                max_routes: self.max_routes,
                clock: self.clock,
            },
        );
        Ok(HttpMetricsLayer {
            instruments: Arc::new(instruments),
            classify: Arc::new(self.classify),
        })
    }
}

fn check_buckets(field: &'static str, bounds: &[f64]) -> Result<(), ConfigError> {
    const EXPECTED: &str = "at least one finite, positive, strictly increasing bound";
    let valid = !bounds.is_empty()
        && bounds.iter().all(|b| b.is_finite() && *b > 0.0)
        && bounds.windows(2).all(|w| w[0] < w[1]);
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            "HttpMetricsLayer",
            field,
            format_args!("{bounds:?}"),
            EXPECTED,
        ))
    }
}
