//! Judging a run: the protocol's claimed invariants checked on its history and final state.
//!
//! Tier contents are reconstructed from the recorded fills and removals, so the
//! invalidation barrier is checked on what every tier holds at every step, not only on what reads
//! happened to return. Linearizability and staleness use the generic checkers of `sim`, fed with
//! versions from the database's commit log.

use crate::check::cache as cache_checks;
use crate::check::integrity;
use crate::check::{op_records, secs, OpRecord, Violation};
use crate::event::{ModelEvent, Tier};
use crate::protocol::{Claims, Invariant};
use crate::system::FinalState;
use std::collections::BTreeMap;
use tiersim_sim::check::commit_order::{self, Access, VersionedOp};
use tiersim_sim::check::staleness::{self, VersionRead};
use tiersim_sim::history::{Event, EventType, History, OpFn};

/// Commits per key: version -> (commit instant, op).
fn commits(history: &History<ModelEvent>) -> BTreeMap<String, BTreeMap<u64, (u64, u64)>> {
    let mut out: BTreeMap<String, BTreeMap<u64, (u64, u64)>> = BTreeMap::new();
    for e in &history.events {
        if let Event::Internal { time_ns, event: ModelEvent::Commit { key, version, op, .. } } = e {
            out.entry(key.clone()).or_default().insert(*version, (*time_ns, *op));
        }
    }
    out
}

/// The judgement of one run.
#[derive(Clone, Debug, Default)]
pub struct Judgement {
    pub violations: Vec<Violation>,
    /// The stalest read observed, in ns (0 when every read was current).
    pub max_staleness_ns: u64,
    /// Claimed invariants this build has no checker for yet: reported, never passed silently.
    pub unchecked: Vec<Invariant>,
    /// The `slo` latency distributions, measured whether or not `slo` is claimed.
    pub latency: crate::check::cache::Latencies,
    /// Operations that did not complete ok or fail, reported whether or not `live` is claimed.
    pub unfinished: Vec<crate::check::unfinished::Unfinished>,
}

/// Check `claims` (every claimed invariant must have a checker: see `Invariant::is_checked`).
pub fn judge(history: &History<ModelEvent>, final_state: Option<&FinalState>, claims: &Claims) -> Judgement {
    judge_with_batches(history, final_state, claims, &BTreeMap::new())
}

/// `judge`, with the keys of each warm batch by name (from the schedule), which `slo`'s share of
/// keys warmed in time needs.
pub fn judge_with_batches(
    history: &History<ModelEvent>,
    final_state: Option<&FinalState>,
    claims: &Claims,
    batches: &BTreeMap<String, Vec<String>>,
) -> Judgement {
    let ops = op_records(history);
    let commits = commits(history);
    let mut j = Judgement::default();
    let (max, stale_violation) = check_staleness(&ops, &commits, claims.staleness_bound_ns);
    j.max_staleness_ns = max;
    j.latency = cache_checks::latencies(history, &ops);
    j.unfinished = crate::check::unfinished::unfinished(history, &ops);
    // The claims, plus what every run is checked for whatever it claims.
    let checked: std::collections::BTreeSet<Invariant> =
        claims.invariants.iter().copied().chain(Invariant::ALWAYS).collect();
    for inv in &checked {
        match inv {
            Invariant::Linearizable => j.violations.extend(check_linearizable(&ops, &commits)),
            Invariant::BoundedStaleness => j.violations.extend(stale_violation.clone()),
            Invariant::InvalidationBarrier => j.violations.extend(check_barrier(history, &ops, &commits)),
            Invariant::Converged => {
                if let Some(f) = final_state {
                    j.violations.extend(check_converged(f))
                }
            }
            Invariant::NoResurrection => {
                j.violations.extend(cache_checks::check_no_resurrection(history, &ops))
            }
            // Both session guarantees come from one pass; each reports only when claimed.
            Invariant::MonotonicReads => j.violations.extend(cache_checks::check_sessions(&ops, true, false)),
            Invariant::ReadYourWrites => j.violations.extend(cache_checks::check_sessions(&ops, false, true)),
            Invariant::TierOrder => j.violations.extend(cache_checks::check_tier_order(history)),
            Invariant::TtlBound => j.violations.extend(cache_checks::check_ttl_bound(history)),
            Invariant::TagComplete => j.violations.extend(cache_checks::check_tag_complete(history, &ops)),
            Invariant::Slo => j.violations.extend(crate::check::slo::check_slo(history, &ops, batches)),
            Invariant::Live => j.violations.extend(crate::check::unfinished::check_live(history, &ops)),
            Invariant::ValueIntegrity => j.violations.extend(integrity::check_value_integrity(history, &ops)),
        }
    }
    j.violations.sort_by(|a, b| (a.time_ns, &a.invariant, &a.key).cmp(&(b.time_ns, &b.invariant, &b.key)));
    j
}

/// The versioned operations of one key for the commit-order checker.
fn versioned_ops(
    ops: &BTreeMap<u64, OpRecord>,
    commits: &BTreeMap<String, BTreeMap<u64, (u64, u64)>>,
) -> BTreeMap<String, Vec<VersionedOp>> {
    let mut per_key: BTreeMap<String, Vec<VersionedOp>> = BTreeMap::new();
    for (key, versions) in commits {
        for (version, (_, op)) in versions {
            let r = &ops[op];
            per_key.entry(key.clone()).or_default().push(VersionedOp {
                op: *op,
                process: r.process,
                access: Access::Write,
                version: *version,
                invoke_ns: r.invoke_ns,
                complete_ns: if r.outcome == Some(EventType::Ok) { r.complete_ns } else { None },
            });
        }
    }
    for r in ops.values() {
        // A read of a version the database never committed fits no order of the key's writes:
        // it is a `value-integrity` violation (checked on every run), not a register operation.
        let uncommitted =
            r.version.is_some_and(|v| v != 0 && !commits.get(&r.key).is_some_and(|c| c.contains_key(&v)));
        if r.f == OpFn::Read && r.outcome == Some(EventType::Ok) && !uncommitted {
            per_key.entry(r.key.clone()).or_default().push(VersionedOp {
                op: r.op,
                process: r.process,
                access: Access::Read,
                version: r.version.expect("tiersim bug: an ok read without a version"),
                invoke_ns: r.invoke_ns,
                complete_ns: r.complete_ns,
            });
        }
    }
    per_key
}

fn check_linearizable(
    ops: &BTreeMap<u64, OpRecord>,
    commits: &BTreeMap<String, BTreeMap<u64, (u64, u64)>>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for (key, kops) in versioned_ops(ops, commits) {
        if let Err(cycle) = commit_order::check_key(&kops) {
            let time_ns = cycle.steps.iter().map(|(o, _)| o.invoke_ns).max().unwrap_or(0);
            out.push(Violation {
                invariant: Invariant::Linearizable.name().into(),
                key,
                time_ns,
                message: format!("no order of these operations explains the reads: {}", cycle.explain()),
            });
        }
    }
    out
}

fn check_staleness(
    ops: &BTreeMap<u64, OpRecord>,
    commits: &BTreeMap<String, BTreeMap<u64, (u64, u64)>>,
    bound_ns: Option<u64>,
) -> (u64, Option<Violation>) {
    let mut reads: BTreeMap<&str, Vec<VersionRead>> = BTreeMap::new();
    for r in ops.values() {
        if r.f == OpFn::Read && r.outcome == Some(EventType::Ok) {
            reads.entry(&r.key).or_default().push(VersionRead {
                op: r.op,
                invoke_ns: r.invoke_ns,
                version: r.version.unwrap_or(0),
            });
        }
    }
    let mut worst: Option<(String, staleness::Stalest)> = None;
    for (key, rs) in reads {
        let times: Vec<u64> =
            commits.get(key).map(|c| c.values().map(|(t, _)| *t).collect()).unwrap_or_default();
        if let Some(s) = staleness::stalest(&rs, &times) {
            if worst.as_ref().is_none_or(|(_, w)| s.staleness_ns > w.staleness_ns) {
                worst = Some((key.to_string(), s));
            }
        }
    }
    let max = worst.as_ref().map_or(0, |(_, s)| s.staleness_ns);
    let violation = match (worst, bound_ns) {
        (Some((key, s)), Some(bound)) if s.staleness_ns > bound => Some(Violation {
            invariant: Invariant::BoundedStaleness.name().into(),
            key,
            time_ns: s.read.invoke_ns,
            message: format!(
                "read op {} began at t={} and returned v{}, superseded at t={}: stale by {} ms, bound {} ms",
                s.read.op,
                secs(s.read.invoke_ns),
                s.read.version,
                secs(s.superseded_at_ns),
                s.staleness_ns / 1_000_000,
                bound / 1_000_000
            ),
        }),
        _ => None,
    };
    (max, violation)
}

/// `invalidation-barrier`: once the write or delete that produced v completed ok (every tier
/// acknowledged its invalidation), no tier holds and no read returns a version below v.
fn check_barrier(
    history: &History<ModelEvent>,
    ops: &BTreeMap<u64, OpRecord>,
    commits: &BTreeMap<String, BTreeMap<u64, (u64, u64)>>,
) -> Vec<Violation> {
    // The barrier instants: key -> [(acknowledged at, version, op)], ascending in time.
    let mut barriers: BTreeMap<&str, Vec<(u64, u64, u64)>> = BTreeMap::new();
    for (key, versions) in commits {
        for (version, (_, op)) in versions {
            let r = &ops[op];
            if r.outcome == Some(EventType::Ok) {
                barriers.entry(key).or_default().push((r.complete_ns.unwrap(), *version, *op));
            }
        }
    }
    for b in barriers.values_mut() {
        b.sort();
    }
    // The highest barrier of `key` in force at `t`: (version, acknowledged at).
    let barrier_at = |key: &str, t: u64| -> Option<(u64, u64)> {
        barriers.get(key)?.iter().filter(|(at, _, _)| *at <= t).map(|(at, v, _)| (*v, *at)).max()
    };
    let mut out = Reporter::default();
    // Tier contents over time: (node, key) -> (tier, version, global expiry).
    let mut held: Held = BTreeMap::new();
    let mut acks: Vec<(u64, &str, u64)> =
        barriers.iter().flat_map(|(k, bs)| bs.iter().map(move |(at, v, _)| (*at, *k, *v))).collect();
    acks.sort();
    let mut next_ack = 0;
    for e in &history.events {
        let t = e.time_ns();
        check_holders(&held, &acks, &mut next_ack, t.saturating_sub(1), &mut out);
        match e {
            Event::Internal {
                event: ModelEvent::Fill { node, tier, key, version, expires_at_ns, .. },
                ..
            } => {
                held.insert((node.clone(), key.clone()), (*tier, *version, *expires_at_ns));
                if let Some((v, at)) = barrier_at(key, t) {
                    if *version < v {
                        out.report(node, key, t, format!(
                            "{node}/{tier} was filled with v{version} at t={}; v{v} had been committed and its invalidation acknowledged at t={}",
                            secs(t), secs(at)
                        ));
                    }
                }
            }
            Event::Internal { event: ModelEvent::Remove { node, key, .. }, .. } => {
                held.remove(&(node.clone(), key.clone()));
            }
            Event::Internal { event: ModelEvent::Start { node }, .. } => {
                held.retain(|(n, _), _| n != node);
            }
            Event::Client { op, event, version: Some(version) }
                if event.kind == EventType::Ok && event.f == OpFn::Read =>
            {
                let invoke_ns = ops[op].invoke_ns;
                if let Some((v, at)) = barrier_at(&event.key, invoke_ns) {
                    if *version < v {
                        out.report(&format!("p{}", event.process), &event.key, t, format!(
                            "read op {op} by p{} began at t={} and returned v{version}; v{v}'s invalidation was acknowledged at t={}",
                            event.process, secs(invoke_ns), secs(at)
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    check_holders(&held, &acks, &mut next_ack, u64::MAX, &mut out);
    out.violations
}

type Held = BTreeMap<(String, String), (Tier, u64, Option<u64>)>;

/// Barrier violations, one per (node or process, key): the first is the one worth reading.
#[derive(Default)]
struct Reporter {
    violations: Vec<Violation>,
    seen: std::collections::BTreeSet<(String, String)>,
}

impl Reporter {
    fn report(&mut self, who: &str, key: &str, time_ns: u64, message: String) {
        if self.seen.insert((who.to_string(), key.to_string())) {
            let invariant = Invariant::InvalidationBarrier.name().into();
            self.violations.push(Violation { invariant, key: key.to_string(), time_ns, message });
        }
    }
}

/// At each acknowledgement up to `upto`, every tier still holding an older, unexpired version of
/// the key breaks the barrier.
fn check_holders(held: &Held, acks: &[(u64, &str, u64)], next: &mut usize, upto: u64, out: &mut Reporter) {
    while *next < acks.len() && acks[*next].0 <= upto {
        let (at, key, v) = acks[*next];
        *next += 1;
        for ((node, k), (tier, version, expires)) in held {
            if k == key && *version < v && expires.is_none_or(|e| e > at) {
                out.report(
                    node,
                    key,
                    at,
                    format!(
                    "{node}/{tier} still held v{version} when v{v}'s invalidation was acknowledged at t={}",
                    secs(at)
                ),
                );
            }
        }
    }
}

/// `converged`: after the quiet phase every live entry in every tier equals the database.
fn check_converged(f: &FinalState) -> Vec<Violation> {
    let mut out = Vec::new();
    for ((node, key), (tier, entry)) in &f.tiers {
        let db = f.db.get(key).copied().unwrap_or_default();
        if entry.version != db.version {
            out.push(Violation {
                invariant: Invariant::Converged.name().into(),
                key: key.clone(),
                time_ns: f.at_ns,
                message: format!(
                    "after the quiet phase {node}/{tier} holds v{} but the database is at v{}",
                    entry.version, db.version
                ),
            });
        }
    }
    out
}
