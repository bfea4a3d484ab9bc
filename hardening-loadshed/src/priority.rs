//! Request classes and the admission rule that sheds them in order.
//!
//! Every request gets a [`Priority`] from a [`Classify`] (closures
//! `Fn(&RequestRef<'_>) -> Priority` are classifiers, and [`PathClassifier`]
//! maps path prefixes). [`Shares`] reserve part of the limit for the higher
//! classes, so that as in-flight requests approach the limit `sheddable`
//! requests are refused first, then `default` ones, while `critical` ones
//! (auth, health) still find room.
//!
//! # Example
//!
//! ```
//! use hardening_loadshed::{Classify, InFlight, PathClassifier, Priority, Shares};
//!
//! // 10 % of the limit reserved for critical, 30 % for default (and critical).
//! let shares = Shares::new(0.1, 0.3).unwrap();
//! let busy = InFlight { critical: 0, default: 0, sheddable: 60 };
//! // At limit 100 with 60 sheddable in flight, sheddable is full (it may use
//! // 100 - 10 - 30 = 60), default and critical still get in.
//! assert!(!shares.admits(100, busy, Priority::Sheddable));
//! assert!(shares.admits(100, busy, Priority::Default));
//! assert!(shares.admits(100, busy, Priority::Critical));
//!
//! let classify = PathClassifier::new().critical("/auth").sheddable("/llm");
//! let req = http::Request::get("/llm/chat").body(()).unwrap();
//! assert_eq!(classify.classify_request(&req), Priority::Sheddable);
//! ```

use std::fmt;
use std::sync::Arc;

pub use hardening_core::RequestRef;
use http::Request;

use crate::error::{check_range, invalid, ConfigError};

/// The component named in this module's configuration errors.
const COMPONENT: &str = "Shares";

/// How important a request is when the service is saturated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// Must get through: authentication, health checks, control traffic.
    /// Keeps a reserved share of the limit.
    Critical,
    /// Ordinary requests.
    #[default]
    Default,
    /// Refused first: expensive or retryable work (LLM calls, exports,
    /// prefetches).
    Sheddable,
}

impl Priority {
    /// All classes, most important first.
    pub const ALL: [Priority; 3] = [Priority::Critical, Priority::Default, Priority::Sheddable];

    /// `"critical"`, `"default"` or `"sheddable"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::Default => "default",
            Priority::Sheddable => "sheddable",
        }
    }

    /// 0, 1, 2 in order of importance.
    pub const fn index(self) -> usize {
        match self {
            Priority::Critical => 0,
            Priority::Default => 1,
            Priority::Sheddable => 2,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Maps a request to its [`Priority`].
///
/// Closures `Fn(&RequestRef<'_>) -> Priority` implement it; `()` classifies
/// everything as [`Priority::Default`].
pub trait Classify: Send + Sync + 'static {
    /// The class of `req`.
    fn classify(&self, req: &RequestRef<'_>) -> Priority;

    /// The class of a whole request.
    fn classify_request<B>(&self, req: &Request<B>) -> Priority
    where
        Self: Sized,
    {
        self.classify(&RequestRef::from(req))
    }
}

impl<F> Classify for F
where
    F: Fn(&RequestRef<'_>) -> Priority + Send + Sync + 'static,
{
    fn classify(&self, req: &RequestRef<'_>) -> Priority {
        self(req)
    }
}

impl Classify for () {
    fn classify(&self, _req: &RequestRef<'_>) -> Priority {
        Priority::Default
    }
}

impl<C: Classify + ?Sized> Classify for Arc<C> {
    fn classify(&self, req: &RequestRef<'_>) -> Priority {
        (**self).classify(req)
    }
}

/// Classifies by path prefix: the longest matching prefix wins, anything
/// else is [`Priority::Default`] (or the class set with
/// [`otherwise`](PathClassifier::otherwise)).
///
/// Prefixes match whole segments: `/llm` matches `/llm` and `/llm/chat`, not
/// `/llmx`.
#[derive(Clone, Debug, Default)]
pub struct PathClassifier {
    rules: Vec<(String, Priority)>,
    otherwise: Priority,
}

impl PathClassifier {
    /// No rules: everything is [`Priority::Default`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests under `prefix` get `priority`.
    pub fn rule(mut self, prefix: impl Into<String>, priority: Priority) -> Self {
        let mut prefix = prefix.into();
        while prefix.len() > 1 && prefix.ends_with('/') {
            prefix.pop();
        }
        self.rules.push((prefix, priority));
        self
    }

    /// Requests under `prefix` are [`Priority::Critical`].
    pub fn critical(self, prefix: impl Into<String>) -> Self {
        self.rule(prefix, Priority::Critical)
    }

    /// Requests under `prefix` are [`Priority::Sheddable`].
    pub fn sheddable(self, prefix: impl Into<String>) -> Self {
        self.rule(prefix, Priority::Sheddable)
    }

    /// The class of requests no rule matches.
    pub fn otherwise(mut self, priority: Priority) -> Self {
        self.otherwise = priority;
        self
    }
}

/// Whether `path` is `prefix` or lies under it, segment by segment.
pub(crate) fn under_prefix(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

impl Classify for PathClassifier {
    fn classify(&self, req: &RequestRef<'_>) -> Priority {
        let path = req.path();
        self.rules
            .iter()
            .filter(|(prefix, _)| under_prefix(path, prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.otherwise, |(_, p)| *p)
    }
}

/// Requests in flight, by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InFlight {
    /// Critical requests in flight.
    pub critical: u32,
    /// Default requests in flight.
    pub default: u32,
    /// Sheddable requests in flight.
    pub sheddable: u32,
}

impl InFlight {
    /// All requests in flight.
    pub fn total(&self) -> u32 {
        self.critical
            .saturating_add(self.default)
            .saturating_add(self.sheddable)
    }

    /// The count of one class.
    pub fn of(&self, priority: Priority) -> u32 {
        match priority {
            Priority::Critical => self.critical,
            Priority::Default => self.default,
            Priority::Sheddable => self.sheddable,
        }
    }
}

/// The parts of the limit reserved for the higher classes.
///
/// With limit `L`, `critical` reserves `ceil(critical × L)` slots that only
/// critical requests may fill, and `default` reserves `ceil(default × L)`
/// slots that default and critical requests may fill; sheddable requests get
/// what is left. A reservation only holds back the *unused* part: 3 critical
/// requests in flight out of a reserve of 10 leave 7 held back.
///
/// | class | admitted while |
/// |---|---|
/// | critical | `total < L` |
/// | default | `total + unused critical reserve < L` |
/// | sheddable | `total + unused critical reserve + unused default reserve < L` |
///
/// So as the service fills up, sheddable requests are refused first, then
/// default ones, and critical ones always have their reserve. The default,
/// [`Shares::NONE`], reserves nothing: every class may use the whole limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shares {
    critical: f64,
    default: f64,
}

impl Default for Shares {
    fn default() -> Self {
        Self::NONE
    }
}

impl Shares {
    /// No reservations: one limit for everybody.
    pub const NONE: Shares = Shares {
        critical: 0.0,
        default: 0.0,
    };

    /// Reserves the fraction `critical` of the limit for critical requests
    /// and `default` for default (and critical) requests.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming `share_critical` or `share_default` when a
    /// fraction is outside `0..=1` or not finite, or naming `share_default`
    /// when the two add up to more than 1.
    pub fn new(critical: f64, default: f64) -> Result<Self, ConfigError> {
        let critical = check_range(
            COMPONENT,
            "share_critical",
            critical,
            0.0,
            1.0,
            "a fraction in 0..=1",
        )?;
        let default = check_range(
            COMPONENT,
            "share_default",
            default,
            0.0,
            1.0,
            "a fraction in 0..=1",
        )?;
        if critical + default > 1.0 {
            return Err(invalid(
                COMPONENT,
                "share_default",
                default,
                "share_critical + share_default ≤ 1",
            ));
        }
        Ok(Self { critical, default })
    }

    /// The critical reserve.
    pub fn critical(&self) -> f64 {
        self.critical
    }

    /// The default reserve.
    pub fn default_share(&self) -> f64 {
        self.default
    }

    /// Whether a request of class `priority` may start when `in_flight`
    /// requests run under limit `limit`.
    #[inline]
    pub fn admits(&self, limit: u32, in_flight: InFlight, priority: Priority) -> bool {
        let total = u64::from(in_flight.total());
        let limit_u = u64::from(limit);
        if total >= limit_u {
            return false;
        }
        if priority == Priority::Critical {
            return true;
        }
        let reserve = |share: f64, used: u32| -> u64 {
            if share == 0.0 {
                return 0;
            }
            let r = (share * f64::from(limit)).ceil() as u64;
            r.saturating_sub(u64::from(used))
        };
        let mut held = reserve(self.critical, in_flight.critical);
        if priority == Priority::Sheddable {
            // Default's reserve may be used by critical requests too.
            let used = in_flight.default.saturating_add(
                in_flight
                    .critical
                    .saturating_sub((self.critical * f64::from(limit)).ceil() as u32),
            );
            held += reserve(self.default, used);
        }
        total + held < limit_u
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    fn inf(critical: u32, default: u32, sheddable: u32) -> InFlight {
        InFlight {
            critical,
            default,
            sheddable,
        }
    }

    #[test]
    fn no_shares_is_one_plain_limit() {
        let s = Shares::NONE;
        for p in Priority::ALL {
            assert!(s.admits(3, inf(0, 1, 1), p));
            assert!(!s.admits(3, inf(1, 1, 1), p));
        }
        assert!(!s.admits(0, inf(0, 0, 0), Priority::Critical));
    }

    #[test]
    fn sheddable_is_refused_first_then_default_and_critical_keeps_its_reserve() {
        let s = Shares::new(0.1, 0.3).unwrap();
        // Limit 100: sheddable may fill 60, default 90, critical 100.
        let mut sheddable = 0;
        while s.admits(100, inf(0, 0, sheddable), Priority::Sheddable) {
            sheddable += 1;
        }
        assert_eq!(sheddable, 60);
        let mut default = 0;
        while s.admits(100, inf(0, default, 60), Priority::Default) {
            default += 1;
        }
        assert_eq!(default, 30);
        let mut critical = 0;
        while s.admits(100, inf(critical, 30, 60), Priority::Critical) {
            critical += 1;
        }
        assert_eq!(critical, 10);
    }

    #[test]
    fn used_reserve_is_not_held_back_twice() {
        let s = Shares::new(0.1, 0.3).unwrap();
        // 10 critical in flight fill their reserve; default may fill the rest
        // up to 100 - 0.
        assert!(s.admits(100, inf(10, 79, 0), Priority::Default));
        assert!(!s.admits(100, inf(10, 90, 0), Priority::Default));
        // Default traffic in its own reserve frees room for sheddable.
        assert!(s.admits(100, inf(0, 30, 59), Priority::Sheddable));
        assert!(!s.admits(100, inf(0, 30, 60), Priority::Sheddable));
        // Critical requests beyond their reserve count against default's.
        assert!(s.admits(100, inf(40, 0, 59), Priority::Sheddable));
        assert!(!s.admits(100, inf(40, 0, 60), Priority::Sheddable));
    }

    #[test]
    fn critical_reserve_rounds_up_at_small_limits() {
        let s = Shares::new(0.1, 0.0).unwrap();
        // Limit 5: one slot reserved.
        assert!(s.admits(5, inf(0, 3, 0), Priority::Default));
        assert!(!s.admits(5, inf(0, 4, 0), Priority::Default));
        assert!(s.admits(5, inf(0, 4, 0), Priority::Critical));
    }

    #[test]
    fn invalid_shares_name_the_field() {
        assert_eq!(Shares::new(1.5, 0.0).unwrap_err().field(), "share_critical");
        assert_eq!(
            Shares::new(0.0, f64::NAN).unwrap_err().field(),
            "share_default"
        );
        assert_eq!(Shares::new(0.6, 0.6).unwrap_err().field(), "share_default");
    }

    #[test]
    fn path_classifier_matches_whole_segments_longest_first() {
        let c = PathClassifier::new()
            .sheddable("/llm/")
            .critical("/llm/health")
            .critical("/auth");
        let class = |path: &str| c.classify_request(&Request::get(path).body(()).unwrap());
        assert_eq!(class("/llm"), Priority::Sheddable);
        assert_eq!(class("/llm/chat"), Priority::Sheddable);
        assert_eq!(class("/llmx"), Priority::Default);
        assert_eq!(class("/llm/health"), Priority::Critical);
        assert_eq!(class("/auth/login"), Priority::Critical);
        assert_eq!(class("/"), Priority::Default);
    }

    #[test]
    fn closures_classify() {
        let c = |req: &RequestRef<'_>| {
            if req.method() == Method::POST {
                Priority::Sheddable
            } else {
                Priority::Critical
            }
        };
        let req = Request::post("/").body(()).unwrap();
        assert_eq!(c.classify_request(&req), Priority::Sheddable);
        assert_eq!(().classify(&RequestRef::from(&req)), Priority::Default);
    }
}
