//! The database of record: a versioned key-value store. Every committed write or delete gets the
//! next per-key version; its commit log is the ground truth every checker reads. Its state lives
//! outside the node's memory (it is durable), so a restart of the node loses nothing committed.

use crate::event::ModelEvent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tiersim_sim::history::Recorder;
use tiersim_sim::net::Net;

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
    pub fn of(entry: &crate::store::Entry) -> Data {
        Data { value: entry.value, version: entry.version, origin_ns: entry.origin_ns }
    }
}

fn served(row: Row) -> Data {
    Data { value: row.value, version: row.version, origin_ns: tiersim_sim::clock::sim_now_ns() }
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

/// Requests the database node answers.
#[derive(Clone, Debug)]
pub enum DbReq {
    Read {
        key: String,
    },
    /// Commit `value` (None: delete) for client operation `op`.
    Write {
        key: String,
        value: Option<i64>,
        op: u64,
    },
}

/// The durable state: current rows.
#[derive(Clone, Debug, Default)]
pub struct Database {
    rows: Arc<Mutex<BTreeMap<String, Row>>>,
}

impl Database {
    pub fn row(&self, key: &str) -> Row {
        self.rows.lock().unwrap().get(key).copied().unwrap_or_default()
    }

    /// Every row, in key order.
    pub fn rows(&self) -> BTreeMap<String, Row> {
        self.rows.lock().unwrap().clone()
    }

    fn commit(&self, key: &str, value: Option<i64>, op: u64, recorder: &Recorder<ModelEvent>) -> Row {
        let mut rows = self.rows.lock().unwrap();
        let row = rows.entry(key.to_string()).or_default();
        row.version += 1;
        row.value = value;
        recorder.internal(ModelEvent::Commit { key: key.to_string(), version: row.version, value, op });
        *row
    }

    /// The database node's main task: answer reads and commits until the node dies, and
    /// publish every commit on the change stream to `subscribers` (read replicas, the
    /// invalidation daemon) in `mode`.
    pub async fn serve(
        self,
        net: Net,
        recorder: Recorder<ModelEvent>,
        subscribers: Vec<String>,
        mode: CdcMode,
        retry: std::time::Duration,
    ) {
        // One queue per subscriber keeps the stream in commit order.
        let mut queues = Vec::new();
        for sub in subscribers {
            let (tx, mut rx) = futures_channel::mpsc::unbounded::<Change>();
            queues.push(tx);
            let net = net.clone();
            madsim::task::spawn_local(async move {
                use futures_util::StreamExt;
                while let Some(change) = rx.next().await {
                    match mode {
                        CdcMode::AtMostOnce => {
                            let _ = net.send(&sub, change).await;
                        }
                        CdcMode::AtLeastOnce => {
                            while net.call::<Change, ()>(&sub, change.clone(), retry).await.is_err() {}
                        }
                    }
                }
            });
        }
        net.serve(move |req: DbReq, _from| {
            let db = self.clone();
            let recorder = recorder.clone();
            let queues = queues.clone();
            async move {
                Some(match req {
                    DbReq::Read { key } => served(db.row(&key)),
                    DbReq::Write { key, value, op } => {
                        let row = db.commit(&key, value, op, &recorder);
                        for q in &queues {
                            let _ =
                                q.unbounded_send(Change { key: key.clone(), version: row.version, value });
                        }
                        served(row)
                    }
                })
            }
        });
        std::future::pending::<()>().await
    }
}

/// A read replica: applies the change stream after a lag, serves (possibly stale) reads.
/// Its data is in memory: a restart empties it until the stream refills it.
pub async fn serve_replica(net: Net, recorder: Recorder<ModelEvent>, lag: std::time::Duration) {
    let rows: std::rc::Rc<std::cell::RefCell<BTreeMap<String, Row>>> = Default::default();
    let r = rows.clone();
    net.serve(move |req: DbReq, _from| {
        let row = match req {
            DbReq::Read { key } => served(r.borrow().get(&key).copied().unwrap_or_default()),
            DbReq::Write { .. } => panic!("tiersim bug: a write sent to a read replica"),
        };
        async move { Some(row) }
    });
    let applied = rows.clone();
    let node = net.name().to_string();
    let apply = move |change: Change| {
        let mut rows = applied.borrow_mut();
        let row = rows.entry(change.key.clone()).or_default();
        if change.version > row.version {
            *row = Row { value: change.value, version: change.version };
            recorder.internal(ModelEvent::Replicate {
                node: node.clone(),
                key: change.key,
                version: change.version,
            });
        }
    };
    let apply = std::rc::Rc::new(apply);
    // Acknowledged deliveries (at-least-once) and one-way ones (at-most-once) both land here.
    let a = apply.clone();
    net.serve(move |change: Change, _from| {
        let a = a.clone();
        async move {
            madsim::time::sleep(lag).await;
            a(change);
            Some(())
        }
    });
    loop {
        let (change, _) = net.recv::<Change>().await;
        let a = apply.clone();
        madsim::task::spawn_local(async move {
            madsim::time::sleep(lag).await;
            a(change);
        });
    }
}
