//! `tiersim run`: one seed of one scenario against one protocol, judged; optionally its
//! trace, its history and its replay file.

use super::args::*;
use super::output::*;
use crate::registry::Registry;
use crate::run::{reproduce_command_with, run_schedule};
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The scenario to run (`tiersim list` shows them).
    #[arg(long)]
    pub scenario: String,
    /// The protocol under test (`tiersim list` shows them).
    #[arg(long)]
    pub protocol: String,
    /// The run's seed: it derives the schedule, the faults and every random knob.
    #[arg(long)]
    pub seed: u64,
    /// How the seed becomes a schedule (a sweep's failing seed is reproduced with the sweep's
    /// strategy; coverage seeds are reproduced from their replay file).
    #[arg(long, value_enum, default_value_t = StrategyArg::Random)]
    pub strategy: StrategyArg,
    /// Check this invariant too, beyond the protocol's claims (repeatable; `tiersim list` names them).
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
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    pub fn execute(self, reg: &Registry) -> Result<u8, BadInput> {
        let RunArgs { scenario, protocol, seed, strategy, require, save, history, trace, json } = self;
        let (s, p, req) = resolve(reg, &scenario, &protocol, &require)?;
        let strategy: crate::explore::strategy::Strategy = strategy.into();
        let Some(reproduce) =
            reproduce_command_with(&reg.command_line(), s.name(), &p.name(), seed, strategy)
        else {
            return Err(BadInput(
                "--strategy coverage: a coverage schedule depends on the seeds before it; run `sweep --strategy coverage --save DIR` and `replay` the saved file".into(),
            ));
        };
        // Every output is checked before the run, and the save directory is created only after
        // the history is written: a bad path leaves nothing behind.
        if let Some(dir) = &save {
            super::validate::output_dir(dir)?;
        }
        if let Some(path) = &history {
            super::validate::output_file(path)?;
        }
        let schedule = s.schedule_with(seed, strategy);
        let o = run_schedule(&*s, p.clone(), seed, &schedule, &req);
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
                Some(save_replay(dir, &*s, &p, &o, &schedule, strategy)?)
            }
            None => None,
        };
        if json {
            let mut j = outcome_json(reg, &*s, &p, &o);
            j["reproduce"] = json!(reproduce);
            j["saved"] = json!(saved.map(|p| p.display().to_string()));
            println!("{j}");
        } else {
            print_run(&*s, &p, &o, &s.config(), &schedule, &reproduce);
            if let Some(path) = saved {
                println!("saved: {}", path.display());
            }
        }
        Ok(exit_for(o.verdict))
    }
}
