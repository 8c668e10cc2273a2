//! Sweeps: many seeds of many (scenario, protocol) pairs, in parallel, with the same per-seed
//! results as one thread. The CLI, the tests, the benchmarks, nightly exploration and a user's
//! own `cargo test` all run seeds through here.
//!
//! `--shard i/n` keeps the seeds `s` with `s % n == i`, so a CI matrix or a batch scheduler
//! splits a range and the shards add up to it exactly. The `coverage` strategy keeps a corpus
//! per pair and mutates it, and `race` queues perturbations of earlier runs (which run under
//! the seed they came from, so a result's seed can repeat), so their seeds depend on the seeds
//! before them: each pair runs its
//! seeds in order on one thread (pairs still run in parallel), and every schedule it ran is
//! returned with its result so a failure replays exactly.
//!
//! With `workers` set (the CLI's sweep and explore), each parallel slot runs its seeds in a
//! worker process of its own (see `worker`): memory stays flat whatever a run leaves behind, and
//! a protocol that aborts the process costs the seed it was running (verdict `crash`, the signal
//! named), not the sweep. The results are the same; an outcome from a worker has no history.

use crate::explore::coverage::{signature, Coverage};
use crate::explore::race::RaceQueue;
use crate::explore::strategy::Strategy;
use crate::explore::worker::{self, Job, Slot, WorkerCmd};
use crate::run::run_in;
use crate::scenario::Scenario;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::{Invariant, ProtocolFactory};
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
    /// Run the seeds in worker processes started by this command; `None` runs them in threads
    /// of this process.
    pub workers: Option<WorkerCmd>,
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
    if spec.strategy.sequential() {
        let next_pair = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(spec.pairs.len()) {
                scope.spawn(|| {
                    let mut runner = Runner::new(spec);
                    loop {
                        let pair = next_pair.fetch_add(1, Ordering::Relaxed);
                        if pair >= spec.pairs.len() {
                            break;
                        }
                        let (mut corpus, mut queue) = (Coverage::default(), RaceQueue::default());
                        let scenario = &*spec.pairs[pair].0;
                        for &seed in &seeds {
                            // The race strategy re-runs an earlier seed, perturbed, with that
                            // seed: the network draws what it drew there.
                            let (seed, schedule) = match spec.strategy {
                                Strategy::Race => queue.next(scenario, seed),
                                _ => (seed, corpus.schedule(scenario, seed)),
                            };
                            let batch = [(pair, seed, schedule)];
                            runner.run(spec, &batch, true, &mut |pair, o, schedule, sig| {
                                let sig = sig.unwrap_or_default();
                                if spec.strategy == Strategy::Race {
                                    let sig: Vec<u64> = sig.into_iter().collect();
                                    queue.observe(o.seed, schedule, o.verdict != Verdict::Pass, &sig);
                                } else {
                                    corpus.observe(sig, schedule);
                                }
                                record(pair, o, schedule);
                            });
                        }
                    }
                });
            }
        });
    } else {
        let tasks: Vec<(usize, u64)> =
            (0..spec.pairs.len()).flat_map(|pair| seeds.iter().map(move |&seed| (pair, seed))).collect();
        // A worker gets a few seeds at a time, so it never waits on the pipe; a thread one.
        let batch = spec.workers.as_ref().map_or(1, |w| w.batch.max(1));
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..jobs.min(tasks.len().max(1)) {
                scope.spawn(|| {
                    let mut runner = Runner::new(spec);
                    loop {
                        let from = next.fetch_add(batch, Ordering::Relaxed);
                        let Some(taken) = tasks.get(from..(from + batch).min(tasks.len())) else { break };
                        if taken.is_empty() {
                            break;
                        }
                        let batch: Vec<_> = taken
                            .iter()
                            .map(|&(pair, seed)| {
                                (pair, seed, spec.pairs[pair].0.schedule_with(seed, spec.strategy))
                            })
                            .collect();
                        runner
                            .run(spec, &batch, false, &mut |pair, o, schedule, _| record(pair, o, schedule));
                    }
                });
            }
        });
    }
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(pair, r)| (*pair, r.seed));
    results.into_iter().map(|(_, r)| r).collect()
}

/// How one parallel slot of a sweep runs seeds: in threads of this process, or in a worker
/// process of its own.
enum Runner {
    InProcess,
    Worker(Box<Slot>),
}

/// What a runner reports per seed: the pair, the outcome, the schedule it ran, and (when asked
/// for) the run's interleaving signature.
type Each<'a> = dyn FnMut(usize, &Outcome, &Schedule<CacheOp>, Option<BTreeSet<u64>>) + 'a;

impl Runner {
    fn new(spec: &SweepSpec) -> Runner {
        match &spec.workers {
            Some(cmd) => Runner::Worker(Box::new(Slot::new(cmd.clone()))),
            None => Runner::InProcess,
        }
    }

    /// Run `batch` (pair, seed, schedule) in order. `explicit`: the schedules are not the
    /// scenario's own (coverage mutants), so a worker is sent them, and each run's signature is
    /// reported.
    fn run(
        &mut self,
        spec: &SweepSpec,
        batch: &[(usize, u64, Schedule<CacheOp>)],
        explicit: bool,
        each: &mut Each<'_>,
    ) {
        match self {
            Runner::InProcess => {
                for (pair, seed, schedule) in batch {
                    let (s, p) = &spec.pairs[*pair];
                    let o = run_in(&s.config(), p.clone(), *seed, schedule, &spec.require);
                    let sig = explicit.then(|| signature(&o.history));
                    each(*pair, &o, schedule, sig);
                }
            }
            Runner::Worker(slot) => {
                let jobs: Vec<Job> = batch
                    .iter()
                    .map(|(pair, seed, schedule)| {
                        let (s, p) = &spec.pairs[*pair];
                        Job {
                            scenario: s.name().into(),
                            protocol: p.name(),
                            seed: *seed,
                            strategy: spec.strategy.name().into(),
                            require: spec.require.iter().map(|i| i.name().to_string()).collect(),
                            schedule: explicit.then(|| schedule.clone()),
                            signature: explicit,
                            invokes: false,
                        }
                    })
                    .collect();
                slot.run(&jobs, &mut |i, reply| {
                    let (pair, seed, schedule) = &batch[i];
                    let (o, sig) = match reply {
                        Ok(done) => (done.outcome(), done.signature.map(|s| s.into_iter().collect())),
                        Err(message) => (worker::crashed(*seed, schedule.ops.len(), message), None),
                    };
                    each(*pair, &o, schedule, sig);
                });
            }
        }
    }
}
