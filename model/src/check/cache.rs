//! The cache-specific invariants of DESIGN.md ("Invariants") beyond the register ones:
//! `no-resurrection`, `monotonic-reads`, `read-your-writes`, `tier-order`, `ttl-bound`,
//! `tag-complete`, `slo` and `live`, each checked after the run on its history.
//!
//! Versions and their values come from the database's commit log (`Commit` events), never from
//! what a tier claims. What a tier holds is reconstructed by replaying fills, removals, floors
//! and restarts in history order ([`Replay`]), so "no tier holds" is checked at every instant,
//! not only where a read happened to look. Times are global sim time unless a name says
//! `_local_`, which is the tier's own (possibly skewed) clock.
//!
//! The exact definitions, as checked:
//!
//! - Failover (`ModelEvent::Promote`): a Redis shard that fails over starts again (`Start`)
//!   from its replica's keyspace, which may hold values that acknowledged deletes and
//!   invalidations had removed — put back by the failover, not by the protocol. Those restored
//!   entries are not contents of Redis for any invariant below (nor for `invalidation-barrier`
//!   or `converged`) until a fill overwrites them; every read served from them and every fill
//!   of another tier with them is judged as usual. A protocol must not serve or propagate them.
//! - `no-resurrection`: a delete that committed version v and completed ok at instant a sets a
//!   barrier from a on. A read invoked at or after a that returns a value at a version below v,
//!   a fill at or after a of a version below v whose commit carried a value, and any tier still
//!   holding such an unexpired entry at a (once every event of instant a is applied) are
//!   violations. Versions below v that are themselves deletes (or version 0, never written)
//!   carry no value and are allowed: an absent key is not a resurrection.
//! - `monotonic-reads`: per (process, key), an ok read invoked after an earlier ok read of the
//!   same process completed returns a version at least as high as that earlier read's.
//! - `read-your-writes`: per (process, key), an ok read invoked after an ok write or delete of
//!   the same process completed returns a version at least as high as the one it produced.
//! - `tier-order`: (1) a fill of a version above the database's latest commit of the key at
//!   that point of the history is a violation. (2) Along every app's path — its L1 `app-i`, its
//!   host's L2, its region's L3 and the Redis shard of the key — after all events of an instant
//!   are applied, for each pair of tiers both holding a live entry of the key, a deeper tier X
//!   holding u and a shallower tier Y holding w > u is a violation only when X's version floor
//!   (the highest version any invalidation has announced to X since it last started) is above
//!   u. A correct bottom-up protocol is legitimately inverted while an invalidation is still
//!   on its way down to X: a reader may fetch w from the database and fill Y while X keeps u
//!   (its own fill of w lost or overtaken), until the cascade reaches X and drops u. Once X has
//!   been told that u is superseded, holding u beneath a newer Y has no such excuse. Entries
//!   count as live until their global expiry (`expires_at_ns` of the fill). The topology is
//!   read from the nodes' `Start` events and their names (`app-i`, `l2-h`, `l3-r`,
//!   `redis-s`), as `system` builds them: processes per host = apps / L2s, hosts per region =
//!   L2s / L3s. The invalidation daemon's L1 (`cdc`) has no path and is not compared.
//! - `ttl-bound`: a `Serve` with a tier TTL (`tier_ttl_ns = Some(ttl)`) at
//!   `now_local_ns >= filled_at_local_ns + ttl` is a violation: an entry lives on its tier's
//!   clock during [filled_at, filled_at + ttl) and is served at filled_at + ttl - 1 ns at the
//!   latest, which is the store's own boundary (`Entry::expired_at`). Redis reports no tier TTL
//!   (its keys carry their own expiry) and is not judged here.
//! - `tag-complete`: an ok InvalidateTag(t) invoked at i and completed at a sets a barrier from
//!   a on. A read invoked at or after a whose answer came from a tier (the `Serve` of that read
//!   op nearest the app, which is what the read returned) is a violation when the entry carries
//!   tag t and its data was read from the database (`origin_ns`) strictly before i.
//! - `slo`: three latency distributions in sim time, always computed ([`Latencies`]):
//!   invalidation (commit of v -> ok of the write or delete that produced v), cascade (commit of
//!   v -> the last tier event caused by that invalidation: a `Floor` of v at any tier, or for
//!   floorless protocols a `Remove` by explicit delete of the key while the operation that
//!   produced v ran), and warming (warm invoke -> ok). Percentiles are nearest-rank. Their
//!   bounds are [`INVALIDATION_P99_MAX_NS`], [`CASCADE_P99_MAX_NS`] and
//!   [`WARMING_P99_MAX_NS`]; `check::slo` judges them with the seed's other targets.
//! - `live`: an operation that ended `info` or never completed is a violation unless a fault
//!   window overlapped its interval [invoke, end]. A window runs from a fault to its healing
//!   fault (`Fault::heal`), or to the end of the run when it is never healed (clock skew is
//!   never undone); a healing fault with nothing open to heal is a window of its own instant
//!   (a `Restart` of a node that is already running wipes it and its in-flight operations).
//!   An op that never completed ends at the end of the run. Ops that completed
//!   ok or fail did so within their budget by construction (the runner turns an overrun into
//!   `info`).

use crate::check::{secs, OpRecord, Violation};
use crate::event::{ModelEvent, RemoveCause, Tier};
use crate::protocol::Invariant;
use crate::state::redis::shard_for;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use tiersim_sim::fault::Fault;
use tiersim_sim::history::{Event, EventType, History, OpFn};

/// p99 bound of invalidation latency (commit -> the write acknowledged), per the original
/// integration-test targets.
pub const INVALIDATION_P99_MAX_NS: u64 = 50_000_000;
/// p99 bound of cascade propagation (commit -> the last tier reached).
pub const CASCADE_P99_MAX_NS: u64 = 100_000_000;
/// p99 bound of warming (warm invoke -> ok).
pub const WARMING_P99_MAX_NS: u64 = 200_000_000;

/// One commit of the database of record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub at_ns: u64,
    pub op: u64,
    /// `None`: the commit was a delete.
    pub value: Option<i64>,
}

/// key -> version -> commit, from the history's `Commit` events.
pub type CommitLog = BTreeMap<String, BTreeMap<u64, Commit>>;

pub fn commit_log(history: &History<ModelEvent>) -> CommitLog {
    let mut log = CommitLog::new();
    for e in &history.events {
        if let Event::Internal { time_ns, event: ModelEvent::Commit { key, version, value, op } } = e {
            log.entry(key.clone())
                .or_default()
                .insert(*version, Commit { at_ns: *time_ns, op: *op, value: *value });
        }
    }
    log
}

/// Whether `version` of `key` carries a value (version 0 and deletes do not).
fn carries_value(log: &CommitLog, key: &str, version: u64) -> bool {
    log.get(key).and_then(|vs| vs.get(&version)).is_some_and(|c| c.value.is_some())
}

/// An entry a tier holds, as its fill recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub tier: Tier,
    pub version: u64,
    /// Global instant of its expiry (`None`: never).
    pub expires_at_ns: Option<u64>,
    pub origin_ns: u64,
}

impl Held {
    pub fn live_at(&self, t_ns: u64) -> bool {
        self.expires_at_ns.is_none_or(|e| e > t_ns)
    }
}

/// Every tier's contents and version floors, key -> node -> entry, so one key's holders are
/// one lookup and probing a (key, node) pair allocates nothing. Floors are in memory at every
/// tier and Redis: a `Start` clears both.
#[derive(Clone, Debug, Default)]
pub struct TierContents {
    held: BTreeMap<String, BTreeMap<String, Held>>,
    floors: BTreeMap<String, BTreeMap<String, u64>>,
}

/// `map[key][node]`, set to `missing` first when absent; the names are copied only then.
fn slot<'m, V>(
    map: &'m mut BTreeMap<String, BTreeMap<String, V>>,
    key: &str,
    node: &str,
    missing: V,
) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), BTreeMap::new());
    }
    let nodes = map.get_mut(key).expect("inserted above");
    if !nodes.contains_key(node) {
        nodes.insert(node.to_string(), missing);
    }
    nodes.get_mut(node).expect("inserted above")
}

impl TierContents {
    /// Apply one internal event; returns the key it changed, if any.
    pub fn apply<'e>(&mut self, e: &'e ModelEvent) -> Option<&'e str> {
        match e {
            ModelEvent::Fill { node, tier, key, version, origin_ns, expires_at_ns, .. } => {
                let held = Held {
                    tier: *tier,
                    version: *version,
                    expires_at_ns: *expires_at_ns,
                    origin_ns: *origin_ns,
                };
                *slot(&mut self.held, key, node, held) = held;
                Some(key)
            }
            ModelEvent::Remove { node, key, .. } => {
                if let Some(nodes) = self.held.get_mut(key.as_str()) {
                    nodes.remove(node.as_str());
                }
                Some(key)
            }
            ModelEvent::Floor { node, key, version, .. } => {
                let floor = slot(&mut self.floors, key, node, 0);
                *floor = (*floor).max(*version);
                Some(key)
            }
            ModelEvent::Start { node } => {
                for nodes in self.held.values_mut() {
                    nodes.remove(node.as_str());
                }
                for nodes in self.floors.values_mut() {
                    nodes.remove(node.as_str());
                }
                None
            }
            // What a failover restored is not held until it is filled again (module docs).
            ModelEvent::Promote { .. } => None,
            _ => None,
        }
    }

    /// The nodes holding `key`, with their entries, in node order.
    pub fn holders<'a>(&'a self, key: &str) -> impl Iterator<Item = (&'a str, &'a Held)> {
        self.held.get(key).into_iter().flat_map(|nodes| nodes.iter().map(|(n, h)| (n.as_str(), h)))
    }

    pub fn floor(&self, key: &str, node: &str) -> u64 {
        self.floors.get(key).and_then(|nodes| nodes.get(node)).copied().unwrap_or(0)
    }
}

/// A walk over a history that keeps `contents` current: `step` applies the next event (if
/// internal) and returns it; `next_time_ns` tells when the next event happens, so a checker can
/// look at the state once every event of an instant has been applied.
pub struct Replay<'h> {
    events: &'h [Event<ModelEvent>],
    next: usize,
    pub contents: TierContents,
}

impl<'h> Replay<'h> {
    pub fn new(history: &'h History<ModelEvent>) -> Self {
        Replay { events: &history.events, next: 0, contents: TierContents::default() }
    }

    pub fn next_time_ns(&self) -> Option<u64> {
        self.events.get(self.next).map(|e| e.time_ns())
    }

    pub fn step(&mut self) -> Option<&'h Event<ModelEvent>> {
        let e = self.events.get(self.next)?;
        self.next += 1;
        if let Event::Internal { event, .. } = e {
            self.contents.apply(event);
        }
        Some(e)
    }
}

/// Violations of one invariant, one per (who, key): the first is the one worth reading.
struct Reporter {
    invariant: Invariant,
    violations: Vec<Violation>,
    seen: BTreeSet<(String, String)>,
}

impl Reporter {
    fn new(invariant: Invariant) -> Self {
        Reporter { invariant, violations: Vec::new(), seen: BTreeSet::new() }
    }

    fn report(&mut self, who: &str, key: &str, time_ns: u64, message: String) {
        if self.seen.insert((who.to_string(), key.to_string())) {
            self.violations.push(Violation {
                invariant: self.invariant.name().into(),
                key: key.to_string(),
                time_ns,
                message,
            });
        }
    }
}

/// Per-key barriers: (in force from, version, op), ascending in time.
type Barriers = BTreeMap<String, Vec<(u64, u64, u64)>>;

/// The highest barrier of `key` in force at `t_ns`: (version, in force from).
fn barrier_at(barriers: &Barriers, key: &str, t_ns: u64) -> Option<(u64, u64)> {
    barriers.get(key)?.iter().filter(|(at, _, _)| *at <= t_ns).map(|(at, v, _)| (*v, *at)).max()
}

/// `no-resurrection` (see the module docs).
pub fn check_no_resurrection(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>) -> Vec<Violation> {
    let log = commit_log(history);
    let mut barriers = Barriers::new();
    for (key, versions) in &log {
        for (version, c) in versions {
            let r = &ops[&c.op];
            if c.value.is_none() && r.f == OpFn::Delete && r.outcome == Some(EventType::Ok) {
                let at = r.complete_ns.expect("tiersim bug: an ok delete without a time");
                barriers.entry(key.clone()).or_default().push((at, *version, c.op));
            }
        }
    }
    for b in barriers.values_mut() {
        b.sort();
    }
    let mut acks: Vec<(u64, &str, u64)> =
        barriers.iter().flat_map(|(k, bs)| bs.iter().map(move |(at, v, _)| (*at, k.as_str(), *v))).collect();
    acks.sort();
    let mut out = Reporter::new(Invariant::NoResurrection);
    let mut replay = Replay::new(history);
    let mut next_ack = 0;
    loop {
        // Acknowledgements before the next instant see every event of their own instant.
        let upto = replay.next_time_ns().unwrap_or(u64::MAX);
        while next_ack < acks.len() && acks[next_ack].0 < upto {
            let (at, key, v) = acks[next_ack];
            next_ack += 1;
            for (node, h) in replay.contents.holders(key) {
                if h.version < v && h.live_at(at) && carries_value(&log, key, h.version) {
                    out.report(
                        node,
                        key,
                        at,
                        format!(
                            "{node}/{} still held v{} when the delete v{v} was acknowledged at t={}",
                            h.tier,
                            h.version,
                            secs(at)
                        ),
                    );
                }
            }
        }
        let Some(e) = replay.step() else { break };
        let t = e.time_ns();
        match e {
            Event::Internal { event: ModelEvent::Fill { node, tier, key, version, .. }, .. } => {
                if let Some((v, at)) = barrier_at(&barriers, key, t) {
                    if *version < v && carries_value(&log, key, *version) {
                        out.report(node, key, t, format!(
                            "{node}/{tier} was filled with v{version} at t={}; the delete v{v} had been acknowledged at t={}",
                            secs(t), secs(at)
                        ));
                    }
                }
            }
            Event::Client { op, event, version: Some(version) }
                if event.kind == EventType::Ok && event.f == OpFn::Read =>
            {
                let invoke_ns = ops[op].invoke_ns;
                if let Some((v, at)) = barrier_at(&barriers, &event.key, invoke_ns) {
                    if *version < v && event.value.single().is_some() {
                        out.report(&format!("p{}", event.process), &event.key, t, format!(
                            "read op {op} by p{} began at t={} and returned v{version}; the delete v{v} was acknowledged at t={}",
                            event.process, secs(invoke_ns), secs(at)
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out.violations
}

/// `monotonic-reads` and `read-your-writes` (see the module docs): one pass over each
/// session's operations in invoke order, reporting into the claimed invariants only.
pub fn check_sessions(
    ops: &BTreeMap<u64, OpRecord>,
    monotonic_reads: bool,
    read_your_writes: bool,
) -> Vec<Violation> {
    let mut mr = Reporter::new(Invariant::MonotonicReads);
    let mut ryw = Reporter::new(Invariant::ReadYourWrites);
    // (process, key) -> the latest ok read and the latest ok write: (version, op, completed at).
    let mut last_read: BTreeMap<(u64, &str), (u64, u64, u64)> = BTreeMap::new();
    let mut last_write: BTreeMap<(u64, &str), (u64, u64, u64)> = BTreeMap::new();
    for r in ops.values() {
        if r.outcome != Some(EventType::Ok) {
            continue;
        }
        let (Some(done), Some(version)) = (r.complete_ns, r.version) else {
            continue;
        };
        let session = (r.process, r.key.as_str());
        match r.f {
            OpFn::Read => {
                if let Some(&(seen, op, at)) = last_read.get(&session) {
                    if monotonic_reads && at <= r.invoke_ns && version < seen {
                        mr.report(&format!("p{}", r.process), &r.key, r.invoke_ns, format!(
                            "read op {} by p{} began at t={} and returned v{version}; its read op {op} had returned v{seen} at t={}",
                            r.op, r.process, secs(r.invoke_ns), secs(at)
                        ));
                    }
                }
                if let Some(&(wrote, op, at)) = last_write.get(&session) {
                    if read_your_writes && at <= r.invoke_ns && version < wrote {
                        ryw.report(&format!("p{}", r.process), &r.key, r.invoke_ns, format!(
                            "read op {} by p{} began at t={} and returned v{version}; its {} op {op} had produced v{wrote} at t={}",
                            r.op, r.process, secs(r.invoke_ns), ops[&op].f.name(), secs(at)
                        ));
                    }
                }
                let best = last_read.get(&session).map_or(0, |s| s.0);
                if version >= best {
                    last_read.insert(session, (version, r.op, done));
                }
            }
            OpFn::Write | OpFn::Delete => {
                last_write.insert(session, (version, r.op, done));
            }
            _ => {}
        }
    }
    let mut out = mr.violations;
    out.extend(ryw.violations);
    out
}

/// The nodes of the system, read from their `Start` events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nodes {
    pub apps: usize,
    pub l2s: usize,
    pub l3s: usize,
    pub redis_shards: usize,
}

impl Nodes {
    pub fn of(history: &History<ModelEvent>) -> Nodes {
        let mut n = Nodes::default();
        for e in &history.events {
            if let Event::Internal { event: ModelEvent::Start { node }, .. } = e {
                let Some((kind, index)) = node.rsplit_once('-') else {
                    continue;
                };
                let Ok(i) = index.parse::<usize>() else {
                    continue;
                };
                let slot = match kind {
                    "app" => &mut n.apps,
                    "l2" => &mut n.l2s,
                    "l3" => &mut n.l3s,
                    "redis" => &mut n.redis_shards,
                    _ => continue,
                };
                *slot = (*slot).max(i + 1);
            }
        }
        n
    }

    /// Every app's path, named once: what `tier-order` compares at every instant.
    pub fn paths(&self) -> Option<Paths> {
        if self.l2s == 0 || self.l3s == 0 || self.redis_shards == 0 || self.apps == 0 {
            return None;
        }
        let apps = (0..self.apps)
            .map(|app| {
                let host = app / (self.apps / self.l2s).max(1);
                let region = host / (self.l2s / self.l3s).max(1);
                [format!("app-{app}"), format!("l2-{host}"), format!("l3-{region}")]
            })
            .collect();
        Some(Paths { apps, redis: (0..self.redis_shards).map(|s| format!("redis-{s}")).collect() })
    }
}

/// The node names on every app's path ([`Nodes::paths`]): L1, L2, L3 per app, and the Redis
/// shards, of which a key's path takes the one it hashes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    pub apps: Vec<[String; 3]>,
    pub redis: Vec<String>,
}

impl Paths {
    /// The Redis shard on every path of `key`.
    pub fn redis_of(&self, key: &str) -> &str {
        &self.redis[shard_for(key, self.redis.len())]
    }
}

/// `tier-order` (see the module docs).
pub fn check_tier_order(history: &History<ModelEvent>) -> Vec<Violation> {
    let paths = Nodes::of(history).paths();
    let mut out = Reporter::new(Invariant::TierOrder);
    let mut latest: BTreeMap<&str, u64> = BTreeMap::new();
    let mut touched: BTreeSet<&str> = BTreeSet::new();
    let mut replay = Replay::new(history);
    while let Some(e) = replay.step() {
        let t = e.time_ns();
        if let Event::Internal { event, .. } = e {
            match event {
                ModelEvent::Commit { key, version, .. } => {
                    latest.insert(key, *version);
                }
                ModelEvent::Fill { node, tier, key, version, .. } => {
                    let db = latest.get(key.as_str()).copied().unwrap_or(0);
                    if *version > db {
                        out.report(node, key, t, format!(
                            "{node}/{tier} was filled with v{version} at t={}, ahead of the database's latest commit v{db}",
                            secs(t)
                        ));
                    }
                    touched.insert(key);
                }
                ModelEvent::Remove { key, .. } | ModelEvent::Floor { key, .. } => {
                    touched.insert(key);
                }
                _ => {}
            }
        }
        // Compare once every event of this instant is applied.
        if replay.next_time_ns().is_none_or(|n| n > t) {
            for key in std::mem::take(&mut touched) {
                if let Some(paths) = &paths {
                    compare_paths(&replay.contents, paths, key, t, &mut out);
                }
            }
        }
    }
    out.violations
}

/// Compare every pair of live entries of `key` along every app's path at `t_ns`.
fn compare_paths(c: &TierContents, paths: &Paths, key: &str, t_ns: u64, out: &mut Reporter) {
    // With fewer than two live entries of the key nothing can be out of order, which is the
    // common case.
    let (Some(held), floors) = (c.held.get(key), c.floors.get(key)) else {
        return;
    };
    if held.values().filter(|h| h.live_at(t_ns)).nth(1).is_none() {
        return;
    }
    // Only a live entry below its own node's floor can be the deeper half of a violation; most
    // instants have none, and then no path needs walking.
    let floor_of = |node: &str| floors.and_then(|f| f.get(node)).copied().unwrap_or(0);
    if !held.iter().any(|(node, h)| h.live_at(t_ns) && floor_of(node) > h.version) {
        return;
    }
    let redis = paths.redis_of(key);
    for (app, [l1, l2, l3]) in paths.apps.iter().enumerate() {
        let path = [l1.as_str(), l2.as_str(), l3.as_str(), redis];
        let live = path.map(|n| held.get(n).filter(|h| h.live_at(t_ns)));
        for deep in (1..path.len()).rev() {
            let Some(x) = live[deep] else { continue };
            let floor = floor_of(path[deep]);
            if floor <= x.version {
                continue; // X has not been told that its version is superseded
            }
            for shallow in 0..deep {
                let Some(y) = live[shallow] else { continue };
                if y.version > x.version {
                    out.report(path[deep], key, t_ns, format!(
                        "{}/{} held v{} below its floor v{floor} while {}/{} on the path of app-{app} held v{} at t={}",
                        path[deep], x.tier, x.version, path[shallow], y.tier, y.version, secs(t_ns)
                    ));
                }
            }
        }
    }
}

/// `ttl-bound` (see the module docs).
pub fn check_ttl_bound(history: &History<ModelEvent>) -> Vec<Violation> {
    let mut out = Reporter::new(Invariant::TtlBound);
    for e in &history.events {
        if let Event::Internal {
            time_ns,
            event:
                ModelEvent::Serve {
                    node,
                    tier,
                    key,
                    version,
                    now_local_ns,
                    filled_at_local_ns,
                    tier_ttl_ns: Some(ttl),
                    ..
                },
        } = e
        {
            let expiry_local_ns = filled_at_local_ns + ttl;
            if *now_local_ns >= expiry_local_ns {
                out.report(node, key, *time_ns, format!(
                    "{node}/{tier} served v{version} at {} ms on its clock; filled at {} ms with a {} ms TTL, it expired at {} ms",
                    now_local_ns / 1_000_000,
                    filled_at_local_ns / 1_000_000,
                    ttl / 1_000_000,
                    expiry_local_ns / 1_000_000
                ));
            }
        }
    }
    out.violations
}

/// What one tier answered to one client operation.
struct Served<'h> {
    node: &'h str,
    tier: Tier,
    version: u64,
    origin_ns: u64,
    tags: &'h [String],
}

/// `tag-complete` (see the module docs).
pub fn check_tag_complete(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>) -> Vec<Violation> {
    // The answer of each op: the serving tier nearest the app.
    let mut served: BTreeMap<u64, Served<'_>> = BTreeMap::new();
    for e in &history.events {
        if let Event::Internal {
            event: ModelEvent::Serve { node, tier, version, op: Some(op), origin_ns, tags, .. },
            ..
        } = e
        {
            if served.get(op).is_none_or(|s| tier.depth() < s.tier.depth()) {
                served.insert(
                    *op,
                    Served { node, tier: *tier, version: *version, origin_ns: *origin_ns, tags },
                );
            }
        }
    }
    let tag_invalidations: Vec<&OpRecord> =
        ops.values().filter(|r| r.f == OpFn::InvalidateTag && r.outcome == Some(EventType::Ok)).collect();
    let mut out = Reporter::new(Invariant::TagComplete);
    for r in ops.values() {
        if r.f != OpFn::Read || r.outcome != Some(EventType::Ok) {
            continue;
        }
        let Some(s) = served.get(&r.op) else { continue };
        // The latest acknowledged invalidation of one of the entry's tags that the data predates.
        let broken = tag_invalidations
            .iter()
            .filter(|ti| {
                ti.complete_ns.is_some_and(|a| a <= r.invoke_ns)
                    && s.tags.contains(&ti.key)
                    && s.origin_ns < ti.invoke_ns
            })
            .max_by_key(|ti| ti.complete_ns);
        if let Some(ti) = broken {
            out.report(&format!("{}:{}", s.node, ti.key), &r.key, r.invoke_ns, format!(
                "read op {} by p{} began at t={} and got v{} of tag {} from {}/{}, read from the database at t={}; InvalidateTag({}) began at t={} and was acknowledged at t={}",
                r.op, r.process, secs(r.invoke_ns), s.version, ti.key, s.node, s.tier,
                secs(s.origin_ns), ti.key, secs(ti.invoke_ns), secs(ti.complete_ns.unwrap_or(0))
            ));
        }
    }
    out.violations
}

/// One latency sample: what it measured and from when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Sample {
    /// The key (or the warm batch's name).
    pub key: String,
    pub start_ns: u64,
    pub latency_ns: u64,
}

/// Nearest-rank percentiles of one latency distribution, with its slowest sample.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ns: u64,
    pub p95_ns: u64,
    pub p99_ns: u64,
    pub slowest: Sample,
}

impl Percentiles {
    /// `None` when there is no sample.
    pub fn of(mut samples: Vec<Sample>) -> Option<Percentiles> {
        samples.sort_by(|a, b| (a.latency_ns, a.start_ns).cmp(&(b.latency_ns, b.start_ns)));
        let n = samples.len();
        if n == 0 {
            return None;
        }
        // Nearest rank: the smallest sample with at least p% of the samples at or below it.
        let rank = |p: usize| samples[(p * n).div_ceil(100).max(1) - 1].latency_ns;
        Some(Percentiles {
            samples: n,
            p50_ns: rank(50),
            p95_ns: rank(95),
            p99_ns: rank(99),
            slowest: samples[n - 1].clone(),
        })
    }
}

/// The `slo` figures of a run; a distribution with no sample is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Latencies {
    /// Commit of v -> the ok of the write or delete that produced v.
    pub invalidation: Option<Percentiles>,
    /// Commit of v -> the last tier its invalidation reached.
    pub cascade: Option<Percentiles>,
    /// Warm invoke -> ok.
    pub warming: Option<Percentiles>,
}

/// The samples of the three `slo` distributions: invalidation, cascade, warming.
pub struct LatencySamples {
    pub invalidation: Vec<Sample>,
    pub cascade: Vec<Sample>,
    pub warming: Vec<Sample>,
}

/// Measure the three `slo` distributions (see the module docs).
pub fn latencies(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>) -> Latencies {
    let s = latency_samples(history, ops);
    Latencies {
        invalidation: Percentiles::of(s.invalidation),
        cascade: Percentiles::of(s.cascade),
        warming: Percentiles::of(s.warming),
    }
}

/// Every sample of the three `slo` distributions (see the module docs).
pub fn latency_samples(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>) -> LatencySamples {
    let log = commit_log(history);
    let mut invalidation = Vec::new();
    // (key, version) -> (commit instant, last tier event); and the floorless window of each op.
    let mut reached: BTreeMap<(&str, u64), (u64, Option<u64>)> = BTreeMap::new();
    let mut windows: BTreeMap<&str, Vec<(u64, u64, u64)>> = BTreeMap::new();
    let end_ns = history.events.last().map_or(0, |e| e.time_ns());
    for (key, versions) in &log {
        let commit_times: Vec<u64> = versions.values().map(|c| c.at_ns).collect();
        for (i, (version, c)) in versions.iter().enumerate() {
            let r = &ops[&c.op];
            if r.outcome == Some(EventType::Ok) {
                invalidation.push(Sample {
                    key: key.clone(),
                    start_ns: c.at_ns,
                    latency_ns: r.complete_ns.unwrap_or(c.at_ns).saturating_sub(c.at_ns),
                });
            }
            reached.insert((key, *version), (c.at_ns, None));
            let until = r.complete_ns.or(commit_times.get(i + 1).copied()).unwrap_or(end_ns);
            windows.entry(key).or_default().push((r.invoke_ns, until, *version));
        }
    }
    for e in &history.events {
        let Event::Internal { time_ns, event } = e else {
            continue;
        };
        let caused = match event {
            ModelEvent::Floor { key, version, .. } => Some((key.as_str(), *version)),
            ModelEvent::Remove { key, cause: RemoveCause::Delete, .. } => {
                windows.get(key.as_str()).and_then(|ws| {
                    ws.iter()
                        .find(|(from, until, _)| (*from..=*until).contains(time_ns))
                        .map(|(_, _, v)| (key.as_str(), *v))
                })
            }
            _ => None,
        };
        if let Some(r) = caused.and_then(|kv| reached.get_mut(&kv)) {
            r.1 = Some(r.1.map_or(*time_ns, |l| l.max(*time_ns)));
        }
    }
    let cascade = reached
        .iter()
        .filter_map(|((key, _), (at, last))| {
            last.map(|l| Sample { key: key.to_string(), start_ns: *at, latency_ns: l.saturating_sub(*at) })
        })
        .collect();
    let warming = ops
        .values()
        .filter(|r| r.f == OpFn::Warm && r.outcome == Some(EventType::Ok))
        .map(|r| Sample {
            key: r.key.clone(),
            start_ns: r.invoke_ns,
            latency_ns: r.complete_ns.unwrap_or(r.invoke_ns) - r.invoke_ns,
        })
        .collect();
    LatencySamples { invalidation, cascade, warming }
}

/// The fault windows of a run: [fault, its healing fault or the end of the run].
pub fn fault_windows(history: &History<ModelEvent>) -> Vec<(u64, u64)> {
    windows_of(history, true)
}

/// The windows of the faults that touch the network or a node (every fault but clock skew,
/// which moves clocks and delays no message): what excuses an `slo` sample.
pub fn network_fault_windows(history: &History<ModelEvent>) -> Vec<(u64, u64)> {
    windows_of(history, false)
}

fn windows_of(history: &History<ModelEvent>, skew: bool) -> Vec<(u64, u64)> {
    let end_ns = history.events.last().map_or(0, |e| e.time_ns());
    let mut open: BTreeMap<Fault, Vec<u64>> = BTreeMap::new();
    let mut windows = Vec::new();
    for e in &history.events {
        let Event::Fault { time_ns, fault } = e else {
            continue;
        };
        if !skew && matches!(fault, Fault::ClockSkew { .. }) {
            continue;
        }
        if let Some(heal) = fault.heal() {
            open.entry(heal).or_default().push(*time_ns);
        } else if let Some(starts) = open.remove(fault) {
            windows.extend(starts.into_iter().map(|s| (s, *time_ns)));
        } else if matches!(fault, Fault::ClockSkew { .. }) {
            windows.push((*time_ns, end_ns));
        } else {
            // A healing fault with nothing to heal still acts: a restart of a running node
            // wipes it and its in-flight operations.
            windows.push((*time_ns, *time_ns));
        }
    }
    windows.extend(open.into_values().flatten().map(|s| (s, end_ns)));
    windows.sort();
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(latencies_ms: impl IntoIterator<Item = u64>) -> Vec<Sample> {
        latencies_ms
            .into_iter()
            .map(|ms| Sample { key: "k".into(), start_ns: 0, latency_ns: ms * 1_000_000 })
            .collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of(samples((1..=100).rev())).unwrap();
        assert_eq!((p.samples, p.p50_ns, p.p95_ns, p.p99_ns), (100, 50_000_000, 95_000_000, 99_000_000));
        assert_eq!(p.slowest.latency_ns, 100_000_000);
        // Two samples: the median is the lower one, p99 the higher.
        let p = Percentiles::of(samples([10, 20])).unwrap();
        assert_eq!((p.p50_ns, p.p99_ns), (10_000_000, 20_000_000));
        assert_eq!(Percentiles::of(Vec::new()), None);
    }

    #[test]
    fn an_unhealed_fault_window_runs_to_the_end_and_skew_is_never_healed() {
        let fault = |t_ms: u64, fault: Fault| Event::Fault { time_ns: t_ms * 1_000_000, fault };
        let h: History<ModelEvent> = History {
            events: vec![
                fault(1, Fault::LossStart { per_mille: 10 }),
                fault(2, Fault::LossEnd),
                fault(3, Fault::ClockSkew { node: "l2-0".into(), skew_ns: 5, drift_ppm: 0 }),
                fault(4, Fault::Kill { node: "app-0".into() }),
                fault(9, Fault::UnclogNode { node: "app-0".into() }),
            ],
            digests: Vec::new(),
            trace_hash: 0,
        };
        let ms = 1_000_000;
        assert_eq!(
            fault_windows(&h),
            vec![(ms, 2 * ms), (3 * ms, 9 * ms), (4 * ms, 9 * ms), (9 * ms, 9 * ms)]
        );
    }
}
