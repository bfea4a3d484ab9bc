//! The services: [`HealthEndpoints`] (middleware) and [`HealthService`]
//! (standalone).

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use crate::answer::{answer, not_found, Answer};

use crate::body::HealthBody;
use crate::future::{HealthFuture, ResponseFuture};
use crate::health::Health;

/// Middleware that answers the probe paths and passes every other request
/// to `S`. Made by [`HealthLayer`](crate::HealthLayer).
///
/// `GET` and `HEAD` are answered; any other method on a probe path gets
/// `405 Method Not Allowed` with `Allow: GET, HEAD`.
///
/// Probe responses are built in the wrapped service's own body type
/// (`ResBody: From<Bytes>`, as axum's `Body` and `Full<Bytes>` are), so
/// passed-through responses are returned untouched.
///
/// # Clone
///
/// Clones clone `S` and share the [`Health`].
#[derive(Clone, Debug)]
pub struct HealthEndpoints<S> {
    inner: S,
    health: Health,
}

impl<S> HealthEndpoints<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, health: Health) -> Self {
        Self { inner, health }
    }

    hardening_core::define_inner_service_accessors!();

    /// The health registry.
    pub fn health(&self) -> &Health {
        &self.health
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HealthEndpoints<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.health.inner.paths.probe(req.uri().path()) {
            Some(probe) => ResponseFuture::health(answer(&self.health, probe, req)),
            None => ResponseFuture::inner(self.inner.call(req)),
        }
    }
}

/// A service that answers only the probe paths (`404 Not Found` for any
/// other path), e.g. on a separate admin port.
///
/// # Example
///
/// ```
/// use hardening_health::{Health, HealthService};
/// use http_body_util::BodyExt;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let service = Health::builder().build().unwrap().service();
/// let live = service.clone().oneshot(http::Request::get("/livez").body(()).unwrap()).await.unwrap();
/// assert_eq!(live.status(), 200);
/// assert_eq!(live.into_body().collect().await.unwrap().to_bytes(), r#"{"status":"pass"}"#);
///
/// let post = service.clone().oneshot(http::Request::post("/livez").body(()).unwrap()).await.unwrap();
/// assert_eq!(post.status(), 405);
/// assert_eq!(post.headers()["allow"], "GET, HEAD");
///
/// let other = service.oneshot(http::Request::get("/").body(()).unwrap()).await.unwrap();
/// assert_eq!(other.status(), 404);
/// # }
/// ```
///
/// # Clone
///
/// Clones share the [`Health`].
#[derive(Clone, Debug)]
pub struct HealthService {
    health: Health,
}

impl HealthService {
    /// A service answering `health`'s probe paths.
    pub fn new(health: Health) -> Self {
        Self { health }
    }
}

impl<ReqBody> Service<Request<ReqBody>> for HealthService {
    type Response = Response<HealthBody>;
    type Error = Infallible;
    type Future = HealthFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        HealthFuture::new(match self.health.inner.paths.probe(req.uri().path()) {
            Some(probe) => answer(&self.health, probe, req),
            None => Answer::Ready(Some(not_found())),
        })
    }
}
