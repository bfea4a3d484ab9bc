//! Placeholder until the redact benchmark lands.
#![allow(missing_docs)]
fn main() {}
