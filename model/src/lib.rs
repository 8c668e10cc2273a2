//! The cache under test, in layers that depend one way, bottom to top:
//!
//! - [`event`]: what the system does, as history events every layer records.
//! - [`state`]: pure data structures that never read a clock or send a message — the entry
//!   store behind every tier, the Redis keyspace with pub/sub and slots, the database of record,
//!   and the invalidation payload.
//! - [`node`]: the simulated processes that serve that state — the tier command set and the
//!   L2/L3 tier nodes, Redis nodes, the database and its replicas — and the system's
//!   configuration, topology and node names.
//! - [`protocol`]: the API a user implements — the `Protocol` trait, claims, errors and the
//!   `App` handles protocol code is written against.
//! - [`protocols`]: the built-in protocols — `versioned`, `leased`, `cache-aside`,
//!   `double-delete` — and the bug zoo.
//! - [`system`]: one run's wiring — every node of a topology, the app node that runs a protocol
//!   and its clients, the fault plan and the quiet phase.
//! - [`check`]: the cache invariants and the judging of a run; [`outcome`]: a run and its
//!   verdict.

pub mod check;
pub mod event;
pub mod node;
pub mod outcome;
pub mod protocol;
pub mod protocols;
pub mod state;
pub mod system;
