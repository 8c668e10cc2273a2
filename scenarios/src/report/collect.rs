//! What the run did, gathered from its history into the facts the page draws: each client
//! operation with its completion, the processes, the focus keys and why they were chosen, and
//! for each focus key the versions every tier and replica held over time, the point events on
//! their lanes (invalidations, floors, refusals, serves, evictions, restarts) and the database's
//! commits with the moment each one's write completed.
//!
//! Nothing here knows about pixels or HTML: it reads the `Outcome` once, in history order, into
//! ordered maps, so every later step iterates the same facts in the same order and the page is
//! deterministic.

use super::text::{duration, ms};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use tiersim_model::event::{ModelEvent, RemoveCause, Tier};
use tiersim_model::node::config::SystemConfig;
use tiersim_model::outcome::Outcome;
use tiersim_sim::fault::Fault;
use tiersim_sim::history::{Event, EventType, OpFn, OpValue};

/// At most this many fault rows are drawn; the page says how many more there were.
pub(super) const FAULT_ROWS_MAX: usize = 12;
/// Keys left out of the lanes that the page names one by one (the rest it counts).
const LEFT_OUT_LISTED: usize = 10;

/// One client operation: its invoke and, if it came, its completion.
pub(super) struct Op {
    pub(super) op: u64,
    pub(super) process: u64,
    pub(super) f: OpFn,
    pub(super) key: String,
    pub(super) invoke_ns: u64,
    pub(super) invoke_value: OpValue,
    /// The completion: when, how, what it saw, and the version the system reported.
    pub(super) end: Option<(u64, EventType, OpValue, Option<u64>)>,
}

impl Op {
    /// `f key value vN`: the label drawn on the bar (see the module docs).
    pub(super) fn label(&self) -> String {
        let mut parts = vec![self.f.name().to_string(), self.key.clone()];
        let ok = matches!(self.end, Some((_, EventType::Ok, ..)));
        let value = match self.f {
            OpFn::Read if ok => self.end.map(|e| e.2),
            OpFn::Write | OpFn::Cas => Some(self.invoke_value),
            _ => None,
        };
        if let Some(v) = value {
            parts.push(value_text(v));
        }
        if let Some((_, _, _, Some(version))) = self.end {
            parts.push(format!("v{version}"));
        }
        parts.join(" ")
    }

    pub(super) fn class(&self) -> &'static str {
        match self.end {
            Some((_, EventType::Ok, ..)) => "ok",
            Some((_, EventType::Fail, ..)) => "fail",
            Some((_, EventType::Info, ..)) => "info",
            Some((_, EventType::Invoke, ..)) | None => "pending",
        }
    }
}

pub(super) fn value_text(v: OpValue) -> String {
    let one = |v: Option<i64>| v.map_or_else(|| "nil".to_string(), |v| v.to_string());
    match v {
        OpValue::Single(v) => one(v),
        OpValue::Cas(a, b) => format!("[{} {}]", one(a), one(b)),
    }
}

/// A version a tier (or replica) held for a while.
pub(super) struct Held {
    pub(super) version: u64,
    pub(super) from_ns: u64,
    /// When it left, and why; `None`: still held when the run ended.
    pub(super) to: Option<(u64, String)>,
    /// When it expires on the tier's clock (as a global instant).
    pub(super) expires_at_ns: Option<u64>,
    /// When its data was read from the database, and the op it served.
    pub(super) origin_ns: Option<u64>,
    pub(super) op: Option<u64>,
}

/// A point event on a lane.
pub(super) struct Mark {
    pub(super) t: u64,
    pub(super) kind: MarkKind,
    pub(super) version: u64,
    pub(super) text: String,
    /// The commit (version) an arrow comes from: the commit this invalidation belongs to.
    pub(super) from_commit: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum MarkKind {
    Invalidate,
    Floor,
    Refuse,
    Serve,
    Evict,
    Expire,
    Restart,
}

impl MarkKind {
    pub(super) fn class(self) -> &'static str {
        match self {
            MarkKind::Invalidate => "inval",
            MarkKind::Floor => "floor",
            MarkKind::Refuse => "refuse",
            MarkKind::Serve => "serve",
            MarkKind::Evict => "evict",
            MarkKind::Expire => "expire",
            MarkKind::Restart => "restart",
        }
    }
}

/// One node's lane for one key.
#[derive(Default)]
pub(super) struct Lane {
    pub(super) tier: Option<Tier>,
    pub(super) held: Vec<Held>,
    pub(super) marks: Vec<Mark>,
    pub(super) replica: bool,
}

/// A commit of the focus key.
pub(super) struct Commit {
    pub(super) t: u64,
    pub(super) version: u64,
    pub(super) value: Option<i64>,
    pub(super) op: u64,
    /// When the write or delete that produced it completed ok: from then on its invalidation
    /// counts as acknowledged (the barrier the checker holds the tiers to).
    pub(super) ack_ns: Option<u64>,
}

/// Everything the page shows about one focus key.
pub(super) struct KeyView {
    pub(super) key: String,
    pub(super) lanes: BTreeMap<LaneKey, Lane>,
    pub(super) commits: Vec<Commit>,
    /// Events of the key (client and internal), as indices into the history.
    pub(super) events: Vec<usize>,
    /// Nodes of the run that never touched the key (they have no lane).
    pub(super) untouched: Vec<String>,
}

impl KeyView {
    /// When a version newer than `v` was first committed.
    pub(super) fn superseded_at(&self, v: u64) -> Option<u64> {
        self.commits.iter().find(|c| c.version > v).map(|c| c.t)
    }

    /// When the invalidation of a version newer than `v` was first acknowledged.
    pub(super) fn barrier_at(&self, v: u64) -> Option<(u64, u64)> {
        self.commits.iter().filter(|c| c.version > v).filter_map(|c| c.ack_ns.map(|a| (a, c.version))).min()
    }

    /// The latest commit at or before `t`.
    pub(super) fn commit_before(&self, t: u64) -> Option<u64> {
        self.commits.iter().take_while(|c| c.t <= t).last().map(|c| c.version)
    }

    pub(super) fn commit(&self, version: u64) -> Option<&Commit> {
        self.commits.iter().find(|c| c.version == version)
    }
}

/// A fault row: a fault that lasts (clog, kill, loss, shaping) or a point (skew).
pub(super) struct FaultRow {
    pub(super) label: String,
    pub(super) spans: Vec<(u64, Option<u64>, String)>,
}

/// The run as the page shows it: its operations, processes, focus keys and faults.
pub(super) struct Run {
    pub(super) ops: Vec<Op>,
    /// Processes in order, with their app node.
    pub(super) processes: BTreeMap<u64, String>,
    pub(super) keys: Vec<KeyView>,
    /// Why these keys, and what was left out (sentences for the page).
    pub(super) scope: Vec<String>,
    pub(super) faults: Vec<FaultRow>,
    pub(super) faults_left_out: usize,
    pub(super) end_ns: u64,
}

/// Where a lane sorts: by tier depth (replicas last), then by node name with its number read as
/// a number, so that `app-10` comes after `app-9`.
pub(super) type LaneKey = (u8, String, u64, String);

/// Sort names like `app-10` after `app-9`.
fn natural(name: &str) -> (String, u64, String) {
    match name.rsplit_once('-') {
        Some((a, n)) if n.parse::<u64>().is_ok() => (a.to_string(), n.parse().unwrap(), String::new()),
        _ => (name.to_string(), 0, name.to_string()),
    }
}

fn lane_key(node: &str, tier: Option<Tier>) -> LaneKey {
    let rank = tier.map_or(4, |t| t.depth());
    let (a, n, b) = natural(node);
    (rank, a, n, b)
}

fn event_key(e: &Event<ModelEvent>) -> Option<&str> {
    match e {
        Event::Client { event, .. } => Some(&event.key),
        Event::Internal { event, .. } => match event {
            ModelEvent::Commit { key, .. }
            | ModelEvent::Replicate { key, .. }
            | ModelEvent::Fill { key, .. }
            | ModelEvent::Refuse { key, .. }
            | ModelEvent::Remove { key, .. }
            | ModelEvent::Floor { key, .. }
            | ModelEvent::Serve { key, .. } => Some(key),
            ModelEvent::TagInvalidate { .. }
            | ModelEvent::Start { .. }
            | ModelEvent::Disconnect { .. }
            | ModelEvent::Promote { .. } => None,
        },
        Event::Fault { .. } => None,
    }
}

/// The node an internal event happened at.
fn event_node(e: &ModelEvent) -> Option<&str> {
    match e {
        ModelEvent::Commit { .. } => None,
        ModelEvent::Replicate { node, .. }
        | ModelEvent::Fill { node, .. }
        | ModelEvent::Refuse { node, .. }
        | ModelEvent::Remove { node, .. }
        | ModelEvent::Floor { node, .. }
        | ModelEvent::Serve { node, .. }
        | ModelEvent::TagInvalidate { node, .. }
        | ModelEvent::Start { node }
        | ModelEvent::Disconnect { node, .. }
        | ModelEvent::Promote { node, .. } => Some(node),
    }
}

impl Run {
    /// Gather everything the page shows from `outcome`, a run of the system `config`.
    pub(super) fn read(outcome: &Outcome, config: &SystemConfig) -> Run {
        let events = &outcome.history.events;
        let ops = read_ops(events);
        let processes: BTreeMap<u64, String> = ops
            .values()
            .map(|o| {
                let app = tiersim_model::node::config::app_node(config.app_of(o.process));
                (o.process, app)
            })
            .collect();
        let mut end_ns = events.iter().map(|e| e.time_ns()).max().unwrap_or(0);
        end_ns = end_ns.max(outcome.sim_ns);
        for v in &outcome.violations {
            end_ns = end_ns.max(v.time_ns);
        }
        let (focus, scope) = focus_keys(outcome);
        let (all_nodes, node_names) = tier_nodes(events);
        let keys = focus
            .iter()
            .map(|key| {
                let mut view = key_view(key, outcome, config, &ops);
                view.untouched = all_nodes
                    .iter()
                    .filter(|k| !view.lanes.contains_key(*k))
                    .map(|k| node_names[k].clone())
                    .collect();
                view
            })
            .collect();
        let (faults, faults_left_out) = fault_rows(events);
        Run { ops: ops.into_values().collect(), processes, keys, scope, faults, faults_left_out, end_ns }
    }
}

/// The client operations, in op order, each with its completion if it came.
fn read_ops(events: &[Event<ModelEvent>]) -> BTreeMap<u64, Op> {
    let mut ops: BTreeMap<u64, Op> = BTreeMap::new();
    for e in events {
        if let Event::Client { op, event, version } = e {
            if event.kind == EventType::Invoke {
                ops.insert(
                    *op,
                    Op {
                        op: *op,
                        process: event.process,
                        f: event.f,
                        key: event.key.clone(),
                        invoke_ns: event.time_ns,
                        invoke_value: event.value,
                        end: None,
                    },
                );
            } else if let Some(o) = ops.get_mut(op) {
                o.end = Some((event.time_ns, event.kind, event.value, *version));
            }
        }
    }
    ops
}

/// Which keys get lanes (see the module docs of `report`), and sentences for the page that say
/// why these and which keys were left out.
fn focus_keys(outcome: &Outcome) -> (Vec<String>, Vec<String>) {
    let events = &outcome.history.events;
    // Cache administration (warm a batch, invalidate a tag) names a batch or a tag in the
    // key field: those are not keys.
    let mut per_key: BTreeMap<&str, usize> = BTreeMap::new();
    for e in events {
        if let Event::Client { event, .. } = e {
            if !event.f.is_register_op() {
                continue;
            }
        }
        if let Some(k) = event_key(e) {
            *per_key.entry(k).or_default() += 1;
        }
    }
    let mut scope = Vec::new();
    let focus: Vec<String> = if let Some(v) = outcome.violations.first() {
        scope.push(format!("Tier lanes are shown for key {} only: the key of the first violation.", v.key));
        vec![v.key.clone()]
    } else if per_key.len() <= 2 {
        if !per_key.is_empty() {
            scope.push("Tier lanes are shown for every key of the run.".to_string());
        }
        per_key.keys().map(|k| k.to_string()).collect()
    } else {
        // The busiest key; ties go to the first in key order.
        let mut best: Option<(&str, usize)> = None;
        for (k, n) in &per_key {
            if best.is_none_or(|b| *n > b.1) {
                best = Some((k, *n));
            }
        }
        let k = best.map(|b| b.0.to_string()).unwrap_or_default();
        scope.push(format!("The run passed, so tier lanes are shown for its busiest key, {k}."));
        vec![k]
    };
    // The keys left out, busiest first; a long tail is counted, not listed.
    let mut left_out: Vec<(&str, usize)> =
        per_key.iter().filter(|(k, _)| !focus.iter().any(|f| f == *k)).map(|(k, n)| (*k, *n)).collect();
    left_out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if !left_out.is_empty() {
        let mut listed: Vec<String> =
            left_out.iter().take(LEFT_OUT_LISTED).map(|(k, n)| format!("{k} ({n} events)")).collect();
        if left_out.len() > LEFT_OUT_LISTED {
            let rest = &left_out[LEFT_OUT_LISTED..];
            listed.push(format!(
                "and {} more with {} events in all",
                rest.len(),
                rest.iter().map(|r| r.1).sum::<usize>()
            ));
        }
        scope.push(format!(
            "Not shown as lanes: {} other key{}: {}. Their operations are drawn faded.",
            left_out.len(),
            if left_out.len() == 1 { "" } else { "s" },
            listed.join(", ")
        ));
    }
    (focus, scope)
}

/// Every tier and replica node of the run, as lane keys with their names, to say which ones
/// never touched a focus key.
fn tier_nodes(events: &[Event<ModelEvent>]) -> (BTreeSet<LaneKey>, BTreeMap<LaneKey, String>) {
    let mut all_nodes: BTreeSet<LaneKey> = BTreeSet::new();
    let mut node_names: BTreeMap<LaneKey, String> = BTreeMap::new();
    for e in events {
        if let Event::Internal { event, .. } = e {
            if let Some(node) = event_node(event) {
                if node == tiersim_model::node::config::CDC_NODE {
                    continue;
                }
                let tier = match event {
                    ModelEvent::Fill { tier, .. }
                    | ModelEvent::Refuse { tier, .. }
                    | ModelEvent::Remove { tier, .. }
                    | ModelEvent::Floor { tier, .. }
                    | ModelEvent::Serve { tier, .. }
                    | ModelEvent::TagInvalidate { tier, .. } => Some(*tier),
                    _ => None,
                };
                if tier.is_some() || matches!(event, ModelEvent::Replicate { .. }) {
                    let k = lane_key(node, tier);
                    all_nodes.insert(k.clone());
                    node_names.insert(k, node.to_string());
                }
            }
        }
    }
    (all_nodes, node_names)
}

/// The faults, paired into spans, one row per thing faulted in order of first appearance; the
/// first `FAULT_ROWS_MAX` rows and how many more there were.
fn fault_rows(events: &[Event<ModelEvent>]) -> (Vec<FaultRow>, usize) {
    let mut rows: BTreeMap<String, FaultRow> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for e in events {
        if let Event::Fault { time_ns, fault } = e {
            let (row, start, text) = fault_row(fault);
            let r = rows.entry(row.clone()).or_insert_with(|| {
                order.push(row.clone());
                FaultRow { label: row.clone(), spans: Vec::new() }
            });
            if start {
                r.spans.push((*time_ns, None, text));
            } else if let Some(open) = r.spans.iter_mut().rev().find(|s| s.1.is_none()) {
                open.1 = Some(*time_ns);
            } else {
                r.spans.push((*time_ns, Some(*time_ns), text));
            }
        }
    }
    let faults_left_out = order.len().saturating_sub(FAULT_ROWS_MAX);
    let faults =
        order.iter().take(FAULT_ROWS_MAX).map(|r| rows.remove(r).expect("every row was inserted")).collect();
    (faults, faults_left_out)
}

/// The row a fault is drawn in, whether it starts a span there, and its description.
pub(super) fn fault_row(f: &Fault) -> (String, bool, String) {
    match f {
        Fault::ClogLink { a, b } => (format!("clog {a}–{b}"), true, "link cut".into()),
        Fault::UnclogLink { a, b } => (format!("clog {a}–{b}"), false, "link restored".into()),
        Fault::ClogNode { node } => (format!("clog {node}"), true, "node cut off".into()),
        Fault::UnclogNode { node } => (format!("clog {node}"), false, "node reconnected".into()),
        Fault::Kill { node } => (format!("kill {node}"), true, "killed".into()),
        Fault::Restart { node } => (format!("kill {node}"), false, "restarted".into()),
        Fault::Failover { node } => {
            (format!("kill {node}"), true, "failed over: its replica is promoted at the restart".into())
        }
        Fault::LossStart { per_mille } => {
            ("packet loss".into(), true, format!("{per_mille}‰ of messages lost"))
        }
        Fault::LossEnd => ("packet loss".into(), false, "loss ends".into()),
        Fault::ClockSkew { node, skew_ns, drift_ppm } => (
            format!("skew {node}"),
            true,
            format!("clock skew {} ms, drift {drift_ppm} ppm", skew_ns / 1_000_000),
        ),
        Fault::ShapingStart { max_delay_ns, dup_per_mille } => (
            "message shaping".into(),
            true,
            format!(
                "one-way messages delayed up to {}, duplicated {dup_per_mille}‰",
                duration(*max_delay_ns)
            ),
        ),
        Fault::ShapingEnd => ("message shaping".into(), false, "shaping ends".into()),
        Fault::SlowLinkStart { from, to, extra_ns } => {
            (format!("{from} -> {to}"), true, format!("messages leave {} ms late", extra_ns / 1_000_000))
        }
        Fault::SlowLinkEnd { from, to } => (format!("{from} -> {to}"), false, "link fast again".into()),
        Fault::Pause { node } => (format!("pause {node}"), true, "paused (frozen)".into()),
        Fault::Resume { node } => (format!("pause {node}"), false, "resumed".into()),
        Fault::DropConnection { client, server } => {
            (format!("connections {client}–{server}"), false, "connections reset".into())
        }
    }
}

/// Gather the lanes of `key`.
fn key_view(key: &str, outcome: &Outcome, config: &SystemConfig, ops: &BTreeMap<u64, Op>) -> KeyView {
    let events = &outcome.history.events;
    let tags = config.tags_of(key);
    let mut commits = Vec::new();
    let mut key_events = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if event_key(e) == Some(key) {
            key_events.push(i);
        }
        if let Event::Internal { time_ns, event: ModelEvent::Commit { key: k, version, value, op } } = e {
            if k == key {
                let ack_ns = ops.get(op).and_then(|o| match o.end {
                    Some((t, EventType::Ok, ..)) => Some(t),
                    _ => None,
                });
                commits.push(Commit { t: *time_ns, version: *version, value: *value, op: *op, ack_ns });
            }
        }
    }
    let mut view = KeyView {
        key: key.to_string(),
        lanes: BTreeMap::new(),
        commits,
        events: key_events,
        untouched: Vec::new(),
    };
    // Which lane a node's events go to (a node has one tier).
    let mut lane_of: BTreeMap<String, LaneKey> = BTreeMap::new();
    let close = |lane: &mut Lane, t: u64, why: &str| {
        if let Some(h) = lane.held.last_mut() {
            if h.to.is_none() {
                h.to = Some((t, why.to_string()));
            }
        }
    };
    for e in events {
        match e {
            Event::Internal { time_ns, event } => {
                let t = *time_ns;
                match event {
                    ModelEvent::Fill {
                        node, tier, key: k, version, origin_ns, expires_at_ns, op, ..
                    } if k == key => {
                        let lk = lane_key(node, Some(*tier));
                        lane_of.insert(node.clone(), lk.clone());
                        let lane = view.lanes.entry(lk).or_default();
                        lane.tier = Some(*tier);
                        close(lane, t, "replaced by a fill");
                        lane.held.push(Held {
                            version: *version,
                            from_ns: t,
                            to: None,
                            expires_at_ns: *expires_at_ns,
                            origin_ns: Some(*origin_ns),
                            op: *op,
                        });
                    }
                    ModelEvent::Replicate { node, key: k, version } if k == key => {
                        let lk = lane_key(node, None);
                        lane_of.insert(node.clone(), lk.clone());
                        let lane = view.lanes.entry(lk).or_default();
                        lane.replica = true;
                        close(lane, t, "replaced");
                        lane.held.push(Held {
                            version: *version,
                            from_ns: t,
                            to: None,
                            expires_at_ns: None,
                            origin_ns: None,
                            op: None,
                        });
                    }
                    ModelEvent::Remove { node, tier, key: k, version, cause } if k == key => {
                        let lk = lane_key(node, Some(*tier));
                        lane_of.insert(node.clone(), lk.clone());
                        let from_commit = match cause {
                            RemoveCause::Invalidate | RemoveCause::Delete => view.commit_before(t),
                            _ => None,
                        };
                        let lane = view.lanes.entry(lk).or_default();
                        lane.tier = Some(*tier);
                        let why = match cause {
                            RemoveCause::Invalidate => "invalidated",
                            RemoveCause::Delete => "deleted",
                            RemoveCause::Evict => "evicted",
                            RemoveCause::Expire => "expired",
                            RemoveCause::Tag => "dropped by a tag invalidation",
                        };
                        close(lane, t, why);
                        let kind = match cause {
                            RemoveCause::Evict => MarkKind::Evict,
                            RemoveCause::Expire => MarkKind::Expire,
                            _ => MarkKind::Invalidate,
                        };
                        let mut text = format!("{node}/{tier} v{version} {why} at {}", ms(t));
                        if let Some(c) = from_commit {
                            let _ = write!(text, " (after the commit of v{c})");
                        }
                        lane.marks.push(Mark { t, kind, version: *version, text, from_commit });
                    }
                    ModelEvent::Floor { node, tier, key: k, version } if k == key => {
                        let lk = lane_key(node, Some(*tier));
                        lane_of.insert(node.clone(), lk.clone());
                        let committed = view
                            .commit(*version)
                            .map_or(String::new(), |c| format!(" (committed at {})", ms(c.t)));
                        let lane = view.lanes.entry(lk).or_default();
                        lane.tier = Some(*tier);
                        // No arrow: a floor is raised at every tier for every commit, and arrows
                        // for all of them would hide the removals, which are what matter.
                        lane.marks.push(Mark {
                            t,
                            kind: MarkKind::Floor,
                            version: *version,
                            text: format!(
                                "{node}/{tier}: the invalidation of v{version}{committed} arrived at {}; its floor is now v{version}",
                                ms(t)
                            ),
                            from_commit: None,
                        });
                    }
                    ModelEvent::Refuse { node, tier, key: k, version, floor_version } if k == key => {
                        let lk = lane_key(node, Some(*tier));
                        lane_of.insert(node.clone(), lk.clone());
                        let lane = view.lanes.entry(lk).or_default();
                        lane.tier = Some(*tier);
                        lane.marks.push(Mark {
                            t,
                            kind: MarkKind::Refuse,
                            version: *version,
                            text: format!(
                                "{node}/{tier} refused a fill of v{version} at {} (floor v{floor_version})",
                                ms(t)
                            ),
                            from_commit: None,
                        });
                    }
                    ModelEvent::Serve { node, tier, key: k, version, op, .. } if k == key => {
                        let lk = lane_key(node, Some(*tier));
                        lane_of.insert(node.clone(), lk.clone());
                        let lane = view.lanes.entry(lk).or_default();
                        lane.tier = Some(*tier);
                        let to = op.map_or(String::new(), |o| format!(" to op {o}"));
                        lane.marks.push(Mark {
                            t,
                            kind: MarkKind::Serve,
                            version: *version,
                            text: format!("{node}/{tier} served v{version}{to} at {}", ms(t)),
                            from_commit: None,
                        });
                    }
                    ModelEvent::TagInvalidate { node, tier, tag } if tags.contains(tag) => {
                        if let Some(lk) = lane_of.get(node) {
                            let lane = view.lanes.get_mut(lk).expect("lanes are never removed");
                            lane.marks.push(Mark {
                                t,
                                kind: MarkKind::Invalidate,
                                version: 0,
                                text: format!("{node}/{tier}: tag {tag} invalidated at {}", ms(t)),
                                from_commit: None,
                            });
                        }
                    }
                    ModelEvent::Start { node } => {
                        if let Some(lk) = lane_of.get(node) {
                            let lane = view.lanes.get_mut(lk).expect("lanes are never removed");
                            close(lane, t, "lost in a restart");
                            lane.marks.push(Mark {
                                t,
                                kind: MarkKind::Restart,
                                version: 0,
                                text: format!("{node} (re)started with empty memory at {}", ms(t)),
                                from_commit: None,
                            });
                        }
                    }
                    _ => {}
                }
            }
            Event::Fault { time_ns, fault: Fault::Kill { node } } => {
                if let Some(lk) = lane_of.get(node) {
                    let lane = view.lanes.get_mut(lk).expect("lanes are never removed");
                    close(lane, *time_ns, "lost when the node was killed");
                }
            }
            _ => {}
        }
    }
    view
}
/// The node name of a lane key.
pub(super) fn node_name(lk: &LaneKey) -> String {
    if lk.3.is_empty() {
        format!("{}-{}", lk.1, lk.2)
    } else {
        lk.3.clone()
    }
}
