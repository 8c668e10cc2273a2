//! The shape of a simulated system: its topology, every node's name, its configuration with
//! documented defaults, and the client operations a schedule holds. Plain data: the protocol API
//! reads the configuration, the system wiring (`system`) builds nodes from it, and neither needs
//! the other to do so.

use crate::state::database::CdcMode;
use crate::state::redis::MaxMemory;
use serde::{Deserialize, Serialize};
use tiersim_sim::runtime::RunConfig;
use tiersim_sim::schedule::{Schedule, MAX_SIM_NS};

/// The most regions, hosts per region, processes per host and Redis shards a topology may have.
pub const MAX_TOPOLOGY_DIM: usize = 64;
/// The most app nodes (regions x hosts x processes) a topology may have: every app node knows
/// every other as a peer, so a run allocates in the square of this.
pub const MAX_APPS: usize = 256;
/// The largest tier capacity, in entries.
pub const MAX_CAPACITY: usize = 1_000_000;
/// The longest configured duration in ms (TTLs, timeouts, lags, the quiet phase): `MAX_SIM_NS`.
pub const MAX_DURATION_MS: u64 = MAX_SIM_NS / 1_000_000;
/// The most tags a configuration may list.
pub const MAX_TAGS: usize = 1_000;
/// The most keys one warm operation may name.
pub const MAX_WARM_KEYS: usize = 10_000;
/// The largest `maxmemory-samples` (Redis's own bound is 64).
pub const MAX_MAXMEMORY_SAMPLES: usize = 64;

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
    /// Redis `maxmemory` (in keys: cache entries and version floors alike), its
    /// `maxmemory-policy` and `maxmemory-samples`, applied to every shard; the samples are drawn
    /// from the run's seed. Default none: Redis is unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_maxmemory: Option<MaxMemory>,
    /// Each Redis shard's replica applies the primary's writes this many ms after it
    /// (asynchronous replication, `state::replication`); a `failover` fault promotes it and
    /// loses what it had not received. Default none: no replica, and no failover is possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_replica_lag_ms: Option<u64>,
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
            redis_maxmemory: None,
            redis_replica_lag_ms: None,
        }
    }
}

impl SystemConfig {
    /// Check every field against its documented bound before a run, so that a replay file (user
    /// input: shared, edited, old) can never make the simulator panic, hang or allocate without
    /// bound. The error names the field by its path below the configuration
    /// (`topology.regions is 0; allowed 1..=64`).
    pub fn validate(&self) -> Result<(), String> {
        let range = |field: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{field} is {v}; allowed {lo}..={hi}"))
            }
        };
        let t = &self.topology;
        let dim = MAX_TOPOLOGY_DIM as u64;
        range("topology.regions", t.regions as u64, 1, dim)?;
        range("topology.hosts_per_region", t.hosts_per_region as u64, 1, dim)?;
        range("topology.processes_per_host", t.processes_per_host as u64, 1, dim)?;
        range("topology.redis_shards", t.redis_shards as u64, 1, dim)?;
        if t.apps() > MAX_APPS {
            return Err(format!(
                "topology has {} app nodes (regions x hosts_per_region x processes_per_host); allowed at most {MAX_APPS}",
                t.apps()
            ));
        }
        for (field, v) in [
            ("l1_ttl_ms", self.l1_ttl_ms),
            ("l2_ttl_ms", self.l2_ttl_ms),
            ("l3_ttl_ms", self.l3_ttl_ms),
            ("redis_ttl_ms", self.redis_ttl_ms),
            ("replica_lag_ms", self.replica_lag_ms),
            ("max_clock_skew_ms", self.max_clock_skew_ms),
            ("quiet_ms", self.quiet_ms),
        ] {
            range(field, v, 0, MAX_DURATION_MS)?;
        }
        range("rpc_timeout_ms", self.rpc_timeout_ms, 1, MAX_DURATION_MS)?;
        range("op_timeout_ms", self.op_timeout_ms, 1, MAX_DURATION_MS)?;
        for (field, v) in [
            ("l1_capacity", self.l1_capacity),
            ("l2_capacity", self.l2_capacity),
            ("l3_capacity", self.l3_capacity),
        ] {
            range(field, v as u64, 1, MAX_CAPACITY as u64)?;
        }
        if self.tags.len() > MAX_TAGS {
            return Err(format!("tags lists {} tags; allowed at most {MAX_TAGS}", self.tags.len()));
        }
        if let Some(i) = self.tags.iter().position(|t| t.is_empty() || t.contains(':')) {
            return Err(format!("tags[{i}] is {:?}; allowed: a non-empty name without ':'", self.tags[i]));
        }
        if let Some(lag) = self.redis_replica_lag_ms {
            range("redis_replica_lag_ms", lag, 0, MAX_DURATION_MS)?;
        }
        if let Some(m) = &self.redis_maxmemory {
            range("redis_maxmemory.max_keys", m.max_keys as u64, 1, MAX_CAPACITY as u64)?;
            range("redis_maxmemory.samples", m.samples as u64, 1, MAX_MAXMEMORY_SAMPLES as u64)?;
        }
        self.run.validate().map_err(|e| format!("run.{e}"))
    }

    /// Every node name a system of this configuration has (faults may name only these).
    pub fn node_names(&self) -> std::collections::BTreeSet<String> {
        let t = &self.topology;
        let mut names: std::collections::BTreeSet<String> =
            [DB_NODE.to_string(), CDC_NODE.to_string()].into_iter().collect();
        names.extend((0..t.regions).map(replica_node));
        names.extend((0..t.regions).map(l3_node));
        names.extend((0..t.redis_shards).map(redis_node));
        names.extend((0..t.hosts()).map(l2_node));
        names.extend((0..t.apps()).map(app_node));
        names
    }

    /// The node names of this topology in a few words: `db, cdc, app-0..app-7, l2-0..l2-3, ...`.
    fn node_summary(&self) -> String {
        let t = &self.topology;
        let span = |name: fn(usize) -> String, n: usize| {
            if n == 1 {
                name(0)
            } else {
                format!("{}..{}", name(0), name(n - 1))
            }
        };
        [
            DB_NODE.to_string(),
            CDC_NODE.to_string(),
            span(app_node, t.apps()),
            span(l2_node, t.hosts()),
            span(l3_node, t.regions),
            span(redis_node, t.redis_shards),
            span(replica_node, t.regions),
        ]
        .join(", ")
    }

    /// Check a schedule against this (already validated) configuration: its bounds
    /// (`Schedule::validate`), faults that name nodes of this topology with skews within
    /// `max_clock_skew_ms`, and operations with non-empty keys. Every process id maps to app
    /// `process % apps`, so any id is allowed. The error names the field by its path in the
    /// replay file.
    pub fn validate_schedule(&self, schedule: &Schedule<CacheOp>) -> Result<(), String> {
        let nodes = self.node_names();
        schedule.validate(&|n| nodes.contains(n), &validate_op).map_err(|e| {
            if e.contains("which the topology does not have") {
                format!("{e}; allowed: {}", self.node_summary())
            } else {
                e
            }
        })?;
        let max_skew_ns = self.max_clock_skew_ms * 1_000_000;
        for (i, f) in schedule.faults.iter().enumerate() {
            match &f.fault {
                tiersim_sim::fault::Fault::ClockSkew { skew_ns, .. }
                    if skew_ns.unsigned_abs() > max_skew_ns =>
                {
                    return Err(format!(
                        "schedule.faults[{i}].fault.skew_ns is {skew_ns}; allowed within ±config.system.max_clock_skew_ms ({} ms)",
                        self.max_clock_skew_ms
                    ));
                }
                tiersim_sim::fault::Fault::Failover { node } => {
                    let shards = self.topology.redis_shards;
                    if !(0..shards).any(|s| redis_node(s) == *node) {
                        return Err(format!(
                            "schedule.faults[{i}].fault.node is {node:?}, which is not a Redis shard; a failover promotes a Redis replica: allowed {}",
                            if shards == 1 { redis_node(0) } else { format!("{}..{}", redis_node(0), redis_node(shards - 1)) }
                        ));
                    }
                    if self.redis_replica_lag_ms.is_none() {
                        return Err(format!(
                            "schedule.faults[{i}].fault is a failover of {node}, but config.system.redis_replica_lag_ms is not set; a failover needs a replica (set the lag in ms)"
                        ));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

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

/// Check one client operation: keys, tags and batches are non-empty names, and a warm names at
/// most `MAX_WARM_KEYS` keys. The error starts with the field's name below the operation.
fn validate_op(op: &CacheOp) -> Result<(), String> {
    let name = |field: &str, v: &str| {
        if v.is_empty() {
            Err(format!("{field} is empty; allowed: a non-empty name"))
        } else {
            Ok(())
        }
    };
    match op {
        CacheOp::Read { key } | CacheOp::Write { key, .. } | CacheOp::Delete { key } => name("key", key),
        CacheOp::InvalidateTag { tag } => name("tag", tag),
        CacheOp::Warm { batch, keys } => {
            name("batch", batch)?;
            if keys.len() > MAX_WARM_KEYS {
                return Err(format!("keys lists {} keys; allowed at most {MAX_WARM_KEYS}", keys.len()));
            }
            for (i, k) in keys.iter().enumerate() {
                name(&format!("keys[{i}]"), k)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::redis::EvictionPolicy;
    use tiersim_sim::fault::{Fault, TimedFault};
    use tiersim_sim::schedule::TimedOp;

    #[test]
    fn the_default_config_is_valid_and_every_bad_field_is_named() {
        assert_eq!(SystemConfig::default().validate(), Ok(()));
        type Mutation = fn(&mut SystemConfig);
        let bad: Vec<(Mutation, &str)> = vec![
            (|c| c.l1_capacity = 0, "l1_capacity is 0; allowed 1..="),
            (|c| c.l3_capacity = usize::MAX, "l3_capacity"),
            (|c| c.topology.hosts_per_region = 0, "topology.hosts_per_region is 0"),
            (|c| c.topology.regions = 1 << 40, "topology.regions"),
            (
                |c| {
                    c.topology.processes_per_host = 64;
                    c.topology.hosts_per_region = 64;
                },
                "app nodes",
            ),
            (|c| c.topology.redis_shards = 0, "topology.redis_shards"),
            (|c| c.run.step_budget = 0, "run.step_budget is 0"),
            (|c| c.run.time_limit_ns = 0, "run.time_limit_ns is 0"),
            (|c| c.run.latency_min_ns = c.run.latency_max_ns + 1, "run.latency_min_ns"),
            (|c| c.rpc_timeout_ms = 0, "rpc_timeout_ms is 0"),
            (|c| c.l2_ttl_ms = u64::MAX, "l2_ttl_ms"),
            (|c| c.tags = vec!["a:b".into()], "tags[0]"),
            (
                |c| {
                    c.redis_maxmemory =
                        Some(MaxMemory { max_keys: 0, policy: EvictionPolicy::AllkeysLru, samples: 5 })
                },
                "redis_maxmemory.max_keys is 0; allowed 1..=",
            ),
            (
                |c| {
                    c.redis_maxmemory =
                        Some(MaxMemory { max_keys: 4, policy: EvictionPolicy::AllkeysLru, samples: 65 })
                },
                "redis_maxmemory.samples is 65; allowed 1..=64",
            ),
        ];
        for (mutate, expect) in bad {
            let mut c = SystemConfig::default();
            mutate(&mut c);
            let e = c.validate().unwrap_err();
            assert!(e.starts_with(expect) || e.contains(expect), "{e:?} should name {expect:?}");
            assert!(e.contains("allowed") || e.contains("expected"), "says what is allowed: {e}");
        }
    }

    #[test]
    fn schedules_name_existing_nodes_and_stay_within_bounds() {
        let c = SystemConfig::default();
        let op =
            |at_ns, key: &str| TimedOp { at_ns, process: u64::MAX, op: CacheOp::Read { key: key.into() } };
        let fault = |fault| TimedFault { at_ns: 5, fault };
        let ok = Schedule {
            ops: vec![op(1, "k")],
            faults: vec![fault(Fault::Kill { node: "l2-3".into() })],
            end_ns: 9,
        };
        assert_eq!(c.validate_schedule(&ok), Ok(()));
        let cases = [
            (Schedule { end_ns: u64::MAX, ..ok.clone() }, "schedule.end_ns"),
            (Schedule { ops: vec![op(u64::MAX, "k")], ..ok.clone() }, "schedule.ops[0].at_ns"),
            (Schedule { ops: vec![op(1, "")], ..ok.clone() }, "schedule.ops[0].op.key is empty"),
            (
                Schedule { faults: vec![fault(Fault::Kill { node: "l2-4".into() })], ..ok.clone() },
                "schedule.faults[0].fault.node names node \"l2-4\", which the topology does not have; allowed: db, cdc, app-0..app-7, l2-0..l2-3",
            ),
            (
                Schedule { faults: vec![fault(Fault::LossStart { per_mille: 5000 })], ..ok.clone() },
                "schedule.faults[0].fault.per_mille is 5000; allowed 0..=1000",
            ),
            (
                Schedule {
                    faults: vec![fault(Fault::ClockSkew { node: "db".into(), skew_ns: 1, drift_ppm: 0 })],
                    ..ok.clone()
                },
                "max_clock_skew_ms (0 ms)",
            ),
            (
                Schedule { faults: vec![fault(Fault::Failover { node: "l3-0".into() })], ..ok.clone() },
                "schedule.faults[0].fault.node is \"l3-0\", which is not a Redis shard; a failover promotes a Redis replica: allowed redis-0",
            ),
            (
                Schedule { faults: vec![fault(Fault::Failover { node: "redis-0".into() })], ..ok.clone() },
                "redis_replica_lag_ms is not set",
            ),
        ];
        for (s, expect) in cases {
            let e = c.validate_schedule(&s).unwrap_err();
            assert!(e.contains(expect), "{e:?} should contain {expect:?}");
        }
        let replicated = SystemConfig { redis_replica_lag_ms: Some(50), ..c.clone() };
        let failover = Schedule { faults: vec![fault(Fault::Failover { node: "redis-0".into() })], ..ok };
        assert_eq!(replicated.validate_schedule(&failover), Ok(()));
    }
}
