//! An app node: one application process with its in-process L1, the clients (Jepsen processes)
//! that run on it, and the handles a protocol uses — `App` is what protocol code is written
//! against.

use crate::db::{DbReq, Row};
use crate::event::{ModelEvent, RemoveCause, Tier};
use crate::protocol::{DynProtocol, Invalidation, OpError};
use crate::redis::SetOpts;
use crate::redis_node::{RedisReq, RedisResp};
use crate::store::{Entry, TierStore};
use crate::system::{CacheOp, SystemConfig, DB_NODE, REDIS_NODE};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiersim_sim::clock::{sim_now_ns, NodeClock};
use tiersim_sim::history::{EventType, OpFn, OpValue, Recorder};
use tiersim_sim::net::{Net, NetError};
use tiersim_sim::schedule::Schedule;

/// Requests one app node sends another.
#[derive(Clone, Debug)]
pub enum AppReq {
    /// Deliver an invalidation to the peer's protocol and acknowledge when it is handled.
    Invalidate(Invalidation),
}

struct AppNode {
    net: Net,
    clock: NodeClock,
    l1: Arc<Mutex<TierStore>>,
    peers: Vec<String>,
    recorder: Recorder<ModelEvent>,
    config: SystemConfig,
}

/// The context a protocol method runs in: this app node's handles, and the client operation
/// being served (none inside an invalidation handler).
#[derive(Clone)]
pub struct App {
    node: Rc<AppNode>,
    op: Option<u64>,
}

impl App {
    /// This app node's name (`app-0`, ...).
    pub fn name(&self) -> &str {
        self.node.net.name()
    }

    /// The node's local clock in nanoseconds (skewed by the fault plan like a real host's).
    pub fn now_ns(&self) -> u64 {
        self.node.clock.now_ns()
    }

    /// The system's configuration (TTLs, timeouts).
    pub fn config(&self) -> &SystemConfig {
        &self.node.config
    }

    /// The other app nodes, in name order.
    pub fn peers(&self) -> &[String] {
        &self.node.peers
    }

    /// Sleep on the simulated clock.
    pub async fn sleep(&self, d: Duration) {
        madsim::time::sleep(d).await
    }

    /// A fresh entry filled now on this node's clock, expiring after `ttl_ns` (None: never).
    pub fn entry(&self, row: Row, ttl_ns: Option<u64>) -> Entry {
        let now = self.now_ns();
        Entry {
            value: row.value,
            version: row.version,
            filled_at_ns: now,
            expires_at_ns: ttl_ns.map(|t| now + t),
            tags: Default::default(),
        }
    }

    pub fn l1(&self) -> L1<'_> {
        L1 { app: self }
    }

    pub fn redis(&self) -> RedisClient<'_> {
        RedisClient { app: self }
    }

    pub fn db(&self) -> DbClient<'_> {
        DbClient { app: self }
    }

    fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.node.config.rpc_timeout_ms)
    }

    /// Invalidate `peer`'s L1 through its protocol handler and wait for its acknowledgement.
    pub async fn invalidate_peer(&self, peer: &str, inv: Invalidation) -> Result<(), NetError> {
        self.node
            .net
            .call::<AppReq, ()>(peer, AppReq::Invalidate(inv), self.rpc_timeout())
            .await
    }

    /// Send `peer` an invalidation without waiting (at most once: it may be lost).
    pub async fn notify_peer(&self, peer: &str, inv: Invalidation) -> Result<(), NetError> {
        self.node.net.send(peer, inv).await
    }
}

/// This process's in-memory L1. Every change is recorded for the checkers.
pub struct L1<'a> {
    app: &'a App,
}

impl L1<'_> {
    fn record(&self, event: ModelEvent) {
        self.app.node.recorder.internal(event);
    }

    fn removed(&self, key: &str, version: u64, cause: RemoveCause) {
        self.record(ModelEvent::Remove {
            node: self.app.name().to_string(),
            tier: Tier::L1,
            key: key.to_string(),
            version,
            cause,
        });
    }

    /// A live entry (an expired one is dropped on the way, as lazy expiry does).
    pub fn get(&self, key: &str) -> Option<Entry> {
        let now = self.app.now_ns();
        let (stored, hit) = {
            let mut l1 = self.app.node.l1.lock().unwrap();
            let stored = l1.peek_any(key).map(|e| e.version);
            (stored, l1.get(key, now))
        };
        if let (None, Some(version)) = (&hit, stored) {
            self.removed(key, version, RemoveCause::Expire);
        }
        hit
    }

    /// The version floor of `key` (0 if none).
    pub fn floor(&self, key: &str) -> u64 {
        self.app.node.l1.lock().unwrap().floor(key)
    }

    /// Store `entry`, evicting least-recently-used entries beyond capacity.
    pub fn fill(&self, key: &str, entry: Entry) {
        let version = entry.version;
        let expires_at_ns = entry
            .expires_at_ns
            .map(|t| self.app.node.clock.to_global_ns(t));
        let evicted = self.app.node.l1.lock().unwrap().insert(key, entry);
        self.record(ModelEvent::Fill {
            node: self.app.name().to_string(),
            tier: Tier::L1,
            key: key.to_string(),
            version,
            expires_at_ns,
        });
        for (k, e) in evicted {
            self.removed(&k, e.version, RemoveCause::Evict);
        }
    }

    /// Store `entry` unless it is below the key's floor or older than what is cached; returns
    /// whether it was stored.
    pub fn fill_if_newer(&self, key: &str, entry: Entry) -> bool {
        let now = self.app.now_ns();
        let (floor, current) = {
            let l1 = self.app.node.l1.lock().unwrap();
            (l1.floor(key), l1.peek(key, now).map(|e| e.version))
        };
        if entry.version < floor || current.is_some_and(|c| c >= entry.version) {
            self.record(ModelEvent::Refuse {
                node: self.app.name().to_string(),
                tier: Tier::L1,
                key: key.to_string(),
                version: entry.version,
                floor_version: floor.max(current.unwrap_or(0)),
            });
            return false;
        }
        self.fill(key, entry);
        true
    }

    /// Raise the floor of `key` to `version` and drop any entry below it.
    pub fn invalidate(&self, key: &str, version: u64) {
        let removed = {
            let mut l1 = self.app.node.l1.lock().unwrap();
            l1.raise_floor(key, version);
            if l1.peek_any(key).is_some_and(|e| e.version < version) {
                l1.remove(key)
            } else {
                None
            }
        };
        self.record(ModelEvent::Floor {
            node: self.app.name().to_string(),
            tier: Tier::L1,
            key: key.to_string(),
            version,
        });
        if let Some(e) = removed {
            self.removed(key, e.version, RemoveCause::Invalidate);
        }
    }

    /// Drop `key` whatever its version.
    pub fn remove(&self, key: &str) {
        let removed = self.app.node.l1.lock().unwrap().remove(key);
        if let Some(e) = removed {
            self.removed(key, e.version, RemoveCause::Delete);
        }
    }
}

/// A Redis client on this app node.
pub struct RedisClient<'a> {
    app: &'a App,
}

impl RedisClient<'_> {
    async fn call(&self, req: RedisReq) -> Result<RedisResp, OpError> {
        let resp = self
            .app
            .node
            .net
            .call::<RedisReq, RedisResp>(REDIS_NODE, req, self.app.rpc_timeout())
            .await?;
        match resp {
            RedisResp::Error(e) => Err(OpError::Failed(format!("redis: {e}"))),
            ok => Ok(ok),
        }
    }

    /// GET: the entry and its remaining TTL in ms (-1: none).
    pub async fn get(&self, key: &str) -> Result<Option<(Entry, i64)>, OpError> {
        match self.call(RedisReq::Get { key: key.into() }).await? {
            RedisResp::Entry(e) => Ok(e),
            other => panic!("tiersim bug: GET answered {other:?}"),
        }
    }

    /// SET with options; false when NX/XX was not met.
    pub async fn set(&self, key: &str, entry: Entry, opts: SetOpts) -> Result<bool, OpError> {
        self.bool(RedisReq::Set {
            key: key.into(),
            entry,
            opts,
        })
        .await
    }

    pub async fn del(&self, key: &str) -> Result<bool, OpError> {
        self.bool(RedisReq::Del { key: key.into() }).await
    }

    /// Version-gated fill (a Lua script in production): refused below the key's floor.
    pub async fn fill_if_newer(
        &self,
        key: &str,
        entry: Entry,
        opts: SetOpts,
    ) -> Result<bool, OpError> {
        self.bool(RedisReq::FillIfNewer {
            key: key.into(),
            entry,
            opts,
        })
        .await
    }

    /// Raise the key's floor and drop anything cached below it (a Lua script in production).
    pub async fn invalidate(&self, key: &str, version: u64) -> Result<(), OpError> {
        self.bool(RedisReq::Invalidate {
            key: key.into(),
            version,
        })
        .await
        .map(|_| ())
    }

    async fn bool(&self, req: RedisReq) -> Result<bool, OpError> {
        match self.call(req).await? {
            RedisResp::Bool(b) => Ok(b),
            other => panic!("tiersim bug: expected a boolean reply, got {other:?}"),
        }
    }
}

/// A database client on this app node.
pub struct DbClient<'a> {
    app: &'a App,
}

impl DbClient<'_> {
    pub async fn read(&self, key: &str) -> Result<Row, OpError> {
        let t = self.app.rpc_timeout();
        Ok(self
            .app
            .node
            .net
            .call::<DbReq, Row>(DB_NODE, DbReq::Read { key: key.into() }, t)
            .await?)
    }

    /// Commit a write; a timeout is indeterminate (it may have committed).
    pub async fn write(&self, key: &str, value: Option<i64>) -> Result<Row, OpError> {
        let op = self
            .app
            .op
            .expect("tiersim bug: a database write outside a client operation");
        let t = self.app.rpc_timeout();
        Ok(self
            .app
            .node
            .net
            .call::<DbReq, Row>(
                DB_NODE,
                DbReq::Write {
                    key: key.into(),
                    value,
                    op,
                },
                t,
            )
            .await?)
    }
}

/// The app node's main task: an empty L1 (memory is lost on restart), the invalidation
/// handlers, and the clients of the processes that live here.
pub async fn serve(
    net: Net,
    recorder: Recorder<ModelEvent>,
    config: SystemConfig,
    peers: Vec<String>,
    l1: Arc<Mutex<TierStore>>,
    protocol: Arc<dyn DynProtocol>,
    schedule: Arc<Schedule<CacheOp>>,
    processes: Vec<u64>,
) {
    let name = net.name().to_string();
    l1.lock().unwrap().clear();
    recorder.internal(ModelEvent::Start { node: name.clone() });
    let node = Rc::new(AppNode {
        clock: net.ctx().clocks.node(&name),
        net: net.clone(),
        l1,
        peers,
        recorder,
        config,
    });
    let app = App {
        node: node.clone(),
        op: None,
    };

    let (a, p) = (app.clone(), protocol.clone());
    net.serve(move |req: AppReq, _from| {
        let (a, p) = (a.clone(), p.clone());
        async move {
            match req {
                AppReq::Invalidate(inv) => p.on_invalidation(&a, inv).await,
            }
            Some(())
        }
    });
    let (a, p, n) = (app.clone(), protocol.clone(), net.clone());
    madsim::task::spawn_local(async move {
        loop {
            let (inv, _from) = n.recv::<Invalidation>().await;
            p.on_invalidation(&a, inv).await;
        }
    });

    let started_ns = sim_now_ns();
    let mut clients = Vec::new();
    for process in processes {
        let ops: Vec<_> = schedule
            .ops_of(process)
            .into_iter()
            // A restarted node does not replay what it missed while down.
            .filter(|o| started_ns == 0 || o.at_ns >= started_ns)
            .map(|o| (o.at_ns, o.op.clone()))
            .collect();
        let (node, protocol) = (node.clone(), protocol.clone());
        clients.push(madsim::task::spawn_local(async move {
            for (at_ns, op) in ops {
                let now = sim_now_ns();
                if at_ns > now {
                    madsim::time::sleep(Duration::from_nanos(at_ns - now)).await;
                }
                run_op(&node, &*protocol, process, op).await;
            }
        }));
    }
    for c in clients {
        let _ = c.await;
    }
    std::future::pending::<()>().await
}

/// Run one client operation and record its invoke and completion.
async fn run_op(node: &Rc<AppNode>, protocol: &dyn DynProtocol, process: u64, op: CacheOp) {
    let (f, key, value) = match &op {
        CacheOp::Read { key } => (OpFn::Read, key.clone(), OpValue::Single(None)),
        CacheOp::Write { key, value } => (OpFn::Write, key.clone(), OpValue::Single(Some(*value))),
        CacheOp::Delete { key } => (OpFn::Delete, key.clone(), OpValue::Single(None)),
    };
    let id = node.recorder.invoke(process, f, &key, value);
    let app = App {
        node: node.clone(),
        op: Some(id),
    };
    let fut = async {
        match &op {
            CacheOp::Read { key } => protocol.read(&app, key).await,
            CacheOp::Write { key, value } => protocol.write(&app, key, *value).await,
            CacheOp::Delete { key } => protocol.delete(&app, key).await,
        }
    };
    let timeout = Duration::from_millis(node.config.op_timeout_ms);
    let result = match madsim::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(OpError::Indeterminate("operation timed out".into())),
    };
    match result {
        Ok(row) => {
            let v = if f == OpFn::Read {
                OpValue::Single(row.value)
            } else {
                value
            };
            node.recorder
                .complete(id, EventType::Ok, v, Some(row.version));
        }
        Err(OpError::Failed(_)) => node.recorder.complete(id, EventType::Fail, value, None),
        Err(OpError::Indeterminate(_)) => node.recorder.complete(id, EventType::Info, value, None),
    }
}
