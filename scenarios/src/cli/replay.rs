//! `tiersim replay FILE`: re-run a replay file and say whether it reproduced (`exact`, `verdict`
//! or `lost`).

use super::output::*;
use crate::registry::Registry;
use serde_json::json;
use std::path::{Path, PathBuf};
use tiersim_sim::replay::hash_hex;

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The replay file to re-run.
    pub file: PathBuf,
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl ReplayArgs {
    pub fn execute(self, reg: &Registry) -> Result<u8, BadInput> {
        replay(reg, &self.file, self.json)
    }
}

pub(crate) fn replay(reg: &Registry, path: &Path, json: bool) -> Result<u8, BadInput> {
    let super::validate::Loaded { file, scenario: s, protocol: p, config } =
        super::validate::load(reg, path)?;
    let name = path.display();
    let o = crate::run::run_in(&config, p.clone(), file.seed, &file.schedule, &[]);
    // The file, not (scenario, protocol, seed), is what reproduces this run: a shrunk file's
    // schedule is not the one its seed draws.
    let reproduce = format!("cargo tiersim replay {name}");
    let reproduced = if hash_hex(o.trace_hash) == file.trace_hash {
        "exact"
    } else if o.verdict.name() == file.expected.verdict && o.invariant() == file.expected.invariant {
        "verdict"
    } else {
        "lost"
    };
    if json {
        let mut j = outcome_json(reg, &*s, &p, &o);
        j["reproduce"] = json!(reproduce);
        j["reproduced"] = json!(reproduced);
        j["expected"] = json!({"verdict": file.expected.verdict, "invariant": file.expected.invariant, "trace_hash": file.trace_hash});
        println!("{j}");
    } else {
        println!("replaying {name}: {}", file.summary);
        print_run(&*s, &p, &o, &config, &file.schedule, &reproduce);
        println!("reproduced: {reproduced}");
    }
    Ok(if reproduced == "lost" { 1 } else { 0 })
}
