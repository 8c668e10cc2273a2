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
        self.rows
            .lock()
            .unwrap()
            .get(key)
            .copied()
            .unwrap_or_default()
    }

    /// Every row, in key order.
    pub fn rows(&self) -> BTreeMap<String, Row> {
        self.rows.lock().unwrap().clone()
    }

    fn commit(
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
        recorder.internal(ModelEvent::Commit {
            key: key.to_string(),
            version: row.version,
            value,
            op,
        });
        *row
    }

    /// The database node's main task: answer reads and commits until the node dies.
    pub async fn serve(self, net: Net, recorder: Recorder<ModelEvent>) {
        net.serve(move |req: DbReq, _from| {
            let db = self.clone();
            let recorder = recorder.clone();
            async move {
                Some(match req {
                    DbReq::Read { key } => db.row(&key),
                    DbReq::Write { key, value, op } => db.commit(&key, value, op, &recorder),
                })
            }
        });
        std::future::pending::<()>().await
    }
}
