//! HTTPS redirects and redaction.

use super::label_enum;

label_enum! {
    /// What the HTTPS redirect layer did with a plain-HTTP request.
    pub enum RedirectOutcome {
        /// Answered with a redirect to HTTPS.
        Redirected => "redirected",
        /// Answered `400`: the host is not one of ours.
        RejectedHost => "rejected_host",
    }
}

/// What an HTTPS redirect layer reports (requests it passes on are not
/// reported: the HTTP metrics count those).
pub trait RedirectObserver: Send + Sync + 'static {
    /// A request was redirected or refused.
    fn redirect(&self, outcome: RedirectOutcome) {
        let _ = outcome;
    }
}

/// What a redactor reports.
pub trait RedactObserver: Send + Sync + 'static {
    /// `count` values were masked by the rule called `rule` (a name from
    /// the redactor's configuration, never the value).
    fn redacted(&self, rule: &'static str, count: u64) {
        let _ = (rule, count);
    }
}
