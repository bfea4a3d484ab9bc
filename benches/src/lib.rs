//! Criterion benchmarks of the `hardening` crates, each beside the peer named
//! in its issue. Run them with `cargo bench -p hardening-benches --bench NAME`.
