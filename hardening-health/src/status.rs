//! Statuses, criticalities and how check results add up to one status.
//!
//! This is the pure core of the crate: no I/O, no clock. A check reports a
//! [`Status`]; its [`Criticality`] decides what that status does to the
//! endpoint ([`Criticality::effect`]); the endpoint's status is the worst
//! effect ([`aggregate`]).
//!
//! # Example
//!
//! ```
//! use hardening_health::{aggregate, Criticality, Status};
//!
//! // A failing cache only degrades the service; a failing database takes it down.
//! let cache_down = [(Criticality::Required, Status::Pass), (Criticality::Degrading, Status::Fail)];
//! assert_eq!(aggregate(cache_down), Status::Warn);
//! let db_down = [(Criticality::Required, Status::Fail), (Criticality::Degrading, Status::Pass)];
//! assert_eq!(aggregate(db_down), Status::Fail);
//! assert_eq!(Status::Warn.http_status(), http::StatusCode::OK);
//! assert_eq!(Status::Fail.http_status(), http::StatusCode::SERVICE_UNAVAILABLE);
//! ```

use std::fmt;

use http::StatusCode;

/// The health of a check or of a whole endpoint, as the IETF draft
/// "Health Check Response Format for HTTP APIs" spells it.
///
/// Ordered from best to worst: `Pass < Warn < Fail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Healthy.
    Pass,
    /// Healthy, with some concerns; still served with `200 OK`.
    Warn,
    /// Unhealthy; served with `503 Service Unavailable`.
    Fail,
}

impl Status {
    /// All statuses, best first.
    pub const ALL: [Status; 3] = [Status::Pass, Status::Warn, Status::Fail];

    /// `"pass"`, `"warn"` or `"fail"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }

    /// `200 OK` for pass and warn, `503 Service Unavailable` for fail.
    pub const fn http_status(self) -> StatusCode {
        match self {
            Status::Pass | Status::Warn => StatusCode::OK,
            Status::Fail => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The worse of two statuses.
    #[must_use]
    pub fn worst(self, other: Status) -> Status {
        self.max(other)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a check matters to the endpoint that runs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Criticality {
    /// The service cannot work without it: the check's status becomes the
    /// endpoint's (a failure fails the endpoint with `503`).
    #[default]
    Required,
    /// The service works without it, but worse: a failure or warning makes
    /// the endpoint `warn` (still `200`).
    Degrading,
    /// Shown in the report only; never changes the endpoint's status.
    Informational,
}

impl Criticality {
    /// What a check of this criticality reporting `status` does to its
    /// endpoint.
    pub const fn effect(self, status: Status) -> Status {
        match (self, status) {
            (Criticality::Required, status) => status,
            (Criticality::Degrading, Status::Pass) => Status::Pass,
            (Criticality::Degrading, Status::Warn | Status::Fail) => Status::Warn,
            (Criticality::Informational, _) => Status::Pass,
        }
    }
}

/// The status of an endpoint whose checks reported these results: the worst
/// [`effect`](Criticality::effect), `Pass` when there are none.
pub fn aggregate(results: impl IntoIterator<Item = (Criticality, Status)>) -> Status {
    results
        .into_iter()
        .map(|(criticality, status)| criticality.effect(status))
        .fold(Status::Pass, Status::worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRITICALITIES: [Criticality; 3] = [
        Criticality::Required,
        Criticality::Degrading,
        Criticality::Informational,
    ];

    /// The rule written out as a table, independent of `effect`.
    fn expected_effect(c: Criticality, s: Status) -> Status {
        match c {
            Criticality::Required => s,
            Criticality::Degrading => {
                if s == Status::Pass {
                    Status::Pass
                } else {
                    Status::Warn
                }
            }
            Criticality::Informational => Status::Pass,
        }
    }

    #[test]
    fn effect_table() {
        use Criticality::*;
        use Status::*;
        let table = [
            (Required, Pass, Pass),
            (Required, Warn, Warn),
            (Required, Fail, Fail),
            (Degrading, Pass, Pass),
            (Degrading, Warn, Warn),
            (Degrading, Fail, Warn),
            (Informational, Pass, Pass),
            (Informational, Warn, Pass),
            (Informational, Fail, Pass),
        ];
        for (c, s, want) in table {
            assert_eq!(c.effect(s), want, "{c:?} {s:?}");
        }
    }

    #[test]
    fn no_checks_pass() {
        assert_eq!(aggregate([]), Status::Pass);
    }

    /// Every mix of up to three checks, each any criticality and any status.
    #[test]
    fn every_mix_of_three_checks() {
        let kinds: Vec<(Criticality, Status)> = CRITICALITIES
            .iter()
            .flat_map(|&c| Status::ALL.iter().map(move |&s| (c, s)))
            .collect();
        assert_eq!(kinds.len(), 9);
        let mut mixes = 0;
        for a in &kinds {
            for b in &kinds {
                for c in &kinds {
                    let mix = [*a, *b, *c];
                    let got = aggregate(mix);
                    let any =
                        |want: Status| mix.iter().any(|&(c, s)| expected_effect(c, s) == want);
                    let want = if any(Status::Fail) {
                        Status::Fail
                    } else if any(Status::Warn) {
                        Status::Warn
                    } else {
                        Status::Pass
                    };
                    assert_eq!(got, want, "{mix:?}");
                    // order never matters
                    assert_eq!(aggregate([*c, *a, *b]), got);
                    // a failing required check always fails the endpoint
                    if mix.contains(&(Criticality::Required, Status::Fail)) {
                        assert_eq!(got, Status::Fail);
                    }
                    // without required checks the endpoint never fails
                    if mix.iter().all(|&(c, _)| c != Criticality::Required) {
                        assert_ne!(got, Status::Fail);
                    }
                    mixes += 1;
                }
            }
        }
        assert_eq!(mixes, 729);
    }

    #[test]
    fn names_and_codes() {
        assert_eq!(Status::Pass.to_string(), "pass");
        assert_eq!(Status::Warn.as_str(), "warn");
        assert_eq!(Status::Fail.as_str(), "fail");
        assert_eq!(Status::Pass.http_status(), StatusCode::OK);
        assert_eq!(Status::Warn.http_status(), StatusCode::OK);
        assert_eq!(Status::Fail.http_status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Status::Pass < Status::Warn && Status::Warn < Status::Fail);
    }
}
