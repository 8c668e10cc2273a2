//! A schedule: the timed client operations and the fault plan of one run, as explicit data.
//!
//! Scenarios generate a schedule from the seed with their own ChaCha stream (see `rng`), separate
//! from the runtime's scheduler stream; it is stored whole in replay files, so a shrinker can
//! edit it and replay the edited run. The operation type is the model's (`sim` knows no cache).

use crate::fault::TimedFault;
use serde::{Deserialize, Serialize};

/// One client operation issued by `process` no earlier than `at_ns` (a process runs its
/// operations one at a time, so a slow operation delays the next).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedOp<A> {
    pub at_ns: u64,
    pub process: u64,
    pub op: A,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule<A> {
    /// Client operations in the order they were generated (each process's in time order).
    pub ops: Vec<TimedOp<A>>,
    /// Faults, applied at their times.
    pub faults: Vec<TimedFault>,
    /// When the active phase ends: faults still in force are healed and the quiet phase begins.
    pub end_ns: u64,
}

impl<A> Schedule<A> {
    /// The operations of one process, in time order.
    pub fn ops_of(&self, process: u64) -> Vec<&TimedOp<A>> {
        let mut ops: Vec<&TimedOp<A>> = self.ops.iter().filter(|o| o.process == process).collect();
        ops.sort_by_key(|o| o.at_ns);
        ops
    }

    /// The distinct processes, ascending.
    pub fn processes(&self) -> Vec<u64> {
        let set: std::collections::BTreeSet<u64> = self.ops.iter().map(|o| o.process).collect();
        set.into_iter().collect()
    }
}
