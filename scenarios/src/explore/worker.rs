//! Worker processes: a long sweep or `explore` runs its seeds in child processes of the same
//! binary, each running batches of seeds and streaming one JSON line back per seed.
//!
//! Why processes, when a run already has a thread of its own: a thread cannot survive its
//! process. A user protocol that aborts (stack overflow, `std::process::abort`, a panic while
//! panicking, an allocation failure) would end a whole sweep and lose every result; in a worker
//! it ends one worker, the seed it was running becomes a `crash` whose message names the signal,
//! and a fresh worker takes the rest of the batch. Memory stays flat by construction too: a
//! worker is recycled after a bounded number of runs, so whatever a run might leave behind
//! (madsim internals, a user's `static`) goes with its process. FoundationDB's simulator runs
//! one test per process for the same reasons.
//!
//! A worker is the parent's own executable re-executed with the hidden argument
//! [`WORKER_ARG`] (`std::env::current_exe`), and it resolves the scenario and protocol by name
//! in the [`Registry`] that binary was built with; so a user's binary built on
//! `cli::main_with(registry)` runs its own protocols in its workers.
//!
//! Per-seed results are the in-thread results: the worker runs each seed exactly as a thread of
//! the parent would (`run_in`, the runtime's fresh thread per run), and sends the verdict, the
//! violations and the trace hash. It does not send the history (megabytes); an outcome that
//! came from a worker has an empty history, no latencies and no list of unfinished operations. A caller that needs them re-runs
//! the seed in process, which gives the same trace.
//!
//! The stream: the parent writes one [`Job`] per line to the worker's stdin, the worker answers
//! each with one [`Reply`] line on its stdout, in order. The worker moves its stdout to a
//! private descriptor first and points descriptor 1 at stderr, so a protocol that prints cannot
//! corrupt the stream.

use crate::explore::coverage::signature;
use crate::explore::strategy::Strategy;
use crate::registry::Registry;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use tiersim_model::check::Violation;
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::Invariant;
use tiersim_sim::history::History;
use tiersim_sim::schedule::Schedule;

/// The hidden first argument that makes a tiersim binary a worker.
pub const WORKER_ARG: &str = "__worker";

/// Default runs before a worker is recycled. A worker's start costs a few milliseconds; a run
/// about ten, so recycling every 500 runs costs well under 0.1 %.
pub const RUNS_PER_WORKER: usize = 500;

/// Default seeds handed to a worker at once: enough that a pipe round trip never waits on a
/// run, few enough that the workers finish a sweep together.
pub const BATCH: usize = 8;

/// How to start a worker.
#[derive(Clone, Debug)]
pub struct WorkerCmd {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// A worker is replaced after this many runs.
    pub runs_per_worker: usize,
    /// Seeds sent to a worker at once (the coverage strategy sends one: its next schedule
    /// depends on the last run).
    pub batch: usize,
}

impl WorkerCmd {
    /// This executable, re-executed as a worker. Works for any binary whose `main` is
    /// `cli::main_with`, the shipped `tiersim` and a user's alike.
    ///
    /// On Linux this is `/proc/self/exe`, the running binary's own file even after a rebuild
    /// replaced it on disk (a night-long explore outlives many `cargo build`s; the path
    /// `current_exe` names would then start a different binary, or none).
    pub fn current_exe() -> std::io::Result<WorkerCmd> {
        let proc_self = PathBuf::from("/proc/self/exe");
        if proc_self.exists() {
            return Ok(WorkerCmd::new(proc_self));
        }
        Ok(WorkerCmd::new(std::env::current_exe()?))
    }

    /// `program __worker`, with the default recycling and batch size.
    pub fn new(program: PathBuf) -> WorkerCmd {
        WorkerCmd { program, args: vec![WORKER_ARG.into()], runs_per_worker: RUNS_PER_WORKER, batch: BATCH }
    }
}

/// One seed to run: everything named, nothing that only this process knows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    pub scenario: String,
    pub protocol: String,
    pub seed: u64,
    pub strategy: String,
    pub require: Vec<String>,
    /// An explicit schedule (the coverage strategy's mutants); otherwise the scenario's
    /// schedule of `seed` under `strategy`.
    pub schedule: Option<Schedule<CacheOp>>,
    /// Send back the run's interleaving signature (the coverage strategy keeps a corpus by it).
    pub signature: bool,
    /// Send back when each operation was invoked (shrinking pins operations to those times).
    #[serde(default)]
    pub invokes: bool,
}

/// A violation as it crosses the pipe.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WireViolation {
    pub invariant: String,
    pub key: String,
    pub time_ns: u64,
    pub message: String,
}

/// One seed's result, everything of its `Outcome` but the history and the latencies.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Done {
    pub seed: u64,
    pub verdict: String,
    pub violations: Vec<WireViolation>,
    pub abort: Option<String>,
    pub trace_hash: u64,
    pub ops: usize,
    pub events: usize,
    pub messages: u64,
    pub sim_ns: u64,
    pub wall_ms: u64,
    pub max_staleness_ns: u64,
    pub unchecked: Vec<String>,
    pub signature: Option<Vec<u64>>,
    /// The run's invokes in order, when the job asked for them.
    #[serde(default)]
    pub invokes: Option<Vec<crate::shrink::Invoke>>,
    /// The run's consistency, cost, convergence and warming figures, which sweep rows add up.
    pub figures: tiersim_model::check::figures::Figures,
}

/// A worker's answer to one job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Reply {
    Done(Box<Done>),
    /// The job named something this binary does not know: a bug in the parent, never a verdict.
    Error(String),
}

/// The worker's main loop: answer jobs from stdin until it closes.
pub fn serve(registry: &Registry) -> ExitCode {
    // SAFETY: plain descriptor calls on 1 and 2, before this process starts any thread.
    let out_fd = unsafe { libc::dup(1) };
    if out_fd < 0 || unsafe { libc::dup2(2, 1) } < 0 {
        eprintln!("tiersim worker: cannot set up its result stream");
        return ExitCode::from(2);
    }
    // SAFETY: `out_fd` is a fresh descriptor that nothing else owns.
    let mut out = BufWriter::new(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(out_fd) });
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Job>(&line) {
            Ok(job) => run_job(registry, &job),
            Err(e) => Reply::Error(format!("unreadable job: {e}")),
        };
        let sent = serde_json::to_writer(&mut out, &reply).is_ok()
            && out.write_all(b"\n").is_ok()
            && out.flush().is_ok();
        if !sent {
            // The parent went away: nothing left to do.
            break;
        }
    }
    ExitCode::SUCCESS
}

fn run_job(registry: &Registry, job: &Job) -> Reply {
    let Some(s) = registry.find_scenario(&job.scenario) else {
        return Reply::Error(format!("this binary has no scenario {:?}", job.scenario));
    };
    let Some(p) = registry.find_protocol(&job.protocol) else {
        return Reply::Error(format!("this binary has no protocol {:?}", job.protocol));
    };
    let Some(strategy) = Strategy::from_name(&job.strategy) else {
        return Reply::Error(format!("no strategy {:?}", job.strategy));
    };
    let mut require = Vec::new();
    for name in &job.require {
        match Invariant::from_name(name) {
            Some(i) => require.push(i),
            None => return Reply::Error(format!("no invariant {name:?}")),
        }
    }
    let schedule = match &job.schedule {
        Some(s) => s.clone(),
        None => s.schedule_with(job.seed, strategy),
    };
    let o = crate::run::run_in(&s.config(), p, job.seed, &schedule, &require);
    Reply::Done(Box::new(Done {
        seed: o.seed,
        verdict: o.verdict.name().into(),
        violations: o
            .violations
            .iter()
            .map(|v| WireViolation {
                invariant: v.invariant.clone(),
                key: v.key.clone(),
                time_ns: v.time_ns,
                message: v.message.clone(),
            })
            .collect(),
        abort: o.abort.clone(),
        trace_hash: o.trace_hash,
        ops: o.ops,
        events: o.events,
        messages: o.messages,
        sim_ns: o.sim_ns,
        wall_ms: o.wall_ms,
        max_staleness_ns: o.max_staleness_ns,
        unchecked: o.unchecked.iter().map(|i| i.name().to_string()).collect(),
        signature: job.signature.then(|| signature(&o.history).into_iter().collect()),
        invokes: job.invokes.then(|| crate::shrink::invokes_of(&o)),
        figures: o.figures.clone(),
    }))
}

fn verdict_named(name: &str) -> Verdict {
    match name {
        "pass" => Verdict::Pass,
        "fail" => Verdict::Fail,
        "liveness" => Verdict::Liveness,
        _ => Verdict::Crash,
    }
}

fn empty_history(trace_hash: u64) -> History<tiersim_model::event::ModelEvent> {
    History { events: Vec::new(), digests: Vec::new(), trace_hash }
}

impl Done {
    /// The outcome this result stands for, without history or latencies.
    pub fn outcome(&self) -> Outcome {
        Outcome {
            seed: self.seed,
            verdict: verdict_named(&self.verdict),
            violations: self
                .violations
                .iter()
                .map(|v| Violation {
                    invariant: v.invariant.clone(),
                    key: v.key.clone(),
                    time_ns: v.time_ns,
                    message: v.message.clone(),
                })
                .collect(),
            abort: self.abort.clone(),
            trace_hash: self.trace_hash,
            ops: self.ops,
            events: self.events,
            messages: self.messages,
            sim_ns: self.sim_ns,
            wall_ms: self.wall_ms,
            max_staleness_ns: self.max_staleness_ns,
            unchecked: self.unchecked.iter().filter_map(|n| Invariant::from_name(n)).collect(),
            latency: Default::default(),
            unfinished: Vec::new(),
            logs: Default::default(),
            figures: self.figures.clone(),
            history: empty_history(self.trace_hash),
        }
    }
}

/// The outcome of a seed whose worker died running it: verdict `crash`, the signal in `abort`.
/// There is no trace (the process took it along), so the trace hash is 0.
pub fn crashed(seed: u64, ops: usize, message: String) -> Outcome {
    Outcome {
        seed,
        verdict: Verdict::Crash,
        violations: Vec::new(),
        abort: Some(message),
        trace_hash: 0,
        ops,
        events: 0,
        messages: 0,
        sim_ns: 0,
        wall_ms: 0,
        max_staleness_ns: 0,
        unchecked: Vec::new(),
        latency: Default::default(),
        unfinished: Vec::new(),
        logs: Default::default(),
        figures: Default::default(),
        history: empty_history(0),
    }
}

/// Lines of a worker's stderr kept to explain its death.
const STDERR_TAIL_LINES: usize = 6;

/// One live worker process.
struct Worker {
    child: Child,
    stdin: Option<BufWriter<ChildStdin>>,
    stdout: BufReader<ChildStdout>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    stderr_thread: Option<std::thread::JoinHandle<()>>,
    runs: usize,
}

/// Why a worker stopped answering, and at which job of its batch.
struct Died {
    index: usize,
    message: String,
}

impl Worker {
    fn spawn(cmd: &WorkerCmd) -> std::io::Result<Worker> {
        let mut child = Command::new(&cmd.program)
            .args(&cmd.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().map(BufWriter::new);
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = child.stderr.take().expect("piped stderr");
        let stderr_tail: Arc<Mutex<VecDeque<String>>> = Default::default();
        let tail = stderr_tail.clone();
        // Drain stderr (a full pipe would block the worker) and keep its last lines.
        let stderr_thread =
            std::thread::Builder::new().name("tiersim-worker-stderr".into()).spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    let mut tail = tail.lock().unwrap();
                    if tail.len() == STDERR_TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            })?;
        Ok(Worker { child, stdin, stdout, stderr_tail, stderr_thread: Some(stderr_thread), runs: 0 })
    }

    /// Send `jobs` and read their replies in order, calling `each(i, done)` as each arrives.
    fn run_batch(&mut self, jobs: &[Job], each: &mut dyn FnMut(usize, Done)) -> Result<(), Died> {
        let stdin = self.stdin.as_mut().expect("a live worker has its stdin");
        let mut sent = true;
        for job in jobs {
            let line = serde_json::to_string(job).expect("a job serialises");
            sent = sent && stdin.write_all(line.as_bytes()).is_ok() && stdin.write_all(b"\n").is_ok();
        }
        sent = sent && stdin.flush().is_ok();
        let mut line = String::new();
        for i in 0..jobs.len() {
            line.clear();
            let read = self.stdout.read_line(&mut line);
            if !matches!(read, Ok(n) if n > 0) {
                return Err(Died { index: i, message: self.death() });
            }
            match serde_json::from_str::<Reply>(&line) {
                Ok(Reply::Done(done)) => {
                    self.runs += 1;
                    each(i, *done);
                }
                Ok(Reply::Error(e)) => panic!("tiersim bug: a worker refused a job: {e}"),
                Err(e) => panic!("tiersim bug: unreadable worker reply ({e}): {line}"),
            }
        }
        // Every reply arrived, so a failed write cannot have lost a job.
        let _ = sent;
        Ok(())
    }

    /// The worker stopped answering: wait for it and say how it ended.
    fn death(&mut self) -> String {
        self.stdin = None;
        let status = self.child.wait();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
        let tail: Vec<String> = self.stderr_tail.lock().unwrap().iter().cloned().collect();
        let last = tail.iter().rev().find(|l| !l.trim().is_empty()).cloned();
        let how = match status {
            Ok(s) => describe(s),
            Err(e) => format!("worker process lost ({e})"),
        };
        match last {
            Some(line) => format!("{how}; its last words: {line}"),
            None => how,
        }
    }

    /// Close the worker's stdin and wait for it to exit.
    fn finish(mut self) {
        self.stdin = None;
        let _ = self.child.wait();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // A worker dropped mid-batch (the parent is unwinding) is stopped, not waited on.
        if self.stdin.is_some() {
            self.stdin = None;
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How a worker process ended, the signal named.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), status.code()) {
        (Some(sig), _) => format!("worker process killed by {} (signal {sig})", signal_name(sig)),
        (None, Some(code)) => format!("worker process exited with status {code}"),
        (None, None) => "worker process ended".to_string(),
    }
}

/// The conventional name of a signal.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGKILL => "SIGKILL",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

/// One parallel slot of a sweep: runs jobs in a worker process of its own, replacing the
/// worker when it dies or has done its share.
pub struct Slot {
    cmd: WorkerCmd,
    worker: Option<Worker>,
}

impl Slot {
    pub fn new(cmd: WorkerCmd) -> Slot {
        Slot { cmd, worker: None }
    }

    /// Run `jobs` in order; `each(i, result)` sees job i's result as it arrives: the worker's
    /// reply, or the crash message when the worker died running it (a fresh worker then takes
    /// the jobs after it).
    pub fn run(&mut self, jobs: &[Job], each: &mut dyn FnMut(usize, Result<Done, String>)) {
        let mut from = 0;
        while from < jobs.len() {
            if self.worker.as_ref().is_some_and(|w| w.runs >= self.cmd.runs_per_worker) {
                self.worker.take().unwrap().finish();
            }
            if self.worker.is_none() {
                let w = Worker::spawn(&self.cmd).unwrap_or_else(|e| {
                    panic!("cannot start a worker process ({}): {e}", self.cmd.program.display())
                });
                self.worker = Some(w);
            }
            let w = self.worker.as_mut().unwrap();
            let n = (jobs.len() - from).min(self.cmd.runs_per_worker.saturating_sub(w.runs).max(1));
            let base = from;
            match w.run_batch(&jobs[from..from + n], &mut |i, done| each(base + i, Ok(done))) {
                Ok(()) => from += n,
                Err(Died { index, message }) => {
                    self.worker = None;
                    each(base + index, Err(message));
                    from = base + index + 1;
                }
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(w) = self.worker.take() {
            w.finish();
        }
    }
}

/// Shrink candidates run in a worker process of their own, one at a time: a candidate that
/// takes its worker down is a `crash` (which reproduces nothing, so the shrink goes on) and a
/// fresh worker runs the next. The parent keeps only schedules and verdicts.
pub struct InWorker {
    scenario: String,
    protocol: String,
    slot: std::cell::RefCell<Slot>,
    crashes: std::cell::RefCell<Vec<String>>,
}

impl InWorker {
    /// Candidates of `scenario` × `protocol` (names the worker's registry resolves).
    pub fn new(cmd: WorkerCmd, scenario: &str, protocol: &str) -> InWorker {
        InWorker {
            scenario: scenario.into(),
            protocol: protocol.into(),
            slot: std::cell::RefCell::new(Slot::new(cmd)),
            crashes: Default::default(),
        }
    }

    /// How each candidate that killed its worker died, in order.
    pub fn crashes(&self) -> Vec<String> {
        self.crashes.borrow().clone()
    }
}

impl crate::shrink::Candidates for InWorker {
    fn run(&self, seed: u64, schedule: &Schedule<CacheOp>, invokes: bool) -> crate::shrink::Tried {
        let job = Job {
            scenario: self.scenario.clone(),
            protocol: self.protocol.clone(),
            seed,
            strategy: Strategy::Random.name().into(),
            require: Vec::new(),
            schedule: Some(schedule.clone()),
            signature: false,
            invokes,
        };
        let mut result = None;
        self.slot.borrow_mut().run(std::slice::from_ref(&job), &mut |_, r| result = Some(r));
        match result.expect("tiersim bug: a worker slot gave no result for its job") {
            Ok(done) => crate::shrink::Tried {
                invokes: done.invokes.clone().unwrap_or_default(),
                outcome: done.outcome(),
            },
            Err(message) => {
                self.crashes.borrow_mut().push(message.clone());
                crate::shrink::Tried {
                    outcome: crashed(seed, schedule.ops.len(), message),
                    invokes: Vec::new(),
                }
            }
        }
    }
}
