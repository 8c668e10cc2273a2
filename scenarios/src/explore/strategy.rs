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
//!
//! A strategy is a name here; how a workload varies under it (which knobs swarm flips, where PCT
//! puts its change points) lives with the workload's knobs, in `scenario::workload`.

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
