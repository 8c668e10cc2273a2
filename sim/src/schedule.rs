//! A schedule: the timed client operations and the fault plan of one run, as explicit data.
//!
//! Scenarios generate a schedule from the seed with their own ChaCha stream (see `rng`), separate
//! from the runtime's scheduler stream; it is stored whole in replay files, so a shrinker can
//! edit it and replay the edited run. The operation type is the model's (`sim` knows no cache).

use crate::fault::TimedFault;
use serde::{Deserialize, Serialize};

pub use crate::clock::MAX_SIM_NS;
/// The most client operations a schedule may hold (the largest scenario generates a few
/// thousand); a bound on what a replay file can make one run allocate.
pub const MAX_OPS: usize = 100_000;
/// The most faults a schedule may hold.
pub const MAX_FAULTS: usize = 10_000;

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

    /// Check every value against its documented bound before a run: the counts against
    /// `MAX_OPS` / `MAX_FAULTS`, every time against `MAX_SIM_NS`, every fault with
    /// `Fault::validate` (`node_exists` says which node names the system has), and every
    /// operation with `op_ok`. The error names the field by its path in the replay file
    /// (`schedule.faults[2].fault.per_mille ...`) and says what is allowed.
    pub fn validate(
        &self,
        node_exists: &dyn Fn(&str) -> bool,
        op_ok: &dyn Fn(&A) -> Result<(), String>,
    ) -> Result<(), String> {
        let time = |path: String, at_ns: u64| {
            if at_ns > MAX_SIM_NS {
                Err(format!("{path} is {at_ns}; allowed 0..={MAX_SIM_NS} ns (about 11.6 days)"))
            } else {
                Ok(())
            }
        };
        if self.ops.len() > MAX_OPS {
            return Err(format!(
                "schedule.ops holds {} operations; allowed at most {MAX_OPS}",
                self.ops.len()
            ));
        }
        if self.faults.len() > MAX_FAULTS {
            return Err(format!(
                "schedule.faults holds {} faults; allowed at most {MAX_FAULTS}",
                self.faults.len()
            ));
        }
        time("schedule.end_ns".into(), self.end_ns)?;
        for (i, o) in self.ops.iter().enumerate() {
            time(format!("schedule.ops[{i}].at_ns"), o.at_ns)?;
            op_ok(&o.op).map_err(|e| format!("schedule.ops[{i}].op.{e}"))?;
        }
        for (i, f) in self.faults.iter().enumerate() {
            time(format!("schedule.faults[{i}].at_ns"), f.at_ns)?;
            f.fault.validate(node_exists).map_err(|e| format!("schedule.faults[{i}].fault.{e}"))?;
        }
        Ok(())
    }

    /// The distinct processes, ascending.
    pub fn processes(&self) -> Vec<u64> {
        let set: std::collections::BTreeSet<u64> = self.ops.iter().map(|o| o.process).collect();
        set.into_iter().collect()
    }
}
