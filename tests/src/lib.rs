//! Shared helpers for tiersim's integration tests.

pub mod browser;

use std::sync::Arc;
use tiersim_model::protocol::ProtocolFactory;
use tiersim_scenarios::Scenario;

/// The directory beside the workspace that holds `peer-histories/`: `$TIERSIM_SHARED`, else
/// `<workspace>/../shared`.
pub fn shared_dir() -> std::path::PathBuf {
    match std::env::var_os("TIERSIM_SHARED") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

pub fn scenario(name: &str) -> Arc<dyn Scenario> {
    tiersim_scenarios::by_name(name).unwrap_or_else(|| panic!("no scenario {name}"))
}

pub fn protocol(name: &str) -> ProtocolFactory {
    tiersim_model::protocols::by_name(name).unwrap_or_else(|| panic!("no protocol {name}"))
}

/// The seeds a sweep test covers: `TIERSIM_SEED=S` runs that one seed, `TIERSIM_SEEDS=N` widens
/// the default range to 0..N.
pub fn seeds(default: u64) -> std::ops::Range<u64> {
    if let Ok(s) = std::env::var("TIERSIM_SEED") {
        let s: u64 = s.parse().expect("TIERSIM_SEED must be a whole number");
        return s..s + 1;
    }
    let n = std::env::var("TIERSIM_SEEDS")
        .ok()
        .map_or(default, |n| n.parse().expect("TIERSIM_SEEDS must be a whole number"));
    0..n
}

/// `protocol` passes `seeds` of every scenario, faults and all; a failure names the seed and the
/// command that reproduces it.
pub fn assert_passes_every_scenario(name: &str, seeds: std::ops::Range<u64>) {
    for s in tiersim_scenarios::all() {
        for seed in seeds.clone() {
            let o = tiersim_scenarios::run_seed(&*s, protocol(name), seed, &[]);
            assert_eq!(
                o.verdict,
                tiersim_model::outcome::Verdict::Pass,
                "{} seed {seed}: {:?} {:?}\nreproduce: {}",
                s.name(),
                o.violations.first(),
                o.abort,
                tiersim_scenarios::reproduce_command(s.name(), name, seed)
            );
            assert!(o.ops > 0, "{} seed {seed} ran no operation", s.name());
        }
    }
}
