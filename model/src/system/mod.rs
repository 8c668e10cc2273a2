//! The whole system under test for one run, built from a topology: the database of record with
//! its change stream and a read replica per region, Redis (sharded), an L3 per region, an L2 per
//! host, an app node (with its L1) per process image, and `cdc`, the invalidation daemon that
//! consumes the change stream. It is driven through a schedule with its fault plan, then a quiet
//! phase where faults are healed and the healthy system must converge.

pub mod app;
pub mod panics;

use crate::event::{ModelEvent, Tier};
use crate::node::config::*;
use crate::node::floor::is_floor_key;
use crate::node::redis::{self as redis_server, RedisShared};
use crate::node::{db, tier_node};
use crate::protocol::ProtocolFactory;
use crate::state::database::{Database, Row};
use crate::state::redis::RedisStore;
use crate::state::store::{Entry, TierStore};
use app::AppSetup;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiersim_sim::clock::sim_now_ns;
use tiersim_sim::fault::unhealed;
use tiersim_sim::history::{History, Recorder};
use tiersim_sim::net::Net;
use tiersim_sim::runtime::{self, Finished};
use tiersim_sim::schedule::Schedule;

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
    /// Reads the database and its replicas answered (a cost figure, not in the trace).
    pub db_reads: u64,
    pub history: History<ModelEvent>,
}

/// Run `schedule` against `protocol` in a fresh simulation seeded with `seed`.
pub fn run(
    seed: u64,
    config: &SystemConfig,
    schedule: &Schedule<CacheOp>,
    protocol: ProtocolFactory,
) -> RunRecord {
    let recorder: Recorder<ModelEvent> = Recorder::new();
    let rec = recorder.clone();
    let config = config.clone();
    let run_cfg = config.run.clone();
    let schedule = Arc::new(schedule.clone());
    let database = Database::default();
    let db_reads = database.read_counter();
    let finished = runtime::run(seed, &run_cfg, move |mut world| async move {
        let topo = config.topology.clone();
        let rpc = Duration::from_millis(config.rpc_timeout_ms);

        let db = database;
        let mut subscribers: Vec<String> = (0..topo.regions).map(replica_node).collect();
        subscribers.push(CDC_NODE.to_string());
        let (d, r, mode) = (db.clone(), rec.clone(), config.cdc);
        world.add_node(DB_NODE, move |ctx, name| {
            let (d, r, subs) = (d.clone(), r.clone(), subscribers.clone());
            async move { db::serve(d, Net::bind(&ctx, &name).await, r, subs, mode, rpc).await }
        });
        let lag = Duration::from_millis(config.replica_lag_ms);
        for region in 0..topo.regions {
            let (r, reads) = (rec.clone(), db.read_counter());
            world.add_node(&replica_node(region), move |ctx, name| {
                let (r, reads) = (r.clone(), reads.clone());
                async move { db::serve_replica(Net::bind(&ctx, &name).await, r, lag, reads).await }
            });
        }
        let mut redis = BTreeMap::new();
        for shard in 0..topo.redis_shards {
            let shared = RedisShared::default();
            redis.insert(redis_node(shard), shared.clone());
            let (r, maxmemory, lag) = (rec.clone(), config.redis_maxmemory, config.redis_replica_lag_ms);
            world.add_node(&redis_node(shard), move |ctx, name| {
                let (s, r) = (shared.clone(), r.clone());
                async move {
                    redis_server::serve(Net::bind(&ctx, &name).await, r, s, maxmemory, lag, seed).await
                }
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
            if let tiersim_sim::fault::Fault::Failover { node } = &tf.fault {
                // The replica's keyspace as of now is what the shard's next start promotes (a
                // node that is no Redis shard has no replica: its failover is a crash).
                if let Some(shared) = redis.get(node) {
                    shared.fail_over(sim_now_ns());
                }
            }
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
                // What a failover restored and nothing rewrote since is not the protocol's doing
                // (`check::cache`, "failover"); what it served or filled upward from it is judged.
                let restored = shared.restored.lock().unwrap();
                for key in store.keys().filter(|k| !is_floor_key(k) && !restored.contains(*k)) {
                    if let Some(e) = store.peek(key, now_ms) {
                        held.insert((node.clone(), key.clone()), (Tier::Redis, e.clone()));
                    }
                }
            }
        }
        FinalState { at_ns, db: db.rows(), tiers: held }
    });
    let db_reads = db_reads.load(std::sync::atomic::Ordering::Relaxed);
    RunRecord { finished, db_reads, history: recorder.take() }
}

async fn sleep_until(at_ns: u64) {
    let now = sim_now_ns();
    if at_ns > now {
        madsim::time::sleep(Duration::from_nanos(at_ns - now)).await;
    }
}
