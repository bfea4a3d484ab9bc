//! The validated configuration every clone of a retry layer shares.

use std::sync::Arc;
use std::time::Duration;

use hardening_core::observe::RetryObserver;

use hardening_core::clock::Clock;
use http::header::HeaderName;

use super::backoff::{Backoff, Random};
use super::budget::Budget;
use super::classify::{Classifier, RequestRule};

/// Everything a retry layer was configured with; shared behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) deadline: Option<Duration>,
    pub(crate) attempt_timeout: Option<Duration>,
    pub(crate) budget: Option<Budget>,
    pub(crate) classifier: Classifier,
    pub(crate) requests: RequestRule,
    pub(crate) overload_header: Option<HeaderName>,
    pub(crate) attempt_header: Option<HeaderName>,
    pub(crate) max_retry_after: Duration,
    pub(crate) random: Random,
    pub(crate) clock: Box<dyn Clock>,
    pub(crate) observer: Option<Arc<dyn RetryObserver>>,
}
