//! `slo`: the latency targets of the seed's integration test, as one claimable invariant.
//!
//! The targets, each judged on the run's samples in sim time (nearest-rank p99):
//! - invalidation (commit of v -> the write or delete that produced v acknowledged) ≤ 50 ms;
//! - cascade propagation (commit of v -> the last tier its invalidation reached) ≤ 100 ms;
//! - convergence, the seed's "consistency check" (commit of v -> no tier serves a version below
//!   v any more) ≤ 30 ms, a commit that never converged counting as slower than any bound;
//! - warming: every warm batch within 200 ms, and at least 95 % of the keys of all warm batches
//!   warmed within 200 ms (present and current in Redis when a batch completed within 200 ms of
//!   its invoke; see `figures::Warming`).
//!
//! The targets are promised under the default network, as the seed measured them, so a sample
//! during which a fault that touches the network or a node was in force (a partition, loss,
//! shaping, a crash: [`network_fault_windows`]) is excused, as `live` excuses an operation a
//! fault overlapped. Clock skew delays no message and excuses nothing.
//!
//! The distributions come from `cache` (invalidation, cascade, warming) and `figures`
//! (convergence, keys warmed), the same ones a run reports, so the verdict and the figures never
//! disagree about what was measured.

use crate::check::cache::{self, network_fault_windows, Sample};
use crate::check::figures;
use crate::check::{secs, OpRecord, Violation};
use crate::event::ModelEvent;
use crate::protocol::Invariant;
use std::collections::BTreeMap;
use tiersim_sim::history::History;

/// p99 bound of convergence ("consistency check": commit -> every tier current or empty).
pub const CONVERGENCE_P99_MAX_NS: u64 = 30_000_000;
/// The smallest share of warm keys warmed within the warming bound, per mille.
pub const WARMED_IN_TIME_MIN_PER_MILLE: u64 = 950;

/// Check every seed target on `history`; `batches` names each warm op's keys by batch name.
pub fn check_slo(
    history: &History<ModelEvent>,
    ops: &BTreeMap<u64, OpRecord>,
    batches: &BTreeMap<String, Vec<String>>,
) -> Vec<Violation> {
    let windows = network_fault_windows(history);
    let excused =
        |s: &Sample| windows.iter().any(|(a, b)| *a <= s.start_ns + s.latency_ns && s.start_ns <= *b);
    let judged = |samples: Vec<Sample>| samples.into_iter().filter(|s| !excused(s)).collect::<Vec<_>>();
    let end_ns = history.events.last().map_or(0, |e| e.time_ns());
    let samples = cache::latency_samples(history, ops);
    let (convergence, _) = figures::convergence(history);
    // A commit some tier still served an older version of at the end never converged: a sample
    // that lasts to the end of the run, and beyond any bound.
    let never = unconverged_samples(history, end_ns);
    let mut out = Vec::new();
    let mut judge_p99 = |what: &str, samples: Vec<Sample>, bound_ns: u64, never: &[Sample]| {
        // The judged samples by latency, the never-converged ones above every finite one.
        let mut all: Vec<(bool, Sample)> = judged(samples).into_iter().map(|s| (false, s)).collect();
        all.extend(never.iter().filter(|s| !excused(s)).map(|s| (true, s.clone())));
        all.sort_by(|(na, a), (nb, b)| (*na, a.latency_ns, a.start_ns).cmp(&(*nb, b.latency_ns, b.start_ns)));
        let n = all.len();
        let Some((beyond, p99)) = n.checked_sub(1).map(|_| &all[(99 * n).div_ceil(100).max(1) - 1]) else {
            return;
        };
        let (_, slowest) = &all[n - 1];
        if *beyond {
            let never = all.iter().filter(|(b, _)| *b).count();
            out.push(violation(p99, format!(
                "{what} p99 is beyond the end of the run: {never} of {n} commits never converged; one, at t={}, still had a tier serving an older version at t={}",
                secs(p99.start_ns), secs(end_ns)
            )));
        } else if p99.latency_ns > bound_ns {
            out.push(violation(slowest, format!(
                "{what} latency p99 was {} ms over {n} samples, bound {} ms; the slowest began at t={} and took {} ms",
                p99.latency_ns / 1_000_000, bound_ns / 1_000_000, secs(slowest.start_ns), slowest.latency_ns / 1_000_000
            )));
        }
    };
    judge_p99("invalidation", samples.invalidation, cache::INVALIDATION_P99_MAX_NS, &[]);
    judge_p99("cascade", samples.cascade, cache::CASCADE_P99_MAX_NS, &[]);
    judge_p99("warming", samples.warming, cache::WARMING_P99_MAX_NS, &[]);
    judge_p99("convergence", convergence, CONVERGENCE_P99_MAX_NS, &never);
    out.extend(check_warmed_in_time(history, ops, batches, &windows));
    out
}

/// Commits that never converged, as samples from the commit to the end of the run.
fn unconverged_samples(history: &History<ModelEvent>, end_ns: u64) -> Vec<Sample> {
    let converged: std::collections::BTreeSet<(String, u64)> =
        figures::convergence(history).0.into_iter().map(|s| (s.key, s.start_ns)).collect();
    let mut out = Vec::new();
    for (key, commits) in cache::commit_log(history) {
        for c in commits.values() {
            if !converged.contains(&(key.clone(), c.at_ns)) {
                out.push(Sample { key: key.clone(), start_ns: c.at_ns, latency_ns: end_ns - c.at_ns });
            }
        }
    }
    out
}

/// At least [`WARMED_IN_TIME_MIN_PER_MILLE`] of the keys of the warm batches no fault overlapped
/// were warmed within the warming bound.
fn check_warmed_in_time(
    history: &History<ModelEvent>,
    ops: &BTreeMap<u64, OpRecord>,
    batches: &BTreeMap<String, Vec<String>>,
    windows: &[(u64, u64)],
) -> Option<Violation> {
    let end_ns = history.events.last().map_or(0, |e| e.time_ns());
    let judged: BTreeMap<u64, OpRecord> = ops
        .iter()
        .filter(|(_, r)| {
            r.f != tiersim_sim::history::OpFn::Warm || {
                let end = r.complete_ns.unwrap_or(end_ns);
                !windows.iter().any(|(a, b)| *a <= end && r.invoke_ns <= *b)
            }
        })
        .map(|(op, r)| (*op, r.clone()))
        .collect();
    let w = figures::warming(history, &judged, batches);
    if w.keys == 0 || w.warmed_in_time * 1000 >= WARMED_IN_TIME_MIN_PER_MILLE * w.keys {
        return None;
    }
    let first =
        judged.values().find(|r| r.f == tiersim_sim::history::OpFn::Warm).expect("keys come from warm ops");
    Some(Violation {
        invariant: Invariant::Slo.name().into(),
        key: first.key.clone(),
        time_ns: first.invoke_ns,
        message: format!(
            "{} of {} keys of {} warm batches were warmed within {} ms ({:.1} %), target {} %",
            w.warmed_in_time,
            w.keys,
            w.batches,
            cache::WARMING_P99_MAX_NS / 1_000_000,
            100.0 * w.warmed_in_time as f64 / w.keys as f64,
            WARMED_IN_TIME_MIN_PER_MILLE / 10
        ),
    })
}

fn violation(s: &Sample, message: String) -> Violation {
    Violation { invariant: Invariant::Slo.name().into(), key: s.key.clone(), time_ns: s.start_ns, message }
}
