//! One run: a fresh OS thread, a madsim runtime seeded with the run seed, the nodes a model adds,
//! and the fault plan applied at its times.
//!
//! Each run gets its own thread because std's HashMap seeds (used inside madsim and in user code)
//! are deterministic only in a runtime created on a fresh thread, and because a panic in model
//! code must end that run alone: it becomes an `Abort::Crash` carrying the seed, never a crash of
//! the process or of a sweep. A sim-time limit and a step budget end runs that would never finish
//! (`Abort::Liveness`).

use crate::clock::sim_now_ns;
use crate::fault::Fault;
use crate::log::{Logs, RunLog};
use crate::net::{SimCtx, STEP_BUDGET_EXCEEDED};
use madsim::runtime::{Handle, Runtime};
use madsim::task::NodeId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Engine settings of a run. Defaults: 1 hour of sim time, 10 million steps, message latency
/// 1..10 ms (madsim's own default).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The run is stopped (verdict `liveness`) when sim time reaches this.
    pub time_limit_ns: u64,
    /// The run is stopped (verdict `liveness`) after this many message sends and events.
    pub step_budget: u64,
    /// One-way network latency range [min, max) of every message.
    pub latency_min_ns: u64,
    pub latency_max_ns: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            time_limit_ns: 3_600_000_000_000,
            step_budget: 10_000_000,
            latency_min_ns: 1_000_000,
            latency_max_ns: 10_000_000,
        }
    }
}

/// The largest step budget a configuration may ask for: 100 times the default, so that a run a
/// replay file describes ends in minutes, not days.
pub const MAX_STEP_BUDGET: u64 = 1_000_000_000;

impl RunConfig {
    /// Check every field: `time_limit_ns` in 1..=`MAX_SIM_NS`, `step_budget` in
    /// 1..=`MAX_STEP_BUDGET`, `latency_min_ns <= latency_max_ns <= MAX_SIM_NS`. The error starts
    /// with the field's name.
    pub fn validate(&self) -> Result<(), String> {
        use crate::schedule::MAX_SIM_NS;
        if !(1..=MAX_SIM_NS).contains(&self.time_limit_ns) {
            return Err(format!("time_limit_ns is {}; allowed 1..={MAX_SIM_NS}", self.time_limit_ns));
        }
        if !(1..=MAX_STEP_BUDGET).contains(&self.step_budget) {
            return Err(format!("step_budget is {}; allowed 1..={MAX_STEP_BUDGET}", self.step_budget));
        }
        if self.latency_max_ns > MAX_SIM_NS {
            return Err(format!("latency_max_ns is {}; allowed 0..={MAX_SIM_NS}", self.latency_max_ns));
        }
        if self.latency_min_ns > self.latency_max_ns {
            return Err(format!(
                "latency_min_ns is {}; allowed 0..=latency_max_ns ({})",
                self.latency_min_ns, self.latency_max_ns
            ));
        }
        Ok(())
    }
}

/// Why a run stopped before its body finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Abort {
    /// Model or protocol code panicked.
    Crash(String),
    /// The run could not finish: sim-time limit, step budget, or every task blocked forever.
    Liveness(String),
}

/// What a run produced.
#[derive(Debug)]
pub struct Finished<T> {
    pub result: Result<T, Abort>,
    /// Sim time when the run ended, in nanoseconds.
    pub sim_ns: u64,
    /// Messages sent.
    pub messages: u64,
    /// What the run's code logged through `tracing`, in sim time (not part of the trace).
    pub logs: Logs,
}

/// The simulated world as the run's body sees it: add nodes, apply faults.
pub struct World {
    ctx: SimCtx,
    handle: Handle,
    ids: BTreeMap<String, NodeId>,
    /// Every node, for the runner to kill when the run ends.
    nodes: Arc<std::sync::Mutex<Vec<NodeId>>>,
    /// The run's `tracing` events, named by node.
    log: RunLog,
}

impl World {
    /// The run-wide context every node shares.
    pub fn ctx(&self) -> &SimCtx {
        &self.ctx
    }

    /// Add node `name`. `init` builds the node's main task; it runs now and again after every
    /// restart (a restart loses whatever the task kept in memory).
    pub fn add_node<F, Fut>(&mut self, name: &str, init: F)
    where
        F: Fn(SimCtx, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        assert!(!self.ids.contains_key(name), "tiersim bug: two nodes named {name}");
        let n = self.ids.len() as u32 + 1;
        let ip = IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8));
        self.ctx.addrs.lock().unwrap().insert(name.to_string(), SocketAddr::new(ip, crate::net::PORT));
        let ctx = self.ctx.clone();
        let owned = name.to_string();
        let node = self
            .handle
            .create_node()
            .name(name)
            .ip(ip)
            .init(move || init(ctx.clone(), owned.clone()))
            .build();
        self.ids.insert(name.to_string(), node.id());
        self.log.name_node(node.id(), name);
        self.nodes.lock().unwrap().push(node.id());
    }

    fn id(&self, name: &str) -> NodeId {
        *self.ids.get(name).unwrap_or_else(|| panic!("tiersim bug: fault names unknown node {name}"))
    }

    /// Apply one fault now.
    pub fn apply(&self, fault: &Fault) {
        let net = madsim::net::NetSim::current();
        match fault {
            Fault::ClogLink { a, b } => {
                net.clog_link(self.id(a), self.id(b));
                net.clog_link(self.id(b), self.id(a));
            }
            Fault::UnclogLink { a, b } => {
                net.unclog_link(self.id(a), self.id(b));
                net.unclog_link(self.id(b), self.id(a));
            }
            Fault::ClogNode { node } => net.clog_node(self.id(node)),
            Fault::UnclogNode { node } => net.unclog_node(self.id(node)),
            Fault::Kill { node } | Fault::Failover { node } => self.handle.kill(self.id(node)),
            Fault::Restart { node } => {
                // Killing first makes a restart of a running node (overlapping outages) a clean
                // crash-and-start: its sockets are released before the init task binds again.
                self.handle.kill(self.id(node));
                self.handle.restart(self.id(node));
            }
            Fault::Pause { node } => self.handle.pause(self.id(node)),
            Fault::Resume { node } => self.handle.resume(self.id(node)),
            Fault::LossStart { per_mille } => {
                net.update_config(|c| c.packet_loss_rate = f64::from(*per_mille) / 1000.0)
            }
            Fault::LossEnd => net.update_config(|c| c.packet_loss_rate = 0.0),
            Fault::ClockSkew { node, skew_ns, drift_ppm } => self
                .ctx
                .clocks
                .set(node, crate::clock::ClockParams { skew_ns: *skew_ns, drift_ppm: *drift_ppm }),
            Fault::ShapingStart { max_delay_ns, dup_per_mille } => {
                self.ctx.shaping.lock().unwrap().0 =
                    crate::fault::Shaping { max_delay_ns: *max_delay_ns, dup_per_mille: *dup_per_mille }
            }
            Fault::ShapingEnd => self.ctx.shaping.lock().unwrap().0 = Default::default(),
            Fault::DropConnection { .. } => {}
            Fault::SlowLinkStart { from, to, extra_ns } => {
                self.ctx.slow_links.lock().unwrap().insert((from.clone(), to.clone()), *extra_ns);
            }
            Fault::SlowLinkEnd { from, to } => {
                self.ctx.slow_links.lock().unwrap().remove(&(from.clone(), to.clone()));
            }
        }
        self.ctx.conns.on_fault(fault);
    }
}

std::thread_local! {
    /// Where the last panic on this thread happened. Runs get fresh threads (see the module
    /// docs), so this never carries anything from one run into another.
    static PANIC_LOCATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Record every panic's location (`file:line:col`) for the thread it happens on, so a crash
/// verdict can say where the user's code panicked: the payload alone does not carry it. The hook
/// is installed once per process and hands every panic on to the hook it replaced.
fn record_panic_locations() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(l) = info.location() {
                let at = format!("{}:{}:{}", l.file(), l.line(), l.column());
                PANIC_LOCATION.with(|p| *p.borrow_mut() = Some(at));
            }
            previous(info)
        }));
    });
}

/// Where the latest panic on this thread happened (`file:line:col`), if it is known.
pub fn last_panic_location() -> Option<String> {
    PANIC_LOCATION.with(|p| p.borrow().clone())
}

/// The text of a panic payload (a `&str` or a `String`).
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Run `body` in a fresh simulation seeded with `seed`. `body` is the supervisor: it adds nodes,
/// drives the schedule and returns what the run produced.
pub fn run<T, F, Fut>(seed: u64, cfg: &RunConfig, body: F) -> Finished<T>
where
    T: Send + 'static,
    F: FnOnce(World) -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    let cfg = cfg.clone();
    let sim_ns = Arc::new(AtomicU64::new(0));
    let messages = Arc::new(AtomicU64::new(0));
    let (sim_ns2, messages2) = (sim_ns.clone(), messages.clone());
    record_panic_locations();
    let log = RunLog::default();
    let run_log = log.clone();
    let thread = spawn_retrying(format!("tiersim-seed-{seed}"), move || {
        let mut mcfg = madsim::Config::default();
        mcfg.net.send_latency = Duration::from_nanos(cfg.latency_min_ns)
            ..Duration::from_nanos(cfg.latency_max_ns.max(cfg.latency_min_ns + 1));
        let mut rt = Runtime::with_seed_and_config(seed, mcfg);
        rt.set_time_limit(Duration::from_nanos(cfg.time_limit_ns));
        let ctx = SimCtx::new(seed, cfg.step_budget);
        let nodes: Arc<std::sync::Mutex<Vec<NodeId>>> = Default::default();
        // This thread's default subscriber, for this run only (see `log`).
        let _logging = tracing::dispatcher::set_default(&tracing::Dispatch::new(run_log.clone()));
        let world = World {
            ctx: ctx.clone(),
            handle: rt.handle().clone(),
            ids: BTreeMap::new(),
            nodes: nodes.clone(),
            log: run_log,
        };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            rt.block_on(async move {
                let out = body(world).await;
                sim_ns2.store(sim_now_ns(), Ordering::Relaxed);
                out
            })
        }));
        messages2.store(ctx.messages_sent(), Ordering::Relaxed);
        // Release everything the run left in the runtime (see `release`).
        release(&rt, &nodes.lock().unwrap());
        outcome.map_err(|p| {
            // Model code that caught a panic may already have named its place (see the app node).
            let text = panic_text(&*p);
            match last_panic_location() {
                Some(at) if !text.contains(&at) => format!("panicked at {at}: {text}"),
                _ => text,
            }
        })
    });
    let joined = thread.join();
    let result = match joined {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(msg)) => Err(classify(msg)),
        Err(p) => Err(Abort::Crash(panic_text(&*p))),
    };
    Finished {
        result,
        sim_ns: sim_ns.load(Ordering::Relaxed),
        messages: messages.load(Ordering::Relaxed),
        logs: log.take(),
    }
}

/// Start `work` on a fresh thread (a run never reuses one: see the module docs), waiting and
/// trying again for a while when the system has no thread to give — the thread or memory limit
/// of a busy machine under many `--jobs` — instead of failing the sweep on the first refusal.
fn spawn_retrying<R: Send + 'static>(
    name: String,
    work: impl FnOnce() -> R + Send + 'static,
) -> std::thread::JoinHandle<R> {
    const TRIES: u32 = 12;
    let slot = Arc::new(std::sync::Mutex::new(Some(work)));
    let mut wait = Duration::from_millis(5);
    let mut tries = 0;
    loop {
        let s = slot.clone();
        let spawned = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || (s.lock().unwrap().take().expect("a run's work is taken once"))());
        match spawned {
            Ok(handle) => return handle,
            Err(e) if tries + 1 >= TRIES => panic!(
                "cannot start a simulation thread after {TRIES} tries over a few seconds: {e} (the machine is out of threads or memory: run fewer --jobs)"
            ),
            Err(_) => {
                tries += 1;
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(500));
            }
        }
    }
}

/// Free everything a finished run's tasks hold, before the runtime is dropped.
///
/// Dropping a madsim runtime does not free a task that has not finished: madsim's `TaskInfo`
/// holds the task's own waker and the task's future holds its `TaskInfo`, so every task still
/// pending when the run ends (a server loop waiting for a request, a client asleep on a timer)
/// is a reference cycle, and with it everything the future captured: the node's sockets, the
/// recorder, the tier stores, the schedule (about 200 KB a run on stale-set). A future is
/// dropped only when the executor runs its task and finds the node killed, so: kill every node
/// (which wakes each of its tasks into the ready queue), then let the executor run once over
/// an empty future; it drains the queue and drops each killed task's future, which breaks the
/// cycles. Runnables left in the queue would form a second cycle (queue -> runnable -> its
/// schedule closure -> the queue's sender), which the same drain removes.
///
/// This runs after the run's result, sim time and message count were taken, and dropping a
/// future records nothing, so it cannot change a verdict or a trace hash.
fn release(rt: &Runtime, nodes: &[NodeId]) {
    for id in nodes {
        rt.handle().kill(*id);
    }
    // A panic here (a user's Drop impl) must not turn a finished run into a crash; at worst
    // that run's memory stays reachable.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(async {})));
}

fn classify(msg: String) -> Abort {
    if msg.contains(STEP_BUDGET_EXCEEDED)
        || msg.contains("time limit exceeded")
        || msg.contains("no events, all tasks will block forever")
    {
        Abort::Liveness(msg)
    } else {
        Abort::Crash(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Weak;

    /// Regression (issue 11): every run left its unfinished tasks, and all they captured,
    /// reachable after the runtime was dropped; a 3,200-seed sweep grew to 661 MB.
    #[test]
    fn a_finished_run_frees_what_its_pending_tasks_hold() {
        let held: Arc<Vec<u8>> = Arc::new(vec![0; 1024]);
        let weak: Weak<Vec<u8>> = Arc::downgrade(&held);
        let finished = run(7, &RunConfig::default(), move |mut world| async move {
            let (sleeper, waiter) = (held.clone(), held);
            // One task asleep on a timer far past the end of the run, one waiting forever.
            world.add_node("sleeper", move |_, _| {
                let held = sleeper.clone();
                async move {
                    madsim::time::sleep(Duration::from_secs(3_000)).await;
                    drop(held);
                }
            });
            world.add_node("waiter", move |_, _| {
                let held = waiter.clone();
                async move {
                    std::future::pending::<()>().await;
                    drop(held);
                }
            });
            madsim::time::sleep(Duration::from_secs(1)).await;
        });
        assert_eq!(finished.result, Ok(()));
        assert!(weak.upgrade().is_none(), "a finished run's pending tasks are still reachable");
    }

    /// A run stopped by its time limit frees its tasks too.
    #[test]
    fn a_run_stopped_at_its_time_limit_frees_its_tasks() {
        let held: Arc<Vec<u8>> = Arc::new(vec![0; 1024]);
        let weak = Arc::downgrade(&held);
        let cfg = RunConfig { time_limit_ns: 2_000_000_000, ..RunConfig::default() };
        let finished = run(7, &cfg, move |mut world| async move {
            world.add_node("sleeper", move |_, _| {
                let held = held.clone();
                async move {
                    madsim::time::sleep(Duration::from_secs(3_000)).await;
                    drop(held);
                }
            });
            madsim::time::sleep(Duration::from_secs(10)).await;
        });
        assert!(matches!(finished.result, Err(Abort::Liveness(_))), "{:?}", finished.result);
        assert!(weak.upgrade().is_none(), "a stopped run's pending tasks are still reachable");
    }
}
