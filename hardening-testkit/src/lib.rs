//! Test support shared by the crates of the `hardening` workspace, written
//! once instead of once per crate: real `redis-server` processes
//! ([`redis`], a Redis Cluster in [`redis_cluster`]), an in-memory log sink ([`LogBuffer`])
//! and a subscriber that only formats fields ([`FieldsOnly`]).
//!
//! A dev-dependency only (`publish = false`); no library crate depends on it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod fields;
pub mod log;
pub mod redis;
pub mod redis_cluster;

pub use fields::FieldsOnly;
pub use log::LogBuffer;
pub use redis::RedisServer;
