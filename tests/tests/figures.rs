//! What a run measures besides its verdict, in both directions: a protocol that loses the
//! stale-set race shows it in finite nines, a correct one reports infinite nines beyond its
//! staleness bound; the cost and convergence figures add up to the run's own counts.

use tiersim_model::check::figures::{Consistency, Nines, THRESHOLDS_MS};
use tiersim_model::event::Tier;
use tiersim_model::outcome::Verdict;
use tiersim_model::protocol::Invariant;
use tiersim_scenarios::run_seed;
use tiersim_tests::{protocol, scenario, seeds};

#[test]
fn cache_aside_reports_finite_nines_on_fill_race_where_it_fails() {
    let s = scenario("fill-race");
    let mut total = Consistency::default();
    let mut failed = 0;
    for seed in seeds(20) {
        let o = run_seed(&*s, protocol("cache-aside"), seed, &[]);
        failed += usize::from(o.verdict == Verdict::Fail);
        total.add(&o.figures.consistency);
    }
    assert!(failed > 0, "cache-aside must fail fill-race in these seeds");
    assert!(total.reads.stale > 0, "{total:?}");
    assert!(matches!(total.reads.nines(), Nines::Finite(n) if n > 0.0), "{total:?}");
    assert!(matches!(total.entries.nines(), Nines::Finite(_)), "stale entries are counted too: {total:?}");
}

#[test]
fn versioned_reports_infinite_nines_beyond_its_staleness_bound_and_counts_agree_with_max_staleness() {
    let s = scenario("fill-race");
    let p = protocol("versioned");
    let bound_ns = p.claims(&s.config()).staleness_bound_ns.expect("versioned claims a staleness bound");
    for seed in seeds(20) {
        let o = run_seed(&*s, p.clone(), seed, &[]);
        assert_eq!(o.verdict, Verdict::Pass, "seed {seed}: {:?}", o.violations.first());
        let r = &o.figures.consistency.reads;
        assert!(r.total > 0);
        let by = r.nines_by_threshold();
        for (i, ms) in THRESHOLDS_MS.iter().enumerate() {
            let t_ns = ms * 1_000_000;
            // A threshold is crossed exactly when the stalest read is staler than it.
            assert_eq!(r.stale_over[i] > 0, o.max_staleness_ns > t_ns, "seed {seed} at {ms} ms: {r:?}");
            if t_ns >= bound_ns {
                assert_eq!(by[i], Nines::Infinite, "seed {seed}: a read staler than the bound at {ms} ms");
            }
        }
        // The run passes `converged`: every commit converged before the run ended.
        assert_eq!(o.figures.unconverged, 0, "seed {seed}");
        let conv = o.figures.convergence.as_ref().expect("writes commit, so convergence is measured");
        // Convergence and stale entries describe the same tier contents: a run whose entries were
        // stale past 10 ms cannot have converged at once after every commit, and no commit takes
        // longer to converge than its stalest entry stayed stale.
        let entries = &o.figures.consistency.entries;
        assert_eq!(
            conv.p99_ns > 0 || conv.slowest.latency_ns > 0,
            entries.stale > 0,
            "seed {seed}: {conv:?} {entries:?}"
        );
        if entries.stale_over[0] > 0 {
            assert!(conv.slowest.latency_ns > 10_000_000, "seed {seed}: {conv:?} {entries:?}");
        }
    }
}

#[test]
fn cost_figures_add_up_to_the_runs_own_counts() {
    let s = scenario("fill-race");
    for name in ["cache-aside", "versioned"] {
        let o = run_seed(&*s, protocol(name), 3, &[]);
        let c = &o.figures.cost;
        let ok_reads = o.figures.consistency.reads.total;
        // Every ok read reaches L1; each is answered by one tier or by the database.
        assert_eq!(c.hits[&Tier::L1].1, ok_reads, "{name}");
        let answered_by_tiers: u64 = c.hits.values().map(|(hit, _)| hit).sum();
        assert!(answered_by_tiers <= ok_reads, "{name}");
        let redis = c.hits[&Tier::Redis];
        assert_eq!(ok_reads - answered_by_tiers, redis.1 - redis.0, "{name}: the rest went to the database");
        assert!(c.db_reads >= ok_reads - answered_by_tiers, "{name}: each of them read the database");
        assert_eq!(c.messages, o.messages, "{name}");
        assert_eq!(c.ops, o.ops as u64, "{name}");
        assert!(c.read_latency.is_some() && c.write_latency.is_some(), "{name}");
    }
    // cache-aside keeps nothing above Redis: its L1, L2 and L3 never answer.
    let o = run_seed(&*s, protocol("cache-aside"), 3, &[]);
    assert_eq!(o.figures.cost.hit_ratio(Tier::L1), Some(0.0));
}

#[test]
fn warming_at_the_seeds_scale_counts_every_key_of_every_batch() {
    for (name, batch) in [("warming-50", 50), ("warming-200", 200)] {
        let o = run_seed(&*scenario(name), protocol("versioned"), 1, &[]);
        assert_eq!(o.verdict, Verdict::Pass, "{name}: {:?}", o.violations.first());
        let w = &o.figures.warming;
        assert!(w.batches > 0, "{name} warms");
        assert_eq!(w.keys, w.batches * batch, "{name}: each batch names {batch} keys");
        assert!(w.warmed > 0 && w.warmed <= w.keys, "{name}: {w:?}");
        assert!(o.latency.warming.is_some(), "{name}: warm-batch latency is measured");
    }
}

#[test]
fn fanout_claims_slo_and_meets_it_where_versioned_one_node_at_a_time_does_not() {
    let s = scenario("race");
    let fanout = protocol("fanout");
    assert!(fanout.claims(&s.config()).invariants.contains(&Invariant::Slo));
    assert!(!fanout.claims(&scenario("slow-fills").config()).invariants.contains(&Invariant::Slo));
    for seed in seeds(5) {
        let o = run_seed(&*s, fanout.clone(), seed, &[]);
        assert_eq!(o.verdict, Verdict::Pass, "seed {seed}: {:?}", o.violations.first());
        let p99 = o.latency.invalidation.as_ref().expect("race writes").p99_ns;
        assert!(p99 <= 50_000_000, "seed {seed}: invalidation p99 {p99} ns");
        // The same run of versioned, held to slo, misses it: the checker is not vacuous here.
        let v = run_seed(&*s, protocol("versioned"), seed, &[Invariant::Slo]);
        assert!(v.violations.iter().any(|x| x.invariant == "slo"), "seed {seed}: versioned met slo");
    }
}
