//! Placeholder until the ratelimit benchmark lands.
#![allow(missing_docs)]
fn main() {}
