//! Linearizability of a register history whose written values are unique, in O(n log n).
//!
//! When no two writes write the same value, every read names the write it observed, so the
//! history splits into clusters: a write and the reads that returned its value (the initial
//! absent value is a cluster whose write happened before everything). A linearization must
//! place each cluster's operations together (its write, then its reads, before the next write
//! takes effect). Following Gibbons and Korach ("Testing shared memories", 1997) and Golab, Li
//! and Shah ("Analyzing consistency properties for fun and profit", 2011), each cluster has a
//! zone: with f the earliest completion and s the latest invocation among its operations, a
//! *forward* zone [f, s] when f < s (the cluster must span that whole stretch of time) and a
//! *backward* zone [s, f] otherwise (all its operations overlap, so it can sit at one instant
//! of that interval). The history is linearizable iff every read comes from a write invoked
//! before the read completed, no two forward zones overlap, and no backward zone lies strictly
//! inside a forward zone. Times compare strictly, as real-time order does: an operation precedes
//! another only when it completed before the other was invoked, so zones that merely touch do
//! not conflict.
//!
//! An indeterminate write (no completion) may never take effect: if nobody read it, it is
//! dropped; if someone did, it must have, and its completion is "never" (it constrains nothing
//! after it). The checker also builds a witness order (clusters sorted by where they can sit,
//! each write followed by its reads) and verifies it in linear time; a witness that fails
//! verification would be a bug here, and the caller then falls back to the general search
//! rather than trust the verdict.

use std::collections::HashMap;

/// One operation as the zone check sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ZoneOp {
    pub invoke_ns: u64,
    /// `None`: indeterminate (a write that may take effect at any time after invoke, or never).
    pub complete_ns: Option<u64>,
    /// A write of `value`, or a read that returned it.
    pub write: bool,
    pub value: Option<i64>,
}

/// The answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Zones {
    /// A linearization: indices into the operations, in order (dropped writes left out).
    Linearizable(Vec<usize>),
    NotLinearizable,
}

const BEFORE_ALL: i128 = -1;
const NEVER: i128 = u64::MAX as i128 + 1;

/// Whether the zone check applies: every write writes a value (no deletes) and no value twice.
pub(crate) fn applicable(ops: &[ZoneOp]) -> bool {
    let mut seen = HashMap::new();
    ops.iter().filter(|o| o.write).all(|o| o.value.is_some() && seen.insert(o.value, ()).is_none())
}

/// Checks a history the zone check applies to ([`applicable`]); `None` when the witness failed
/// verification (the caller must then decide another way).
pub(crate) fn check(ops: &[ZoneOp]) -> Option<Zones> {
    debug_assert!(applicable(ops));
    // Cluster 0 is the initial value; cluster k + 1 is the k-th write.
    let mut cluster_of_value: HashMap<i64, usize> = HashMap::new();
    let mut writer: Vec<Option<usize>> = vec![None];
    for (i, o) in ops.iter().enumerate() {
        if o.write {
            cluster_of_value.insert(o.value.expect("applicable: writes have values"), writer.len());
            writer.push(Some(i));
        }
    }
    let mut reads: Vec<Vec<usize>> = vec![Vec::new(); writer.len()];
    for (i, o) in ops.iter().enumerate().filter(|(_, o)| !o.write) {
        let c = match o.value {
            None => 0,
            Some(v) => match cluster_of_value.get(&v) {
                Some(&c) => c,
                None => return Some(Zones::NotLinearizable), // a value nobody wrote
            },
        };
        if let Some(w) = writer[c] {
            // A read cannot complete before the write it observed was invoked.
            if o.complete_ns.is_some_and(|done| done < ops[w].invoke_ns) {
                return Some(Zones::NotLinearizable);
            }
        }
        reads[c].push(i);
    }

    let time = |t: u64| t as i128;
    let done = |o: &ZoneOp| o.complete_ns.map_or(NEVER, time);
    // (earliest completion, latest invocation) per cluster; `None` for a dropped cluster.
    let mut spans: Vec<Option<(i128, i128)>> = Vec::with_capacity(writer.len());
    for (c, w) in writer.iter().enumerate() {
        let (mut f, mut s) = match w {
            None => (BEFORE_ALL, BEFORE_ALL),
            Some(w) => {
                let o = &ops[*w];
                if o.complete_ns.is_none() && reads[c].is_empty() {
                    spans.push(None); // an indeterminate write nobody saw: it never happened
                    continue;
                }
                (done(o), time(o.invoke_ns))
            }
        };
        for &r in &reads[c] {
            f = f.min(done(&ops[r]));
            s = s.max(time(ops[r].invoke_ns));
        }
        spans.push(Some((f, s)));
    }

    // Forward zones must be pairwise disjoint.
    let mut forward: Vec<(i128, i128, usize)> = spans
        .iter()
        .enumerate()
        .filter_map(|(c, z)| z.filter(|(f, s)| f < s).map(|(f, s)| (f, s, c)))
        .collect();
    forward.sort_unstable();
    for pair in forward.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Some(Zones::NotLinearizable);
        }
    }
    // No backward zone strictly inside a forward one; meanwhile choose where each cluster sits.
    let mut placed: Vec<(i128, u8, usize)> = Vec::with_capacity(spans.len());
    for (c, z) in spans.iter().enumerate() {
        let Some((f, s)) = *z else { continue };
        if f < s {
            placed.push((f, 0, c));
            continue;
        }
        let (lo, hi) = (s, f);
        let at = forward.partition_point(|z| z.0 < lo);
        let mut sit = lo;
        if let Some(&(zf, zs, _)) = at.checked_sub(1).map(|k| &forward[k]) {
            if zf < lo && lo < zs {
                if hi < zs {
                    return Some(Zones::NotLinearizable);
                }
                sit = zs;
            }
        }
        placed.push((sit, 1, c));
    }
    placed.sort_unstable();
    let mut order = Vec::with_capacity(ops.len());
    for &(_, _, c) in &placed {
        if let Some(w) = writer[c] {
            order.push(w);
        }
        let mut rs = reads[c].clone();
        rs.sort_by_key(|&r| (ops[r].invoke_ns, r));
        order.extend(rs);
    }
    verify(ops, &order).then_some(Zones::Linearizable(order))
}

/// Whether `order` respects real time: no operation completes before an earlier one in the
/// order was invoked. (Each read follows its own write with no write in between by
/// construction, so the register semantics hold.)
fn verify(ops: &[ZoneOp], order: &[usize]) -> bool {
    let mut latest_invoke = 0u64;
    for &i in order {
        if ops[i].complete_ns.is_some_and(|c| c < latest_invoke) {
            return false;
        }
        latest_invoke = latest_invoke.max(ops[i].invoke_ns);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: i64, inv: u64, done: u64) -> ZoneOp {
        ZoneOp { invoke_ns: inv, complete_ns: Some(done), write: true, value: Some(v) }
    }
    fn r(v: Option<i64>, inv: u64, done: u64) -> ZoneOp {
        ZoneOp { invoke_ns: inv, complete_ns: Some(done), write: false, value: v }
    }

    #[test]
    fn sequential_and_stale() {
        let h = [r(None, 0, 1), w(1, 2, 3), r(Some(1), 4, 5), w(2, 6, 7), r(Some(2), 8, 9)];
        assert_eq!(check(&h), Some(Zones::Linearizable(vec![0, 1, 2, 3, 4])));
        let stale = [w(1, 0, 10), w(2, 20, 30), r(Some(1), 40, 50)];
        assert_eq!(check(&stale), Some(Zones::NotLinearizable));
        let future = [r(Some(1), 0, 10), w(1, 20, 30)];
        assert_eq!(check(&future), Some(Zones::NotLinearizable));
        let unwritten = [w(1, 0, 10), r(Some(3), 20, 30)];
        assert_eq!(check(&unwritten), Some(Zones::NotLinearizable));
    }

    #[test]
    fn touching_zones_do_not_conflict() {
        // Cluster 1 spans [10, 20]; cluster 2 spans [20, 30]: the read at 20 and the write done at
        // 20 are concurrent, so 1's read may come before 2's write.
        let h = [w(1, 0, 10), r(Some(1), 20, 40), w(2, 5, 20), r(Some(2), 30, 40)];
        assert!(matches!(check(&h), Some(Zones::Linearizable(_))));
    }

    #[test]
    fn not_applicable_with_repeated_values_or_deletes() {
        assert!(!applicable(&[w(1, 0, 1), w(1, 2, 3)]));
        let delete = ZoneOp { invoke_ns: 0, complete_ns: Some(1), write: true, value: None };
        assert!(!applicable(&[delete]));
        assert!(applicable(&[w(1, 0, 1), w(2, 2, 3), r(Some(1), 0, 9)]));
    }
}
