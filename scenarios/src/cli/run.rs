//! `tiersim run`: one seed of one scenario against one protocol, judged; optionally its
//! trace, its history and its replay file.

use super::args::*;
use super::output::*;
use crate::run::run_seed;
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RunArgs {
    #[arg(long)]
    pub scenario: String,
    #[arg(long)]
    pub protocol: String,
    #[arg(long)]
    pub seed: u64,
    /// Check this invariant too, beyond the protocol's claims (repeatable).
    #[arg(long = "require")]
    pub require: Vec<String>,
    /// Write the run's replay file into this directory (whatever the verdict).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Write the run's history (JSON lines) to this file.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Print the run's log, one event a line stamped with sim time (to stderr with --json).
    #[arg(long)]
    pub trace: bool,
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    pub fn execute(self) -> Result<u8, BadInput> {
        let RunArgs { scenario, protocol, seed, require, save, history, trace, json } = self;
        let (s, p, req) = resolve(&scenario, &protocol, &require)?;
        // Every output is checked before the run, and the save directory is created only after
        // the history is written: a bad path leaves nothing behind.
        if let Some(dir) = &save {
            super::validate::output_dir(dir)?;
        }
        if let Some(path) = &history {
            super::validate::output_file(path)?;
        }
        let o = run_seed(&*s, p.clone(), seed, &req);
        if trace {
            for line in crate::report::trace_lines(&o, &s.config()) {
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
            Some(dir) => {
                prepare_dir(dir)?;
                Some(save_replay(dir, &*s, &*p, &o, &s.schedule(seed))?)
            }
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
}
