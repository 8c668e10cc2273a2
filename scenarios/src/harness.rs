//! The API a user's own `cargo test` calls:
//!
//! ```ignore
//! #[test]
//! fn our_cache_survives_the_race_scenario() {
//!     Sweep::of(catalog::race(), OurCache::default()).seeds(0..200).assert_clean();
//! }
//! ```
//!
//! It honours `TIERSIM_SEEDS=N` (seeds 0..N instead) and `TIERSIM_SEED=S` (that seed alone),
//! runs the seeds in parallel with the same per-seed results as one thread, and on failure saves
//! the replay file of the lowest failing seed (into `$TIERSIM_SAVE`, default
//! `target/tiersim-failures/`) and panics with the invariant, the minimal facts and the command
//! that reproduces it.

use crate::explore::strategy::Strategy;
use crate::explore::sweep::{self, SweepSpec};
use crate::run::config_json;
use crate::scenario::Scenario;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::{DynProtocol, Invariant};
use tiersim_sim::replay::{hash_hex, Expected, ReplayFile, FORMAT_VERSION};
use tiersim_sim::schedule::Schedule;

/// A sweep of one protocol over one scenario, configured then asserted.
pub struct Sweep {
    scenario: Arc<dyn Scenario>,
    protocol: Arc<dyn DynProtocol>,
    seeds: Range<u64>,
    strategy: Strategy,
    require: Vec<Invariant>,
    jobs: usize,
}

impl Sweep {
    /// `protocol` over `scenario`, seeds 0..100 by default.
    pub fn of(scenario: impl Scenario + 'static, protocol: impl DynProtocol) -> Sweep {
        Sweep::of_shared(Arc::new(scenario), Arc::new(protocol))
    }

    pub fn of_shared(scenario: Arc<dyn Scenario>, protocol: Arc<dyn DynProtocol>) -> Sweep {
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        Sweep { scenario, protocol, seeds: 0..100, strategy: Strategy::Random, require: Vec::new(), jobs }
    }

    pub fn seeds(mut self, seeds: Range<u64>) -> Sweep {
        self.seeds = seeds;
        self
    }

    pub fn strategy(mut self, strategy: Strategy) -> Sweep {
        self.strategy = strategy;
        self
    }

    /// Check `invariant` too, beyond the protocol's claims.
    pub fn require(mut self, invariant: Invariant) -> Sweep {
        self.require.push(invariant);
        self
    }

    pub fn jobs(mut self, jobs: usize) -> Sweep {
        self.jobs = jobs.max(1);
        self
    }

    /// The seeds this sweep runs, after `TIERSIM_SEED` / `TIERSIM_SEEDS`.
    pub fn effective_seeds(&self) -> Range<u64> {
        let parse = |var: &str| {
            std::env::var(var).ok().map(|v| {
                v.trim().parse::<u64>().unwrap_or_else(|_| panic!("{var}={v:?} is not a whole number"))
            })
        };
        match (parse("TIERSIM_SEED"), parse("TIERSIM_SEEDS")) {
            (Some(s), _) => s..s + 1,
            (None, Some(n)) => 0..n,
            (None, None) => self.seeds.clone(),
        }
    }

    /// Run the seeds; the lowest failing one, with its outcome and schedule, if any.
    pub fn first_failure(&self) -> Option<(Outcome, Schedule<CacheOp>)> {
        let spec = SweepSpec {
            pairs: vec![(self.scenario.clone(), self.protocol.clone())],
            seeds: self.effective_seeds(),
            shard: (0, 1),
            jobs: self.jobs,
            strategy: self.strategy,
            require: self.require.clone(),
            workers: None,
        };
        let failing: Mutex<Option<(Outcome, Schedule<CacheOp>)>> = Mutex::new(None);
        sweep::run(&spec, &|r, o, schedule| {
            if r.verdict != Verdict::Pass {
                let mut f = failing.lock().unwrap();
                if f.as_ref().is_none_or(|(first, _)| o.seed < first.seed) {
                    *f = Some((o.clone(), schedule.clone()));
                }
            }
        });
        failing.into_inner().unwrap()
    }

    /// Panic on the lowest failing seed, after saving its replay file.
    pub fn assert_clean(self) {
        let Some((o, schedule)) = self.first_failure() else { return };
        let (scenario, protocol) = (self.scenario.name(), self.protocol.name());
        let dir = std::env::var("TIERSIM_SAVE").map(std::path::PathBuf::from).unwrap_or_else(|_| {
            let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
            std::path::Path::new(&target).join("tiersim-failures")
        });
        let path = dir.join(format!("{scenario}--{protocol}--{}.json", o.seed));
        let file = ReplayFile {
            format_version: FORMAT_VERSION,
            tiersim_version: env!("CARGO_PKG_VERSION").into(),
            scenario: scenario.into(),
            protocol: protocol.clone(),
            config: config_json(&*self.scenario),
            seed: o.seed,
            schedule,
            expected: Expected { verdict: o.verdict.name().into(), invariant: o.invariant() },
            trace_hash: hash_hex(o.trace_hash),
            summary: o.violations.first().map_or_else(|| o.verdict.name().to_string(), |v| v.message.clone()),
        };
        let saved = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|_| file.save(&path).map_err(|e| e.0))
            .map_or_else(
                |e| format!("(could not save the replay file: {e})"),
                |_| path.display().to_string(),
            );
        let test = std::thread::current().name().unwrap_or("<this test>").to_string();
        let facts = match (o.violations.first(), &o.abort) {
            (Some(v), _) => format!(
                "invariant `{}` violated at t={}: key {}\n  {}",
                v.invariant,
                tiersim_model::check::secs(v.time_ns),
                v.key,
                v.message
            ),
            (None, Some(abort)) => format!("verdict {}: {abort}", o.verdict.name()),
            (None, None) => format!("verdict {}", o.verdict.name()),
        };
        let builtin = tiersim_model::protocols::by_name(&protocol).is_some();
        let cli = if builtin {
            format!("\n  or: {}", crate::run::reproduce_command(scenario, &protocol, o.seed))
        } else {
            String::new()
        };
        panic!(
            "{protocol} on {scenario}, seed {}: {facts}\nreproduce: TIERSIM_SEED={} cargo test {test}{cli}\nreplay file: {saved}",
            o.seed, o.seed
        );
    }
}
