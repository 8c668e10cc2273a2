//! Finding failures over many seeds: `sweep` runs a seed range over scenario × protocol pairs
//! in parallel, sharded; `strategy` names how a seed becomes a schedule (random, swarm, PCT,
//! coverage-guided).

pub mod coverage;
pub mod race;
pub mod strategy;
pub mod sweep;
pub mod worker;
