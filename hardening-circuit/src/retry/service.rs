//! [`Retry`], the service made by [`RetryLayer`](super::RetryLayer).

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response};
use tower_service::Service;

use super::body::{copy_request, ReplayableBody};
use super::config::Config;
use super::future::ResponseFuture;
use crate::BoxError;

/// Retries calls to `S`; made by [`RetryLayer`](super::RetryLayer), which
/// documents the behaviour.
///
/// The request body must be [`ReplayableBody`]; the error becomes a boxed
/// error (the inner service's own error, or one of the layer's timeouts).
///
/// # Clone
///
/// Clones share the configuration and the [`Budget`](super::Budget);
/// each clone has its own clone of `S`.
#[derive(Clone, Debug)]
pub struct Retry<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> Retry<S> {
    pub(crate) fn from_config(inner: S, config: Arc<Config>) -> Self {
        Self { inner, config }
    }

    hardening_core::define_inner_service_accessors!();
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Retry<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    S::Error: Into<BoxError>,
    ReqBody: ReplayableBody,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ResponseFuture<S, ReqBody>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let config = &self.config;
        let copy = if config.max_attempts > 1
            && config
                .requests
                .is_retryable(req.method(), req.uri(), req.headers())
        {
            copy_request(&req)
        } else {
            None
        };
        if let Some(name) = &config.attempt_header {
            req.headers_mut()
                .insert(name.clone(), HeaderValue::from(1u32));
        }
        match copy {
            Some(copy) => {
                if let Some(budget) = &config.budget {
                    budget.deposit();
                }
                // The ready service makes this call; the future keeps it for
                // the retries, and this `Retry` carries on with a fresh clone
                // (which will be driven to readiness before its own call).
                let fresh = self.inner.clone();
                let mut service = std::mem::replace(&mut self.inner, fresh);
                let future = service.call(req);
                ResponseFuture::retryable(future, service, copy, Arc::clone(config))
            }
            None => {
                let future = self.inner.call(req);
                ResponseFuture::single(future, config)
            }
        }
    }
}
