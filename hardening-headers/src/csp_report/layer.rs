//! [`CspReportLayer`] and its builder.

use std::sync::Arc;

use tower_layer::Layer;

use super::service::CspReport;
use crate::error::ConfigError;

/// Default largest report body: 64 KiB.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// Receives CSP violation reports at one path and logs each as a structured
/// `tracing` event; every other request goes to the inner service.
///
/// See the [module docs](crate::csp_report) for what is accepted and logged.
///
/// # Clone
///
/// Clones share the configuration.
#[derive(Clone, Debug)]
pub struct CspReportLayer {
    pub(crate) config: Arc<Config>,
}

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) path: Box<str>,
    pub(crate) max_body: usize,
}

impl CspReportLayer {
    /// A builder for a receiver at `path` (e.g. `/csp-reports`, the value
    /// of `report-uri` and of the `Reporting-Endpoints` entry).
    pub fn builder(path: impl Into<String>) -> CspReportBuilder {
        CspReportBuilder {
            path: path.into(),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// The path reports are received at.
    pub fn path(&self) -> &str {
        &self.config.path
    }
}

impl<S> Layer<S> for CspReportLayer {
    type Service = CspReport<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CspReport::new(inner, self.config.clone())
    }
}

/// Configures a [`CspReportLayer`].
#[derive(Clone, Debug)]
pub struct CspReportBuilder {
    path: String,
    max_body: usize,
}

impl CspReportBuilder {
    /// The largest body accepted, in bytes (default [`DEFAULT_MAX_BODY`]);
    /// a larger one is answered `413` without being read further.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Validates the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPath`] for a path that is not absolute (or
    /// holds a query, fragment or characters a request path cannot), and
    /// [`ConfigError::InvalidReportBodyLimit`] for a limit of zero.
    pub fn build(self) -> Result<CspReportLayer, ConfigError> {
        let valid_path = self.path.starts_with('/')
            && !self.path.starts_with("//")
            && self
                .path
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#'));
        if !valid_path {
            return Err(ConfigError::InvalidPath { path: self.path });
        }
        if self.max_body == 0 {
            return Err(ConfigError::InvalidReportBodyLimit);
        }
        Ok(CspReportLayer {
            config: Arc::new(Config {
                path: self.path.into_boxed_str(),
                max_body: self.max_body,
            }),
        })
    }
}
