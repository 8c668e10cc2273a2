//! What a run measures besides its verdict (DESIGN.md, "What a run measures besides its
//! verdict"): consistency in nines, what consistency costs, how long the tiers take to converge
//! after a commit, and how well a warm batch warms.
//!
//! Every figure is computed after the run from its history (and the counters the runner keeps
//! outside it), so measuring changes no trace hash and no verdict. Tier contents come from the
//! same reconstruction the invariants use ([`Replay`]), versions and commit instants from the
//! database's commit log.
//!
//! The definitions, as computed:
//!
//! - **Stale read** (Meta's Polaris): an ok read invoked at `inv` that returned version u while a
//!   higher version of the key had been committed at or before `inv`. Its staleness is
//!   `inv - c(s)`, where s is the version committed right after u (the one that superseded it).
//!   A read is inconsistent at threshold T when it is stale by more than T.
//! - **Stale entry**: one entry of one tier node, from its fill until it is replaced, removed,
//!   expires (its global `expires_at_ns`) or its node restarts, or the end of the run. It is
//!   stale during `[max(fill, c(s)), end)`, s the version that superseded the one it holds, and
//!   inconsistent at threshold T when that interval is longer than T.
//! - **Nines**: `-log10(inconsistent / total)`. `None` means infinity (nothing inconsistent);
//!   JSON prints infinity as the string `"inf"`, and `null` only when there was nothing to count
//!   (no read, or no entry).

use crate::check::cache::{commit_log, CommitLog, Percentiles, Replay, Sample, WARMING_P99_MAX_NS};
use crate::check::OpRecord;
use crate::event::{ModelEvent, Tier};
use serde::Serialize;
use std::collections::BTreeMap;
use tiersim_sim::history::{Event, EventType, History, OpFn};

/// The staleness thresholds of the Polaris figures, in ms.
pub const THRESHOLDS_MS: [u64; 5] = [10, 100, 1_000, 10_000, 60_000];

/// Inconsistent items of one population, overall and by staleness threshold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Inconsistency {
    /// Items counted (ok reads, or tier entries).
    pub total: u64,
    /// Items that were stale at all.
    pub stale: u64,
    /// Items stale by more than each of [`THRESHOLDS_MS`], in that order.
    pub stale_over: [u64; 5],
}

impl Inconsistency {
    fn count(&mut self, staleness_ns: Option<u64>) {
        self.total += 1;
        if let Some(s) = staleness_ns {
            self.stale += 1;
            for (i, ms) in THRESHOLDS_MS.iter().enumerate() {
                if s > ms * 1_000_000 {
                    self.stale_over[i] += 1;
                }
            }
        }
    }

    /// Add another run's counts (a sweep aggregates by summing, then takes the nines).
    pub fn add(&mut self, other: &Inconsistency) {
        self.total += other.total;
        self.stale += other.stale;
        for i in 0..THRESHOLDS_MS.len() {
            self.stale_over[i] += other.stale_over[i];
        }
    }

    /// Nines of the whole population (see [`Nines`]).
    pub fn nines(&self) -> Nines {
        Nines::of(self.stale, self.total)
    }

    /// Nines at each threshold of [`THRESHOLDS_MS`].
    pub fn nines_by_threshold(&self) -> [Nines; 5] {
        self.stale_over.map(|n| Nines::of(n, self.total))
    }
}

/// `-log10` of an inconsistent fraction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Nines {
    /// Nothing to count.
    Empty,
    /// Nothing inconsistent.
    Infinite,
    Finite(f64),
}

impl Nines {
    pub fn of(inconsistent: u64, total: u64) -> Nines {
        match (inconsistent, total) {
            (_, 0) => Nines::Empty,
            (0, _) => Nines::Infinite,
            (n, t) => Nines::Finite(-((n as f64) / (t as f64)).log10()),
        }
    }

    /// JSON: a number, `"inf"` for infinity, `null` for nothing counted.
    pub fn json(self) -> serde_json::Value {
        match self {
            Nines::Empty => serde_json::Value::Null,
            Nines::Infinite => serde_json::Value::String("inf".into()),
            Nines::Finite(n) => serde_json::json!((n * 1000.0).round() / 1000.0),
        }
    }

    /// Text: `4.52`, `∞`, or `-`.
    pub fn text(self) -> String {
        match self {
            Nines::Empty => "-".into(),
            Nines::Infinite => "∞".into(),
            Nines::Finite(n) => format!("{n:.2}"),
        }
    }
}

/// Consistency in nines: reads and tier entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Consistency {
    pub reads: Inconsistency,
    pub entries: Inconsistency,
}

impl Consistency {
    pub fn add(&mut self, other: &Consistency) {
        self.reads.add(&other.reads);
        self.entries.add(&other.entries);
    }

    /// The JSON of DESIGN.md: `stale_reads`, `reads`, `nines`, `nines_by_threshold_ms`, and the
    /// same for tier entries under `entries`.
    pub fn json(&self) -> serde_json::Value {
        let by_threshold = |i: &Inconsistency| {
            let nines = i.nines_by_threshold();
            let map: serde_json::Map<String, serde_json::Value> =
                THRESHOLDS_MS.iter().zip(nines).map(|(ms, n)| (ms.to_string(), n.json())).collect();
            serde_json::Value::Object(map)
        };
        let over = |i: &Inconsistency| {
            let map: serde_json::Map<String, serde_json::Value> =
                THRESHOLDS_MS.iter().zip(i.stale_over).map(|(ms, n)| (ms.to_string(), n.into())).collect();
            serde_json::Value::Object(map)
        };
        serde_json::json!({
            "reads": self.reads.total,
            "stale_reads": self.reads.stale,
            "stale_reads_over_ms": over(&self.reads),
            "nines": self.reads.nines().json(),
            "nines_by_threshold_ms": by_threshold(&self.reads),
            "entries": {
                "entries": self.entries.total,
                "stale_entries": self.entries.stale,
                "stale_entries_over_ms": over(&self.entries),
                "nines": self.entries.nines().json(),
                "nines_by_threshold_ms": by_threshold(&self.entries),
            },
        })
    }
}

/// Every figure of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Figures {
    pub consistency: Consistency,
    pub cost: Cost,
    /// Commit of v -> every tier holds v or newer, or nothing (see [`convergence`]).
    pub convergence: Option<Percentiles>,
    /// Commits after which some tier still held an older live entry when the run ended.
    pub unconverged: u64,
    pub warming: Warming,
}

/// How well warm batches warmed: a key of a batch is warmed when, at the instant the batch
/// completed ok, the Redis tier (the shared tier every app reads through, which every
/// protocol's warm fills) held a live entry of it at the database's current version (or, for a
/// key the database never held, nothing: there is nothing to warm). Keys of a batch that never
/// completed ok count as not warmed.
///
/// A key is warmed in time (the seed's "≥ 95 % of keys warmed within 200 ms", which `slo`
/// judges) when its batch completed ok within [`WARMING_P99_MAX_NS`] of its invoke and either
/// it was warmed, or the batch itself brought Redis the version current at that instant (its
/// fill put in the version current when the fill's data was read, or its lookup found Redis
/// holding the current version) and a write committed after that superseded it before the
/// batch completed. Such a key is the racing write's job, not the warm's: the write's own
/// invalidation removes the entry, and no protocol can keep a key that is being written current
/// to the instant a batch completes. Nothing else excuses a key: one the warm put in that was
/// evicted, expired, dropped by a tag invalidation or lost to a restart, or one filled from a
/// lagging replica with a version already superseded when it was read, is not warmed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Warming {
    pub batches: u64,
    pub keys: u64,
    pub warmed: u64,
    pub warmed_in_time: u64,
}

impl Warming {
    /// `None` without a warm batch.
    pub fn success_ratio(&self) -> Option<f64> {
        (self.keys > 0).then(|| self.warmed as f64 / self.keys as f64)
    }

    /// The share of keys warmed in time; `None` without a warm batch.
    pub fn in_time_ratio(&self) -> Option<f64> {
        (self.keys > 0).then(|| self.warmed_in_time as f64 / self.keys as f64)
    }

    pub fn add(&mut self, other: &Warming) {
        self.batches += other.batches;
        self.keys += other.keys;
        self.warmed += other.warmed;
        self.warmed_in_time += other.warmed_in_time;
    }
}

/// The warming figure of one run; `batches` names each warm op's keys (by its batch name, as
/// the schedule gave it).
pub fn warming(
    history: &History<ModelEvent>,
    ops: &BTreeMap<u64, OpRecord>,
    batches: &BTreeMap<String, Vec<String>>,
) -> Warming {
    let log = commit_log(history);
    // Completion instant -> the batches that completed ok then, and whether each did in time.
    let mut done: BTreeMap<u64, Vec<(&str, bool, u64)>> = BTreeMap::new();
    let mut out = Warming::default();
    for r in ops.values().filter(|r| r.f == OpFn::Warm) {
        let keys = batches.get(&r.key).map_or(0, |k| k.len() as u64);
        out.batches += 1;
        out.keys += keys;
        if r.outcome == Some(EventType::Ok) {
            let at = r.complete_ns.expect("an ok op has a completion");
            done.entry(at).or_default().push((&r.key, at - r.invoke_ns <= WARMING_P99_MAX_NS, r.op));
        }
    }
    // (warm op, key) -> the version the op's own Redis fill put in when it was current at the
    // fill's database read, or its lookup found there when it was current at that instant.
    let mut current_fills: BTreeMap<(u64, &str), u64> = BTreeMap::new();
    for e in &history.events {
        // A fill is judged as of its data's read from the database, a lookup as of its instant.
        let (key, version, op, then_ns) = match e {
            Event::Internal {
                event: ModelEvent::Fill { tier: Tier::Redis, key, version, op: Some(op), origin_ns, .. },
                ..
            } => (key, version, op, *origin_ns),
            Event::Internal {
                time_ns,
                event: ModelEvent::Serve { tier: Tier::Redis, key, version, op: Some(op), .. },
            } => (key, version, op, *time_ns),
            _ => continue,
        };
        {
            let current_then = log
                .get(key)
                .and_then(|vs| vs.iter().rev().find(|(_, c)| c.at_ns <= then_ns))
                .map_or(0, |(v, _)| *v);
            if *version == current_then && ops.get(op).is_some_and(|r| r.f == OpFn::Warm) {
                let seen = current_fills.entry((*op, key)).or_default();
                *seen = (*seen).max(*version);
            }
        }
    }
    let mut replay = Replay::new(history);
    for (at, names) in done {
        while replay.next_time_ns().is_some_and(|t| t <= at) {
            replay.step();
        }
        for (key, in_time, op) in
            names.iter().flat_map(|(n, in_time, op)| batches[*n].iter().map(move |k| (k, *in_time, *op)))
        {
            let current = log
                .get(key)
                .and_then(|vs| vs.iter().rev().find(|(_, c)| c.at_ns <= at))
                .map_or(0, |(v, _)| *v);
            // A key the database never held (version 0) has nothing to warm: warm unless Redis
            // holds something else of it.
            let mut redis =
                replay.contents.holders(key).filter(|(_, h)| h.tier == Tier::Redis && h.live_at(at));
            let warm = if current == 0 {
                redis.all(|(_, h)| h.version == 0)
            } else {
                redis.any(|(_, h)| h.version == current)
            };
            out.warmed += u64::from(warm);
            // Brought in current, then superseded by a later commit: the write's job.
            let superseded = current_fills.get(&(op, key.as_str())).is_some_and(|v| *v < current);
            out.warmed_in_time += u64::from((warm || superseded) && in_time);
        }
    }
    out
}

/// What the runner counted outside the history.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Reads the database and its replicas answered.
    pub db_reads: u64,
    /// Messages sent.
    pub messages: u64,
}

/// Measure `history` (see the module docs).
pub fn figures(
    history: &History<ModelEvent>,
    counters: Counters,
    batches: &BTreeMap<String, Vec<String>>,
) -> Figures {
    let ops = crate::check::op_records(history);
    let (convergence, unconverged) = convergence(history);
    Figures {
        consistency: consistency(history, &ops),
        cost: cost(history, &ops, counters),
        convergence: Percentiles::of(convergence),
        unconverged,
        warming: warming(history, &ops, batches),
    }
}

/// What consistency costs: where reads were answered, the database load, the messages, and the
/// client latencies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Cost {
    /// Per tier: (ok reads the tier answered, ok reads that reached it). A read reaches a tier
    /// when no tier nearer the app answered it; it is answered by the nearest tier that served
    /// it (its `Serve` event), or by the database when no tier did.
    pub hits: BTreeMap<Tier, (u64, u64)>,
    /// Client reads invoked.
    pub reads: u64,
    /// Client operations invoked.
    pub ops: u64,
    pub db_reads: u64,
    pub messages: u64,
    /// Ok reads: invoke -> ok.
    pub read_latency: Option<Percentiles>,
    /// Ok writes and deletes: invoke -> ok.
    pub write_latency: Option<Percentiles>,
}

impl Cost {
    /// Hit ratio of `tier`: `None` when no read reached it.
    pub fn hit_ratio(&self, tier: Tier) -> Option<f64> {
        self.hits
            .get(&tier)
            .filter(|(_, reached)| *reached > 0)
            .map(|(hit, reached)| *hit as f64 / *reached as f64)
    }

    /// Database reads per client read (every database read, warming's and writes' included,
    /// over the client reads invoked): the database load a protocol puts behind each read.
    pub fn db_reads_per_read(&self) -> Option<f64> {
        (self.reads > 0).then(|| self.db_reads as f64 / self.reads as f64)
    }

    pub fn messages_per_op(&self) -> Option<f64> {
        (self.ops > 0).then(|| self.messages as f64 / self.ops as f64)
    }

    /// The JSON of DESIGN.md: `hit_ratio` per tier, `db_reads_per_read`, `messages_per_op`, and
    /// read and write latency percentiles in ns.
    pub fn json(&self) -> serde_json::Value {
        let round = |x: Option<f64>| x.map(|x| (x * 10_000.0).round() / 10_000.0);
        let hit: serde_json::Map<String, serde_json::Value> = [Tier::L1, Tier::L2, Tier::L3, Tier::Redis]
            .into_iter()
            .map(|t| (t.to_string(), serde_json::json!(round(self.hit_ratio(t)))))
            .collect();
        serde_json::json!({
            "hit_ratio": hit,
            "db_reads": self.db_reads,
            "db_reads_per_read": round(self.db_reads_per_read()),
            "messages_per_op": round(self.messages_per_op()),
            "read_latency_ns": percentiles_json(&self.read_latency),
            "write_latency_ns": percentiles_json(&self.write_latency),
        })
    }

    /// Add another run's counts (a sweep row); latencies are not additive and are left out.
    pub fn add(&mut self, other: &Cost) {
        for (tier, (hit, reached)) in &other.hits {
            let mine = self.hits.entry(*tier).or_default();
            mine.0 += hit;
            mine.1 += reached;
        }
        self.reads += other.reads;
        self.ops += other.ops;
        self.db_reads += other.db_reads;
        self.messages += other.messages;
    }
}

/// Percentiles in ns as output prints them; `null` without a sample.
pub fn percentiles_json(p: &Option<Percentiles>) -> serde_json::Value {
    match p {
        Some(p) => {
            serde_json::json!({"p50": p.p50_ns, "p95": p.p95_ns, "p99": p.p99_ns, "samples": p.samples})
        }
        None => serde_json::Value::Null,
    }
}

/// Invoke -> ok of every ok op for which `which` holds.
fn op_latencies(ops: &BTreeMap<u64, OpRecord>, which: impl Fn(OpFn) -> bool) -> Option<Percentiles> {
    Percentiles::of(
        ops.values()
            .filter(|r| which(r.f) && r.outcome == Some(EventType::Ok))
            .map(|r| Sample {
                key: r.key.clone(),
                start_ns: r.invoke_ns,
                latency_ns: r.complete_ns.unwrap_or(r.invoke_ns) - r.invoke_ns,
            })
            .collect(),
    )
}

/// The cost figures of one run (see [`Cost`]).
pub fn cost(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>, counters: Counters) -> Cost {
    // The tier that answered each op: the nearest one that served it.
    let mut answered: BTreeMap<u64, Tier> = BTreeMap::new();
    for e in &history.events {
        if let Event::Internal { event: ModelEvent::Serve { tier, op: Some(op), .. }, .. } = e {
            if answered.get(op).is_none_or(|t| tier.depth() < t.depth()) {
                answered.insert(*op, *tier);
            }
        }
    }
    let mut hits: BTreeMap<Tier, (u64, u64)> = BTreeMap::new();
    for r in ops.values().filter(|r| r.f == OpFn::Read && r.outcome == Some(EventType::Ok)) {
        let by = answered.get(&r.op).map_or(u8::MAX, |t| t.depth());
        for tier in [Tier::L1, Tier::L2, Tier::L3, Tier::Redis] {
            if tier.depth() <= by {
                let h = hits.entry(tier).or_default();
                h.1 += 1;
                h.0 += u64::from(tier.depth() == by);
            }
        }
    }
    Cost {
        hits,
        reads: ops.values().filter(|r| r.f == OpFn::Read).count() as u64,
        ops: ops.len() as u64,
        db_reads: counters.db_reads,
        messages: counters.messages,
        read_latency: op_latencies(ops, |f| f == OpFn::Read),
        write_latency: op_latencies(ops, |f| matches!(f, OpFn::Write | OpFn::Delete)),
    }
}

/// One tier entry's life: `version` of `key` held at one node from its fill until it was
/// replaced, removed, expired, its node restarted, or the run ended (`live_at_end`).
struct EntryLife {
    key: String,
    version: u64,
    filled_ns: u64,
    /// Global instant it stopped being served: removal or expiry, whichever came first.
    end_ns: u64,
    live_at_end: bool,
}

/// Every tier entry's life in the run, in the order the lives ended.
fn entry_lives(history: &History<ModelEvent>) -> Vec<EntryLife> {
    let end_ns = history.events.last().map_or(0, |e| e.time_ns());
    let mut open: BTreeMap<(String, String), (u64, u64, Option<u64>)> = BTreeMap::new();
    let mut lives = Vec::new();
    let mut close =
        |key: &str, (version, filled_ns, expires): (u64, u64, Option<u64>), at_ns: u64, at_end: bool| {
            let end = expires.map_or(at_ns, |e| e.min(at_ns));
            let live_at_end = at_end && expires.is_none_or(|e| e > at_ns);
            lives.push(EntryLife { key: key.to_string(), version, filled_ns, end_ns: end, live_at_end });
        };
    for e in &history.events {
        let Event::Internal { time_ns, event } = e else { continue };
        match event {
            ModelEvent::Fill { node, key, version, expires_at_ns, .. } => {
                let entry = (*version, *time_ns, *expires_at_ns);
                if let Some(old) = open.insert((node.clone(), key.clone()), entry) {
                    close(key, old, *time_ns, false);
                }
            }
            ModelEvent::Remove { node, key, .. } => {
                if let Some(old) = open.remove(&(node.clone(), key.clone())) {
                    close(key, old, *time_ns, false);
                }
            }
            ModelEvent::Start { node } => {
                let gone: Vec<(String, String)> = open.keys().filter(|(n, _)| n == node).cloned().collect();
                for k in gone {
                    let old = open.remove(&k).expect("just listed");
                    close(&k.1, old, *time_ns, false);
                }
            }
            _ => {}
        }
    }
    for ((_, key), entry) in std::mem::take(&mut open) {
        close(&key, entry, end_ns, true);
    }
    lives
}

/// Convergence ("consistency check" of the seed): for each commit of v at c(v), how long after
/// c(v) some tier still served an entry of the key below v — until the last such entry was
/// removed or expired, stale fills that landed after the commit included (0 when none was
/// served after c(v)). Returns the samples and the commits some tier still served an older
/// version of when the run ended (they never converged).
pub fn convergence(history: &History<ModelEvent>) -> (Vec<Sample>, u64) {
    // key -> (version, end, live at end) of every entry life, by version.
    let mut lives: BTreeMap<String, Vec<(u64, u64, bool)>> = BTreeMap::new();
    for l in entry_lives(history) {
        lives.entry(l.key).or_default().push((l.version, l.end_ns, l.live_at_end));
    }
    let (mut samples, mut unconverged) = (Vec::new(), 0);
    for (key, commits) in commit_log(history) {
        let mut held = lives.remove(&key).unwrap_or_default();
        held.sort_unstable();
        // For commits in version order, the latest end (and whether any is still live) over
        // the entries below each version: a running maximum over `held`.
        let (mut i, mut latest_end, mut any_live) = (0, 0u64, false);
        for (version, commit) in commits {
            while i < held.len() && held[i].0 < version {
                latest_end = latest_end.max(held[i].1);
                any_live |= held[i].2;
                i += 1;
            }
            if any_live {
                unconverged += 1;
            } else {
                let at = commit.at_ns;
                samples.push(Sample { key: key.clone(), start_ns: at, latency_ns: latest_end.max(at) - at });
            }
        }
    }
    (samples, unconverged)
}

/// The commit instant of the version that superseded `version` of `key`, if any.
fn superseded_at(log: &CommitLog, key: &str, version: u64) -> Option<u64> {
    log.get(key)?.range(version + 1..).next().map(|(_, c)| c.at_ns)
}

/// Consistency in nines of one run (see the module docs).
pub fn consistency(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>) -> Consistency {
    let log = commit_log(history);
    let mut out = Consistency::default();
    for r in ops.values() {
        if r.f != OpFn::Read || r.outcome != Some(EventType::Ok) {
            continue;
        }
        let version = r.version.unwrap_or(0);
        let staleness =
            superseded_at(&log, &r.key, version).filter(|at| *at <= r.invoke_ns).map(|at| r.invoke_ns - at);
        out.reads.count(staleness);
    }
    // Entries: each life of a tier entry, stale from when it was superseded (or filled, if
    // later) until it stopped being served.
    for l in entry_lives(history) {
        let staleness = superseded_at(&log, &l.key, l.version)
            .map(|s| s.max(l.filled_ns))
            .filter(|from| *from < l.end_ns)
            .map(|from| l.end_ns - from);
        out.entries.count(staleness);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::op_records;
    use tiersim_sim::history::{ClientEvent, OpValue};

    const MS: u64 = 1_000_000;

    fn client(op: u64, kind: EventType, f: OpFn, t_ms: u64, version: Option<u64>) -> Event<ModelEvent> {
        let event = ClientEvent {
            process: op,
            kind,
            f,
            key: "k".into(),
            value: OpValue::Single(version.map(|v| v as i64)),
            time_ns: t_ms * MS,
        };
        Event::Client { op, event, version }
    }

    fn commit(op: u64, version: u64, t_ms: u64) -> Event<ModelEvent> {
        Event::Internal {
            time_ns: t_ms * MS,
            event: ModelEvent::Commit { key: "k".into(), version, value: Some(version as i64), op },
        }
    }

    fn read(op: u64, at_ms: u64, version: u64) -> [Event<ModelEvent>; 2] {
        [
            client(op, EventType::Invoke, OpFn::Read, at_ms, None),
            client(op, EventType::Ok, OpFn::Read, at_ms + 1, Some(version)),
        ]
    }

    fn fill(node: &str, version: u64, t_ms: u64) -> Event<ModelEvent> {
        Event::Internal {
            time_ns: t_ms * MS,
            event: ModelEvent::Fill {
                node: node.into(),
                tier: Tier::L1,
                key: "k".into(),
                version,
                origin_ns: t_ms * MS,
                filled_at_local_ns: t_ms * MS,
                tier_ttl_ns: None,
                expires_at_ns: None,
                tags: Vec::new(),
                op: None,
            },
        }
    }

    fn history(events: Vec<Event<ModelEvent>>) -> History<ModelEvent> {
        History { events, digests: Vec::new(), trace_hash: 0 }
    }

    #[test]
    fn stale_reads_and_entries_are_counted_by_how_long_they_were_superseded() {
        // v1 committed at 0 ms, v2 at 100 ms. Reads: v1 at 50 (current), v1 at 105 (stale 5 ms),
        // v1 at 250 (stale 150 ms), v1 at 1200 (stale 1100 ms), v2 at 1300 (current).
        let mut events = vec![
            client(0, EventType::Invoke, OpFn::Write, 0, None),
            commit(0, 1, 0),
            client(0, EventType::Ok, OpFn::Write, 0, Some(1)),
            fill("app-0", 1, 1),
            fill("app-1", 1, 1),
            client(1, EventType::Invoke, OpFn::Write, 100, None),
            commit(1, 2, 100),
            client(1, EventType::Ok, OpFn::Write, 100, Some(2)),
        ];
        events.extend(read(2, 50, 1));
        events.extend(read(3, 105, 1));
        events.extend(read(4, 250, 1));
        events.extend(read(5, 1200, 1));
        events.extend(read(6, 1300, 2));
        // app-0 drops v1 at 120 ms (stale 20 ms); app-1 keeps it to the end (1301 ms: 1201 ms).
        events.push(Event::Internal {
            time_ns: 120 * MS,
            event: ModelEvent::Remove {
                node: "app-0".into(),
                tier: Tier::L1,
                key: "k".into(),
                version: 1,
                cause: crate::event::RemoveCause::Invalidate,
            },
        });
        events.sort_by_key(|e| e.time_ns());
        let h = history(events);
        let c = consistency(&h, &op_records(&h));
        let (conv, unconverged) = convergence(&h);
        // v1 converged at once (nothing held); v2 never: app-1 holds v1 to the end.
        assert_eq!((conv.len(), conv[0].latency_ns, unconverged), (1, 0, 1));
        assert_eq!(
            c.reads,
            Inconsistency { total: 5, stale: 3, stale_over: [2, 2, 1, 0, 0] },
            "reads stale by 5, 150 and 1100 ms"
        );
        assert_eq!(c.entries, Inconsistency { total: 2, stale: 2, stale_over: [2, 1, 1, 0, 0] });
        assert_eq!(c.reads.nines(), Nines::Finite(-(3.0f64 / 5.0).log10()));
        let by = c.reads.nines_by_threshold();
        assert_eq!(by[0], Nines::Finite(-(2.0f64 / 5.0).log10()));
        assert_eq!(by[2], Nines::Finite(-(1.0f64 / 5.0).log10()));
        assert_eq!(by[3], Nines::Infinite);
        assert_eq!(c.json()["nines_by_threshold_ms"]["60000"], "inf");
        assert_eq!(c.json()["stale_reads"], 3);
    }

    /// One warm batch "b" of key k (op 9, invoked at 10 ms, ok at 40 ms): v1 committed at 0 ms,
    /// the batch's Redis fill of v1 read at `read_ms` and landing at 20 ms, then `after`.
    fn warmed_in_time(read_ms: u64, after: Vec<Event<ModelEvent>>) -> Warming {
        let warm = |kind, t_ms| Event::Client {
            op: 9,
            event: ClientEvent {
                process: 9,
                kind,
                f: OpFn::Warm,
                key: "b".into(),
                value: OpValue::Single(None),
                time_ns: t_ms * MS,
            },
            version: None,
        };
        let mut redis_fill = fill("redis-0", 1, 20);
        if let Event::Internal { event: ModelEvent::Fill { tier, origin_ns, op, .. }, .. } = &mut redis_fill {
            (*tier, *origin_ns, *op) = (Tier::Redis, read_ms * MS, Some(9));
        }
        let mut events = vec![commit(0, 1, 0), warm(EventType::Invoke, 10), redis_fill];
        events.extend(after);
        events.push(warm(EventType::Ok, 40));
        events.sort_by_key(|e| e.time_ns());
        let h = history(events);
        let batches = BTreeMap::from([("b".to_string(), vec!["k".to_string()])]);
        warming(&h, &op_records(&h), &batches)
    }

    fn redis_remove(t_ms: u64, cause: crate::event::RemoveCause) -> Event<ModelEvent> {
        Event::Internal {
            time_ns: t_ms * MS,
            event: ModelEvent::Remove {
                node: "redis-0".into(),
                tier: Tier::Redis,
                key: "k".into(),
                version: 1,
                cause,
            },
        }
    }

    #[test]
    fn a_warm_key_superseded_by_a_later_write_is_the_writes_job_and_nothing_else_excuses_one() {
        use crate::event::RemoveCause;
        // Held at the current version when the batch completed: warmed.
        let w = warmed_in_time(15, vec![]);
        assert_eq!((w.keys, w.warmed, w.warmed_in_time), (1, 1, 1));
        // v2 committed at 25 ms and its invalidation removed the warm's v1: the write's job.
        let w = warmed_in_time(15, vec![commit(1, 2, 25), redis_remove(30, RemoveCause::Invalidate)]);
        assert_eq!((w.warmed, w.warmed_in_time), (0, 1));
        // Evicted (or expired) with no write: not warmed, not excused.
        for cause in [RemoveCause::Evict, RemoveCause::Expire, RemoveCause::Tag] {
            let w = warmed_in_time(15, vec![redis_remove(30, cause)]);
            assert_eq!((w.warmed, w.warmed_in_time), (0, 0), "{cause:?}");
        }
        // v2 committed at 5 ms, before the fill's data was read at 15 ms (a lagging replica's
        // v1): the warm brought in a superseded version, which nothing excuses.
        let w = warmed_in_time(15, vec![commit(1, 2, 5), redis_remove(30, RemoveCause::Invalidate)]);
        assert_eq!((w.warmed, w.warmed_in_time), (0, 0));
    }

    #[test]
    fn nothing_to_count_is_not_infinitely_consistent() {
        assert_eq!(Nines::of(0, 0), Nines::Empty);
        assert_eq!(Nines::of(0, 7), Nines::Infinite);
        assert!(matches!(Nines::of(1, 1000), Nines::Finite(n) if (n - 3.0).abs() < 1e-9));
        assert_eq!(Nines::Empty.json(), serde_json::Value::Null);
    }
}
