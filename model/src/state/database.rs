//! The database of record as data: a versioned key-value store. Every committed write or delete
//! gets the next per-key version; its commit log is the ground truth every checker reads. The
//! rows live outside any node's memory (they are durable), so a restart of the database node
//! loses nothing committed. `node::db` serves them over the network.

use crate::event::ModelEvent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tiersim_sim::history::Recorder;

/// A row as the database holds it: `value` None is absent (never written, or deleted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub value: Option<i64>,
    pub version: u64,
}

/// A row as a reader received it, with the instant the database (or replica) served it: the
/// origin of every cached copy made from it, so checkers know how old cached data is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Data {
    pub value: Option<i64>,
    pub version: u64,
    /// Global sim time at which it was read (checker metadata).
    pub origin_ns: u64,
}

impl Data {
    pub fn row(&self) -> Row {
        Row { value: self.value, version: self.version }
    }

    /// The data of a cached entry.
    pub fn of(entry: &crate::state::store::Entry) -> Data {
        Data { value: entry.value, version: entry.version, origin_ns: entry.origin_ns }
    }
}

/// One committed change, as the change stream (CDC) carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub version: u64,
    pub value: Option<i64>,
}

/// How the change stream reaches its consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CdcMode {
    /// Fire and forget: a change sent into a partition or lost packet is gone.
    AtMostOnce,
    /// Sent until acknowledged, in commit order per key.
    AtLeastOnce,
}

/// The durable state: current rows.
#[derive(Clone, Debug, Default)]
pub struct Database {
    rows: Arc<Mutex<BTreeMap<String, Row>>>,
    /// Reads answered by the database and its replicas: a cost figure, never in the trace.
    reads: Arc<std::sync::atomic::AtomicU64>,
}

impl Database {
    /// The counter of reads answered (the primary's and every replica's).
    pub fn read_counter(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.reads.clone()
    }

    /// Reads answered so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn row(&self, key: &str) -> Row {
        self.rows.lock().unwrap().get(key).copied().unwrap_or_default()
    }

    /// Every row, in key order.
    pub fn rows(&self) -> BTreeMap<String, Row> {
        self.rows.lock().unwrap().clone()
    }

    /// Commit `value` (None: delete) as the key's next version and record it.
    pub(crate) fn commit(
        &self,
        key: &str,
        value: Option<i64>,
        op: u64,
        recorder: &Recorder<ModelEvent>,
    ) -> Row {
        let mut rows = self.rows.lock().unwrap();
        let row = rows.entry(key.to_string()).or_default();
        row.version += 1;
        row.value = value;
        recorder.internal(ModelEvent::Commit { key: key.to_string(), version: row.version, value, op });
        *row
    }
}
