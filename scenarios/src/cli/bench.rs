//! `tiersim bench`: DESIGN.md's performance figures, measured in this process.

use super::output::*;
use crate::registry::Registry;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Smaller counts: a smoke test of every section in seconds.
    #[arg(long)]
    pub quick: bool,
    /// Print the whole report as one JSON object on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
}

impl BenchArgs {
    pub fn execute(self, _: &Registry) -> Result<u8, BadInput> {
        let BenchArgs { quick, json } = self;
        use crate::bench::{run, BenchOptions};
        let progress = |line: &str| eprintln!("{line}");
        let shared_dir = BenchOptions::default_shared_dir();
        // Seeds per second are measured the way sweeps run: in worker processes of this binary.
        let workers = crate::explore::worker::WorkerCmd::current_exe().ok();
        let report = run(&BenchOptions { shared_dir, quick, progress: Some(&progress), workers });
        if json {
            println!("{report}");
        } else {
            println!("{}", serde_json::to_string_pretty(&report).expect("the report serialises"));
        }
        Ok(0)
    }
}
