//! `value-integrity`, checked on every run whatever the protocol claims: every ok read returns
//! the value the database committed with the version the read reports (absent for a delete's
//! version and for version 0, the initial absent state), and a read of a version the database
//! never committed is the protocol's lie, reported with the facts that show it.
//!
//! No protocol can disclaim it: the other invariants reason about versions only, so a protocol
//! that reports the right version with a wrong value (a cache that kept a value whose commit
//! timed out, under a version a later write does commit) would otherwise pass them all.

use crate::check::{secs, OpRecord, Violation};
use crate::event::ModelEvent;
use crate::protocol::Invariant;
use std::collections::BTreeMap;
use tiersim_sim::history::{Event, EventType, History, OpFn};

/// One key's commits: version -> (commit instant, committed value; `None` for a delete).
pub type KeyCommits = BTreeMap<u64, (u64, Option<i64>)>;

/// Every key's commits, from the database's commit log in the history.
pub fn committed_values(history: &History<ModelEvent>) -> BTreeMap<String, KeyCommits> {
    let mut out: BTreeMap<String, KeyCommits> = BTreeMap::new();
    for e in &history.events {
        if let Event::Internal { time_ns, event: ModelEvent::Commit { key, version, value, .. } } = e {
            out.entry(key.clone()).or_default().insert(*version, (*time_ns, *value));
        }
    }
    out
}

/// Who answered each read, as the last tier that served the operation (for the facts).
fn servers(history: &History<ModelEvent>) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    for e in &history.events {
        if let Event::Internal { event: ModelEvent::Serve { node, tier, op: Some(op), .. }, .. } = e {
            out.insert(*op, format!("{node}/{tier}"));
        }
    }
    out
}

fn show(value: Option<i64>) -> String {
    value.map_or_else(|| "absent".to_string(), |v| v.to_string())
}

/// `value-integrity` over every ok read of the run.
pub fn check_value_integrity(history: &History<ModelEvent>, ops: &BTreeMap<u64, OpRecord>) -> Vec<Violation> {
    let commits = committed_values(history);
    let servers = servers(history);
    let mut out = Vec::new();
    for r in ops.values() {
        if r.f != OpFn::Read || r.outcome != Some(EventType::Ok) {
            continue;
        }
        let (Some(complete_ns), version) = (r.complete_ns, r.version.unwrap_or(0)) else { continue };
        let who = servers
            .get(&r.op)
            .map_or_else(|| format!("p{}", r.process), |s| format!("p{} (from {s})", r.process));
        let key_commits = commits.get(&r.key);
        let message = if version == 0 {
            // The initial state: nothing was ever committed under version 0.
            match r.value {
                None => continue,
                Some(v) => format!(
                    "read op {} by {who} returned {v} as v0 of {}; v0 is the initial absent state",
                    r.op, r.key
                ),
            }
        } else {
            match key_commits.and_then(|c| c.get(&version)) {
                Some((_, committed)) if *committed == r.value => continue,
                Some((at, committed)) => format!(
                    "read op {} by {who} returned {} as v{version} of {}; the database committed {} as v{version} at t={}",
                    r.op,
                    show(r.value),
                    r.key,
                    show(*committed),
                    secs(*at)
                ),
                None => {
                    let latest = key_commits
                        .and_then(|c| c.range(..=version).next_back())
                        .map_or_else(
                            || "it had committed nothing for the key".to_string(),
                            |(v, (at, _))| format!("its latest commit below it was v{v} at t={}", secs(*at)),
                        );
                    format!(
                        "read op {} by {who} returned v{version} of {} at t={}; the database never committed v{version}; {latest}",
                        r.op,
                        r.key,
                        secs(complete_ns)
                    )
                }
            }
        };
        out.push(Violation {
            invariant: Invariant::ValueIntegrity.name().into(),
            key: r.key.clone(),
            time_ns: complete_ns,
            message,
        });
    }
    out
}
