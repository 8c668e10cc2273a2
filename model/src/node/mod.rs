//! The simulated processes that serve the state: the tier command set shared by every L1, L2 and
//! L3 (`tier`), the L2/L3 tier nodes (`tier_node`), Redis shards (`redis`) and the connections they push messages on (`pubsub`), the database and its
//! read replicas (`db`), and the configuration, topology and node names they are built from
//! (`config`). Each node reads its own clock, so clock skew from the fault plan applies, and
//! loses its memory on a restart unless its state is durable (the database's is).

pub mod config;
pub mod db;
pub mod floor;
pub mod pubsub;
pub mod redis;
pub mod script;
pub mod tier;
pub mod tier_node;
