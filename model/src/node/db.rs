//! The database node and its read replicas: the database of record (`state::database`) behind
//! typed requests, publishing every commit on the change stream (CDC) to its subscribers, and
//! replicas that apply that stream after a lag and serve possibly stale reads.

use crate::event::ModelEvent;
use crate::state::database::{CdcMode, Change, Data, Database, Row};
use std::collections::BTreeMap;
use tiersim_sim::history::Recorder;
use tiersim_sim::net::Net;

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

fn served(row: Row) -> Data {
    Data { value: row.value, version: row.version, origin_ns: tiersim_sim::clock::sim_now_ns() }
}

/// The database node's main task: answer reads and commits until the node dies, and
/// publish every commit on the change stream to `subscribers` (read replicas, the
/// invalidation daemon) in `mode`.
pub async fn serve(
    db: Database,
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
        let db = db.clone();
        let recorder = recorder.clone();
        let queues = queues.clone();
        async move {
            Some(match req {
                DbReq::Read { key } => {
                    db.read_counter().fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    served(db.row(&key))
                }
                DbReq::Write { key, value, op } => {
                    let row = db.commit(&key, value, op, &recorder);
                    for q in &queues {
                        let _ = q.unbounded_send(Change { key: key.clone(), version: row.version, value });
                    }
                    served(row)
                }
            })
        }
    });
    std::future::pending::<()>().await
}

/// A read replica: applies the change stream after a lag, serves (possibly stale) reads.
/// Its data is in memory: a restart empties it until the stream refills it.
/// `reads` counts the reads it answers (the database's cost figure).
pub async fn serve_replica(
    net: Net,
    recorder: Recorder<ModelEvent>,
    lag: std::time::Duration,
    reads: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let rows: std::rc::Rc<std::cell::RefCell<BTreeMap<String, Row>>> = Default::default();
    let r = rows.clone();
    net.serve(move |req: DbReq, _from| {
        let row = match req {
            DbReq::Read { key } => {
                reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                served(r.borrow().get(&key).copied().unwrap_or_default())
            }
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
