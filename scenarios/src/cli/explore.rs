//! `tiersim explore`: the nightly loop over scenarios × protocols × strategies that saves each
//! new failure signature once, shrunk.

use super::args::*;
use super::output::*;
use crate::scenario::Scenario;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::DynProtocol;

#[derive(clap::Args)]
pub struct ExploreArgs {
    /// How long, e.g. 20s, 10m, 8h.
    #[arg(long)]
    pub budget: String,
    /// Where new failures are saved.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub scenario: Option<String>,
    #[arg(long)]
    pub protocol: Option<String>,
    /// One strategy only (default: rotate through all).
    #[arg(long)]
    pub strategy: Option<String>,
    /// The first seed of every (scenario, protocol, strategy) rotation. Default 0.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run the seeds in threads of this process instead of worker processes.
    #[arg(long)]
    pub in_process: bool,
    #[arg(long)]
    pub json: bool,
}

impl ExploreArgs {
    pub fn execute(self) -> Result<u8, BadInput> {
        let ExploreArgs { budget, out, scenario, protocol, strategy, start, jobs, in_process, json } = self;
        let budget = parse_duration(&budget)?;
        let strategies = match strategy {
            Some(s) => vec![parse_strategy(&s)?],
            None => crate::explore::strategy::Strategy::ALL.to_vec(),
        };
        prepare_dir(&out)?;
        explore(
            pairs(scenario.as_deref(), protocol.as_deref())?,
            strategies,
            start,
            budget,
            Parallel { jobs: parse_jobs(jobs)?, workers: workers(in_process)? },
            &out,
            json,
        )
    }
}

/// How an exploration runs its seeds: how many at once, and in which worker processes.
pub(crate) struct Parallel {
    pub jobs: usize,
    pub workers: Option<crate::explore::worker::WorkerCmd>,
}

pub(crate) fn explore(
    pairs: Vec<(Arc<dyn Scenario>, Arc<dyn DynProtocol>)>,
    strategies: Vec<crate::explore::strategy::Strategy>,
    start: u64,
    budget: std::time::Duration,
    parallel: Parallel,
    out: &Path,
    json: bool,
) -> Result<u8, BadInput> {
    use std::collections::BTreeMap;
    const BATCH: u64 = 8;
    let started = std::time::Instant::now();
    let bar = progress(budget.as_secs(), json, "s");
    // (scenario, protocol, strategy) -> next seed
    let mut next: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    let mut signatures: BTreeMap<String, String> = BTreeMap::new();
    let mut attempts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut runs, mut failures) = (0usize, 0usize);
    let mut turn = 0usize;
    while started.elapsed() < budget {
        let (pair, strat) = (turn % pairs.len(), (turn / pairs.len()) % strategies.len());
        turn += 1;
        let from = *next.entry((pair, strat)).or_insert(start);
        next.insert((pair, strat), from + BATCH);
        let spec = crate::explore::sweep::SweepSpec {
            pairs: vec![pairs[pair].clone()],
            seeds: from..from + BATCH,
            shard: (0, 1),
            jobs: parallel.jobs,
            strategy: strategies[strat],
            require: Vec::new(),
            workers: parallel.workers.clone(),
        };
        let found: Mutex<Vec<(Outcome, tiersim_sim::schedule::Schedule<CacheOp>)>> = Mutex::new(Vec::new());
        let results = crate::explore::sweep::run(&spec, &|r, o, schedule| {
            if r.verdict != Verdict::Pass {
                found.lock().unwrap().push((o.clone(), schedule.clone()));
            }
        });
        runs += results.len();
        let (s, p) = &pairs[pair];
        for (o, schedule) in found.into_inner().unwrap() {
            failures += 1;
            let Some(invariant) = o.invariant() else { continue };
            // Shrinking is what costs: shrink the first few failures of each (protocol,
            // invariant) only, and none once the budget is spent.
            let seen = attempts.entry(format!("{}|{invariant}", p.name())).or_insert(0usize);
            *seen += 1;
            if *seen > 3 || started.elapsed() >= budget {
                continue;
            }
            // Shrink, then name the failure by what is left of it.
            let config = s.config();
            let (shrunk, seed, _, shrunk_outcome) = if o.verdict == Verdict::Fail {
                crate::shrink::shrink_failure(&config, p.clone(), o.seed, &schedule, &invariant, 60)
            } else {
                (schedule.clone(), o.seed, Default::default(), o.clone())
            };
            let signature = format!("{}|{}|{}", p.name(), invariant, shape(&shrunk));
            if signatures.contains_key(&signature) {
                continue;
            }
            let path = save_replay(out, &**s, &**p, &Outcome { seed, ..shrunk_outcome }, &shrunk)?;
            signatures.insert(signature, path.display().to_string());
        }
        if let Some(bar) = &bar {
            bar.set_position(started.elapsed().as_secs().min(budget.as_secs()));
            bar.set_message(format!("{runs} runs · {} new failures", signatures.len()));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let wall_ms = started.elapsed().as_millis() as u64;
    if json {
        let saved: Vec<_> =
            signatures.iter().map(|(sig, path)| json!({"signature": sig, "file": path})).collect();
        println!("{}", json!({"runs": runs, "failures": failures, "new": saved, "wall_ms": wall_ms}));
    } else {
        println!(
            "{runs} runs, {failures} failing, {} distinct failure signatures in {wall_ms} ms:",
            signatures.len()
        );
        for (sig, path) in &signatures {
            println!("  {sig}\n    {path}");
        }
    }
    Ok(0)
}

/// The shape of a shrunk schedule: what kinds of operations and faults it needs, in order.
pub(crate) fn shape(schedule: &tiersim_sim::schedule::Schedule<CacheOp>) -> String {
    let mut ops: Vec<&tiersim_sim::schedule::TimedOp<CacheOp>> = schedule.ops.iter().collect();
    ops.sort_by_key(|o| o.at_ns);
    let ops: Vec<&str> = ops
        .iter()
        .map(|o| match o.op {
            CacheOp::Read { .. } => "read",
            CacheOp::Write { .. } => "write",
            CacheOp::Delete { .. } => "delete",
            CacheOp::InvalidateTag { .. } => "invalidate_tag",
            CacheOp::Warm { .. } => "warm",
        })
        .collect();
    let faults: Vec<String> = schedule
        .faults
        .iter()
        .map(|f| {
            serde_json::to_value(&f.fault)
                .ok()
                .and_then(|v| v["kind"].as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    format!("{}+{}", ops.join(","), faults.join(","))
}
