//! Determinism is the product: the same seed gives the same trace hash, run after run, and when
//! it does not, the failure names the first divergent event.

use tiersim_scenarios::run_seed;
use tiersim_tests::{protocol, scenario};

#[test]
fn same_seed_same_trace_hash_over_50_seeds() {
    let s = scenario("fill-race");
    for name in ["versioned", "cache-aside"] {
        for seed in 0..50 {
            let a = run_seed(&*s, protocol(name), seed, &[]);
            let b = run_seed(&*s, protocol(name), seed, &[]);
            if let Some(d) = a.history.first_divergence(&b.history) {
                panic!("{name} seed {seed} is not deterministic: {d}");
            }
            assert_eq!(a.trace_hash, b.trace_hash);
            assert_eq!(a.verdict, b.verdict);
        }
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let s = scenario("fill-race");
    let a = run_seed(&*s, protocol("versioned"), 1, &[]);
    let b = run_seed(&*s, protocol("versioned"), 2, &[]);
    assert_ne!(a.trace_hash, b.trace_hash, "the seed must reach the schedule and the network");
}

#[test]
fn divergence_report_names_the_first_differing_event() {
    let s = scenario("fill-race");
    let a = run_seed(&*s, protocol("versioned"), 5, &[]);
    let mut b = a.history.clone();
    // Tamper with one event, as a leak of process state into a value would.
    let i = b.events.len() / 2;
    b.events[i] = b.events[i + 1].clone();
    b.digests[i] = b.digests[i].wrapping_add(1);
    b.trace_hash ^= 1;
    let d = a.history.first_divergence(&b).expect("a divergence");
    assert_eq!(d.index, i);
    assert!(d.to_string().contains(&format!("event #{i}")), "{d}");
    assert_ne!(d.left, d.right);
}
