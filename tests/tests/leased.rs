//! `leased` keeps its claims — linearizable included — in every scenario, and pays for it in
//! availability: a process cut off from the tiers stops serving once its read lease lapses,
//! where `versioned` keeps serving the old value.

use tiersim_model::check::op_records;
use tiersim_model::event::ModelEvent;
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_scenarios::run_schedule;
use tiersim_sim::fault::{Fault, TimedFault};
use tiersim_sim::history::{Event, EventType, OpFn};
use tiersim_sim::schedule::{Schedule, TimedOp};
use tiersim_tests::{protocol, scenario, seeds};

#[test]
fn leased_passes_seeds_in_every_scenario() {
    tiersim_tests::assert_passes_every_scenario("leased", seeds(4));
}

const MS: u64 = 1_000_000;

/// fill-race's system (one host, three processes). p0 on app-0 writes k0 = 1; p2 on app-2 reads
/// it (its L1 now holds v1); app-2 is cut off from everyone; p0 writes k0 = 2; p2 keeps reading.
fn partitioned_reader() -> Schedule<CacheOp> {
    let op = |ms: u64, process: u64, op: CacheOp| TimedOp { at_ns: ms * MS, process, op };
    let write = |value| CacheOp::Write { key: "k0".into(), value };
    let read = || CacheOp::Read { key: "k0".into() };
    let mut ops = vec![op(10, 0, write(1)), op(310, 0, write(2))];
    ops.extend([200, 250, 400, 700, 900, 1200].map(|ms| op(ms, 2, read())));
    let app2 = || "app-2".to_string();
    Schedule {
        ops,
        faults: vec![
            TimedFault { at_ns: 300 * MS, fault: Fault::ClogNode { node: app2() } },
            TimedFault { at_ns: 1500 * MS, fault: Fault::UnclogNode { node: app2() } },
        ],
        end_ns: 2500 * MS,
    }
}

fn commit_ns(o: &Outcome, version: u64) -> u64 {
    o.history
        .events
        .iter()
        .find_map(|e| match e {
            Event::Internal { time_ns, event: ModelEvent::Commit { version: v, .. } } if *v == version => {
                Some(*time_ns)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("v{version} was never committed"))
}

#[test]
fn a_partitioned_process_fails_its_reads_instead_of_serving_the_old_value() {
    let s = scenario("fill-race");
    let schedule = partitioned_reader();

    let o = run_schedule(&*s, protocol("leased"), 1, &schedule, &[]);
    assert_eq!(o.verdict, Verdict::Pass, "{:?} {:?}", o.violations.first(), o.abort);
    let ops = op_records(&o.history);
    let w2 = ops.values().find(|r| r.f == OpFn::Write && r.value == Some(2)).unwrap();
    // The writer could not reach app-2: it waited out app-2's read lease, then committed.
    assert_eq!(w2.outcome, Some(EventType::Ok), "{w2:?}");
    assert_eq!(w2.version, Some(2));
    let committed = commit_ns(&o, 2);
    let p2_reads: Vec<_> = ops.values().filter(|r| r.process == 2 && r.f == OpFn::Read).collect();
    for r in &p2_reads {
        if r.outcome == Some(EventType::Ok) && r.invoke_ns >= committed {
            assert_eq!(r.version, Some(2), "stale read on the partitioned process: {r:?}");
        }
    }
    let unavailable = p2_reads
        .iter()
        .filter(|r| r.invoke_ns >= committed && r.invoke_ns < 1500 * MS)
        .filter(|r| r.outcome != Some(EventType::Ok))
        .count();
    assert!(unavailable >= 2, "reads on the cut-off process after the commit must fail: {p2_reads:?}");

    // The contrast: `versioned` stays available and its partitioned L1 serves v1 after v2
    // committed (it does not claim linearizable).
    let o = run_schedule(&*s, protocol("versioned"), 1, &schedule, &[]);
    let committed = commit_ns(&o, 2);
    let stale = op_records(&o.history).into_values().any(|r| {
        r.process == 2
            && r.f == OpFn::Read
            && r.outcome == Some(EventType::Ok)
            && r.invoke_ns >= committed
            && r.version == Some(1)
    });
    assert!(stale, "versioned serves v1 on the partitioned process");
}
