//! A scenario is a named system (topology, TTLs, timeouts) and a generator of seeded schedules
//! of client operations and faults. `workload` generates schedules from a mix and a fault
//! budget; `catalog` names the scenarios tiersim ships.

pub mod catalog;
pub mod workload;

use crate::explore::strategy::Strategy;
use tiersim_model::node::config::{CacheOp, SystemConfig};
use tiersim_sim::schedule::Schedule;

/// A named scenario: a system configuration and a schedule generator.
pub trait Scenario: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// The system this scenario runs (topology, TTLs, timeouts).
    fn config(&self) -> SystemConfig;
    /// The schedule of seed `seed`, drawn from the seed's own workload and fault streams.
    fn schedule(&self, seed: u64) -> Schedule<CacheOp>;
    /// The schedule of seed `seed` under an exploration strategy.
    fn schedule_with(&self, seed: u64, strategy: Strategy) -> Schedule<CacheOp>;
}
