//! Placeholder until the ratelimit_redis benchmark lands.
#![allow(missing_docs)]
fn main() {}
