//! Named scenarios (topology + workload + faults) and the runner the CLI and tests share.

pub mod catalog;
pub mod report;
pub mod workload;

use serde::Serialize;
use std::sync::Arc;
use tiersim_model::outcome::{run_and_judge, Outcome};
use tiersim_model::protocol::{DynProtocol, Invariant};
use tiersim_model::system::{CacheOp, SystemConfig};
use tiersim_sim::schedule::Schedule;

/// A named scenario: a system configuration and a schedule generator.
pub trait Scenario: Send + Sync {
    fn name(&self) -> &'static str;
    fn description(&self) -> &'static str;
    /// The system this scenario runs (topology, TTLs, timeouts).
    fn config(&self) -> SystemConfig;
    /// The schedule of seed `seed`, drawn from the seed's own workload and fault streams.
    fn schedule(&self, seed: u64) -> Schedule<CacheOp>;
}

/// Every scenario, in the order `tiersim list` shows them.
pub fn all() -> Vec<Arc<dyn Scenario>> {
    use catalog::*;
    vec![
        Arc::new(stale_set()),
        Arc::new(slow_fills()),
        Arc::new(cascade_invalidation()),
        Arc::new(lossy_fanout()),
        Arc::new(evict_pressure()),
        Arc::new(warming()),
        Arc::new(tag_invalidation()),
        Arc::new(clock_skew()),
        Arc::new(partitioned_hot_keys()),
        Arc::new(restarts()),
        Arc::new(refresh_ahead()),
    ]
}

pub fn by_name(name: &str) -> Option<Arc<dyn Scenario>> {
    all().into_iter().find(|s| s.name() == name)
}

/// Run seed `seed` of `scenario` against `protocol`.
pub fn run_seed(
    scenario: &dyn Scenario,
    protocol: Arc<dyn DynProtocol>,
    seed: u64,
    require: &[Invariant],
) -> Outcome {
    let schedule = scenario.schedule(seed);
    run_schedule(scenario, protocol, seed, &schedule, require)
}

/// Run an explicit schedule (a shrunk one) in the scenario's system.
pub fn run_schedule(
    scenario: &dyn Scenario,
    protocol: Arc<dyn DynProtocol>,
    seed: u64,
    schedule: &Schedule<CacheOp>,
    require: &[Invariant],
) -> Outcome {
    run_in(&scenario.config(), protocol, seed, schedule, require)
}

/// Run an explicit schedule in an explicit system (a replay file's).
pub fn run_in(
    config: &SystemConfig,
    protocol: Arc<dyn DynProtocol>,
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
    serde_json::from_value::<C>(value.clone())
        .map(|c| c.system)
        .map_err(|e| format!("config: {e}"))
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
    serde_json::to_value(C {
        system: scenario.config(),
    })
    .expect("configs serialise")
}
