//! What every command shares in what it prints and writes: the one-line error of a bad input
//! (exit 2), exit codes, an outcome as JSON and as text, replay files, atomic writes and the
//! progress bar.

use crate::registry::Registry;
use crate::run::config_json;
use crate::scenario::Scenario;
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::ProtocolFactory;
use tiersim_sim::replay::{hash_hex, Expected, InputError, ReplayFile, FORMAT_VERSION};
/// A failure of the command itself (exit 2), as one line.
#[derive(Debug)]
pub struct BadInput(pub String);

impl From<InputError> for BadInput {
    fn from(e: InputError) -> Self {
        BadInput(e.0)
    }
}

pub(crate) fn exit_for(v: Verdict) -> u8 {
    if v == Verdict::Pass {
        0
    } else {
        1
    }
}

pub(crate) fn outcome_json(
    reg: &Registry,
    s: &dyn Scenario,
    p: &ProtocolFactory,
    o: &Outcome,
) -> serde_json::Value {
    // The slo figures in ns; a distribution with no sample is null.
    let percentiles = |p: &Option<tiersim_model::check::cache::Percentiles>| {
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
        "unfinished": o.unfinished,
        "unchecked": o.unchecked.iter().map(|i| i.name()).collect::<Vec<_>>(),
        "latency_ns": {
            "invalidation": percentiles(&o.latency.invalidation),
            "cascade": percentiles(&o.latency.cascade),
            "warming": percentiles(&o.latency.warming),
            "convergence": percentiles(&o.figures.convergence),
        },
        "unconverged_commits": o.figures.unconverged,
        "cost": o.figures.cost.json(),
        "warming": {
            "batches": o.figures.warming.batches,
            "keys": o.figures.warming.keys,
            "warmed": o.figures.warming.warmed,
            "warmed_in_time": o.figures.warming.warmed_in_time,
            "success_ratio": o.figures.warming.success_ratio(),
            "latency_ns": percentiles(&o.latency.warming),
        },
        "consistency": o.figures.consistency.json(),
        "reproduce": reg.reproduce(s.name(), &p.name(), o.seed),
    })
}

/// An outcome as text, for a run of `schedule` in the system `cfg` (a replay file's, which need
/// not be what the scenario draws from the seed), ending with the command that reproduces it.
pub(crate) fn print_run(
    s: &dyn Scenario,
    p: &ProtocolFactory,
    o: &Outcome,
    cfg: &tiersim_model::node::config::SystemConfig,
    schedule: &tiersim_sim::schedule::Schedule<CacheOp>,
    reproduce: &str,
) {
    let t = &cfg.topology;
    println!(
        "seed {} · scenario {} · protocol {} · {}x{}x{} apps, {} Redis shard(s) · TTL L1/L2/L3/Redis {}/{}/{}/{} ms · {} ops, {} faults scheduled",
        o.seed, s.name(), p.name(), t.regions, t.hosts_per_region, t.processes_per_host, t.redis_shards,
        cfg.l1_ttl_ms, cfg.l2_ttl_ms, cfg.l3_ttl_ms, cfg.redis_ttl_ms, schedule.ops.len(), schedule.faults.len()
    );
    println!("claims: {}", p.claims(cfg).names().join(", "));
    if !o.unchecked.is_empty() {
        let names: Vec<&str> = o.unchecked.iter().map(|i| i.name()).collect();
        println!("not checked yet (no checker in this build): {}", names.join(", "));
    }
    println!("verdict: {}", o.verdict.name());
    // Why a crashed or stuck run stopped comes first: the partial history's violations follow.
    if let Some(a) = &o.abort {
        println!("stopped: {a}");
    }
    for v in o.violations.iter().take(5) {
        println!(
            "invariant `{}` violated at t={}: key {}",
            v.invariant,
            tiersim_model::check::secs(v.time_ns),
            v.key
        );
        println!("  {}", v.message);
    }
    if o.violations.len() > 5 {
        println!("... and {} more violations (--json lists all)", o.violations.len() - 5);
    }
    if let Some(line) = tiersim_model::check::unfinished::summary(&o.unfinished) {
        println!("{line}");
    }
    if o.verdict != Verdict::Pass {
        println!("reproduce: {reproduce}");
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

pub(crate) fn summary(s: &dyn Scenario, p: &ProtocolFactory, o: &Outcome) -> String {
    if let (Verdict::Crash | Verdict::Liveness, Some(abort)) = (o.verdict, &o.abort) {
        return format!("{} on {}/{} seed {}: {abort}", o.verdict.name(), s.name(), p.name(), o.seed);
    }
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

pub(crate) fn save_replay(
    dir: &Path,
    s: &dyn Scenario,
    p: &ProtocolFactory,
    o: &Outcome,
    schedule: &tiersim_sim::schedule::Schedule<CacheOp>,
    strategy: crate::explore::strategy::Strategy,
) -> Result<PathBuf, BadInput> {
    let path = dir.join(crate::run::replay_file_name(s.name(), &p.name(), o.seed, strategy));
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

/// Create an output directory; call `validate::output_dir` first, before anything runs.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), BadInput> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BadInput(format!("{}: cannot create directory: {e}", dir.display())))
}

/// Write a file through a temporary one and a rename: nothing half-written is left behind, and
/// a symlink is written through, never replaced (see `tiersim_sim::files`).
pub(crate) fn write_atomically(path: &Path, text: &str) -> Result<(), BadInput> {
    Ok(tiersim_sim::files::write_atomically(path, text)?)
}

/// A progress bar on a terminal (stderr), nothing otherwise.
pub(crate) fn progress(len: u64, json: bool, what: &str) -> Option<indicatif::ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} · {{per_sec}} · eta {{eta}} · {{msg}}");
    bar.set_style(indicatif::ProgressStyle::with_template(&template).unwrap());
    Some(bar)
}
