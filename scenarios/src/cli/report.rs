//! `tiersim report FILE -o OUT.html`: one run as a self-contained HTML timeline.

use super::output::*;
use crate::registry::Registry;
use serde_json::json;
use std::path::{Path, PathBuf};
use tiersim_sim::replay::hash_hex;

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The replay file to render.
    pub file: PathBuf,
    /// Where to write the HTML page (one self-contained file).
    #[arg(short = 'o', long = "out")]
    pub out: PathBuf,
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl ReportArgs {
    pub fn execute(self, reg: &Registry) -> Result<u8, BadInput> {
        report(reg, &self.file, &self.out, self.json)
    }
}

pub(crate) fn report(reg: &Registry, path: &Path, out: &Path, json: bool) -> Result<u8, BadInput> {
    let super::validate::Loaded { file, protocol: p, config, .. } = super::validate::load(reg, path)?;
    super::validate::output_file(out)?;
    let name = path.display();
    let o = crate::run::run_in(&config, p.clone(), file.seed, &file.schedule, &[]);
    let title = format!("{} · {} · seed {}", file.scenario, file.protocol, file.seed);
    let claimed: Vec<_> = p.claims(&config).invariants.into_iter().collect();
    let html = crate::report::render_claiming(&title, &o, &config, &claimed);
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
