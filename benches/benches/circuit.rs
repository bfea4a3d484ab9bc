//! Placeholder until the circuit benchmark lands.
#![allow(missing_docs)]
fn main() {}
