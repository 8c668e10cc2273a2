//! The `tracing` events of one run, stamped with sim time and the node that logged them.
//!
//! A protocol is service code, and service code logs: `tracing::info!(key, "refill")` inside a
//! protocol method should show up where a person reads the run (`run --trace`, a failing
//! test's message), at the simulated instant and on the simulated process it happened on. Each
//! run installs a [`RunLog`] as the thread's default subscriber (runs have threads of their
//! own, so nothing leaks between runs) and hands its lines back with the result.
//!
//! It is a subscriber of its own rather than a `tracing-subscriber` layer stack because it
//! needs no span bookkeeping: madsim knows which node the current task belongs to, and the
//! `World` knows that node's name. Spans are never enabled, so madsim's per-poll task spans
//! cost nothing. madsim's own events are left out. The lines are not part of the history, so
//! logging never changes a trace hash; they are kept up to [`MAX_LINES`] a run, and the
//! number left out past that is reported, not dropped silently.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// The most lines one run keeps.
pub const MAX_LINES: usize = 10_000;

/// One logged event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Global sim time, nanoseconds.
    pub time_ns: u64,
    /// The node it was logged on (`app-3`, `db`, ...).
    pub node: String,
    pub level: tracing::Level,
    /// The module that logged it (`our_cache::protocol`).
    pub target: String,
    /// The message and its fields, `message key=value ...`.
    pub text: String,
}

impl std::fmt::Display for LogLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (s, ms) = (self.time_ns / 1_000_000_000, (self.time_ns / 1_000) % 1_000_000);
        write!(f, "t={s}.{ms:06}s {} {:>5} {}: {}", self.node, self.level, self.target, self.text)
    }
}

/// What a run logged: its lines in order, and how many were left out past [`MAX_LINES`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logs {
    pub lines: Vec<LogLine>,
    pub dropped: u64,
}

/// The subscriber of one run.
#[derive(Clone, Default)]
pub struct RunLog {
    logs: Arc<Mutex<Logs>>,
    names: Arc<Mutex<BTreeMap<madsim::task::NodeId, String>>>,
}

impl RunLog {
    /// Name node `id` in the lines it logs.
    pub fn name_node(&self, id: madsim::task::NodeId, name: &str) {
        self.names.lock().unwrap().insert(id, name.to_string());
    }

    /// Everything logged so far.
    pub fn take(&self) -> Logs {
        std::mem::take(&mut *self.logs.lock().unwrap())
    }
}

fn wanted(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && !metadata.target().starts_with("madsim")
}

impl Subscriber for RunLog {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if wanted(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        wanted(metadata)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        // Never called: no span is enabled. An id is still owed.
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut text = Fields::default();
        event.record(&mut text);
        let node = self
            .names
            .lock()
            .unwrap()
            .get(&madsim::plugin::node())
            .cloned()
            .unwrap_or_else(|| "main".to_string());
        let metadata = event.metadata();
        let mut logs = self.logs.lock().unwrap();
        if logs.lines.len() >= MAX_LINES {
            logs.dropped += 1;
            return;
        }
        logs.lines.push(LogLine {
            time_ns: crate::clock::sim_now_ns(),
            node,
            level: *metadata.level(),
            target: metadata.target().to_string(),
            text: text.0,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's fields as `message k=v k=v`.
#[derive(Default)]
struct Fields(String);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format_args!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = self.0.write_fmt(value);
        } else {
            let _ = write!(self.0, "{}={value}", field.name());
        }
    }
}
