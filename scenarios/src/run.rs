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

/// The system configuration stored in a replay file (see `config_json`), every value checked
/// (`SystemConfig::validate`). The error names the field by its path in the file
/// (`config.system.l1_capacity is 0; allowed 1..=1000000`).
pub fn config_from_json(value: &serde_json::Value) -> Result<SystemConfig, String> {
    #[derive(serde::Deserialize)]
    #[serde(rename = "config")]
    struct Stored {
        system: SystemConfig,
    }
    let stored: Stored = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            format!("config: {inner}")
        } else {
            format!("config.{path}: {inner}")
        }
    })?;
    stored.system.validate().map_err(|e| format!("config.system.{e}"))?;
    Ok(stored.system)
}

/// Read a replay file and validate every value in it (`parse_replay`). The error is one line
/// naming the file and the field.
pub fn load_replay(path: &std::path::Path) -> Result<ReplayFile<CacheOp>, InputError> {
    let text = tiersim_sim::files::read_capped(path, tiersim_sim::replay::MAX_REPLAY_BYTES, "replay file")?;
    parse_replay(&text).map_err(|e| InputError(format!("{}: {e}", path.display())))
}

/// Parse replay-file text and validate every value before anything runs: the format
/// (`ReplayFile::parse`), the configuration (`config_from_json`), the schedule against that
/// configuration (`SystemConfig::validate_schedule`) and the expected outcome. Renamed scenario
/// and protocol names are brought up to date so that files written before a rename keep
/// replaying (whether the names exist is the command's to check: it knows its registry).
pub fn parse_replay(text: &str) -> Result<ReplayFile<CacheOp>, String> {
    let mut file: ReplayFile<CacheOp> = ReplayFile::parse(text)?;
    file.scenario = crate::scenario::catalog::current_name(&file.scenario).to_string();
    file.protocol = tiersim_model::protocols::current_name(&file.protocol).to_string();
    for (field, v) in [("scenario", &file.scenario), ("protocol", &file.protocol)] {
        if v.trim().is_empty() {
            return Err(format!("{field} is empty; allowed: a {field} name (tiersim list shows them)"));
        }
    }
    let config = config_from_json(&file.config)?;
    config.validate_schedule(&file.schedule)?;
    validate_expected(&file.expected)?;
    Ok(file)
}

/// `expected.verdict` is one of the four verdicts; `expected.invariant` is an invariant's name
/// (or `crash`), and null exactly when the verdict is `pass`.
fn validate_expected(expected: &tiersim_sim::replay::Expected) -> Result<(), String> {
    use tiersim_model::outcome::Verdict;
    let verdicts = [Verdict::Pass, Verdict::Fail, Verdict::Crash, Verdict::Liveness];
    let Some(verdict) = verdicts.into_iter().find(|v| v.name() == expected.verdict) else {
        return Err(format!(
            "expected.verdict is {:?}; allowed: pass, fail, crash, liveness",
            expected.verdict
        ));
    };
    match (&expected.invariant, verdict) {
        (None, Verdict::Pass) => Ok(()),
        (Some(i), Verdict::Pass) => {
            Err(format!("expected.invariant is {i:?} but expected.verdict is pass; allowed: null"))
        }
        (None, _) => Err(format!(
            "expected.invariant is null but expected.verdict is {}; allowed: the invariant that failed",
            expected.verdict
        )),
        (Some(i), _) if i == "crash" || Invariant::from_name(i).is_some() => Ok(()),
        (Some(i), _) => {
            let names: Vec<_> = Invariant::ALL.iter().map(|i| i.name()).collect();
            Err(format!("expected.invariant {i:?} is unknown; allowed: {}, crash", names.join(", ")))
        }
    }
}

/// The command that reproduces a seed (of the `random` strategy).
pub fn reproduce_command(scenario: &str, protocol: &str, seed: u64) -> String {
    format!("cargo tiersim run --scenario {scenario} --protocol {protocol} --seed {seed}")
}

/// The command that reproduces a seed drawn under `strategy`, or `None` for `coverage`, whose
/// schedules depend on the seeds before them: those are reproduced from their replay file.
pub fn reproduce_command_with(
    command: &str,
    scenario: &str,
    protocol: &str,
    seed: u64,
    strategy: crate::explore::strategy::Strategy,
) -> Option<String> {
    use crate::explore::strategy::Strategy;
    match strategy {
        Strategy::Random => {
            Some(format!("{command} run --scenario {scenario} --protocol {protocol} --seed {seed}"))
        }
        s if s.sequential() => None,
        s => Some(format!(
            "{command} run --scenario {scenario} --protocol {protocol} --seed {seed} --strategy {}",
            s.name()
        )),
    }
}

/// The name a saved replay file gets: scenario, protocol, the strategy unless it is `random`,
/// and the seed.
pub fn replay_file_name(
    scenario: &str,
    protocol: &str,
    seed: u64,
    strategy: crate::explore::strategy::Strategy,
) -> String {
    match strategy {
        crate::explore::strategy::Strategy::Random => format!("{scenario}--{protocol}--{seed}.json"),
        s => format!("{scenario}--{protocol}--{}--{seed}.json", s.name()),
    }
}

/// A scenario's configuration as replay files store it.
pub fn config_json(scenario: &dyn Scenario) -> serde_json::Value {
    #[derive(Serialize)]
    struct C {
        system: SystemConfig,
    }
    serde_json::to_value(C { system: scenario.config() }).expect("configs serialise")
}
