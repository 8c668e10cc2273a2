//! The named scenarios. Each is a few lines: the system, the clients, the faults.

use crate::scenario::workload::{Faults, Mix, Workload};
use crate::scenario::Scenario;
use std::sync::Arc;
use tiersim_model::node::config::{SystemConfig, Topology};
use tiersim_model::state::database::CdcMode;
use tiersim_model::state::redis::{EvictionPolicy, MaxMemory};

/// One region, one host, three processes: the smallest hierarchy with a race in it.
fn small() -> SystemConfig {
    SystemConfig {
        topology: Topology { regions: 1, hosts_per_region: 1, processes_per_host: 3, redis_shards: 1 },
        ..Default::default()
    }
}

/// Partitions, loss, crashes and message shaping, a few of each: what a healthy protocol must
/// survive.
const ROUGH: Faults = Faults {
    partitions: 2,
    loss_windows: 1,
    kills: 1,
    skews: 0,
    shaping_windows: 1,
    duration_ms: (50, 400),
    conn_drops: 0,
    kill_tiers_only: false,
    failovers: 0,
};

pub fn fill_race() -> Workload {
    Workload {
        name: "fill-race",
        description:
            "6 processes race reads, writes and deletes on 2 keys; a slow fill may land after an invalidation",
        config: small(),
        processes: 6,
        keys: vec!["k0".into(), "k1".into()],
        ops_per_process: 40,
        max_gap_ms: 40,
        mix: Mix::READ_HEAVY,
        warm_batch: 0,
        faults: Faults::default(),
    }
}

pub fn slow_fills() -> Workload {
    // Fills that take as long as a commit and a short sleep: network latency up to 40 ms.
    let mut config = small();
    config.run.latency_max_ns = 40_000_000;
    Workload {
        name: "slow-fills",
        description:
            "the fill-race race on a slow network (1-40 ms a message): cache fills outlast short sleeps",
        config,
        ..fill_race()
    }
}

pub fn cascade_invalidation() -> Workload {
    Workload {
        name: "cascade-invalidation",
        description:
            "permission changes must clear every tier of 2 regions x 2 hosts x 2 processes, under faults",
        config: SystemConfig::default(),
        processes: 8,
        keys: Workload::keys("perm", 3),
        ops_per_process: 30,
        max_gap_ms: 30,
        mix: Mix { read: 8, write: 3, delete: 1, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: ROUGH,
    }
}

pub fn lossy_fanout() -> Workload {
    Workload {
        name: "lossy-fanout",
        description: "long-lived L1s kept fresh by invalidation fan-out while packets are lost",
        config: SystemConfig { l1_ttl_ms: 5_000, ..small() },
        processes: 6,
        keys: vec!["k0".into(), "k1".into()],
        ops_per_process: 40,
        max_gap_ms: 40,
        mix: Mix { read: 8, write: 2, delete: 0, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: Faults { loss_windows: 3, duration_ms: (100, 600), ..Faults::default() },
    }
}

pub fn evict_pressure() -> Workload {
    Workload {
        name: "evict-pressure",
        description: "many keys through small tiers: entries are evicted while fills are in flight",
        config: SystemConfig { l1_capacity: 2, l2_capacity: 2, l3_capacity: 2, ..small() },
        processes: 6,
        keys: Workload::keys("item", 8),
        ops_per_process: 50,
        max_gap_ms: 20,
        mix: Mix::READ_HEAVY,
        warm_batch: 0,
        faults: Faults::default(),
    }
}

pub fn warming() -> Workload {
    Workload {
        name: "warming",
        description: "batches of keys are warmed while they are written; the read replicas lag 100 ms",
        config: SystemConfig { replica_lag_ms: 100, ..small() },
        processes: 6,
        keys: Workload::keys("item", 6),
        ops_per_process: 30,
        max_gap_ms: 40,
        mix: Mix { read: 4, write: 3, delete: 0, invalidate_tag: 0, warm: 2 },
        warm_batch: 3,
        faults: Faults::default(),
    }
}

pub fn tag_invalidation() -> Workload {
    Workload {
        name: "tag-invalidation",
        description: "keys of four tags are read, written and invalidated a tag at a time",
        config: SystemConfig {
            tags: ["user_session", "ai_model_cache", "schema_metadata", "analytics_data"]
                .map(String::from)
                .to_vec(),
            ..small()
        },
        processes: 6,
        keys: [
            "user_session:1",
            "user_session:2",
            "ai_model_cache:1",
            "schema_metadata:1",
            "analytics_data:1",
        ]
        .map(String::from)
        .to_vec(),
        ops_per_process: 40,
        max_gap_ms: 4,
        mix: Mix { read: 8, write: 1, delete: 0, invalidate_tag: 2, warm: 0 },
        warm_batch: 0,
        faults: Faults::default(),
    }
}

pub fn clock_skew() -> Workload {
    Workload {
        name: "clock-skew",
        description: "nodes' clocks jump up to 2 s either way while entries expire",
        config: SystemConfig { max_clock_skew_ms: 2_000, l1_ttl_ms: 20, ..small() },
        processes: 6,
        keys: vec!["k0".into(), "k1".into()],
        ops_per_process: 40,
        max_gap_ms: 40,
        mix: Mix::READ_HEAVY,
        warm_batch: 0,
        faults: Faults { skews: 12, ..Faults::default() },
    }
}

pub fn partitioned_hot_keys() -> Workload {
    Workload {
        name: "partitioned-hot-keys",
        description: "hot keys read constantly while app and tier nodes are partitioned away",
        config: small(),
        processes: 6,
        keys: vec!["hot:0".into()],
        ops_per_process: 150,
        max_gap_ms: 30,
        // Rare writes: one missed invalidation must stay visible for a while.
        mix: Mix { read: 150, write: 1, delete: 0, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: Faults { partitions: 4, duration_ms: (300, 1_500), ..Faults::default() },
    }
}

pub fn restarts() -> Workload {
    Workload {
        name: "restarts",
        description: "app and tier nodes crash and restart under steady traffic; L1 TTL 5 s",
        config: SystemConfig { l1_ttl_ms: 5_000, cdc: CdcMode::AtLeastOnce, ..small() },
        processes: 6,
        keys: vec!["k0".into(), "k1".into()],
        ops_per_process: 50,
        max_gap_ms: 40,
        mix: Mix { read: 8, write: 2, delete: 0, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: Faults { kills: 3, duration_ms: (50, 300), ..Faults::default() },
    }
}

pub fn refresh_ahead() -> Workload {
    Workload {
        name: "refresh-ahead",
        description: "hot keys near expiry are refreshed in the background while they are deleted",
        config: small(),
        processes: 6,
        keys: vec!["hot:0".into(), "hot:1".into()],
        ops_per_process: 60,
        max_gap_ms: 25,
        mix: Mix { read: 7, write: 1, delete: 2, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: Faults::default(),
    }
}

pub fn multi_layer_consistency() -> Workload {
    // Staggered TTLs and small L1/L2 capacities put each key in a different subset of tiers at
    // different moments: every combination of tiers holding a key comes up.
    let config = SystemConfig {
        l1_ttl_ms: 150,
        l2_ttl_ms: 400,
        l3_ttl_ms: 900,
        redis_ttl_ms: 2_000,
        l1_capacity: 3,
        l2_capacity: 6,
        ..SystemConfig::default()
    };
    Workload {
        name: "multi-layer-consistency",
        description: "keys held by every combination of L1/L2/L3/Redis, read and written across 2 regions, under faults",
        config,
        processes: 8,
        keys: Workload::keys("item", 8),
        ops_per_process: 40,
        max_gap_ms: 40,
        mix: Mix { read: 7, write: 3, delete: 1, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: ROUGH,
    }
}

pub fn ttl_coordination() -> Workload {
    // The original plan's staggered TTLs: 60 s in process, 300 s on the host and region, an hour
    // in Redis; operations minutes apart, so a run covers hours of sim time in milliseconds.
    let mut config = SystemConfig {
        l1_ttl_ms: 60_000,
        l2_ttl_ms: 300_000,
        l3_ttl_ms: 300_000,
        redis_ttl_ms: 3_600_000,
        quiet_ms: 3_600_000,
        max_clock_skew_ms: 500,
        ..small()
    };
    config.run.time_limit_ns = 6 * 3_600_000_000_000; // hours of sim time are cheap
    Workload {
        name: "ttl-coordination",
        description: "TTLs of 60 s, 300 s and 3600 s across tiers over hours of sim time, with clock skew",
        config,
        processes: 6,
        keys: Workload::keys("cfg", 3),
        ops_per_process: 40,
        max_gap_ms: 240_000,
        mix: Mix::READ_HEAVY,
        warm_batch: 0,
        faults: Faults { skews: 3, partitions: 1, duration_ms: (1_000, 120_000), ..Faults::default() },
    }
}

pub fn race() -> Workload {
    // 20 concurrent workers, 500 operations, on a handful of keys: invalidation under load.
    Workload {
        name: "race",
        description: "20 concurrent workers, 500 operations on 4 hot keys across 2 regions",
        config: SystemConfig::default(),
        processes: 20,
        keys: Workload::keys("hot", 4),
        ops_per_process: 25,
        max_gap_ms: 20,
        mix: Mix::READ_HEAVY,
        warm_batch: 0,
        faults: Faults { shaping_windows: 1, duration_ms: (100, 400), ..Faults::default() },
    }
}

/// The seed's warming at its own scale: batches of `batch` keys (50, 200, 500) warmed while
/// other processes write them, under the seed's TTLs (L1 60 s, L2 300 s, L3 and Redis 3600 s)
/// so an entry warmed early in a batch is still there when the batch completes. The operation
/// budget is generous (30 s): a batch that takes long is measured, not cut off.
fn warming_at(name: &'static str, description: &'static str, batch: usize) -> Workload {
    Workload {
        name,
        description,
        config: SystemConfig {
            replica_lag_ms: 100,
            l1_ttl_ms: 60_000,
            l2_ttl_ms: 300_000,
            l3_ttl_ms: 3_600_000,
            redis_ttl_ms: 3_600_000,
            op_timeout_ms: 30_000,
            ..small()
        },
        processes: 6,
        keys: Workload::keys("item", batch),
        ops_per_process: 20,
        max_gap_ms: 40,
        mix: Mix { read: 4, write: 4, delete: 0, invalidate_tag: 0, warm: 1 },
        warm_batch: batch,
        faults: Faults::default(),
    }
}

pub fn warming_50() -> Workload {
    warming_at("warming-50", "batches of 50 keys are warmed while they are written (the seed's scale)", 50)
}

pub fn warming_200() -> Workload {
    warming_at("warming-200", "batches of 200 keys are warmed while they are written (the seed's scale)", 200)
}

pub fn warming_500() -> Workload {
    warming_at("warming-500", "batches of 500 keys are warmed while they are written (the seed's scale)", 500)
}

pub fn connection_drops() -> Workload {
    Workload {
        name: "connection-drops",
        description: "long-lived L1s kept fresh by Redis pub/sub while subscriber connections are reset",
        // Four resets of an app's Redis connections in a run of about a second, nothing else.
        faults: Faults { conn_drops: 4, ..Faults::default() },
        ..lossy_fanout()
    }
}

pub fn client_tracking() -> Workload {
    Workload {
        name: "client-tracking",
        description:
            "long-lived L1s kept coherent by Redis client tracking while redirect connections are reset",
        // Reads and writes close together (GET replies racing invalidations), and four resets of
        // an app's Redis connections in a run of about a second.
        faults: Faults { conn_drops: 4, ..Faults::default() },
        ..lossy_fanout()
    }
}

/// Redis under maxmemory: 8 keys and their version floors share room for 4 keys, so Redis
/// evicts while fills and invalidations are in flight. allkeys-lfu (5 samples from the seed)
/// keeps the keys that are read often and evicts what is seldom touched, such as floors.
pub fn redis_pressure() -> Workload {
    let maxmemory = MaxMemory { max_keys: 4, policy: EvictionPolicy::AllkeysLfu, samples: 5 };
    Workload {
        name: "redis-pressure",
        description: "many keys through a Redis under maxmemory: entries and version floors are evicted while fills are in flight",
        config: SystemConfig { redis_maxmemory: Some(maxmemory), ..small() },
        ..evict_pressure()
    }
}

pub fn redis_failover() -> Workload {
    Workload {
        name: "redis-failover",
        description: "writes and deletes race reads of 2 hot keys through every tier while Redis, replicated 60 ms behind, fails over to its replica 3 times",
        // Redis entries outlive a promotion by far (2 s), so a restored value is still there
        // for the reads that miss the tiers above after the delete it predates.
        config: SystemConfig { redis_replica_lag_ms: Some(60), redis_ttl_ms: 2_000, ..SystemConfig::default() },
        processes: 8,
        keys: vec!["hot:0".into(), "hot:1".into()],
        ops_per_process: 40,
        max_gap_ms: 30,
        mix: Mix { read: 6, write: 2, delete: 2, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: Faults { failovers: 3, ..Faults::default() },
    }
}

// The deep zoo's scenarios (`zoo_deep`): small, sparse workloads in which a race needs three
// orderings at once, so uniform random search meets it only every few thousand seeds.

pub fn tier_restarts() -> Workload {
    Workload {
        name: "tier-restarts",
        description: "4 processes on one key; tiers and Redis crash and come back within milliseconds",
        config: small(),
        processes: 4,
        keys: vec!["k0".into()],
        ops_per_process: 12,
        max_gap_ms: 60,
        mix: Mix { read: 6, write: 2, delete: 0, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        // Short outages: a restart lands inside one read, not across many.
        faults: Faults { kills: 3, duration_ms: (2, 30), kill_tiers_only: true, ..Faults::default() },
    }
}

pub fn flaky_links() -> Workload {
    let mut config = small();
    config.run.latency_max_ns = 25_000_000;
    Workload {
        name: "flaky-links",
        description: "a slow network (1-25 ms a message) whose links drop for a request timeout or two",
        config,
        processes: 4,
        keys: vec!["k0".into()],
        ops_per_process: 12,
        max_gap_ms: 60,
        mix: Mix { read: 6, write: 2, delete: 0, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: Faults { partitions: 20, duration_ms: (40, 140), ..Faults::default() },
    }
}

pub fn warm_evict() -> Workload {
    Workload {
        name: "warm-evict",
        description:
            "keys warmed from a replica 30 ms behind while they are deleted, through tiers one key short",
        config: SystemConfig {
            replica_lag_ms: 30,
            l1_capacity: 7,
            l2_capacity: 7,
            l3_capacity: 7,
            ..small()
        },
        processes: 4,
        keys: Workload::keys("item", 8),
        ops_per_process: 12,
        max_gap_ms: 60,
        mix: Mix { read: 4, write: 1, delete: 2, invalidate_tag: 0, warm: 2 },
        warm_batch: 2,
        faults: Faults::default(),
    }
}

pub fn skewed_partitions() -> Workload {
    Workload {
        name: "skewed-partitions",
        description: "clocks step up to 40 ms either way while links between apps and tiers drop",
        config: SystemConfig { max_clock_skew_ms: 40, ..small() },
        processes: 4,
        keys: vec!["k0".into()],
        ops_per_process: 12,
        max_gap_ms: 60,
        mix: Mix { read: 6, write: 2, delete: 0, invalidate_tag: 0, warm: 0 },
        warm_batch: 0,
        faults: Faults { partitions: 10, skews: 20, duration_ms: (100, 400), ..Faults::default() },
    }
}

/// `warm-evict` made sparse for write-through-evict: TTLs of a minute, so only capacity pressure
/// forgets a tombstone (at the default TTLs expiry forgot them every few hundred ms, and random
/// search met the race every ~100 seeds), and ten keys through tiers of nine, so an eviction
/// takes the one key a warmer is about to refill only now and then.
pub fn warm_evict_sparse() -> Workload {
    let w = warm_evict();
    Workload {
        name: "warm-evict-sparse",
        description: "keys warmed from a replica 30 ms behind while they are deleted, through tiers one key short, TTLs of a minute",
        config: SystemConfig {
            l1_capacity: 9,
            l2_capacity: 9,
            l3_capacity: 9,
            l1_ttl_ms: 60_000,
            l2_ttl_ms: 60_000,
            l3_ttl_ms: 60_000,
            redis_ttl_ms: 60_000,
            ..w.config
        },
        keys: Workload::keys("item", 10),
        ..w
    }
}

/// `flaky-links` over two keys of one tag, read and invalidated a tag at a time.
pub fn flaky_tags() -> Workload {
    let mut config = flaky_links().config;
    config.tags = vec!["user_session".into()];
    Workload {
        name: "flaky-tags",
        description: "two keys of one tag read and tag-invalidated over a slow network whose links drop for a request timeout or two",
        config,
        keys: vec!["user_session:1".into(), "user_session:2".into()],
        mix: Mix { read: 6, write: 0, delete: 0, invalidate_tag: 2, warm: 0 },
        ..flaky_links()
    }
}

/// Every scenario, in the order `tiersim list` shows them.
pub fn all() -> Vec<Arc<dyn Scenario>> {
    vec![
        Arc::new(fill_race()),
        Arc::new(slow_fills()),
        Arc::new(cascade_invalidation()),
        Arc::new(multi_layer_consistency()),
        Arc::new(ttl_coordination()),
        Arc::new(race()),
        Arc::new(lossy_fanout()),
        Arc::new(evict_pressure()),
        Arc::new(warming()),
        Arc::new(tag_invalidation()),
        Arc::new(clock_skew()),
        Arc::new(partitioned_hot_keys()),
        Arc::new(restarts()),
        Arc::new(refresh_ahead()),
        // Added after the catalog above: existing scenarios keep their places and configs.
        Arc::new(warming_50()),
        Arc::new(warming_200()),
        Arc::new(warming_500()),
        Arc::new(connection_drops()),
        Arc::new(client_tracking()),
        Arc::new(redis_pressure()),
        // The deep zoo's scenarios.
        Arc::new(tier_restarts()),
        Arc::new(flaky_links()),
        Arc::new(warm_evict()),
        Arc::new(skewed_partitions()),
        Arc::new(warm_evict_sparse()),
        Arc::new(flaky_tags()),
        // Added after the deep zoo's: every scenario above keeps its place and config.
        Arc::new(redis_failover()),
    ]
}

/// Scenario names that changed, old to new: `stale-set` became `fill-race` so that no scenario
/// shares its name with a protocol (the zoo entry keeps `stale-set`). Replay files written before
/// keep loading through [`current_name`]; output shows only the new names.
pub const RENAMED: [(&str, &str); 1] = [("stale-set", "fill-race")];

/// `name` as it is called today (an old name from [`RENAMED`], or `name` itself).
pub fn current_name(name: &str) -> &str {
    RENAMED.iter().find(|(old, _)| *old == name).map_or(name, |(_, new)| new)
}

/// The scenario named `name`.
pub fn by_name(name: &str) -> Option<Arc<dyn Scenario>> {
    all().into_iter().find(|s| s.name() == name)
}
