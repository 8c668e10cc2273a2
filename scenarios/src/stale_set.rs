//! `stale-set`: a few app processes race reads, writes and deletes on a few keys with small TTLs.
//! The race it exists for: a reader misses, reads v1 from the database, and its cache fill lands
//! after a writer committed v2 and invalidated — a stale set.

use crate::Scenario;
use rand::Rng;
use tiersim_model::system::{CacheOp, SystemConfig};
use tiersim_sim::rng::stream;
use tiersim_sim::schedule::{Schedule, TimedOp};

pub struct StaleSet;

/// Client processes (two per app node).
const PROCESSES: u64 = 6;
/// Keys everyone races on.
const KEYS: u64 = 2;
/// Operations per process.
const OPS_PER_PROCESS: u64 = 40;
/// Largest think time between one process's operations.
const MAX_GAP_NS: u64 = 40_000_000;

impl Scenario for StaleSet {
    fn name(&self) -> &'static str {
        "stale-set"
    }

    fn description(&self) -> &'static str {
        "6 processes on 3 app nodes race reads, writes and deletes on 2 keys; Redis TTL 500 ms, L1 TTL 200 ms"
    }

    fn config(&self) -> SystemConfig {
        SystemConfig::default()
    }

    fn schedule(&self, seed: u64) -> Schedule<CacheOp> {
        let mut rng = stream(seed, "workload");
        let mut ops = Vec::new();
        let mut value = 0;
        let mut end_ns = 0;
        for process in 0..PROCESSES {
            let mut at_ns = rng.gen_range(0..MAX_GAP_NS);
            for _ in 0..OPS_PER_PROCESS {
                let key = format!("k{}", rng.gen_range(0..KEYS));
                let op = match rng.gen_range(0..10) {
                    0..=5 => CacheOp::Read { key },
                    6..=8 => {
                        value += 1;
                        CacheOp::Write { key, value }
                    }
                    _ => CacheOp::Delete { key },
                };
                ops.push(TimedOp { at_ns, process, op });
                at_ns += rng.gen_range(0..MAX_GAP_NS);
            }
            end_ns = end_ns.max(at_ns);
        }
        // Everything issued; one more second for stragglers before the quiet phase.
        Schedule {
            ops,
            faults: Vec::new(),
            end_ns: end_ns + 1_000_000_000,
        }
    }
}
