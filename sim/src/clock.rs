//! Per-node clocks. Every node reads its own clock: global sim time plus a skew and a drift that
//! the fault plan sets. Tiers compute TTLs on this local clock, as real tiers do, so a skewed node
//! keeps or drops entries at the wrong global instant — the race the `ttl-skew` zoo entry shows.
//!
//! Nothing here reads the process clock: global time is madsim's simulated time since the
//! runtime started.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Global sim time in nanoseconds since the run began.
pub fn sim_now_ns() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_nanos() as u64
}

/// How a node's clock departs from global time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockParams {
    /// Constant offset in nanoseconds (positive: the node's clock runs ahead).
    pub skew_ns: i64,
    /// Rate error in parts per million of global time elapsed.
    pub drift_ppm: i64,
}

impl ClockParams {
    /// The local reading at global time `global_ns`, never below zero.
    pub fn local_ns(&self, global_ns: u64) -> u64 {
        let g = i128::from(global_ns);
        let local = g + i128::from(self.skew_ns) + g * i128::from(self.drift_ppm) / 1_000_000;
        local.clamp(0, i128::from(u64::MAX)) as u64
    }

    /// The global instant at which the local clock reads `local_ns` (inverse of `local_ns`).
    pub fn global_ns(&self, local_ns: u64) -> u64 {
        let l = i128::from(local_ns) - i128::from(self.skew_ns);
        let g = l * 1_000_000 / (1_000_000 + i128::from(self.drift_ppm)).max(1);
        g.clamp(0, i128::from(u64::MAX)) as u64
    }
}

/// The clock parameters of every node in one run, shared by the nodes and the fault injector.
#[derive(Clone, Debug, Default)]
pub struct Clocks {
    params: Arc<Mutex<BTreeMap<String, ClockParams>>>,
}

impl Clocks {
    pub fn set(&self, node: &str, params: ClockParams) {
        self.params.lock().unwrap().insert(node.to_string(), params);
    }

    pub fn params(&self, node: &str) -> ClockParams {
        self.params.lock().unwrap().get(node).copied().unwrap_or_default()
    }

    /// The largest absolute skew any node has now (for staleness bounds and reports).
    pub fn max_abs_skew_ns(&self) -> u64 {
        let p = self.params.lock().unwrap();
        p.values().map(|c| c.skew_ns.unsigned_abs()).max().unwrap_or(0)
    }

    /// A handle that reads node `name`'s clock.
    pub fn node(&self, name: &str) -> NodeClock {
        NodeClock { name: name.to_string(), clocks: self.clone() }
    }
}

/// One node's view of time.
#[derive(Clone, Debug)]
pub struct NodeClock {
    name: String,
    clocks: Clocks,
}

impl NodeClock {
    /// The node's local time in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.clocks.params(&self.name).local_ns(sim_now_ns())
    }

    /// The global instant at which this node's clock will read `local_ns`, under its current
    /// parameters (a later skew change moves it).
    pub fn to_global_ns(&self, local_ns: u64) -> u64 {
        self.clocks.params(&self.name).global_ns(local_ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_and_drift_round_trip() {
        let p = ClockParams { skew_ns: 5_000_000, drift_ppm: 100 };
        assert_eq!(p.local_ns(1_000_000_000), 1_000_000_000 + 5_000_000 + 100_000);
        assert_eq!(p.global_ns(p.local_ns(1_000_000_000)), 1_000_000_000);
        let behind = ClockParams { skew_ns: -10, drift_ppm: 0 };
        assert_eq!(behind.local_ns(3), 0, "a clock never reads below zero");
    }
}

/// The latest sim time a schedule, a fault or a configured duration may name: 10^15 ns, about
/// 11.6 days of simulated time. Far beyond any scenario (the longest runs hours), and small
/// enough that sums of a few such times never overflow a `u64`.
pub const MAX_SIM_NS: u64 = 1_000_000_000_000_000;
