//! [`HealthLayer`]: probe endpoints in front of any service.

use tower_layer::Layer;

use crate::health::Health;
use crate::service::HealthEndpoints;

/// Answers the probe paths of a [`Health`] and passes every other request to
/// the service it wraps, unchanged.
///
/// Put it outside rate limits, load shedding and authentication, so probes
/// are never throttled or refused (with `ServiceBuilder`, layers listed
/// first are outermost).
///
/// # Example
///
/// ```
/// use axum::{routing::get, Router};
/// use hardening_health::{Check, Health};
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let health = Health::builder()
///     .check(Check::new("db:ping", || async { true }))
///     .build()
///     .unwrap();
/// let app = Router::new()
///     .route("/", get(|| async { "hello" }))
///     .layer(health.layer());
///
/// let ready = app.clone().oneshot(http::Request::get("/readyz").body(axum::body::Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(ready.status(), 200);
/// assert_eq!(ready.headers()["content-type"], "application/health+json");
/// assert_eq!(ready.headers()["cache-control"], "no-store");
///
/// let other = app.oneshot(http::Request::get("/").body(axum::body::Body::empty()).unwrap()).await.unwrap();
/// assert_eq!(other.status(), 200); // passed through
/// # }
/// ```
///
/// # Clone
///
/// Clones share the [`Health`].
#[derive(Clone, Debug)]
pub struct HealthLayer {
    health: Health,
}

impl HealthLayer {
    /// A layer serving `health`.
    pub fn new(health: Health) -> Self {
        Self { health }
    }
}

impl<S> Layer<S> for HealthLayer {
    type Service = HealthEndpoints<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HealthEndpoints::new(inner, self.health.clone())
    }
}
