//! The commit-order fast path and the general linearizability search must agree wherever both
//! apply: on register histories whose write order is known. Writes here never overlap, so real
//! time fixes their order and the commit log the fast path needs is the true one; reads overlap
//! freely and are sometimes corrupted, so both verdicts occur.

use proptest::prelude::*;
use tiersim_sim::check::commit_order::{check_key, Access, VersionedOp};
use tiersim_sim::check::parse::{Op, Outcome};
use tiersim_sim::check::wgl::{check_ops, Budget};
use tiersim_sim::history::{OpFn, OpValue};

#[derive(Clone, Debug)]
struct Planned {
    writes: Vec<(u64, u64, u64)>,        // (invoke, linearization point, complete)
    reads: Vec<(u64, u64, Option<u64>)>, // (invoke, complete, corrupted version)
}

fn planned() -> impl Strategy<Value = Planned> {
    (1usize..6, prop::collection::vec((0u64..600, 1u64..80, prop::option::weighted(0.3, 0u64..6)), 1..10))
        .prop_flat_map(|(n, reads)| {
            prop::collection::vec((1u64..30, 0u64..100), n).prop_map(move |gaps| {
                let mut t = 0;
                let writes = gaps
                    .iter()
                    .map(|&(gap, len)| {
                        let invoke = t + gap * 10;
                        let complete = invoke + len + 1;
                        t = complete;
                        (invoke, invoke + len / 2, complete)
                    })
                    .collect();
                let reads = reads.iter().map(|&(at, len, bad)| (at, at + len, bad)).collect();
                Planned { writes, reads }
            })
        })
}

fn version_at(writes: &[(u64, u64, u64)], t: u64) -> u64 {
    writes.iter().filter(|w| w.1 <= t).count() as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn fast_path_and_search_agree(p in planned()) {
        let n = p.writes.len() as u64;
        let mut fast = Vec::new();
        let mut general = Vec::new();
        for (i, &(invoke, _, complete)) in p.writes.iter().enumerate() {
            let v = i as u64 + 1;
            fast.push(VersionedOp { op: i as u64, process: 0, access: Access::Write, version: v, invoke_ns: invoke, complete_ns: Some(complete) });
            general.push(Op { process: 0, f: OpFn::Write, key: "k".into(), value: OpValue::Single(Some(v as i64)),
                outcome: Outcome::Ok, invoke_ns: invoke, complete_ns: Some(complete), line: i + 1 });
        }
        for (j, &(invoke, complete, bad)) in p.reads.iter().enumerate() {
            // A correct read sees the version current at some instant of its interval (its
            // midpoint); a corrupted one sees any version at all.
            let v = bad.map_or_else(|| version_at(&p.writes, (invoke + complete) / 2), |b| b.min(n));
            fast.push(VersionedOp { op: 100 + j as u64, process: 1 + j as u64, access: Access::Read, version: v, invoke_ns: invoke, complete_ns: Some(complete) });
            let value = if v == 0 { None } else { Some(v as i64) };
            general.push(Op { process: 1 + j as u64, f: OpFn::Read, key: "k".into(), value: OpValue::Single(value),
                outcome: Outcome::Ok, invoke_ns: invoke, complete_ns: Some(complete), line: 100 + j });
        }
        general.sort_by_key(|o| o.invoke_ns);
        let by_fast_path = check_key(&fast).is_ok();
        let by_search = check_ops(&general, &Budget::default()).ok();
        prop_assert_eq!(Some(by_fast_path), by_search, "fast path {} vs search {:?}", by_fast_path, by_search);
    }
}

/// Both verdicts occur in what the property generates (a property that only ever saw clean
/// histories would prove nothing about the other direction).
#[test]
fn the_generator_makes_both_kinds_of_history() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut clean, mut broken) = (0, 0);
    for _ in 0..300 {
        let p = planned().new_tree(&mut runner).unwrap().current();
        let n = p.writes.len() as u64;
        let mut fast: Vec<VersionedOp> = p
            .writes
            .iter()
            .enumerate()
            .map(|(i, &(invoke, _, complete))| VersionedOp {
                op: i as u64,
                process: 0,
                access: Access::Write,
                version: i as u64 + 1,
                invoke_ns: invoke,
                complete_ns: Some(complete),
            })
            .collect();
        for (j, &(invoke, complete, bad)) in p.reads.iter().enumerate() {
            let v = bad.map_or_else(|| version_at(&p.writes, (invoke + complete) / 2), |b| b.min(n));
            fast.push(VersionedOp {
                op: 100 + j as u64,
                process: 1,
                access: Access::Read,
                version: v,
                invoke_ns: invoke,
                complete_ns: Some(complete),
            });
        }
        if check_key(&fast).is_ok() {
            clean += 1
        } else {
            broken += 1
        }
    }
    assert!(clean > 30 && broken > 30, "clean {clean}, broken {broken}");
}
