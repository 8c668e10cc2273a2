//! `tiersim compare`: protocols side by side on the same seeds of one scenario (or of every
//! scenario), as a table, one JSON object, or an HTML page with a plot.
//!
//! Each protocol runs the seeds through the sweep machinery (`explore::sweep`), in worker
//! processes of this binary unless `--in-process`, so a protocol that aborts the process costs
//! the seed it ran (verdict `crash`) and the comparison goes on. A row sums its runs' figures
//! (consistency nines over all their reads, hit ratios, database reads per read, messages per
//! op) exactly as a sweep row does, and names every invariant that failed with the number of
//! runs it failed in and the command that reproduces the first of them. With `--all` there is
//! one row per scenario and protocol, and an overall row per protocol over every scenario.
//!
//! The exit code is that of a narrowed sweep: 1 when any run failed, else 0.

use super::args::*;
use super::output::*;
use crate::explore::sweep::{SeedResult, SweepSpec};
use crate::registry::Registry;
use crate::report::compare::{cells, Comparison, Failed, Row, COLUMNS};
use crate::scenario::Scenario;
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tiersim_model::outcome::Verdict;
use tiersim_model::protocol::ProtocolFactory;

/// The seeds compared when `--seeds` is not given.
const DEFAULT_SEEDS: &str = "0..50";

/// How often a comparison whose stderr is not a terminal (a CI log) says how far it got.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The scenario the protocols run (`tiersim list` shows them).
    #[arg(long)]
    pub scenario: Option<String>,
    /// Every scenario: one row per scenario and protocol, and one per protocol over all.
    #[arg(long)]
    pub all: bool,
    /// The protocols to compare, comma-separated: `versioned,cache-aside,pass-through`.
    #[arg(long)]
    pub protocol: String,
    /// Seeds A..B (half-open), the same for every protocol [default: 0..50]
    #[arg(long)]
    pub seeds: Option<String>,
    /// Seeds run at once, each in a worker process (or a thread with --in-process)
    /// [default: the number of cores]
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run the seeds in threads of this process instead of worker processes (a protocol that
    /// aborts then ends the comparison).
    #[arg(long)]
    pub in_process: bool,
    /// Also write the comparison as one self-contained HTML page here: consistency nines
    /// against read latency p99, database reads per read, and the table.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl CompareArgs {
    pub fn execute(self, reg: &Registry) -> Result<u8, BadInput> {
        let CompareArgs { scenario, all, protocol, seeds, jobs, in_process, html, json } = self;
        let scenarios: Vec<Arc<dyn Scenario>> = match (scenario, all) {
            (Some(_), true) => return Err(BadInput("--all and --scenario exclude each other".into())),
            (None, false) => return Err(BadInput("compare needs --scenario S or --all".into())),
            (Some(s), false) => vec![find_scenario(reg, &s)?],
            (None, true) => reg.scenarios().to_vec(),
        };
        let protocols = parse_protocols(reg, &protocol)?;
        let (a, b) = parse_range(seeds.as_deref().unwrap_or(DEFAULT_SEEDS))?;
        let spec = SweepSpec {
            pairs: scenarios
                .iter()
                .flat_map(|s| protocols.iter().map(move |p| (s.clone(), p.clone())))
                .collect(),
            seeds: a..b,
            shard: (0, 1),
            jobs: parse_jobs(jobs)?,
            strategy: crate::explore::strategy::Strategy::Random,
            require: Vec::new(),
            workers: workers(in_process)?,
        };
        if let Some(out) = &html {
            super::validate::output_file(out)?;
        }
        let started = std::time::Instant::now();
        let results = run(&spec, json);
        let wall_ms = started.elapsed().as_millis() as u64;
        let (headline, by_scenario) = rows(reg, &scenarios, &protocols, &results, all);
        let (headline, headline_json): (Vec<Row>, Vec<_>) = headline.into_iter().unzip();
        let (by_scenario, by_scenario_json): (Vec<Row>, Vec<_>) = by_scenario.into_iter().unzip();
        let seeds_text = format!("{a}..{b}");
        if let Some(out) = &html {
            let what = if all { "every scenario".to_string() } else { scenarios[0].name().to_string() };
            let title = format!("compare · {what} · seeds {seeds_text}");
            let page = crate::report::compare::render(&Comparison {
                title: &title,
                protocols: &headline,
                by_scenario: &by_scenario,
            });
            write_atomically(out, &page)?;
        }
        let failing = results.iter().any(|r| r.verdict != Verdict::Pass);
        if json {
            println!(
                "{}",
                json!({
                    "scenarios": scenarios.iter().map(|s| s.name()).collect::<Vec<_>>(),
                    "protocols": protocols.iter().map(|p| p.name()).collect::<Vec<_>>(),
                    "seeds": seeds_text, "jobs": spec.jobs, "seeds_run": results.len(),
                    "rows": headline_json, "by_scenario": by_scenario_json,
                    "html": html.as_ref().map(|p| p.display().to_string()), "wall_ms": wall_ms,
                })
            );
        } else {
            if all {
                print_table(&by_scenario, true);
                println!();
                println!("every scenario:");
            }
            print_table(&headline, false);
            for r in &headline {
                for f in &r.failed {
                    println!("reproduce {} {} ({} runs): {}", r.protocol, f.invariant, f.runs, f.reproduce);
                }
            }
            println!(
                "{} runs of {} protocol(s) × {} scenario(s), seeds {seeds_text}, in {wall_ms} ms · {} jobs{}",
                results.len(),
                protocols.len(),
                scenarios.len(),
                spec.jobs,
                html.as_ref().map_or(String::new(), |p| format!(" · wrote {}", p.display()))
            );
        }
        Ok(u8::from(failing))
    }
}

/// `--protocol A,B,…`: every name known, none given twice (an old name and its new one are the
/// same protocol), at least one.
fn parse_protocols(reg: &Registry, text: &str) -> Result<Vec<ProtocolFactory>, BadInput> {
    let names: Vec<&str> = text.split(',').map(str::trim).collect();
    if names.iter().all(|n| n.is_empty()) {
        return Err(BadInput(format!(
            "--protocol {text:?}: expected a comma-separated list of protocols, e.g. versioned,cache-aside"
        )));
    }
    let mut out: Vec<ProtocolFactory> = Vec::new();
    for name in names {
        if name.is_empty() {
            return Err(BadInput(format!("--protocol {text:?}: an empty name in the list")));
        }
        let p = find_protocol(reg, name)?;
        if out.iter().any(|q| q.name() == p.name()) {
            return Err(BadInput(format!("--protocol {text:?}: {} is given twice", p.name())));
        }
        out.push(p);
    }
    Ok(out)
}

/// Run the comparison's seeds: a progress bar on a terminal, a heartbeat line every minute in a
/// log.
fn run(spec: &SweepSpec, json: bool) -> Vec<SeedResult> {
    let total = spec.seeds.end.saturating_sub(spec.seeds.start) * spec.pairs.len() as u64;
    let bar = progress(total, json, "runs");
    let heartbeat = bar.is_none() && !std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let last_beat = Mutex::new(started);
    let (done, failing) = (AtomicU64::new(0), AtomicU64::new(0));
    let on_result = |r: &SeedResult, _: &_, _: &_| {
        let done = done.fetch_add(1, Ordering::Relaxed) + 1;
        let failed = u64::from(r.verdict != Verdict::Pass);
        let failing = failing.fetch_add(failed, Ordering::Relaxed) + failed;
        if let Some(bar) = &bar {
            bar.set_message(format!("{failing} failing"));
            bar.inc(1);
        }
        if !heartbeat {
            return;
        }
        let mut last = last_beat.lock().unwrap();
        if last.elapsed() >= HEARTBEAT {
            *last = std::time::Instant::now();
            eprintln!(
                "compare: {done} of {total} runs, {failing} failing, {} s",
                started.elapsed().as_secs()
            );
        }
    };
    let results = crate::explore::sweep::run(spec, &on_result);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    results
}

/// Rows, each with its JSON object.
type RowsWithJson = Vec<(Row, serde_json::Value)>;

/// The rows, each with its JSON: one per protocol over what was compared (plotted), and with
/// `all` one per scenario and protocol too.
fn rows(
    reg: &Registry,
    scenarios: &[Arc<dyn Scenario>],
    protocols: &[ProtocolFactory],
    results: &[SeedResult],
    all: bool,
) -> (RowsWithJson, RowsWithJson) {
    let of = |scenario: Option<&str>, protocol: &str| {
        let runs: Vec<&SeedResult> = results
            .iter()
            .filter(|r| r.protocol == protocol && scenario.is_none_or(|s| r.scenario == s))
            .collect();
        let row = row(reg, scenario.unwrap_or("all"), protocol, &runs);
        let json = row_json(&row, &runs);
        (row, json)
    };
    let headline = protocols.iter().map(|p| of((!all).then(|| scenarios[0].name()), &p.name())).collect();
    let by_scenario = if all {
        scenarios.iter().flat_map(|s| protocols.iter().map(|p| of(Some(s.name()), &p.name()))).collect()
    } else {
        Vec::new()
    };
    (headline, by_scenario)
}

/// One row over `runs` (in scenario, then seed order).
fn row(reg: &Registry, scenario: &str, protocol: &str, runs: &[&SeedResult]) -> Row {
    let mut cost = tiersim_model::check::figures::Cost::default();
    for r in runs {
        cost.add(&r.figures.cost);
    }
    let worst = |pick: fn(&SeedResult) -> Option<u64>| runs.iter().filter_map(|r| pick(r)).max();
    let failing: Vec<&&SeedResult> = runs.iter().filter(|r| r.verdict != Verdict::Pass).collect();
    let mut failed: Vec<Failed> = Vec::new();
    for f in &failing {
        for invariant in super::expect::failed_invariants(f) {
            match failed.iter_mut().find(|x| x.invariant == invariant) {
                Some(x) => x.runs += 1,
                None => failed.push(Failed {
                    reproduce: reg.reproduce(f.scenario, protocol, f.seed),
                    invariant,
                    runs: 1,
                }),
            }
        }
    }
    failed.sort_by(|a, b| a.invariant.cmp(&b.invariant));
    Row {
        scenario: scenario.to_string(),
        protocol: protocol.to_string(),
        runs: runs.len(),
        failing_runs: failing.len(),
        consistency: super::sweep::aggregate_consistency(runs),
        cost,
        read_p99_ns: worst(|r| r.figures.cost.read_latency.as_ref().map(|p| p.p99_ns)),
        write_p99_ns: worst(|r| r.figures.cost.write_latency.as_ref().map(|p| p.p99_ns)),
        failed,
    }
}

/// A row as JSON: the figures of a sweep row over the same runs (`consistency`, `cost` with the
/// worst run's p50 and p99 latencies), and every failed invariant with its runs and the command
/// that reproduces the first of them.
fn row_json(r: &Row, runs: &[&SeedResult]) -> serde_json::Value {
    json!({
        "scenario": r.scenario, "protocol": r.protocol, "seeds_run": r.runs, "failing_runs": r.failing_runs,
        "consistency": r.consistency.json(), "cost": super::sweep::aggregate_cost(runs),
        "invariants": r.failed.iter().map(|f| json!({"invariant": f.invariant, "runs": f.runs, "reproduce": f.reproduce})).collect::<Vec<_>>(),
    })
}

/// The rows as a text table with the page's columns (and the scenario first when asked).
fn print_table(rows: &[Row], with_scenario: bool) {
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut heading: Vec<String> = COLUMNS.iter().map(|(h, _)| h.to_string()).collect();
    if with_scenario {
        heading.insert(0, "scenario".into());
    }
    table.push(heading);
    for r in rows {
        let mut line = cells(r);
        if with_scenario {
            line.insert(0, r.scenario.clone());
        }
        table.push(line);
    }
    let columns = table[0].len();
    let widths: Vec<usize> =
        (0..columns).map(|c| table.iter().map(|l| l[c].chars().count()).max().unwrap_or(0)).collect();
    let names = usize::from(with_scenario) + 1;
    for line in &table {
        let text: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let pad = widths[c] - cell.chars().count();
                // Names and the failed invariants read from the left, figures from the right.
                if c < names || c == columns - 1 {
                    format!("{cell}{}", " ".repeat(pad))
                } else {
                    format!("{}{cell}", " ".repeat(pad))
                }
            })
            .collect();
        println!("{}", text.join("  ").trim_end());
    }
}
