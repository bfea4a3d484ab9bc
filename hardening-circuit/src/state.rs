//! The states of a breaker, its state changes and its metrics.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The state of a circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass and their outcomes are counted.
    Closed,
    /// Calls are rejected with [`CircuitOpen`](crate::CircuitOpen) until the
    /// open duration has passed.
    Open,
    /// A fixed number of probe calls pass; the others are rejected.
    HalfOpen,
    /// Every call is rejected until [`Breaker::reset`](crate::Breaker::reset).
    ForcedOpen,
    /// Every call passes and nothing is counted until
    /// [`Breaker::reset`](crate::Breaker::reset).
    Disabled,
}

impl State {
    /// The state's name in `snake_case`, as in logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::ForcedOpen => "forced_open",
            Self::Disabled => "disabled",
        }
    }

    pub(crate) const fn bits(self) -> u64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
            Self::ForcedOpen => 3,
            Self::Disabled => 4,
        }
    }

    pub(crate) const fn from_bits(bits: u64) -> Self {
        match bits {
            0 => Self::Closed,
            1 => Self::Open,
            2 => Self::HalfOpen,
            3 => Self::ForcedOpen,
            _ => Self::Disabled,
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The failure rate reached its threshold (closed → open).
    FailureRate,
    /// The slow-call rate reached its threshold (closed → open).
    SlowCallRate,
    /// Too many failures in a row (closed → open).
    ConsecutiveFailures,
    /// The open duration passed (open → half-open).
    OpenElapsed,
    /// Every probe succeeded (half-open → closed).
    ProbesSucceeded,
    /// A probe failed or was slow (half-open → open).
    ProbeFailed,
    /// The probes did not finish in time (half-open → open).
    HalfOpenTimeout,
    /// [`Breaker::force_open`](crate::Breaker::force_open).
    ForcedOpen,
    /// [`Breaker::disable`](crate::Breaker::disable).
    Disabled,
    /// [`Breaker::reset`](crate::Breaker::reset).
    Reset,
}

impl Reason {
    /// The reason's name in `snake_case`, as in logs.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::FailureRate => "failure_rate",
            Self::SlowCallRate => "slow_call_rate",
            Self::ConsecutiveFailures => "consecutive_failures",
            Self::OpenElapsed => "open_elapsed",
            Self::ProbesSucceeded => "probes_succeeded",
            Self::ProbeFailed => "probe_failed",
            Self::HalfOpenTimeout => "half_open_timeout",
            Self::ForcedOpen => "forced_open",
            Self::Disabled => "disabled",
            Self::Reset => "reset",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state change, as given to the
/// [`on_state_change`](crate::CircuitBreakerBuilder::on_state_change) hook.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StateChange {
    /// The breaker's name, if it has one (keyed breakers are named after
    /// their key).
    pub breaker: Option<Arc<str>>,
    /// The state before.
    pub from: State,
    /// The state after.
    pub to: State,
    /// Why.
    pub reason: Reason,
    /// When, on the breaker's clock.
    pub at: Duration,
    /// For a change to [`State::Open`]: how long it stays open (jitter
    /// included).
    pub open_for: Option<Duration>,
}

/// A snapshot of a breaker's counters.
///
/// `calls`, `failures` and `slow_calls` count the calls in the current
/// sliding window (they are cleared when the breaker closes or is reset);
/// `rejections` counts every call rejected since the breaker was built or
/// last reset.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The current state.
    pub state: State,
    /// Calls in the window (failures, slow calls and successes; ignored
    /// outcomes are not counted).
    pub calls: u64,
    /// Failed calls in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow_calls: u64,
    /// Calls rejected since the breaker was built or last reset.
    pub rejections: u64,
    /// `failures / calls` (0.0 without calls).
    pub failure_rate: f64,
    /// `slow_calls / calls` (0.0 without calls).
    pub slow_call_rate: f64,
    /// Failures in a row, if the consecutive-failures rule is on (else 0).
    pub consecutive_failures: u32,
}
