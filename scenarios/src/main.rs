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
        /// Print the run's log, one event a line stamped with sim time (to stderr with --json).
        #[arg(long)]
        trace: bool,
        #[arg(long)]
        json: bool,
    },
    /// Run many seeds: one scenario or all, one protocol or all.
    Sweep {
        /// The scenario (default: every scenario).
        #[arg(long)]
        scenario: Option<String>,
        /// Every scenario (the default when --scenario is not given).
        #[arg(long)]
        all: bool,
        /// The protocol (default: every built-in protocol).
        #[arg(long)]
        protocol: Option<String>,
        /// Seeds A..B (half-open). Default 0..200 for one scenario, 0..20 for all.
        #[arg(long)]
        seeds: Option<String>,
        /// Only the seeds s with s % n == i: `--shard i/n` splits a range over a CI matrix.
        #[arg(long)]
        shard: Option<String>,
        /// random | swarm | pct | coverage. Default random.
        #[arg(long, default_value = "random")]
        strategy: String,
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
    /// Nightly exploration: rotate scenarios x protocols x strategies until the budget ends,
    /// saving each new failure signature once, shrunk.
    Explore {
        /// How long, e.g. 20s, 10m, 8h.
        #[arg(long)]
        budget: String,
        /// Where new failures are saved.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        scenario: Option<String>,
        #[arg(long)]
        protocol: Option<String>,
        /// One strategy only (default: rotate through all).
        #[arg(long)]
        strategy: Option<String>,
        /// The first seed of every (scenario, protocol, strategy) rotation. Default 0.
        #[arg(long, default_value_t = 0)]
        start: u64,
        #[arg(long)]
        jobs: Option<usize>,
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
        /// Keep this invariant failing (default: the file's expected invariant).
        #[arg(long)]
        invariant: Option<String>,
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
    /// Measure DESIGN.md's performance targets in this process (release build; about 2 minutes).
    Bench {
        /// Smaller counts: a smoke test of every section in seconds.
        #[arg(long)]
        quick: bool,
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
#[derive(Debug)]
struct BadInput(String);

impl From<InputError> for BadInput {
    fn from(e: InputError) -> Self {
        BadInput(e.0)
    }
}

fn main() -> ExitCode {
    // Like any Unix filter, stop quietly when the reader goes away (`tiersim run --trace | head`)
    // instead of panicking on a broken pipe.
    // SAFETY: resetting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
        Command::Run { scenario, protocol, seed, require, save, history, trace, json } => {
            let (s, p, req) = resolve(&scenario, &protocol, &require)?;
            if let Some(dir) = &save {
                prepare_dir(dir)?;
            }
            let o = run_seed(&*s, p.clone(), seed, &req);
            if trace {
                for line in tiersim_scenarios::report::trace_lines(&o, &s.config()) {
                    if json {
                        eprintln!("{line}");
                    } else {
                        println!("{line}");
                    }
                }
            }
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
        Command::Sweep { scenario, all, protocol, seeds, shard, strategy, jobs, require, save, json } => {
            if all && scenario.is_some() {
                return Err(BadInput("--all and --scenario exclude each other".into()));
            }
            let pairs = pairs(scenario.as_deref(), protocol.as_deref())?;
            let default_seeds = if scenario.is_some() { "0..200" } else { "0..20" };
            let (a, b) = parse_range(seeds.as_deref().unwrap_or(default_seeds))?;
            let spec = tiersim_scenarios::sweep::SweepSpec {
                pairs,
                seeds: a..b,
                shard: parse_shard(shard.as_deref())?,
                jobs: parse_jobs(jobs)?,
                strategy: parse_strategy(&strategy)?,
                require: parse_require(&require)?,
            };
            if let Some(dir) = &save {
                prepare_dir(dir)?;
            }
            sweep(&spec, save.as_deref(), json)
        }
        Command::Explore { budget, out, scenario, protocol, strategy, start, jobs, json } => {
            let budget = parse_duration(&budget)?;
            let strategies = match strategy {
                Some(s) => vec![parse_strategy(&s)?],
                None => tiersim_scenarios::strategy::Strategy::ALL.to_vec(),
            };
            prepare_dir(&out)?;
            explore(
                pairs(scenario.as_deref(), protocol.as_deref())?,
                strategies,
                start,
                budget,
                parse_jobs(jobs)?,
                &out,
                json,
            )
        }
        Command::Replay { file, json } => replay(&file, json),
        Command::Bench { quick, json } => {
            use tiersim_scenarios::bench::{run, BenchOptions};
            let progress = |line: &str| eprintln!("{line}");
            let shared_dir = BenchOptions::default_shared_dir();
            let report = run(&BenchOptions { shared_dir, quick, progress: Some(&progress) });
            if json {
                println!("{report}");
            } else {
                println!("{}", serde_json::to_string_pretty(&report).expect("the report serialises"));
            }
            Ok(0)
        }
        Command::Report { file, out, json } => report(&file, &out, json),
        Command::Shrink { file, out, max_runs, invariant, json } => {
            shrink(&file, &out, max_runs, invariant, json)
        }
        Command::Check { file, max_states, json } => check(&file, max_states, json),
    }
}

fn resolve(
    scenario: &str,
    protocol: &str,
    require: &[String],
) -> Result<(Arc<dyn Scenario>, Arc<dyn DynProtocol>, Vec<Invariant>), BadInput> {
    Ok((find_scenario(scenario)?, find_protocol(protocol)?, parse_require(require)?))
}

fn find_scenario(name: &str) -> Result<Arc<dyn Scenario>, BadInput> {
    tiersim_scenarios::by_name(name).ok_or_else(|| {
        let names: Vec<_> = tiersim_scenarios::all().iter().map(|s| s.name()).collect();
        BadInput(format!("unknown scenario {name:?} (known: {})", names.join(", ")))
    })
}

fn find_protocol(name: &str) -> Result<Arc<dyn DynProtocol>, BadInput> {
    tiersim_model::protocols::by_name(name).ok_or_else(|| {
        let names: Vec<_> = tiersim_model::protocols::builtin().iter().map(|p| p.name()).collect();
        BadInput(format!("unknown protocol {name:?} (known: {})", names.join(", ")))
    })
}

/// The (scenario, protocol) pairs a sweep or an exploration covers: one or all of each.
fn pairs(
    scenario: Option<&str>,
    protocol: Option<&str>,
) -> Result<Vec<(Arc<dyn Scenario>, Arc<dyn DynProtocol>)>, BadInput> {
    let scenarios = match scenario {
        Some(s) => vec![find_scenario(s)?],
        None => tiersim_scenarios::all(),
    };
    let protocols = match protocol {
        Some(p) => vec![find_protocol(p)?],
        None => tiersim_model::protocols::builtin(),
    };
    Ok(scenarios.iter().flat_map(|s| protocols.iter().map(move |p| (s.clone(), p.clone()))).collect())
}

fn parse_require(require: &[String]) -> Result<Vec<Invariant>, BadInput> {
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
    Ok(req)
}

fn parse_jobs(jobs: Option<usize>) -> Result<usize, BadInput> {
    match jobs {
        Some(0) => Err(BadInput("--jobs must be at least 1".into())),
        Some(j) => Ok(j),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

fn parse_shard(text: Option<&str>) -> Result<(u64, u64), BadInput> {
    let Some(text) = text else { return Ok((0, 1)) };
    let bad = || BadInput(format!("--shard {text:?}: expected i/n with 0 <= i < n, e.g. 0/4"));
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

fn parse_strategy(name: &str) -> Result<tiersim_scenarios::strategy::Strategy, BadInput> {
    tiersim_scenarios::strategy::Strategy::from_name(name).ok_or_else(|| {
        BadInput(format!("--strategy: unknown strategy {name:?} (known: random, swarm, pct, coverage)"))
    })
}

fn parse_duration(text: &str) -> Result<std::time::Duration, BadInput> {
    let bad = || BadInput(format!("--budget {text:?}: expected a duration such as 20s, 10m or 8h"));
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(bad()),
    };
    if secs == 0 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs(secs))
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

fn shrink(
    path: &Path,
    out: &Path,
    max_runs: usize,
    target: Option<String>,
    json: bool,
) -> Result<u8, BadInput> {
    let file: ReplayFile<CacheOp> = ReplayFile::load(path)?;
    let name = path.display();
    if file.expected.verdict != "fail" {
        return Err(BadInput(format!("{name}: nothing to shrink: its verdict is {}", file.expected.verdict)));
    }
    if let Some(t) = &target {
        parse_require(std::slice::from_ref(t))?;
    }
    let Some(invariant) = target.or_else(|| file.expected.invariant.clone()) else {
        return Err(BadInput(format!("{name}: nothing to shrink: no invariant failed")));
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

/// A progress bar on a terminal (stderr), nothing otherwise.
fn progress(len: u64, json: bool, what: &str) -> Option<indicatif::ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} · {{per_sec}} · eta {{eta}} · {{msg}}");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).unwrap());
    Some(bar)
}

fn sweep(
    spec: &tiersim_scenarios::sweep::SweepSpec,
    save: Option<&Path>,
    json: bool,
) -> Result<u8, BadInput> {
    use tiersim_model::protocols::zoo;
    let started = std::time::Instant::now();
    let seeds = tiersim_scenarios::sweep::shard_seeds(spec).len() as u64;
    let bar = progress(seeds * spec.pairs.len() as u64, json, "runs");
    let failing = AtomicU64::new(0);
    let save_error: Mutex<Option<BadInput>> = Mutex::new(None);
    let results = tiersim_scenarios::sweep::run(spec, &|r, o, schedule| {
        if r.verdict != Verdict::Pass {
            failing.fetch_add(1, Ordering::Relaxed);
            if let Some(dir) = save {
                let s = find_scenario(r.scenario).expect("swept scenarios exist");
                let p = spec.pairs.iter().find(|(_, p)| p.name() == r.protocol).unwrap().1.clone();
                if let Err(e) = save_replay(dir, &*s, &*p, o, schedule) {
                    *save_error.lock().unwrap() = Some(e);
                }
            }
        }
        if let Some(bar) = &bar {
            bar.set_message(format!("{} failing", failing.load(Ordering::Relaxed)));
            bar.inc(1);
        }
    });
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
    // One row per pair, in the order swept.
    let mut rows: Vec<(&str, String, usize, Vec<&tiersim_scenarios::sweep::SeedResult>)> = Vec::new();
    for r in &results {
        match rows.last_mut() {
            Some(row) if row.0 == r.scenario && row.1 == r.protocol => row.2 += 1,
            _ => rows.push((r.scenario, r.protocol.clone(), 1, Vec::new())),
        }
        if r.verdict != Verdict::Pass {
            rows.last_mut().unwrap().3.push(r);
        }
    }
    let caught = |scenario: &str, protocol: &str, fails: &[&tiersim_scenarios::sweep::SeedResult]| {
        zoo::entry(protocol).filter(|e| e.scenario == scenario).map(|e| {
            fails.iter().any(|f| {
                f.invariants.iter().any(|i| i == e.invariant.name())
                    || f.invariant.as_deref() == Some(e.invariant.name())
            })
        })
    };
    if json {
        let fail_json = |f: &tiersim_scenarios::sweep::SeedResult| {
            json!({"scenario": f.scenario, "protocol": f.protocol, "seed": f.seed, "verdict": f.verdict.name(),
                   "invariant": f.invariant, "invariants": f.invariants})
        };
        let rows_json: Vec<_> = rows
            .iter()
            .map(|(s, p, n, fails)| {
                json!({"scenario": s, "protocol": p, "seeds_run": n, "failures": fails.len(),
                       "first_failure": fails.first().map(|f| fail_json(f)), "zoo_caught": caught(s, p, fails)})
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
                "wall_ms": wall_ms, "seeds_per_sec": results.len() as f64 / secs, "ops_per_sec": ops as f64 / secs,
            })
        );
    } else {
        println!("{:<24} {:<26} {:>6} {:>8}  first failure", "scenario", "protocol", "seeds", "failing");
        for (s, p, n, fails) in &rows {
            let first = fails.first().map_or("-".to_string(), |f| {
                format!("seed {} ({})", f.seed, f.invariant.clone().unwrap_or_default())
            });
            let note = match caught(s, p, fails) {
                Some(true) => "  [zoo: caught]",
                Some(false) => "  [zoo: NOT caught]",
                None => "",
            };
            println!("{s:<24} {p:<26} {n:>6} {:>8}  {first}{note}", fails.len());
        }
        println!(
            "{} runs in {wall_ms} ms · {:.1} runs/s · {:.0} ops/s · strategy {} · shard {}/{} · {} jobs",
            results.len(),
            results.len() as f64 / secs,
            ops as f64 / secs,
            spec.strategy.name(),
            spec.shard.0,
            spec.shard.1,
            spec.jobs
        );
        if let Some(f) = failures.first() {
            println!("reproduce: {}", reproduce_command(f.scenario, &f.protocol, f.seed));
        }
    }
    Ok(if failures.is_empty() { 0 } else { 1 })
}

fn explore(
    pairs: Vec<(Arc<dyn Scenario>, Arc<dyn DynProtocol>)>,
    strategies: Vec<tiersim_scenarios::strategy::Strategy>,
    start: u64,
    budget: std::time::Duration,
    jobs: usize,
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
        let spec = tiersim_scenarios::sweep::SweepSpec {
            pairs: vec![pairs[pair].clone()],
            seeds: from..from + BATCH,
            shard: (0, 1),
            jobs,
            strategy: strategies[strat],
            require: Vec::new(),
        };
        let found: Mutex<Vec<(Outcome, tiersim_sim::schedule::Schedule<CacheOp>)>> = Mutex::new(Vec::new());
        let results = tiersim_scenarios::sweep::run(&spec, &|r, o, schedule| {
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
                tiersim_scenarios::shrink_failure(&config, p.clone(), o.seed, &schedule, &invariant, 60)
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
fn shape(schedule: &tiersim_sim::schedule::Schedule<CacheOp>) -> String {
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
