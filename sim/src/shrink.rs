//! Shrinking: remove client operations and faults from a failing schedule while the same
//! invariant still fails, so a person reads four operations instead of four hundred.
//!
//! It is delta debugging (Zeller's ddmin) over the explicit schedule: try dropping chunks, halve
//! the chunk size when nothing can go, until every single remaining item is needed (1-minimal) or
//! the run budget is spent. A fault and the fault that heals it are removed together, so a
//! shrunk plan never restarts a node that was never killed. The oracle is a closure: the caller
//! runs the candidate and says whether the same invariant still fails. Runs are deterministic,
//! so the result is a pure function of the input schedule.

use crate::fault::TimedFault;
use crate::schedule::Schedule;

/// What shrinking did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShrinkStats {
    pub ops_before: usize,
    pub ops_after: usize,
    pub faults_before: usize,
    pub faults_after: usize,
    /// Candidate runs tried.
    pub runs: usize,
}

/// Delta debugging: the smallest sub-list of `items` (in order) for which `fails` holds, found
/// with at most `*budget` calls.
fn ddmin<T: Clone>(mut items: Vec<T>, budget: &mut usize, fails: &mut dyn FnMut(&[T]) -> bool) -> Vec<T> {
    let mut n = 2;
    while !items.is_empty() && *budget > 0 {
        let chunk = items.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..items.len()).step_by(chunk) {
            if *budget == 0 {
                break;
            }
            let candidate: Vec<T> = items[..start]
                .iter()
                .chain(items[(start + chunk).min(items.len())..].iter())
                .cloned()
                .collect();
            *budget -= 1;
            if fails(&candidate) {
                items = candidate;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if chunk == 1 {
                break;
            }
            n = (n * 2).min(items.len());
        }
    }
    items
}

/// Faults grouped with the fault that heals them (when the plan has one).
fn fault_units(faults: &[TimedFault]) -> Vec<Vec<TimedFault>> {
    let mut sorted = faults.to_vec();
    sorted.sort();
    let mut used = vec![false; sorted.len()];
    let mut units = Vec::new();
    for i in 0..sorted.len() {
        if used[i] {
            continue;
        }
        used[i] = true;
        let mut unit = vec![sorted[i].clone()];
        if let Some(heal) = sorted[i].fault.heal() {
            if let Some(j) = (i + 1..sorted.len()).find(|&j| !used[j] && sorted[j].fault == heal) {
                used[j] = true;
                unit.push(sorted[j].clone());
            }
        }
        units.push(unit);
    }
    units
}

/// Shrink `schedule` while `fails` holds, spending at most `max_runs` candidate runs.
/// `fails(original)` is assumed (the caller checked it).
pub fn shrink<A: Clone>(
    schedule: &Schedule<A>,
    max_runs: usize,
    mut fails: impl FnMut(&Schedule<A>) -> bool,
) -> (Schedule<A>, ShrinkStats) {
    let mut budget = max_runs;
    let mut current = schedule.clone();
    // Faults first (whole units), then operations, then faults, then operations again: each
    // removal can make more of the other unnecessary.
    for round in 0..4 {
        if round % 2 == 1 {
            let base = current.clone();
            current.ops = ddmin(current.ops.clone(), &mut budget, &mut |ops| {
                fails(&Schedule { ops: ops.to_vec(), ..base.clone() })
            });
        } else {
            let base = current.clone();
            let units = ddmin(fault_units(&current.faults), &mut budget, &mut |units| {
                fails(&Schedule { faults: units.concat(), ..base.clone() })
            });
            current.faults = units.concat();
        }
    }
    let stats = ShrinkStats {
        ops_before: schedule.ops.len(),
        ops_after: current.ops.len(),
        faults_before: schedule.faults.len(),
        faults_after: current.faults.len(),
        runs: max_runs - budget,
    };
    (current, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Fault;
    use crate::schedule::TimedOp;

    #[test]
    fn ddmin_finds_the_two_items_that_matter() {
        let items: Vec<u32> = (0..40).collect();
        let mut budget = 1000;
        let min = ddmin(items, &mut budget, &mut |xs| xs.contains(&7) && xs.contains(&31));
        assert_eq!(min, vec![7, 31]);
    }

    #[test]
    fn shrink_keeps_a_fault_with_its_heal_and_drops_the_rest() {
        let op = |at_ns, process| TimedOp { at_ns, process, op: process as u32 };
        let at = |at_ns, fault| TimedFault { at_ns, fault };
        let schedule = Schedule {
            ops: (0..10).map(|i| op(i * 10, i)).collect(),
            faults: vec![
                at(5, Fault::Kill { node: "a".into() }),
                at(50, Fault::Restart { node: "a".into() }),
                at(7, Fault::ClogNode { node: "b".into() }),
                at(70, Fault::UnclogNode { node: "b".into() }),
            ],
            end_ns: 200,
        };
        // "Fails" while op 3 and the clog of b are there.
        let (shrunk, stats) = shrink(&schedule, 500, |s| {
            s.ops.iter().any(|o| o.op == 3)
                && s.faults.iter().any(|f| f.fault == Fault::ClogNode { node: "b".into() })
        });
        assert_eq!(shrunk.ops.iter().map(|o| o.op).collect::<Vec<_>>(), vec![3]);
        assert_eq!(shrunk.faults.len(), 2, "the clog stays with its heal: {:?}", shrunk.faults);
        assert_eq!((stats.ops_before, stats.ops_after, stats.faults_after), (10, 1, 2));
        assert!(stats.runs > 0);
    }
}
