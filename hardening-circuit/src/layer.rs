//! [`CircuitBreakerLayer`]: one breaker for everything the layer wraps.

use std::fmt;
use std::marker::PhantomData;

use tower_layer::Layer;

use crate::breaker::Breaker;
use crate::classify::HttpClassifier;
use crate::config::CircuitBreakerBuilder;
use crate::reject::{BoxErrorRejection, ErrorRejection, ResponseRejection};
use crate::service::CircuitBreaker;

/// Wraps services in a [`CircuitBreaker`] that share one [`Breaker`].
///
/// `C` classifies results (default [`HttpClassifier`]); `R` says what a
/// rejected call gets (default [`BoxErrorRejection`]: an error; see
/// [`into_response`](Self::into_response) for servers).
///
/// # Clone
///
/// Clones share the breaker: services made by any clone trip and recover
/// together. Build another layer for an independent breaker.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use hardening_circuit::{CircuitBreakerLayer, CircuitOpen, SlidingWindow, State};
/// use tower::{service_fn, BoxError, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let layer = CircuitBreakerLayer::builder()
///     .sliding_window(SlidingWindow::count(10))
///     .minimum_calls(2)
///     .open_duration(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// let breaker = layer.breaker().clone();
/// let upstream = tower::ServiceBuilder::new().layer(layer).service(service_fn(
///     |_req: http::Request<()>| async {
///         Ok::<_, BoxError>(http::Response::builder().status(502).body(()).unwrap())
///     },
/// ));
///
/// // Two 502s out of two calls: the failure rate reaches 50 %.
/// for _ in 0..2 {
///     let resp = upstream.clone().oneshot(http::Request::new(())).await.unwrap();
///     assert_eq!(resp.status(), 502);
/// }
/// assert_eq!(breaker.state(), State::Open);
///
/// // Now calls fail fast without reaching the upstream.
/// let err = upstream.oneshot(http::Request::new(())).await.unwrap_err();
/// let open = err.downcast_ref::<CircuitOpen>().unwrap();
/// assert!(open.retry_after <= Duration::from_secs(5));
/// # }
/// ```
pub struct CircuitBreakerLayer<C = HttpClassifier, R = BoxErrorRejection> {
    breaker: Breaker,
    classify: C,
    _rejection: PhantomData<fn() -> R>,
}

impl CircuitBreakerLayer {
    /// A layer with a new breaker with the default settings (see
    /// [`CircuitBreakerBuilder`]).
    pub fn new() -> Self {
        Self::from_breaker(Breaker::new())
    }

    /// A builder for the layer's breaker.
    pub fn builder() -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new()
    }

    /// A layer over an existing breaker, e.g. to put one breaker in front of
    /// several services.
    pub fn from_breaker(breaker: Breaker) -> Self {
        Self {
            breaker,
            classify: HttpClassifier::new(),
            _rejection: PhantomData,
        }
    }
}

impl Default for CircuitBreakerLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<C, R> CircuitBreakerLayer<C, R> {
    /// The breaker every service of this layer shares.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// Classifies results with `classify` (a [`Classify`](crate::Classify),
    /// e.g. a closure over `&Result<Response, Error>`).
    pub fn classify<C2>(self, classify: C2) -> CircuitBreakerLayer<C2, R> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify,
            _rejection: PhantomData,
        }
    }

    /// Server mode: a rejected call gets a `503 Service Unavailable` with
    /// `Retry-After` as its *response*, and the service keeps the inner
    /// service's error type, so axum routes need no `HandleErrorLayer`.
    pub fn into_response(self) -> CircuitBreakerLayer<C, ResponseRejection> {
        self.with_rejection()
    }

    /// A rejected call gets `Err(E::from(CircuitOpen))`, keeping the inner
    /// service's error type `E` (which must implement `From<CircuitOpen>`).
    pub fn into_error(self) -> CircuitBreakerLayer<C, ErrorRejection> {
        self.with_rejection()
    }

    /// A rejected call gets an `Err(BoxError)` holding a
    /// [`CircuitOpen`](crate::CircuitOpen) (the default).
    pub fn into_box_error(self) -> CircuitBreakerLayer<C, BoxErrorRejection> {
        self.with_rejection()
    }

    fn with_rejection<R2>(self) -> CircuitBreakerLayer<C, R2> {
        CircuitBreakerLayer {
            breaker: self.breaker,
            classify: self.classify,
            _rejection: PhantomData,
        }
    }
}

impl<S, C: Clone, R> Layer<S> for CircuitBreakerLayer<C, R> {
    type Service = CircuitBreaker<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(inner, self.breaker.clone(), self.classify.clone())
    }
}

impl<C: Clone, R> Clone for CircuitBreakerLayer<C, R> {
    fn clone(&self) -> Self {
        Self {
            breaker: self.breaker.clone(),
            classify: self.classify.clone(),
            _rejection: PhantomData,
        }
    }
}

impl<C, R> fmt::Debug for CircuitBreakerLayer<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("breaker", &self.breaker)
            .field("rejection", &std::any::type_name::<R>())
            .finish_non_exhaustive()
    }
}
