//! The cache under test: the database of record, Redis, the in-process L1 of every app node,
//! the protocol API and its built-in protocols, and the cache-specific invariants.

pub mod app;
pub mod cache_checks;
pub mod db;
pub mod event;
pub mod invariants;
pub mod outcome;
pub mod protocol;
pub mod protocols;
pub mod redis;
pub mod redis_node;
pub mod store;
pub mod system;
pub mod tier;
pub mod tier_node;
