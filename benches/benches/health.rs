//! Placeholder until the health benchmark lands.
#![allow(missing_docs)]
fn main() {}
