//! The commit-order fast path of `linearizable`: exact and near O(n log n) per key when the
//! database of record tells us the version order.
//!
//! Following DESIGN.md, the history is a graph over operations with an edge for
//! - version order: the write of v precedes the write of v+1;
//! - reads-from: the write of v precedes every read that returned v;
//! - anti-dependency: a read that returned v precedes the write of v+1;
//! - real time: a precedes b when a completed before b was invoked.
//!
//! The history is linearizable iff the graph is acyclic. Real-time edges would be quadratic, so
//! they go through a chain of "time points": point j stands for "the j-th invoke in time order";
//! an operation completed at c points at the first point whose invoke is after c, each point
//! points at its operation and at the next point. a reaches b through the chain exactly when a
//! completed before b was invoked.
//!
//! This deliberately does not take a write's commit instant as its linearization point: a write
//! whose commit came early but whose completion came late may linearize anywhere in its
//! interval, and treating the commit as the point would raise false alarms.

/// Whether an operation wrote a version or read one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Produced version `version` (a write or a delete; deletes are versions too).
    Write,
    /// Returned version `version` (0: the initial absent state).
    Read,
}

/// One operation on one key, with the version it wrote or read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedOp {
    /// The operation's id in the run, for reporting.
    pub op: u64,
    pub process: u64,
    pub access: Access,
    pub version: u64,
    pub invoke_ns: u64,
    /// `None` when it never completed (info): it constrains nothing after it in real time.
    pub complete_ns: Option<u64>,
}

/// Why a pair of operations is ordered in the cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    VersionOrder,
    ReadsFrom,
    AntiDependency,
    RealTime,
}

/// A cycle: operations in order, each ordered before the next (and the last before the first) for
/// the reason given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    pub steps: Vec<(VersionedOp, Edge)>,
}

impl Cycle {
    /// One line per step, for violation messages.
    pub fn explain(&self) -> String {
        let show = |o: &VersionedOp| {
            let what = match o.access {
                Access::Write => format!("wrote v{}", o.version),
                Access::Read => format!("read v{}", o.version),
            };
            let end = o.complete_ns.map_or("never completed".to_string(), |c| format!("{c}ns"));
            format!("op {} (p{}) {what} during [{}ns, {end}]", o.op, o.process, o.invoke_ns)
        };
        let n = self.steps.len();
        let mut lines = Vec::new();
        for (i, (op, edge)) in self.steps.iter().enumerate() {
            let next = &self.steps[(i + 1) % n].0;
            let why = match edge {
                Edge::VersionOrder => "comes first in version order",
                Edge::ReadsFrom => "wrote what the other read",
                Edge::AntiDependency => "read a version the other overwrote",
                Edge::RealTime => "completed before the other was invoked",
            };
            lines.push(format!("{} precedes op {}: {why}", show(op), next.op));
        }
        lines.join("; ")
    }
}

/// Check one key's operations. `Err` carries a shortest-found cycle of operations.
///
/// Panics (a tiersim bug, not bad input) if two writes claim one version or a read names a version
/// nobody wrote. The commit log guarantees the first; callers guarantee the second by leaving out
/// reads of versions never committed, which no order of writes explains: the model reports each
/// as a `value-integrity` violation of the protocol.
pub fn check_key(ops: &[VersionedOp]) -> Result<(), Cycle> {
    let n = ops.len();
    if n == 0 {
        return Ok(());
    }
    // Writes by version.
    let mut writer: std::collections::BTreeMap<u64, usize> = Default::default();
    for (i, o) in ops.iter().enumerate() {
        if o.access == Access::Write {
            assert!(o.version > 0, "tiersim bug: a write of version 0");
            let prev = writer.insert(o.version, i);
            assert!(prev.is_none(), "tiersim bug: two writes of version {}", o.version);
        }
    }
    // Nodes 0..n are operations, n..2n the time points.
    let mut adj: Vec<Vec<(usize, Edge)>> = vec![Vec::new(); 2 * n];
    for (v, &w) in &writer {
        if let Some(&next) = writer.get(&(v + 1)) {
            adj[w].push((next, Edge::VersionOrder));
        }
    }
    for (i, o) in ops.iter().enumerate() {
        if o.access == Access::Read {
            if o.version > 0 {
                let &w = writer.get(&o.version).unwrap_or_else(|| {
                    panic!("tiersim bug: op {} read v{} which no write produced", o.op, o.version)
                });
                adj[w].push((i, Edge::ReadsFrom));
            }
            if let Some(&next) = writer.get(&(o.version + 1)) {
                adj[i].push((next, Edge::AntiDependency));
            }
        }
    }
    let mut by_invoke: Vec<usize> = (0..n).collect();
    by_invoke.sort_by_key(|&i| (ops[i].invoke_ns, i));
    let invokes: Vec<u64> = by_invoke.iter().map(|&i| ops[i].invoke_ns).collect();
    for (j, &i) in by_invoke.iter().enumerate() {
        adj[n + j].push((i, Edge::RealTime));
        if j + 1 < n {
            adj[n + j].push((n + j + 1, Edge::RealTime));
        }
    }
    for (i, o) in ops.iter().enumerate() {
        if let Some(c) = o.complete_ns {
            let j = invokes.partition_point(|&t| t <= c);
            if j < n {
                adj[i].push((n + j, Edge::RealTime));
            }
        }
    }
    match find_cycle(&adj) {
        None => Ok(()),
        Some(nodes) => {
            // Collapse the time-point chain: keep operations, each with the edge leaving it.
            let mut steps = Vec::new();
            for (k, &node) in nodes.iter().enumerate() {
                if node < n {
                    let next = nodes[(k + 1) % nodes.len()];
                    let edge = adj[node].iter().find(|(t, _)| *t == next).map(|(_, e)| *e).unwrap();
                    steps.push((ops[node].clone(), edge));
                }
            }
            Err(Cycle { steps })
        }
    }
}

/// A cycle in the graph as a node sequence, found by an iterative three-colour DFS.
fn find_cycle(adj: &[Vec<(usize, Edge)>]) -> Option<Vec<usize>> {
    const WHITE: u8 = 0;
    const GREY: u8 = 1;
    const BLACK: u8 = 2;
    let mut colour = vec![WHITE; adj.len()];
    let mut parent = vec![usize::MAX; adj.len()];
    for root in 0..adj.len() {
        if colour[root] != WHITE {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        colour[root] = GREY;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if *next < adj[node].len() {
                let (to, _) = adj[node][*next];
                *next += 1;
                match colour[to] {
                    WHITE => {
                        colour[to] = GREY;
                        parent[to] = node;
                        stack.push((to, 0));
                    }
                    GREY => {
                        let mut cycle = vec![node];
                        let mut at = node;
                        while at != to {
                            at = parent[at];
                            cycle.push(at);
                        }
                        cycle.reverse();
                        return Some(cycle);
                    }
                    _ => {}
                }
            } else {
                colour[node] = BLACK;
                stack.pop();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: u64, access: Access, version: u64, inv: u64, done: Option<u64>) -> VersionedOp {
        VersionedOp { op, process: op, access, version, invoke_ns: inv, complete_ns: done }
    }

    #[test]
    fn stale_read_after_completed_write_is_a_cycle() {
        let ops = [
            op(0, Access::Write, 1, 0, Some(10)),
            op(1, Access::Write, 2, 20, Some(30)),
            op(2, Access::Read, 1, 40, Some(50)),
        ];
        let cycle = check_key(&ops).unwrap_err();
        let ids: Vec<u64> = cycle.steps.iter().map(|(o, _)| o.op).collect();
        assert!(ids.contains(&1) && ids.contains(&2), "{}", cycle.explain());
    }

    #[test]
    fn read_concurrent_with_the_write_may_see_either() {
        for seen in [0, 1] {
            let ops = [op(0, Access::Write, 1, 0, Some(100)), op(1, Access::Read, seen, 10, Some(20))];
            assert!(check_key(&ops).is_ok());
        }
    }

    #[test]
    fn commit_early_completion_late_is_no_false_alarm() {
        // v1's write committed early but completed at 100; a read at [50, 60] still saw v0, and a
        // read at [70, 80] saw v1: both fine, since the write may linearize anywhere in [0, 100].
        let ops = [
            op(0, Access::Write, 1, 0, Some(100)),
            op(1, Access::Read, 0, 50, Some(60)),
            op(2, Access::Read, 1, 70, Some(80)),
        ];
        assert!(check_key(&ops).is_ok());
        // But once a read saw v1, a later read may not go back to v0.
        let ops = [
            op(0, Access::Write, 1, 0, Some(100)),
            op(1, Access::Read, 1, 50, Some(60)),
            op(2, Access::Read, 0, 70, Some(80)),
        ];
        assert!(check_key(&ops).is_err());
    }

    #[test]
    fn info_write_orders_nothing_after_it() {
        let ops = [
            op(0, Access::Write, 1, 0, None),
            op(1, Access::Read, 0, 500, Some(600)),
            op(2, Access::Read, 1, 700, Some(800)),
        ];
        assert!(check_key(&ops).is_ok());
    }
}
