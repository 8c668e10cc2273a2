//! The verdict of one run and the figures reported with it.

use crate::check::cache::Latencies;
use crate::check::{judge::judge_with_batches, Violation};
use crate::event::ModelEvent;
use crate::node::config::{CacheOp, SystemConfig};
use crate::protocol::{Invariant, ProtocolFactory};
use tiersim_sim::history::History;
use tiersim_sim::runtime::Abort;
use tiersim_sim::schedule::Schedule;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// A claimed invariant was violated.
    Fail,
    /// Model or protocol code panicked: `Outcome::abort` names where and in which operation.
    Crash,
    /// The run could not finish (sim-time limit, step budget, deadlock).
    Liveness,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Crash => "crash",
            Verdict::Liveness => "liveness",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub seed: u64,
    pub verdict: Verdict,
    pub violations: Vec<Violation>,
    /// Why a crashed or stuck run stopped.
    pub abort: Option<String>,
    pub trace_hash: u64,
    /// Client operations invoked.
    pub ops: usize,
    pub events: usize,
    pub messages: u64,
    pub sim_ns: u64,
    /// Wall-clock time of the run, filled in by the caller (the model never reads the process
    /// clock).
    pub wall_ms: u64,
    pub max_staleness_ns: u64,
    /// Claimed invariants this build cannot check yet.
    pub unchecked: Vec<Invariant>,
    /// Sim-time latency percentiles of invalidation, cascade and warming (the `slo` figures),
    /// reported whether or not `slo` is judged.
    pub latency: Latencies,
    /// What the run measures besides its verdict: consistency in nines, cost, convergence and
    /// warming (`check::figures`), computed after the run from its history.
    pub figures: crate::check::figures::Figures,
    /// Operations that did not complete ok or fail (`check::unfinished`), on every run.
    pub unfinished: Vec<crate::check::unfinished::Unfinished>,
    /// What protocol code logged through `tracing`, in sim time and by node (not in the trace).
    pub logs: tiersim_sim::log::Logs,
    pub history: History<ModelEvent>,
}

impl Outcome {
    /// The invariant to name for this outcome (the first violation's, or the verdict for a crash
    /// or a stuck run).
    pub fn invariant(&self) -> Option<String> {
        match self.verdict {
            Verdict::Pass => None,
            Verdict::Fail => self.violations.first().map(|v| v.invariant.clone()),
            Verdict::Crash => Some("crash".into()),
            Verdict::Liveness => Some(Invariant::Live.name().into()),
        }
    }
}

/// The keys of each warm batch of `schedule`, by batch name (the first batch of a name wins,
/// as names are unique in generated schedules).
fn warm_batches(schedule: &Schedule<CacheOp>) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out = std::collections::BTreeMap::new();
    for op in &schedule.ops {
        if let CacheOp::Warm { batch, keys } = &op.op {
            out.entry(batch.clone()).or_insert_with(|| keys.clone());
        }
    }
    out
}

/// Run `schedule` against `protocol` and judge the protocol's claims plus `require`.
pub fn run_and_judge(
    seed: u64,
    config: &SystemConfig,
    schedule: &Schedule<CacheOp>,
    protocol: ProtocolFactory,
    require: &[Invariant],
) -> Outcome {
    let mut claims = protocol.claims(config);
    claims.invariants.extend(require.iter().copied());
    let record = crate::system::run(seed, config, schedule, protocol);
    let history = record.history;
    let last_event_ns = history.events.last().map_or(0, |e| e.time_ns());
    let (verdict, abort, final_state, sim_ns) = match record.finished.result {
        Ok(f) => (Verdict::Pass, None, Some(f), record.finished.sim_ns),
        Err(Abort::Crash(m)) => (Verdict::Crash, Some(m), None, last_event_ns),
        Err(Abort::Liveness(m)) => (Verdict::Liveness, Some(m), None, last_event_ns),
    };
    let batches = warm_batches(schedule);
    let judgement = judge_with_batches(&history, final_state.as_ref(), &claims, &batches);
    let verdict =
        if verdict == Verdict::Pass && !judgement.violations.is_empty() { Verdict::Fail } else { verdict };
    let ops = history.client_events().filter(|e| e.kind == tiersim_sim::history::EventType::Invoke).count();
    Outcome {
        seed,
        verdict,
        violations: judgement.violations,
        abort,
        trace_hash: history.trace_hash,
        ops,
        events: history.events.len(),
        messages: record.finished.messages,
        sim_ns,
        wall_ms: 0,
        max_staleness_ns: judgement.max_staleness_ns,
        unchecked: judgement.unchecked,
        latency: judgement.latency,
        figures: crate::check::figures::figures(
            &history,
            crate::check::figures::Counters { db_reads: record.db_reads, messages: record.finished.messages },
            &batches,
        ),
        unfinished: judgement.unfinished,
        logs: record.finished.logs,
        history,
    }
}
