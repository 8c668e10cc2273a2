//! `tiersim check HISTORY`: linearizability and the smallest Δ of a history recorded elsewhere.

use super::output::*;
use crate::registry::Registry;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct CheckArgs {
    pub file: PathBuf,
    /// Search states per key before the answer is `unknown`. Default 2,000,000.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_states: u64,
    #[arg(long)]
    pub json: bool,
}

impl CheckArgs {
    pub fn execute(self, _: &Registry) -> Result<u8, BadInput> {
        check(&self.file, self.max_states, self.json)
    }
}

pub(crate) fn check(path: &Path, max_states: u64, json: bool) -> Result<u8, BadInput> {
    use tiersim_sim::check::wgl::{check_ops, min_delta_ns, Budget, KeyVerdict};
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| BadInput(format!("{name}: cannot read: {e}")))?;
    let started = std::time::Instant::now();
    let ops = tiersim_sim::check::parse::parse_ops(&text).map_err(|e| BadInput(format!("{name}: {e}")))?;
    if max_states == 0 {
        return Err(BadInput("--max-states must be at least 1".into()));
    }
    if ops.is_empty() {
        return Err(BadInput(format!(
            "{name}: no operations; expected a history of JSON lines, one invoke or completion event each"
        )));
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
