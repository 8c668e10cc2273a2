//! Running a scenario: one seed, an explicit schedule, or a replay file's system, each judged;
//! and the two forms a run takes outside the process — a configuration as replay files store it,
//! and the command that reproduces a seed.

use crate::scenario::Scenario;
use serde::Serialize;
use tiersim_model::node::config::{CacheOp, SystemConfig};
use tiersim_model::outcome::{run_and_judge, Outcome};
use tiersim_model::protocol::{Invariant, ProtocolFactory};
use tiersim_sim::replay::{InputError, ReplayFile};
use tiersim_sim::schedule::Schedule;

/// Run seed `seed` of `scenario` against `protocol`.
pub fn run_seed(
    scenario: &dyn Scenario,
    protocol: ProtocolFactory,
    seed: u64,
    require: &[Invariant],
) -> Outcome {
    let schedule = scenario.schedule(seed);
    run_schedule(scenario, protocol, seed, &schedule, require)
}

/// Run an explicit schedule (a shrunk one) in the scenario's system.
pub fn run_schedule(
    scenario: &dyn Scenario,
    protocol: ProtocolFactory,
    seed: u64,
    schedule: &Schedule<CacheOp>,
    require: &[Invariant],
) -> Outcome {
    run_in(&scenario.config(), protocol, seed, schedule, require)
}

/// Run an explicit schedule in an explicit system (a replay file's).
pub fn run_in(
    config: &SystemConfig,
    protocol: ProtocolFactory,
    seed: u64,
    schedule: &Schedule<CacheOp>,
    require: &[Invariant],
) -> Outcome {
    let started = std::time::Instant::now();
    let mut outcome = run_and_judge(seed, config, schedule, protocol, require);
    outcome.wall_ms = started.elapsed().as_millis() as u64;
    outcome
}

/// The system configuration stored in a replay file (see `config_json`).
pub fn config_from_json(value: &serde_json::Value) -> Result<SystemConfig, String> {
    #[derive(serde::Deserialize)]
    struct C {
        system: SystemConfig,
    }
    serde_json::from_value::<C>(value.clone()).map(|c| c.system).map_err(|e| format!("config: {e}"))
}

/// Read a replay file, bringing renamed scenario and protocol names up to date so that files
/// written before a rename keep replaying (the names are labels: the run itself comes from the
/// file's configuration, seed and schedule).
pub fn load_replay(path: &std::path::Path) -> Result<ReplayFile<CacheOp>, InputError> {
    let mut file: ReplayFile<CacheOp> = ReplayFile::load(path)?;
    file.scenario = crate::scenario::catalog::current_name(&file.scenario).to_string();
    file.protocol = tiersim_model::protocols::current_name(&file.protocol).to_string();
    Ok(file)
}

/// The command that reproduces a seed.
pub fn reproduce_command(scenario: &str, protocol: &str, seed: u64) -> String {
    format!("cargo tiersim run --scenario {scenario} --protocol {protocol} --seed {seed}")
}

/// A scenario's configuration as replay files store it.
pub fn config_json(scenario: &dyn Scenario) -> serde_json::Value {
    #[derive(Serialize)]
    struct C {
        system: SystemConfig,
    }
    serde_json::to_value(C { system: scenario.config() }).expect("configs serialise")
}
