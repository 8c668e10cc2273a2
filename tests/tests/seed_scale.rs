//! The seed's six scenarios at the seed's own sizes (issue 15): 20 workers and 500 operations
//! (`race`), warm batches of 50, 200 and 500 keys, the four tags, TTLs of 60 s, 300 s and
//! 3600 s, cascade propagation, and the "consistency check" as convergence; each run reports
//! the figures the seed's targets are stated in, and consistency in nines tells a protocol that
//! goes stale from the ones that stay within their bound.

use tiersim_model::check::cache::Percentiles;
use tiersim_model::check::figures::{Consistency, Nines, THRESHOLDS_MS};
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_scenarios::run_seed;
use tiersim_tests::{protocol, scenario, seeds};

/// p50 <= p95 <= p99, from at least one sample.
fn ordered(what: &str, p: &Option<Percentiles>) {
    let p = p.as_ref().unwrap_or_else(|| panic!("{what} is measured"));
    assert!(p.samples > 0 && p.p50_ns <= p.p95_ns && p.p95_ns <= p.p99_ns, "{what}: {p:?}");
}

fn fanout(name: &str, seed: u64) -> Outcome {
    let o = run_seed(&*scenario(name), protocol("fanout"), seed, &[]);
    assert_eq!(o.verdict, Verdict::Pass, "{name} seed {seed}: {:?}", o.violations.first());
    o
}

#[test]
fn the_seed_scenarios_run_at_the_seeds_sizes() {
    // 20 workers, 500 operations between them.
    let race = scenario("race");
    let schedule = race.schedule(0);
    let workers: std::collections::BTreeSet<_> = schedule.ops.iter().map(|op| op.process).collect();
    assert_eq!((workers.len(), schedule.ops.len()), (20, 500));
    assert_eq!(fanout("race", 0).ops, 500);
    // The four tags.
    let tags = scenario("tag-invalidation").config().tags;
    assert_eq!(tags, ["user_session", "ai_model_cache", "schema_metadata", "analytics_data"]);
    // 60 s in process, 300 s on host and region, an hour in Redis.
    let c = scenario("ttl-coordination").config();
    assert_eq!(
        (c.l1_ttl_ms, c.l2_ttl_ms, c.l3_ttl_ms, c.redis_ttl_ms),
        (60_000, 300_000, 300_000, 3_600_000)
    );
    // Warm batches of 50, 200 and 500 keys, every key of every batch counted.
    for (name, batch) in [("warming-50", 50), ("warming-200", 200), ("warming-500", 500)] {
        let w = fanout(name, 0).figures.warming;
        assert!(w.batches > 0, "{name} warms");
        assert_eq!(w.keys, w.batches * batch, "{name}: {w:?}");
    }
}

#[test]
fn the_seed_scenarios_report_the_seeds_figures() {
    for name in ["race", "cascade-invalidation", "tag-invalidation", "ttl-coordination", "warming-50"] {
        let o = fanout(name, 1);
        ordered(&format!("{name} invalidation"), &o.latency.invalidation);
        ordered(&format!("{name} cascade"), &o.latency.cascade);
        ordered(&format!("{name} convergence"), &o.figures.convergence);
        // A commit is acknowledged once every tier was reached: never before the last tier
        // was, so the slowest invalidation is no faster than the slowest cascade.
        let (inv, cascade) = (o.latency.invalidation.unwrap(), o.latency.cascade.unwrap());
        assert!(inv.slowest.latency_ns >= cascade.slowest.latency_ns, "{name}: {inv:?} {cascade:?}");
        assert!(o.figures.consistency.reads.total > 0, "{name} reads");
    }
    let o = fanout("warming-50", 1);
    ordered("warming-50 warm batches", &o.latency.warming);
    let w = &o.figures.warming;
    assert!(w.warmed_in_time <= w.keys && w.warmed <= w.keys, "{w:?}");
    assert!(w.in_time_ratio().unwrap() >= 0.95, "fanout claims slo here: {w:?}");
}

/// Reads of `name`'s runs of `seeds`, summed.
fn reads(name: &str, p: &str, seeds: std::ops::Range<u64>) -> (Consistency, u64) {
    let (mut total, mut max_staleness_ns) = (Consistency::default(), 0);
    for seed in seeds {
        let o = run_seed(&*scenario(name), protocol(p), seed, &[]);
        total.add(&o.figures.consistency);
        max_staleness_ns = max_staleness_ns.max(o.max_staleness_ns);
    }
    (total, max_staleness_ns)
}

#[test]
fn cache_aside_goes_stale_in_nines_where_the_correct_protocols_stay_within_their_bound() {
    // cascade-invalidation: a slow fill lands after its invalidation, and cache-aside keeps it.
    let name = "cascade-invalidation";
    let (c, _) = reads(name, "cache-aside", seeds(5));
    assert!(c.reads.stale > 0, "cache-aside serves superseded reads: {c:?}");
    assert!(matches!(c.reads.nines(), Nines::Finite(_)), "{c:?}");
    assert!(matches!(c.reads.nines_by_threshold()[0], Nines::Finite(_)), "stale past 10 ms: {c:?}");
    for p in ["versioned", "leased", "fanout"] {
        let bound_ns = protocol(p).claims(&scenario(name).config()).staleness_bound_ns.expect("a bound");
        let (c, max_ns) = reads(name, p, seeds(5));
        assert!(c.reads.total > 0 && max_ns <= bound_ns, "{p}: {max_ns} ns, bound {bound_ns} ns");
        let beyond: Vec<usize> =
            (0..THRESHOLDS_MS.len()).filter(|&i| THRESHOLDS_MS[i] * 1_000_000 >= bound_ns).collect();
        assert!(!beyond.is_empty(), "{p}'s bound {bound_ns} ns is below the largest threshold");
        for i in beyond {
            assert_eq!(
                c.reads.nines_by_threshold()[i],
                Nines::Infinite,
                "{p} at {} ms: {c:?}",
                THRESHOLDS_MS[i]
            );
        }
    }
}
