//! Shrinking: a stale-set failure (scenario fill-race) found by a sweep shrinks to a handful of client operations
//! that still break the same invariant, and the shrunk replay is exact.

use tiersim_model::outcome::Verdict;
use tiersim_scenarios::{run_in, run_seed, shrink_failure};
use tiersim_tests::{protocol, scenario};

#[test]
fn a_stale_set_failure_shrinks_to_at_most_4_ops_and_replays_exactly() {
    let s = scenario("fill-race");
    let p = protocol("cache-aside");
    let failing = (0..200)
        .map(|seed| run_seed(&*s, p.clone(), seed, &[]))
        .find(|o| o.verdict == Verdict::Fail)
        .unwrap();
    let schedule = s.schedule(failing.seed);
    let invariant = failing.violations[0].invariant.clone();
    let (shrunk, seed, stats, outcome) =
        shrink_failure(&s.config(), p.clone(), failing.seed, &schedule, &invariant, 2000);
    assert_eq!(stats.ops_before, schedule.ops.len());
    assert!(stats.ops_after <= 4, "shrunk to {} ops: {:?}", stats.ops_after, shrunk.ops);
    assert_eq!(shrunk.ops.len(), stats.ops_after);
    assert!(outcome.violations.iter().any(|v| v.invariant == invariant), "the same invariant still fails");
    let again = run_in(&s.config(), p, seed, &shrunk, &[]);
    assert_eq!(again.trace_hash, outcome.trace_hash, "the shrunk run replays exactly");
}
