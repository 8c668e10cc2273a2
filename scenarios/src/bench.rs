//! `tiersim bench`: the performance figures of DESIGN.md's "Performance targets", measured in
//! one release-mode process and returned as one JSON object.
//!
//! Every figure that has a natural yardstick is reported as a ratio to it, because absolute
//! throughput on a shared two-core machine says little: engine overhead is tiersim's message
//! rate over a raw madsim ping-pong measured a moment earlier in the same process, and time
//! acceleration is simulated seconds per wall second. The bug-finding figures count seeds rather
//! than seconds, so they do not depend on the machine at all.
//!
//! The sections run in a fixed order. The memory of the 200,000-operation linearizability check
//! is measured first, while the process is still small, and the kernel's peak-RSS mark is reset
//! (`/proc/self/clear_refs`) just before it, so its figure is the checker's own; the process-wide
//! peak is tracked across that reset. Wall-clock time is read here and only here, outside every
//! simulation, as STYLE.md allows for the CLI's throughput figures.
//!
//! Seeds-to-failure is searched in growing chunks of seeds so that an entry found at its second
//! seed costs two runs, not two hundred. The coverage strategy's seeds depend on the seeds before
//! them, so its chunks are growing prefixes that are re-run from the starting offset: the runs
//! are deterministic, so a longer prefix repeats the shorter one exactly and only adds seeds.
//!
//! Nothing here is a pass condition: the targets are reported with whether they hold, and the
//! tests assert only the JSON's shape.

pub mod deep;

use crate::explore::strategy::Strategy;
use crate::explore::sweep::{self, SweepSpec};
use crate::explore::worker::WorkerCmd;
use crate::run::run_seed;
use crate::scenario::Scenario;
use crate::shrink::shrink_failure;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tiersim_model::outcome::Verdict;
use tiersim_model::protocol::ProtocolFactory;
use tiersim_model::protocols::{self, zoo};
use tiersim_sim::check::commit_order::{self, Access, VersionedOp};
use tiersim_sim::check::parse::{self, Op};
use tiersim_sim::check::wgl::{self, Budget};
use tiersim_sim::history::{OpFn, OpValue};
use tiersim_sim::runtime::RunConfig;

/// What to measure and where to report progress.
pub struct BenchOptions<'a> {
    /// The directory holding `peer-histories/` (see [`BenchOptions::default_shared_dir`]).
    pub shared_dir: PathBuf,
    /// Smaller counts everywhere: a smoke test of the whole bench in a few seconds.
    pub quick: bool,
    /// Called with one line per step, for stderr. Never stdout: that is the JSON's.
    pub progress: Option<&'a (dyn Fn(&str) + Sync)>,
    /// Measure seeds per second (and so parallel efficiency) in these worker processes, as
    /// the CLI's sweeps run; `None` measures threads of this process (a test binary cannot be
    /// re-executed as a worker).
    pub workers: Option<WorkerCmd>,
    /// How long the explore of `memory.explore_rss_mb` runs (`None`: 10 minutes, 10 s with
    /// `quick`). It needs `workers`' program to run `explore` in.
    pub explore_budget: Option<Duration>,
}

impl BenchOptions<'_> {
    /// `$TIERSIM_SHARED`, or else the `shared` directory next to the workspace.
    pub fn default_shared_dir() -> PathBuf {
        match std::env::var_os("TIERSIM_SHARED") {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        }
    }

    fn say(&self, line: &str) {
        if let Some(progress) = self.progress {
            progress(line);
        }
    }
}

/// How much of everything to run: the full bench, or the quick smoke test.
struct Counts {
    raw_messages: u64,
    race_seeds: u64,
    sweep_seeds: u64,
    ttl_seeds: u64,
    etcd_rounds: usize,
    fast_path_ops: usize,
    fast_path_keys: usize,
    fast_path_rounds: usize,
    wgl_processes: u64,
    wgl_ops_per_process: u64,
    wgl_keys: u64,
    zoo_offsets: Vec<u64>,
    zoo_cap: u64,
    shrink_failures: usize,
    shrink_max_runs: usize,
    /// RSS growth is measured between these two run counts.
    rss_runs_warm: u64,
    rss_runs_total: u64,
    /// The default budget of the explore whose peak RSS is measured.
    explore_budget: Duration,
}

impl Counts {
    fn new(quick: bool) -> Counts {
        if quick {
            Counts {
                raw_messages: 10_000,
                race_seeds: 4,
                sweep_seeds: 2,
                ttl_seeds: 2,
                etcd_rounds: 1,
                fast_path_ops: 20_000,
                fast_path_keys: 10,
                fast_path_rounds: 1,
                wgl_processes: 20,
                wgl_ops_per_process: 100,
                wgl_keys: 50,
                zoo_offsets: vec![0],
                zoo_cap: 4,
                shrink_failures: 1,
                shrink_max_runs: 40,
                rss_runs_warm: 50,
                rss_runs_total: 300,
                explore_budget: Duration::from_secs(10),
            }
        } else {
            Counts {
                raw_messages: 1_000_000,
                race_seeds: 50,
                sweep_seeds: 20,
                ttl_seeds: 20,
                etcd_rounds: 5,
                fast_path_ops: 1_000_000,
                fast_path_keys: 100,
                fast_path_rounds: 3,
                wgl_processes: 20,
                wgl_ops_per_process: 10_000,
                wgl_keys: 1000,
                zoo_offsets: vec![0, 1000, 2000, 3000, 4000],
                zoo_cap: 200,
                shrink_failures: 5,
                shrink_max_runs: 2000,
                rss_runs_warm: 500,
                rss_runs_total: 10_000,
                explore_budget: Duration::from_secs(600),
            }
        }
    }
}

/// Run the whole bench and return its figures (see BENCHMARKS.md for every field).
pub fn run(opts: &BenchOptions) -> Value {
    let counts = Counts::new(opts.quick);
    let started = Instant::now();
    let versioned = protocol("versioned");
    // The kernel's peak-RSS mark after each section, to say which one set the process's peak.
    let mut peaks = serde_json::Map::new();
    let mut mark = |section: &str| {
        let kb = status_kb("VmHWM").unwrap_or(0);
        opts.say(&format!(
            "bench: {section} done at {} s; peak RSS so far {} MB",
            started.elapsed().as_secs(),
            mb(kb)
        ));
        peaks.insert(section.into(), json!(mb(kb)));
    };

    opts.say("bench: checker memory (200k-op WGL check)");
    let (rss_figures, peak_before_reset_kb) = wgl_memory(&counts);
    mark("wgl_200k");

    // First of the sections that start child processes, so the children's peak is the explore's.
    let explore_budget = opts.explore_budget.unwrap_or(counts.explore_budget);
    opts.say(&format!("bench: peak RSS of an explore of {} s in worker processes", explore_budget.as_secs()));
    let explore = explore_rss(explore_budget, opts.workers.as_ref());
    opts.say(&format!("bench: RSS growth per run, {} runs in this process", counts.rss_runs_total));
    let mut memory = rss_growth(&counts, &versioned);
    for (k, v) in explore {
        memory[k] = v;
    }
    mark("memory");

    opts.say("bench: engine (raw madsim ping-pong, then tiersim on race)");
    let engine = engine(&counts, &versioned);
    mark("engine");

    opts.say("bench: seeds per second per scenario, jobs 1 and 2");
    // Parallel efficiency means nothing when other processes hold the cores: say how busy.
    let load_before = load_avg_1m();
    let seeds_per_sec = seeds_per_sec(&counts, &versioned, opts);
    let seeds_per_sec_load = json!({"before": load_before, "after": load_avg_1m()});
    mark("seeds_per_sec");

    opts.say("bench: time acceleration on ttl-coordination");
    let time_acceleration = time_acceleration(&counts, &versioned);
    mark("time_acceleration");

    opts.say("bench: checker (etcd peer histories, commit-order fast path)");
    let mut checker = checker(&counts, &opts.shared_dir, opts);
    for (k, v) in rss_figures {
        checker[k] = v;
    }
    mark("checker");

    opts.say("bench: zoo seeds-to-failure per strategy");
    let zoo = zoo_figures(&counts, opts);
    mark("zoo");

    opts.say("bench: shrinking fill-race failures of cache-aside");
    let shrink = shrink_figures(&counts, opts);
    mark("shrink");

    // The reset before the WGL check lowered the kernel's mark; the true peak is the larger.
    let peak_rss_kb = status_kb("VmHWM").unwrap_or(0).max(peak_before_reset_kb);
    let targets = targets(&engine, &time_acceleration, &checker, &zoo, &shrink, &memory, &seeds_per_sec);
    json!({
        "quick": opts.quick,
        "engine": engine,
        "memory": memory,
        "seeds_per_sec": seeds_per_sec,
        "seeds_per_sec_load_avg_1m": seeds_per_sec_load,
        "seeds_per_sec_runs_in": if opts.workers.is_some() { "worker processes" } else { "threads of this process" },
        "time_acceleration": time_acceleration,
        "checker": checker,
        "zoo": zoo["entries"],
        "zoo_summary": zoo["summary"],
        "shrink": shrink,
        "peak_rss_mb": mb(peak_rss_kb),
        "peak_rss_mb_after_section": peaks,
        "targets": targets,
        "machine": machine(),
        "total_wall_ms": started.elapsed().as_millis() as u64,
    })
}

fn protocol(name: &str) -> ProtocolFactory {
    protocols::by_name(name).unwrap_or_else(|| panic!("tiersim bug: no built-in protocol {name}"))
}

fn scenario(name: &str) -> Arc<dyn Scenario> {
    crate::scenario::catalog::by_name(name).unwrap_or_else(|| panic!("tiersim bug: no scenario {name}"))
}

fn per_sec(count: f64, wall: Duration) -> f64 {
    count / wall.as_secs_f64().max(1e-9)
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

// ---------------------------------------------------------------------------------------------
// Engine

/// Raw madsim ping-pong against tiersim's message rate on the `race` scenario.
fn engine(counts: &Counts, versioned: &ProtocolFactory) -> Value {
    // Both rates are wall-clock figures, so the load they were measured under goes with them.
    let load_before = load_avg_1m();
    let (raw_delivered, raw_wall) = raw_madsim_pingpong(counts.raw_messages);
    let raw = per_sec(raw_delivered as f64, raw_wall);

    let race = scenario("race");
    let (mut messages, mut outcome_wall_ms) = (0u64, 0u64);
    let started = Instant::now();
    for seed in 0..counts.race_seeds {
        let o = run_seed(&*race, versioned.clone(), seed, &[]);
        messages += o.messages;
        outcome_wall_ms += o.wall_ms;
    }
    let wall = started.elapsed();
    let tiersim = per_sec(messages as f64, wall);
    // The same seeds simulated without judging: how much of the gap is the engine and how much
    // the invariant checkers that run after it.
    let config = race.config();
    let schedules: Vec<_> = (0..counts.race_seeds).map(|seed| race.schedule(seed)).collect();
    let (mut sim_messages, sim_started) = (0u64, Instant::now());
    for (seed, schedule) in schedules.iter().enumerate() {
        let record = tiersim_model::system::run(seed as u64, &config, schedule, versioned.clone());
        sim_messages += record.finished.messages;
    }
    let sim_only = per_sec(sim_messages as f64, sim_started.elapsed());
    json!({
        "raw_madsim_msgs_per_sec": round(raw, 0),
        "raw_madsim_messages": raw_delivered,
        "raw_madsim_wall_ms": raw_wall.as_millis() as u64,
        "tiersim_msgs_per_sec": round(tiersim, 0),
        "tiersim_seeds": counts.race_seeds,
        "tiersim_messages": messages,
        "tiersim_wall_ms": wall.as_millis() as u64,
        // The same rate over the runs' own `Outcome.wall_ms` (whole milliseconds, so coarse;
        // the figure above also counts schedule generation).
        "tiersim_msgs_per_sec_outcome_wall": round(messages as f64 * 1000.0 / outcome_wall_ms.max(1) as f64, 0),
        "ratio_to_raw_madsim": round(tiersim / raw, 3),
        "tiersim_sim_only_msgs_per_sec": round(sim_only, 0),
        "sim_only_ratio_to_raw_madsim": round(sim_only / raw, 3),
        "scenario": "race",
        "protocol": "versioned",
        "load_avg_1m": {"before": load_before, "after": load_avg_1m()},
    })
}

/// Two nodes bounce one message back and forth until `messages` have been delivered, in a fresh
/// madsim runtime on a fresh thread with tiersim's network latency. Returns the deliveries and
/// the wall time from creating the runtime to the last delivery.
fn raw_madsim_pingpong(messages: u64) -> (u64, Duration) {
    use madsim::net::Endpoint;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    const PING: u64 = 1;
    const PONG: u64 = 2;
    let thread = std::thread::Builder::new().name("bench-raw-madsim".into()).spawn(move || {
        let started = Instant::now();
        let run = RunConfig::default();
        let mut cfg = madsim::Config::default();
        cfg.net.send_latency =
            Duration::from_nanos(run.latency_min_ns)..Duration::from_nanos(run.latency_max_ns);
        let rt = madsim::runtime::Runtime::with_seed_and_config(1, cfg);
        let ping_ip = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let pong_addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 1);
        let pong = rt.create_node().name("pong").ip(pong_addr.ip()).build();
        let ping = rt.create_node().name("ping").ip(ping_ip).build();
        let delivered = rt.block_on(async move {
            pong.spawn(async move {
                let ep = Endpoint::bind(pong_addr).await.expect("bind pong");
                while let Ok((payload, from)) = ep.recv_from_raw(PING).await {
                    let _ = ep.send_to_raw(from, PONG, payload).await;
                }
            });
            let pinger = ping.spawn(async move {
                let ep = Endpoint::bind(SocketAddr::new(ping_ip, 1)).await.expect("bind ping");
                // Let pong bind first: a datagram to an unbound port is lost.
                madsim::time::sleep(Duration::from_millis(1)).await;
                let mut delivered = 0u64;
                for i in 0..messages / 2 {
                    ep.send_to_raw(pong_addr, PING, Box::new(i)).await.expect("send ping");
                    let (payload, _) = ep.recv_from_raw(PONG).await.expect("receive pong");
                    assert_eq!(*payload.downcast::<u64>().expect("a u64 came back"), i);
                    delivered += 2;
                }
                delivered
            });
            pinger.await.expect("the pinger finishes")
        });
        (delivered, started.elapsed())
    });
    thread.expect("spawn the ping-pong thread").join().expect("the ping-pong run does not panic")
}

// ---------------------------------------------------------------------------------------------
// Seeds per second, time acceleration

fn sweep_wall(s: &Arc<dyn Scenario>, p: &ProtocolFactory, seeds: u64, jobs: usize) -> (Duration, u64) {
    sweep_wall_in(s, p, 0..seeds, jobs, None)
}

fn sweep_wall_in(
    s: &Arc<dyn Scenario>,
    p: &ProtocolFactory,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    workers: Option<WorkerCmd>,
) -> (Duration, u64) {
    let spec = SweepSpec {
        pairs: vec![(s.clone(), p.clone())],
        seeds,
        shard: (0, 1),
        jobs,
        strategy: Strategy::Random,
        require: Vec::new(),
        workers,
    };
    let started = Instant::now();
    let results = sweep::run(&spec, &|_, _, _| {});
    (started.elapsed(), results.iter().map(|r| r.sim_ns).sum())
}

fn seeds_per_sec(counts: &Counts, versioned: &ProtocolFactory, opts: &BenchOptions) -> Value {
    let mut out = serde_json::Map::new();
    let seeds = 0..counts.sweep_seeds;
    for s in crate::scenario::catalog::all() {
        // The load next to each figure: a second job only scales onto a second idle core.
        let load_before = load_avg_1m();
        let (one, _) = sweep_wall_in(&s, versioned, seeds.clone(), 1, opts.workers.clone());
        let (two, _) = sweep_wall_in(&s, versioned, seeds.clone(), 2, opts.workers.clone());
        let (jobs_1, jobs_2) =
            (per_sec(counts.sweep_seeds as f64, one), per_sec(counts.sweep_seeds as f64, two));
        // The share of a second core a second job turns into seeds: 1.0 is perfect scaling.
        let efficiency = jobs_2 / (2.0 * jobs_1);
        opts.say(&format!(
            "bench:   {:<26} {jobs_1:>8.1} seeds/s (1 job) {jobs_2:>8.1} (2 jobs) efficiency {efficiency:.2}",
            s.name()
        ));
        out.insert(
            s.name().into(),
            json!({"jobs_1": round(jobs_1, 1), "jobs_2": round(jobs_2, 1), "seeds": counts.sweep_seeds,
                   "parallel_efficiency": round(efficiency, 3),
                   "load_avg_1m": {"before": load_before, "after": load_avg_1m()}}),
        );
    }
    Value::Object(out)
}

/// RSS after `rss_runs_warm` runs of fill-race x versioned in this process and after
/// `rss_runs_total`, and the growth per run between them: what each finished run leaves
/// reachable (allocator noise included). Threads of this process on purpose: worker processes
/// would hide a leak, and this figure exists to catch one.
fn rss_growth(counts: &Counts, versioned: &ProtocolFactory) -> Value {
    let s = scenario("fill-race");
    let (warm, total) = (counts.rss_runs_warm, counts.rss_runs_total);
    sweep_wall_in(&s, versioned, 0..warm, 1, None);
    let warm_kb = status_kb("VmRSS").unwrap_or(0);
    // In sweeps of `warm` seeds each: a sweep holds every seed's result (its figures, about a
    // kilobyte) until it reports, and the allocator keeps that peak resident after it is freed,
    // so one 9,500-seed sweep would count its own report as growth. What is measured is what a
    // finished run leaves behind.
    let mut wall = Duration::ZERO;
    for from in (warm..total).step_by(warm.max(1) as usize) {
        wall += sweep_wall_in(&s, versioned, from..(from + warm).min(total), 1, None).0;
    }
    let total_kb = status_kb("VmRSS").unwrap_or(0);
    let per_run = total_kb.saturating_sub(warm_kb) as f64 / (total - warm) as f64;
    json!({
        "scenario": s.name(), "protocol": "versioned",
        "runs_warm": warm, "runs_total": total,
        "rss_mb_after_warm": mb(warm_kb), "rss_mb_after_total": mb(total_kb),
        "rss_growth_kb_per_run": round(per_run, 3),
        "seeds_per_sec": round(per_sec((total - warm) as f64, wall), 1),
    })
}

/// The largest resident set of an `explore` over `budget`, its parent and every worker: it runs
/// as a child of this process (`workers`' program, two jobs), and once it is waited for,
/// `getrusage(RUSAGE_CHILDREN)`'s `ru_maxrss` is the largest resident set of any descendant
/// waited for so far (the explore waits for each worker it retires). That holds only while no
/// other child has ended, so this runs before the sections that start workers, and the figure is
/// `null` with a reason when the mark was already set or there is no binary to run.
fn explore_rss(budget: Duration, workers: Option<&WorkerCmd>) -> Vec<(&'static str, Value)> {
    let skipped = |why: String| vec![("explore_rss_mb", Value::Null), ("explore_rss_skipped", json!(why))];
    let Some(cmd) = workers else {
        return skipped("no tiersim binary to run explore in (threads of a test binary)".into());
    };
    let children_max_kb = || {
        // SAFETY: getrusage writes into the struct it is handed and reads nothing else.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
        usage.ru_maxrss as u64
    };
    let before_kb = children_max_kb();
    if before_kb > 0 {
        // `cargo run` (so `cargo tiersim`) execs the binary in place, and the rusage of cargo's
        // own children (rustc) comes with it.
        return skipped(format!(
            "a child of {} MB had ended before the explore (under `cargo run`, cargo's own; run \
             target/release/tiersim bench directly for this figure)",
            mb(before_kb)
        ));
    }
    let out = std::env::temp_dir().join(format!("tiersim-bench-explore-{}", std::process::id()));
    let load_before = load_avg_1m();
    let started = Instant::now();
    let run = std::process::Command::new(&cmd.program)
        .args(["explore", "--budget", &format!("{}s", budget.as_secs().max(1)), "--jobs", "2", "--json"])
        .arg("--out")
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .output();
    let _ = std::fs::remove_dir_all(&out);
    let report = match run {
        Ok(o) if o.status.code().is_some_and(|c| c <= 1) => {
            serde_json::from_slice::<Value>(&o.stdout).unwrap_or(Value::Null)
        }
        Ok(o) => return skipped(format!("explore ended with {}", o.status)),
        Err(e) => return skipped(format!("cannot run {}: {e}", cmd.program.display())),
    };
    let peak_kb = children_max_kb();
    vec![
        ("explore_rss_mb", json!(mb(peak_kb))),
        ("explore_rss_under_300mb", json!(mb(peak_kb) < 300.0)),
        ("explore_budget_s", json!(budget.as_secs())),
        ("explore_wall_ms", json!(started.elapsed().as_millis() as u64)),
        ("explore_runs", report["runs"].clone()),
        ("explore_load_avg_1m", json!({"before": load_before, "after": load_avg_1m()})),
    ]
}

fn time_acceleration(counts: &Counts, versioned: &ProtocolFactory) -> Value {
    let s = scenario("ttl-coordination");
    let (wall, sim_ns) = sweep_wall(&s, versioned, counts.ttl_seeds, 1);
    let ratio = sim_ns as f64 / 1e9 / wall.as_secs_f64().max(1e-9);
    json!({
        "sim_sec_per_wall_sec": round(ratio, 0),
        "scenario": "ttl-coordination",
        "protocol": "versioned",
        "seeds": counts.ttl_seeds,
        "sim_sec": round(sim_ns as f64 / 1e9, 3),
        "wall_ms": wall.as_millis() as u64,
        "jobs": 1,
    })
}

// ---------------------------------------------------------------------------------------------
// Checkers

/// The commit-order fast path and the etcd peer histories.
fn checker(counts: &Counts, shared_dir: &Path, opts: &BenchOptions) -> Value {
    let mut out = json!({});
    let etcd = shared_dir.join("peer-histories/etcd");
    match etcd_total(&etcd, counts.etcd_rounds) {
        Ok((best, files, ops)) => {
            out["etcd_total_ms"] = json!(round(best.as_secs_f64() * 1000.0, 2));
            out["etcd_histories"] = json!(files);
            out["etcd_ops"] = json!(ops);
            out["etcd_rounds"] = json!(counts.etcd_rounds);
            out["etcd_dir"] = json!(etcd.display().to_string());
        }
        Err(why) => {
            let message = format!(
                "ETCD PEER HISTORIES NOT CHECKED: {why} (looked in {}; set TIERSIM_SHARED to the \
                 directory that contains peer-histories/)",
                etcd.display()
            );
            eprintln!("\n{message}\n");
            opts.say(&message);
            out["etcd_total_ms"] = Value::Null;
            out["etcd_missing"] = json!(message);
        }
    }

    // What a user waits for: `check` on the directories (parse + check + Δ), in-process.
    let cli_total_ms = |dir: &Path, max_states: u64| -> Option<f64> {
        let opts = tiersim_sim::check::command::CheckOptions { max_states, ..Default::default() };
        let mut best = Duration::MAX;
        for _ in 0..counts.etcd_rounds.max(1) {
            let started = Instant::now();
            tiersim_sim::check::command::check_paths(&[dir.to_path_buf()], &opts).ok()?;
            best = best.min(started.elapsed());
        }
        Some(round(best.as_secs_f64() * 1000.0, 2))
    };
    out["etcd_cli_total_ms"] = json!(cli_total_ms(&etcd, Budget::default().max_states));
    out["kv_total_ms"] = json!(cli_total_ms(&shared_dir.join("peer-histories/porcupine-kv"), 300_000));
    // (c50-bad's hardest keys exhaust any budget; 300,000 states each bounds them, as in the test.)
    // 1,000,000 sequential operations on one key (writes and reads of repeating values, so the
    // search, not the unique-value zone check, decides), built outside the timing.
    let sequential: Vec<Op> = (0..500_000u64)
        .flat_map(|i| {
            let v = OpValue::Single(Some((i % 5) as i64));
            let op = |process, f, t: u64| Op {
                process,
                f,
                key: "k".into(),
                value: v,
                outcome: parse::Outcome::Ok,
                invoke_ns: t,
                complete_ns: Some(t + 1),
                line: 0,
            };
            [op(1, OpFn::Write, 4 * i), op(2, OpFn::Read, 4 * i + 2)]
        })
        .collect();
    let started = Instant::now();
    let report = wgl::check_ops(&sequential, &Budget::default());
    assert_eq!(report.ok(), Some(true), "tiersim bug: a sequential history is not linearizable");
    out["sequential_1m_ms"] = json!(round(started.elapsed().as_secs_f64() * 1000.0, 2));

    let keys = versioned_history(counts.fast_path_ops, counts.fast_path_keys, 0x5eed);
    let mut best = Duration::MAX;
    for _ in 0..counts.fast_path_rounds {
        let started = Instant::now();
        for ops in &keys {
            let verdict = commit_order::check_key(ops);
            assert!(verdict.is_ok(), "tiersim bug: a generated linearizable history has a cycle");
        }
        best = best.min(started.elapsed());
    }
    out["fast_path_ops_per_sec"] = json!(round(per_sec(counts.fast_path_ops as f64, best), 0));
    out["fast_path_ops"] = json!(counts.fast_path_ops);
    out["fast_path_keys"] = json!(counts.fast_path_keys);
    out["fast_path_best_ms"] = json!(round(best.as_secs_f64() * 1000.0, 2));
    out
}

/// Parse and check every history of `dir` with the WGL checker, `rounds` times; the best
/// round's wall time, the number of histories and of operations.
fn etcd_total(dir: &Path, rounds: usize) -> Result<(Duration, usize, usize), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read the directory: {e}"))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err("no .jsonl histories in it".into());
    }
    // Read the files once, outside the timing: the figure is the checker's, not the disk's.
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).map_err(|e| format!("cannot read {}: {e}", f.display())))
        .collect::<Result<_, _>>()?;
    let (mut best, mut ops_total) = (Duration::MAX, 0);
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        ops_total = 0;
        for (text, file) in texts.iter().zip(&files) {
            let ops = parse::parse_ops(text).map_err(|e| format!("{}: {e}", file.display()))?;
            ops_total += ops.len();
            let report = wgl::check_ops(&ops, &Budget::default());
            std::hint::black_box(report);
        }
        best = best.min(started.elapsed());
    }
    Ok((best, files.len(), ops_total))
}

/// One planned operation of a synthetic execution: its interval and the instant inside it at
/// which it takes effect.
struct Planned {
    process: u64,
    key: u64,
    /// 0..10: what kind of operation (the caller decides the mix).
    kind: u64,
    invoke_ns: u64,
    complete_ns: u64,
    effect_ns: u64,
    tiebreak: u64,
}

/// `processes` clients each run `per_process` operations one after another on random keys; each
/// operation takes effect at a random instant of its interval. Returned in effect order (ties
/// broken at random), which is a valid linearization by construction: if a completes before b is
/// invoked, a's effect comes strictly before b's.
fn plan(seed: u64, processes: u64, per_process: u64, keys: u64) -> Vec<Planned> {
    let mut rng = tiersim_sim::rng::stream(seed, "synthetic-history");
    let mut planned = Vec::with_capacity((processes * per_process) as usize);
    for process in 0..processes {
        let mut t_ns = rng.gen_range(0..50);
        for _ in 0..per_process {
            let invoke_ns = t_ns + 1 + rng.gen_range(0..30);
            let complete_ns = invoke_ns + 1 + rng.gen_range(0..60);
            let effect_ns = invoke_ns + rng.gen_range(0..complete_ns - invoke_ns + 1);
            let (key, kind, tiebreak) = (rng.gen_range(0..keys), rng.gen_range(0..10), rng.gen::<u64>());
            planned.push(Planned { process, key, kind, invoke_ns, complete_ns, effect_ns, tiebreak });
            t_ns = complete_ns;
        }
    }
    planned.sort_by_key(|p| (p.effect_ns, p.tiebreak));
    planned
}

/// A linearizable versioned history of about `ops` operations over `keys` keys, per key: 40% of
/// operations write the next version, the rest read the version current at their effect.
fn versioned_history(ops: usize, keys: usize, seed: u64) -> Vec<Vec<VersionedOp>> {
    const PROCESSES: u64 = 16;
    let per_process = (ops as u64).div_ceil(PROCESSES);
    let mut by_key: Vec<Vec<VersionedOp>> = (0..keys).map(|_| Vec::new()).collect();
    let mut versions = vec![0u64; keys];
    for (id, p) in plan(seed, PROCESSES, per_process, keys as u64).into_iter().take(ops).enumerate() {
        let k = p.key as usize;
        let access = if p.kind < 4 {
            versions[k] += 1;
            Access::Write
        } else {
            Access::Read
        };
        by_key[k].push(VersionedOp {
            op: id as u64,
            process: p.process,
            access,
            version: versions[k],
            invoke_ns: p.invoke_ns,
            complete_ns: Some(p.complete_ns),
        });
    }
    by_key
}

/// A linearizable register history for the WGL checker: reads, writes, deletes and cas (some
/// failing) on `keys` keys, with the values reads and cas saw computed in effect order.
fn register_history(processes: u64, per_process: u64, keys: u64, seed: u64) -> Vec<Op> {
    let mut rng = tiersim_sim::rng::stream(seed ^ 0xa5a5, "synthetic-history");
    let mut registers: Vec<Option<i64>> = vec![None; keys as usize];
    let mut ops: Vec<Op> = plan(seed, processes, per_process, keys)
        .into_iter()
        .map(|p| {
            let register = &mut registers[p.key as usize];
            let small = |rng: &mut ChaCha8Rng| Some(1 + rng.gen_range(0..4) as i64);
            let (f, value, outcome) = match p.kind {
                0..=3 => (OpFn::Read, OpValue::Single(*register), parse::Outcome::Ok),
                4..=6 => {
                    let v = small(&mut rng);
                    *register = v;
                    (OpFn::Write, OpValue::Single(v), parse::Outcome::Ok)
                }
                7 => {
                    *register = None;
                    (OpFn::Delete, OpValue::Single(None), parse::Outcome::Ok)
                }
                _ => {
                    let expected = if rng.gen_range(0..4) == 0 { None } else { small(&mut rng) };
                    let new = small(&mut rng);
                    let outcome = if *register == expected {
                        *register = new;
                        parse::Outcome::Ok
                    } else {
                        parse::Outcome::Fail
                    };
                    (OpFn::Cas, OpValue::Cas(expected, new), outcome)
                }
            };
            Op {
                process: p.process,
                f,
                key: format!("k{}", p.key),
                value,
                outcome,
                invoke_ns: p.invoke_ns,
                complete_ns: Some(p.complete_ns),
                line: 0,
            }
        })
        .collect();
    // A history file lists operations in invoke order; give them lines in that order.
    ops.sort_by_key(|o| (o.invoke_ns, o.process));
    for (i, o) in ops.iter_mut().enumerate() {
        o.line = i + 1;
    }
    ops
}

/// A field of `/proc/self/status` in kB (`VmHWM`: peak resident set; `VmRSS`: current).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.strip_prefix(field).is_some_and(|rest| rest.starts_with(':')))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mb(kb: u64) -> f64 {
    round(kb as f64 / 1024.0, 1)
}

/// Peak memory of the WGL check of a 200,000-operation, 20-process history. Returns the
/// figures and the process's peak before the mark was reset.
fn wgl_memory(counts: &Counts) -> (Vec<(&'static str, Value)>, u64) {
    let ops = register_history(counts.wgl_processes, counts.wgl_ops_per_process, counts.wgl_keys, 200_000);
    let peak_before_kb = status_kb("VmHWM").unwrap_or(0);
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+), so the mark read
    // after the check is the check's own peak with the history already in memory.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss_before_kb = status_kb("VmRSS").unwrap_or(0);
    let started = Instant::now();
    let report = wgl::check_ops(&ops, &Budget::default());
    let wall = started.elapsed();
    let peak_kb = status_kb("VmHWM").unwrap_or(0);
    // The absolute mark is the figure: the allocator reuses the memory the generator freed, so
    // the growth over the RSS before the check understates what checking needs.
    let basis = if reset {
        "absolute VmHWM of the process during the check: it runs first, in a process holding only \
         the generated history, and the mark was reset via /proc/self/clear_refs just before it"
    } else {
        "absolute VmHWM of the process so far (the mark could not be reset; the check runs first, \
         so only the generated history and the test harness precede it)"
    };
    let figures = vec![
        ("peak_rss_200k_mb", json!(mb(peak_kb))),
        ("peak_rss_200k_basis", json!(basis)),
        ("peak_rss_200k_delta_mb", json!(mb(peak_kb.saturating_sub(rss_before_kb)))),
        ("rss_before_200k_check_mb", json!(mb(rss_before_kb))),
        ("wgl_200k_ops", json!(ops.len())),
        ("wgl_200k_keys", json!(report.keys)),
        ("wgl_200k_ms", json!(wall.as_millis() as u64)),
        ("wgl_200k_ok", json!(report.ok())),
    ];
    (figures, peak_before_kb.max(peak_kb))
}

// ---------------------------------------------------------------------------------------------
// Zoo

/// The seed at which an entry first fails with its invariant, searched from `offset` in
/// growing chunks, and the wall time the search took.
fn first_failure(
    entry: &zoo::ZooEntry,
    strategy: Strategy,
    offset: u64,
    cap: u64,
) -> (Option<u64>, Duration) {
    let s = scenario(entry.scenario);
    let p = zoo::protocol(entry);
    let invariant = entry.invariant.name();
    let started = Instant::now();
    let mut done = 0u64;
    let mut chunk = 2u64;
    while done < cap {
        let end = (done + chunk).min(cap);
        // Coverage carries a corpus from seed to seed: re-run the whole prefix (deterministic,
        // so it repeats exactly). The others: only the new seeds, two at a time.
        let first = if strategy.sequential() { 0 } else { done };
        let spec = SweepSpec {
            pairs: vec![(s.clone(), p.clone())],
            seeds: offset + first..offset + end,
            shard: (0, 1),
            jobs: 2,
            strategy,
            require: Vec::new(),
            workers: None,
        };
        let found = sweep::run(&spec, &|_, _, _| {})
            .iter()
            .filter(|r| r.invariants.iter().any(|i| i == invariant))
            .map(|r| r.seed)
            .min();
        if let Some(seed) = found {
            return (Some(seed - offset + 1), started.elapsed());
        }
        done = end;
        chunk *= 2;
    }
    (None, started.elapsed())
}

/// The median of seeds-to-failure, a miss counting as more than any cap; `None` if the median
/// itself is a miss.
fn median(values: &[Option<u64>]) -> Option<u64> {
    let mut sorted: Vec<u64> = values.iter().map(|v| v.unwrap_or(u64::MAX)).collect();
    sorted.sort_unstable();
    let m = sorted[(sorted.len() - 1) / 2];
    (m != u64::MAX).then_some(m)
}

fn show_median(m: Option<u64>, cap: u64) -> Value {
    match m {
        Some(m) => json!(m),
        None => json!(format!(">{cap}")),
    }
}

fn zoo_figures(counts: &Counts, opts: &BenchOptions) -> Value {
    let cap = counts.zoo_cap;
    let mut entries = Vec::new();
    // (name, median per strategy in Strategy::ALL order)
    let mut medians: Vec<(&str, Vec<Option<u64>>)> = Vec::new();
    for entry in &zoo::ZOO {
        let mut per_strategy = Vec::new();
        let mut entry_medians = Vec::new();
        for strategy in Strategy::ALL {
            let mut seeds = Vec::new();
            let mut wall = Duration::ZERO;
            for &offset in &counts.zoo_offsets {
                let (n, w) = first_failure(entry, strategy, offset, cap);
                seeds.push(n);
                wall += w;
            }
            let m = median(&seeds);
            opts.say(&format!(
                "bench:   {:<26} {:<9} median {:>5} seeds ({} ms)",
                entry.name,
                strategy.name(),
                m.map_or(format!(">{cap}"), |m| m.to_string()),
                wall.as_millis()
            ));
            entry_medians.push(m);
            per_strategy.push(json!({
                "strategy": strategy.name(),
                "median_seeds_to_failure": m,
                "median_display": show_median(m, cap),
                "seeds_to_failure": seeds,
                "wall_ms": wall.as_millis() as u64,
            }));
        }
        let random = entry_medians[0];
        entries.push(json!({
            "name": entry.name,
            "tier": entry.tier.name(),
            "scenario": entry.scenario,
            "invariant": entry.invariant.name(),
            "median_seeds_to_failure": random,
            "median_display": show_median(random, cap),
            "strategies": per_strategy,
        }));
        medians.push((entry.name, entry_medians));
    }

    let index = |s: Strategy| Strategy::ALL.iter().position(|&x| x == s).expect("a strategy of ALL");
    let (random, swarm, pct) = (index(Strategy::Random), index(Strategy::Swarm), index(Strategy::Pct));
    let within: Vec<&str> = medians.iter().filter(|(_, m)| m[random].is_some()).map(|(n, _)| *n).collect();
    let missed: Vec<&str> = medians.iter().filter(|(_, m)| m[random].is_none()).map(|(n, _)| *n).collect();
    // The hardest three by random median (a miss is hardest); ties keep the zoo's order.
    let mut by_difficulty: Vec<&(&str, Vec<Option<u64>>)> = medians.iter().collect();
    by_difficulty.sort_by_key(|(_, m)| std::cmp::Reverse(m[random].unwrap_or(u64::MAX)));
    // "3x fewer": the strategy's median times three is at most random's; a random miss counts
    // as cap + 1, so the answer is then a lower bound on the real ratio.
    let three_times_fewer = |m: &Vec<Option<u64>>, s: usize| {
        let base = m[random].unwrap_or(cap + 1);
        m[s].is_some_and(|x| 3 * x <= base)
    };
    let hardest: Vec<Value> = by_difficulty
        .iter()
        .take(3)
        .map(|(name, m)| {
            json!({
                "name": name,
                "random": show_median(m[random], cap),
                "swarm": show_median(m[swarm], cap),
                "pct": show_median(m[pct], cap),
                "swarm_3x_fewer": three_times_fewer(m, swarm),
                "pct_3x_fewer": three_times_fewer(m, pct),
            })
        })
        .collect();
    let any_3x =
        hardest.iter().all(|h| h["swarm_3x_fewer"] == json!(true) || h["pct_3x_fewer"] == json!(true));
    json!({
        "entries": entries,
        "summary": {
            "cap": cap,
            "offsets": counts.zoo_offsets,
            "seeds_to_failure_counts": "seeds run from the offset up to and including the first \
                whose violations include the entry's invariant",
            "within_cap_by_random": within,
            "not_within_cap_by_random": missed,
            "all_within_cap_by_random": missed.is_empty(),
            "hardest_by_random": hardest,
            "pct_or_swarm_3x_fewer_on_all_hardest": any_3x,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Shrinking

fn shrink_figures(counts: &Counts, opts: &BenchOptions) -> Value {
    let s = scenario("fill-race");
    let p = protocol("cache-aside");
    let config = s.config();
    let mut results = Vec::new();
    for seed in 0..200 {
        if results.len() >= counts.shrink_failures {
            break;
        }
        let o = run_seed(&*s, p.clone(), seed, &[]);
        if o.verdict != Verdict::Fail {
            continue;
        }
        let invariant = o.violations[0].invariant.clone();
        let schedule = s.schedule(seed);
        let started = Instant::now();
        let (_, shrunk_seed, stats, outcome) =
            shrink_failure(&config, p.clone(), seed, &schedule, &invariant, counts.shrink_max_runs);
        let wall = started.elapsed();
        let still_fails = outcome.violations.iter().any(|v| v.invariant == invariant);
        opts.say(&format!(
            "bench:   seed {seed}: {} -> {} ops in {} runs, {} ms",
            stats.ops_before,
            stats.ops_after,
            stats.runs,
            wall.as_millis()
        ));
        results.push(json!({
            "seed": seed,
            "invariant": invariant,
            "ops_before": stats.ops_before,
            "ops_after": stats.ops_after,
            "faults_before": stats.faults_before,
            "faults_after": stats.faults_after,
            "runs": stats.runs,
            "shrunk_seed": shrunk_seed,
            "still_fails": still_fails,
            "wall_ms": wall.as_millis() as u64,
        }));
    }
    let max = |field: &str| results.iter().filter_map(|r| r[field].as_u64()).max();
    let first = results.first().cloned().unwrap_or(Value::Null);
    json!({
        "scenario": "fill-race",
        "protocol": "cache-aside",
        "max_runs": counts.shrink_max_runs,
        "ops_after": first["ops_after"],
        "ops_before": first["ops_before"],
        "wall_ms": first["wall_ms"],
        "ops_after_max": max("ops_after"),
        "wall_ms_max": max("wall_ms"),
        "failures": results,
    })
}

// ---------------------------------------------------------------------------------------------
// Targets and machine

fn targets(
    engine: &Value,
    accel: &Value,
    checker: &Value,
    zoo: &Value,
    shrink: &Value,
    memory: &Value,
    seeds_per_sec: &Value,
) -> Value {
    let holds = |v: &Value, ok: &dyn Fn(f64) -> bool| v.as_f64().map(ok);
    let efficiencies: Vec<f64> = seeds_per_sec
        .as_object()
        .map(|o| o.values().filter_map(|v| v["parallel_efficiency"].as_f64()).collect())
        .unwrap_or_default();
    json!({
        "rss_growth_le_1kb_per_run": holds(&memory["rss_growth_kb_per_run"], &|x| x <= 1.0),
        "parallel_efficiency_ge_0_9_everywhere": (!efficiencies.is_empty())
            .then(|| efficiencies.iter().all(|&e| e >= 0.9)),
        "engine_ratio_ge_0_7": holds(&engine["ratio_to_raw_madsim"], &|x| x >= 0.7),
        "time_acceleration_ge_10000": holds(&accel["sim_sec_per_wall_sec"], &|x| x >= 10_000.0),
        "etcd_well_under_1s": holds(&checker["etcd_total_ms"], &|x| x < 500.0),
        "fast_path_ge_1m_ops_per_sec": holds(&checker["fast_path_ops_per_sec"], &|x| x >= 1e6),
        "zoo_all_within_200_by_random": zoo["summary"]["all_within_cap_by_random"],
        "zoo_pct_or_swarm_3x_fewer_on_hardest": zoo["summary"]["pct_or_swarm_3x_fewer_on_all_hardest"],
        "shrink_stale_set_le_4_ops": holds(&shrink["ops_after_max"], &|x| x <= 4.0),
    })
}

/// The kernel's one-minute load average: above the core count, jobs wait for a core.
fn load_avg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    json!({
        "nproc": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "cpu_model": model,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> Value {
        run(&BenchOptions {
            shared_dir: BenchOptions::default_shared_dir(),
            quick: true,
            progress: Some(&|line: &str| eprintln!("{line}")),
            workers: None,
            explore_budget: None,
        })
    }

    /// The JSON has every field the brief and BENCHMARKS.md name, with the right kinds. Timing
    /// values are never checked: they belong to the bench, not to a test.
    #[test]
    fn quick_bench_has_the_documented_shape() {
        let j = quick();
        for field in ["raw_madsim_msgs_per_sec", "tiersim_msgs_per_sec", "ratio_to_raw_madsim"] {
            assert!(j["engine"][field].is_number(), "engine.{field}: {}", j["engine"]);
        }
        assert_eq!(j["seeds_per_sec"].as_object().unwrap().len(), crate::scenario::catalog::all().len());
        for s in crate::scenario::catalog::all() {
            let v = &j["seeds_per_sec"][s.name()];
            assert!(v["jobs_1"].is_number() && v["jobs_2"].is_number(), "{}: {v}", s.name());
            assert!(v["parallel_efficiency"].is_number(), "{}: {v}", s.name());
        }
        assert!(j["time_acceleration"]["sim_sec_per_wall_sec"].is_number());
        assert!(j["memory"]["rss_growth_kb_per_run"].is_number(), "{}", j["memory"]);
        // A test binary cannot run `explore`, and says so instead of a figure.
        assert!(j["memory"]["explore_rss_mb"].is_null() && j["memory"]["explore_rss_skipped"].is_string());
        assert!(j["targets"]["rss_growth_le_1kb_per_run"].is_boolean(), "{}", j["targets"]);
        let c = &j["checker"];
        assert!(c["etcd_total_ms"].is_number() || c["etcd_missing"].is_string(), "{c}");
        assert!(c["fast_path_ops_per_sec"].is_number() && c["peak_rss_200k_mb"].is_number(), "{c}");
        assert_eq!(c["wgl_200k_ok"], json!(true), "the generated register history is linearizable");
        let zoo = j["zoo"].as_array().unwrap();
        assert_eq!(zoo.len(), zoo::ZOO.len());
        for e in zoo {
            assert!(e["name"].is_string());
            assert!(e["median_seeds_to_failure"].is_u64() || e["median_seeds_to_failure"].is_null());
            let strategies = e["strategies"].as_array().unwrap();
            assert_eq!(strategies.len(), Strategy::ALL.len());
            for s in strategies {
                assert!(s["strategy"].is_string() && s["wall_ms"].is_u64(), "{s}");
                assert!(s["median_seeds_to_failure"].is_u64() || s["median_seeds_to_failure"].is_null());
            }
        }
        assert!(j["shrink"]["ops_after"].is_u64() && j["shrink"]["ops_before"].is_u64(), "{}", j["shrink"]);
        assert!(j["shrink"]["wall_ms"].is_u64());
        assert!(j["peak_rss_mb"].is_number());
        assert!(j["machine"]["nproc"].is_u64());
    }

    /// The generated versioned history is linearizable, so the fast path must accept every key;
    /// a read of a version from the future must be caught.
    #[test]
    fn generated_versioned_history_passes_and_a_future_read_fails() {
        let mut keys = versioned_history(5_000, 5, 3);
        for ops in &keys {
            assert!(commit_order::check_key(ops).is_ok());
        }
        let ops = &mut keys[0];
        let (last_write, last_version) = ops
            .iter()
            .filter(|o| o.access == Access::Write)
            .map(|o| (o.invoke_ns, o.version))
            .last()
            .unwrap();
        let early_read =
            ops.iter_mut().find(|o| o.access == Access::Read && o.complete_ns < Some(last_write));
        early_read.expect("an early read").version = last_version;
        assert!(commit_order::check_key(ops).is_err());
    }

    /// Prints the full bench's JSON: `cargo test --release -p tiersim-scenarios bench -- --ignored
    /// --nocapture` until the CLI's `tiersim bench` exists.
    #[test]
    #[ignore]
    fn bench_full_prints_json() {
        let quick = std::env::var_os("TIERSIM_BENCH_QUICK").is_some();
        let j = run(&BenchOptions {
            shared_dir: BenchOptions::default_shared_dir(),
            quick,
            progress: Some(&|line: &str| eprintln!("{line}")),
            workers: None,
            explore_budget: None,
        });
        println!("{}", serde_json::to_string_pretty(&j).unwrap());
    }
}
