//! `tiersim check HISTORY...`: linearizability, a witness and the smallest Δ of histories
//! recorded elsewhere. The work is `tiersim_sim::check::command::check_paths`; this file only
//! turns flags into its options and prints its answer.

use super::output::*;
use crate::registry::Registry;
use std::path::PathBuf;
use std::time::Duration;
use tiersim_sim::check::command::{check_paths, CheckOptions};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// History files (JSON lines or Jepsen EDN) or directories of them (*.jsonl, *.edn).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Search states per stretch of a key before the answer is `unknown`.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_states: u64,
    /// Wall-clock limit for the whole call (e.g. 500ms, 10s, 2m); undecided keys are `unknown`,
    /// with how far their search got.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Files checked at a time (for one file: keys at a time).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl CheckArgs {
    pub fn execute(self, _: &Registry) -> Result<u8, BadInput> {
        let timeout = self.timeout.as_deref().map(parse_timeout).transpose()?;
        if self.jobs == 0 {
            return Err(BadInput("--jobs must be at least 1".into()));
        }
        let opts =
            CheckOptions { max_states: self.max_states, timeout, jobs: self.jobs, ..CheckOptions::default() };
        let out = check_paths(&self.files, &opts).map_err(BadInput)?;
        if self.json {
            println!("{}", out.json);
        } else {
            print!("{}", out.text);
        }
        Ok(out.exit_code)
    }
}

/// `--timeout`: a duration in humantime's grammar, as `--budget` reads it (500ms, 10s, 2m,
/// 1m 30s), more than zero.
fn parse_timeout(text: &str) -> Result<Duration, BadInput> {
    let bad = || BadInput(format!("--timeout {text:?}: expected a duration such as 500ms, 10s or 2m"));
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad()),
    }
}
