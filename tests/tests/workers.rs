//! Sweeps in worker processes. This test is its own binary (`harness = false`) built the way a
//! user builds theirs: a registry with their protocols handed to `cli::main_with`, so when a
//! sweep re-executes it as a worker (`__worker`), the worker knows the same protocols.
//!
//! `abort-on-magic` is the versioned protocol, except that a write of `MAGIC` aborts the whole
//! process (what a stack overflow or an allocation failure does to a real protocol), and the
//! `abort-on-seed-5` scenario is fill-race with seed 5's first write made `MAGIC`.
//!
//! `abort-on-first-magic` is cache-aside (which fails fill-race's invalidation barrier), except
//! that a write of `MAGIC` aborts when it is the first operation of its app process; the
//! `magic-writes` scenario is fill-race with every write but a process's first operation made a
//! write of `MAGIC`. A whole schedule runs fine (each app's first operation is some process's
//! first), but a shrink candidate that drops the operations before such a write aborts.
//!
//! The binary also answers `compare …` as the user's `tiersim` would, so a comparison that
//! includes `abort-on-magic` is run from the outside, workers and all.

use std::process::ExitCode;
use std::sync::Arc;
use tiersim_model::node::config::{CacheOp, SystemConfig};
use tiersim_model::outcome::Verdict;
use tiersim_model::protocol::{App, Claims, DynProtocol, Invalidation, OpError, Protocol};
use tiersim_model::state::database::{Change, Row};
use tiersim_scenarios::explore::strategy::Strategy;
use tiersim_scenarios::explore::sweep::{self, SeedResult, SweepSpec};
use tiersim_scenarios::explore::worker::{InWorker, WorkerCmd, WORKER_ARG};
use tiersim_scenarios::registry::Registry;
use tiersim_scenarios::run::run_in;
use tiersim_scenarios::shrink::shrink_with;
use tiersim_scenarios::Scenario;
use tiersim_sim::schedule::Schedule;

const MAGIC: i64 = -424_242;
const ABORTING_SEED: u64 = 5;

struct AbortOnMagic {
    inner: Box<dyn DynProtocol>,
}

impl Protocol for AbortOnMagic {
    fn name(&self) -> String {
        "abort-on-magic".into()
    }
    fn claims(&self, cfg: &SystemConfig) -> Claims {
        self.inner.claims(cfg)
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.inner.read(cx, key).await
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        if value == MAGIC {
            std::process::abort();
        }
        self.inner.write(cx, key, value).await
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.inner.delete(cx, key).await
    }
    async fn invalidate_tag(&self, cx: &App, tag: &str) -> Result<(), OpError> {
        self.inner.invalidate_tag(cx, tag).await
    }
    async fn warm(&self, cx: &App, keys: &[String]) -> Result<(), OpError> {
        self.inner.warm(cx, keys).await
    }
    async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        self.inner.on_invalidation(cx, inv).await
    }
    async fn on_change(&self, cx: &App, change: Change) {
        self.inner.on_change(cx, change).await
    }
    async fn on_start(&self, cx: &App) {
        self.inner.on_start(cx).await
    }
    async fn on_disconnect(&self, cx: &App, conn: u64) {
        self.inner.on_disconnect(cx, conn).await
    }
}

/// fill-race, with seed 5's first write made `MAGIC`.
struct AbortOnSeed5(Arc<dyn Scenario>);

impl Scenario for AbortOnSeed5 {
    fn name(&self) -> &'static str {
        "abort-on-seed-5"
    }
    fn description(&self) -> &'static str {
        "fill-race; seed 5 writes the value that makes abort-on-magic abort"
    }
    fn config(&self) -> SystemConfig {
        self.0.config()
    }
    fn schedule(&self, seed: u64) -> Schedule<CacheOp> {
        self.schedule_with(seed, Strategy::Random)
    }
    fn schedule_with(&self, seed: u64, strategy: Strategy) -> Schedule<CacheOp> {
        let mut s = self.0.schedule_with(seed, strategy);
        if seed == ABORTING_SEED {
            let first_write = s.ops.iter_mut().find_map(|o| match &mut o.op {
                CacheOp::Write { value, .. } => Some(value),
                _ => None,
            });
            *first_write.expect("fill-race writes") = MAGIC;
        }
        s
    }
}

/// cache-aside, aborting on a write of `MAGIC` that is its process's first operation.
struct AbortOnFirstMagic {
    inner: Box<dyn DynProtocol>,
    /// Operations this app process has begun (one instance per process per run).
    begun: std::sync::atomic::AtomicUsize,
}

impl AbortOnFirstMagic {
    fn begin(&self) -> usize {
        self.begun.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Protocol for AbortOnFirstMagic {
    fn name(&self) -> String {
        "abort-on-first-magic".into()
    }
    fn claims(&self, cfg: &SystemConfig) -> Claims {
        self.inner.claims(cfg)
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.begin();
        self.inner.read(cx, key).await
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        if self.begin() == 0 && value == MAGIC {
            std::process::abort();
        }
        self.inner.write(cx, key, value).await
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.begin();
        self.inner.delete(cx, key).await
    }
    async fn invalidate_tag(&self, cx: &App, tag: &str) -> Result<(), OpError> {
        self.begin();
        self.inner.invalidate_tag(cx, tag).await
    }
    async fn warm(&self, cx: &App, keys: &[String]) -> Result<(), OpError> {
        self.begin();
        self.inner.warm(cx, keys).await
    }
    async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        self.inner.on_invalidation(cx, inv).await
    }
    async fn on_change(&self, cx: &App, change: Change) {
        self.inner.on_change(cx, change).await
    }
    async fn on_start(&self, cx: &App) {
        self.inner.on_start(cx).await
    }
}

/// fill-race, with every write but a process's first operation made a write of `MAGIC`.
struct MagicWrites(Arc<dyn Scenario>);

impl Scenario for MagicWrites {
    fn name(&self) -> &'static str {
        "magic-writes"
    }
    fn description(&self) -> &'static str {
        "fill-race; every write after a process's first operation writes the value abort-on-first-magic aborts on"
    }
    fn config(&self) -> SystemConfig {
        self.0.config()
    }
    fn schedule(&self, seed: u64) -> Schedule<CacheOp> {
        self.schedule_with(seed, Strategy::Random)
    }
    fn schedule_with(&self, seed: u64, strategy: Strategy) -> Schedule<CacheOp> {
        let mut s = self.0.schedule_with(seed, strategy);
        for process in s.processes() {
            let mut mine: Vec<usize> = (0..s.ops.len()).filter(|&i| s.ops[i].process == process).collect();
            mine.sort_by_key(|&i| s.ops[i].at_ns);
            for &i in mine.iter().skip(1) {
                if let CacheOp::Write { value, .. } = &mut s.ops[i].op {
                    *value = MAGIC;
                }
            }
        }
        s
    }
}

fn registry() -> Registry {
    let versioned = tiersim_model::protocols::by_name("versioned").unwrap();
    let cache_aside = tiersim_model::protocols::by_name("cache-aside").unwrap();
    let fill_race = tiersim_scenarios::by_name("fill-race").unwrap();
    Registry::builtin()
        .protocol(move || AbortOnMagic { inner: versioned.build() })
        .protocol(move || AbortOnFirstMagic { inner: cache_aside.build(), begun: Default::default() })
        .scenario(AbortOnSeed5(fill_race.clone()))
        .scenario(MagicWrites(fill_race))
}

fn spec(registry: &Registry, protocol: &str, seeds: std::ops::Range<u64>, jobs: usize) -> SweepSpec {
    SweepSpec {
        pairs: vec![(
            registry.find_scenario("abort-on-seed-5").unwrap(),
            registry.find_protocol(protocol).unwrap(),
        )],
        seeds,
        shard: (0, 1),
        jobs,
        strategy: Strategy::Random,
        require: Vec::new(),
        workers: None,
    }
}

fn workers(runs_per_worker: usize) -> WorkerCmd {
    let mut cmd = WorkerCmd::current_exe().expect("this test's own executable");
    cmd.runs_per_worker = runs_per_worker;
    cmd.batch = 3;
    cmd
}

/// What a sweep reports of one seed: seed, verdict, invariant, ops, messages, sim_ns.
type Fingerprint = (u64, &'static str, Option<String>, usize, u64, u64);

fn fingerprint(results: &[SeedResult]) -> Vec<Fingerprint> {
    results
        .iter()
        .map(|r| (r.seed, r.verdict.name(), r.invariant.clone(), r.ops, r.messages, r.sim_ns))
        .collect()
}

/// A protocol that aborts the process on one seed: that seed is a `crash` naming the signal,
/// its replay file can be written (the callback sees it with its schedule), and every other
/// seed is reported with the result it has in process.
fn an_aborting_seed_is_a_crash_and_the_sweep_goes_on(registry: &Registry) {
    let mut with_workers = spec(registry, "abort-on-magic", 0..12, 2);
    with_workers.workers = Some(workers(4));
    let crashes = std::sync::Mutex::new(Vec::new());
    let results = sweep::run(&with_workers, &|r, o, schedule| {
        if r.verdict == Verdict::Crash {
            let first_write = schedule.ops.iter().find_map(|o| match o.op {
                CacheOp::Write { value, .. } => Some(value),
                _ => None,
            });
            crashes.lock().unwrap().push((r.seed, o.abort.clone().unwrap_or_default(), first_write));
        }
    });
    assert_eq!(results.len(), 12, "every seed is reported");
    let crashes = crashes.into_inner().unwrap();
    assert_eq!(crashes.len(), 1, "{crashes:?}");
    let (seed, message, first_write) = &crashes[0];
    assert_eq!(*seed, ABORTING_SEED);
    assert!(message.contains("SIGABRT"), "the crash names the signal: {message}");
    assert_eq!(*first_write, Some(MAGIC), "the crashed seed comes with the schedule it ran");

    // Every other seed: the result the same protocol gets in process (seed 5 skipped, as it
    // would take this process with it).
    let in_thread: Vec<SeedResult> = [0..5, 6..12]
        .into_iter()
        .flat_map(|seeds| sweep::run(&spec(registry, "abort-on-magic", seeds, 1), &|_, _, _| {}))
        .collect();
    let others: Vec<SeedResult> = results.into_iter().filter(|r| r.seed != ABORTING_SEED).collect();
    assert_eq!(fingerprint(&others), fingerprint(&in_thread));
    println!("ok: an aborting seed is a crash and the sweep goes on ({message})");
}

/// Workers recycled every 2 runs give every seed the trace hash it has in process.
fn recycled_workers_give_in_thread_traces(registry: &Registry) {
    let hashes = |spec: &SweepSpec| {
        let hashes = std::sync::Mutex::new(Vec::new());
        sweep::run(spec, &|r, o, _| hashes.lock().unwrap().push((r.seed, o.trace_hash, r.verdict.name())));
        let mut hashes = hashes.into_inner().unwrap();
        hashes.sort();
        hashes
    };
    let mut s = spec(registry, "versioned", 20..30, 2);
    let in_thread = hashes(&s);
    s.workers = Some(workers(2));
    assert_eq!(hashes(&s), in_thread);
    println!("ok: recycled workers give in-thread traces");
}

/// A shrink whose candidates abort their worker: each such candidate is a `crash` naming the
/// signal, the shrink goes on, and its result still fails the invariant, with the trace it has
/// in process.
fn a_shrink_survives_candidates_that_abort(registry: &Registry) {
    let (scenario, protocol) = ("magic-writes", "abort-on-first-magic");
    let mut seeds = spec(registry, protocol, 0..8, 1);
    seeds.pairs[0].0 = registry.find_scenario(scenario).unwrap();
    seeds.workers = Some(workers(50));
    let failing = std::sync::Mutex::new(None);
    sweep::run(&seeds, &|r, o, schedule| {
        let mut failing = failing.lock().unwrap();
        if r.verdict == Verdict::Fail && failing.is_none() {
            *failing = Some((o.seed, o.invariant().unwrap(), schedule.clone()));
        }
    });
    let (seed, invariant, schedule) =
        failing.into_inner().unwrap().expect("cache-aside fails fill-race within 8 seeds");

    let runner = InWorker::new(workers(50), scenario, protocol);
    let (shrunk, shrunk_seed, stats, outcome) = shrink_with(&runner, seed, &schedule, &invariant, 300);
    let crashes = runner.crashes();
    assert!(!crashes.is_empty(), "some candidate drops a process's first operation and aborts");
    assert!(crashes.iter().all(|c| c.contains("SIGABRT")), "each crash names the signal: {crashes:?}");
    assert!(stats.ops_after < stats.ops_before, "the shrink went on past the crashes: {stats:?}");
    assert_eq!(outcome.invariant().as_deref(), Some(invariant.as_str()), "the shrunk run still fails");
    // A crashing candidate is never kept, so the shrunk schedule is safe to run here, and it
    // gives the trace the worker reported.
    let config = registry.find_scenario(scenario).unwrap().config();
    let here = run_in(&config, registry.find_protocol(protocol).unwrap(), shrunk_seed, &shrunk, &[]);
    assert_eq!((here.trace_hash, here.invariant()), (outcome.trace_hash, outcome.invariant()));
    println!(
        "ok: a shrink survives candidates that abort ({} crashed, {} -> {} ops)",
        crashes.len(),
        stats.ops_before,
        stats.ops_after
    );
}

/// `compare` on a protocol that aborts the process on one seed: that seed is a `crash` row entry
/// with its reproduce command, and the other protocol's row and the other seeds are all there.
fn a_comparison_with_an_aborting_protocol_goes_on() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["compare", "--scenario", "abort-on-seed-5", "--protocol", "abort-on-magic,versioned"])
        .args(["--seeds", "3..8", "--jobs", "2", "--json"])
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{all}"));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert_eq!(j["seeds_run"], 10, "every seed of both protocols is reported: {all}");
    let row = |p: &str| j["rows"].as_array().unwrap().iter().find(|r| r["protocol"] == p).unwrap().clone();
    let aborting = row("abort-on-magic");
    assert_eq!(aborting["seeds_run"], 5);
    assert_eq!(aborting["failing_runs"], 1, "{aborting}");
    let crash = &aborting["invariants"][0];
    assert_eq!(crash["invariant"], "crash", "{aborting}");
    assert!(crash["reproduce"].as_str().unwrap().ends_with(&format!("--seed {ABORTING_SEED}")), "{crash}");
    assert_eq!(row("versioned")["failing_runs"], 0);
    println!("ok: a comparison with an aborting protocol goes on");
}

fn main() -> ExitCode {
    let registry = registry();
    // A worker, or the comparison below running this binary as its `tiersim`.
    if let Some(WORKER_ARG | "compare") = std::env::args().nth(1).as_deref() {
        return tiersim_scenarios::cli::main_with(registry);
    }
    // `cargo test` passes libtest's flags; a filter that names neither test skips both.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wanted("an_aborting_seed_is_a_crash_and_the_sweep_goes_on") {
        an_aborting_seed_is_a_crash_and_the_sweep_goes_on(&registry);
    }
    if wanted("recycled_workers_give_in_thread_traces") {
        recycled_workers_give_in_thread_traces(&registry);
    }
    if wanted("a_shrink_survives_candidates_that_abort") {
        a_shrink_survives_candidates_that_abort(&registry);
    }
    if wanted("a_comparison_with_an_aborting_protocol_goes_on") {
        a_comparison_with_an_aborting_protocol_goes_on();
    }
    ExitCode::SUCCESS
}
