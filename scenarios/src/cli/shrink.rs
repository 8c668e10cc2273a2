//! `tiersim shrink FILE -o OUT`: remove operations and faults while the same invariant fails.

use super::args::*;
use super::output::*;
use crate::registry::Registry;
use serde_json::json;
use std::path::{Path, PathBuf};
use tiersim_sim::replay::{hash_hex, Expected, ReplayFile};

#[derive(clap::Args)]
pub struct ShrinkArgs {
    /// The failing replay file to shrink.
    pub file: PathBuf,
    /// Where to write the shrunk replay file.
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Most candidate runs to try.
    #[arg(long, default_value_t = 2000)]
    pub max_runs: usize,
    /// Keep this invariant failing (default: the file's expected invariant).
    #[arg(long)]
    pub invariant: Option<String>,
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl ShrinkArgs {
    pub fn execute(self, reg: &Registry) -> Result<u8, BadInput> {
        shrink(reg, &self.file, &self.out, self.max_runs, self.invariant, self.json)
    }
}

pub(crate) fn shrink(
    reg: &Registry,
    path: &Path,
    out: &Path,
    max_runs: usize,
    target: Option<String>,
    json: bool,
) -> Result<u8, BadInput> {
    if max_runs == 0 {
        return Err(BadInput("--max-runs is 0; allowed: at least 1 candidate run".into()));
    }
    let super::validate::Loaded { file, protocol: p, config, .. } = super::validate::load(reg, path)?;
    let name = path.display();
    super::validate::output_file(out)?;
    if file.expected.verdict != "fail" {
        return Err(BadInput(format!("{name}: nothing to shrink: its verdict is {}", file.expected.verdict)));
    }
    if let Some(t) = &target {
        parse_require(std::slice::from_ref(t))?;
    }
    let Some(invariant) = target.or_else(|| file.expected.invariant.clone()) else {
        return Err(BadInput(format!("{name}: nothing to shrink: no invariant failed")));
    };
    let before = crate::run::run_in(&config, p.clone(), file.seed, &file.schedule, &[]);
    if !before.violations.iter().any(|v| v.invariant == invariant) {
        eprintln!("tiersim: {name} no longer fails {invariant}; nothing was shrunk");
        if json {
            println!(
                "{}",
                json!({"shrunk": false, "invariant": invariant, "verdict": before.verdict.name(),
                       "ops_before": file.schedule.ops.len(), "ops_after": null, "reason": "no longer fails"})
            );
        }
        return Ok(1);
    }
    let (schedule, seed, stats, o) =
        crate::shrink::shrink_failure(&config, p.clone(), file.seed, &file.schedule, &invariant, max_runs);
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
            println!("  t={} p{} {:?}", tiersim_model::check::secs(op.at_ns), op.process, op.op);
        }
        for f in &shrunk.schedule.faults {
            println!("  t={} fault {:?}", tiersim_model::check::secs(f.at_ns), f.fault);
        }
        println!("{} candidate runs · written to {}", stats.runs, out.display());
    }
    Ok(0)
}
