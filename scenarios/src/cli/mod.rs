//! The `tiersim` command line, one file per command over two small shared modules: `args`
//! (how every command reads names, ranges and durations) and `output` (what every command prints
//! and writes). Every command takes `--json` and then prints exactly one JSON object on stdout;
//! logs and progress go to stderr. Exit codes: 0 pass / clean / reproduced, 1 violation /
//! failures / not reproduced, 2 bad input (with a one-line message naming it).

mod args;
mod bench;
mod check;
mod explore;
mod list;
mod output;
mod replay;
mod report;
mod run;
mod shrink;
mod sweep;

use crate::explore::worker::WORKER_ARG;
use crate::registry::Registry;
use clap::{Parser, Subcommand};
use output::BadInput;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tiersim",
    version,
    about = "Deterministic simulation of multi-tier cache invalidation races"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List scenarios and protocols with their claimed guarantees.
    List(list::ListArgs),
    /// Run one seed and judge it.
    Run(run::RunArgs),
    /// Run many seeds: one scenario or all, one protocol or all.
    Sweep(sweep::SweepArgs),
    /// Nightly exploration: rotate scenarios x protocols x strategies until the budget ends,
    /// saving each new failure signature once, shrunk.
    Explore(explore::ExploreArgs),
    /// Check a recorded history (JSON lines) for linearizability and report its staleness.
    Check(check::CheckArgs),
    /// Shrink a failing replay file: remove operations and faults while the same invariant fails.
    Shrink(shrink::ShrinkArgs),
    /// Render a replay file's run as one self-contained HTML timeline.
    Report(report::ReportArgs),
    /// Measure DESIGN.md's performance targets in this process (release build; about 2 minutes).
    Bench(bench::BenchArgs),
    /// Re-run a replay file and say whether it reproduced.
    Replay(replay::ReplayArgs),
}

/// The shipped `tiersim` command line: the built-in scenarios and protocols.
pub fn main() -> ExitCode {
    main_with(Registry::builtin())
}

/// The `tiersim` command line over `registry`: a user's own binary is this call with their
/// protocols added, and every command (sweeps in worker processes included) knows them. Parse
/// the arguments, run the command, and turn its result into the process's exit code (a bad
/// input prints one line and exits 2).
pub fn main_with(registry: Registry) -> ExitCode {
    // A sweep re-executes this binary as a worker: answer its jobs, with this same registry.
    if std::env::args().nth(1).as_deref() == Some(WORKER_ARG) {
        return crate::explore::worker::serve(&registry);
    }
    crate::registry::install(registry);
    // Like any Unix filter, stop quietly when the reader goes away (`tiersim run --trace | head`)
    // instead of panicking on a broken pipe.
    // SAFETY: resetting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("bad arguments").trim_start_matches("error: ");
            eprintln!("tiersim: {first} (see tiersim --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::List(a) => a.execute(),
        Command::Run(a) => a.execute(),
        Command::Sweep(a) => a.execute(),
        Command::Explore(a) => a.execute(),
        Command::Check(a) => a.execute(),
        Command::Shrink(a) => a.execute(),
        Command::Report(a) => a.execute(),
        Command::Bench(a) => a.execute(),
        Command::Replay(a) => a.execute(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(BadInput(msg)) => {
            eprintln!("tiersim: {msg}");
            ExitCode::from(2)
        }
    }
}
