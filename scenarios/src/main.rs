//! The shipped `tiersim` binary: the command line of `tiersim_scenarios::cli`.

fn main() -> std::process::ExitCode {
    tiersim_scenarios::cli::main()
}
