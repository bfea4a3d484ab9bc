//! What one run of a check reports.
//!
//! # Example
//!
//! ```
//! use hardening_health::{IntoObservation, Observation, ObservedValue, Status};
//!
//! let reading = Observation::pass().with_value(12.5, "ms");
//! assert_eq!(reading.status(), Status::Pass);
//! assert_eq!(reading.observed_value(), Some(&ObservedValue::Float(12.5)));
//!
//! // Checks may return plain values; errors become failures with their message.
//! let failed = Err::<(), _>("connection refused").into_observation();
//! assert_eq!(failed.status(), Status::Fail);
//! assert_eq!(failed.output(), Some("connection refused"));
//! assert_eq!(true.into_observation().status(), Status::Pass);
//! ```

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::status::Status;

/// The result of one run of a check: a status, optionally a measured value
/// with its unit, and on warn or fail a human-readable `output`.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    status: Status,
    value: Option<ObservedValue>,
    unit: Option<Cow<'static, str>>,
    output: Option<Cow<'static, str>>,
}

impl Observation {
    /// A reading with `status` and nothing else.
    pub const fn new(status: Status) -> Self {
        Self {
            status,
            value: None,
            unit: None,
            output: None,
        }
    }

    /// A healthy reading.
    pub const fn pass() -> Self {
        Self::new(Status::Pass)
    }

    /// A reading that works, with a concern described by `output`.
    pub fn warn(output: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Status::Warn).with_output(output)
    }

    /// A failed reading; `output` says why (shown only to requests allowed
    /// to see details).
    pub fn fail(output: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Status::Fail).with_output(output)
    }

    /// Adds the measured value and its unit (`observedValue`, `observedUnit`),
    /// such as a latency in `"ms"` or a pool size in `"connections"`.
    #[must_use]
    pub fn with_value(
        mut self,
        value: impl Into<ObservedValue>,
        unit: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.value = Some(value.into());
        self.unit = Some(unit.into());
        self
    }

    /// Adds a measured value without a unit.
    #[must_use]
    pub fn with_observed_value(mut self, value: impl Into<ObservedValue>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Sets the `output` (the draft omits it for pass, and so does the report).
    #[must_use]
    pub fn with_output(mut self, output: impl Into<Cow<'static, str>>) -> Self {
        self.output = Some(output.into());
        self
    }

    /// Replaces the status, keeping value and output.
    #[must_use]
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// The status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The measured value, if any.
    pub fn observed_value(&self) -> Option<&ObservedValue> {
        self.value.as_ref()
    }

    /// The unit of the measured value, if any.
    pub fn observed_unit(&self) -> Option<&str> {
        self.unit.as_deref()
    }

    /// The human-readable output, if any.
    pub fn output(&self) -> Option<&str> {
        self.output.as_deref()
    }
}

/// A measured value (`observedValue`): a number, a boolean or a string.
#[derive(Clone, Debug, PartialEq)]
pub enum ObservedValue {
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A floating point number; NaN and infinities are reported as `null`.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A string, such as a circuit breaker's state.
    Text(Cow<'static, str>),
}

macro_rules! observed_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {
        $(impl From<$t> for ObservedValue {
            fn from(v: $t) -> Self {
                ObservedValue::$variant(<$as>::from(v))
            }
        })*
    };
}

observed_from!(
    i8 => Int as i64, i16 => Int as i64, i32 => Int as i64, i64 => Int as i64,
    u8 => UInt as u64, u16 => UInt as u64, u32 => UInt as u64, u64 => UInt as u64,
    f32 => Float as f64, f64 => Float as f64, bool => Bool as bool,
);

impl From<usize> for ObservedValue {
    fn from(v: usize) -> Self {
        ObservedValue::UInt(u64::try_from(v).unwrap_or(u64::MAX))
    }
}

impl From<&'static str> for ObservedValue {
    fn from(v: &'static str) -> Self {
        ObservedValue::Text(Cow::Borrowed(v))
    }
}

impl From<String> for ObservedValue {
    fn from(v: String) -> Self {
        ObservedValue::Text(Cow::Owned(v))
    }
}

impl From<Duration> for ObservedValue {
    /// A duration in (fractional) milliseconds; pair it with unit `"ms"`.
    fn from(v: Duration) -> Self {
        ObservedValue::Float(v.as_secs_f64() * 1000.0)
    }
}

/// What a check may return: [`Observation`], [`Status`], `bool` (true =
/// pass), `()` (pass), or a `Result` whose `Err` becomes a failure with the
/// error's message as output.
pub trait IntoObservation {
    /// Converts into an [`Observation`].
    fn into_observation(self) -> Observation;
}

impl IntoObservation for Observation {
    fn into_observation(self) -> Observation {
        self
    }
}

impl IntoObservation for Status {
    fn into_observation(self) -> Observation {
        Observation::new(self)
    }
}

impl IntoObservation for bool {
    fn into_observation(self) -> Observation {
        if self {
            Observation::pass()
        } else {
            Observation::fail("check returned false")
        }
    }
}

impl IntoObservation for () {
    fn into_observation(self) -> Observation {
        Observation::pass()
    }
}

impl<T: IntoObservation, E: fmt::Display> IntoObservation for Result<T, E> {
    fn into_observation(self) -> Observation {
        match self {
            Ok(v) => v.into_observation(),
            Err(e) => Observation::fail(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(false.into_observation().status(), Status::Fail);
        assert_eq!(().into_observation(), Observation::pass());
        assert_eq!(Status::Warn.into_observation().status(), Status::Warn);
        let ok: Result<Observation, String> = Ok(Observation::warn("slow"));
        assert_eq!(ok.into_observation().output(), Some("slow"));
        assert_eq!(ObservedValue::from(3u32), ObservedValue::UInt(3));
        assert_eq!(ObservedValue::from(-3i32), ObservedValue::Int(-3));
        assert_eq!(ObservedValue::from(true), ObservedValue::Bool(true));
        assert_eq!(
            ObservedValue::from(Duration::from_micros(1500)),
            ObservedValue::Float(1.5)
        );
        let o = Observation::fail("x").with_status(Status::Warn);
        assert_eq!((o.status(), o.output()), (Status::Warn, Some("x")));
        let o = Observation::pass().with_observed_value("open");
        assert_eq!(o.observed_unit(), None);
        assert_eq!(
            o.observed_value(),
            Some(&ObservedValue::Text("open".into()))
        );
    }
}
