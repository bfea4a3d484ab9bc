use std::sync::Arc;

use http::header::{self, HeaderName};
use tower_layer::Layer;

use super::SensitiveHeaders;

/// The headers marked sensitive by default.
pub const DEFAULT_SENSITIVE_HEADERS: [HeaderName; 5] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    header::SET_COOKIE,
    HeaderName::from_static("x-api-key"),
];

/// Applies [`SensitiveHeaders`]: see the [module docs](super).
///
/// # Clone
///
/// Clones share the list of header names.
#[derive(Debug, Clone)]
pub struct SensitiveHeadersLayer {
    names: Arc<[HeaderName]>,
}

impl Default for SensitiveHeadersLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl SensitiveHeadersLayer {
    /// Marks [`DEFAULT_SENSITIVE_HEADERS`].
    pub fn new() -> Self {
        Self::with_headers(DEFAULT_SENSITIVE_HEADERS)
    }

    /// Marks exactly `names` (replacing the defaults).
    pub fn with_headers(names: impl IntoIterator<Item = HeaderName>) -> Self {
        SensitiveHeadersLayer {
            names: names.into_iter().collect(),
        }
    }

    /// Marks `name` as well.
    pub fn header(self, name: HeaderName) -> Self {
        let mut names = self.names.to_vec();
        if !names.contains(&name) {
            names.push(name);
        }
        SensitiveHeadersLayer {
            names: names.into(),
        }
    }

    /// The header names this layer marks.
    pub fn headers(&self) -> &[HeaderName] {
        &self.names
    }
}

impl<S> Layer<S> for SensitiveHeadersLayer {
    type Service = SensitiveHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SensitiveHeaders {
            inner,
            names: self.names.clone(),
        }
    }
}
