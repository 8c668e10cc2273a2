//! Shrinking a failing run: delta debugging over its operations and faults (`sim::shrink`), with
//! every operation pinned to the time it really started and the seed re-drawn when removing an
//! operation shifts the timing the race needed.
//!
//! Where each candidate runs is the caller's choice ([`Candidates`]): a thread of this process
//! ([`InProcess`], what `tiersim shrink` and the `cargo test` API use), or a worker process
//! (`explore::worker::InWorker`, what `explore` uses), so that a protocol that aborts the
//! process on some candidate costs that candidate (a `crash`, which does not reproduce the
//! failure) and not the exploration, and the parent never holds a candidate's history.

use crate::run::run_in;
use tiersim_model::node::config::{CacheOp, SystemConfig};
use tiersim_model::outcome::Outcome;
use tiersim_model::protocol::ProtocolFactory;
use tiersim_sim::history::{EventType, OpFn};
use tiersim_sim::schedule::Schedule;

/// When a process invoked one of its operations: (process, operation, key, sim time in ns).
pub type Invoke = (u64, OpFn, String, u64);

/// One candidate's run, as shrinking needs it.
pub struct Tried {
    pub outcome: Outcome,
    /// Every invoke of the run, in the order they happened (asked for with `invokes`; empty
    /// otherwise, and when the run crashed).
    pub invokes: Vec<Invoke>,
}

/// Where a shrink runs its candidates.
pub trait Candidates {
    /// Run `schedule` under `seed`; with `invokes`, also say when each operation was invoked.
    fn run(&self, seed: u64, schedule: &Schedule<CacheOp>, invokes: bool) -> Tried;
}

/// Candidates run in threads of this process.
pub struct InProcess<'a> {
    pub config: &'a SystemConfig,
    pub protocol: ProtocolFactory,
}

impl Candidates for InProcess<'_> {
    fn run(&self, seed: u64, schedule: &Schedule<CacheOp>, invokes: bool) -> Tried {
        let outcome = run_in(self.config, self.protocol.clone(), seed, schedule, &[]);
        let invokes = if invokes { invokes_of(&outcome) } else { Vec::new() };
        Tried { outcome, invokes }
    }
}

/// The invokes of a run, in the order they happened.
pub fn invokes_of(outcome: &Outcome) -> Vec<Invoke> {
    outcome
        .history
        .client_events()
        .filter(|e| e.kind == EventType::Invoke)
        .map(|e| (e.process, e.f, e.key.clone(), e.time_ns))
        .collect()
}

/// Shrink a failing schedule while `invariant` still fails in `config` under `protocol`.
///
/// Removing an operation shifts the network's random draws for everything after it, which can
/// close the very race being shrunk. So each candidate is tried under the current seed and a few
/// seeds derived from it, and the shrunk replay keeps whichever seed reproduced: a replay file
/// stores its seed, so the result still replays exactly. Returns the shrunk schedule, its seed,
/// what shrinking did, and the shrunk run's outcome.
pub fn shrink_failure(
    config: &SystemConfig,
    protocol: ProtocolFactory,
    seed: u64,
    schedule: &Schedule<CacheOp>,
    invariant: &str,
    max_runs: usize,
) -> (Schedule<CacheOp>, u64, tiersim_sim::shrink::ShrinkStats, Outcome) {
    shrink_with(&InProcess { config, protocol }, seed, schedule, invariant, max_runs)
}

/// [`shrink_failure`] with its candidates run by `runner`. A candidate whose run crashed does
/// not reproduce the failure, so the shrink goes on without it.
pub fn shrink_with(
    runner: &dyn Candidates,
    seed: u64,
    schedule: &Schedule<CacheOp>,
    invariant: &str,
    max_runs: usize,
) -> (Schedule<CacheOp>, u64, tiersim_sim::shrink::ShrinkStats, Outcome) {
    let violates = |seed: u64, s: &Schedule<CacheOp>| {
        runner.run(seed, s, false).outcome.violations.iter().any(|v| v.invariant == invariant)
    };
    const SEEDS_PER_CANDIDATE: u64 = 4;
    let current = std::cell::Cell::new(seed);
    let fails = |s: &Schedule<CacheOp>| {
        let base = current.get();
        let tries = (0..SEEDS_PER_CANDIDATE).map(|i| {
            if i == 0 {
                base
            } else {
                base ^ (i.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            }
        });
        for candidate_seed in tries {
            if violates(candidate_seed, s) {
                current.set(candidate_seed);
                return true;
            }
        }
        false
    };
    // Pin, shrink, and again from the shrunk run (whose timing, and so whose neighbourhood of
    // seeds, differ) until a pass removes nothing or the budget is spent.
    let mut shrunk = schedule.clone();
    let mut total = tiersim_sim::shrink::ShrinkStats {
        ops_before: schedule.ops.len(),
        faults_before: schedule.faults.len(),
        ..Default::default()
    };
    let mut stalls = 0;
    loop {
        let observed = runner.run(current.get(), &shrunk, true);
        let pinned = pin_to_observed_times(&shrunk, observed.invokes);
        let (next, stats) = tiersim_sim::shrink::shrink(&pinned, max_runs - total.runs, &fails);
        total.runs += stats.runs;
        let progress = next.ops.len() < shrunk.ops.len() || next.faults.len() < shrunk.faults.len();
        shrunk = next;
        if total.runs >= max_runs {
            break;
        }
        if !progress {
            // Stuck: move to another seed under which the shrunk schedule still fails (a
            // different timing to pin), a few times, before giving up.
            stalls += 1;
            let base = current.get();
            let other = (1..256u64)
                .map(|i| base ^ i.wrapping_mul(0xd1b5_4a32_d192_ed03))
                .find(|&s| violates(s, &shrunk));
            match other {
                Some(s) if stalls <= 8 => current.set(s),
                _ => break,
            }
        }
    }
    // A last, patient pass over a small schedule: each operation gets many draws of timing.
    let mut i = 0;
    // (Only for a full shrink: exploration shrinks on a small budget and moves on.)
    while max_runs >= 500 && shrunk.ops.len() <= 8 && i < shrunk.ops.len() {
        let mut candidate = shrunk.clone();
        candidate.ops.remove(i);
        let base = current.get();
        let found = (0..512u64)
            .map(|k| base ^ k.wrapping_mul(0xa076_1d64_78bd_642f))
            .find(|&s| violates(s, &candidate));
        total.runs += 1;
        match found {
            Some(s) => {
                current.set(s);
                shrunk = candidate;
            }
            None => i += 1,
        }
    }
    total.ops_after = shrunk.ops.len();
    total.faults_after = shrunk.faults.len();
    let seed = current.get();
    let outcome = runner.run(seed, &shrunk, false).outcome;
    (shrunk, seed, total, outcome)
}

/// The schedule with every operation's time set to when it was actually invoked (`invokes`, a
/// run's invokes in order).
///
/// A process runs its operations one at a time, so an operation often starts later than
/// scheduled, right after the previous one. Pinned, it keeps its real start time when the
/// shrinker removes an operation before it — the race it was part of stays lined up. The pinned
/// schedule runs the same as the original: each operation starts exactly when it did.
fn pin_to_observed_times(schedule: &Schedule<CacheOp>, observed: Vec<Invoke>) -> Schedule<CacheOp> {
    let mut invokes: std::collections::BTreeMap<u64, Vec<(OpFn, String, u64)>> = Default::default();
    for (process, f, key, time_ns) in observed {
        invokes.entry(process).or_default().push((f, key, time_ns));
    }
    let mut pinned = schedule.clone();
    for process in schedule.processes() {
        let mut seen = invokes.remove(&process).unwrap_or_default().into_iter().peekable();
        let mut indices: Vec<usize> =
            (0..pinned.ops.len()).filter(|&i| pinned.ops[i].process == process).collect();
        indices.sort_by_key(|&i| pinned.ops[i].at_ns);
        for i in indices {
            let (f, key) = match &pinned.ops[i].op {
                CacheOp::Read { key } => (OpFn::Read, key.clone()),
                CacheOp::Write { key, .. } => (OpFn::Write, key.clone()),
                CacheOp::Delete { key } => (OpFn::Delete, key.clone()),
                CacheOp::InvalidateTag { tag } => (OpFn::InvalidateTag, tag.clone()),
                CacheOp::Warm { batch, .. } => (OpFn::Warm, batch.clone()),
            };
            // An operation a restarted node skipped was never invoked: it keeps its time.
            if let Some((_, _, time_ns)) = seen.next_if(|(g, k, _)| *g == f && *k == key) {
                pinned.ops[i].at_ns = time_ns;
            }
        }
    }
    pinned
}
