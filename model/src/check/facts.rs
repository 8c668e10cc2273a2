//! What every check shares: a violation as output shows it, time as messages print it, and the
//! client operations of a run assembled from the history's invoke/complete pairs.

use crate::event::ModelEvent;
use serde::Serialize;
use std::collections::BTreeMap;
use tiersim_sim::history::{Event, EventType, History, OpFn};

/// One broken promise, with the minimal facts that show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub invariant: String,
    pub key: String,
    pub time_ns: u64,
    pub message: String,
}

/// Seconds with millisecond precision, as violation messages show time.
pub fn secs(ns: u64) -> String {
    format!("{}.{:03}s", ns / 1_000_000_000, (ns / 1_000_000) % 1000)
}

/// Client operations of a run, assembled from invoke/complete pairs.
#[derive(Clone, Debug)]
pub struct OpRecord {
    pub op: u64,
    pub process: u64,
    pub f: OpFn,
    pub key: String,
    pub invoke_ns: u64,
    pub complete_ns: Option<u64>,
    pub outcome: Option<EventType>,
    pub value: Option<i64>,
    pub version: Option<u64>,
}

pub fn op_records(history: &History<ModelEvent>) -> BTreeMap<u64, OpRecord> {
    let mut ops: BTreeMap<u64, OpRecord> = BTreeMap::new();
    for e in &history.events {
        if let Event::Client { op, event, version } = e {
            if event.kind == EventType::Invoke {
                ops.insert(
                    *op,
                    OpRecord {
                        op: *op,
                        process: event.process,
                        f: event.f,
                        key: event.key.clone(),
                        invoke_ns: event.time_ns,
                        complete_ns: None,
                        outcome: None,
                        value: event.value.single(),
                        version: None,
                    },
                );
            } else if let Some(r) = ops.get_mut(op) {
                r.outcome = Some(event.kind);
                r.version = *version;
                if event.kind != EventType::Info {
                    r.complete_ns = Some(event.time_ns);
                }
                if event.f == OpFn::Read {
                    r.value = event.value.single();
                }
            }
        }
    }
    ops
}
