//! Named scenarios and everything that runs them: the catalog of scenarios and the workloads
//! that generate their schedules (`scenario`), one run judged (`run`), shrinking (`shrink`),
//! sweeps, strategies and exploration (`explore`), the cargo-test API (`harness`), the HTML
//! timeline (`report`), the performance figures (`bench`) and the `tiersim` command line
//! (`cli`). Dependencies run one way: `cli` over everything, `explore` and `harness` over `run`,
//! `run` over `scenario`.

pub mod bench;
pub mod cli;
pub mod explore;
pub mod harness;
pub mod registry;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shrink;

pub use harness::Sweep;
pub use registry::Registry;
pub use run::{
    config_from_json, config_json, load_replay, parse_replay, reproduce_command, reproduce_command_with,
    run_in, run_schedule, run_seed,
};
pub use scenario::catalog::{self, all, by_name};
pub use scenario::Scenario;
pub use shrink::shrink_failure;
