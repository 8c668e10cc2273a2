//! The bug zoo: every entry, swept over the seeds of the scenario that exposes it, must fail with
//! the invariant named for it — a checker is trusted only after it catches bugs it was not told
//! about. And the correct protocol must pass every scenario with its faults on.

use tiersim_model::outcome::Verdict;
use tiersim_model::protocols::zoo::{self, ZOO};
use tiersim_scenarios::run_seed;
use tiersim_tests::{scenario, seeds};

#[test]
fn every_zoo_entry_is_caught_by_its_invariant_below_seed_200() {
    let mut missed = Vec::new();
    for entry in &ZOO {
        let s = scenario(entry.scenario);
        let p = zoo::protocol(entry);
        let caught = (0..200).find_map(|seed| {
            let o = run_seed(&*s, p.clone(), seed, &[]);
            assert!(
                !matches!(o.verdict, Verdict::Crash | Verdict::Liveness),
                "{} seed {seed}: {:?} {:?}",
                entry.name,
                o.verdict,
                o.abort
            );
            o.violations.iter().any(|v| v.invariant == entry.invariant.name()).then_some(seed)
        });
        if caught.is_none() {
            missed.push(format!("{} on {} ({})", entry.name, entry.scenario, entry.invariant));
        }
    }
    assert!(missed.is_empty(), "zoo entries not caught in 200 seeds: {missed:?}");
}

#[test]
fn versioned_passes_every_scenario_with_its_faults() {
    tiersim_tests::assert_passes_every_scenario("versioned", seeds(8));
}

#[test]
fn the_zoo_is_complete_and_each_entry_claims_what_exposes_it() {
    assert_eq!(ZOO.len(), 19);
    for entry in &ZOO {
        let s = scenario(entry.scenario);
        let claims = zoo::protocol(entry).claims(&s.config());
        assert!(
            claims.invariants.contains(&entry.invariant),
            "{} must claim {}",
            entry.name,
            entry.invariant
        );
        assert!(entry.story.matches(". ").count() >= 2, "{}: the story tells the race in steps", entry.name);
    }
}

/// The client-tracking entries against the prescribed client, on the very schedules that catch
/// them: `tracking-race` (a GET reply fills the L1 after the invalidation it raced) and
/// `tracking-disconnect` (a redirect connection drops and the L1 is not flushed) fail their
/// invariant, and `tracking`, which differs only by the placeholder and the flush, passes both.
#[test]
fn the_tracking_entries_fail_where_the_prescribed_client_passes() {
    for entry in ["tracking-race", "tracking-disconnect"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../seeds/{entry}.json"));
        let file = tiersim_scenarios::run::load_replay(&path).unwrap_or_else(|e| panic!("{e}"));
        let config = tiersim_scenarios::config_from_json(&file.config).unwrap();
        let run = |name: &str| {
            let p = tiersim_tests::protocol(name);
            tiersim_scenarios::run_in(&config, p, file.seed, &file.schedule, &[])
        };
        let flawed = run(entry);
        assert!(
            flawed.violations.iter().any(|v| v.invariant == "bounded-staleness"),
            "{entry}: {:?}",
            flawed.violations
        );
        let correct = run("tracking");
        assert_eq!(
            correct.verdict,
            Verdict::Pass,
            "tracking on {entry}'s schedule: {:?}",
            correct.violations
        );
    }
}

/// `failover-resurrection` against `versioned` on the schedule that catches it: a delete is
/// acknowledged, Redis fails over to a replica that had not received it, and the replica brings
/// the deleted value back. The flawed GET serves it (`no-resurrection`); `versioned`, whose GET
/// treats the promoted replica's unstamped copy as a miss, passes — although Redis held the
/// old value after the promotion, which the checkers must not count against it.
#[test]
fn a_failover_restores_a_deleted_value_that_only_the_stamp_check_refuses() {
    use tiersim_model::event::ModelEvent;
    use tiersim_sim::history::Event;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds/failover-resurrection.json");
    let file = tiersim_scenarios::run::load_replay(&path).unwrap_or_else(|e| panic!("{e}"));
    let config = tiersim_scenarios::config_from_json(&file.config).unwrap();
    let run = |name: &str| {
        let p = tiersim_tests::protocol(name);
        tiersim_scenarios::run_in(&config, p, file.seed, &file.schedule, &[])
    };
    let flawed = run("failover-resurrection");
    assert!(
        flawed.violations.iter().any(|v| v.invariant == "no-resurrection"),
        "failover-resurrection: {:?}",
        flawed.violations
    );
    let correct = run("versioned");
    assert_eq!(correct.verdict, Verdict::Pass, "versioned: {:?}", correct.violations);
    // The temptation was there: the promoted replica restored a value of a key.
    let restored: Vec<&(String, u64)> = correct
        .history
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Internal { event: ModelEvent::Promote { restored, .. }, .. } => Some(restored),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(restored.iter().any(|(k, v)| k == "hot:0" && *v == 1), "v1 was not restored: {restored:?}");
}
