//! The operations of a run that did not complete ok or fail, reported on every run whether or
//! not `live` is claimed: an operation that hangs or times out must never pass silently.
//!
//! Each is classed by how it ended and whether a fault was in force during it (the fault windows
//! `live` uses): `live` judges those with no fault in force, when claimed; the rest are reported.

use crate::check::cache::fault_windows;
use crate::check::{secs, OpRecord, Violation};
use crate::event::ModelEvent;
use crate::protocol::Invariant;
use serde::Serialize;
use std::collections::BTreeMap;
use tiersim_sim::history::{Event, EventType, History};

/// How an unfinished operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// It ended `info` (timed out, or the protocol reported it indeterminate).
    Indeterminate,
    /// It was still running when the run ended (a crash, a stuck run, or its node was killed).
    NeverCompleted,
}

/// One operation that did not complete ok or fail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unfinished {
    pub op: u64,
    pub process: u64,
    pub f: &'static str,
    pub key: String,
    pub invoke_ns: u64,
    /// When it ended `info`; `None` if it never completed.
    pub ended_ns: Option<u64>,
    pub ending: Ending,
    /// Whether a fault of the plan was in force at some instant of it.
    pub under_fault: bool,
}

/// Every unfinished operation of the run, in operation order.
pub fn unfinished(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>) -> Vec<Unfinished> {
    let end_ns = history.events.last().map_or(0, |e| e.time_ns());
    let mut info_at: BTreeMap<u64, u64> = BTreeMap::new();
    for e in &history.events {
        if let Event::Client { op, event, .. } = e {
            if event.kind == EventType::Info {
                info_at.insert(*op, event.time_ns);
            }
        }
    }
    let windows = fault_windows(history);
    let mut out = Vec::new();
    for r in ops.values() {
        let (ended_ns, ending) = match r.outcome {
            Some(EventType::Ok) | Some(EventType::Fail) => continue,
            Some(_) => (info_at.get(&r.op).copied(), Ending::Indeterminate),
            None => (None, Ending::NeverCompleted),
        };
        let last = ended_ns.unwrap_or(end_ns);
        out.push(Unfinished {
            op: r.op,
            process: r.process,
            f: r.f.name(),
            key: r.key.clone(),
            invoke_ns: r.invoke_ns,
            ended_ns,
            ending,
            under_fault: windows.iter().any(|(from, to)| *from <= last && *to >= r.invoke_ns),
        });
    }
    out
}

/// `live` (see `check::cache`'s module docs): every unfinished operation no fault explains is a
/// violation — judged on the same list every run reports, so the two never disagree.
pub fn check_live(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>) -> Vec<Violation> {
    unfinished(history, ops)
        .into_iter()
        .filter(|u| !u.under_fault)
        .map(|u| {
            let how = match u.ended_ns {
                Some(t) => format!("ended info at t={}", secs(t)),
                None => "never completed".to_string(),
            };
            Violation {
                invariant: Invariant::Live.name().into(),
                key: u.key.clone(),
                time_ns: u.invoke_ns,
                message: format!(
                    "{} op {} by p{} began at t={} and {how}, with no fault in force",
                    u.f,
                    u.op,
                    u.process,
                    secs(u.invoke_ns)
                ),
            }
        })
        .collect()
}

/// One line for output: "3 ops did not complete: 2 indeterminate (1 under a fault), 1 never completed".
pub fn summary(unfinished: &[Unfinished]) -> Option<String> {
    if unfinished.is_empty() {
        return None;
    }
    let count = |e: Ending| unfinished.iter().filter(|u| u.ending == e).count();
    let faulted = |e: Ending| unfinished.iter().filter(|u| u.ending == e && u.under_fault).count();
    let (i, n) = (Ending::Indeterminate, Ending::NeverCompleted);
    Some(format!(
        "{} ops did not complete: {} ended info ({} under a fault), {} never completed ({} under a fault)",
        unfinished.len(),
        count(i),
        faulted(i),
        count(n),
        faulted(n)
    ))
}
