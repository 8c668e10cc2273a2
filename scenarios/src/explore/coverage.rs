//! The coverage-guided strategy's parts: the interleaving signature of a run, and the corpus of
//! schedules that reached new signatures, which the strategy mutates. A sweep keeps one corpus per
//! (scenario, protocol) pair; a worker process computes a run's signature and sends it back.

use crate::scenario::Scenario;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::BTreeSet;
use tiersim_model::event::ModelEvent;
use tiersim_model::node::config::CacheOp;
use tiersim_sim::fault::{Fault, TimedFault};
use tiersim_sim::history::{Event, History};
use tiersim_sim::rng::{chance, stream};
use tiersim_sim::schedule::Schedule;

/// The corpus of the coverage strategy: schedules that reached new interleaving signatures.
#[derive(Default)]
pub(crate) struct Coverage {
    seen: BTreeSet<u64>,
    corpus: Vec<Schedule<CacheOp>>,
}

impl Coverage {
    /// A fresh schedule, or (half the time, once there is a corpus) a mutant of a kept one.
    pub(crate) fn schedule(&self, scenario: &dyn Scenario, seed: u64) -> Schedule<CacheOp> {
        let mut rng = stream(seed, "coverage");
        if self.corpus.is_empty() || chance(&mut rng, 1, 2) {
            return scenario.schedule(seed);
        }
        let mut s = self.corpus.choose(&mut rng).unwrap().clone();
        for _ in 0..rng.gen_range(1..4) {
            if s.ops.is_empty() {
                break;
            }
            let i = rng.gen_range(0..s.ops.len());
            match rng.gen_range(0..4) {
                0 if s.ops.len() > 1 => {
                    s.ops.remove(i);
                }
                1 => {
                    // Another process repeats the operation a little later: a new overlap.
                    let mut op = s.ops[i].clone();
                    op.process = s.ops[rng.gen_range(0..s.ops.len())].process;
                    op.at_ns += rng.gen_range(0..20_000_000);
                    s.ops.push(op);
                }
                2 => {
                    // The operation's process talks to its tiers late for a moment: its
                    // messages then arrive behind the others'.
                    let at_ns = s.ops[i].at_ns + rng.gen_range(0..30_000_000u64);
                    let from = format!("app-{}", scenario.config().app_of(s.ops[i].process));
                    let tiers: Vec<String> = scenario
                        .config()
                        .node_names()
                        .into_iter()
                        .filter(|n| !n.starts_with("app-"))
                        .collect();
                    let to = tiers.choose(&mut rng).expect("a system has tiers").clone();
                    let extra_ns = rng.gen_range(5..80) * 1_000_000;
                    let until = at_ns + rng.gen_range(1..8) * 1_000_000;
                    s.faults.push(TimedFault {
                        at_ns,
                        fault: Fault::SlowLinkStart { from: from.clone(), to: to.clone(), extra_ns },
                    });
                    s.faults.push(TimedFault { at_ns: until, fault: Fault::SlowLinkEnd { from, to } });
                    s.faults.sort();
                    s.end_ns = s.end_ns.max(until + extra_ns);
                }
                _ => {
                    let shift = rng.gen_range(0..40_000_000u64);
                    let at = &mut s.ops[i].at_ns;
                    *at = if chance(&mut rng, 1, 2) { at.saturating_sub(shift) } else { *at + shift };
                }
            }
        }
        s
    }

    /// Keep `schedule` if its run reached a signature element never seen before (near misses,
    /// which ride in the same set for the `race` strategy, are not coverage).
    pub(crate) fn observe(&mut self, signature: BTreeSet<u64>, schedule: &Schedule<CacheOp>) {
        let fresh = signature
            .into_iter()
            .filter(|s| s & crate::explore::race::NEAR_MISS_BIT == 0)
            .filter(|s| self.seen.insert(*s))
            .count();
        if fresh > 0 {
            self.corpus.push(schedule.clone());
        }
    }
}

/// The interleaving signature of a run: every cache event on a key with the two events on the
/// same key before it (what kind, at which tier), hashed: per key, fill read -> invalidate ->
/// fill land is one element, invalidate -> fill read -> fill land another. Two runs that
/// interleave fills, invalidations, expiries and reads differently have different signatures.
/// The run's near misses ([`crate::explore::race::near_misses`]) ride along, packed, with the
/// top bit set (signature elements never have it).
pub fn signature(history: &History<ModelEvent>) -> BTreeSet<u64> {
    use std::collections::BTreeMap;
    let mut last: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for e in &history.events {
        let (key, tag) = match e {
            Event::Internal { event, .. } => match event {
                ModelEvent::Fill { key, tier, .. } => (key.clone(), 10 + tier.depth() as u64),
                ModelEvent::Refuse { key, tier, .. } => (key.clone(), 20 + tier.depth() as u64),
                ModelEvent::Remove { key, tier, cause, .. } => {
                    (key.clone(), 30 + 4 * (*cause as u64) + tier.depth() as u64)
                }
                ModelEvent::Floor { key, tier, .. } => (key.clone(), 60 + tier.depth() as u64),
                ModelEvent::Commit { key, .. } => (key.clone(), 70),
                _ => continue,
            },
            Event::Client { event, .. } => (event.key.clone(), 80 + 4 * event.f as u64 + event.kind as u64),
            Event::Fault { .. } => continue,
        };
        let (before, prev) = last.get(&key).copied().unwrap_or((0, 0));
        last.insert(key, (prev, tag));
        out.insert((before * 1000 + prev) * 1000 + tag);
    }
    out.extend(crate::explore::race::near_misses(history).iter().filter_map(|m| m.encode()));
    out
}
