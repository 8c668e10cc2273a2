//! The deep zoo: each entry is pinned by its shrunk replay file in `seeds/`, named after the
//! race, which must fail with the entry's invariant while the correct protocols run the very same
//! schedule clean (so the flaw, not the schedule, is what fails); and a short sweep of the
//! `race` strategy must find the hardest one from scratch. Thousand-seed figures belong to
//! `tiersim bench --deep`, never here.

use tiersim_model::outcome::Verdict;
use tiersim_model::protocols::zoo::{self, ZooTier};
use tiersim_scenarios::explore::strategy::Strategy;
use tiersim_scenarios::explore::sweep::{self, SweepSpec};
use tiersim_tests::{protocol, scenario};

/// Every deep entry, each with a kept failure.
const PINNED: [&str; 5] = [
    "restart-unfenced-fill",
    "redis-restart-unfenced-fill",
    "heal-retry-delete",
    "write-through-evict",
    "heal-retry-tag",
];

fn seed_file(name: &str) -> tiersim_sim::replay::ReplayFile<tiersim_model::node::config::CacheOp> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../seeds/{name}.json"));
    tiersim_scenarios::run::load_replay(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn each_deep_race_fails_its_invariant_from_its_seed_file_and_the_correct_protocols_pass_it() {
    for name in PINNED {
        let entry = zoo::entry(name).unwrap();
        assert_eq!(entry.tier, ZooTier::Deep);
        let file = seed_file(name);
        assert_eq!((file.protocol.as_str(), file.scenario.as_str()), (name, entry.scenario));
        let config = tiersim_scenarios::config_from_json(&file.config).unwrap();
        let o = tiersim_scenarios::run_in(&config, zoo::protocol(entry), file.seed, &file.schedule, &[]);
        assert!(
            o.violations.iter().any(|v| v.invariant == entry.invariant.name()),
            "{name}: its seed file no longer breaks {}: {:?}",
            entry.invariant,
            o.violations.first()
        );
        for correct in ["versioned", "leased"] {
            let o = tiersim_scenarios::run_in(&config, protocol(correct), file.seed, &file.schedule, &[]);
            assert_eq!(
                o.verdict,
                Verdict::Pass,
                "{correct} on {name}'s schedule: {:?}",
                o.violations.first()
            );
        }
    }
}

/// Whether a `race`-directed sweep of `seeds` over the entry's scenario breaks its invariant.
fn race_sweep_breaks(name: &str, seeds: std::ops::Range<u64>) -> bool {
    let entry = zoo::entry(name).unwrap();
    let spec = SweepSpec {
        pairs: vec![(scenario(entry.scenario), zoo::protocol(entry))],
        seeds: seeds.clone(),
        shard: (0, 1),
        jobs: 1,
        strategy: Strategy::Race,
        require: Vec::new(),
        workers: None,
    };
    let results = sweep::run(&spec, &|_, _, _| {});
    assert_eq!(results.len() as u64, seeds.end - seeds.start, "one result per run");
    results.iter().any(|r| r.invariants.iter().any(|i| i == entry.invariant.name()))
}

#[test]
fn a_short_race_directed_sweep_finds_the_unfenced_fill_across_a_restart() {
    assert!(
        race_sweep_breaks("restart-unfenced-fill", 0..60),
        "60 race-directed runs of tier-restarts did not break invalidation-barrier"
    );
}

#[test]
fn a_short_race_directed_sweep_finds_a_fill_read_before_a_tag_invalidation_and_landed_after_its_retry() {
    // Random search fails 2 of 20,000 seeds of flaky-tags; race's tag near misses (a fill just
    // before a tier's tag clear that came as a retry) find it at run 165 of 0..200.
    assert!(
        race_sweep_breaks("heal-retry-tag", 0..200),
        "200 race-directed runs of flaky-tags did not break tag-complete"
    );
}

#[test]
fn every_deep_entry_claims_what_exposes_it_and_tells_its_three_orderings() {
    let deep: Vec<_> = zoo::all().filter(|e| e.tier == ZooTier::Deep).collect();
    // Every deep entry is pinned by a kept failure: an entry nothing has broken is not listed.
    assert_eq!(deep.iter().map(|e| e.name).collect::<Vec<_>>(), PINNED);
    for entry in deep {
        let claims = zoo::protocol(entry).claims(&scenario(entry.scenario).config());
        assert!(
            claims.invariants.contains(&entry.invariant),
            "{} must claim {}",
            entry.name,
            entry.invariant
        );
        assert!(entry.story.matches(". ").count() >= 3, "{}: the story tells the race in steps", entry.name);
    }
}
