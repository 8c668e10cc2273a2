//! Pure data structures: what tiers, Redis and the database hold, and the commands that change
//! it. Nothing here reads a clock or sends a message; every call that depends on time takes the
//! caller's local time, so the nodes in `node` decide whose clock counts.

pub mod database;
pub mod invalidation;
pub mod redis;
pub mod replication;
pub mod store;
pub mod tracking;
pub mod transaction;
#[cfg(test)]
mod transaction_tests;
