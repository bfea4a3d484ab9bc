//! HTTPS redirects and redaction.

use std::sync::Arc;

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

/// Hands out the observer of each redaction rule, by its name (called
/// once per rule when the redactor is built).
pub trait RedactObserver: Send + Sync + 'static {
    /// The observer of the rule called `rule`: a built-in pattern, the
    /// field-name rule or a custom pattern's name, all from the
    /// redactor's configuration, never from the text.
    fn rule(&self, rule: &str) -> Arc<dyn RedactRuleObserver>;
}

/// What one redaction rule reports.
pub trait RedactRuleObserver: Send + Sync + 'static {
    /// `count` values were masked by this rule.
    fn redacted(&self, count: u64) {
        let _ = count;
    }
}
