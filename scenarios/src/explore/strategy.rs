//! Exploration strategies: how a seed becomes a schedule.
//!
//! - `random`: the scenario's own mix of operations and faults, drawn from the seed.
//! - `swarm` (Groce et al., "Swarm Testing", ISSTA 2012): each seed also switches whole fault
//!   kinds and operation kinds on or off, so some runs hammer one feature without the others
//!   diluting it.
//!   Swarm also draws how many of the scenario's keys a seed uses and the weights of reads and
//!   writes, so some seeds pile every operation onto one key.
//! - `pct` (after Burckhardt et al.'s probabilistic concurrency testing, ASPLOS 2010, taken to
//!   message passing as Ozkan et al.'s PCTCP, OOPSLA 2018): d = 3 change points over the run's
//!   real scheduling choice, the order in which messages are delivered. At each, one link from
//!   an app to a tier (or back) is slowed for a few ms, so the messages it carries then are
//!   delivered far behind the ones sent after them. (madsim's choice among tasks ready at the
//!   same instant is drawn from the run seed and is not perturbed.)
//! - `coverage`: keeps the schedules that reached a new interleaving signature of cache events
//!   (per key, each event with the two before it: fill read -> invalidate -> fill land, ...)
//!   and mutates them (see `coverage`); its seeds depend on the seeds before them, so it
//!   runs sequentially and every failure is kept as an explicit schedule.
//! - `race` (race-directed): runs fresh seeds, finds the near misses of each passing run (a
//!   fill that landed at a tier a few ms before that tier's floor rose, its entry was removed
//!   or evicted, or it restarted) and re-runs the same schedule with the fill's link slowed
//!   just enough to land after it (see `race`). Sequential like `coverage`, and every
//!   perturbation is a fault in the schedule, so each run replays exactly from its file.
//!
//! A strategy is a name here; how a workload varies under it (which knobs swarm flips, where PCT
//! puts its change points) lives with the workload's knobs, in `scenario::workload`.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    Random,
    Swarm,
    Pct,
    Coverage,
    Race,
}

impl Strategy {
    pub const ALL: [Strategy; 5] =
        [Strategy::Random, Strategy::Swarm, Strategy::Pct, Strategy::Coverage, Strategy::Race];

    /// Whether a seed's schedule depends on the runs before it (so it runs in order, and is
    /// reproduced from its replay file rather than from its seed).
    pub fn sequential(self) -> bool {
        matches!(self, Strategy::Coverage | Strategy::Race)
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Swarm => "swarm",
            Strategy::Pct => "pct",
            Strategy::Coverage => "coverage",
            Strategy::Race => "race",
        }
    }

    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }
}
