//! Marks credential-bearing headers sensitive on requests and responses.
//!
//! [`SensitiveHeadersLayer`] calls [`HeaderValue::set_sensitive`] on
//! `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie` and
//! `X-Api-Key` (configurable) before the request goes on and when the
//! response comes back, so `Debug` output of the headers — from any layer
//! or handler — prints `Sensitive` instead of the value, and HTTP/2 keeps
//! them out of its compression tables.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use http::{header, Request, Response};
//! use hardening_redact::headers::SensitiveHeadersLayer;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = SensitiveHeadersLayer::new().layer(service_fn(|req: Request<()>| async move {
//!     assert!(req.headers()[header::AUTHORIZATION].is_sensitive());
//!     assert_eq!(format!("{:?}", req.headers()), r#"{"authorization": Sensitive}"#);
//!     Ok::<_, Infallible>(Response::builder().header(header::SET_COOKIE, "sid=abc").body(()).unwrap())
//! }));
//! let req = Request::builder().header(header::AUTHORIZATION, "Bearer t0k3n").body(()).unwrap();
//! let resp = svc.oneshot(req).await.unwrap();
//! assert!(resp.headers()[header::SET_COOKIE].is_sensitive());
//! # });
//! ```
//!
//! [`HeaderValue::set_sensitive`]: http::HeaderValue::set_sensitive

mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::{SensitiveHeadersLayer, DEFAULT_SENSITIVE_HEADERS};
pub use service::SensitiveHeaders;

use http::header::{Entry, HeaderMap, HeaderName};

/// Marks every value of each of `names` in `headers` sensitive.
pub(crate) fn mark(headers: &mut HeaderMap, names: &[HeaderName]) {
    if headers.is_empty() {
        return;
    }
    for name in names {
        if let Entry::Occupied(mut e) = headers.entry(name) {
            for v in e.iter_mut() {
                v.set_sensitive(true);
            }
        }
    }
}
