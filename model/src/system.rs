//! The whole system under test for one run: the database of record, Redis, and the app nodes
//! with their L1s, driven through a schedule with its fault plan, then a quiet phase where
//! faults are healed and the healthy system must converge.

use crate::app;
use crate::db::{Database, Row};
use crate::event::ModelEvent;
use crate::protocol::DynProtocol;
use crate::redis::RedisStore;
use crate::redis_node::{self, RedisShared};
use crate::store::{Entry, TierStore};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiersim_sim::clock::sim_now_ns;
use tiersim_sim::fault::unhealed;
use tiersim_sim::history::{History, Recorder};
use tiersim_sim::net::Net;
use tiersim_sim::runtime::{self, Finished, RunConfig};
use tiersim_sim::schedule::Schedule;

pub const DB_NODE: &str = "db";
pub const REDIS_NODE: &str = "redis";

/// The name of app node `i`.
pub fn app_node(i: usize) -> String {
    format!("app-{i}")
}

/// A client operation of the schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum CacheOp {
    Read { key: String },
    Write { key: String, value: i64 },
    Delete { key: String },
}

impl CacheOp {
    pub fn key(&self) -> &str {
        match self {
            CacheOp::Read { key } | CacheOp::Write { key, .. } | CacheOp::Delete { key } => key,
        }
    }
}

/// The system's configuration. Every field is documented with its default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemConfig {
    /// App nodes (each one process image with an L1). Default 3.
    pub apps: usize,
    /// L1 TTL in ms. Default 200.
    pub l1_ttl_ms: u64,
    /// L1 capacity in entries. Default 1024.
    pub l1_capacity: usize,
    /// Redis TTL in ms. Default 500.
    pub redis_ttl_ms: u64,
    /// Timeout of one request (to Redis, the database, a peer). Default 50 ms.
    pub rpc_timeout_ms: u64,
    /// Budget of one client operation; past it the operation is indeterminate. Default 1000 ms.
    pub op_timeout_ms: u64,
    /// The largest clock skew the scenario's fault plan may set, in ms. Default 0.
    pub max_clock_skew_ms: u64,
    /// Quiet phase after the schedule: faults healed, no client operations. Default 3000 ms.
    pub quiet_ms: u64,
    /// Engine settings.
    pub run: RunConfig,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            apps: 3,
            l1_ttl_ms: 200,
            l1_capacity: 1024,
            redis_ttl_ms: 500,
            rpc_timeout_ms: 50,
            op_timeout_ms: 1000,
            quiet_ms: 3000,
            max_clock_skew_ms: 0,
            run: RunConfig::default(),
        }
    }
}

impl SystemConfig {
    /// The app node that hosts client `process`.
    pub fn app_of(&self, process: u64) -> usize {
        (process % self.apps as u64) as usize
    }
}

/// What every tier holds at the end of the quiet phase (live entries only).
#[derive(Clone, Debug, Default)]
pub struct FinalState {
    pub at_ns: u64,
    pub db: BTreeMap<String, Row>,
    /// (node, key) -> entry, over every L1 and Redis.
    pub tiers: BTreeMap<(String, String), (crate::event::Tier, Entry)>,
}

/// A finished run before judgement.
pub struct RunRecord {
    pub finished: Finished<FinalState>,
    pub history: History<ModelEvent>,
}

/// Run `schedule` against `protocol` in a fresh simulation seeded with `seed`.
pub fn run(
    seed: u64,
    config: &SystemConfig,
    schedule: &Schedule<CacheOp>,
    protocol: Arc<dyn DynProtocol>,
) -> RunRecord {
    let recorder: Recorder<ModelEvent> = Recorder::new();
    let rec = recorder.clone();
    let config2 = config.clone();
    let schedule = Arc::new(schedule.clone());
    let finished = runtime::run(seed, &config.run, move |mut world| async move {
        let config = config2;
        let db = Database::default();
        let (d, r) = (db.clone(), rec.clone());
        world.add_node(DB_NODE, move |ctx, name| {
            let (d, r) = (d.clone(), r.clone());
            async move { d.serve(Net::bind(&ctx, &name).await, r).await }
        });
        let redis = RedisShared::default();
        let (s, r) = (redis.clone(), rec.clone());
        world.add_node(REDIS_NODE, move |ctx, name| {
            let (s, r) = (s.clone(), r.clone());
            async move { redis_node::serve(Net::bind(&ctx, &name).await, r, s).await }
        });
        let names: Vec<String> = (0..config.apps).map(app_node).collect();
        let mut l1s = BTreeMap::new();
        for (i, name) in names.iter().enumerate() {
            let l1 = Arc::new(Mutex::new(TierStore::new(config.l1_capacity)));
            l1s.insert(name.clone(), l1.clone());
            let peers: Vec<String> = names.iter().filter(|n| *n != name).cloned().collect();
            let processes: Vec<u64> = schedule
                .processes()
                .into_iter()
                .filter(|p| config.app_of(*p) == i)
                .collect();
            let (r, c, p, s) = (
                rec.clone(),
                config.clone(),
                protocol.clone(),
                schedule.clone(),
            );
            world.add_node(name, move |ctx, name| {
                let (r, c, p, s) = (r.clone(), c.clone(), p.clone(), s.clone());
                let (peers, l1, processes) = (peers.clone(), l1.clone(), processes.clone());
                async move {
                    let net = Net::bind(&ctx, &name).await;
                    app::serve(net, r, c, peers, l1, p, s, processes).await
                }
            });
        }

        // The active phase: apply each fault at its time.
        let mut faults = schedule.faults.clone();
        faults.sort_by_key(|f| f.at_ns);
        for tf in &faults {
            sleep_until(tf.at_ns).await;
            world.apply(&tf.fault);
            rec.fault(tf.fault.clone());
        }
        sleep_until(schedule.end_ns).await;
        // The quiet phase: heal what is still broken, then let the system settle.
        for fault in unhealed(&faults) {
            world.apply(&fault);
            rec.fault(fault);
        }
        madsim::time::sleep(Duration::from_millis(config.quiet_ms)).await;

        let at_ns = sim_now_ns();
        let mut tiers = BTreeMap::new();
        for (node, l1) in &l1s {
            let l1 = l1.lock().unwrap();
            let now = world.ctx().clocks.node(node).now_ns();
            for (key, _) in l1.iter() {
                if let Some(e) = l1.peek(key, now) {
                    tiers.insert(
                        (node.clone(), key.clone()),
                        (crate::event::Tier::L1, e.clone()),
                    );
                }
            }
        }
        if let Some(store) = redis.data.lock().unwrap().as_ref() {
            let now_ms = world.ctx().clocks.node(REDIS_NODE).now_ns() / 1_000_000;
            let store: &RedisStore<Entry> = store;
            for key in store.keys() {
                if let Some(e) = store.peek(key, now_ms) {
                    tiers.insert(
                        (REDIS_NODE.to_string(), key.clone()),
                        (crate::event::Tier::Redis, e.clone()),
                    );
                }
            }
        }
        FinalState {
            at_ns,
            db: db.rows(),
            tiers,
        }
    });
    RunRecord {
        finished,
        history: recorder.snapshot(),
    }
}

async fn sleep_until(at_ns: u64) {
    let now = sim_now_ns();
    if at_ns > now {
        madsim::time::sleep(Duration::from_nanos(at_ns - now)).await;
    }
}
