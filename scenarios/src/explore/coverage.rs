//! The coverage-guided strategy's parts: the interleaving signature of a run, and the corpus of
//! schedules that reached new signatures, which the strategy mutates. A sweep keeps one corpus per
//! (scenario, protocol) pair; a worker process computes a run's signature and sends it back.

use crate::scenario::Scenario;
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::BTreeSet;
use tiersim_model::event::ModelEvent;
use tiersim_model::node::config::CacheOp;
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
            match rng.gen_range(0..3) {
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
                _ => {
                    let shift = rng.gen_range(0..40_000_000u64);
                    let at = &mut s.ops[i].at_ns;
                    *at = if chance(&mut rng, 1, 2) { at.saturating_sub(shift) } else { *at + shift };
                }
            }
        }
        s
    }

    /// Keep `schedule` if its run reached a signature element never seen before.
    pub(crate) fn observe(&mut self, signature: BTreeSet<u64>, schedule: &Schedule<CacheOp>) {
        let fresh = signature.into_iter().filter(|s| self.seen.insert(*s)).count();
        if fresh > 0 {
            self.corpus.push(schedule.clone());
        }
    }
}

/// The interleaving signature of a run: consecutive pairs of cache events on the same key
/// (what kind, at which tier), hashed. Two runs that interleave fills, invalidations, expiries
/// and reads differently have different signatures.
pub fn signature(history: &History<ModelEvent>) -> BTreeSet<u64> {
    use std::collections::BTreeMap;
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
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
        let prev = last.insert(key, tag).unwrap_or(0);
        out.insert(prev * 1000 + tag);
    }
    out
}
