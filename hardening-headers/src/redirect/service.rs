//! [`HttpsRedirect`]: the service the layer produces.

use std::sync::Arc;
use std::task::{Context, Poll};

use hardening_core::observe::RedirectOutcome;
use http::{Request, Response};
use tower_service::Service;

use super::decide::{Decision, RedirectPolicy};
use super::future::ResponseFuture;

/// Redirects plain-HTTP requests to HTTPS, or answers 400 for a host that is
/// not allowed; made by [`HttpsRedirectLayer`](crate::HttpsRedirectLayer).
///
/// The redirect and the 400 are responses with an empty body
/// (`ResBody::default()`), not errors: the inner service is not called for
/// them.
///
/// # Clone
///
/// Clones the inner service; the configuration is shared.
#[derive(Clone, Debug)]
pub struct HttpsRedirect<S> {
    inner: S,
    policy: Arc<RedirectPolicy>,
}

impl<S> HttpsRedirect<S> {
    pub(crate) fn new(inner: S, policy: Arc<RedirectPolicy>) -> Self {
        HttpsRedirect { inner, policy }
    }

    hardening_core::define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpsRedirect<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.policy.decide(&req) {
            Decision::Pass { https } => {
                let hsts = if https {
                    self.policy.hsts.clone()
                } else {
                    None
                };
                ResponseFuture::inner(self.inner.call(req), hsts)
            }
            Decision::Redirect { status, location } => {
                if let Some(observer) = &self.policy.observer {
                    observer.redirect(RedirectOutcome::Redirected);
                }
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = status;
                response
                    .headers_mut()
                    .insert(http::header::LOCATION, location);
                ResponseFuture::ready(response)
            }
            Decision::Reject => {
                if let Some(observer) = &self.policy.observer {
                    observer.redirect(RedirectOutcome::RejectedHost);
                }
                let mut response = Response::new(ResBody::default());
                *response.status_mut() = http::StatusCode::BAD_REQUEST;
                ResponseFuture::ready(response)
            }
        }
    }
}
