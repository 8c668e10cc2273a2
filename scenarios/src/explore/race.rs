//! The race-directed strategy: find the near misses of a passing run and push them over the edge.
//!
//! A race that needs three orderings at once is rare under random schedules, but a run that got
//! two of them right is common, and it shows in the history: a fill that landed at a tier a few
//! ms *before* that tier's version floor rose, before its entry was removed or evicted, or
//! before the tier restarted. Had the fill been a little slower, it would have landed after the
//! fence — where a correct protocol refuses it and a flawed one may keep it. So for each such
//! near miss the strategy re-runs the same seed and schedule with one fault more: the link from
//! the filling app to that tier slowed, for the few ms before the fill, by the gap plus a
//! margin (`Fault::SlowLinkStart`). Everything else stays: the run seed (so the network draws
//! the same latencies up to the perturbation), the operations, the other faults. The
//! perturbed run is a schedule like any other, so it replays exactly from its file.
//!
//! Near misses travel from a worker process inside the run's signature (see
//! [`crate::explore::coverage::signature`]), each packed into one `u64` with its top bit set,
//! so a sweep in workers and one in threads make the same choices.

use crate::scenario::Scenario;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tiersim_model::event::ModelEvent;
use tiersim_model::node::config::CacheOp;
use tiersim_sim::fault::{Fault, TimedFault};
use tiersim_sim::history::{Event, EventType, History, OpFn};
use tiersim_sim::schedule::Schedule;

/// How long after a fill a fence may come and still count as a near miss: a fill held this
/// long outlives its reader's request timeout, but it still lands, as a slow packet does.
const AFTER_NS: u64 = 150_000_000;
/// How long before the fill landed its message may have been sent (a request's one-way trip on
/// the slowest built-in network, plus madsim's charges).
const BEFORE_NS: u64 = 30_000_000;
/// How long after the clear before it a tier's clear of a tag must come to count as a retry: the
/// default request timeout and a few ms (a first attempt follows one round trip after the step
/// before it; on the slowest built-in network, 25 ms a message, that is up to ~55 ms).
const RETRY_NS: u64 = 55_000_000;
/// How far past the fence the perturbed fill lands.
const MARGIN_NS: u64 = 1_000_000;
/// Near misses taken from one run, best first.
const PER_RUN: usize = 3;
/// Perturbations stacked on one schedule at most: near misses are taken from fresh runs only,
/// so one seed costs at most `1 + PER_RUN` runs.
const MAX_STACKED: usize = 1;
/// Perturbed schedules waiting to run, at most.
const QUEUE: usize = 64;
/// The top bit marks a near miss among a signature's elements.
pub(crate) const NEAR_MISS_BIT: u64 = 1 << 63;

/// A fill that landed at `to` at `land_ns`, `gap_ns` before a fence there.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NearMiss {
    pub from: String,
    pub to: String,
    pub land_ns: u64,
    pub gap_ns: u64,
}

impl NearMiss {
    /// The two faults that slow the fill's link just enough.
    pub fn perturbation(&self) -> [TimedFault; 2] {
        let (from, to) = (self.from.clone(), self.to.clone());
        let extra_ns = self.gap_ns + MARGIN_NS;
        [
            TimedFault {
                at_ns: self.land_ns.saturating_sub(BEFORE_NS),
                fault: Fault::SlowLinkStart { from: from.clone(), to: to.clone(), extra_ns },
            },
            TimedFault { at_ns: self.land_ns, fault: Fault::SlowLinkEnd { from, to } },
        ]
    }

    /// Packed into one u64: the flag bit, 8 bits per node, the landing in µs (32 bits), the
    /// gap in 100 µs units (15 bits). `None` when a field does not fit.
    pub(crate) fn encode(&self) -> Option<u64> {
        let land_us = self.land_ns / 1_000;
        let gap = self.gap_ns / 100_000;
        if land_us >= 1 << 32 || gap >= 1 << 15 {
            return None;
        }
        Some(NEAR_MISS_BIT | node_code(&self.from)? << 55 | node_code(&self.to)? << 47 | land_us << 15 | gap)
    }

    pub(crate) fn decode(x: u64) -> Option<NearMiss> {
        if x & NEAR_MISS_BIT == 0 {
            return None;
        }
        Some(NearMiss {
            from: node_name((x >> 55) & 0xff)?,
            to: node_name((x >> 47) & 0xff)?,
            land_ns: ((x >> 15) & 0xffff_ffff) * 1_000,
            gap_ns: (x & 0x7fff) * 100_000,
        })
    }
}

const KINDS: [&str; 5] = ["app", "l2", "l3", "redis", "replica"];

/// A node name as 8 bits: its kind (3 bits) and index (5 bits).
fn node_code(name: &str) -> Option<u64> {
    let (kind, index) = name.rsplit_once('-')?;
    let k = KINDS.iter().position(|k| *k == kind)? as u64;
    let i: u64 = index.parse().ok()?;
    (i < 32).then_some(k << 5 | i)
}

fn node_name(code: u64) -> Option<String> {
    Some(format!("{}-{}", KINDS.get((code >> 5) as usize)?, code & 0x1f))
}

/// What a fence at a tier covers: one key, the keys of one tag, or everything (a restart).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope<'h> {
    Key(&'h str),
    Tag(&'h str),
    All,
}

/// A stale fill that landed at a shared tier.
struct Landed<'h> {
    node: &'h str,
    land_ns: u64,
    key: &'h str,
    version: u64,
    origin_ns: u64,
    tags: &'h [String],
    op: u64,
}

impl Landed<'_> {
    fn covered_by(&self, scope: Scope<'_>) -> bool {
        match scope {
            Scope::Key(k) => k == self.key,
            Scope::Tag(t) => self.tags.iter().any(|x| x == t),
            Scope::All => true,
        }
    }
}

/// The near misses of a run, best first, at most `PER_RUN`: every stale fill of a client
/// operation at a shared tier that landed within `AFTER_NS` before that tier's floor of the key
/// rose above it, an entry of the key left it, a tag of the key was cleared there, or the tier
/// restarted. A fill is stale when its key had a newer commit by the time of the fence, or one
/// of its tags was invalidated after its data was read. The gap is to the latest such fence in
/// the window, so the perturbed fill lands after all of them. Near misses with more kinds of
/// fence behind them come first (a floor *and* a restart is two orderings already lined up),
/// then the nearest.
pub fn near_misses(history: &History<ModelEvent>) -> Vec<NearMiss> {
    let apps = history
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Internal { event: ModelEvent::Start { node }, .. } if node.starts_with("app-") => {
                Some(node)
            }
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .len() as u64;
    if apps == 0 {
        return Vec::new();
    }
    let mut process_of: BTreeMap<u64, u64> = BTreeMap::new();
    // (node, time, what it covers, the version it is about, its kind: 0 a floor, 1 a removal,
    // 2 a restart, 3 a tag clear)
    let mut fences: Vec<(&str, u64, Scope<'_>, u64, u8)> = Vec::new();
    let mut fills: Vec<Landed<'_>> = Vec::new();
    // Per key, the commit instants and versions, in time order.
    let mut commits: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    // Per tag, the instants its invalidations were invoked.
    let mut tag_invalidations: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    // Per tag, when Redis moved its generation (a generation there always holds).
    let mut redis_tag_clears: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for e in &history.events {
        match e {
            Event::Client { op, event, .. } => {
                process_of.entry(*op).or_insert(event.process);
                if event.f == OpFn::InvalidateTag && event.kind == EventType::Invoke {
                    tag_invalidations.entry(&event.key).or_default().push(event.time_ns);
                }
            }
            Event::Internal { time_ns, event } => match event {
                // A refused fill names no operation, so its sender is not known: only fills
                // that landed count, and only at shared tiers (an L1 is its app's memory).
                ModelEvent::Fill { node, key, version, origin_ns, tags, op: Some(op), .. }
                    if !node.starts_with("app-") =>
                {
                    fills.push(Landed {
                        node,
                        land_ns: *time_ns,
                        key,
                        version: *version,
                        origin_ns: *origin_ns,
                        tags,
                        op: *op,
                    })
                }
                ModelEvent::Floor { node, key, version, .. } => {
                    fences.push((node, *time_ns, Scope::Key(key), *version, 0))
                }
                ModelEvent::Remove { node, key, .. } => {
                    fences.push((node, *time_ns, Scope::Key(key), u64::MAX, 1))
                }
                ModelEvent::TagInvalidate { node, tag, .. } if node.starts_with("redis-") => {
                    redis_tag_clears.entry(tag).or_default().push(*time_ns)
                }
                ModelEvent::TagInvalidate { node, tag, .. } => {
                    fences.push((node, *time_ns, Scope::Tag(tag), u64::MAX, 3))
                }
                ModelEvent::Start { node } => fences.push((node, *time_ns, Scope::All, u64::MAX, 2)),
                ModelEvent::Commit { key, version, .. } => {
                    commits.entry(key).or_default().push((*time_ns, *version))
                }
                _ => {}
            },
            Event::Fault { .. } => {}
        }
    }
    // A tier's tag clear that came promptly after the cascade's step before it (Redis moving
    // the tag's generation, or another tier's clear) was that cascade's first attempt, which
    // carries the generation that refuses an older fill anyway; one that came a request
    // timeout and a trip or more later was a retry, and retries are where protocols fall back
    // to blunter commands.
    let clears: BTreeMap<&str, Vec<u64>> = fences.iter().fold(redis_tag_clears, |mut m, f| {
        if let (_, t, Scope::Tag(tag), _, _) = f {
            m.entry(tag).or_default().push(*t);
        }
        m
    });
    fences.retain(|(_, t, scope, _, _)| match scope {
        Scope::Tag(tag) => clears
            .get(tag)
            .and_then(|ts| ts.iter().filter(|r| *r < t).max())
            .map_or(true, |r| t - r >= RETRY_NS),
        _ => true,
    });
    let mut out: BTreeSet<(std::cmp::Reverse<usize>, u64, NearMiss)> = BTreeSet::new();
    for fill in fills {
        let Some(process) = process_of.get(&fill.op) else { continue };
        let behind: Vec<(u64, u8)> = fences
            .iter()
            .filter(|(n, t, scope, v, _)| {
                *n == fill.node
                    && *t > fill.land_ns
                    && *t <= fill.land_ns + AFTER_NS
                    && fill.covered_by(*scope)
                    && *v > fill.version
            })
            .map(|(_, t, _, _, kind)| (*t, *kind))
            .collect();
        // Where the fill could land instead: after a removal or a restart, unless a floor above
        // it rose in between (since the tier last started), which would refuse it anyway: a
        // near miss of a fence that holds is no near miss. That is for a fill a newer commit
        // made stale; one whose tag was invalidated after its read lands instead after a tag
        // clear that came as a retry (see above).
        let untagged = behind
            .iter()
            .filter(|(t, kind)| {
                (*kind == 1 || *kind == 2) && {
                    let since = behind.iter().filter(|(s, k)| *k == 2 && s <= t).map(|(s, _)| *s).max();
                    !behind.iter().any(|(f, k)| *k == 0 && f <= t && since.map_or(true, |s| *f > s))
                }
            })
            .map(|(t, _)| *t)
            .max()
            .filter(|fence_ns| {
                commits
                    .get(fill.key)
                    .is_some_and(|c| c.iter().any(|(t, v)| t <= fence_ns && *v > fill.version))
            });
        let tagged = || {
            behind.iter().filter(|(_, kind)| *kind == 3).map(|(t, _)| *t).max().filter(|fence_ns| {
                fill.tags.iter().any(|tag| {
                    tag_invalidations
                        .get(tag.as_str())
                        .is_some_and(|ts| ts.iter().any(|t| *t > fill.origin_ns && t <= fence_ns))
                })
            })
        };
        let Some(fence_ns) = untagged.or_else(tagged) else { continue };
        let kinds =
            behind.iter().filter(|(t, _)| *t <= fence_ns).map(|(_, k)| *k).collect::<BTreeSet<_>>().len();
        let from = format!("app-{}", process % apps);
        let gap_ns = fence_ns - fill.land_ns;
        out.insert((
            std::cmp::Reverse(kinds),
            gap_ns,
            NearMiss { from, to: fill.node.to_string(), land_ns: fill.land_ns, gap_ns },
        ));
    }
    out.into_iter().map(|(_, _, m)| m).take(PER_RUN).collect()
}

/// The race strategy's state for one (scenario, protocol) pair: perturbed schedules waiting to
/// run, each with the run seed of the run it came from.
#[derive(Default)]
pub(crate) struct RaceQueue {
    pending: VecDeque<(u64, Schedule<CacheOp>)>,
}

impl RaceQueue {
    /// The next run: a waiting perturbation (with its base run's seed), or seed `seed` fresh.
    pub(crate) fn next(&mut self, scenario: &dyn Scenario, seed: u64) -> (u64, Schedule<CacheOp>) {
        self.pending.pop_front().unwrap_or_else(|| (seed, scenario.schedule(seed)))
    }

    /// What a run showed: a failing run drops the other perturbations of its seed (the race is
    /// found); a passing one queues a perturbation for each of its near misses.
    pub(crate) fn observe(
        &mut self,
        seed: u64,
        schedule: &Schedule<CacheOp>,
        failed: bool,
        signature: &[u64],
    ) {
        if failed {
            self.pending.retain(|(s, _)| *s != seed);
            return;
        }
        let stacked =
            schedule.faults.iter().filter(|f| matches!(f.fault, Fault::SlowLinkStart { .. })).count();
        if stacked >= MAX_STACKED {
            return;
        }
        for miss in signature.iter().filter_map(|x| NearMiss::decode(*x)) {
            if self.pending.len() >= QUEUE {
                break;
            }
            let mut s = schedule.clone();
            let [start, end] = miss.perturbation();
            s.end_ns = s.end_ns.max(end.at_ns + start_extra(&start));
            s.faults.extend([start, end]);
            s.faults.sort();
            self.pending.push_back((seed, s));
        }
    }
}

fn start_extra(f: &TimedFault) -> u64 {
    match f.fault {
        Fault::SlowLinkStart { extra_ns, .. } => extra_ns,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use crate::explore::race::{near_misses, NearMiss};
    use tiersim_model::event::{ModelEvent, RemoveCause, Tier};
    use tiersim_sim::history::{ClientEvent, Event, EventType, History, OpFn, OpValue};

    const MS: u64 = 1_000_000;

    /// app-0 and app-1 start; p1 (on app-1) reads k; v2 of k commits at 5 ms; p1's fill of v1
    /// lands at l2-0 at 10 ms; then `after` happens at l2-0.
    fn history(after: Vec<(u64, ModelEvent)>) -> History<ModelEvent> {
        let internal = |time_ns, event| Event::Internal { time_ns, event };
        let start = |node: &str| ModelEvent::Start { node: node.into() };
        let invoke = ClientEvent {
            process: 1,
            kind: EventType::Invoke,
            f: OpFn::Read,
            key: "k".into(),
            value: OpValue::Single(None),
            time_ns: 0,
        };
        let fill = ModelEvent::Fill {
            node: "l2-0".into(),
            tier: Tier::L2,
            key: "k".into(),
            version: 1,
            origin_ns: 0,
            filled_at_local_ns: 10 * MS,
            tier_ttl_ns: None,
            expires_at_ns: None,
            tags: Vec::new(),
            op: Some(7),
        };
        let mut events = vec![
            internal(0, start("app-0")),
            internal(0, start("app-1")),
            Event::Client { op: 7, event: invoke, version: None },
            internal(5 * MS, ModelEvent::Commit { key: "k".into(), version: 2, value: Some(2), op: 8 }),
            internal(10 * MS, fill),
        ];
        events.extend(after.into_iter().map(|(t, e)| internal(t, e)));
        History { events, digests: Vec::new(), trace_hash: 0 }
    }

    fn floor(version: u64) -> ModelEvent {
        ModelEvent::Floor { node: "l2-0".into(), tier: Tier::L2, key: "k".into(), version }
    }

    fn restart() -> ModelEvent {
        ModelEvent::Start { node: "l2-0".into() }
    }

    #[test]
    fn a_stale_fill_just_before_a_restart_that_wiped_the_floor_is_a_near_miss() {
        let misses = near_misses(&history(vec![(14 * MS, floor(2)), (20 * MS, restart())]));
        let want = NearMiss { from: "app-1".into(), to: "l2-0".into(), land_ns: 10 * MS, gap_ns: 10 * MS };
        assert_eq!(misses, vec![want]);
    }

    #[test]
    fn a_fence_that_would_hold_anyway_is_no_near_miss() {
        // A floor above the fill and no restart after it: the pushed fill would be refused.
        assert_eq!(near_misses(&history(vec![(14 * MS, floor(2))])), vec![]);
        // Removed, but the floor rose first: still refused.
        let remove = ModelEvent::Remove {
            node: "l2-0".into(),
            tier: Tier::L2,
            key: "k".into(),
            version: 1,
            cause: RemoveCause::Delete,
        };
        assert_eq!(near_misses(&history(vec![(12 * MS, floor(2)), (14 * MS, remove.clone())])), vec![]);
        // A removal with no floor behind it is one.
        assert_eq!(near_misses(&history(vec![(14 * MS, remove)])).len(), 1);
        // A restart too late to push the fill behind it (past the window) is none.
        assert_eq!(near_misses(&history(vec![(400 * MS, restart())])), vec![]);
    }

    /// p1 reads k (tag t) at 0; an invalidation of t is invoked at `invoked_ms`; p1's fill
    /// lands at l2-0 at 10 ms; l2-0 clears t by epoch at 15 ms. No commit: only the tag makes
    /// the fill stale.
    fn tagged(invoked_ms: u64) -> History<ModelEvent> {
        let mut h = history(Vec::new());
        h.events.retain(|e| !matches!(e, Event::Internal { event: ModelEvent::Commit { .. }, .. }));
        for e in &mut h.events {
            if let Event::Internal { event: ModelEvent::Fill { tags, origin_ns, .. }, .. } = e {
                *tags = vec!["t".into()];
                *origin_ns = 2 * MS;
            }
        }
        let invoke = ClientEvent {
            process: 2,
            kind: EventType::Invoke,
            f: OpFn::InvalidateTag,
            key: "t".into(),
            value: OpValue::Single(None),
            time_ns: invoked_ms * MS,
        };
        h.events.push(Event::Client { op: 9, event: invoke, version: None });
        let clear = ModelEvent::TagInvalidate { node: "l2-0".into(), tier: Tier::L2, tag: "t".into() };
        h.events.push(Event::Internal { time_ns: 15 * MS, event: clear });
        h.events.sort_by_key(|e| e.time_ns());
        h
    }

    #[test]
    fn a_fill_just_before_its_tag_was_cleared_is_a_near_miss_when_the_tag_was_invalidated_after_its_read() {
        let want = NearMiss { from: "app-1".into(), to: "l2-0".into(), land_ns: 10 * MS, gap_ns: 5 * MS };
        assert_eq!(near_misses(&tagged(3)), vec![want]);
        // Read after the invalidation began: the data is not from before it, nothing to push.
        assert_eq!(near_misses(&tagged(1)), vec![]);
        // Invalidated only after the clear: that clear is not the one that matters.
        assert_eq!(near_misses(&tagged(16)), vec![]);
        // A clear 1 ms after Redis moved the tag's generation is the cascade's first attempt,
        // which carries that generation: the fill pushed behind it would be refused.
        let mut prompt = tagged(3);
        let redis = ModelEvent::TagInvalidate { node: "redis-0".into(), tier: Tier::Redis, tag: "t".into() };
        prompt.events.push(Event::Internal { time_ns: 14 * MS, event: redis });
        prompt.events.sort_by_key(|e| e.time_ns());
        assert_eq!(near_misses(&prompt), vec![]);
    }

    #[test]
    fn a_near_miss_survives_its_packing() {
        let m =
            NearMiss { from: "app-2".into(), to: "l2-0".into(), land_ns: 1_234_567_000, gap_ns: 4_300_000 };
        assert_eq!(NearMiss::decode(m.encode().unwrap()), Some(m));
        let far = NearMiss { from: "app-2".into(), to: "db".into(), land_ns: 1, gap_ns: 1 };
        assert_eq!(far.encode(), None, "db has no index: not a tier a fill lands at");
    }
}
