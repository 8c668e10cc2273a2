//! A workload: who does what to which keys, and which faults strike, drawn from the seed.
//!
//! Every named scenario is a `Workload` value — a system configuration, a client mix and a fault
//! mix — so a scenario reads as a few lines of parameters. Client operations come from the
//! seed's `workload` stream and faults from its `faults` stream, so removing an operation (as the
//! shrinker does) never moves a fault.

use crate::explore::strategy::Strategy;
use crate::scenario::Scenario;
use rand::seq::SliceRandom;
use rand::Rng;
use tiersim_model::node::config::{app_node, l2_node, l3_node, redis_node, CacheOp, SystemConfig};
use tiersim_sim::fault::{Fault, TimedFault};
use tiersim_sim::rng::{chance, stream};
use tiersim_sim::schedule::{Schedule, TimedOp};

/// Relative weights of the client operations.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    pub read: u32,
    pub write: u32,
    pub delete: u32,
    pub invalidate_tag: u32,
    pub warm: u32,
}

impl Mix {
    pub const READ_HEAVY: Mix = Mix { read: 6, write: 3, delete: 1, invalidate_tag: 0, warm: 0 };
}

/// Which faults strike during the active phase, and how hard.
#[derive(Clone, Copy, Debug, Default)]
pub struct Faults {
    /// Partitions: an app or tier node cut off, or a link between an app and a tier.
    pub partitions: u32,
    /// Windows of packet loss.
    pub loss_windows: u32,
    /// Crashes of app, L2, L3 or Redis nodes, each followed by a restart.
    pub kills: u32,
    /// Clock skews of app and tier nodes, up to the configuration's `max_clock_skew_ms`.
    pub skews: u32,
    /// Windows of extra delay, duplication and reordering of one-way messages.
    pub shaping_windows: u32,
    /// How long a partition, loss window, outage or shaping window lasts, in ms: [min, max).
    pub duration_ms: (u64, u64),
    /// Resets of an app node's connections to a Redis shard (`Fault::DropConnection`).
    pub conn_drops: u32,
    /// Crashes strike only the shared tiers (L2, L3, Redis), never an app process, so every
    /// client operation runs to its end.
    pub kill_tiers_only: bool,
    /// Failovers of a Redis shard to its replica (the configuration must give it one), each
    /// ending with the promoted replica serving after a promotion window of 10-50 ms.
    pub failovers: u32,
}

/// How long a failover leaves a shard without a primary, in ms: [min, max). Sentinel and
/// cluster failovers take seconds with default timeouts; tens of ms is a tuned deployment, and
/// enough for requests to time out and connections to drop.
pub const PROMOTION_MS: (u64, u64) = (10, 50);

/// A complete workload.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: &'static str,
    pub description: &'static str,
    pub config: SystemConfig,
    /// Client processes (spread round-robin over the app nodes).
    pub processes: u64,
    pub keys: Vec<String>,
    pub ops_per_process: u64,
    /// Largest think time between one process's operations, in ms.
    pub max_gap_ms: u64,
    pub mix: Mix,
    /// Keys per warming batch.
    pub warm_batch: usize,
    pub faults: Faults,
}

impl Workload {
    /// The keys `prefix:0` .. `prefix:n-1`.
    pub fn keys(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}:{i}")).collect()
    }

    fn op(&self, rng: &mut impl Rng, value: &mut i64, batch: &mut u64) -> CacheOp {
        let m = self.mix;
        let total = m.read + m.write + m.delete + m.invalidate_tag + m.warm;
        let mut pick = rng.gen_range(0..total);
        let key = self.keys.choose(rng).expect("a workload has keys").clone();
        if pick < m.read {
            return CacheOp::Read { key };
        }
        pick -= m.read;
        if pick < m.write {
            *value += 1;
            return CacheOp::Write { key, value: *value };
        }
        pick -= m.write;
        if pick < m.delete {
            return CacheOp::Delete { key };
        }
        pick -= m.delete;
        if pick < m.invalidate_tag {
            let tag = self.config.tags.choose(rng).expect("tag invalidations need tags").clone();
            return CacheOp::InvalidateTag { tag };
        }
        *batch += 1;
        let keys = self.keys.choose_multiple(rng, self.warm_batch.min(self.keys.len())).cloned().collect();
        CacheOp::Warm { batch: format!("batch-{batch}"), keys }
    }

    /// Nodes a fault may strike: every app and tier node, and the database unless `killable`
    /// (the database of record is durable and never crashed).
    pub fn fault_targets(&self, killable: bool) -> Vec<String> {
        let t = &self.config.topology;
        let mut nodes: Vec<String> = (0..t.apps()).map(app_node).collect();
        nodes.extend((0..t.hosts()).map(l2_node));
        nodes.extend((0..t.regions).map(l3_node));
        nodes.extend((0..t.redis_shards).map(redis_node));
        if !killable {
            nodes.push("db".into());
        }
        nodes
    }

    fn faults(&self, seed: u64, active_ns: u64) -> Vec<TimedFault> {
        let f = self.faults;
        let mut rng = stream(seed, "faults");
        let mut out = Vec::new();
        let window = |rng: &mut rand_chacha::ChaCha8Rng| {
            let start = rng.gen_range(0..active_ns.max(1));
            let len = rng.gen_range(f.duration_ms.0..f.duration_ms.1.max(f.duration_ms.0 + 1)) * 1_000_000;
            (start, start + len)
        };
        let apps: Vec<String> = (0..self.config.topology.apps()).map(app_node).collect();
        for _ in 0..f.partitions {
            let (from, to) = window(&mut rng);
            let (cut, heal) = if chance(&mut rng, 1, 2) {
                let node = self.fault_targets(false).choose(&mut rng).unwrap().clone();
                (Fault::ClogNode { node: node.clone() }, Fault::UnclogNode { node })
            } else {
                let a = apps.choose(&mut rng).unwrap().clone();
                let b = self
                    .fault_targets(false)
                    .into_iter()
                    .filter(|n| *n != a)
                    .collect::<Vec<_>>()
                    .choose(&mut rng)
                    .unwrap()
                    .clone();
                (Fault::ClogLink { a: a.clone(), b: b.clone() }, Fault::UnclogLink { a, b })
            };
            out.push(TimedFault { at_ns: from, fault: cut });
            out.push(TimedFault { at_ns: to, fault: heal });
        }
        for _ in 0..f.loss_windows {
            let (from, to) = window(&mut rng);
            out.push(TimedFault {
                at_ns: from,
                fault: Fault::LossStart { per_mille: rng.gen_range(100..400) },
            });
            out.push(TimedFault { at_ns: to, fault: Fault::LossEnd });
        }
        for _ in 0..f.kills {
            let (from, to) = window(&mut rng);
            let mut targets = self.fault_targets(true);
            if f.kill_tiers_only {
                targets.retain(|n| !n.starts_with("app-"));
            }
            let node = targets.choose(&mut rng).unwrap().clone();
            out.push(TimedFault { at_ns: from, fault: Fault::Kill { node: node.clone() } });
            out.push(TimedFault { at_ns: to, fault: Fault::Restart { node } });
        }
        let max_skew_ns = self.config.max_clock_skew_ms as i64 * 1_000_000;
        for _ in 0..f.skews {
            let at_ns = rng.gen_range(0..active_ns.max(1));
            let node = self.fault_targets(true).choose(&mut rng).unwrap().clone();
            let skew_ns = rng.gen_range(-max_skew_ns..=max_skew_ns);
            out.push(TimedFault { at_ns, fault: Fault::ClockSkew { node, skew_ns, drift_ppm: 0 } });
        }
        for _ in 0..f.shaping_windows {
            let (from, to) = window(&mut rng);
            let fault = Fault::ShapingStart {
                max_delay_ns: rng.gen_range(5..80) * 1_000_000,
                dup_per_mille: rng.gen_range(0..300),
            };
            out.push(TimedFault { at_ns: from, fault });
            out.push(TimedFault { at_ns: to, fault: Fault::ShapingEnd });
        }
        // Drawn last, so that workloads without them keep every other fault where it was.
        for _ in 0..f.conn_drops {
            let at_ns = rng.gen_range(0..active_ns.max(1));
            let client = apps.choose(&mut rng).unwrap().clone();
            let server = redis_node(rng.gen_range(0..self.config.topology.redis_shards));
            out.push(TimedFault { at_ns, fault: Fault::DropConnection { client, server } });
        }
        for _ in 0..f.failovers {
            let at_ns = rng.gen_range(0..active_ns.max(1));
            let node = redis_node(rng.gen_range(0..self.config.topology.redis_shards));
            let promoted_ns = at_ns + rng.gen_range(PROMOTION_MS.0..PROMOTION_MS.1) * 1_000_000;
            out.push(TimedFault { at_ns, fault: Fault::Failover { node: node.clone() } });
            out.push(TimedFault { at_ns: promoted_ns, fault: Fault::Restart { node } });
        }
        out.sort();
        out
    }
}

impl Scenario for Workload {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn config(&self) -> SystemConfig {
        self.config.clone()
    }

    fn schedule(&self, seed: u64) -> Schedule<CacheOp> {
        self.generate(seed)
    }

    fn schedule_with(&self, seed: u64, strategy: Strategy) -> Schedule<CacheOp> {
        match strategy {
            Strategy::Random | Strategy::Coverage | Strategy::Race => self.generate(seed),
            Strategy::Swarm => swarm(self, seed).generate(seed),
            Strategy::Pct => pct(self, seed, self.generate(seed)),
        }
    }
}

impl Workload {
    /// The schedule of `seed` under this workload's own mix (the `random` strategy).
    pub fn generate(&self, seed: u64) -> Schedule<CacheOp> {
        let mut rng = stream(seed, "workload");
        let gap_ns = self.max_gap_ms.max(1) * 1_000_000;
        let (mut ops, mut value, mut batch, mut active_ns) = (Vec::new(), 0, 0, 0);
        for process in 0..self.processes {
            let mut at_ns = rng.gen_range(0..gap_ns);
            for _ in 0..self.ops_per_process {
                let op = self.op(&mut rng, &mut value, &mut batch);
                ops.push(TimedOp { at_ns, process, op });
                at_ns += rng.gen_range(0..gap_ns);
            }
            active_ns = active_ns.max(at_ns);
        }
        let faults = self.faults(seed, active_ns);
        let last_fault = faults.iter().map(|f| f.at_ns).max().unwrap_or(0);
        // Everything issued and every fault applied; one operation timeout more for stragglers.
        let end_ns = active_ns.max(last_fault) + self.config.op_timeout_ms * 1_000_000;
        Schedule { ops, faults, end_ns }
    }
}

/// Change points per PCT schedule.
const PCT_DEPTH: usize = 3;

/// The workload a swarm seed runs: each fault kind and each optional operation kind on or off.
pub fn swarm(base: &Workload, seed: u64) -> Workload {
    let mut rng = stream(seed, "swarm");
    let mut w = base.clone();
    let mut flip = |count: &mut u32| {
        *count = if chance(&mut rng, 1, 2) { (*count).max(1) * 2 } else { 0 };
    };
    flip(&mut w.faults.partitions);
    flip(&mut w.faults.loss_windows);
    flip(&mut w.faults.kills);
    flip(&mut w.faults.shaping_windows);
    if w.config.max_clock_skew_ms > 0 {
        flip(&mut w.faults.skews);
    }
    w.faults.kill_tiers_only = chance(&mut rng, 1, 2);
    if w.faults.duration_ms.1 == 0 {
        w.faults.duration_ms = (50, 500);
    }
    let Mix { read, write, delete, invalidate_tag, warm } = base.mix;
    let mut keep = |weight: u32| if chance(&mut rng, 1, 2) { weight } else { 0 };
    let (delete, invalidate_tag, warm) = (keep(delete), keep(invalidate_tag), keep(warm));
    // Reads and writes stay, in proportions of their own: from read-mostly to write-heavy.
    let (read, write) = (read * rng.gen_range(1..=4), write * rng.gen_range(1..=4));
    w.mix = Mix { read, write, delete, invalidate_tag, warm };
    // A few of the keys, so that some seeds pile every operation onto one.
    let keys = rng.gen_range(1..=w.keys.len());
    w.keys.truncate(keys);
    if base.faults.conn_drops > 0 {
        let mut rng = stream(seed, "swarm-connections");
        w.faults.conn_drops = if chance(&mut rng, 1, 2) { base.faults.conn_drops * 2 } else { 0 };
    }
    w
}

/// PCT change points over message delivery order: at each of `PCT_DEPTH` instants of the active
/// phase, one link between an app and a tier (either way) carries its messages 10-150 ms late
/// for 1-6 ms, so what it carries then is delivered behind everything sent after it.
pub fn pct(base: &Workload, seed: u64, mut schedule: Schedule<CacheOp>) -> Schedule<CacheOp> {
    let mut rng = stream(seed, "pct");
    let nodes = base.fault_targets(false);
    let apps: Vec<&String> = nodes.iter().filter(|n| n.starts_with("app-")).collect();
    let tiers: Vec<&String> = nodes.iter().filter(|n| !n.starts_with("app-")).collect();
    let active_ns = schedule.ops.iter().map(|o| o.at_ns).max().unwrap_or(0).max(1);
    for _ in 0..PCT_DEPTH {
        let (app, tier) = (
            (*apps.choose(&mut rng).expect("apps")).clone(),
            (*tiers.choose(&mut rng).expect("tiers")).clone(),
        );
        let (from, to) = if chance(&mut rng, 1, 2) { (app, tier) } else { (tier, app) };
        let at_ns = rng.gen_range(0..active_ns);
        let until = at_ns + rng.gen_range(1..7) * 1_000_000;
        let extra_ns = rng.gen_range(10..150) * 1_000_000;
        schedule.faults.push(TimedFault {
            at_ns,
            fault: Fault::SlowLinkStart { from: from.clone(), to: to.clone(), extra_ns },
        });
        schedule.faults.push(TimedFault { at_ns: until, fault: Fault::SlowLinkEnd { from, to } });
        schedule.end_ns = schedule.end_ns.max(until + extra_ns + base.config.op_timeout_ms * 1_000_000);
    }
    schedule.faults.sort();
    schedule
}
