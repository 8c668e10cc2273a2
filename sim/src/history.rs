//! The history of one run: Jepsen-shaped client events (invoke / ok / fail / info) stamped with
//! sim time in nanoseconds, interleaved with the system's internal events (fills, invalidation
//! deliveries, expiries, faults) in the order they happened.
//!
//! `sim` knows no cache, so the internal event type is a parameter: the model supplies its own
//! enum. Client events use the wire format of DESIGN.md ("History file format") so a history
//! recorded here and one recorded by a team's staging tests are read by the same checker.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which half of an operation an event is, in Jepsen's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The operation began.
    Invoke,
    /// It completed and took effect (a read's value is what it saw).
    Ok,
    /// It definitely did not take effect (a failed cas observed another value).
    Fail,
    /// Indeterminate: it may take effect once at any time after its invoke, or never.
    Info,
}

/// The register operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpFn {
    Read,
    Write,
    Delete,
    Cas,
    /// Concatenates the value onto the end of a string register (Porcupine's key-value model;
    /// only external histories have it).
    Append,
    /// Cache administration with no register effect: invalidate a tag (`key` is the tag).
    InvalidateTag,
    /// Cache administration with no register effect: warm a batch of keys (`key` names it).
    Warm,
}

impl OpFn {
    /// The operation's name as histories spell it.
    pub fn name(self) -> &'static str {
        match self {
            OpFn::Read => "read",
            OpFn::Write => "write",
            OpFn::Delete => "delete",
            OpFn::Cas => "cas",
            OpFn::Append => "append",
            OpFn::InvalidateTag => "invalidate_tag",
            OpFn::Warm => "warm",
        }
    }

    /// Whether the operation reads or changes the register (what linearizability is about).
    pub fn is_register_op(self) -> bool {
        matches!(self, OpFn::Read | OpFn::Write | OpFn::Delete | OpFn::Cas | OpFn::Append)
    }
}

/// The `value` field: a register value (`null` is absent), or `[expected, new]` for a cas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OpValue {
    Cas(Option<i64>, Option<i64>),
    Single(Option<i64>),
}

impl OpValue {
    /// The single value, or `None` for a cas pair or absent.
    pub fn single(&self) -> Option<i64> {
        match self {
            OpValue::Single(v) => *v,
            OpValue::Cas(..) => None,
        }
    }
}

/// One client event: one line of a history file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientEvent {
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: OpFn,
    pub key: String,
    pub value: OpValue,
    /// Sim time in nanoseconds.
    #[serde(rename = "time")]
    pub time_ns: u64,
}

impl fmt::Display for ClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.value {
            OpValue::Single(None) => "nil".to_string(),
            OpValue::Single(Some(v)) => v.to_string(),
            OpValue::Cas(a, b) => format!("[{a:?} -> {b:?}]"),
        };
        write!(f, "p{} {:?} {:?} {} {} @{}ns", self.process, self.kind, self.f, self.key, v, self.time_ns)
    }
}

/// One event of a run, in the order it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event<E> {
    /// A client event. `op` numbers operations in invoke order within the run; `version` is the
    /// register version a completion observed or produced, where the system knows it.
    Client { op: u64, event: ClientEvent, version: Option<u64> },
    /// Something the system did (a fill, an invalidation delivered, an expiry, a commit).
    Internal { time_ns: u64, event: E },
    /// A fault of the plan being applied.
    Fault { time_ns: u64, fault: crate::fault::Fault },
}

impl<E> Event<E> {
    pub fn time_ns(&self) -> u64 {
        match self {
            Event::Client { event, .. } => event.time_ns,
            Event::Internal { time_ns, .. } | Event::Fault { time_ns, .. } => *time_ns,
        }
    }
}

/// A finished run's history with its canonical trace hash.
#[derive(Clone, Debug)]
pub struct History<E> {
    pub events: Vec<Event<E>>,
    /// Per-event digests, so two runs of one seed can be compared event by event.
    pub digests: Vec<u64>,
    pub trace_hash: u64,
}

impl<E: std::fmt::Debug> History<E> {
    /// The first event where this run and `other` (the same seed, run again) part ways, or
    /// `None` when they are identical: the determinism check's answer.
    pub fn first_divergence(&self, other: &History<E>) -> Option<crate::trace::Divergence> {
        crate::trace::first_divergence(
            (self.trace_hash, &self.digests, &self.events),
            (other.trace_hash, &other.digests, &other.events),
        )
    }
}

impl<E: Serialize> History<E> {
    /// The client events alone, in the order they happened.
    pub fn client_events(&self) -> impl Iterator<Item = &ClientEvent> {
        self.events.iter().filter_map(|e| match e {
            Event::Client { event, .. } => Some(event),
            _ => None,
        })
    }

    /// JSON lines as DESIGN.md's history format: client events as `{"process", "type", "f",
    /// "key", "value", "time"}`; internal events and faults as `{"type": "internal" | "fault",
    /// "time", "event"}`, which `tiersim check` skips.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for e in &self.events {
            let line = match e {
                Event::Client { event, .. } => serde_json::to_string(event),
                Event::Internal { time_ns, event } => serde_json::to_string(
                    &serde_json::json!({"type": "internal", "time": time_ns, "event": event}),
                ),
                Event::Fault { time_ns, fault } => serde_json::to_string(
                    &serde_json::json!({"type": "fault", "time": time_ns, "event": fault}),
                ),
            };
            out.push_str(&line.expect("history events serialise"));
            out.push('\n');
        }
        out
    }
}

struct RecorderInner<E> {
    events: Vec<Event<E>>,
    digests: Vec<u64>,
    hasher: xxhash_rust::xxh3::Xxh3,
    /// Scratch space for one event's canonical encoding, reused for every event.
    encoded: Vec<u8>,
    next_op: u64,
    /// Operations invoked and not yet completed: op -> (process, f, key).
    pending: std::collections::BTreeMap<u64, (u64, OpFn, String)>,
}

/// Records a run's events as they happen and folds them into the trace hash. Cheap to clone:
/// every node of a run shares one recorder.
pub struct Recorder<E> {
    inner: std::sync::Arc<std::sync::Mutex<RecorderInner<E>>>,
}

impl<E> Clone for Recorder<E> {
    fn clone(&self) -> Self {
        Recorder { inner: self.inner.clone() }
    }
}

impl<E: Serialize> Default for Recorder<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Serialize> Recorder<E> {
    pub fn new() -> Self {
        Recorder {
            inner: std::sync::Arc::new(std::sync::Mutex::new(RecorderInner {
                events: Vec::new(),
                digests: Vec::new(),
                hasher: xxhash_rust::xxh3::Xxh3::new(),
                encoded: Vec::with_capacity(256),
                next_op: 0,
                pending: Default::default(),
            })),
        }
    }

    fn push(inner: &mut RecorderInner<E>, event: Event<E>) {
        let RecorderInner { encoded, hasher, .. } = inner;
        let digest = crate::trace::digest_event(&event, encoded, hasher);
        inner.digests.push(digest);
        inner.events.push(event);
    }

    /// A client invokes an operation now; returns its op id.
    pub fn invoke(&self, process: u64, f: OpFn, key: &str, value: OpValue) -> u64 {
        let mut inner = self.inner.lock().unwrap();
        let op = inner.next_op;
        inner.next_op += 1;
        inner.pending.insert(op, (process, f, key.to_string()));
        let event = ClientEvent {
            process,
            kind: EventType::Invoke,
            f,
            key: key.to_string(),
            value,
            time_ns: crate::clock::sim_now_ns(),
        };
        Self::push(&mut inner, Event::Client { op, event, version: None });
        op
    }

    /// Operation `op` completes now with `kind` (ok, fail or info).
    pub fn complete(&self, op: u64, kind: EventType, value: OpValue, version: Option<u64>) {
        assert_ne!(kind, EventType::Invoke, "tiersim bug: complete() with an invoke");
        let mut inner = self.inner.lock().unwrap();
        let (process, f, key) = inner
            .pending
            .remove(&op)
            .unwrap_or_else(|| panic!("tiersim bug: op {op} completed twice or never invoked"));
        let event = ClientEvent { process, kind, f, key, value, time_ns: crate::clock::sim_now_ns() };
        Self::push(&mut inner, Event::Client { op, event, version });
    }

    /// The system did something worth checking.
    pub fn internal(&self, event: E) {
        let mut inner = self.inner.lock().unwrap();
        let time_ns = crate::clock::sim_now_ns();
        Self::push(&mut inner, Event::Internal { time_ns, event });
    }

    /// A fault was applied.
    pub fn fault(&self, fault: crate::fault::Fault) {
        let mut inner = self.inner.lock().unwrap();
        let time_ns = crate::clock::sim_now_ns();
        Self::push(&mut inner, Event::Fault { time_ns, fault });
    }

    /// Events recorded so far.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Move the history out, leaving the recorder empty: what a finished run keeps. (Anything
    /// else still holding the recorder then holds nothing of size; madsim keeps a killed or
    /// finished runtime's node closures alive longer than one would like.)
    pub fn take(&self) -> History<E> {
        let mut inner = self.inner.lock().unwrap();
        let trace_hash = inner.hasher.digest();
        History {
            events: std::mem::take(&mut inner.events),
            digests: std::mem::take(&mut inner.digests),
            trace_hash,
        }
    }

    /// The history so far (the recorder stays usable; a crashed run still has its history).
    pub fn snapshot(&self) -> History<E>
    where
        E: Clone,
    {
        let inner = self.inner.lock().unwrap();
        History {
            events: inner.events.clone(),
            digests: inner.digests.clone(),
            trace_hash: inner.hasher.digest(),
        }
    }
}
