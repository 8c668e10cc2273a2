//! The `tiersim` command line. Every command takes `--json` and then prints exactly one JSON
//! object on stdout; logs and progress go to stderr. Exit codes: 0 pass / clean / reproduced,
//! 1 violation / failures / not reproduced, 2 bad input (with a one-line message naming it).

use clap::{Parser, Subcommand};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::{DynProtocol, Invariant};
use tiersim_model::system::CacheOp;
use tiersim_scenarios::{config_json, reproduce_command, run_seed, Scenario};
use tiersim_sim::replay::{hash_hex, Expected, InputError, ReplayFile, FORMAT_VERSION};

#[derive(Parser)]
#[command(
    name = "tiersim",
    version,
    about = "Deterministic simulation of multi-tier cache invalidation races"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List scenarios and protocols with their claimed guarantees.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run one seed and judge it.
    Run {
        #[arg(long)]
        scenario: String,
        #[arg(long)]
        protocol: String,
        #[arg(long)]
        seed: u64,
        /// Check this invariant too, beyond the protocol's claims (repeatable).
        #[arg(long = "require")]
        require: Vec<String>,
        /// Write the run's replay file into this directory (whatever the verdict).
        #[arg(long)]
        save: Option<PathBuf>,
        /// Write the run's history (JSON lines) to this file.
        #[arg(long)]
        history: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Run a half-open range of seeds, A..B.
    Sweep {
        #[arg(long)]
        scenario: String,
        #[arg(long)]
        protocol: String,
        /// Seeds A..B (half-open). Default 0..200.
        #[arg(long, default_value = "0..200")]
        seeds: String,
        /// Worker threads; per-seed results are identical to one thread. Default: the cores.
        #[arg(long)]
        jobs: Option<usize>,
        #[arg(long = "require")]
        require: Vec<String>,
        /// Write a replay file here for every failing seed.
        #[arg(long)]
        save: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Check a recorded history (JSON lines) for linearizability and report its staleness.
    Check {
        file: PathBuf,
        /// Search states per key before the answer is `unknown`. Default 2,000,000.
        #[arg(long, default_value_t = 2_000_000)]
        max_states: u64,
        #[arg(long)]
        json: bool,
    },
    /// Shrink a failing replay file: remove operations and faults while the same invariant fails.
    Shrink {
        file: PathBuf,
        /// Where to write the shrunk replay file.
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        /// Most candidate runs to try. Default 2000.
        #[arg(long, default_value_t = 2000)]
        max_runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Render a replay file's run as one self-contained HTML timeline.
    Report {
        file: PathBuf,
        #[arg(short = 'o', long = "out")]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Re-run a replay file and say whether it reproduced.
    Replay {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// A failure of the command itself (exit 2), as one line.
struct BadInput(String);

impl From<InputError> for BadInput {
    fn from(e: InputError) -> Self {
        BadInput(e.0)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("bad arguments").trim_start_matches("error: ");
            eprintln!("tiersim: {first} (see tiersim --help)");
            return ExitCode::from(2);
        }
    };
    match dispatch(cli.command) {
        Ok(code) => ExitCode::from(code),
        Err(BadInput(msg)) => {
            eprintln!("tiersim: {msg}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(command: Command) -> Result<u8, BadInput> {
    match command {
        Command::List { json } => Ok(list(json)),
        Command::Run { scenario, protocol, seed, require, save, history, json } => {
            let (s, p, req) = resolve(&scenario, &protocol, &require)?;
            if let Some(dir) = &save {
                prepare_dir(dir)?;
            }
            let o = run_seed(&*s, p.clone(), seed, &req);
            if let Some(path) = history {
                write_atomically(&path, &o.history.to_jsonl())?;
            }
            // One run the user asked to keep is kept whatever its verdict: a passing run is a
            // regression file too (the seed that once broke a correct protocol).
            let saved = match &save {
                Some(dir) => Some(save_replay(dir, &*s, &*p, &o, &s.schedule(seed))?),
                None => None,
            };
            if json {
                let mut j = outcome_json(&*s, &*p, &o);
                j["saved"] = json!(saved.map(|p| p.display().to_string()));
                println!("{j}");
            } else {
                print_outcome(&*s, &*p, &o);
                if let Some(path) = saved {
                    println!("saved: {}", path.display());
                }
            }
            Ok(exit_for(o.verdict))
        }
        Command::Sweep { scenario, protocol, seeds, jobs, require, save, json } => {
            let (s, p, req) = resolve(&scenario, &protocol, &require)?;
            let (a, b) = parse_range(&seeds)?;
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if jobs == 0 {
                return Err(BadInput("--jobs must be at least 1".into()));
            }
            if let Some(dir) = &save {
                prepare_dir(dir)?;
            }
            sweep(s, p, req, a, b, jobs, save, json)
        }
        Command::Replay { file, json } => replay(&file, json),
        Command::Report { file, out, json } => report(&file, &out, json),
        Command::Shrink { file, out, max_runs, json } => shrink(&file, &out, max_runs, json),
        Command::Check { file, max_states, json } => check(&file, max_states, json),
    }
}

fn resolve(
    scenario: &str,
    protocol: &str,
    require: &[String],
) -> Result<(Arc<dyn Scenario>, Arc<dyn DynProtocol>, Vec<Invariant>), BadInput> {
    let s = tiersim_scenarios::by_name(scenario).ok_or_else(|| {
        let names: Vec<_> = tiersim_scenarios::all().iter().map(|s| s.name()).collect();
        BadInput(format!("unknown scenario {scenario:?} (known: {})", names.join(", ")))
    })?;
    let p = tiersim_model::protocols::by_name(protocol).ok_or_else(|| {
        let names: Vec<_> = tiersim_model::protocols::builtin().iter().map(|p| p.name()).collect();
        BadInput(format!("unknown protocol {protocol:?} (known: {})", names.join(", ")))
    })?;
    let mut req = Vec::new();
    for name in require {
        let inv = Invariant::from_name(name).ok_or_else(|| {
            let names: Vec<_> = Invariant::ALL.iter().map(|i| i.name()).collect();
            BadInput(format!("--require: unknown invariant {name:?} (known: {})", names.join(", ")))
        })?;
        if !inv.is_checked() {
            return Err(BadInput(format!("--require: invariant {name} has no checker in this build yet")));
        }
        req.push(inv);
    }
    Ok((s, p, req))
}

fn parse_range(text: &str) -> Result<(u64, u64), BadInput> {
    let bad =
        || BadInput(format!("--seeds {text:?}: expected a half-open range A..B of whole numbers, A < B"));
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a >= b {
        return Err(bad());
    }
    Ok((a, b))
}

fn prepare_dir(dir: &Path) -> Result<(), BadInput> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BadInput(format!("{}: cannot create directory: {e}", dir.display())))
}

fn exit_for(v: Verdict) -> u8 {
    if v == Verdict::Pass {
        0
    } else {
        1
    }
}

fn list(json: bool) -> u8 {
    use tiersim_model::protocols::zoo;
    // A claim can depend on the system (a staleness bound on its TTLs): show it for the scenario
    // that exposes a zoo entry, and for the default system otherwise.
    let claims_of = |p: &dyn DynProtocol| {
        let cfg = zoo::entry(&p.name())
            .and_then(|e| tiersim_scenarios::by_name(e.scenario))
            .map_or_else(tiersim_model::system::SystemConfig::default, |s| s.config());
        p.claims(&cfg)
    };
    let scenarios: Vec<_> = tiersim_scenarios::all()
        .iter()
        .map(|s| json!({"name": s.name(), "description": s.description()}))
        .collect();
    let protocols: Vec<_> = tiersim_model::protocols::builtin()
        .iter()
        .map(|p| {
            let entry = zoo::entry(&p.name());
            let claims = claims_of(&**p);
            json!({
                "name": p.name(),
                "guarantees": claims.names(),
                "staleness_bound_ns": claims.staleness_bound_ns,
                "zoo": entry.is_some(),
                "exposed_by": entry.map(|e| json!({"scenario": e.scenario, "invariant": e.invariant.name()})),
                "story": entry.map(|e| e.story),
                "source": entry.map(|e| e.source),
            })
        })
        .collect();
    if json {
        println!("{}", json!({"scenarios": scenarios, "protocols": protocols}));
    } else {
        println!("scenarios:");
        for s in tiersim_scenarios::all() {
            println!("  {:<22} {}", s.name(), s.description());
        }
        println!("protocols:");
        for p in tiersim_model::protocols::builtin() {
            let exposed = zoo::entry(&p.name())
                .map_or(String::new(), |e| format!(" · zoo: exposed by {} ({})", e.scenario, e.invariant));
            println!("  {:<26} claims {}{exposed}", p.name(), claims_of(&*p).names().join(", "));
        }
    }
    0
}

fn outcome_json(s: &dyn Scenario, p: &dyn DynProtocol, o: &Outcome) -> serde_json::Value {
    // The slo figures in ns; a distribution with no sample is null.
    let percentiles = |p: &Option<tiersim_model::cache_checks::Percentiles>| {
        p.as_ref().map(|p| json!({"p50": p.p50_ns, "p95": p.p95_ns, "p99": p.p99_ns, "samples": p.samples}))
    };
    json!({
        "scenario": s.name(),
        "protocol": p.name(),
        "seed": o.seed,
        "verdict": o.verdict.name(),
        "violations": o.violations,
        "abort": o.abort,
        "trace_hash": hash_hex(o.trace_hash),
        "ops": o.ops,
        "events": o.events,
        "messages": o.messages,
        "sim_ns": o.sim_ns,
        "wall_ms": o.wall_ms,
        "max_staleness_ns": o.max_staleness_ns,
        "unchecked": o.unchecked.iter().map(|i| i.name()).collect::<Vec<_>>(),
        "latency_ns": {
            "invalidation": percentiles(&o.latency.invalidation),
            "cascade": percentiles(&o.latency.cascade),
            "warming": percentiles(&o.latency.warming),
        },
        "reproduce": reproduce_command(s.name(), &p.name(), o.seed),
    })
}

fn print_outcome(s: &dyn Scenario, p: &dyn DynProtocol, o: &Outcome) {
    let cfg = s.config();
    let t = &cfg.topology;
    let schedule = s.schedule(o.seed);
    println!(
        "seed {} · scenario {} · protocol {} · {}x{}x{} apps, {} Redis shard(s) · TTL L1/L2/L3/Redis {}/{}/{}/{} ms · {} ops, {} faults scheduled",
        o.seed, s.name(), p.name(), t.regions, t.hosts_per_region, t.processes_per_host, t.redis_shards,
        cfg.l1_ttl_ms, cfg.l2_ttl_ms, cfg.l3_ttl_ms, cfg.redis_ttl_ms, schedule.ops.len(), schedule.faults.len()
    );
    println!("claims: {}", p.claims(&cfg).names().join(", "));
    if !o.unchecked.is_empty() {
        let names: Vec<&str> = o.unchecked.iter().map(|i| i.name()).collect();
        println!("not checked yet (no checker in this build): {}", names.join(", "));
    }
    println!("verdict: {}", o.verdict.name());
    for v in o.violations.iter().take(5) {
        println!(
            "invariant `{}` violated at t={}: key {}",
            v.invariant,
            tiersim_model::invariants::secs(v.time_ns),
            v.key
        );
        println!("  {}", v.message);
    }
    if o.violations.len() > 5 {
        println!("... and {} more violations (--json lists all)", o.violations.len() - 5);
    }
    if let Some(a) = &o.abort {
        println!("stopped: {a}");
    }
    if o.verdict != Verdict::Pass {
        println!("reproduce: {}", reproduce_command(s.name(), &p.name(), o.seed));
    }
    println!(
        "{} ops · {} events · {} messages · {:.3} s simulated in {} ms · max staleness {} ms · trace {}",
        o.ops,
        o.events,
        o.messages,
        o.sim_ns as f64 / 1e9,
        o.wall_ms,
        o.max_staleness_ns / 1_000_000,
        hash_hex(o.trace_hash)
    );
}

fn summary(s: &dyn Scenario, p: &dyn DynProtocol, o: &Outcome) -> String {
    match o.violations.first() {
        Some(v) => format!(
            "{} on {}/{} seed {}: key {}: {}",
            v.invariant,
            s.name(),
            p.name(),
            o.seed,
            v.key,
            v.message
        ),
        None => format!("{} on {}/{} seed {}", o.verdict.name(), s.name(), p.name(), o.seed),
    }
}

fn save_replay(
    dir: &Path,
    s: &dyn Scenario,
    p: &dyn DynProtocol,
    o: &Outcome,
    schedule: &tiersim_sim::schedule::Schedule<CacheOp>,
) -> Result<PathBuf, BadInput> {
    let path = dir.join(format!("{}--{}--{}.json", s.name(), p.name(), o.seed));
    let file = ReplayFile {
        format_version: FORMAT_VERSION,
        tiersim_version: env!("CARGO_PKG_VERSION").into(),
        scenario: s.name().into(),
        protocol: p.name(),
        config: config_json(s),
        seed: o.seed,
        schedule: schedule.clone(),
        expected: Expected { verdict: o.verdict.name().into(), invariant: o.invariant() },
        trace_hash: hash_hex(o.trace_hash),
        summary: summary(s, p, o),
    };
    file.save(&path)?;
    Ok(path)
}

#[allow(clippy::too_many_arguments)]
fn sweep(
    s: Arc<dyn Scenario>,
    p: Arc<dyn DynProtocol>,
    req: Vec<Invariant>,
    a: u64,
    b: u64,
    jobs: usize,
    save: Option<PathBuf>,
    json: bool,
) -> Result<u8, BadInput> {
    let started = std::time::Instant::now();
    let next = AtomicU64::new(a);
    let results: Mutex<Vec<(u64, Verdict, Option<String>, usize)>> = Mutex::new(Vec::new());
    let save_error: Mutex<Option<BadInput>> = Mutex::new(None);
    let bar = if !json && std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(b - a);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} seeds · {per_sec} · eta {eta} · {msg}",
            )
            .unwrap(),
        );
        Some(bar)
    } else {
        None
    };
    let failures = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min((b - a) as usize) {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= b {
                    break;
                }
                let o = run_seed(&*s, p.clone(), seed, &req);
                if o.verdict != Verdict::Pass {
                    failures.fetch_add(1, Ordering::Relaxed);
                    if let Some(dir) = &save {
                        if let Err(e) = save_replay(dir, &*s, &*p, &o, &s.schedule(seed)) {
                            *save_error.lock().unwrap() = Some(e);
                        }
                    }
                }
                results.lock().unwrap().push((seed, o.verdict, o.invariant(), o.ops));
                if let Some(bar) = &bar {
                    bar.set_message(format!("{} failing", failures.load(Ordering::Relaxed)));
                    bar.inc(1);
                }
            });
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(e) = save_error.into_inner().unwrap() {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|r| r.0);
    let wall_ms = started.elapsed().as_millis() as u64;
    let secs = (wall_ms.max(1)) as f64 / 1000.0;
    let seeds_run = results.len();
    let ops: usize = results.iter().map(|r| r.3).sum();
    let failing: Vec<_> = results.iter().filter(|r| r.1 != Verdict::Pass).collect();
    if json {
        let failures: Vec<_> =
            failing.iter().map(|r| json!({"seed": r.0, "verdict": r.1.name(), "invariant": r.2})).collect();
        println!(
            "{}",
            json!({
                "scenario": s.name(), "protocol": p.name(), "seeds": format!("{a}..{b}"), "jobs": jobs,
                "seeds_run": seeds_run, "failures": failures,
                "first_failure": failures.first(),
                "wall_ms": wall_ms, "seeds_per_sec": seeds_run as f64 / secs, "ops_per_sec": ops as f64 / secs,
            })
        );
    } else {
        println!("{:<12} {:<14} {:>6} {:>8}  first failure", "scenario", "protocol", "seeds", "failing");
        let first = failing
            .first()
            .map_or("-".to_string(), |r| format!("seed {} ({})", r.0, r.2.clone().unwrap_or_default()));
        println!("{:<12} {:<14} {:>6} {:>8}  {}", s.name(), p.name(), seeds_run, failing.len(), first);
        println!(
            "{seeds_run} seeds in {wall_ms} ms · {:.1} seeds/s · {:.0} ops/s · {jobs} jobs",
            seeds_run as f64 / secs,
            ops as f64 / secs
        );
        if let Some(r) = failing.first() {
            println!("reproduce: {}", reproduce_command(s.name(), &p.name(), r.0));
        }
    }
    Ok(if failing.is_empty() { 0 } else { 1 })
}

fn replay(path: &Path, json: bool) -> Result<u8, BadInput> {
    let file: ReplayFile<CacheOp> = ReplayFile::load(path)?;
    let name = path.display();
    let s = tiersim_scenarios::by_name(&file.scenario)
        .ok_or_else(|| BadInput(format!("{name}: unknown scenario {:?}", file.scenario)))?;
    let p = tiersim_model::protocols::by_name(&file.protocol)
        .ok_or_else(|| BadInput(format!("{name}: unknown protocol {:?}", file.protocol)))?;
    let config =
        tiersim_scenarios::config_from_json(&file.config).map_err(|e| BadInput(format!("{name}: {e}")))?;
    let o = tiersim_scenarios::run_in(&config, p.clone(), file.seed, &file.schedule, &[]);
    let reproduced = if hash_hex(o.trace_hash) == file.trace_hash {
        "exact"
    } else if o.verdict.name() == file.expected.verdict && o.invariant() == file.expected.invariant {
        "verdict"
    } else {
        "lost"
    };
    if json {
        let mut j = outcome_json(&*s, &*p, &o);
        j["reproduced"] = json!(reproduced);
        j["expected"] = json!({"verdict": file.expected.verdict, "invariant": file.expected.invariant, "trace_hash": file.trace_hash});
        println!("{j}");
    } else {
        println!("replaying {name}: {}", file.summary);
        print_outcome(&*s, &*p, &o);
        println!("reproduced: {reproduced}");
    }
    Ok(if reproduced == "lost" { 1 } else { 0 })
}

fn check(path: &Path, max_states: u64, json: bool) -> Result<u8, BadInput> {
    use tiersim_sim::check::wgl::{check_ops, min_delta_ns, Budget, KeyVerdict};
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| BadInput(format!("{name}: cannot read: {e}")))?;
    let started = std::time::Instant::now();
    let ops = tiersim_sim::check::parse::parse_ops(&text).map_err(|e| BadInput(format!("{name}: {e}")))?;
    if max_states == 0 {
        return Err(BadInput("--max-states must be at least 1".into()));
    }
    let budget = Budget { max_states, max_wall: None };
    let report = check_ops(&ops, &budget);
    let ok = report.ok();
    // Δ-atomicity is the staleness figure of an external history (it has no commit log).
    let delta_ns = if ok == Some(true) { Some(0) } else { min_delta_ns(&ops, &budget) };
    let wall_ms = started.elapsed().as_millis() as u64;
    let mut violations = Vec::new();
    let mut unknown = Vec::new();
    for r in &report.results {
        match &r.verdict {
            KeyVerdict::Linearizable => {}
            KeyVerdict::NotLinearizable { window, time_ns, message } => {
                let window: Vec<_> = window
                    .iter()
                    .map(|o| json!({"process": o.process, "f": o.f, "value": o.value, "outcome": format!("{:?}", o.outcome).to_lowercase(), "invoke_ns": o.invoke_ns, "complete_ns": o.complete_ns, "line": o.line}))
                    .collect();
                violations.push(json!({"invariant": "linearizable", "key": r.key, "time_ns": time_ns, "message": message, "window": window}));
            }
            KeyVerdict::Unknown { reason } => unknown.push(json!({"key": r.key, "reason": reason})),
        }
    }
    let verdict = match ok {
        Some(true) => "linearizable",
        Some(false) => "not linearizable",
        None => "unknown",
    };
    if json {
        println!(
            "{}",
            json!({"file": name.to_string(), "ok": ok, "verdict": verdict, "keys": report.keys, "ops": report.ops,
                   "violations": violations, "unknown": unknown, "min_delta_ns": delta_ns, "wall_ms": wall_ms})
        );
    } else {
        println!("{name}: {verdict} · {} keys · {} ops · {wall_ms} ms", report.keys, report.ops);
        for v in &violations {
            println!(
                "invariant `linearizable` violated at t={}ns: key {}",
                v["time_ns"],
                v["key"].as_str().unwrap_or("")
            );
            println!("  {}", v["message"].as_str().unwrap_or(""));
            for o in v["window"].as_array().into_iter().flatten() {
                println!(
                    "    line {}: p{} {} {} [{}, {}]",
                    o["line"],
                    o["process"],
                    o["f"].as_str().unwrap_or(""),
                    o["value"],
                    o["invoke_ns"],
                    o["complete_ns"]
                );
            }
        }
        for u in &unknown {
            println!(
                "key {}: unknown ({})",
                u["key"].as_str().unwrap_or(""),
                u["reason"].as_str().unwrap_or("")
            );
        }
        match delta_ns {
            Some(d) => println!("smallest Δ for which the history is Δ-atomic: {d} ns"),
            None => {
                println!("no staleness bound Δ makes the history atomic (or the search ran out of budget)")
            }
        }
    }
    Ok(if ok == Some(true) { 0 } else { 1 })
}

fn shrink(path: &Path, out: &Path, max_runs: usize, json: bool) -> Result<u8, BadInput> {
    let file: ReplayFile<CacheOp> = ReplayFile::load(path)?;
    let name = path.display();
    let Some(invariant) = file.expected.invariant.clone().filter(|_| file.expected.verdict == "fail") else {
        return Err(BadInput(format!("{name}: nothing to shrink: its verdict is {}", file.expected.verdict)));
    };
    let p = tiersim_model::protocols::by_name(&file.protocol)
        .ok_or_else(|| BadInput(format!("{name}: unknown protocol {:?}", file.protocol)))?;
    let config =
        tiersim_scenarios::config_from_json(&file.config).map_err(|e| BadInput(format!("{name}: {e}")))?;
    let before = tiersim_scenarios::run_in(&config, p.clone(), file.seed, &file.schedule, &[]);
    if !before.violations.iter().any(|v| v.invariant == invariant) {
        eprintln!("tiersim: {name} no longer fails {invariant}; nothing was shrunk");
        return Ok(1);
    }
    let (schedule, seed, stats, o) = tiersim_scenarios::shrink_failure(
        &config,
        p.clone(),
        file.seed,
        &file.schedule,
        &invariant,
        max_runs,
    );
    let summary = format!(
        "shrunk from {} ops and {} faults to {} and {}: {}",
        stats.ops_before,
        stats.faults_before,
        stats.ops_after,
        stats.faults_after,
        o.violations.iter().find(|v| v.invariant == invariant).map_or(String::new(), |v| v.message.clone())
    );
    let shrunk = ReplayFile {
        schedule,
        seed,
        expected: Expected { verdict: o.verdict.name().into(), invariant: o.invariant() },
        trace_hash: hash_hex(o.trace_hash),
        summary,
        tiersim_version: env!("CARGO_PKG_VERSION").into(),
        ..file
    };
    shrunk.save(out)?;
    if json {
        println!(
            "{}",
            json!({"ops_before": stats.ops_before, "ops_after": stats.ops_after, "faults_before": stats.faults_before,
                   "faults_after": stats.faults_after, "runs": stats.runs, "invariant": invariant,
                   "out": out.display().to_string(), "trace_hash": hash_hex(o.trace_hash)})
        );
    } else {
        println!("{}", shrunk.summary);
        for op in &shrunk.schedule.ops {
            println!("  t={} p{} {:?}", tiersim_model::invariants::secs(op.at_ns), op.process, op.op);
        }
        for f in &shrunk.schedule.faults {
            println!("  t={} fault {:?}", tiersim_model::invariants::secs(f.at_ns), f.fault);
        }
        println!("{} candidate runs · written to {}", stats.runs, out.display());
    }
    Ok(0)
}

fn report(path: &Path, out: &Path, json: bool) -> Result<u8, BadInput> {
    let file: ReplayFile<CacheOp> = ReplayFile::load(path)?;
    let name = path.display();
    let p = tiersim_model::protocols::by_name(&file.protocol)
        .ok_or_else(|| BadInput(format!("{name}: unknown protocol {:?}", file.protocol)))?;
    let config =
        tiersim_scenarios::config_from_json(&file.config).map_err(|e| BadInput(format!("{name}: {e}")))?;
    let o = tiersim_scenarios::run_in(&config, p, file.seed, &file.schedule, &[]);
    let title = format!("{} · {} · seed {}", file.scenario, file.protocol, file.seed);
    let html = tiersim_scenarios::report::render(&title, &o, &config);
    write_atomically(out, &html)?;
    if json {
        println!(
            "{}",
            json!({"file": name.to_string(), "out": out.display().to_string(), "verdict": o.verdict.name(),
                   "violations": o.violations, "trace_hash": hash_hex(o.trace_hash), "ops": o.ops, "events": o.events})
        );
    } else {
        println!("wrote {} ({}, {} ops, {} events)", out.display(), o.verdict.name(), o.ops, o.events);
    }
    Ok(0)
}

/// Write a file through a temporary one and a rename: nothing half-written is left behind.
fn write_atomically(path: &Path, text: &str) -> Result<(), BadInput> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        BadInput(format!("{}: cannot write: {e}", path.display()))
    })
}
