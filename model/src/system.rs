//! The whole system under test for one run, built from a topology: the database of record with
//! its change stream and a read replica per region, Redis (sharded), an L3 per region, an L2 per
//! host, an app node (with its L1) per process image, and `cdc`, the invalidation daemon that
//! consumes the change stream. It is driven through a schedule with its fault plan, then a quiet
//! phase where faults are healed and the healthy system must converge.

use crate::app::{self, AppSetup};
use crate::db::{self, CdcMode, Database, Row};
use crate::event::{ModelEvent, Tier};
use crate::protocol::DynProtocol;
use crate::redis::RedisStore;
use crate::redis_node::{self, RedisShared};
use crate::store::{Entry, TierStore};
use crate::tier_node;
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
/// The invalidation daemon: consumes the change stream and runs `Protocol::on_change`.
pub const CDC_NODE: &str = "cdc";

pub fn app_node(i: usize) -> String {
    format!("app-{i}")
}
pub fn l2_node(host: usize) -> String {
    format!("l2-{host}")
}
pub fn l3_node(region: usize) -> String {
    format!("l3-{region}")
}
pub fn redis_node(shard: usize) -> String {
    format!("redis-{shard}")
}
pub fn replica_node(region: usize) -> String {
    format!("replica-{region}")
}

/// A client operation of the schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "snake_case")]
pub enum CacheOp {
    Read {
        key: String,
    },
    Write {
        key: String,
        value: i64,
    },
    Delete {
        key: String,
    },
    /// Invalidate every cached entry of `tag`.
    InvalidateTag {
        tag: String,
    },
    /// Warm a batch of keys (`batch` names it in the history).
    Warm {
        batch: String,
        keys: Vec<String>,
    },
}

/// regions x hosts x processes, and Redis shards. Defaults 2 x 2 x 2 and 1 shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub regions: usize,
    pub hosts_per_region: usize,
    pub processes_per_host: usize,
    pub redis_shards: usize,
}

impl Default for Topology {
    fn default() -> Self {
        Topology { regions: 2, hosts_per_region: 2, processes_per_host: 2, redis_shards: 1 }
    }
}

impl Topology {
    /// App nodes (process images), each with its L1.
    pub fn apps(&self) -> usize {
        self.regions * self.hosts_per_region * self.processes_per_host
    }
    pub fn hosts(&self) -> usize {
        self.regions * self.hosts_per_region
    }
    pub fn host_of(&self, app: usize) -> usize {
        app / self.processes_per_host
    }
    pub fn region_of(&self, app: usize) -> usize {
        self.host_of(app) / self.hosts_per_region
    }
}

/// The system's configuration. Every field is documented with its default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemConfig {
    /// Default 2 regions x 2 hosts x 2 processes, 1 Redis shard.
    pub topology: Topology,
    /// TTLs in ms. Defaults: L1 200, L2 300, L3 400, Redis 500.
    pub l1_ttl_ms: u64,
    pub l2_ttl_ms: u64,
    pub l3_ttl_ms: u64,
    pub redis_ttl_ms: u64,
    /// Capacities in entries. Default 1024 each.
    pub l1_capacity: usize,
    pub l2_capacity: usize,
    pub l3_capacity: usize,
    /// How far each read replica lags the database, in ms. Default 20.
    pub replica_lag_ms: u64,
    /// How the change stream reaches `cdc`. Default at-least-once.
    pub cdc: CdcMode,
    /// Tags: a key `tag:rest` carries tag `tag` when `tag` is listed here. Default none.
    pub tags: Vec<String>,
    /// Timeout of one request (to a tier, Redis, the database, a peer). Default 50 ms.
    pub rpc_timeout_ms: u64,
    /// Budget of one client operation; past it the operation is indeterminate. Default 1000 ms.
    pub op_timeout_ms: u64,
    /// The largest clock skew the scenario's fault plan may set, in ms. Default 0.
    pub max_clock_skew_ms: u64,
    /// Quiet phase after the schedule: faults healed, no client operations. Default 5000 ms.
    pub quiet_ms: u64,
    /// Engine settings.
    pub run: RunConfig,
}

impl Default for SystemConfig {
    fn default() -> Self {
        SystemConfig {
            topology: Topology::default(),
            l1_ttl_ms: 200,
            l2_ttl_ms: 300,
            l3_ttl_ms: 400,
            redis_ttl_ms: 500,
            l1_capacity: 1024,
            l2_capacity: 1024,
            l3_capacity: 1024,
            replica_lag_ms: 20,
            cdc: CdcMode::AtLeastOnce,
            tags: Vec::new(),
            rpc_timeout_ms: 50,
            op_timeout_ms: 1000,
            max_clock_skew_ms: 0,
            quiet_ms: 5000,
            run: RunConfig::default(),
        }
    }
}

impl SystemConfig {
    /// The app node that hosts client `process`.
    pub fn app_of(&self, process: u64) -> usize {
        (process % self.topology.apps() as u64) as usize
    }

    /// The tags of `key`.
    pub fn tags_of(&self, key: &str) -> Vec<String> {
        match key.split_once(':') {
            Some((tag, _)) if self.tags.iter().any(|t| t == tag) => vec![tag.to_string()],
            _ => Vec::new(),
        }
    }

    /// The largest TTL of any tier, in ms.
    pub fn largest_ttl_ms(&self) -> u64 {
        self.l1_ttl_ms.max(self.l2_ttl_ms).max(self.l3_ttl_ms).max(self.redis_ttl_ms)
    }
}

/// What every tier holds at the end of the quiet phase (live entries only).
#[derive(Clone, Debug, Default)]
pub struct FinalState {
    pub at_ns: u64,
    pub db: BTreeMap<String, Row>,
    /// (node, key) -> entry, over every L1, L2, L3 and Redis shard.
    pub tiers: BTreeMap<(String, String), (Tier, Entry)>,
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
    let config = config.clone();
    let run_cfg = config.run.clone();
    let schedule = Arc::new(schedule.clone());
    let finished = runtime::run(seed, &run_cfg, move |mut world| async move {
        let topo = config.topology.clone();
        let rpc = Duration::from_millis(config.rpc_timeout_ms);

        let db = Database::default();
        let mut subscribers: Vec<String> = (0..topo.regions).map(replica_node).collect();
        subscribers.push(CDC_NODE.to_string());
        let (d, r, mode) = (db.clone(), rec.clone(), config.cdc);
        world.add_node(DB_NODE, move |ctx, name| {
            let (d, r, subs) = (d.clone(), r.clone(), subscribers.clone());
            async move { d.serve(Net::bind(&ctx, &name).await, r, subs, mode, rpc).await }
        });
        let lag = Duration::from_millis(config.replica_lag_ms);
        for region in 0..topo.regions {
            let r = rec.clone();
            world.add_node(&replica_node(region), move |ctx, name| {
                let r = r.clone();
                async move { db::serve_replica(Net::bind(&ctx, &name).await, r, lag).await }
            });
        }
        let mut redis = BTreeMap::new();
        for shard in 0..topo.redis_shards {
            let shared = RedisShared::default();
            redis.insert(redis_node(shard), shared.clone());
            let r = rec.clone();
            world.add_node(&redis_node(shard), move |ctx, name| {
                let (s, r) = (shared.clone(), r.clone());
                async move { redis_node::serve(Net::bind(&ctx, &name).await, r, s).await }
            });
        }
        let mut tiers: BTreeMap<String, (Tier, Arc<Mutex<TierStore>>)> = BTreeMap::new();
        let tier_nodes = (0..topo.regions)
            .map(|r| (l3_node(r), Tier::L3, config.l3_capacity, config.l3_ttl_ms))
            .chain((0..topo.hosts()).map(|h| (l2_node(h), Tier::L2, config.l2_capacity, config.l2_ttl_ms)));
        for (name, tier, capacity, ttl_ms) in tier_nodes {
            let shared = Arc::new(Mutex::new(TierStore::new(capacity)));
            tiers.insert(name.clone(), (tier, shared.clone()));
            let r = rec.clone();
            world.add_node(&name, move |ctx, name| {
                let (s, r) = (shared.clone(), r.clone());
                async move {
                    tier_node::serve(Net::bind(&ctx, &name).await, tier, capacity, ttl_ms * 1_000_000, r, s)
                        .await
                }
            });
        }
        // App nodes, then the invalidation daemon (an app node without clients, in region 0).
        let names: Vec<String> = (0..topo.apps()).map(app_node).collect();
        let finished: Arc<Mutex<std::collections::BTreeSet<u64>>> = Default::default();
        for i in 0..=topo.apps() {
            let name = if i < topo.apps() { app_node(i) } else { CDC_NODE.to_string() };
            let l1 = Arc::new(Mutex::new(TierStore::new(config.l1_capacity)));
            tiers.insert(name.clone(), (Tier::L1, l1.clone()));
            let at = i.min(topo.apps() - 1);
            let processes: Vec<u64> = if i < topo.apps() {
                schedule.processes().into_iter().filter(|p| config.app_of(*p) == i).collect()
            } else {
                Vec::new()
            };
            let setup = Arc::new(AppSetup {
                config: config.clone(),
                peers: names.iter().filter(|n| **n != name).cloned().collect(),
                l2: l2_node(topo.host_of(at)),
                l3: l3_node(topo.region_of(at)),
                replica: replica_node(topo.region_of(at)),
                l1,
                protocol: protocol.clone(),
                schedule: schedule.clone(),
                processes,
                finished: finished.clone(),
            });
            let r = rec.clone();
            world.add_node(&name, move |ctx, name| {
                let (r, setup) = (r.clone(), setup.clone());
                async move { app::serve(Net::bind(&ctx, &name).await, r, setup).await }
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
        // The quiet phase: heal what is still broken, let every client finish its schedule (a
        // restarted node's clients skip what they missed), then let the system settle.
        for fault in unhealed(&faults) {
            world.apply(&fault);
            rec.fault(fault);
        }
        let processes = schedule.processes().len();
        while finished.lock().unwrap().len() < processes {
            madsim::time::sleep(Duration::from_millis(10)).await;
        }
        madsim::time::sleep(Duration::from_millis(config.quiet_ms)).await;

        let at_ns = sim_now_ns();
        let mut held = BTreeMap::new();
        for (node, (tier, store)) in &tiers {
            let store = store.lock().unwrap();
            let now = world.ctx().clocks.node(node).now_ns();
            for (key, _) in store.iter() {
                if let Some(e) = store.peek(key, now) {
                    held.insert((node.clone(), key.clone()), (*tier, e.clone()));
                }
            }
        }
        for (node, shared) in &redis {
            if let Some(store) = shared.data.lock().unwrap().as_ref() {
                let now_ms = world.ctx().clocks.node(node).now_ns() / 1_000_000;
                let store: &RedisStore<Entry> = store;
                for key in store.keys() {
                    if let Some(e) = store.peek(key, now_ms) {
                        held.insert((node.clone(), key.clone()), (Tier::Redis, e.clone()));
                    }
                }
            }
        }
        FinalState { at_ns, db: db.rows(), tiers: held }
    });
    RunRecord { finished, history: recorder.take() }
}

async fn sleep_until(at_ns: u64) {
    let now = sim_now_ns();
    if at_ns > now {
        madsim::time::sleep(Duration::from_nanos(at_ns - now)).await;
    }
}
