//! Each history event in words: where it happened, what it was, and the version it put in or
//! found at a tier.
//!
//! The page's table of events around the violation and `tiersim run --trace` both describe
//! events with this, so a log line and a table row about the same event read alike.

use super::collect::{fault_row, value_text, Op};
use super::text::ms;
use std::collections::BTreeMap;
use tiersim_model::event::{ModelEvent, RemoveCause};
use tiersim_sim::history::{Event, EventType, OpFn};

/// Where an event happened, what it was, and the version it put or found in a tier (for
/// marking stale rows).
pub(super) fn describe(e: &Event<ModelEvent>, ops: &BTreeMap<u64, &Op>) -> (String, String, Option<u64>) {
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
            ModelEvent::Commit { key, version, value, op } => (
                "db".into(),
                format!(
                    "commit {key} v{version} ({}) for op {op}",
                    value.map_or("delete".to_string(), |v| format!("value {v}"))
                ),
                None,
            ),
            ModelEvent::Replicate { node, key, version } => {
                (node.clone(), format!("replica applied {key} v{version}"), None)
            }
            ModelEvent::Fill { node, tier, key, version, origin_ns, op, .. } => (
                format!("{node}/{tier}"),
                format!(
                    "fill {key} v{version}{} (data read from the database at {})",
                    op.map_or(String::new(), |o| format!(" for op {o}")),
                    ms(*origin_ns)
                ),
                Some(*version),
            ),
            ModelEvent::Refuse { node, tier, key, version, floor_version } => (
                format!("{node}/{tier}"),
                format!("refused a fill of {key} v{version} (floor v{floor_version})"),
                None,
            ),
            ModelEvent::Remove { node, tier, key, version, cause } => (
                format!("{node}/{tier}"),
                format!(
                    "remove {key} v{version} ({})",
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
            ModelEvent::Floor { node, tier, key, version } => (
                format!("{node}/{tier}"),
                format!("{key} floor raised to v{version} (invalidation arrived)"),
                None,
            ),
            ModelEvent::Serve { node, tier, key, version, op, .. } => (
                format!("{node}/{tier}"),
                format!("served {key} v{version}{}", op.map_or(String::new(), |o| format!(" to op {o}"))),
                Some(*version),
            ),
            ModelEvent::TagInvalidate { node, tier, tag } => {
                (format!("{node}/{tier}"), format!("tag {tag} invalidated"), None)
            }
            ModelEvent::Start { node } => (node.clone(), "started".into(), None),
            ModelEvent::Promote { node, restored } => (
                node.clone(),
                format!(
                    "started as its promoted replica, which restored {} key{}: {}",
                    restored.len(),
                    if restored.len() == 1 { "" } else { "s" },
                    restored.iter().map(|(k, v)| format!("{k} v{v}")).collect::<Vec<_>>().join(", ")
                ),
                None,
            ),
            ModelEvent::Disconnect { node, server, conn, cause } => (
                node.clone(),
                format!("connection {conn} to {server} dropped ({cause}): its subscriptions are gone"),
                None,
            ),
        },
        Event::Fault { fault, .. } => {
            let (row, _, text) = fault_row(fault);
            ("fault".into(), format!("{row}: {text}"), None)
        }
    }
}
