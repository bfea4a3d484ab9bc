//! Placeholder until the headers benchmark lands.
#![allow(missing_docs)]
fn main() {}
