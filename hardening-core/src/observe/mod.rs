//! Observer hooks: how each layer reports what it does to a metrics
//! backend, without depending on one.
//!
//! Every hardening crate takes an observer through a builder method
//! (`.observer(...)`); `hardening-metrics` implements these traits with
//! Prometheus families, and a test or another backend can implement them
//! too. Every method has an empty default body, so an implementation
//! overrides only what it records.
//!
//! # Cost
//!
//! A layer keeps its observer as an `Option<Arc<dyn ...>>`: with none
//! installed the hot path pays one predictable branch; with one installed it
//! pays one virtual call, which in `hardening-metrics` is one relaxed atomic
//! add on a counter resolved when the layer was built. Observers never
//! receive client data: every label is a name from the layer's
//! configuration (a breaker, check or policy name) or a fixed enum, so the
//! series count is bounded by configuration.
//!
//! # Binding
//!
//! Things a layer names itself (breakers, health checks, rate-limit
//! policies) are *bound* once, when the layer is built: the crate calls, for
//! example, [`CircuitObserver::breaker`] with the breaker's name and keeps
//! the returned handle, so a request never looks a name up.
//!
//! Some values are read rather than pushed: a concurrency limiter hands a
//! [`ConcurrencyStats`] to [`ConcurrencyObserver::attach`] and the backend
//! reads the limit, in-flight and rejection counts when it is scraped, so
//! the request path pays nothing at all for them.
//!
//! # Example
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use hardening_core::observe::{BreakerObserver, CallOutcome, CircuitObserver};
//!
//! #[derive(Default)]
//! struct Rejections(Arc<AtomicU64>);
//!
//! impl BreakerObserver for Rejections {
//!     fn call(&self, outcome: CallOutcome) {
//!         if outcome == CallOutcome::Rejected {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! struct Counting(Arc<AtomicU64>);
//!
//! impl CircuitObserver for Counting {
//!     fn breaker(&self, _name: &str) -> Arc<dyn BreakerObserver> {
//!         Arc::new(Rejections(self.0.clone()))
//!     }
//! }
//!
//! let rejected = Arc::new(AtomicU64::new(0));
//! let observer = Counting(rejected.clone());
//! let bound = observer.breaker("payments");
//! bound.call(CallOutcome::Rejected);
//! assert_eq!(rejected.load(Ordering::Relaxed), 1);
//! ```

mod circuit;
mod health;
mod http;
mod limits;

pub use circuit::{
    BreakerObserver, BreakerState, CallOutcome, CircuitObserver, RetryAfterUse, RetryObserver,
    RetryOutcome,
};
pub use health::{CheckObserver, CheckStatus, HealthObserver, ProbeKind};
pub use http::{RedactObserver, RedactRuleObserver, RedirectObserver, RedirectOutcome};
pub use limits::{
    ConcurrencyObserver, ConcurrencyStats, PolicyObserver, RateLimitObserver, RateLimitOutcome,
    RateLimitStats, StoreState,
};

/// Observers are opaque in `Debug` output, so configs holding one still
/// derive `Debug`.
macro_rules! opaque_debug {
    ($($trait:ident),+) => {$(
        impl std::fmt::Debug for dyn $trait {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($trait))
            }
        }
    )+};
}
opaque_debug!(
    CircuitObserver,
    BreakerObserver,
    RetryObserver,
    HealthObserver,
    CheckObserver,
    RedirectObserver,
    RedactObserver,
    RedactRuleObserver,
    ConcurrencyObserver,
    ConcurrencyStats,
    RateLimitObserver,
    PolicyObserver,
    RateLimitStats
);

/// Writes `as_str` and `ALL` for a fieldless label enum.
macro_rules! label_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $label:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The label value (snake case).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $label,)+
                }
            }

            /// The position of `self` in [`ALL`](Self::ALL).
            pub const fn index(self) -> usize {
                self as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use label_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_snake_case_and_indices_match() {
        fn check<T: Copy>(
            all: &[T],
            label: impl Fn(T) -> &'static str,
            index: impl Fn(T) -> usize,
        ) {
            for (i, v) in all.iter().enumerate() {
                let l = label(*v);
                assert!(
                    !l.is_empty() && l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{l}"
                );
                assert_eq!(index(*v), i);
            }
        }
        check(BreakerState::ALL, BreakerState::as_str, BreakerState::index);
        check(CallOutcome::ALL, CallOutcome::as_str, CallOutcome::index);
        check(RetryOutcome::ALL, RetryOutcome::as_str, RetryOutcome::index);
        check(
            RetryAfterUse::ALL,
            RetryAfterUse::as_str,
            RetryAfterUse::index,
        );
        check(CheckStatus::ALL, CheckStatus::as_str, CheckStatus::index);
        check(ProbeKind::ALL, ProbeKind::as_str, ProbeKind::index);
        check(
            RedirectOutcome::ALL,
            RedirectOutcome::as_str,
            RedirectOutcome::index,
        );
        check(
            RateLimitOutcome::ALL,
            RateLimitOutcome::as_str,
            RateLimitOutcome::index,
        );
        check(StoreState::ALL, StoreState::as_str, StoreState::index);
    }

    #[test]
    fn default_methods_do_nothing() {
        struct Nothing;
        impl BreakerObserver for Nothing {}
        impl RetryObserver for Nothing {}
        impl CheckObserver for Nothing {}
        impl RedirectObserver for Nothing {}
        impl RedactRuleObserver for Nothing {}
        impl PolicyObserver for Nothing {}
        Nothing.call(CallOutcome::Success);
        Nothing.transition(BreakerState::Closed, BreakerState::Open);
        Nothing.attempt(RetryOutcome::Retried);
        Nothing.finished(CheckStatus::Pass, std::time::Duration::ZERO, false);
        Nothing.redirect(RedirectOutcome::Redirected);
        Nothing.redacted(1);
        Nothing.decision(RateLimitOutcome::Admitted);
    }
}
