//! The `tiersim` command line, one file per command over two small shared modules: `args`
//! (how every command reads names, ranges and durations) and `output` (what every command prints
//! and writes). Every command takes `--json` and then prints exactly one JSON object on stdout;
//! logs and progress go to stderr. Exit codes: 0 pass / clean / reproduced, 1 violation /
//! failures / not reproduced, 2 bad input (with a one-line message naming it).

mod args;
mod bench;
mod check;
mod compare;
mod expect;
mod explore;
mod junit;
mod list;
mod output;
mod replay;
mod report;
mod run;
mod shrink;
mod sweep;
mod validate;

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
    /// Run many seeds: one scenario or all, one protocol or all. With neither --scenario nor
    /// --protocol it sweeps everything and says per protocol what was expected (zoo entries and
    /// cache-aside caught by their invariant in their scenario, correct protocols clean) and
    /// whether it happened; it then exits 1 only for what was not expected (with default seeds,
    /// exposing pairs not yet caught run on to seed 200). A narrower sweep exits 1 on any failure.
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
    /// Measure tiersim's speed: seeds and operations per second, parallel efficiency, memory
    /// and the checkers (release build; about 2 minutes; BENCHMARKS.md records the figures).
    /// The checker section reads the Jepsen histories in $TIERSIM_SHARED/peer-histories.
    Bench(bench::BenchArgs),
    /// Re-run a replay file and say whether it reproduced.
    Replay(replay::ReplayArgs),
    /// Protocols side by side on the same seeds of a scenario (or --all): consistency nines,
    /// p99 latencies, hit ratios, database reads per read, messages per op and the invariants
    /// that failed, as a table, JSON, or an HTML page with a plot (--html OUT). Exits 1 when any
    /// run failed.
    Compare(compare::CompareArgs),
}

/// The shipped `tiersim` binary: every built-in scenario and protocol.
pub fn main() -> ExitCode {
    main_with(Registry::builtin())
}

/// A `tiersim` command line over `registry`'s protocols and scenarios: parse the arguments, run
/// the command, and turn its result into the process's exit code (a bad input prints one line
/// and exits 2). A team's own binary is this call with its protocols registered.
pub fn main_with(registry: Registry) -> ExitCode {
    // A sweep re-executes this binary as a worker: answer its jobs, with this same registry.
    if std::env::args().nth(1).as_deref() == Some(crate::explore::worker::WORKER_ARG) {
        return crate::explore::worker::serve(&registry);
    }
    // Like any Unix filter, stop quietly when the reader goes away (`tiersim run --trace | head`)
    // instead of panicking on a broken pipe.
    // SAFETY: resetting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = match parse(&registry) {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                // `tiersim` alone is a usage error, not success.
                use clap::CommandFactory;
                let commands: Vec<String> =
                    Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
                eprintln!(
                    "tiersim: no command given; usage: tiersim <COMMAND> (commands: {}; see tiersim --help)",
                    commands.join(", ")
                );
                return ExitCode::from(2);
            }
            let text = e.render().to_string();
            let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
            let mut first = lines.next().unwrap_or("bad arguments").trim_start_matches("error: ").to_string();
            // "the following required arguments were not provided:" names them on the next lines.
            if first.ends_with(':') {
                let named: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
                first = format!("{first} {}", named.join(", "));
            }
            eprintln!("tiersim: {first} (see tiersim --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::List(a) => a.execute(&registry),
        Command::Run(a) => a.execute(&registry),
        Command::Sweep(a) => a.execute(&registry),
        Command::Explore(a) => a.execute(&registry),
        Command::Check(a) => a.execute(&registry),
        Command::Shrink(a) => a.execute(&registry),
        Command::Report(a) => a.execute(&registry),
        Command::Bench(a) => a.execute(&registry),
        Command::Replay(a) => a.execute(&registry),
        Command::Compare(a) => a.execute(&registry),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(BadInput(msg)) => {
            eprintln!("tiersim: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Parse the arguments with `--help` naming this binary's scenarios and protocols: the registry
/// decides them, so the choices are added to the help text here (the names themselves are
/// checked by `args`, which names the choices when it refuses one).
fn parse(registry: &Registry) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let scenarios: Vec<&str> = registry.scenarios().iter().map(|s| s.name()).collect();
    let protocols: Vec<String> = registry.protocols().iter().map(|p| p.name()).collect();
    let scenario_help = format!("One of: {}", scenarios.join(", "));
    let protocol_help = format!("One of: {}", protocols.join(", "));
    let mut command = Cli::command();
    for sub in ["run", "sweep", "explore", "compare"] {
        command = command.mut_subcommand(sub, |c| {
            c.mut_arg("scenario", |a| {
                let short = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                a.long_help(format!("{short}\n{scenario_help}"))
            })
            .mut_arg("protocol", |a| {
                let short = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                a.long_help(format!("{short}\n{protocol_help}"))
            })
        });
    }
    let matches = command.try_get_matches()?;
    Cli::from_arg_matches(&matches)
}
