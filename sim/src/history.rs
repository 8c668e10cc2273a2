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
        write!(
            f,
            "p{} {:?} {:?} {} {} @{}ns",
            self.process, self.kind, self.f, self.key, v, self.time_ns
        )
    }
}
