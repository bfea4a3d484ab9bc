//! Placeholder until the retry benchmark lands.
#![allow(missing_docs)]
fn main() {}
