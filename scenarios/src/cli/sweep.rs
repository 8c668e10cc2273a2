//! `tiersim sweep`: many seeds over one or every scenario and protocol, as a table or JSON.

use super::args::*;
use super::output::*;
use crate::registry::Registry;
use crate::run::{replay_file_name, reproduce_command_with};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tiersim_model::outcome::Verdict;

/// The seeds of a sweep of every scenario. Every zoo entry but one is caught by seed 3 of its
/// exposing scenario; `same-tick-invalidate-all` fails in 48 of seeds 0..1000 of
/// tag-invalidation, first at seed 52. Rather than run every pair 3x longer for one entry, a
/// default sweep of everything runs the exposing pairs not caught within these seeds on to
/// [`EXPOSING_SEEDS_END`].
const DEFAULT_SEEDS_ALL: &str = "0..20";

/// Where a default sweep of everything stops an exposing pair that has not caught its entry: the
/// single-scenario default, below which the test suite asserts every entry is caught.
const EXPOSING_SEEDS_END: u64 = 200;

#[derive(clap::Args)]
pub struct SweepArgs {
    /// The scenario (default: every scenario).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Every scenario (the default when --scenario is not given).
    #[arg(long)]
    pub all: bool,
    /// The protocol (default: every built-in protocol).
    #[arg(long)]
    pub protocol: Option<String>,
    /// Seeds A..B (half-open) [default: 0..200 for one scenario, 0..20 for all]
    #[arg(long)]
    pub seeds: Option<String>,
    /// Only the seeds s with s % n == i: `--shard i/n` splits a range over a CI matrix.
    #[arg(long)]
    pub shard: Option<String>,
    /// How each seed becomes a schedule.
    #[arg(long, value_enum, default_value_t = StrategyArg::Random)]
    pub strategy: StrategyArg,
    /// Seeds run at once, each in a worker process (or a thread with --in-process); per-seed
    /// results are identical to one job [default: the number of cores]
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Check this invariant too, beyond the protocols' claims (repeatable; `tiersim list` names them).
    #[arg(long = "require")]
    pub require: Vec<String>,
    /// Write a replay file here for every failing seed.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Run the seeds in threads of this process instead of worker processes (a protocol that
    /// aborts then ends the sweep).
    #[arg(long)]
    pub in_process: bool,
    /// Also write the sweep as JUnit XML here: one test case per scenario × protocol, failing on
    /// the same rule as the exit code, each failing seed with its reproduce line.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl SweepArgs {
    pub fn execute(self, reg: &Registry) -> Result<u8, BadInput> {
        let SweepArgs {
            scenario,
            all,
            protocol,
            seeds,
            shard,
            strategy,
            jobs,
            require,
            save,
            in_process,
            junit,
            json,
        } = self;
        if all && scenario.is_some() {
            return Err(BadInput("--all and --scenario exclude each other".into()));
        }
        // Everything swept: the exit code says whether the sweep showed what tiersim documents
        // (see `expect`), not whether it found failures.
        let everything = scenario.is_none() && protocol.is_none();
        let pairs = pairs(reg, scenario.as_deref(), protocol.as_deref())?;
        let default_seeds = if scenario.is_some() { "0..200" } else { DEFAULT_SEEDS_ALL };
        let (a, b) = parse_range(seeds.as_deref().unwrap_or(default_seeds))?;
        let spec = crate::explore::sweep::SweepSpec {
            pairs,
            seeds: a..b,
            shard: parse_shard(shard.as_deref())?,
            jobs: parse_jobs(jobs)?,
            strategy: strategy.into(),
            require: parse_require(&require)?,
            workers: workers(in_process)?,
        };
        if let Some(file) = &junit {
            super::validate::output_file(file)?;
        }
        if let Some(dir) = &save {
            super::validate::output_dir(dir)?;
            prepare_dir(dir)?;
        }
        let extend = (everything && seeds.is_none()).then_some(EXPOSING_SEEDS_END);
        sweep(reg, &spec, save.as_deref(), junit.as_deref(), json, everything, extend)
    }
}

/// The consistency counts of a row's runs, summed: the row's nines are those of all its reads
/// and entries together (not an average of per-run nines).
pub(crate) fn aggregate_consistency(
    runs: &[&crate::explore::sweep::SeedResult],
) -> tiersim_model::check::figures::Consistency {
    let mut c = tiersim_model::check::figures::Consistency::default();
    for r in runs {
        c.add(&r.figures.consistency);
    }
    c
}

/// A row's cost: counts summed over its runs (so ratios are over all its reads and ops); a
/// run keeps only its percentiles, so latencies are the worst run's p50 and p99, in ns.
pub(crate) fn aggregate_cost(runs: &[&crate::explore::sweep::SeedResult]) -> serde_json::Value {
    let mut c = tiersim_model::check::figures::Cost::default();
    for r in runs {
        c.add(&r.figures.cost);
    }
    let worst = |pick: &dyn Fn(
        &tiersim_model::check::figures::Cost,
    ) -> &Option<tiersim_model::check::cache::Percentiles>| {
        let ps: Vec<_> = runs.iter().filter_map(|r| pick(&r.figures.cost).as_ref()).collect();
        (!ps.is_empty()).then(|| {
            json!({"p50_max": ps.iter().map(|p| p.p50_ns).max(), "p99_max": ps.iter().map(|p| p.p99_ns).max()})
        })
    };
    let mut j = c.json();
    j["read_latency_ns"] = json!(worst(&|c| &c.read_latency));
    j["write_latency_ns"] = json!(worst(&|c| &c.write_latency));
    j
}

/// A row's warming: keys warmed over keys in every batch of its runs; the worst run's p99.
fn aggregate_warming(runs: &[&crate::explore::sweep::SeedResult]) -> serde_json::Value {
    let mut w = tiersim_model::check::figures::Warming::default();
    for r in runs {
        w.add(&r.figures.warming);
    }
    let p99_max = runs.iter().filter_map(|r| r.warming_p99_ns).max();
    json!({"batches": w.batches, "keys": w.keys, "warmed": w.warmed, "warmed_in_time": w.warmed_in_time,
           "success_ratio": w.success_ratio(),
           "latency_ns": {"p99_max": p99_max}})
}

/// Every invariant that failed in any of a row's failing seeds, in name order.
fn row_invariants(fails: &[&crate::explore::sweep::SeedResult]) -> Vec<String> {
    let mut all: Vec<String> = fails.iter().flat_map(|f| super::expect::failed_invariants(f)).collect();
    all.sort();
    all.dedup();
    all
}

/// One row per pair, in the order swept (`results` are sorted by pair, then seed).
fn rows_of(results: &[crate::explore::sweep::SeedResult]) -> Vec<super::expect::Row<'_>> {
    let mut rows: Vec<super::expect::Row<'_>> = Vec::new();
    for r in results {
        match rows.last_mut() {
            Some(row) if row.0 == r.scenario && row.1 == r.protocol => row.2 += 1,
            _ => rows.push((r.scenario, r.protocol.clone(), 1, Vec::new())),
        }
        if r.verdict != Verdict::Pass {
            rows.last_mut().unwrap().3.push(r);
        }
    }
    rows
}

pub(crate) fn sweep(
    reg: &Registry,
    spec: &crate::explore::sweep::SweepSpec,
    save: Option<&Path>,
    junit: Option<&Path>,
    json: bool,
    everything: bool,
    extend: Option<u64>,
) -> Result<u8, BadInput> {
    use tiersim_model::protocols::zoo;
    let started = std::time::Instant::now();
    let seeds = crate::explore::sweep::shard_seeds(spec).len() as u64;
    let bar = progress(seeds * spec.pairs.len() as u64, json, "runs");
    let failing = AtomicU64::new(0);
    let save_error: Mutex<Option<BadInput>> = Mutex::new(None);
    let on_result = |r: &crate::explore::sweep::SeedResult, o: &_, schedule: &_| {
        if r.verdict != Verdict::Pass {
            failing.fetch_add(1, Ordering::Relaxed);
            if let Some(dir) = save {
                let s = find_scenario(reg, r.scenario).expect("swept scenarios exist");
                let p = spec.pairs.iter().find(|(_, p)| p.name() == r.protocol).unwrap().1.clone();
                if let Err(e) = save_replay(dir, &*s, &p, o, schedule, spec.strategy) {
                    *save_error.lock().unwrap() = Some(e);
                }
            }
        }
        if let Some(bar) = &bar {
            bar.set_message(format!("{} failing", failing.load(Ordering::Relaxed)));
            bar.inc(1);
        }
    };
    let mut results = crate::explore::sweep::run(spec, &on_result);
    // A default sweep of everything runs exposing pairs that have not caught their entry on.
    if let Some(end) = extend.filter(|end| *end > spec.seeds.end) {
        let rows = rows_of(&results);
        let uncaught = super::expect::uncaught(&rows);
        let more = crate::explore::sweep::SweepSpec {
            pairs: spec
                .pairs
                .iter()
                .filter(|(s, p)| uncaught.contains(&(s.name(), p.name().as_str())))
                .cloned()
                .collect(),
            seeds: spec.seeds.end..end,
            ..spec.clone()
        };
        if !more.pairs.is_empty() {
            if let Some(bar) = &bar {
                bar.inc_length(
                    crate::explore::sweep::shard_seeds(&more).len() as u64 * more.pairs.len() as u64,
                );
            }
            results.extend(crate::explore::sweep::run(&more, &on_result));
            let order = |r: &crate::explore::sweep::SeedResult| {
                spec.pairs.iter().position(|(s, p)| s.name() == r.scenario && p.name() == r.protocol)
            };
            results.sort_by_key(|r| (order(r), r.seed));
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = save_error.into_inner().unwrap() {
        return Err(e);
    }
    let wall_ms = started.elapsed().as_millis() as u64;
    let secs = wall_ms.max(1) as f64 / 1000.0;
    let ops: usize = results.iter().map(|r| r.ops).sum();
    let failures: Vec<_> = results.iter().filter(|r| r.verdict != Verdict::Pass).collect();
    let rows = rows_of(&results);
    let caught = |scenario: &str, protocol: &str, fails: &[&crate::explore::sweep::SeedResult]| {
        zoo::entry(protocol).filter(|e| e.scenario == scenario).map(|e| {
            fails.iter().any(|f| {
                f.invariants.iter().any(|i| i == e.invariant.name())
                    || f.invariant.as_deref() == Some(e.invariant.name())
            })
        })
    };
    // The command that reproduces a failing seed: `run` with the sweep's strategy, or the saved
    // replay file where the seed alone is not enough (coverage schedules depend on earlier seeds).
    let reproduce = |f: &crate::explore::sweep::SeedResult| {
        match (reproduce_command_with(&reg.command_line(), f.scenario, &f.protocol, f.seed, spec.strategy), save) {
            (Some(cmd), _) => cmd,
            (None, Some(dir)) => format!(
                "cargo tiersim replay {}",
                dir.join(replay_file_name(f.scenario, &f.protocol, f.seed, spec.strategy)).display()
            ),
            (None, None) => format!(
                "cargo tiersim sweep --scenario {} --protocol {} --strategy {} --seeds {}..{} --save DIR, then cargo tiersim replay DIR/{}",
                f.scenario,
                f.protocol,
                spec.strategy.name(),
                spec.seeds.start,
                spec.seeds.end,
                replay_file_name(f.scenario, &f.protocol, f.seed, spec.strategy)
            ),
        }
    };
    let judgements = super::expect::judge(&rows);
    let unexpected = judgements.iter().filter(|j| !j.as_expected).count();
    if let Some(file) = junit {
        let xml = super::junit::xml(&rows, &judgements, everything, wall_ms, &reproduce);
        tiersim_sim::files::write_atomically(file, &xml)?;
    }
    if json {
        let fail_json = |f: &crate::explore::sweep::SeedResult| {
            json!({"scenario": f.scenario, "protocol": f.protocol, "seed": f.seed, "verdict": f.verdict.name(),
                   "invariant": f.invariant, "invariants": f.invariants, "reproduce": reproduce(f)})
        };
        let rows_json: Vec<_> = rows
            .iter()
            .map(|(s, p, n, fails)| {
                let runs: Vec<_> = results.iter().filter(|r| r.scenario == *s && r.protocol == *p).collect();
                json!({"scenario": s, "protocol": p, "seeds_run": n, "failures": fails.len(),
                       "first_failure": fails.first().map(|f| fail_json(f)), "zoo_caught": caught(s, p, fails),
                       "invariants": row_invariants(fails),
                       "consistency": aggregate_consistency(&runs).json(), "cost": aggregate_cost(&runs),
                       "warming": aggregate_warming(&runs)})
            })
            .collect();
        let failures_json: Vec<_> = failures.iter().map(|f| fail_json(f)).collect();
        println!(
            "{}",
            json!({
                "seeds": format!("{}..{}", spec.seeds.start, spec.seeds.end),
                "shard": format!("{}/{}", spec.shard.0, spec.shard.1),
                "strategy": spec.strategy.name(), "jobs": spec.jobs,
                "seeds_run": results.len(), "failures": failures_json,
                "first_failure": failures_json.first(), "rows": rows_json,
                "summary": judgements.iter().map(|j| j.json()).collect::<Vec<_>>(),
                "unexpected": unexpected, "exit_on": if everything { "unexpected" } else { "any-failure" },
                "wall_ms": wall_ms, "seeds_per_sec": results.len() as f64 / secs, "ops_per_sec": ops as f64 / secs,
            })
        );
    } else {
        println!(
            "{:<24} {:<26} {:>6} {:>8}  first failure (every invariant that failed)",
            "scenario", "protocol", "seeds", "failing"
        );
        for (s, p, n, fails) in &rows {
            let first = fails.first().map_or("-".to_string(), |f| {
                format!("seed {} ({})", f.seed, row_invariants(fails).join(", "))
            });
            let note = match caught(s, p, fails) {
                Some(true) => "  [zoo: caught]",
                Some(false) => "  [zoo: NOT caught]",
                None => "",
            };
            println!("{s:<24} {p:<26} {n:>6} {:>8}  {first}{note}", fails.len());
        }
        let shard = if spec.shard == (0, 1) {
            String::new()
        } else {
            format!(" · shard {}/{}", spec.shard.0, spec.shard.1)
        };
        println!(
            "{} runs in {wall_ms} ms · {:.1} runs/s · {:.0} ops/s · strategy {}{shard} · {} jobs",
            results.len(),
            results.len() as f64 / secs,
            ops as f64 / secs,
            spec.strategy.name(),
            spec.jobs
        );
        println!();
        println!("{:<26} {:<9} expected -> happened", "protocol", "role");
        for j in &judgements {
            let mark = if j.as_expected { "" } else { "  <- UNEXPECTED" };
            println!("{:<26} {:<9} {} -> {}{mark}", j.protocol, j.role_name(), j.expected, j.happened);
        }
        println!(
            "{} of {} protocols as expected; {} failing runs of {}",
            judgements.len() - unexpected,
            judgements.len(),
            failures.len(),
            results.len()
        );
        // The first failure worth reproducing: an unexpected one when there is one.
        let first = failures
            .iter()
            .find(|f| judgements.iter().any(|j| !j.as_expected && j.protocol == f.protocol))
            .or(failures.first());
        if let Some(f) = first {
            println!("reproduce: {}", reproduce(f));
        }
    }
    Ok(if everything { u8::from(unexpected > 0) } else { u8::from(!failures.is_empty()) })
}
