//! The health report and its `application/health+json` rendering.
//!
//! The format follows the IETF draft "Health Check Response Format for HTTP
//! APIs" (draft-inadarei-api-health-check): a top-level `status`, the
//! service's `version`, `releaseId`, `serviceId` and `description`, and
//! `checks`, an object keyed `component:measurement` whose values are arrays
//! of readings with `componentType`, `observedValue`, `observedUnit`,
//! `status`, `time` and, on warn or fail, `output`.
//!
//! # Example
//!
//! ```
//! use hardening_health::{Check, Health, Observation};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let health = Health::builder()
//!     .service_id("orders")
//!     .version("2")
//!     .check(Check::new("db:responseTime", || async { Observation::pass().with_value(4u32, "ms") })
//!         .component_type("datastore"))
//!     .build()
//!     .unwrap();
//! let json = health.report().await.to_json();
//! assert!(json.starts_with(r#"{"status":"pass","version":"2","serviceId":"orders","checks":{"db:responseTime":[{"componentType":"datastore","observedValue":4,"observedUnit":"ms","status":"pass","time":""#));
//! # }
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::observation::{Observation, ObservedValue};
use crate::status::{Criticality, Status};

/// The media type of health responses.
pub const HEALTH_JSON: &str = "application/health+json";

/// Which endpoint a report is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Probe {
    /// `/livez`: the process, and the checks marked for liveness.
    Liveness,
    /// `/readyz`: the checks marked for readiness and the shutdown flag.
    Readiness,
    /// `/health`: every check and the shutdown flag.
    Health,
}

/// The service's description in the report.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meta {
    pub(crate) version: Option<Cow<'static, str>>,
    pub(crate) release_id: Option<Cow<'static, str>>,
    pub(crate) service_id: Option<Cow<'static, str>>,
    pub(crate) description: Option<Cow<'static, str>>,
}

/// One check's reading in a [`Report`].
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub(crate) name: Cow<'static, str>,
    pub(crate) component_type: Option<Cow<'static, str>>,
    pub(crate) criticality: Criticality,
    pub(crate) observation: Observation,
    pub(crate) time: SystemTime,
}

impl CheckReport {
    /// The check's name (the `checks` key).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The check's `componentType`, if set.
    pub fn component_type(&self) -> Option<&str> {
        self.component_type.as_deref()
    }

    /// The check's criticality.
    pub fn criticality(&self) -> Criticality {
        self.criticality
    }

    /// What the check reported (after hysteresis).
    pub fn observation(&self) -> &Observation {
        &self.observation
    }

    /// The check's own status.
    pub fn status(&self) -> Status {
        self.observation.status()
    }

    /// When the reading was taken (it may come from the cache).
    pub fn time(&self) -> SystemTime {
        self.time
    }
}

/// The outcome of one probe: the overall status and every check's reading.
#[derive(Clone, Debug)]
pub struct Report {
    pub(crate) probe: Probe,
    pub(crate) status: Status,
    pub(crate) checks: Vec<CheckReport>,
    pub(crate) shutting_down: Option<SystemTime>,
    pub(crate) meta: Arc<Meta>,
}

impl Report {
    /// The endpoint's status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The probe this report answers.
    pub fn probe(&self) -> Probe {
        self.probe
    }

    /// The readings of the checks the probe ran, in registration order.
    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// The reading of the check named `name`.
    pub fn check(&self, name: &str) -> Option<&CheckReport> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// Whether the service is draining for shutdown (readiness fails).
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.is_some()
    }

    /// The full `application/health+json` document.
    ///
    /// While the service drains, a `process:shutdown` entry with status
    /// `fail` says so.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128 + 160 * self.checks.len());
        out.push_str(r#"{"status":""#);
        out.push_str(self.status.as_str());
        out.push('"');
        let meta = [
            ("version", &self.meta.version),
            ("releaseId", &self.meta.release_id),
            ("serviceId", &self.meta.service_id),
            ("description", &self.meta.description),
        ];
        for (key, value) in meta {
            if let Some(value) = value {
                field(&mut out, key);
                string(&mut out, value);
            }
        }
        if !self.checks.is_empty() || self.shutting_down.is_some() {
            out.push_str(r#","checks":{"#);
            let mut first = true;
            for check in &self.checks {
                if !first {
                    out.push(',');
                }
                first = false;
                string(&mut out, &check.name);
                out.push_str(":[");
                entry(
                    &mut out,
                    check.component_type.as_deref(),
                    &check.observation,
                    check.time,
                );
                out.push(']');
            }
            if let Some(since) = self.shutting_down {
                if !first {
                    out.push(',');
                }
                let draining =
                    Observation::fail("draining before shutdown").with_observed_value(true);
                out.push_str(r#""process:shutdown":["#);
                entry(&mut out, Some("system"), &draining, since);
                out.push(']');
            }
            out.push('}');
        }
        out.push('}');
        out
    }
}

fn field(out: &mut String, key: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
}

fn entry(out: &mut String, component_type: Option<&str>, o: &Observation, time: SystemTime) {
    out.push('{');
    if let Some(t) = component_type {
        out.push_str(r#""componentType":"#);
        string(out, t);
        out.push(',');
    }
    if let Some(value) = o.observed_value() {
        out.push_str(r#""observedValue":"#);
        observed(out, value);
        out.push(',');
        if let Some(unit) = o.observed_unit() {
            out.push_str(r#""observedUnit":"#);
            string(out, unit);
            out.push(',');
        }
    }
    out.push_str(r#""status":""#);
    out.push_str(o.status().as_str());
    out.push_str(r#"","time":""#);
    rfc3339(out, time);
    out.push('"');
    if o.status() != Status::Pass {
        if let Some(output) = o.output() {
            field(out, "output");
            string(out, output);
        }
    }
    out.push('}');
}

fn observed(out: &mut String, value: &ObservedValue) {
    // Writing into a String cannot fail.
    let _ = match value {
        ObservedValue::Int(v) => write!(out, "{v}"),
        ObservedValue::UInt(v) => write!(out, "{v}"),
        ObservedValue::Float(v) if v.is_finite() => write!(out, "{v}"),
        ObservedValue::Float(_) => write!(out, "null"),
        ObservedValue::Bool(v) => write!(out, "{v}"),
        ObservedValue::Text(v) => {
            string(out, v);
            Ok(())
        }
    };
}

/// A JSON string literal.
fn string(out: &mut String, s: &str) {
    hardening_core::json::write_string(out, s);
}

/// `time` as RFC 3339 in UTC with milliseconds, e.g. `2023-11-14T22:13:20.000Z`.
pub(crate) fn rfc3339(out: &mut String, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    );
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn time(secs: u64, millis: u64) -> String {
        let mut s = String::new();
        rfc3339(
            &mut s,
            UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis),
        );
        s
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(time(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(time(1_700_000_000, 5), "2023-11-14T22:13:20.005Z");
        assert_eq!(time(951_782_400, 0), "2000-02-29T00:00:00.000Z"); // leap day
        assert_eq!(time(4_107_542_399, 999), "2100-02-28T23:59:59.999Z"); // no leap day in 2100
        assert_eq!(time(1_709_251_199, 0), "2024-02-29T23:59:59.000Z");
        let mut s = String::new();
        rfc3339(&mut s, UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(s, "1970-01-01T00:00:00.000Z", "before the epoch clamps");
    }

    fn report(checks: Vec<CheckReport>, shutting_down: bool) -> Report {
        Report {
            probe: Probe::Health,
            status: Status::Warn,
            checks,
            shutting_down: shutting_down.then_some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            meta: Arc::new(Meta {
                version: Some("1".into()),
                release_id: Some("1.2.3".into()),
                service_id: Some("svc".into()),
                description: Some("a \"quoted\" service\n".into()),
            }),
        }
    }

    #[test]
    fn json_is_valid_and_complete() {
        let checks = vec![
            CheckReport {
                name: "db:responseTime".into(),
                component_type: Some("datastore".into()),
                criticality: Criticality::Required,
                observation: Observation::fail("conn\u{1} refused \"x\" \\ é")
                    .with_value(f64::NAN, "ms"),
                time: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            },
            CheckReport {
                name: "cache".into(),
                component_type: None,
                criticality: Criticality::Degrading,
                observation: Observation::pass()
                    .with_value(ObservedValue::Text("closed".into()), "state")
                    .with_output("not shown for pass"),
                time: UNIX_EPOCH,
            },
        ];
        let json = report(checks, true).to_json();
        let v: serde_json::Value = serde_json::from_str(&json).expect(&json);
        assert_eq!(v["status"], "warn");
        assert_eq!(v["version"], "1");
        assert_eq!(v["releaseId"], "1.2.3");
        assert_eq!(v["serviceId"], "svc");
        assert_eq!(v["description"], "a \"quoted\" service\n");
        let db = &v["checks"]["db:responseTime"][0];
        assert_eq!(db["componentType"], "datastore");
        assert_eq!(db["observedValue"], serde_json::Value::Null);
        assert_eq!(db["observedUnit"], "ms");
        assert_eq!(db["status"], "fail");
        assert_eq!(db["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(db["output"], "conn\u{1} refused \"x\" \\ é");
        let cache = &v["checks"]["cache"][0];
        assert_eq!(cache["observedValue"], "closed");
        assert!(cache.get("output").is_none(), "no output on pass");
        assert!(cache.get("componentType").is_none());
        let shutdown = &v["checks"]["process:shutdown"][0];
        assert_eq!(shutdown["status"], "fail");
        assert_eq!(shutdown["observedValue"], true);
    }

    #[test]
    fn json_without_checks() {
        let mut r = report(vec![], false);
        r.meta = Arc::new(Meta::default());
        r.status = Status::Pass;
        assert_eq!(r.to_json(), r#"{"status":"pass"}"#);
    }
}
