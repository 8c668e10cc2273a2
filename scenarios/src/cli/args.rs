//! Arguments every command reads the same way: scenario and protocol names, invariants, seed
//! ranges, shards, strategies, job counts and durations. Each parser names the flag and what it
//! allows when it refuses.

use super::output::BadInput;
use crate::registry::Registry;
use crate::scenario::Scenario;
use std::sync::Arc;
use tiersim_model::protocol::{Invariant, ProtocolFactory};
pub(crate) fn resolve(
    reg: &Registry,
    scenario: &str,
    protocol: &str,
    require: &[String],
) -> Result<(Arc<dyn Scenario>, ProtocolFactory, Vec<Invariant>), BadInput> {
    Ok((find_scenario(reg, scenario)?, find_protocol(reg, protocol)?, parse_require(require)?))
}

pub(crate) fn find_scenario(reg: &Registry, name: &str) -> Result<Arc<dyn Scenario>, BadInput> {
    reg.find_scenario(name).ok_or_else(|| {
        let names: Vec<_> = reg.scenarios().iter().map(|s| s.name()).collect();
        BadInput(format!("unknown scenario {name:?} (known: {})", names.join(", ")))
    })
}

pub(crate) fn find_protocol(reg: &Registry, name: &str) -> Result<ProtocolFactory, BadInput> {
    reg.find_protocol(name).ok_or_else(|| {
        let names: Vec<_> = reg.protocols().iter().map(|p| p.name()).collect();
        BadInput(format!("unknown protocol {name:?} (known: {})", names.join(", ")))
    })
}

/// The (scenario, protocol) pairs a sweep or an exploration covers: one or all of each.
pub(crate) fn pairs(
    reg: &Registry,
    scenario: Option<&str>,
    protocol: Option<&str>,
) -> Result<Vec<(Arc<dyn Scenario>, ProtocolFactory)>, BadInput> {
    let scenarios = match scenario {
        Some(s) => vec![find_scenario(reg, s)?],
        None => reg.scenarios().to_vec(),
    };
    let protocols = match protocol {
        Some(p) => vec![find_protocol(reg, p)?],
        None => reg.protocols().to_vec(),
    };
    Ok(scenarios.iter().flat_map(|s| protocols.iter().map(move |p| (s.clone(), p.clone()))).collect())
}

pub(crate) fn parse_require(require: &[String]) -> Result<Vec<Invariant>, BadInput> {
    let mut req = Vec::new();
    for name in require {
        let inv = Invariant::from_name(name).ok_or_else(|| {
            let names: Vec<_> = Invariant::ALL.iter().map(|i| i.name()).collect();
            BadInput(format!("--require: unknown invariant {name:?} (known: {})", names.join(", ")))
        })?;
        if !inv.is_checked() {
            return Err(BadInput(format!("--require: invariant {name} has no checker in this build yet")));
        }
        req.push(inv);
    }
    Ok(req)
}

/// The most `--jobs` a sweep takes: each job is a worker process (or a thread) with a
/// simulation of its own, and past a few per core they only contend for memory.
pub(crate) const MAX_JOBS: usize = 256;

pub(crate) fn parse_jobs(jobs: Option<usize>) -> Result<usize, BadInput> {
    match jobs {
        Some(j) if j == 0 || j > MAX_JOBS => {
            Err(BadInput(format!("--jobs {j}: expected a whole number from 1 to {MAX_JOBS}")))
        }
        Some(j) => Ok(j),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

pub(crate) fn parse_shard(text: Option<&str>) -> Result<(u64, u64), BadInput> {
    let Some(text) = text else { return Ok((0, 1)) };
    let bad = || BadInput(format!("--shard {text:?}: expected i/n with 0 <= i < n, e.g. 0/4"));
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `--strategy`, as clap lists it in `--help` and checks it: each is an
/// [`explore::strategy::Strategy`](crate::explore::strategy::Strategy).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StrategyArg {
    /// The scenario's own mix of operations and faults, drawn from the seed.
    Random,
    /// Each seed also switches whole fault and operation kinds on or off.
    Swarm,
    /// Three change points where one link's messages are delivered far behind the others.
    Pct,
    /// Mutate schedules that reached a new interleaving of cache events (seeds depend on
    /// earlier seeds).
    Coverage,
    /// Re-run passing seeds with the near misses they contain pushed over the edge (seeds
    /// depend on earlier seeds).
    Race,
}

impl From<StrategyArg> for crate::explore::strategy::Strategy {
    fn from(s: StrategyArg) -> Self {
        use crate::explore::strategy::Strategy;
        match s {
            StrategyArg::Random => Strategy::Random,
            StrategyArg::Swarm => Strategy::Swarm,
            StrategyArg::Pct => Strategy::Pct,
            StrategyArg::Coverage => Strategy::Coverage,
            StrategyArg::Race => Strategy::Race,
        }
    }
}

/// The longest `--budget`: one year (longer ones are typos, and would overflow if multiplied out).
const MAX_BUDGET_SECS: u64 = 365 * 24 * 3600;

fn too_long(text: &str) -> BadInput {
    BadInput(format!("--budget {text:?}: longer than the allowed 8760h (one year)"))
}

/// A budget such as `20s`, `10m`, `8h` or `1h 30m` (humantime's grammar), from one second to
/// one year.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, BadInput> {
    let bad = || BadInput(format!("--budget {text:?}: expected a duration such as 20s, 10m, 8h or 1h 30m"));
    let d = match humantime::parse_duration(text) {
        Ok(d) => d,
        Err(humantime::DurationError::NumberOverflow) => return Err(too_long(text)),
        Err(_) => return Err(bad()),
    };
    if d.as_secs() > MAX_BUDGET_SECS {
        return Err(too_long(text));
    }
    if d < std::time::Duration::from_secs(1) {
        return Err(bad());
    }
    Ok(d)
}

pub(crate) fn parse_range(text: &str) -> Result<(u64, u64), BadInput> {
    let bad =
        || BadInput(format!("--seeds {text:?}: expected a half-open range A..B of whole numbers, A < B"));
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a >= b {
        return Err(bad());
    }
    Ok((a, b))
}

/// How a sweep or an exploration runs its seeds: worker processes of this binary unless
/// `--in-process` (see `explore::worker`).
pub(crate) fn workers(in_process: bool) -> Result<Option<crate::explore::worker::WorkerCmd>, BadInput> {
    if in_process {
        return Ok(None);
    }
    crate::explore::worker::WorkerCmd::current_exe()
        .map(Some)
        .map_err(|e| BadInput(format!("cannot find this executable to start workers: {e}")))
}

#[cfg(test)]
mod tests {
    use crate::cli::args::parse_duration;
    use std::time::Duration;

    #[test]
    fn budgets_read_as_humantime_writes_them_from_a_second_to_a_year() {
        assert_eq!(parse_duration("8h").unwrap(), Duration::from_secs(8 * 3600));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        for bad in ["soon", "", "0s", "500ms", "-1h"] {
            assert!(parse_duration(bad).unwrap_err().0.contains("expected a duration"), "{bad}");
        }
        for huge in ["3381903080180084463m", "400days", "18446744073709551616s"] {
            assert!(parse_duration(huge).unwrap_err().0.contains("one year"), "{huge}");
        }
    }
}
