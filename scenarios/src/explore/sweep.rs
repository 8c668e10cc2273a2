//! Sweeps: many seeds of many (scenario, protocol) pairs, in parallel, with the same per-seed
//! results as one thread. The CLI, the tests, the benchmarks, nightly exploration and a user's
//! own `cargo test` all run seeds through here.
//!
//! `--shard i/n` keeps the seeds `s` with `s % n == i`, so a CI matrix or a batch scheduler
//! splits a range and the shards add up to it exactly. The `coverage` strategy keeps a corpus
//! per pair and mutates it, so its seeds depend on the seeds before them: each pair runs its
//! seeds in order on one thread (pairs still run in parallel), and every schedule it ran is
//! returned with its result so a failure replays exactly.

use crate::explore::strategy::Strategy;
use crate::run::run_in;
use crate::scenario::Scenario;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tiersim_model::event::ModelEvent;
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::{Invariant, ProtocolFactory};
use tiersim_sim::history::{Event, History};
use tiersim_sim::rng::{chance, stream};
use tiersim_sim::schedule::Schedule;

/// What to sweep.
#[derive(Clone)]
pub struct SweepSpec {
    pub pairs: Vec<(Arc<dyn Scenario>, ProtocolFactory)>,
    pub seeds: std::ops::Range<u64>,
    /// (i, n): keep seeds with `seed % n == i`. (0, 1) keeps all.
    pub shard: (u64, u64),
    pub jobs: usize,
    pub strategy: Strategy,
    pub require: Vec<Invariant>,
}

/// One seed's result.
#[derive(Clone, Debug)]
pub struct SeedResult {
    pub scenario: &'static str,
    pub protocol: String,
    pub seed: u64,
    pub verdict: Verdict,
    /// The first violated invariant (or crash / live).
    pub invariant: Option<String>,
    /// Every violated invariant, in name order.
    pub invariants: Vec<String>,
    pub ops: usize,
    pub messages: u64,
    pub sim_ns: u64,
    /// What the run measured besides its verdict (a sweep row aggregates them).
    pub figures: tiersim_model::check::figures::Figures,
    /// The run's warm-batch latency p99, if it warmed.
    pub warming_p99_ns: Option<u64>,
}

/// The seeds of the spec's range that belong to its shard.
pub fn shard_seeds(spec: &SweepSpec) -> Vec<u64> {
    let (i, n) = spec.shard;
    spec.seeds.clone().filter(|s| s % n == i).collect()
}

/// Run the sweep. `on_result` sees every seed's outcome and the schedule it ran, as it
/// finishes (from worker threads); the returned results are sorted by pair, then seed.
pub fn run(
    spec: &SweepSpec,
    on_result: &(dyn Fn(&SeedResult, &Outcome, &Schedule<CacheOp>) + Sync),
) -> Vec<SeedResult> {
    let seeds = shard_seeds(spec);
    let results = Mutex::new(Vec::new());
    let record = |pair: usize, o: &Outcome, schedule: &Schedule<CacheOp>| {
        let (s, p) = &spec.pairs[pair];
        let invariants: BTreeSet<String> = o.violations.iter().map(|v| v.invariant.clone()).collect();
        let r = SeedResult {
            scenario: s.name(),
            protocol: p.name(),
            seed: o.seed,
            verdict: o.verdict,
            invariant: o.invariant(),
            invariants: invariants.into_iter().collect(),
            ops: o.ops,
            messages: o.messages,
            sim_ns: o.sim_ns,
            figures: o.figures.clone(),
            warming_p99_ns: o.latency.warming.as_ref().map(|p| p.p99_ns),
        };
        on_result(&r, o, schedule);
        results.lock().unwrap().push((pair, r));
    };
    let jobs = spec.jobs.max(1);
    if spec.strategy == Strategy::Coverage {
        let next_pair = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(spec.pairs.len()) {
                scope.spawn(|| loop {
                    let pair = next_pair.fetch_add(1, Ordering::Relaxed);
                    if pair >= spec.pairs.len() {
                        break;
                    }
                    let mut corpus = Coverage::default();
                    for &seed in &seeds {
                        let (s, p) = &spec.pairs[pair];
                        let schedule = corpus.schedule(&**s, seed);
                        let o = run_in(&s.config(), p.clone(), seed, &schedule, &spec.require);
                        corpus.observe(&o.history, &schedule);
                        record(pair, &o, &schedule);
                    }
                });
            }
        });
    } else {
        let tasks: Vec<(usize, u64)> =
            (0..spec.pairs.len()).flat_map(|pair| seeds.iter().map(move |&seed| (pair, seed))).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(tasks.len().max(1)) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(pair, seed)) = tasks.get(i) else { break };
                    let (s, p) = &spec.pairs[pair];
                    let schedule = s.schedule_with(seed, spec.strategy);
                    let o = run_in(&s.config(), p.clone(), seed, &schedule, &spec.require);
                    record(pair, &o, &schedule);
                });
            }
        });
    }
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(pair, r)| (*pair, r.seed));
    results.into_iter().map(|(_, r)| r).collect()
}

/// The corpus of the coverage strategy: schedules that reached new interleaving signatures.
#[derive(Default)]
struct Coverage {
    seen: BTreeSet<u64>,
    corpus: Vec<Schedule<CacheOp>>,
}

impl Coverage {
    /// A fresh schedule, or (half the time, once there is a corpus) a mutant of a kept one.
    fn schedule(&self, scenario: &dyn Scenario, seed: u64) -> Schedule<CacheOp> {
        let mut rng = stream(seed, "coverage");
        if self.corpus.is_empty() || chance(&mut rng, 1, 2) {
            return scenario.schedule(seed);
        }
        let mut s = self.corpus.choose(&mut rng).unwrap().clone();
        for _ in 0..rng.gen_range(1..4) {
            if s.ops.is_empty() {
                break;
            }
            let i = rng.gen_range(0..s.ops.len());
            match rng.gen_range(0..3) {
                0 if s.ops.len() > 1 => {
                    s.ops.remove(i);
                }
                1 => {
                    // Another process repeats the operation a little later: a new overlap.
                    let mut op = s.ops[i].clone();
                    op.process = s.ops[rng.gen_range(0..s.ops.len())].process;
                    op.at_ns += rng.gen_range(0..20_000_000);
                    s.ops.push(op);
                }
                _ => {
                    let shift = rng.gen_range(0..40_000_000u64);
                    let at = &mut s.ops[i].at_ns;
                    *at = if chance(&mut rng, 1, 2) { at.saturating_sub(shift) } else { *at + shift };
                }
            }
        }
        s
    }

    /// Keep `schedule` if its run reached a signature element never seen before.
    fn observe(&mut self, history: &History<ModelEvent>, schedule: &Schedule<CacheOp>) {
        let fresh = signature(history).into_iter().filter(|s| self.seen.insert(*s)).count();
        if fresh > 0 {
            self.corpus.push(schedule.clone());
        }
    }
}

/// The interleaving signature of a run: consecutive pairs of cache events on the same key
/// (what kind, at which tier), hashed. Two runs that interleave fills, invalidations, expiries
/// and reads differently have different signatures.
pub fn signature(history: &History<ModelEvent>) -> BTreeSet<u64> {
    use std::collections::BTreeMap;
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for e in &history.events {
        let (key, tag) = match e {
            Event::Internal { event, .. } => match event {
                ModelEvent::Fill { key, tier, .. } => (key.clone(), 10 + tier.depth() as u64),
                ModelEvent::Refuse { key, tier, .. } => (key.clone(), 20 + tier.depth() as u64),
                ModelEvent::Remove { key, tier, cause, .. } => {
                    (key.clone(), 30 + 4 * (*cause as u64) + tier.depth() as u64)
                }
                ModelEvent::Floor { key, tier, .. } => (key.clone(), 60 + tier.depth() as u64),
                ModelEvent::Commit { key, .. } => (key.clone(), 70),
                _ => continue,
            },
            Event::Client { event, .. } => (event.key.clone(), 80 + 4 * event.f as u64 + event.kind as u64),
            Event::Fault { .. } => continue,
        };
        let prev = last.insert(key, tag).unwrap_or(0);
        out.insert(prev * 1000 + tag);
    }
    out
}
