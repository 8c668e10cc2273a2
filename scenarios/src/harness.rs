//! The API a team's own `cargo test` calls, after the conventions of proptest and madsim:
//!
//! ```ignore
//! #[test]
//! fn our_cache_survives_every_scenario() {
//!     Sweep::every_scenario(OurCache::default).seeds(0..200).assert_clean();
//! }
//!
//! #[test]
//! fn the_naive_version_loses_the_fill_race() {
//!     Sweep::of(catalog::fill_race(), NaiveCache::default)
//!         .expect_failure(Invariant::InvalidationBarrier);
//! }
//! ```
//!
//! A sweep honours `TIERSIM_SEEDS=N` (seeds 0..N instead) and `TIERSIM_SEED=S` (that seed
//! alone), runs seeds in parallel with the same per-seed results as one thread, and stops
//! starting seeds once a time budget (if set) is spent, saying so.
//!
//! `assert_clean` first re-runs every replay file of this protocol in the regressions directory
//! (`tiersim-regressions/` in the crate under test, like proptest-regressions), so a bug once
//! found stays fixed. On a failure it saves the replay file under the target directory
//! (`<target>/tiersim-failures/`, or `$TIERSIM_SAVE`), copies it into the regressions directory
//! (commit it), and panics with the invariant, the minimal facts, and the exact commands that
//! replay, shrink and draw the failing run with the team's own `tiersim` binary.

use crate::explore::strategy::Strategy;
use crate::explore::sweep::{self, SweepSpec};
use crate::registry::Registry;
use crate::run::{config_from_json, config_json, load_replay, run_in};
use crate::scenario::{catalog, Scenario};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::{Invariant, Protocol, ProtocolFactory};
use tiersim_sim::replay::{hash_hex, Expected, ReplayFile, FORMAT_VERSION};
use tiersim_sim::schedule::Schedule;

/// A sweep of one protocol over one or more scenarios, configured then asserted.
pub struct Sweep {
    scenarios: Vec<Arc<dyn Scenario>>,
    protocol: ProtocolFactory,
    seeds: Range<u64>,
    strategy: Strategy,
    require: Vec<Invariant>,
    jobs: usize,
    budget: Option<Duration>,
    regressions: Option<PathBuf>,
    use_regressions: bool,
    save_dir: Option<PathBuf>,
    cli: Option<String>,
}

/// A failing seed: the scenario it ran in, its outcome and the schedule it ran.
pub struct Failure {
    pub scenario: Arc<dyn Scenario>,
    pub outcome: Outcome,
    pub schedule: Schedule<CacheOp>,
}

impl Sweep {
    /// The protocol built by `make` (one instance per app process per run) over `scenario`,
    /// seeds 0..100 by default.
    pub fn of<P: Protocol, F: Fn() -> P + Send + Sync + 'static>(
        scenario: impl Scenario + 'static,
        make: F,
    ) -> Sweep {
        Sweep::over(vec![Arc::new(scenario)], ProtocolFactory::new(make))
    }

    /// The protocol built by `make` over every built-in scenario, one after another.
    pub fn every_scenario<P: Protocol, F: Fn() -> P + Send + Sync + 'static>(make: F) -> Sweep {
        Sweep::over(catalog::all(), ProtocolFactory::new(make))
    }

    /// `protocol` over `scenarios` (a registry's, or a team's own).
    pub fn over(scenarios: Vec<Arc<dyn Scenario>>, protocol: ProtocolFactory) -> Sweep {
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        Sweep {
            scenarios,
            protocol,
            seeds: 0..100,
            strategy: Strategy::Random,
            require: Vec::new(),
            jobs,
            budget: None,
            regressions: None,
            use_regressions: true,
            save_dir: None,
            cli: None,
        }
    }

    /// The seed range of each scenario (default 0..100; `TIERSIM_SEED(S)` override it).
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

    /// Worker threads (default: the machine's cores). Per-seed results do not depend on it.
    pub fn jobs(mut self, jobs: usize) -> Sweep {
        self.jobs = jobs.max(1);
        self
    }

    /// Start no new seed once `budget` of wall time is spent; the sweep then says on stderr how
    /// many of its seeds it ran. Seeds already started finish.
    pub fn time_budget(mut self, budget: Duration) -> Sweep {
        self.budget = Some(budget);
        self
    }

    /// Keep regressions in `dir` instead of `tiersim-regressions/` of the crate under test.
    pub fn regressions(mut self, dir: impl Into<PathBuf>) -> Sweep {
        self.regressions = Some(dir.into());
        self
    }

    /// Neither re-run nor save regressions.
    pub fn no_regressions(mut self) -> Sweep {
        self.use_regressions = false;
        self
    }

    /// Save failing runs' replay files in `dir` instead of `<target>/tiersim-failures/`.
    pub fn save_to(mut self, dir: impl Into<PathBuf>) -> Sweep {
        self.save_dir = Some(dir.into());
        self
    }

    /// How to run the team's `tiersim` binary in printed commands (default `$TIERSIM_CLI`, or
    /// `cargo run --release --bin tiersim --`; `cargo tiersim` for tiersim's own protocols).
    pub fn cli(mut self, command: &str) -> Sweep {
        self.cli = Some(command.to_string());
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

    /// Run the seeds, scenario by scenario; the lowest failing seed of the first scenario with a
    /// failure for which `wanted` holds.
    fn find(&self, wanted: &(dyn Fn(&Outcome) -> bool + Sync)) -> Option<Failure> {
        let started = Instant::now();
        let seeds = self.effective_seeds();
        let chunk = (self.jobs as u64 * 4).max(1);
        let (mut ran, total) = (0u64, (seeds.end - seeds.start) * self.scenarios.len() as u64);
        for scenario in &self.scenarios {
            let mut from = seeds.start;
            while from < seeds.end {
                if self.budget.is_some_and(|b| started.elapsed() >= b) {
                    eprintln!(
                        "tiersim: time budget of {:?} spent: ran {ran} of {total} seeds of {} ({} scenario(s))",
                        self.budget.unwrap(),
                        self.protocol.name(),
                        self.scenarios.len()
                    );
                    return None;
                }
                let to = (from + chunk).min(seeds.end);
                let spec = SweepSpec {
                    pairs: vec![(scenario.clone(), self.protocol.clone())],
                    seeds: from..to,
                    shard: (0, 1),
                    jobs: self.jobs,
                    strategy: self.strategy,
                    require: self.require.clone(),
                    workers: None,
                };
                let failing: Mutex<Option<(Outcome, Schedule<CacheOp>)>> = Mutex::new(None);
                sweep::run(&spec, &|r, o, schedule| {
                    if r.verdict != Verdict::Pass && wanted(o) {
                        let mut f = failing.lock().unwrap();
                        if f.as_ref().is_none_or(|(first, _)| o.seed < first.seed) {
                            *f = Some((o.clone(), schedule.clone()));
                        }
                    }
                });
                ran += to - from;
                if let Some((outcome, schedule)) = failing.into_inner().unwrap() {
                    return Some(Failure { scenario: scenario.clone(), outcome, schedule });
                }
                from = to;
            }
        }
        None
    }

    /// The lowest failing seed (of the first scenario with one), if any.
    pub fn first_failure(&self) -> Option<Failure> {
        self.find(&|_| true)
    }

    /// Re-run the regressions of this protocol, then the seeds; panic on the first failure,
    /// after saving its replay file and keeping it as a regression.
    pub fn assert_clean(self) {
        if self.use_regressions {
            self.rerun_regressions();
        }
        let Some(f) = self.first_failure() else { return };
        let saved = self.save(&f);
        let kept = if self.use_regressions { self.keep_regression(&saved) } else { None };
        let mut message = self.describe(&f, &saved);
        if let Some(kept) = kept {
            message +=
                &format!("\nkept as a regression: {kept} (re-run first by the next assert_clean; commit it)");
        }
        panic!("{message}");
    }

    /// Pin a known bug: some seed must fail `invariant`. Returns that failure (the lowest seed of
    /// the first scenario with one); panics, naming what ran, when none does.
    pub fn expect_failure(self, invariant: Invariant) -> Failure {
        let name = invariant.name();
        match self.find(&|o| o.violations.iter().any(|v| v.invariant == name)) {
            Some(f) => f,
            None => panic!(
                "{} was expected to fail `{name}` but no seed of {:?} in {} did",
                self.protocol.name(),
                self.effective_seeds(),
                self.scenarios.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The directory regressions live in: as set, or `tiersim-regressions/` of the crate whose
    /// tests run (cargo sets `CARGO_MANIFEST_DIR` for them).
    pub fn regressions_dir(&self) -> PathBuf {
        self.regressions.clone().unwrap_or_else(|| {
            let root =
                std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from);
            root.join("tiersim-regressions")
        })
    }

    fn rerun_regressions(&self) {
        let dir = self.regressions_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else { return };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let name = self.protocol.name();
        for path in files {
            let file = load_replay(&path).unwrap_or_else(|e| panic!("regression {e}"));
            if file.protocol != name || !self.scenarios.iter().any(|s| s.name() == file.scenario) {
                continue;
            }
            let config = config_from_json(&file.config)
                .unwrap_or_else(|e| panic!("regression {}: {e}", path.display()));
            let o = run_in(&config, self.protocol.clone(), file.seed, &file.schedule, &self.require);
            if o.verdict != Verdict::Pass {
                let cli = self.cli_command();
                panic!(
                    "{name}: regression {} fails again ({}): {}\n  replay: {cli} replay {}",
                    path.display(),
                    o.verdict.name(),
                    facts(&o),
                    path.display()
                );
            }
        }
    }

    /// Save the failure's replay file; its path.
    fn save(&self, f: &Failure) -> Result<PathBuf, String> {
        let dir = self
            .save_dir
            .clone()
            .or_else(|| std::env::var_os("TIERSIM_SAVE").map(PathBuf::from))
            .unwrap_or_else(|| target_dir().join("tiersim-failures"));
        let (scenario, protocol, o) = (f.scenario.name(), self.protocol.name(), &f.outcome);
        let path = absolute(&dir.join(format!("{scenario}--{protocol}--{}.json", o.seed)));
        let file = ReplayFile {
            format_version: FORMAT_VERSION,
            tiersim_version: env!("CARGO_PKG_VERSION").into(),
            scenario: scenario.into(),
            protocol,
            config: config_json(&*f.scenario),
            seed: o.seed,
            schedule: f.schedule.clone(),
            expected: Expected { verdict: o.verdict.name().into(), invariant: o.invariant() },
            trace_hash: hash_hex(o.trace_hash),
            summary: match (&o.abort, o.violations.first()) {
                (Some(abort), _) => abort.clone(),
                (None, Some(v)) => v.message.clone(),
                (None, None) => o.verdict.name().to_string(),
            },
        };
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        file.save(&path).map_err(|e| e.0)?;
        Ok(path)
    }

    fn keep_regression(&self, saved: &Result<PathBuf, String>) -> Option<String> {
        let saved = saved.as_ref().ok()?;
        let dir = self.regressions_dir();
        let kept = dir.join(saved.file_name()?);
        let result = std::fs::create_dir_all(&dir).and_then(|_| std::fs::copy(saved, &kept));
        Some(match result {
            Ok(_) => absolute(&kept).display().to_string(),
            Err(e) => format!("(could not keep it in {}: {e})", dir.display()),
        })
    }

    fn cli_command(&self) -> String {
        if let Some(cli) = &self.cli {
            return cli.clone();
        }
        if let Ok(cli) = std::env::var("TIERSIM_CLI") {
            return cli;
        }
        if Registry::builtin().find_protocol(&self.protocol.name()).is_some() {
            "cargo tiersim".into()
        } else {
            "cargo run --release --bin tiersim --".into()
        }
    }

    fn describe(&self, f: &Failure, saved: &Result<PathBuf, String>) -> String {
        let (o, scenario, protocol) = (&f.outcome, f.scenario.name(), self.protocol.name());
        let test = std::thread::current().name().unwrap_or("<this test>").to_string();
        let cli = self.cli_command();
        let mut message = format!(
            "{protocol} on {scenario}, seed {}: {}\nreproduce: TIERSIM_SEED={} cargo test {test}",
            o.seed,
            facts(o),
            o.seed
        );
        // The last things the protocol logged, in sim time, before it failed.
        const LOG_TAIL: usize = 20;
        let logs = &o.logs.lines;
        if !logs.is_empty() {
            let from = logs.len().saturating_sub(LOG_TAIL);
            message += &format!(
                "\nlog ({} of {} lines, the last; `run --trace` shows all):",
                logs.len() - from,
                logs.len()
            );
            for line in &logs[from..] {
                message += &format!("\n  {line}");
            }
        }
        match saved {
            Ok(path) => {
                let p = path.display();
                let stem = path.with_extension("");
                message += &format!(
                    "\nreplay file: {p}\n  replay: {cli} replay {p}\n  shrink: {cli} shrink {p} -o {}.small.json\n  report: {cli} report {p} -o {}.html",
                    stem.display(),
                    stem.display()
                );
            }
            Err(e) => message += &format!("\n(could not save the replay file: {e})"),
        }
        message
    }
}

impl Registry {
    /// Replay every replay file in `dir` (a team's own seeds/ corpus) against this registry's
    /// protocols and scenarios, and panic naming each file that no longer reproduces its expected
    /// verdict and invariant (or names a protocol this registry lacks).
    pub fn assert_replays(&self, dir: impl AsRef<Path>) {
        let dir = dir.as_ref();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} holds no replay files", dir.display());
        let mut broken = Vec::new();
        for path in &files {
            let file = load_replay(path).unwrap_or_else(|e| panic!("{e}"));
            let Some(protocol) = self.find_protocol(&file.protocol) else {
                broken.push(format!("{}: no protocol {:?} in this registry", path.display(), file.protocol));
                continue;
            };
            let config = config_from_json(&file.config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let o = run_in(&config, protocol, file.seed, &file.schedule, &[]);
            let (got, want) = (
                (o.verdict.name(), o.invariant()),
                (file.expected.verdict.as_str(), file.expected.invariant.clone()),
            );
            if got != want {
                broken.push(format!("{}: expected {want:?}, got {got:?}: {}", path.display(), facts(&o)));
            }
        }
        assert!(
            broken.is_empty(),
            "{} of {} replay files no longer reproduce:\n{}",
            broken.len(),
            files.len(),
            broken.join("\n")
        );
    }
}

/// The first violation (or abort) of a run, as a failure message shows it.
fn facts(o: &Outcome) -> String {
    let violation = |v: &tiersim_model::check::Violation| {
        let t = tiersim_model::check::secs(v.time_ns);
        format!("invariant `{}` violated at t={t}: key {}\n  {}", v.invariant, v.key, v.message)
    };
    // A crash or a stuck run says why it stopped first; the partial history's violations after.
    match (&o.abort, o.violations.first()) {
        (Some(abort), Some(v)) => {
            format!("verdict {}: {abort}\nin the partial history: {}", o.verdict.name(), violation(v))
        }
        (Some(abort), None) => format!("verdict {}: {abort}", o.verdict.name()),
        (None, Some(v)) => violation(v),
        (None, None) => format!("verdict {}", o.verdict.name()),
    }
}

/// The cargo target directory of the running test: `$CARGO_TARGET_DIR`, or the one the test
/// binary was built into (`<target>/<profile>/deps/<test>`), or `./target`.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().ok();
    let deps = exe.as_deref().and_then(Path::parent).filter(|d| d.file_name().is_some_and(|n| n == "deps"));
    match deps.and_then(Path::parent).and_then(Path::parent) {
        Some(target) => target.to_path_buf(),
        None => PathBuf::from("target"),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
