//! Criterion benchmarks of the `hardening` crates, each beside the peer named
//! in its issue. Run them with `cargo bench -p hardening-benches --bench NAME`.
//!
//! The library also holds the core of the `limiter-load` binary
//! ([`limiter_load`]), so its smoke test runs in CI.

pub mod limiter_load;
