//! Shared helpers for tiersim's integration tests.

use std::sync::Arc;
use tiersim_model::protocol::DynProtocol;
use tiersim_scenarios::Scenario;

pub fn scenario(name: &str) -> Arc<dyn Scenario> {
    tiersim_scenarios::by_name(name).unwrap_or_else(|| panic!("no scenario {name}"))
}

pub fn protocol(name: &str) -> Arc<dyn DynProtocol> {
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
