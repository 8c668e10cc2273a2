//! `tiersim replay FILE`: re-run a replay file and say whether it reproduced (`exact`, `verdict`
//! or `lost`).

use super::output::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use tiersim_sim::replay::hash_hex;

#[derive(clap::Args)]
pub struct ReplayArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

impl ReplayArgs {
    pub fn execute(self) -> Result<u8, BadInput> {
        replay(&self.file, self.json)
    }
}

pub(crate) fn replay(path: &Path, json: bool) -> Result<u8, BadInput> {
    let file = crate::run::load_replay(path)?;
    let name = path.display();
    let s = crate::registry::current()
        .scenario(&file.scenario)
        .ok_or_else(|| BadInput(format!("{name}: unknown scenario {:?}", file.scenario)))?;
    let p = crate::registry::current()
        .protocol(&file.protocol)
        .ok_or_else(|| BadInput(format!("{name}: unknown protocol {:?}", file.protocol)))?;
    let config = crate::run::config_from_json(&file.config).map_err(|e| BadInput(format!("{name}: {e}")))?;
    let o = crate::run::run_in(&config, p.clone(), file.seed, &file.schedule, &[]);
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
