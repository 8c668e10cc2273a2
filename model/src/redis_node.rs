//! The Redis node: a `RedisStore` of cache entries behind typed requests, plus the version-gated
//! commands that correct protocols run as Lua scripts in production (`fill_if_newer`,
//! `invalidate`), which keep a per-key version floor in a second keyspace so it outlives the entry.
//!
//! The node reads its own clock (skew applies) and keeps its data in memory: a restart empties it.

use crate::event::{ModelEvent, RemoveCause, Tier};
use crate::redis::{RedisStore, SetOpts};
use crate::store::Entry;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use tiersim_sim::clock::NodeClock;
use tiersim_sim::history::Recorder;
use tiersim_sim::net::Net;

#[derive(Clone, Debug)]
pub enum RedisReq {
    Get {
        key: String,
    },
    Set {
        key: String,
        entry: Entry,
        opts: SetOpts,
    },
    Del {
        key: String,
    },
    Pttl {
        key: String,
    },
    /// Store `entry` with expiry `opts` unless the key's floor is above its version or a newer
    /// version is cached (script semantics).
    FillIfNewer {
        key: String,
        entry: Entry,
        opts: SetOpts,
    },
    /// Raise the key's floor to `version` and drop any cached entry below it (script semantics).
    Invalidate {
        key: String,
        version: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisResp {
    /// GET: the entry and its PTTL in ms (-1: no TTL).
    Entry(Option<(Entry, i64)>),
    Bool(bool),
    Int(i64),
    Error(String),
}

/// What the checkers and the quiet phase can see of the Redis node from outside.
#[derive(Clone, Default)]
pub struct RedisShared {
    pub data: Arc<Mutex<Option<RedisStore<Entry>>>>,
}

struct RedisState {
    data: RedisStore<Entry>,
    floors: std::collections::BTreeMap<String, u64>,
    clock: NodeClock,
    node: String,
    recorder: Recorder<ModelEvent>,
    shared: RedisShared,
}

impl RedisState {
    fn now_ms(&self) -> u64 {
        self.clock.now_ns() / 1_000_000
    }

    fn publish(&self) {
        *self.shared.data.lock().unwrap() = Some(self.data.clone());
    }

    fn fill_event(&mut self, key: &str, entry: &Entry) {
        let now_ms = self.now_ms();
        let pttl = self.data.pttl(key, now_ms);
        // Redis keeps a key alive through its expire millisecond and drops it after.
        let expires_at_ns = (pttl >= 0).then(|| {
            self.clock
                .to_global_ns((now_ms + pttl as u64 + 1) * 1_000_000)
        });
        self.recorder.internal(ModelEvent::Fill {
            node: self.node.clone(),
            tier: Tier::Redis,
            key: key.to_string(),
            version: entry.version,
            expires_at_ns,
        });
    }

    fn remove_event(&self, key: &str, version: u64, cause: RemoveCause) {
        self.recorder.internal(ModelEvent::Remove {
            node: self.node.clone(),
            tier: Tier::Redis,
            key: key.to_string(),
            version,
            cause,
        });
    }

    fn live(&mut self, key: &str) -> Option<Entry> {
        let now_ms = self.now_ms();
        let had = self.data.peek_any(key);
        let got = self.data.get(key, now_ms);
        if got.is_none() {
            if let Some(old) = had {
                self.remove_event(key, old.version, RemoveCause::Expire);
            }
        }
        got
    }

    fn handle(&mut self, req: RedisReq) -> RedisResp {
        let now_ms = self.now_ms();
        let resp = match req {
            RedisReq::Get { key } => match self.live(&key) {
                Some(e) => RedisResp::Entry(Some((e, self.data.pttl(&key, now_ms)))),
                None => RedisResp::Entry(None),
            },
            RedisReq::Set { key, entry, opts } => {
                let old = self.live(&key);
                match self.data.set(&key, entry.clone(), &opts, now_ms) {
                    Ok(true) => {
                        if let Some(old) = old {
                            self.remove_event(&key, old.version, RemoveCause::Invalidate);
                        }
                        self.fill_event(&key, &entry);
                        RedisResp::Bool(true)
                    }
                    Ok(false) => RedisResp::Bool(false),
                    Err(e) => RedisResp::Error(e.to_string()),
                }
            }
            RedisReq::Del { key } => {
                let old = self.live(&key);
                let removed = self.data.del(&key, now_ms);
                if let (true, Some(old)) = (removed, old) {
                    self.remove_event(&key, old.version, RemoveCause::Delete);
                }
                RedisResp::Bool(removed)
            }
            RedisReq::Pttl { key } => {
                self.live(&key);
                RedisResp::Int(self.data.pttl(&key, now_ms))
            }
            RedisReq::FillIfNewer { key, entry, opts } => {
                let floor = self.floors.get(&key).copied().unwrap_or(0);
                let current = self.live(&key);
                if entry.version < floor
                    || current.as_ref().is_some_and(|c| c.version >= entry.version)
                {
                    self.recorder.internal(ModelEvent::Refuse {
                        node: self.node.clone(),
                        tier: Tier::Redis,
                        key: key.clone(),
                        version: entry.version,
                        floor_version: floor.max(current.map_or(0, |c| c.version)),
                    });
                    RedisResp::Bool(false)
                } else {
                    match self.data.set(&key, entry.clone(), &opts, now_ms) {
                        Ok(_) => {
                            if let Some(old) = current {
                                self.remove_event(&key, old.version, RemoveCause::Invalidate);
                            }
                            self.fill_event(&key, &entry);
                            RedisResp::Bool(true)
                        }
                        Err(e) => RedisResp::Error(e.to_string()),
                    }
                }
            }
            RedisReq::Invalidate { key, version } => {
                let floor = self.floors.entry(key.clone()).or_insert(0);
                *floor = (*floor).max(version);
                self.recorder.internal(ModelEvent::Floor {
                    node: self.node.clone(),
                    tier: Tier::Redis,
                    key: key.clone(),
                    version,
                });
                if let Some(old) = self.live(&key) {
                    if old.version < version {
                        self.data.del(&key, now_ms);
                        self.remove_event(&key, old.version, RemoveCause::Invalidate);
                    }
                }
                RedisResp::Bool(true)
            }
        };
        self.publish();
        resp
    }
}

/// The Redis node's main task. Active expiry runs every 100 ms of the node's clock, as Redis's
/// `hz 10` does (deterministically: every due key, not a random sample).
pub async fn serve(net: Net, recorder: Recorder<ModelEvent>, shared: RedisShared) {
    let node = net.name().to_string();
    recorder.internal(ModelEvent::Start { node: node.clone() });
    let state = Rc::new(RefCell::new(RedisState {
        data: RedisStore::new(),
        floors: Default::default(),
        clock: net.ctx().clocks.node(&node),
        node,
        recorder,
        shared,
    }));
    state.borrow().publish();
    let s = state.clone();
    net.serve(move |req: RedisReq, _from| {
        let resp = s.borrow_mut().handle(req);
        async move { Some(resp) }
    });
    loop {
        madsim::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut st = state.borrow_mut();
        let now_ms = st.now_ms();
        let snapshot = st.data.clone();
        for key in st.data.active_expire(now_ms) {
            let version = snapshot.peek_any(&key).map_or(0, |e| e.version);
            st.remove_event(&key, version, RemoveCause::Expire);
        }
        st.publish();
    }
}
