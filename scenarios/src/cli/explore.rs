//! `tiersim explore`: the nightly loop over scenarios × protocols × strategies that saves each
//! new failure signature once, shrunk.
//!
//! Written to be read in the morning: a failure's signature is its protocol, its invariant and
//! the kinds of operations and faults its shrunk schedule needs (not their keys, values, seed,
//! count or order), so one bug is one signature; failures whose signature is already in the
//! regression corpus (`--known`, default `seeds/` when it exists) are counted as known, not new;
//! the report has one row per scenario × protocol × strategy cell covered; the exit code is 1
//! when something new was found; and when stdout is not a terminal (a CI log), a heartbeat line
//! goes to stderr every minute.

use super::args::*;
use super::output::*;
use crate::registry::Registry;
use crate::scenario::Scenario;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::ProtocolFactory;

#[derive(clap::Args)]
pub struct ExploreArgs {
    /// How long, e.g. 20s, 10m, 8h.
    #[arg(long)]
    pub budget: String,
    /// Where new failures are saved.
    #[arg(long)]
    pub out: PathBuf,
    /// One scenario only [default: rotate through every scenario]
    #[arg(long)]
    pub scenario: Option<String>,
    /// One protocol only [default: rotate through every protocol]
    #[arg(long)]
    pub protocol: Option<String>,
    /// One strategy only [default: rotate through all]
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// The first seed of every (scenario, protocol, strategy) rotation.
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// Seeds run at once, each in a worker process (or a thread with --in-process)
    /// [default: the number of cores]
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run the seeds in threads of this process instead of worker processes.
    #[arg(long)]
    pub in_process: bool,
    /// Directories of replay files whose failures are known, not new (repeatable). Default:
    /// `seeds/` when it exists.
    #[arg(long = "known")]
    pub known: Vec<PathBuf>,
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl ExploreArgs {
    pub fn execute(self, reg: &Registry) -> Result<u8, BadInput> {
        let ExploreArgs { budget, out, scenario, protocol, strategy, start, jobs, in_process, known, json } =
            self;
        let budget = parse_duration(&budget)?;
        let strategies = match strategy {
            Some(s) => vec![s.into()],
            None => crate::explore::strategy::Strategy::ALL.to_vec(),
        };
        // Every argument is checked before the output directory is created.
        let pairs = pairs(reg, scenario.as_deref(), protocol.as_deref())?;
        let parallel = Parallel { jobs: parse_jobs(jobs)?, workers: workers(in_process)? };
        let known_dirs = if known.is_empty() {
            Some(PathBuf::from("seeds")).filter(|d| d.is_dir()).into_iter().collect()
        } else {
            known
        };
        let known = known_signatures(&known_dirs)?;
        if known_dirs.is_empty() && !json {
            eprintln!(
                "explore: no regression corpus (no seeds/ here, no --known DIR): every failure counts as new"
            );
        }
        super::validate::output_dir(&out)?;
        prepare_dir(&out)?;
        explore(pairs, strategies, start, budget, parallel, Files { out: &out, known: &known }, json)
    }
}

/// Where an exploration saves new failures, and the signatures it already knows (each with the
/// file that holds it).
pub(crate) struct Files<'a> {
    pub out: &'a Path,
    pub known: &'a BTreeMap<String, String>,
}

/// How an exploration runs its seeds: how many at once, and in which worker processes.
pub(crate) struct Parallel {
    pub jobs: usize,
    pub workers: Option<crate::explore::worker::WorkerCmd>,
}

pub(crate) fn explore(
    pairs: Vec<(Arc<dyn Scenario>, ProtocolFactory)>,
    strategies: Vec<crate::explore::strategy::Strategy>,
    start: u64,
    budget: std::time::Duration,
    parallel: Parallel,
    files: Files<'_>,
    json: bool,
) -> Result<u8, BadInput> {
    const BATCH: u64 = 8;
    let started = std::time::Instant::now();
    // A CI log (stdout not a terminal) gets a line on stderr every minute: still alive, how far.
    // From a thread of its own, so a shrink that takes a quarter of an hour does not silence it.
    let heartbeat = (!std::io::stdout().is_terminal())
        .then(|| Heartbeat::start(started, budget, Heartbeat::EVERY, |line| eprintln!("{line}")));
    let bar = progress(budget.as_secs(), json, "s");
    // (scenario, protocol, strategy) -> next seed
    let mut next: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    let mut signatures: BTreeMap<String, String> = BTreeMap::new();
    let mut attempts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut runs, mut failures) = (0usize, 0usize);
    // (scenario, protocol, strategy) -> what that cell saw; and the known signatures met.
    let mut cells: BTreeMap<(String, String, &'static str), Cell> = BTreeMap::new();
    let mut known_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut turn = 0usize;
    // Shrinks run their candidates in a worker of their own, one at a time, as seeds do.
    let shrink_in = parallel.workers.clone().map(|mut cmd| {
        cmd.batch = 1;
        cmd
    });
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
        let cell = cells.entry((s.name().to_string(), p.name(), strategies[strat].name())).or_default();
        cell.runs += results.len();
        for (o, schedule) in found.into_inner().unwrap() {
            failures += 1;
            cell.failures += 1;
            let Some(invariant) = o.invariant() else { continue };
            // Shrinking is what costs: shrink the first few failures of each (protocol,
            // invariant) only, and once the budget is spent only the first (a kind of failure
            // found in the last batch is still saved, never reported and dropped).
            let seen = attempts.entry(format!("{}|{invariant}", p.name())).or_insert(0usize);
            *seen += 1;
            if *seen > 3 || (*seen > 1 && started.elapsed() >= budget) {
                continue;
            }
            // Shrink, then name the failure by what is left of it.
            if let Some(h) = &heartbeat {
                h.update(|st| st.shrinking = Some(format!("{} × {} ({invariant})", s.name(), p.name())));
            }
            let config = s.config();
            let (shrunk, seed, _, shrunk_outcome) = if o.verdict == Verdict::Fail {
                let max_runs = shrink_runs(budget.saturating_sub(started.elapsed()), started.elapsed(), runs);
                match &shrink_in {
                    // In a worker: a protocol that aborts on a candidate costs that candidate.
                    Some(cmd) => {
                        let runner = crate::explore::worker::InWorker::new(cmd.clone(), s.name(), &p.name());
                        crate::shrink::shrink_with(&runner, o.seed, &schedule, &invariant, max_runs)
                    }
                    None => crate::shrink::shrink_failure(
                        &config,
                        p.clone(),
                        o.seed,
                        &schedule,
                        &invariant,
                        max_runs,
                    ),
                }
            } else {
                (schedule.clone(), o.seed, Default::default(), o.clone())
            };
            let sig_of = |invariant: &str| signature(&p.name(), invariant, &shrunk);
            let signature = sig_of(&invariant);
            // One bug, one signature: a shrunk failure that also breaks another invariant is the
            // bug already named under that invariant when the shape matches (a run whose first
            // violation is read-your-writes may shrink to the race first named by its barrier).
            let also: Vec<String> = std::iter::once(signature.clone())
                .chain(shrunk_outcome.violations.iter().map(|v| sig_of(&v.invariant)))
                .collect();
            if let Some((sig, file)) = also.iter().find_map(|s| files.known.get(s).map(|f| (s, f))) {
                cell.known += 1;
                known_seen.insert(sig.clone(), file.clone());
                continue;
            }
            if also.iter().any(|s| signatures.contains_key(s)) {
                continue;
            }
            let path = save_replay(
                files.out,
                &**s,
                p,
                &Outcome { seed, ..shrunk_outcome },
                &shrunk,
                strategies[strat],
            )?;
            signatures.insert(signature, path.display().to_string());
            cell.new += 1;
        }
        if let Some(h) = &heartbeat {
            h.update(|st| {
                *st = Status {
                    runs,
                    failures,
                    new: signatures.len(),
                    known: known_seen.len(),
                    cells: cells.len(),
                    shrinking: None,
                }
            });
        }
        if let Some(bar) = &bar {
            bar.set_position(started.elapsed().as_secs().min(budget.as_secs()));
            bar.set_message(format!("{runs} runs · {} new failures", signatures.len()));
        }
    }
    drop(heartbeat);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let wall_ms = started.elapsed().as_millis() as u64;
    if json {
        let saved: Vec<_> =
            signatures.iter().map(|(sig, path)| json!({"signature": sig, "file": path})).collect();
        let known: Vec<_> =
            known_seen.iter().map(|(sig, path)| json!({"signature": sig, "file": path})).collect();
        let cells: Vec<_> = cells
            .iter()
            .map(|((s, p, strategy), c)| {
                json!({"scenario": s, "protocol": p, "strategy": strategy, "runs": c.runs,
                       "failures": c.failures, "new": c.new, "known": c.known})
            })
            .collect();
        println!(
            "{}",
            json!({"runs": runs, "failures": failures, "new": saved, "known": known, "cells": cells,
                   "wall_ms": wall_ms})
        );
    } else {
        println!(
            "{:<24} {:<26} {:<9} {:>7} {:>8} {:>4} {:>6}",
            "scenario", "protocol", "strategy", "runs", "failing", "new", "known"
        );
        for ((s, p, strategy), c) in &cells {
            println!(
                "{s:<24} {p:<26} {strategy:<9} {:>7} {:>8} {:>4} {:>6}",
                c.runs, c.failures, c.new, c.known
            );
        }
        println!(
            "{runs} runs in {} cells, {failures} failing, {} new failure signatures, {} known, in {wall_ms} ms",
            cells.len(),
            signatures.len(),
            known_seen.len()
        );
        for (sig, path) in &signatures {
            println!("  new: {sig}\n    {path}");
        }
        for (sig, path) in &known_seen {
            println!("  known: {sig}\n    {path}");
        }
    }
    Ok(if signatures.is_empty() { 0 } else { 1 })
}

/// How far an exploration is, as its heartbeat prints it.
#[derive(Default)]
struct Status {
    runs: usize,
    failures: usize,
    new: usize,
    known: usize,
    cells: usize,
    /// The failure being shrunk now, if one is.
    shrinking: Option<String>,
}

impl Status {
    fn line(&self, elapsed: std::time::Duration, budget: std::time::Duration) -> String {
        let Status { runs, failures, new, known, cells, shrinking } = self;
        let mut line = format!(
            "explore: {} s of {} s: {runs} runs, {failures} failing, {new} new, {known} known, {cells} cells",
            elapsed.as_secs(),
            budget.as_secs()
        );
        if let Some(what) = shrinking {
            line.push_str(&format!("; shrinking a failure of {what}"));
        }
        line
    }
}

/// A line on stderr every minute from a thread of its own, with the status the loop last set;
/// it stops when dropped.
struct Heartbeat {
    state: Arc<(Mutex<(Status, bool)>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Heartbeat {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    fn start(
        started: std::time::Instant,
        budget: std::time::Duration,
        every: std::time::Duration,
        print: impl Fn(String) + Send + 'static,
    ) -> Heartbeat {
        let state = Arc::new((Mutex::new((Status::default(), false)), std::sync::Condvar::new()));
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let (lock, stop) = &*shared;
            let mut guard = lock.lock().unwrap();
            loop {
                let (next, timeout) = stop.wait_timeout_while(guard, every, |(_, done)| !*done).unwrap();
                guard = next;
                if !timeout.timed_out() {
                    return;
                }
                print(guard.0.line(started.elapsed(), budget));
            }
        });
        Heartbeat { state, thread: Some(thread) }
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        change(&mut self.state.0.lock().unwrap().0);
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.state.0.lock().unwrap().1 = true;
        self.state.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What one scenario × protocol × strategy cell of an exploration saw.
#[derive(Default)]
struct Cell {
    runs: usize,
    failures: usize,
    /// Shrunk failures with a signature nobody had seen.
    new: usize,
    /// Shrunk failures whose signature the regression corpus already holds.
    known: usize,
}

/// A failure's signature: the protocol, the invariant, and which kinds of operations and faults
/// the shrunk schedule needs. Sets, not sequences: the keys, values, seed, and how many of each
/// kind in what order are incidental to the bug, and shrinking within a budget leaves some of
/// them behind, so one bug named by its sequence would count as several. A write and a delete
/// are one kind, `commit`: each commits the key's next version and invalidates the old one, and
/// a race that needs one reproduces with the other (a full shrink of invalidate-before-commit
/// ends at `delete,read` from some seeds and `read,write` from others).
pub(crate) fn signature(
    protocol: &str,
    invariant: &str,
    schedule: &tiersim_sim::schedule::Schedule<CacheOp>,
) -> String {
    let ops: BTreeSet<&str> = schedule
        .ops
        .iter()
        .map(|o| match o.op {
            CacheOp::Read { .. } => "read",
            CacheOp::Write { .. } | CacheOp::Delete { .. } => "commit",
            CacheOp::InvalidateTag { .. } => "invalidate_tag",
            CacheOp::Warm { .. } => "warm",
        })
        .collect();
    let faults: BTreeSet<String> = schedule.faults.iter().map(|f| fault_kind(&f.fault)).collect();
    let faults: Vec<&str> = faults.iter().map(String::as_str).collect();
    format!("{protocol}|{invariant}|{}+{}", ops.into_iter().collect::<Vec<_>>().join(","), faults.join(","))
}

fn fault_kind(fault: &tiersim_sim::fault::Fault) -> String {
    serde_json::to_value(fault).ok().and_then(|v| v["kind"].as_str().map(String::from)).unwrap_or_default()
}

/// The signatures of every failing replay file in `dirs`, each with the file that holds it.
fn known_signatures(dirs: &[PathBuf]) -> Result<BTreeMap<String, String>, BadInput> {
    let mut known = BTreeMap::new();
    for dir in dirs {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| BadInput(format!("{}: cannot read directory: {e}", dir.display())))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let file = crate::run::load_replay(&path).map_err(|e| BadInput(e.to_string()))?;
            if let Some(invariant) = &file.expected.invariant {
                let protocol = tiersim_model::protocols::current_name(&file.protocol);
                let sig = signature(protocol, invariant, &file.schedule);
                known.entry(sig).or_insert_with(|| path.display().to_string());
            }
        }
    }
    Ok(known)
}

/// How many candidate runs shrinking one failure may take: as many as `tiersim shrink` takes
/// (a full shrink, so one bug gets one shape and one signature), fewer when what is left of the
/// budget, at the pace runs went so far, would not pay for them — but never fewer than a
/// quick pass, so a failure found in the last batch is still saved small.
fn shrink_runs(left: std::time::Duration, spent: std::time::Duration, runs_so_far: usize) -> usize {
    const FULL: usize = 2000;
    const QUICK: usize = 60;
    let per_run = spent.as_secs_f64() / runs_so_far.max(1) as f64;
    // Spend at most half of what is left on one shrink.
    let affordable = if per_run > 0.0 { (left.as_secs_f64() / 2.0 / per_run) as usize } else { FULL };
    affordable.clamp(QUICK, FULL)
}

#[cfg(test)]
mod tests {
    use crate::cli::explore::{shrink_runs, Heartbeat, Status};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    #[test]
    fn the_budget_decides_how_long_a_shrink_may_take() {
        let s = Duration::from_secs;
        // 1,000 runs in 10 s: 10 ms a run. 8 hours left pays for a full shrink.
        assert_eq!(shrink_runs(s(8 * 3600), s(10), 1000), 2000);
        // 4 s left: half of it is 200 runs.
        assert_eq!(shrink_runs(s(4), s(10), 1000), 200);
        // Nothing left: a quick pass still.
        assert_eq!(shrink_runs(s(0), s(10), 1000), 60);
    }

    #[test]
    fn the_heartbeat_beats_while_the_loop_is_busy_shrinking_and_stops_when_dropped() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let every = Duration::from_millis(20);
        let beat = Heartbeat::start(Instant::now(), Duration::from_secs(60), every, move |line| {
            sink.lock().unwrap().push(line)
        });
        beat.update(|st| {
            *st = Status { runs: 16, failures: 2, cells: 1, ..Status::default() };
            st.shrinking = Some("fill-race × stale-set (invalidation-barrier)".into());
        });
        // The loop is "shrinking": it sets nothing for several beats.
        std::thread::sleep(every * 6);
        drop(beat);
        let after = lines.lock().unwrap().len();
        std::thread::sleep(every * 3);
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), after, "no beat after the heartbeat was dropped");
        assert!(lines.len() >= 2, "beats while busy: {lines:?}");
        let last = lines.last().unwrap();
        assert!(last.contains("16 runs, 2 failing, 0 new, 0 known, 1 cells"), "{last}");
        assert!(
            last.ends_with("; shrinking a failure of fill-race × stale-set (invalidation-barrier)"),
            "{last}"
        );
    }
}
