//! The timeline report of one run: a single self-contained HTML page (inline CSS, inline SVG and
//! a few lines of inline JavaScript; nothing is fetched from the network) that lets a person see
//! the race a checker found.
//!
//! The page is built from the run's history alone, so it shows what the checkers judged. It has
//! a header (the caller's title, which should name the scenario and protocol, then the seed,
//! verdict, trace hash and the system's shape), the violations, a legend, and one timeline:
//! - every client process is a row, and each of its operations a bar from invoke to completion,
//!   coloured by outcome (ok, fail, info, or never completed) and labelled `f key value vN`
//!   (for example `read k1 8 v28`, `write k1 19 v30`, `delete k1 v29`; the value is what a read
//!   saw or what a write wrote, the version what the system reported at completion);
//! - for the focus key(s), every tier node that touched the key is a lane showing which version
//!   it held over time, from its `Fill` to its `Remove`, its expiry, a restart or a kill. An entry
//!   is blue while it is the database's current version, amber once a newer version was committed,
//!   and hatched red once that newer version's write had completed (its invalidation was
//!   acknowledged): a stale version past the invalidation barrier stands out at a glance;
//! - the database's commits are a lane of their own (each version from its commit until the
//!   next, with a flag where the write that produced it completed), read replicas likewise;
//! - invalidations (`Remove` with cause invalidate, delete or tag, and version `Floor`s) are
//!   markers on the tier lanes, with an arrow from the commit they belong to;
//! - every violation is a red line across the timeline at its `time_ns`, labelled with its
//!   invariant (the first one has `id="violation"`, all have class `violation`).
//!
//! The focus keys are the first violation's key when the run failed; otherwise every key when
//! there are at most two, else the busiest one. The page says which keys and nodes it left out,
//! and operations on other keys are drawn faded rather than dropped, so nothing is truncated
//! silently. Time is linear in sim time except that idle stretches (no event on the page for a
//! long while, such as the quiet phase) are compressed into a marked break, which keeps a run of a
//! few thousand events readable. A table lists the focus key's events around the violation.
//!
//! The page works without JavaScript; its short script only scrolls the timeline to the first
//! violation, makes the violation list jump there, and records on `<body>` what the browser drew
//! (`data-drawn-ops`: operation bars laid out with a size; `data-drawn-violation`: the first
//! marker's text), which the browser test reads back.
//!
//! The output is deterministic: it depends only on the outcome and the configuration (never on
//! the wall clock, not even the run's `wall_ms`), and everything is iterated in a stable order,
//! so the same outcome renders to the same bytes. All text that comes from the run or the caller
//! is escaped for HTML.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use tiersim_model::check::Violation;
use tiersim_model::event::{ModelEvent, RemoveCause, Tier};
use tiersim_model::node::config::SystemConfig;
use tiersim_model::outcome::Outcome;
use tiersim_sim::fault::Fault;
use tiersim_sim::history::{Event, EventType, OpFn, OpValue};

/// Width of the left column with the lane names, in px.
const LABEL_PX: f64 = 190.0;
/// The scale is chosen so that the median operation is about this wide, in px.
const OP_TARGET_PX: f64 = 96.0;
/// Bounds of the scale, in px per ms.
const PX_PER_MS_MIN: f64 = 0.05;
const PX_PER_MS_MAX: f64 = 60.0;
/// The timeline is never wider than this (the scale shrinks instead), in px.
const WIDTH_MAX_PX: f64 = 60_000.0;
/// An idle stretch wider than this at the chosen scale is compressed, in px.
const GAP_MAX_PX: f64 = 600.0;
/// ... into a break this wide, keeping this much linear time on either side, in px.
const GAP_PX: f64 = 46.0;
const GAP_MARGIN_PX: f64 = 36.0;
/// Row heights, in px.
const AXIS_PX: f64 = 30.0;
const VIOLATION_ROW_PX: f64 = 17.0;
const OP_ROW_PX: f64 = 22.0;
const LANE_PX: f64 = 20.0;
const KEY_HEADING_PX: f64 = 24.0;
const FAULT_ROW_PX: f64 = 18.0;
/// At most this many fault rows and violation markers are drawn; the page says how many more.
const FAULT_ROWS_MAX: usize = 12;
const VIOLATION_MARKS_MAX: usize = 40;
/// Width of one character of the 10 px monospace labels, to decide whether a label fits.
const CHAR_PX: f64 = 6.1;
/// Events of the focus key listed before and after the violation in the table.
const TABLE_BEFORE: usize = 30;
const TABLE_AFTER: usize = 12;
/// Keys left out of the lanes that the page names one by one (the rest it counts).
const LEFT_OUT_LISTED: usize = 10;

/// Render `outcome` (a run of the system `config`) as one self-contained HTML page. `title`
/// heads the page and should name the scenario and the protocol, for example
/// `"fill-race · cache-aside · seed 1"`.
pub fn render(title: &str, outcome: &Outcome, config: &SystemConfig) -> String {
    let run = Run::read(outcome, config);
    let mut page = Page::default();
    page.head(title);
    page.header(title, outcome, config);
    page.violations(&outcome.violations);
    page.legend();
    page.timeline(&run, outcome);
    page.chronology(&run, outcome);
    page.finish();
    page.out
}

/// Escape `text` for HTML text and attribute values (quoted with `"` or `'`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Sim time as milliseconds with microsecond precision: `687.429 ms`.
fn ms(ns: u64) -> String {
    format!("{}.{:03} ms", ns / 1_000_000, (ns / 1_000) % 1000)
}

/// A duration in the unit that reads best.
fn duration(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.2} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{} µs", ns / 1000)
    }
}

// ------------------------------------------------------------------------------------------------
// What the run did, gathered from its history.

/// One client operation: its invoke and, if it came, its completion.
struct Op {
    op: u64,
    process: u64,
    f: OpFn,
    key: String,
    invoke_ns: u64,
    invoke_value: OpValue,
    /// The completion: when, how, what it saw, and the version the system reported.
    end: Option<(u64, EventType, OpValue, Option<u64>)>,
}

impl Op {
    /// `f key value vN`: the label drawn on the bar (see the module docs).
    fn label(&self) -> String {
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

    fn class(&self) -> &'static str {
        match self.end {
            Some((_, EventType::Ok, ..)) => "ok",
            Some((_, EventType::Fail, ..)) => "fail",
            Some((_, EventType::Info, ..)) => "info",
            Some((_, EventType::Invoke, ..)) | None => "pending",
        }
    }
}

fn value_text(v: OpValue) -> String {
    let one = |v: Option<i64>| v.map_or_else(|| "nil".to_string(), |v| v.to_string());
    match v {
        OpValue::Single(v) => one(v),
        OpValue::Cas(a, b) => format!("[{} {}]", one(a), one(b)),
    }
}

/// A version a tier (or replica) held for a while.
struct Held {
    version: u64,
    from_ns: u64,
    /// When it left, and why; `None`: still held when the run ended.
    to: Option<(u64, String)>,
    /// When it expires on the tier's clock (as a global instant).
    expires_at_ns: Option<u64>,
    /// When its data was read from the database, and the op it served.
    origin_ns: Option<u64>,
    op: Option<u64>,
}

/// A point event on a lane.
struct Mark {
    t: u64,
    kind: MarkKind,
    version: u64,
    text: String,
    /// The commit (version) an arrow comes from: the commit this invalidation belongs to.
    from_commit: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MarkKind {
    Invalidate,
    Floor,
    Refuse,
    Serve,
    Evict,
    Expire,
    Restart,
}

impl MarkKind {
    fn class(self) -> &'static str {
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
struct Lane {
    tier: Option<Tier>,
    held: Vec<Held>,
    marks: Vec<Mark>,
    replica: bool,
}

/// A commit of the focus key.
struct Commit {
    t: u64,
    version: u64,
    value: Option<i64>,
    op: u64,
    /// When the write or delete that produced it completed ok: from then on its invalidation
    /// counts as acknowledged (the barrier the checker holds the tiers to).
    ack_ns: Option<u64>,
}

/// Everything the page shows about one focus key.
struct KeyView {
    key: String,
    lanes: BTreeMap<(u8, String, u64, String), Lane>,
    commits: Vec<Commit>,
    /// Events of the key (client and internal), as indices into the history.
    events: Vec<usize>,
    /// Nodes of the run that never touched the key (they have no lane).
    untouched: Vec<String>,
}

impl KeyView {
    /// When a version newer than `v` was first committed.
    fn superseded_at(&self, v: u64) -> Option<u64> {
        self.commits.iter().find(|c| c.version > v).map(|c| c.t)
    }

    /// When the invalidation of a version newer than `v` was first acknowledged.
    fn barrier_at(&self, v: u64) -> Option<(u64, u64)> {
        self.commits.iter().filter(|c| c.version > v).filter_map(|c| c.ack_ns.map(|a| (a, c.version))).min()
    }

    /// The latest commit at or before `t`.
    fn commit_before(&self, t: u64) -> Option<u64> {
        self.commits.iter().take_while(|c| c.t <= t).last().map(|c| c.version)
    }

    fn commit(&self, version: u64) -> Option<&Commit> {
        self.commits.iter().find(|c| c.version == version)
    }
}

/// A fault row: a fault that lasts (clog, kill, loss, shaping) or a point (skew).
struct FaultRow {
    label: String,
    spans: Vec<(u64, Option<u64>, String)>,
}

struct Run {
    ops: Vec<Op>,
    /// Processes in order, with their app node.
    processes: BTreeMap<u64, String>,
    keys: Vec<KeyView>,
    /// Why these keys, and what was left out (sentences for the page).
    scope: Vec<String>,
    faults: Vec<FaultRow>,
    faults_left_out: usize,
    end_ns: u64,
}

/// Sort names like `app-10` after `app-9`.
fn natural(name: &str) -> (String, u64, String) {
    match name.rsplit_once('-') {
        Some((a, n)) if n.parse::<u64>().is_ok() => (a.to_string(), n.parse().unwrap(), String::new()),
        _ => (name.to_string(), 0, name.to_string()),
    }
}

fn lane_key(node: &str, tier: Option<Tier>) -> (u8, String, u64, String) {
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
            ModelEvent::TagInvalidate { .. } | ModelEvent::Start { .. } => None,
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
        | ModelEvent::Start { node } => Some(node),
    }
}

impl Run {
    fn read(outcome: &Outcome, config: &SystemConfig) -> Run {
        let events = &outcome.history.events;
        // Operations, in op order.
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

        // Which keys get lanes.
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
            scope.push(format!(
                "Tier lanes are shown for key {} only: the key of the first violation.",
                v.key
            ));
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

        // Every node of the run, to say which ones never touched a focus key.
        let mut all_nodes: BTreeSet<(u8, String, u64, String)> = BTreeSet::new();
        let mut node_names: BTreeMap<(u8, String, u64, String), String> = BTreeMap::new();
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

        // Faults, paired into spans.
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
        let faults = order
            .iter()
            .take(FAULT_ROWS_MAX)
            .map(|r| rows.remove(r).expect("every row was inserted"))
            .collect();

        Run { ops: ops.into_values().collect(), processes, keys, scope, faults, faults_left_out, end_ns }
    }
}

/// The row a fault is drawn in, whether it starts a span there, and its description.
fn fault_row(f: &Fault) -> (String, bool, String) {
    match f {
        Fault::ClogLink { a, b } => (format!("clog {a}–{b}"), true, "link cut".into()),
        Fault::UnclogLink { a, b } => (format!("clog {a}–{b}"), false, "link restored".into()),
        Fault::ClogNode { node } => (format!("clog {node}"), true, "node cut off".into()),
        Fault::UnclogNode { node } => (format!("clog {node}"), false, "node reconnected".into()),
        Fault::Kill { node } => (format!("kill {node}"), true, "killed".into()),
        Fault::Restart { node } => (format!("kill {node}"), false, "restarted".into()),
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
        Fault::Pause { node } => (format!("pause {node}"), true, "paused (frozen)".into()),
        Fault::Resume { node } => (format!("pause {node}"), false, "resumed".into()),
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
    let mut lane_of: BTreeMap<String, (u8, String, u64, String)> = BTreeMap::new();
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

// ------------------------------------------------------------------------------------------------
// The time axis: sim time to x, linear except for compressed idle stretches.

struct Seg {
    t0: u64,
    t1: u64,
    x0: f64,
    x1: f64,
    compressed: bool,
}

struct Axis {
    segs: Vec<Seg>,
    px_per_ns: f64,
    width: f64,
}

impl Axis {
    /// An axis over `times` (sorted, deduplicated) at `px_per_ns`.
    fn build(times: &[u64], end_ns: u64, px_per_ns: f64) -> Axis {
        let left = 12.0;
        let margin_ns = (GAP_MARGIN_PX / px_per_ns) as u64;
        let mut segs: Vec<Seg> = Vec::new();
        let mut seg_t0 = 0u64;
        let mut seg_x0 = left;
        let mut prev = 0u64;
        for &t in times.iter().chain(std::iter::once(&end_ns)) {
            if t <= prev {
                continue;
            }
            let gap_px = (t - prev) as f64 * px_per_ns;
            if gap_px > GAP_MAX_PX {
                // Close the linear stretch a margin after `prev`, compress, resume a margin
                // before `t`.
                let a = prev + margin_ns;
                let b = t - margin_ns;
                let xa = seg_x0 + (a - seg_t0) as f64 * px_per_ns;
                segs.push(Seg { t0: seg_t0, t1: a, x0: seg_x0, x1: xa, compressed: false });
                segs.push(Seg { t0: a, t1: b, x0: xa, x1: xa + GAP_PX, compressed: true });
                seg_t0 = b;
                seg_x0 = xa + GAP_PX;
            }
            prev = t;
        }
        let last = end_ns.max(seg_t0);
        let x_last = seg_x0 + (last - seg_t0) as f64 * px_per_ns;
        segs.push(Seg { t0: seg_t0, t1: last, x0: seg_x0, x1: x_last, compressed: false });
        Axis { segs, px_per_ns, width: x_last + 40.0 }
    }

    fn x(&self, t: u64) -> f64 {
        let i = self.segs.partition_point(|s| s.t1 < t).min(self.segs.len() - 1);
        let s = &self.segs[i];
        if t <= s.t0 || s.t1 == s.t0 {
            return s.x0;
        }
        let t = t.min(s.t1);
        s.x0 + (t - s.t0) as f64 / (s.t1 - s.t0) as f64 * (s.x1 - s.x0)
    }

    /// A tick step (ns) that puts ticks at least 80 px apart.
    fn tick_ns(&self) -> u64 {
        let mut step = 10_000u64;
        loop {
            for m in [1, 2, 5] {
                if (step * m) as f64 * self.px_per_ns >= 80.0 {
                    return step * m;
                }
            }
            step *= 10;
        }
    }
}

/// Choose the scale from the median operation, then keep the page within `WIDTH_MAX_PX`.
fn axis_for(run: &Run, outcome: &Outcome) -> Axis {
    let mut times: Vec<u64> = Vec::new();
    let mut durations: Vec<u64> = Vec::new();
    for o in &run.ops {
        times.push(o.invoke_ns);
        if let Some((t, ..)) = o.end {
            times.push(t);
            durations.push(t - o.invoke_ns);
        }
    }
    for k in &run.keys {
        for lane in k.lanes.values() {
            for h in &lane.held {
                times.push(h.from_ns);
                if let Some((t, _)) = &h.to {
                    times.push(*t);
                }
                if let Some(t) = h.expires_at_ns {
                    times.push(t.min(run.end_ns));
                }
            }
            times.extend(lane.marks.iter().map(|m| m.t));
        }
        for c in &k.commits {
            times.push(c.t);
            times.extend(c.ack_ns);
        }
    }
    for f in &run.faults {
        for s in &f.spans {
            times.push(s.0);
            times.extend(s.1);
        }
    }
    times.extend(outcome.violations.iter().map(|v| v.time_ns));
    times.sort_unstable();
    times.dedup();
    durations.sort_unstable();
    let median = durations.get(durations.len() / 2).copied().filter(|d| *d > 0).unwrap_or(10_000_000);
    let mut px_per_ns = (OP_TARGET_PX / median as f64).clamp(PX_PER_MS_MIN / 1e6, PX_PER_MS_MAX / 1e6);
    let mut axis = Axis::build(&times, run.end_ns, px_per_ns);
    for _ in 0..8 {
        if axis.width <= WIDTH_MAX_PX || px_per_ns <= PX_PER_MS_MIN / 1e6 {
            break;
        }
        px_per_ns = (px_per_ns * WIDTH_MAX_PX / axis.width * 0.97).max(PX_PER_MS_MIN / 1e6);
        axis = Axis::build(&times, run.end_ns, px_per_ns);
    }
    axis
}

// ------------------------------------------------------------------------------------------------
// The page.

#[derive(Default)]
struct Page {
    out: String,
}

const STYLE: &str = r#"
:root { --ok:#4f9d69; --fail:#c2577a; --info:#8d99a6; --fresh:#4a7fc1; --superseded:#e8a93a;
  --stale:#d33f3f; --db1:#dce4ee; --db2:#c3d0df; --ink:#1f2933; --muted:#616e7c; --grid:#eef1f4; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 40px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
.verdict { display: inline-block; padding: 1px 10px; border-radius: 10px; color: #fff;
  font-weight: 600; text-transform: uppercase; font-size: 12px; vertical-align: 3px; margin-left: 8px; }
.verdict.pass { background: var(--ok); } .verdict.fail, .verdict.crash, .verdict.liveness { background: var(--stale); }
dl.facts { display: grid; grid-template-columns: max-content auto max-content auto max-content auto;
  gap: 2px 14px; margin: 8px 0; font-size: 13px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
ol.violations { margin: 4px 0; padding-left: 22px; }
ol.violations li { margin: 3px 0; }
ol.violations code, .scope code { background: #fdecec; padding: 0 4px; border-radius: 3px; }
.inv { color: var(--stale); font-weight: 600; }
.scope { color: var(--muted); font-size: 13px; margin: 2px 0; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; margin: 8px 0; align-items: center; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend svg { vertical-align: middle; }
.timeline { display: flex; border: 1px solid #d9dee3; border-radius: 4px; }
.timeline .lanes { flex: 0 0 auto; border-right: 1px solid #d9dee3; background: #fafbfc; }
.timeline .scroll { flex: 1 1 auto; overflow-x: auto; overflow-y: hidden; }
svg text { font-size: 10px; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; fill: var(--ink); }
svg .lanelabel { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; font-size: 11px; }
svg .keyheading { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; font-size: 12px; font-weight: 600; }
svg .sub { fill: var(--muted); }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .tick { fill: var(--muted); }
svg .rowbg { fill: #f7f9fb; }
svg .gap { fill: #f1f3f5; stroke: #c5ccd3; stroke-dasharray: 3 3; }
svg .gaptext { fill: var(--muted); font-size: 9px; }
svg .op { stroke-width: 1; }
svg .op.ok { fill: var(--ok); stroke: #3b7a50; }
svg .op.fail { fill: var(--fail); stroke: #9c3f5e; }
svg .op.info { fill: var(--info); stroke: #59636e; stroke-dasharray: 3 2; }
svg .op.pending { fill: #fff; stroke: #59636e; stroke-dasharray: 3 2; }
svg .op.other, svg .oplabel.other { opacity: 0.35; }
svg .oplabel { fill: #fff; pointer-events: none; }
svg .oplabel.dark { fill: var(--ink); }
svg .entry.fresh { fill: var(--fresh); }
svg .entry.superseded { fill: var(--superseded); }
svg .entry.stale { fill: url(#hatch); stroke: var(--stale); stroke-width: 1; }
svg .entry.replica { opacity: 0.75; }
svg .tail { stroke: var(--muted); stroke-dasharray: 2 2; }
svg .entrylabel { fill: #fff; pointer-events: none; }
svg .dbv.a { fill: var(--db1); } svg .dbv.b { fill: var(--db2); }
svg .commit { fill: var(--ink); }
svg .ack { stroke: var(--ok); stroke-width: 2; } svg .ackflag { fill: var(--ok); }
svg .inval { stroke: #6b2fb3; stroke-width: 2; }
svg .floor { fill: #6b2fb3; }
svg .refuse { fill: none; stroke: #6b2fb3; stroke-width: 1.5; }
svg .serve { stroke: var(--ink); stroke-width: 1.5; }
svg .serve.superseded { stroke: #b7791f; } svg .serve.stale { stroke: var(--stale); stroke-width: 2.5; }
svg .evict, svg .expire { stroke: var(--muted); stroke-width: 1.5; }
svg .restart { stroke: #b7791f; stroke-width: 2; }
svg .arrow { stroke: #6b2fb3; stroke-width: 1; opacity: 0.45; fill: none; }
svg .fault { fill: #f6d365; stroke: #b7791f; }
svg .violation line { stroke: var(--stale); stroke-width: 2; }
svg .violation rect { fill: var(--stale); }
svg .violation text { fill: #fff; font-weight: 600; }
svg .violation.other { opacity: 0.4; }
details summary { cursor: pointer; color: var(--muted); margin: 4px 0 0 4px; }
table.events { border-collapse: collapse; font-size: 12px; }
table.events td, table.events th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
table.events td:first-child { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; white-space: nowrap; color: var(--muted); }
table.events tr.stale td { color: var(--stale); }
table.events tr.vrow td { color: #fff; background: var(--stale); font-weight: 600; }
"#;

const SCRIPT: &str = r#"
(function () {
  var scroll = document.getElementById('scroll');
  if (!scroll) return;
  function go(x) { scroll.scrollLeft = Math.max(0, x - scroll.clientWidth * 0.6); }
  var v = document.getElementById('violation');
  if (v) go(parseFloat(v.getAttribute('data-x')));
  var links = document.querySelectorAll('[data-goto]');
  for (var i = 0; i < links.length; i++) {
    links[i].addEventListener('click', function (e) {
      e.preventDefault();
      go(parseFloat(this.getAttribute('data-goto')));
      scroll.scrollIntoView({ block: 'nearest' });
    });
  }
  // What the browser drew, for tests and for anyone checking the page: operation bars with a
  // visible size, and the first violation marker's text.
  var bars = document.querySelectorAll('rect.op[data-op]'), shown = 0;
  for (var j = 0; j < bars.length; j++) {
    var r = bars[j].getBoundingClientRect();
    if (r.width > 0 && r.height > 0) shown++;
  }
  document.body.setAttribute('data-drawn-ops', String(shown));
  document.body.setAttribute('data-drawn-violation', v ? v.textContent : '');
})();
"#;

impl Page {
    fn head(&mut self, title: &str) {
        let _ = write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"generator\" content=\"tiersim report\">\n\
             <title>tiersim report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
            escape(title)
        );
    }

    fn header(&mut self, title: &str, o: &Outcome, config: &SystemConfig) {
        let verdict = o.verdict.name();
        let _ = writeln!(
            self.out,
            "<header>\n<h1>{}<span class=\"verdict {verdict}\" id=\"verdict\">{verdict}</span></h1>",
            escape(title)
        );
        let t = &config.topology;
        let facts: Vec<(&str, String)> = vec![
            ("seed", o.seed.to_string()),
            ("verdict", verdict.to_string()),
            ("trace hash", tiersim_sim::replay::hash_hex(o.trace_hash)),
            ("operations", o.ops.to_string()),
            ("events", o.events.to_string()),
            ("messages", o.messages.to_string()),
            ("simulated", ms(o.sim_ns)),
            ("max staleness", ms(o.max_staleness_ns)),
            (
                "topology",
                format!(
                    "{} region(s) × {} host(s) × {} process image(s), {} Redis shard(s)",
                    t.regions, t.hosts_per_region, t.processes_per_host, t.redis_shards
                ),
            ),
            (
                "TTL L1/L2/L3/Redis",
                format!(
                    "{}/{}/{}/{} ms",
                    config.l1_ttl_ms, config.l2_ttl_ms, config.l3_ttl_ms, config.redis_ttl_ms
                ),
            ),
            ("timeouts rpc/op", format!("{}/{} ms", config.rpc_timeout_ms, config.op_timeout_ms)),
            ("max clock skew", format!("{} ms", config.max_clock_skew_ms)),
        ];
        self.out.push_str("<dl class=\"facts\">\n");
        for (k, v) in facts {
            let _ = writeln!(self.out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
        }
        self.out.push_str("</dl>\n");
        if let Some(a) = &o.abort {
            let _ = writeln!(self.out, "<p class=\"scope\">The run stopped early: {}</p>", escape(a));
        }
        if !o.unchecked.is_empty() {
            let names: Vec<&str> = o.unchecked.iter().map(|i| i.name()).collect();
            let _ = writeln!(
                self.out,
                "<p class=\"scope\">Claimed but not checked by this build: {}.</p>",
                escape(&names.join(", "))
            );
        }
        self.out.push_str("</header>\n");
    }

    fn violations(&mut self, violations: &[Violation]) {
        if violations.is_empty() {
            self.out.push_str(
                "<section>\n<h2>Violations</h2>\n<p class=\"scope\">None: every checked invariant held.</p>\n</section>\n",
            );
            return;
        }
        let _ = writeln!(
            self.out,
            "<section>\n<h2>Violations ({})</h2>\n<ol class=\"violations\">",
            violations.len()
        );
        const SHOWN: usize = 5;
        for (i, v) in violations.iter().enumerate() {
            if i == SHOWN {
                let _ = writeln!(
                    self.out,
                    "</ol>\n<details><summary>{} more violations</summary>\n<ol class=\"violations\" start=\"{}\">",
                    violations.len() - SHOWN,
                    SHOWN + 1
                );
            }
            let _ = writeln!(
                self.out,
                "<li><span class=\"inv\">{}</span> at <a href=\"#scroll\" data-goto-time=\"{}\">{}</a>, key <code>{}</code>: {}</li>",
                escape(&v.invariant),
                v.time_ns,
                ms(v.time_ns),
                escape(&v.key),
                escape(&v.message)
            );
        }
        if violations.len() > SHOWN {
            self.out.push_str("</ol>\n</details>\n</section>\n");
            return;
        }
        self.out.push_str("</ol>\n</section>\n");
    }

    fn legend(&mut self) {
        let item = |svg: &str, text: &str| {
            format!("<span><svg width=\"26\" height=\"14\" viewBox=\"0 0 26 14\">{svg}</svg>{text}</span>")
        };
        let items = [
            item("<rect class=\"op ok\" x=\"1\" y=\"2\" width=\"24\" height=\"10\" rx=\"2\"/>", "op ok"),
            item("<rect class=\"op fail\" x=\"1\" y=\"2\" width=\"24\" height=\"10\" rx=\"2\"/>", "op failed"),
            item("<rect class=\"op info\" x=\"1\" y=\"2\" width=\"24\" height=\"10\" rx=\"2\"/>", "op indeterminate (info)"),
            item("<rect class=\"op pending\" x=\"1\" y=\"2\" width=\"24\" height=\"10\" rx=\"2\"/>", "op never completed"),
            item("<rect class=\"entry fresh\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/>", "tier holds the current version"),
            item("<rect class=\"entry superseded\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/>", "newer version committed"),
            item("<rect class=\"entry stale\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/>", "stale past the barrier (newer write completed)"),
            item("<rect class=\"dbv a\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/><circle class=\"commit\" cx=\"3\" cy=\"7\" r=\"2.5\"/>", "database commit"),
            item("<line class=\"ack\" x1=\"12\" y1=\"1\" x2=\"12\" y2=\"13\"/><path class=\"ackflag\" d=\"M12 1 L20 4 L12 7 Z\"/>", "write completed: invalidation acknowledged"),
            item("<path class=\"inval\" d=\"M9 3 L17 11 M17 3 L9 11\"/>", "entry invalidated / deleted"),
            item("<path class=\"floor\" d=\"M13 2 L18 7 L13 12 L8 7 Z\"/>", "version floor raised"),
            item("<circle class=\"refuse\" cx=\"13\" cy=\"7\" r=\"4\"/><path class=\"refuse\" d=\"M10 10 L16 4\"/>", "fill refused"),
            item("<line class=\"serve\" x1=\"13\" y1=\"2\" x2=\"13\" y2=\"12\"/>", "tier served a read"),
            item("<line class=\"arrow\" x1=\"2\" y1=\"12\" x2=\"22\" y2=\"3\" marker-end=\"url(#arrowhead)\" style=\"opacity:1\"/>", "from the commit it invalidates"),
            item("<rect class=\"fault\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/>", "fault"),
            item("<rect x=\"12\" y=\"0\" width=\"2\" height=\"14\" fill=\"#d33f3f\"/>", "violation"),
            item("<rect class=\"gap\" x=\"4\" y=\"1\" width=\"18\" height=\"12\"/>", "idle stretch compressed"),
        ];
        self.out.push_str("<h2>Timeline</h2>\n<div class=\"legend\">\n");
        for i in items {
            self.out.push_str(&i);
            self.out.push('\n');
        }
        self.out.push_str("</div>\n");
    }

    fn timeline(&mut self, run: &Run, outcome: &Outcome) {
        let axis = axis_for(run, outcome);
        for s in &run.scope {
            let _ = writeln!(self.out, "<p class=\"scope\">{}</p>", escape(s));
        }
        let compressed: u64 = axis.segs.iter().filter(|s| s.compressed).map(|s| s.t1 - s.t0).sum();
        let _ = writeln!(
            self.out,
            "<p class=\"scope\">Scale: {:.2} px per ms{}. Hover over any bar or marker for its details.</p>",
            axis.px_per_ns * 1e6,
            if compressed > 0 {
                format!(
                    "; {} of idle time (no event on this page) is compressed into the grey breaks",
                    duration(compressed)
                )
            } else {
                String::new()
            }
        );
        if run.faults_left_out > 0 {
            let _ = writeln!(
                self.out,
                "<p class=\"scope\">{} more fault rows are not drawn (only the first {FAULT_ROWS_MAX} are).</p>",
                run.faults_left_out
            );
        }
        if outcome.violations.len() > VIOLATION_MARKS_MAX {
            let _ = writeln!(
                self.out,
                "<p class=\"scope\">Only the first {VIOLATION_MARKS_MAX} of {} violations are marked on the timeline; all are listed above.</p>",
                outcome.violations.len()
            );
        }

        // Rows, top to bottom.
        let mut labels = String::new();
        let mut body = String::new();
        let mut y = AXIS_PX;
        let n_violation_rows = outcome.violations.len().clamp(0, 3);
        let violation_y = y;
        y += VIOLATION_ROW_PX * n_violation_rows as f64;

        // Faults.
        for row in &run.faults {
            lane_label(&mut labels, y, FAULT_ROW_PX, &row.label, "fault");
            for (from, to, text) in &row.spans {
                let x0 = axis.x(*from);
                let x1 = to.map_or(axis.width - 20.0, |t| axis.x(t)).max(x0 + 3.0);
                let until = to.map_or("the end of the run".to_string(), ms);
                let _ = writeln!(
                    body,
                    "<rect class=\"fault\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"10\"><title>{}: {} from {} to {}</title></rect>",
                    y + 4.0,
                    x1 - x0,
                    escape(&row.label),
                    escape(text),
                    ms(*from),
                    escape(&until)
                );
            }
            y += FAULT_ROW_PX;
        }

        // Client processes.
        let focus: BTreeSet<&str> = run.keys.iter().map(|k| k.key.as_str()).collect();
        let process_y: BTreeMap<u64, f64> =
            run.processes.keys().enumerate().map(|(i, p)| (*p, y + i as f64 * OP_ROW_PX)).collect();
        for (i, (p, app)) in run.processes.iter().enumerate() {
            let py = process_y[p];
            if i % 2 == 0 {
                let _ = writeln!(
                    body,
                    "<rect class=\"rowbg\" x=\"0\" y=\"{py:.1}\" width=\"{:.1}\" height=\"{OP_ROW_PX}\"/>",
                    axis.width
                );
            }
            lane_label(&mut labels, py, OP_ROW_PX, &format!("p{p}"), app);
        }
        body.push_str("<g class=\"ops\">\n");
        for o in &run.ops {
            let py = process_y[&o.process];
            let x0 = axis.x(o.invoke_ns);
            let end_ns = o.end.map_or(run.end_ns, |e| e.0);
            let x1 = axis.x(end_ns).max(x0 + 1.5);
            // Sequential ops of one process touch; keep a hairline between them.
            let w = (x1 - x0 - 1.0).max(1.5);
            let other = if focus.contains(o.key.as_str()) { "" } else { " other" };
            let label = o.label();
            let how = match o.end {
                Some((t, kind, ..)) => format!(
                    "{} at {} after {}",
                    match kind {
                        EventType::Ok => "ok",
                        EventType::Fail => "failed",
                        EventType::Info => "indeterminate (info)",
                        EventType::Invoke => "?",
                    },
                    ms(t),
                    duration(t - o.invoke_ns)
                ),
                None => "never completed".to_string(),
            };
            let _ = write!(
                body,
                "<g><rect class=\"op {}{other}\" data-op=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"14\" rx=\"2\"><title>op {} · p{} · {} · invoked at {} · {}</title></rect>",
                o.class(),
                o.op,
                py + 4.0,
                o.op,
                o.process,
                escape(&label),
                ms(o.invoke_ns),
                escape(&how)
            );
            let fits = |s: &str| s.chars().count() as f64 * CHAR_PX + 6.0 <= w;
            let shown = if fits(&label) {
                Some(label.clone())
            } else {
                o.end.and_then(|e| e.3).map(|v| format!("v{v}")).filter(|s| fits(s))
            };
            if let Some(s) = shown {
                let dark = if o.class() == "pending" { " dark" } else { "" };
                let _ = write!(
                    body,
                    "<text class=\"oplabel{dark}{other}\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    x0 + 3.0,
                    py + 14.5,
                    escape(&s)
                );
            }
            body.push_str("</g>\n");
        }
        body.push_str("</g>\n");
        y += run.processes.len() as f64 * OP_ROW_PX;

        // The focus keys' lanes.
        for k in &run.keys {
            self.key_lanes(&mut labels, &mut body, &mut y, k, &axis, run.end_ns);
        }
        let height = y + AXIS_PX;

        // Grid and axis (drawn first so that everything else lies on top).
        let mut under = String::new();
        let step = axis.tick_ns();
        let near_break =
            |x: f64| axis.segs.iter().any(|s| s.compressed && x > s.x0 - 30.0 && x < s.x1 + 30.0);
        for s in &axis.segs {
            if s.compressed {
                let _ = writeln!(
                    under,
                    "<rect class=\"gap\" x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{height:.1}\"><title>{} of idle time compressed: from {} to {}</title></rect>\
                     <text class=\"gaptext\" x=\"{:.1}\" y=\"12\" text-anchor=\"middle\">≈{}</text>\
                     <text class=\"gaptext\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">≈{}</text>",
                    s.x0,
                    s.x1 - s.x0,
                    duration(s.t1 - s.t0),
                    ms(s.t0),
                    ms(s.t1),
                    (s.x0 + s.x1) / 2.0,
                    duration(s.t1 - s.t0),
                    (s.x0 + s.x1) / 2.0,
                    height - 8.0,
                    duration(s.t1 - s.t0)
                );
                continue;
            }
            let mut t = s.t0.div_ceil(step) * step;
            while t <= s.t1 {
                let x = axis.x(t);
                if near_break(x) {
                    t += step;
                    continue;
                }
                let text = if step >= 1_000_000 {
                    format!("{} ms", t / 1_000_000)
                } else {
                    format!("{:.2} ms", t as f64 / 1e6)
                };
                let _ = writeln!(
                    under,
                    "<line class=\"grid\" x1=\"{x:.1}\" y1=\"18\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                     <text class=\"tick\" x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{text}</text>\
                     <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{text}</text>",
                    height - AXIS_PX + 4.0,
                    height - 10.0
                );
                t += step;
            }
        }

        // Violations, on top of everything.
        let mut over = String::new();
        for (i, v) in outcome.violations.iter().take(VIOLATION_MARKS_MAX).enumerate() {
            let x = axis.x(v.time_ns);
            let id = if i == 0 { " id=\"violation\"" } else { "" };
            let ly = violation_y + (i % 3) as f64 * VIOLATION_ROW_PX;
            let text = format!("{} · {} · {}", v.invariant, v.key, ms(v.time_ns));
            let other = if focus.contains(v.key.as_str()) { "" } else { " other" };
            let w = text.chars().count() as f64 * CHAR_PX + 8.0;
            let _ = writeln!(
                over,
                "<g class=\"violation{other}\"{id} data-x=\"{x:.1}\" data-time-ns=\"{}\"><title>invariant {} violated at {}: key {}: {}</title>\
                 <line x1=\"{x:.1}\" y1=\"18\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                 <rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"15\" rx=\"2\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
                v.time_ns,
                escape(&v.invariant),
                ms(v.time_ns),
                escape(&v.key),
                escape(&v.message),
                height - AXIS_PX + 4.0,
                ly + 1.0,
                x + 4.0,
                ly + 12.0,
                escape(&text)
            );
        }

        let defs = "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
                    <rect width=\"6\" height=\"6\" fill=\"#f6b3b3\"/><rect width=\"3\" height=\"6\" fill=\"#d33f3f\"/></pattern>\
                    <marker id=\"arrowhead\" viewBox=\"0 0 8 8\" refX=\"7\" refY=\"4\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\">\
                    <path d=\"M0 0 L8 4 L0 8 Z\" fill=\"#6b2fb3\"/></marker></defs>";
        let _ = writeln!(
            self.out,
            "<div class=\"timeline\">\n<div class=\"lanes\"><svg width=\"{LABEL_PX}\" height=\"{height:.0}\" viewBox=\"0 0 {LABEL_PX} {height:.0}\">\
             <text class=\"lanelabel sub\" x=\"8\" y=\"14\">sim time</text>{}\n{labels}</svg></div>",
            if n_violation_rows > 0 {
                format!(
                    "<text class=\"lanelabel sub\" x=\"8\" y=\"{:.1}\">violations</text>",
                    violation_y + 12.0
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            self.out,
            "<div class=\"scroll\" id=\"scroll\"><svg id=\"timeline\" width=\"{w:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {w:.0} {height:.0}\">{defs}\n{under}{body}{over}</svg></div>\n</div>",
            w = axis.width
        );
        // The violation list links to the marker positions.
        self.out = link_violations(&self.out, &axis);
    }

    fn key_lanes(
        &mut self,
        labels: &mut String,
        body: &mut String,
        y: &mut f64,
        k: &KeyView,
        axis: &Axis,
        end_ns: u64,
    ) {
        let _ = writeln!(
            labels,
            "<text class=\"keyheading\" x=\"8\" y=\"{:.1}\">key {}</text>",
            *y + 16.0,
            escape(&k.key)
        );
        let _ = writeln!(
            body,
            "<line x1=\"0\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#9aa5b1\"/>",
            *y + 2.0,
            axis.width,
            *y + 2.0
        );
        *y += KEY_HEADING_PX;
        if !k.untouched.is_empty() {
            let _ = writeln!(
                self.out,
                "<p class=\"scope\">Key {}: nodes that never held, served or invalidated it have no lane: {}.</p>",
                escape(&k.key),
                escape(&k.untouched.join(", "))
            );
        }
        // The database lane goes last, so remember where it will be for the arrows.
        let db_y = *y + k.lanes.len() as f64 * LANE_PX;
        let db_mid = db_y + LANE_PX / 2.0;
        let mut arrows = String::new();
        for (i, (lk, lane)) in k.lanes.iter().enumerate() {
            let ly = *y + i as f64 * LANE_PX;
            let mid = ly + LANE_PX / 2.0;
            let node = node_name(lk);
            let what = match lane.tier {
                Some(t) => t.to_string(),
                None if lane.replica => "replica".to_string(),
                None => String::new(),
            };
            if i % 2 == 0 {
                let _ = writeln!(
                    body,
                    "<rect class=\"rowbg\" x=\"0\" y=\"{ly:.1}\" width=\"{:.1}\" height=\"{LANE_PX}\"/>",
                    axis.width
                );
            }
            lane_label(labels, ly, LANE_PX, &node, &what);
            for h in &lane.held {
                let to = h.to.as_ref().map_or(end_ns, |t| t.0);
                let alive_to = h.expires_at_ns.map_or(to, |e| e.min(to)).max(h.from_ns);
                let superseded = k.superseded_at(h.version);
                let barrier = if lane.replica { None } else { k.barrier_at(h.version) };
                let mut tip = format!(
                    "{node}{} held v{} from {} to {}",
                    if what.is_empty() { String::new() } else { format!("/{what}") },
                    h.version,
                    ms(h.from_ns),
                    ms(alive_to)
                );
                match &h.to {
                    Some((t, why)) if *t <= alive_to => {
                        let _ = write!(tip, " ({why})");
                    }
                    Some((t, why)) => {
                        let _ = write!(tip, " (expired; {why} at {})", ms(*t));
                    }
                    None if alive_to < end_ns => tip.push_str(" (expired)"),
                    None => tip.push_str(" (still held at the end of the run)"),
                }
                if let Some(op) = h.op {
                    let _ = write!(tip, "; filled for op {op}");
                }
                if let Some(origin) = h.origin_ns {
                    let _ = write!(tip, "; its data was read from the database at {}", ms(origin));
                }
                if let Some(s) = superseded {
                    let _ = write!(tip, "; a newer version was committed at {}", ms(s));
                }
                if let Some((b, v)) = barrier {
                    let _ = write!(tip, "; v{v}'s invalidation was acknowledged at {}", ms(b));
                }
                let tip = escape(&tip);
                // Split the interval where it became superseded and where it went stale.
                let cut1 = superseded.unwrap_or(u64::MAX).clamp(h.from_ns, alive_to);
                let cut2 = barrier.map_or(u64::MAX, |b| b.0).clamp(cut1, alive_to);
                let replica = if lane.replica { " replica" } else { "" };
                let segments = if alive_to == h.from_ns {
                    // Filled and gone in the same instant: a sliver in the colour of that instant.
                    let class = if cut2 <= h.from_ns && barrier.is_some() {
                        "stale"
                    } else if cut1 <= h.from_ns && superseded.is_some() {
                        "superseded"
                    } else {
                        "fresh"
                    };
                    vec![(h.from_ns, h.from_ns, class)]
                } else {
                    [(h.from_ns, cut1, "fresh"), (cut1, cut2, "superseded"), (cut2, alive_to, "stale")]
                        .into_iter()
                        .filter(|(a, b, _)| b > a)
                        .collect()
                };
                for (a, b, class) in segments {
                    let x0 = axis.x(a);
                    let x1 = axis.x(b).max(x0 + 1.5);
                    let _ = writeln!(
                        body,
                        "<rect class=\"entry {class}{replica}\" data-version=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\"><title>{tip}</title></rect>",
                        h.version,
                        ly + 4.0,
                        x1 - x0
                    );
                }
                if alive_to < to {
                    let _ = writeln!(
                        body,
                        "<line class=\"tail\" x1=\"{:.1}\" y1=\"{mid:.1}\" x2=\"{:.1}\" y2=\"{mid:.1}\"><title>{tip}</title></line>",
                        axis.x(alive_to),
                        axis.x(to)
                    );
                }
                let x0 = axis.x(h.from_ns);
                let w = axis.x(alive_to) - x0;
                let label = format!("v{}", h.version);
                if label.len() as f64 * CHAR_PX + 4.0 <= w {
                    let _ = writeln!(
                        body,
                        "<text class=\"entrylabel\" x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
                        x0 + 2.0,
                        ly + 13.5
                    );
                }
            }
            for m in &lane.marks {
                let x = axis.x(m.t);
                let text = escape(&m.text);
                match m.kind {
                    MarkKind::Invalidate => {
                        let _ = writeln!(
                            body,
                            "<path class=\"inval\" d=\"M{:.1} {:.1} l7 7 m0 -7 l-7 7\"><title>{text}</title></path>",
                            x - 3.5,
                            mid - 3.5
                        );
                    }
                    MarkKind::Floor => {
                        let _ = writeln!(
                            body,
                            "<path class=\"floor\" d=\"M{x:.1} {:.1} l4 4 l-4 4 l-4 -4 Z\"><title>{text}</title></path>",
                            mid - 4.0
                        );
                    }
                    MarkKind::Refuse => {
                        let _ = writeln!(
                            body,
                            "<g class=\"refusal\"><title>{text}</title><circle class=\"refuse\" cx=\"{x:.1}\" cy=\"{mid:.1}\" r=\"4\"/><path class=\"refuse\" d=\"M{:.1} {:.1} l6 -6\"/></g>",
                            x - 3.0,
                            mid + 3.0
                        );
                    }
                    MarkKind::Serve => {
                        let class = if k.barrier_at(m.version).is_some_and(|b| b.0 <= m.t) {
                            " stale"
                        } else if k.superseded_at(m.version).is_some_and(|s| s <= m.t) {
                            " superseded"
                        } else {
                            ""
                        };
                        let _ = writeln!(
                            body,
                            "<line class=\"serve{class}\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{text}</title></line>",
                            ly + 1.0,
                            ly + LANE_PX - 1.0
                        );
                    }
                    MarkKind::Evict | MarkKind::Expire | MarkKind::Restart => {
                        let _ = writeln!(
                            body,
                            "<line class=\"{}\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{text}</title></line>",
                            m.kind.class(),
                            ly + 2.0,
                            ly + LANE_PX - 2.0
                        );
                    }
                }
                if let Some(c) = m.from_commit.and_then(|v| k.commit(v)) {
                    let _ = writeln!(
                        arrows,
                        "<line class=\"arrow\" x1=\"{:.1}\" y1=\"{db_mid:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" marker-end=\"url(#arrowhead)\"/>",
                        axis.x(c.t),
                        mid + 4.0
                    );
                }
            }
        }
        *y = db_y;

        // The database: each version from its commit to the next.
        lane_label(labels, *y, LANE_PX, "db", "commits");
        for (i, c) in k.commits.iter().enumerate() {
            let next = k.commits.get(i + 1).map_or(end_ns, |n| n.t);
            let x0 = axis.x(c.t);
            let x1 = axis.x(next).max(x0 + 1.0);
            let value = c.value.map_or("deleted".to_string(), |v| format!("value {v}"));
            let ack = c.ack_ns.map_or("its operation did not complete ok".to_string(), |a| {
                format!("its write completed (invalidation acknowledged) at {}", ms(a))
            });
            let tip = format!("v{} ({value}) committed at {} by op {}; {ack}", c.version, ms(c.t), c.op);
            let _ = writeln!(
                body,
                "<g class=\"commitg\"><title>{}</title><rect class=\"dbv {}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\"/><circle class=\"commit\" cx=\"{x0:.1}\" cy=\"{:.1}\" r=\"2.5\"/>",
                escape(&tip),
                if i % 2 == 0 { "a" } else { "b" },
                *y + 4.0,
                x1 - x0,
                *y + LANE_PX / 2.0
            );
            let short = match c.value {
                Some(v) => format!("v{} {v}", c.version),
                None => format!("v{} del", c.version),
            };
            let label = if short.chars().count() as f64 * CHAR_PX + 6.0 <= x1 - x0 {
                Some(short)
            } else {
                Some(format!("v{}", c.version)).filter(|s| s.len() as f64 * CHAR_PX + 6.0 <= x1 - x0)
            };
            if let Some(l) = label {
                let _ =
                    write!(body, "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>", x0 + 4.0, *y + 13.5, escape(&l));
            }
            body.push_str("</g>\n");
            if let Some(a) = c.ack_ns {
                let xa = axis.x(a);
                let _ = writeln!(
                    body,
                    "<g><title>v{}: write completed, invalidation acknowledged at {}</title><line class=\"ack\" x1=\"{xa:.1}\" y1=\"{:.1}\" x2=\"{xa:.1}\" y2=\"{:.1}\"/><path class=\"ackflag\" d=\"M{xa:.1} {:.1} l7 3 l-7 3 Z\"/></g>",
                    c.version,
                    ms(a),
                    *y + 1.0,
                    *y + LANE_PX - 1.0,
                    *y + 1.0
                );
            }
        }
        body.push_str(&arrows);
        *y += LANE_PX;
    }

    fn chronology(&mut self, run: &Run, outcome: &Outcome) {
        let (Some(v), Some(k)) = (outcome.violations.first(), run.keys.first()) else {
            return;
        };
        let events = &outcome.history.events;
        let at = k.events.partition_point(|&i| events[i].time_ns() <= v.time_ns);
        let from = at.saturating_sub(TABLE_BEFORE);
        let to = (at + TABLE_AFTER).min(k.events.len());
        let _ = writeln!(
            self.out,
            "<h2>Events of key {} around the violation</h2>\n<p class=\"scope\">Events {}–{} of the {} events of key {} (the full history: <code>tiersim run … --history FILE</code>). Reads of the tiers (serve) are included; rows in red involve a version older than one whose invalidation had been acknowledged.</p>\n<table class=\"events\">\n<tr><th>sim time</th><th>where</th><th>what</th></tr>",
            escape(&k.key),
            from + 1,
            to,
            k.events.len(),
            escape(&k.key)
        );
        let ops: BTreeMap<u64, &Op> = run.ops.iter().map(|o| (o.op, o)).collect();
        let mut marked = false;
        for &i in &k.events[from..to] {
            let e = &events[i];
            if !marked && e.time_ns() > v.time_ns {
                self.violation_row(v);
                marked = true;
            }
            let (place, what, version) = describe(e, &ops);
            let stale = version.is_some_and(|ver| k.barrier_at(ver).is_some_and(|b| b.0 <= e.time_ns()));
            let _ = writeln!(
                self.out,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
                if stale { " class=\"stale\"" } else { "" },
                ms(e.time_ns()),
                escape(&place),
                escape(&what)
            );
        }
        if !marked {
            self.violation_row(v);
        }
        self.out.push_str("</table>\n");
    }

    fn violation_row(&mut self, v: &Violation) {
        let _ = writeln!(
            self.out,
            "<tr class=\"vrow\"><td>{}</td><td>violation</td><td>{}: {}</td></tr>",
            ms(v.time_ns),
            escape(&v.invariant),
            escape(&v.message)
        );
    }

    fn finish(&mut self) {
        let _ = write!(self.out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    }
}

/// The node name of a lane key.
fn node_name(lk: &(u8, String, u64, String)) -> String {
    if lk.3.is_empty() {
        format!("{}-{}", lk.1, lk.2)
    } else {
        lk.3.clone()
    }
}

fn lane_label(labels: &mut String, y: f64, h: f64, name: &str, sub: &str) {
    let _ = writeln!(
        labels,
        "<text class=\"lanelabel\" x=\"8\" y=\"{:.1}\">{}<tspan class=\"sub\" dx=\"6\">{}</tspan></text>",
        y + h / 2.0 + 4.0,
        escape(name),
        escape(sub)
    );
}

/// Turn the violation list's times into scroll targets (x positions on the timeline).
fn link_violations(out: &str, axis: &Axis) -> String {
    let mut result = String::with_capacity(out.len());
    let mut rest = out;
    let needle = "data-goto-time=\"";
    while let Some(i) = rest.find(needle) {
        result.push_str(&rest[..i]);
        let after = &rest[i + needle.len()..];
        let end = after.find('"').expect("attribute values are closed");
        let t: u64 = after[..end].parse().expect("written as a number");
        let _ = write!(result, "data-goto=\"{:.1}\"", axis.x(t));
        rest = &after[end + 1..];
    }
    result.push_str(rest);
    result
}

/// Where an event happened, what it was, and the version it put or found in a tier (for
/// marking stale rows).
fn describe(e: &Event<ModelEvent>, ops: &BTreeMap<u64, &Op>) -> (String, String, Option<u64>) {
    match e {
        Event::Client { op, event, version } => {
            let place = format!("p{}", event.process);
            let what = match event.kind {
                EventType::Invoke => format!(
                    "invoke op {op}: {} {}{}",
                    event.f.name(),
                    event.key,
                    match event.f {
                        OpFn::Write | OpFn::Cas => format!(" {}", value_text(event.value)),
                        _ => String::new(),
                    }
                ),
                kind => {
                    let label = ops.get(op).map_or(String::new(), |o| o.label());
                    let kind = match kind {
                        EventType::Ok => "ok",
                        EventType::Fail => "fail",
                        _ => "info",
                    };
                    format!("{kind} op {op}: {label}")
                }
            };
            let read_version = match (event.f, event.kind) {
                (OpFn::Read, EventType::Ok) => *version,
                _ => None,
            };
            (place, what, read_version)
        }
        Event::Internal { event, .. } => match event {
            ModelEvent::Commit { version, value, op, .. } => (
                "db".into(),
                format!(
                    "commit v{version} ({}) for op {op}",
                    value.map_or("delete".to_string(), |v| format!("value {v}"))
                ),
                None,
            ),
            ModelEvent::Replicate { node, version, .. } => {
                (node.clone(), format!("replica applied v{version}"), None)
            }
            ModelEvent::Fill { node, tier, version, origin_ns, op, .. } => (
                format!("{node}/{tier}"),
                format!(
                    "fill v{version}{} (data read from the database at {})",
                    op.map_or(String::new(), |o| format!(" for op {o}")),
                    ms(*origin_ns)
                ),
                Some(*version),
            ),
            ModelEvent::Refuse { node, tier, version, floor_version, .. } => (
                format!("{node}/{tier}"),
                format!("refused a fill of v{version} (floor v{floor_version})"),
                None,
            ),
            ModelEvent::Remove { node, tier, version, cause, .. } => (
                format!("{node}/{tier}"),
                format!(
                    "remove v{version} ({})",
                    match cause {
                        RemoveCause::Invalidate => "invalidate",
                        RemoveCause::Delete => "delete",
                        RemoveCause::Evict => "evict",
                        RemoveCause::Expire => "expire",
                        RemoveCause::Tag => "tag",
                    }
                ),
                None,
            ),
            ModelEvent::Floor { node, tier, version, .. } => {
                (format!("{node}/{tier}"), format!("floor raised to v{version} (invalidation arrived)"), None)
            }
            ModelEvent::Serve { node, tier, version, op, .. } => (
                format!("{node}/{tier}"),
                format!("served v{version}{}", op.map_or(String::new(), |o| format!(" to op {o}"))),
                Some(*version),
            ),
            ModelEvent::TagInvalidate { node, tier, tag } => {
                (format!("{node}/{tier}"), format!("tag {tag} invalidated"), None)
            }
            ModelEvent::Start { node } => (node.clone(), "started".into(), None),
        },
        Event::Fault { fault, .. } => {
            let (row, _, text) = fault_row(fault);
            ("fault".into(), format!("{row}: {text}"), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_every_special_character() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain k1 · v28"), "plain k1 · v28");
    }

    fn outcome(events: Vec<Event<ModelEvent>>) -> Outcome {
        Outcome {
            seed: 7,
            verdict: tiersim_model::outcome::Verdict::Crash,
            violations: Vec::new(),
            abort: Some("panicked: <boom>".into()),
            trace_hash: 0xabc,
            ops: 1,
            events: events.len(),
            messages: 0,
            sim_ns: 0,
            wall_ms: 0,
            max_staleness_ns: 0,
            unchecked: Vec::new(),
            latency: Default::default(),
            history: tiersim_sim::history::History { events, digests: Vec::new(), trace_hash: 0xabc },
        }
    }

    #[test]
    fn an_empty_run_and_a_crashed_one_still_render() {
        let mut empty = outcome(Vec::new());
        empty.ops = 0;
        let html = render("empty", &empty, &SystemConfig::default());
        assert!(html.contains("None: every checked invariant held."));
        assert!(!html.contains("data-op="));

        // A crash leaves an operation without its completion: drawn to the end of the run.
        let invoke = tiersim_sim::history::ClientEvent {
            process: 3,
            kind: EventType::Invoke,
            f: OpFn::Write,
            key: "k1".into(),
            value: OpValue::Single(Some(5)),
            time_ns: 2_000_000,
        };
        let crashed = outcome(vec![Event::Client { op: 0, event: invoke, version: None }]);
        let html = render("crashed", &crashed, &SystemConfig::default());
        assert_eq!(html.matches("class=\"op pending\" data-op=\"0\"").count(), 1);
        assert!(html.contains("write k1 5"));
        assert!(html.contains("panicked: &lt;boom&gt;"));
        assert!(!html.contains("id=\"violation\""));
    }

    #[test]
    fn times_read_as_milliseconds() {
        assert_eq!(ms(687_429_222), "687.429 ms");
        assert_eq!(ms(3_000), "0.003 ms");
        assert_eq!(duration(4_950_000_000), "4.95 s");
    }

    #[test]
    fn idle_stretches_are_compressed_and_time_stays_monotonic() {
        // 1 px per ms: events at 0..100 ms, then nothing until 5 s.
        let times = [0, 50_000_000, 100_000_000, 5_000_000_000];
        let axis = Axis::build(&times, 5_000_000_000, 1e-6);
        assert!(axis.segs.iter().any(|s| s.compressed));
        assert!(axis.width < 500.0, "width {}", axis.width);
        let xs: Vec<f64> = (0..=50).map(|i| axis.x(i * 100_000_000)).collect();
        assert!(xs.windows(2).all(|w| w[0] <= w[1]), "{xs:?}");
        // Linear where events are: 50 ms apart is 50 px apart.
        assert!((axis.x(100_000_000) - axis.x(50_000_000) - 50.0).abs() < 1e-6);
    }
}

/// The run as a log, one line per event stamped with sim time: what `tiersim run --trace`
/// prints. The same wording as the report's event table.
pub fn trace_lines(outcome: &Outcome, config: &SystemConfig) -> Vec<String> {
    let run = Run::read(outcome, config);
    let ops: BTreeMap<u64, &Op> = run.ops.iter().map(|o| (o.op, o)).collect();
    outcome
        .history
        .events
        .iter()
        .map(|e| {
            let (place, what, _) = describe(e, &ops);
            format!("t={:>14} {place:<16} {what}", ms(e.time_ns()))
        })
        .collect()
}
