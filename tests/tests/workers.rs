//! Sweeps in worker processes. This test is its own binary (`harness = false`) built the way a
//! user builds theirs: a registry with their protocols handed to `cli::main_with`, so when a
//! sweep re-executes it as a worker (`__worker`), the worker knows the same protocols.
//!
//! `abort-on-magic` is the versioned protocol, except that a write of `MAGIC` aborts the whole
//! process (what a stack overflow or an allocation failure does to a real protocol), and the
//! `abort-on-seed-5` scenario is fill-race with seed 5's first write made `MAGIC`.

use std::process::ExitCode;
use std::sync::Arc;
use tiersim_model::node::config::{CacheOp, SystemConfig};
use tiersim_model::outcome::Verdict;
use tiersim_model::protocol::{App, Claims, DynProtocol, Invalidation, OpError, Protocol};
use tiersim_model::state::database::{Change, Row};
use tiersim_scenarios::explore::strategy::Strategy;
use tiersim_scenarios::explore::sweep::{self, SeedResult, SweepSpec};
use tiersim_scenarios::explore::worker::{WorkerCmd, WORKER_ARG};
use tiersim_scenarios::registry::Registry;
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

fn registry() -> Registry {
    let versioned = tiersim_model::protocols::by_name("versioned").unwrap();
    let fill_race = tiersim_scenarios::by_name("fill-race").unwrap();
    Registry::builtin()
        .protocol(move || AbortOnMagic { inner: versioned.build() })
        .scenario(AbortOnSeed5(fill_race))
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

fn main() -> ExitCode {
    let registry = registry();
    if std::env::args().nth(1).as_deref() == Some(WORKER_ARG) {
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
    ExitCode::SUCCESS
}
