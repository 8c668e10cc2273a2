//! The shape of a simulated system: its topology, every node's name, its configuration with
//! documented defaults, and the client operations a schedule holds. Plain data: the protocol API
//! reads the configuration, the system wiring (`system`) builds nodes from it, and neither needs
//! the other to do so.

use crate::state::database::CdcMode;
use serde::{Deserialize, Serialize};
use tiersim_sim::runtime::RunConfig;

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
