//! `tiersim bench --deep`: how many runs each exploration strategy needs to find each entry of
//! the deep zoo, and the three hardest entries of the basic zoo, against uniform random search.
//!
//! Per entry and strategy: the runs until the first failure with the entry's invariant, from
//! each of `OFFSETS` seed offsets (offset k starts at seed k x 1,000,000), and their median. A
//! search stops at `CAP` runs; a capped search counts as more than any found one, and a capped
//! median is shown as "≥ CAP", never as found. Runs, not seeds, are counted: the sequential
//! strategies (`coverage`, `race`) spend some runs on mutants or perturbations of earlier
//! seeds, and those runs count like fresh ones. Each search runs in this process, in order,
//! exactly as `sweep` would (the same corpus and queue code); offsets run on two threads.

use super::{load_avg_1m, median, scenario, BenchOptions};
use crate::explore::coverage::{signature, Coverage};
use crate::explore::race::RaceQueue;
use crate::explore::strategy::Strategy;
use crate::run::run_in;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tiersim_model::outcome::Verdict;
use tiersim_model::protocols::zoo::{self, ZooEntry, ZooTier};

/// Runs per search at most.
pub const CAP: u64 = 1_000;
/// Searches per entry and strategy.
pub const OFFSETS: u64 = 10;
/// The runs of the basic zoo's random searches that pick its three hardest entries.
const BASIC_CAP: u64 = 300;

/// Runs until the first failure of `entry` with its invariant under `strategy`, from seed
/// `offset`, at most `cap`; and the wall time it took.
fn runs_to_failure(entry: &ZooEntry, strategy: Strategy, offset: u64, cap: u64) -> (Option<u64>, Duration) {
    let s = scenario(entry.scenario);
    let p = zoo::protocol(entry);
    let config = s.config();
    let invariant = entry.invariant.name();
    let started = Instant::now();
    let (mut corpus, mut queue) = (Coverage::default(), RaceQueue::default());
    for i in 0..cap {
        let (seed, schedule) = match strategy {
            Strategy::Race => queue.next(&*s, offset + i),
            Strategy::Coverage => (offset + i, corpus.schedule(&*s, offset + i)),
            other => (offset + i, s.schedule_with(offset + i, other)),
        };
        let o = run_in(&config, p.clone(), seed, &schedule, &[]);
        if o.violations.iter().any(|v| v.invariant == invariant) {
            return (Some(i + 1), started.elapsed());
        }
        match strategy {
            Strategy::Race => {
                let sig: Vec<u64> = signature(&o.history).into_iter().collect();
                queue.observe(seed, &schedule, o.verdict != Verdict::Pass, &sig);
            }
            Strategy::Coverage => corpus.observe(signature(&o.history), &schedule),
            _ => {}
        }
    }
    (None, started.elapsed())
}

/// One search per offset, two at a time: (runs to failure per offset, total wall time).
fn searches(entry: &ZooEntry, strategy: Strategy, cap: u64) -> (Vec<Option<u64>>, Duration) {
    let results = Mutex::new(vec![None; OFFSETS as usize]);
    let wall = Mutex::new(Duration::ZERO);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= OFFSETS as usize {
                    break;
                }
                let (n, w) = runs_to_failure(entry, strategy, k as u64 * 1_000_000, cap);
                results.lock().unwrap()[k] = n;
                *wall.lock().unwrap() += w;
            });
        }
    });
    (results.into_inner().unwrap(), wall.into_inner().unwrap())
}

fn display(m: Option<u64>, cap: u64) -> Value {
    match m {
        Some(m) => json!(m),
        None => json!(format!("≥{cap}")),
    }
}

/// Every strategy on `entry`: its row of the table.
fn entry_row(entry: &ZooEntry, opts: &BenchOptions) -> Value {
    let mut rows = Vec::new();
    let mut medians = Vec::new();
    for strategy in Strategy::ALL {
        let (found, wall) = searches(entry, strategy, CAP);
        let m = median(&found);
        opts.say(&format!(
            "bench deep: {:<28} {:<9} median {:>6} runs ({} of {} capped, {} ms)",
            entry.name,
            strategy.name(),
            m.map_or(format!("≥{CAP}"), |m| m.to_string()),
            found.iter().filter(|f| f.is_none()).count(),
            OFFSETS,
            wall.as_millis()
        ));
        medians.push((strategy, m));
        rows.push(json!({
            "strategy": strategy.name(),
            "median_runs_to_failure": m,
            "median_display": display(m, CAP),
            "runs_to_failure": found,
            "capped": found.iter().filter(|f| f.is_none()).count(),
            "wall_ms": wall.as_millis() as u64,
        }));
    }
    let random = medians[0].1;
    // The best strategy: the smallest median, a capped one counting as more than any found.
    let (best, best_m) = medians.iter().min_by_key(|(_, m)| m.unwrap_or(u64::MAX)).copied().unwrap();
    // Random's median over the best one's; a lower bound when random was capped.
    let advantage = best_m.map(|b| random.unwrap_or(CAP) as f64 / b as f64);
    json!({
        "name": entry.name,
        "tier": entry.tier.name(),
        "scenario": entry.scenario,
        "invariant": entry.invariant.name(),
        "strategies": rows,
        "random_median_display": display(random, CAP),
        "best_strategy": best_m.map(|_| best.name()),
        "best_median_display": display(best_m, CAP),
        "advantage_over_random": advantage,
        "advantage_is_lower_bound": random.is_none() && best_m.is_some(),
    })
}

/// The deep section: every deep entry and the three hardest basic ones (by random's median over
/// `OFFSETS` searches of at most `BASIC_CAP` runs), each under every strategy.
pub fn figures(opts: &BenchOptions) -> Value {
    let started = Instant::now();
    let load_before = load_avg_1m();
    let mut basic: Vec<(u64, &ZooEntry)> = Vec::new();
    for entry in zoo::all().filter(|e| e.tier == ZooTier::Basic) {
        let (found, _) = searches(entry, Strategy::Random, BASIC_CAP);
        let m = median(&found).unwrap_or(u64::MAX);
        opts.say(&format!("bench deep: basic {:<28} random median {m}", entry.name));
        basic.push((m, entry));
    }
    basic.sort_by_key(|(m, e)| (std::cmp::Reverse(*m), e.name));
    let hardest: Vec<&ZooEntry> = basic.iter().take(3).map(|(_, e)| *e).collect();
    let deep: Vec<Value> =
        zoo::all().filter(|e| e.tier == ZooTier::Deep).map(|e| entry_row(e, opts)).collect();
    let hard: Vec<Value> = hardest.iter().map(|e| entry_row(e, opts)).collect();
    let all_random_deep = deep
        .iter()
        .all(|e| e["strategies"][0]["median_runs_to_failure"].as_u64().map_or(true, |m| m >= 1_000));
    let advantage_at_least = |rows: &[Value], x: f64| {
        rows.iter().all(|e| e["advantage_over_random"].as_f64().is_some_and(|a| a >= x))
    };
    json!({
        "cap_runs": CAP,
        "offsets": OFFSETS,
        "deep": deep,
        "hardest_basic": hard,
        "summary": {
            "random_median_at_least_1000_on_every_deep_entry": all_random_deep,
            "best_10x_fewer_on_every_deep_entry": advantage_at_least(&deep, 10.0),
            "best_3x_fewer_on_three_hardest_basic": advantage_at_least(&hard, 3.0),
        },
        "load_avg_1m": {"before": load_before, "after": load_avg_1m()},
        "wall_ms": started.elapsed().as_millis() as u64,
    })
}
