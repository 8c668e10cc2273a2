//! Exploration strategies: how a seed becomes a schedule.
//!
//! - `random`: the scenario's own mix of operations and faults, drawn from the seed.
//! - `swarm` (Groce et al., "Swarm Testing", ISSTA 2012): each seed also switches whole fault
//!   kinds and operation kinds on or off, so some runs hammer one feature without the others
//!   diluting it.
//! - `pct` (after Burckhardt et al.'s probabilistic concurrency testing, ASPLOS 2010): a few
//!   change points where one node is frozen for a while, so the steps it was taking land far
//!   behind everyone else's — the schedules that expose ordering bugs.
//! - `coverage`: keeps the schedules that reached a new interleaving signature of cache events
//!   and mutates them (see `crate::coverage`); its seeds depend on the seeds before them, so it
//!   runs sequentially and every failure is kept as an explicit schedule.

use crate::workload::{Mix, Workload};
use rand::seq::SliceRandom;
use rand::Rng;
use tiersim_model::system::CacheOp;
use tiersim_sim::fault::{Fault, TimedFault};
use tiersim_sim::rng::{chance, stream};
use tiersim_sim::schedule::Schedule;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    Random,
    Swarm,
    Pct,
    Coverage,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [Strategy::Random, Strategy::Swarm, Strategy::Pct, Strategy::Coverage];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Swarm => "swarm",
            Strategy::Pct => "pct",
            Strategy::Coverage => "coverage",
        }
    }

    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Change points per PCT schedule.
const PCT_DEPTH: usize = 3;

/// The workload a swarm seed runs: each fault kind and each optional operation kind on or off.
pub fn swarm(base: &Workload, seed: u64) -> Workload {
    let mut rng = stream(seed, "swarm");
    let mut w = base.clone();
    let mut flip = |count: &mut u32| {
        *count = if chance(&mut rng, 1, 2) { (*count).max(1) * 2 } else { 0 };
    };
    flip(&mut w.faults.partitions);
    flip(&mut w.faults.loss_windows);
    flip(&mut w.faults.kills);
    flip(&mut w.faults.shaping_windows);
    if w.config.max_clock_skew_ms > 0 {
        flip(&mut w.faults.skews);
    }
    if w.faults.duration_ms.1 == 0 {
        w.faults.duration_ms = (50, 500);
    }
    let Mix { read, write, delete, invalidate_tag, warm } = base.mix;
    let mut keep = |weight: u32| if chance(&mut rng, 1, 2) { weight } else { 0 };
    w.mix = Mix { read, write, delete: keep(delete), invalidate_tag: keep(invalidate_tag), warm: keep(warm) };
    w
}

/// PCT change points: freeze a node for 20-300 ms at a few random instants of the active phase.
pub fn pct(base: &Workload, seed: u64, mut schedule: Schedule<CacheOp>) -> Schedule<CacheOp> {
    let mut rng = stream(seed, "pct");
    let nodes = base.fault_targets(false);
    let active_ns = schedule.ops.iter().map(|o| o.at_ns).max().unwrap_or(0).max(1);
    for _ in 0..PCT_DEPTH {
        let node = nodes.choose(&mut rng).expect("a topology has nodes").clone();
        let at_ns = rng.gen_range(0..active_ns);
        let until = at_ns + rng.gen_range(20..300) * 1_000_000;
        schedule.faults.push(TimedFault { at_ns, fault: Fault::Pause { node: node.clone() } });
        schedule.faults.push(TimedFault { at_ns: until, fault: Fault::Resume { node } });
        schedule.end_ns = schedule.end_ns.max(until + base.config.op_timeout_ms * 1_000_000);
    }
    schedule.faults.sort();
    schedule
}
