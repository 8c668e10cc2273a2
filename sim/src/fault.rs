//! The fault plan: faults as explicit data applied at scheduled sim times, so a replay file holds
//! them and a shrinker can remove them one by one.
//!
//! Network partitions use madsim's clogging, node crashes its kill / restart, packet loss its
//! loss rate; clock skew changes a node's clock parameters; message shaping (extra delay,
//! duplication and so reordering) applies to one-way messages such as invalidations, which is
//! where real invalidation pipelines lose their order. Connections (`conn`) drop on a kill or
//! restart of either end, a long partition, or a `DropConnection` entry.

use serde::{Deserialize, Serialize};

/// One fault. Node names are the names given to `World::add_node`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Cut the link between two nodes, both directions.
    ClogLink {
        a: String,
        b: String,
    },
    UnclogLink {
        a: String,
        b: String,
    },
    /// Cut a node off from everyone.
    ClogNode {
        node: String,
    },
    UnclogNode {
        node: String,
    },
    /// Crash a node: its tasks and in-memory state are gone.
    Kill {
        node: String,
    },
    /// Start a killed node again from its init task.
    Restart {
        node: String,
    },
    /// Freeze a node: its tasks stop running (a GC pause, a stalled VM) until `Resume`; what it
    /// was doing completes late, behind everything else (PCT-style change points use this).
    Pause {
        node: String,
    },
    Resume {
        node: String,
    },
    /// Drop this share of all messages (per mille) until `LossEnd`.
    LossStart {
        per_mille: u32,
    },
    LossEnd,
    /// Set a node's clock offset and drift.
    ClockSkew {
        node: String,
        skew_ns: i64,
        drift_ppm: i64,
    },
    /// Until `ShapingEnd`, each one-way message gets an extra delay drawn from 0..=max_delay_ns and
    /// is duplicated with probability dup_per_mille / 1000; unequal delays reorder messages.
    ShapingStart {
        max_delay_ns: u64,
        dup_per_mille: u32,
    },
    ShapingEnd,
    /// Reset every connection `client` holds to `server` (CLIENT KILL, a proxy or load balancer
    /// dropping it): both ends learn of it at once, and what was not yet delivered on it is lost
    /// (see `conn`). One-way messages and requests are not affected.
    DropConnection {
        client: String,
        server: String,
    },
    /// Until `SlowLinkEnd`, every message `from` sends to `to` (requests, responses, one-way)
    /// leaves `extra_ns` late, behind the messages sent after it: a change point of the `pct`
    /// and `race` strategies, which reorder deliveries without losing any.
    SlowLinkStart {
        from: String,
        to: String,
        extra_ns: u64,
    },
    SlowLinkEnd {
        from: String,
        to: String,
    },
    /// Fail a replicated node over to its replica: the node goes down as on `Kill` (its
    /// connections drop, in-flight requests are lost) and its next `Restart` — the end of the
    /// promotion window, which the fault plan sets — starts it from what its replica held at
    /// this instant rather than from nothing. What a replica holds is the model's business: it
    /// refuses the fault in a replay file for a node that has none, where it is just a crash.
    Failover {
        node: String,
    },
}

/// The largest clock drift a fault may set, in parts per million either way (±50%): a drift of
/// -100% would stop a node's clock, and one past it would run the clock backwards.
pub const MAX_DRIFT_PPM: i64 = 500_000;

impl Fault {
    /// Check the fault's values: node names the system has (`node_exists`), shares per mille at
    /// most 1000, delays and skews within `MAX_SIM_NS`, drift within `MAX_DRIFT_PPM`. The error
    /// starts with the field's name (`per_mille is 5000; allowed 0..=1000`).
    pub fn validate(&self, node_exists: &dyn Fn(&str) -> bool) -> Result<(), String> {
        use crate::clock::MAX_SIM_NS;
        let node = |field: &str, name: &str| {
            if node_exists(name) {
                Ok(())
            } else {
                Err(format!("{field} names node {name:?}, which the topology does not have"))
            }
        };
        let per_mille = |field: &str, v: u32| {
            if v > 1000 {
                Err(format!("{field} is {v}; allowed 0..=1000 (a share per mille)"))
            } else {
                Ok(())
            }
        };
        match self {
            Fault::ClogLink { a, b } | Fault::UnclogLink { a, b } => {
                node("a", a)?;
                node("b", b)
            }
            Fault::ClogNode { node: n }
            | Fault::UnclogNode { node: n }
            | Fault::Kill { node: n }
            | Fault::Restart { node: n }
            | Fault::Pause { node: n }
            | Fault::Resume { node: n }
            | Fault::Failover { node: n } => node("node", n),
            Fault::LossStart { per_mille: v } => per_mille("per_mille", *v),
            Fault::ClockSkew { node: n, skew_ns, drift_ppm } => {
                node("node", n)?;
                if skew_ns.unsigned_abs() > MAX_SIM_NS {
                    return Err(format!("skew_ns is {skew_ns}; allowed -{MAX_SIM_NS}..={MAX_SIM_NS}"));
                }
                if drift_ppm.unsigned_abs() > MAX_DRIFT_PPM.unsigned_abs() {
                    return Err(format!(
                        "drift_ppm is {drift_ppm}; allowed -{MAX_DRIFT_PPM}..={MAX_DRIFT_PPM}"
                    ));
                }
                Ok(())
            }
            Fault::ShapingStart { max_delay_ns, dup_per_mille } => {
                if *max_delay_ns > MAX_SIM_NS {
                    return Err(format!("max_delay_ns is {max_delay_ns}; allowed 0..={MAX_SIM_NS}"));
                }
                per_mille("dup_per_mille", *dup_per_mille)
            }
            Fault::SlowLinkStart { from, to, extra_ns } => {
                node("from", from)?;
                node("to", to)?;
                if *extra_ns > MAX_SIM_NS {
                    return Err(format!("extra_ns is {extra_ns}; allowed 0..={MAX_SIM_NS}"));
                }
                Ok(())
            }
            Fault::SlowLinkEnd { from, to } => {
                node("from", from)?;
                node("to", to)
            }
            Fault::LossEnd | Fault::ShapingEnd => Ok(()),
            Fault::DropConnection { client, server } => {
                node("client", client)?;
                node("server", server)
            }
        }
    }

    /// The fault that undoes this one at the healing phase, if any. Skew is not undone: a
    /// skewed clock stays skewed, and the protocol must live with it.
    pub fn heal(&self) -> Option<Fault> {
        match self {
            Fault::ClogLink { a, b } => Some(Fault::UnclogLink { a: a.clone(), b: b.clone() }),
            Fault::ClogNode { node } => Some(Fault::UnclogNode { node: node.clone() }),
            Fault::Kill { node } | Fault::Failover { node } => Some(Fault::Restart { node: node.clone() }),
            Fault::Pause { node } => Some(Fault::Resume { node: node.clone() }),
            Fault::LossStart { .. } => Some(Fault::LossEnd),
            Fault::ShapingStart { .. } => Some(Fault::ShapingEnd),
            Fault::SlowLinkStart { from, to, .. } => {
                Some(Fault::SlowLinkEnd { from: from.clone(), to: to.clone() })
            }
            _ => None,
        }
    }
}

/// A fault and the sim time at which it is applied.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TimedFault {
    pub at_ns: u64,
    pub fault: Fault,
}

/// The one-way message shaping in force, shared by every node's network handle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shaping {
    pub max_delay_ns: u64,
    pub dup_per_mille: u32,
}

/// The faults still in force at the end of a plan, in the order they would be healed. Used by
/// the quiet phase: the healthy system must converge once these are undone.
pub fn unhealed(faults: &[TimedFault]) -> Vec<Fault> {
    let mut open: Vec<Fault> = Vec::new();
    let mut sorted: Vec<&TimedFault> = faults.iter().collect();
    sorted.sort_by_key(|f| f.at_ns);
    for tf in sorted {
        match &tf.fault {
            Fault::UnclogLink { a, b } => {
                open.retain(|f| f != &Fault::ClogLink { a: a.clone(), b: b.clone() })
            }
            Fault::UnclogNode { node } => open.retain(|f| f != &Fault::ClogNode { node: node.clone() }),
            Fault::Restart { node } => open.retain(|f| {
                f != &Fault::Kill { node: node.clone() } && f != &Fault::Failover { node: node.clone() }
            }),
            Fault::Resume { node } => open.retain(|f| f != &Fault::Pause { node: node.clone() }),
            Fault::LossEnd => open.retain(|f| !matches!(f, Fault::LossStart { .. })),
            Fault::ShapingEnd => open.retain(|f| !matches!(f, Fault::ShapingStart { .. })),
            Fault::SlowLinkEnd { from, to } => open.retain(
                |f| !matches!(f, Fault::SlowLinkStart { from: a, to: b, .. } if a == from && b == to),
            ),
            f if f.heal().is_some() => open.push(f.clone()),
            _ => {}
        }
    }
    open.iter().filter_map(Fault::heal).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unhealed_faults_are_undone_and_healed_ones_left_alone() {
        let at = |at_ns, fault| TimedFault { at_ns, fault };
        let plan = vec![
            at(10, Fault::ClogLink { a: "x".into(), b: "y".into() }),
            at(20, Fault::UnclogLink { a: "x".into(), b: "y".into() }),
            at(30, Fault::Kill { node: "z".into() }),
            at(40, Fault::LossStart { per_mille: 100 }),
            at(50, Fault::ClockSkew { node: "z".into(), skew_ns: 5, drift_ppm: 0 }),
        ];
        assert_eq!(unhealed(&plan), vec![Fault::Restart { node: "z".into() }, Fault::LossEnd]);
    }

    /// A failover is healed by the restart that ends its promotion window, like a kill.
    #[test]
    fn a_failover_is_open_until_its_restart() {
        let at = |at_ns, fault| TimedFault { at_ns, fault };
        let failover = |n: &str| Fault::Failover { node: n.into() };
        let restart = |n: &str| Fault::Restart { node: n.into() };
        let plan = vec![at(10, failover("r0")), at(30, restart("r0")), at(40, failover("r1"))];
        assert_eq!(unhealed(&plan), vec![restart("r1")]);
        assert!(failover("nope").validate(&|n| n == "r0").is_err());
        assert!(failover("r0").validate(&|n| n == "r0").is_ok());
    }

    /// The fuzzer's find: `i64::MIN` has no absolute value, and taking one panicked.
    #[test]
    fn extreme_skews_and_drifts_are_refused_not_a_panic() {
        let any_node = |_: &str| true;
        for (skew_ns, drift_ppm) in [(0, i64::MIN), (i64::MIN, 0), (0, i64::MAX), (i64::MAX, 0)] {
            let fault = Fault::ClockSkew { node: "z".into(), skew_ns, drift_ppm };
            assert!(fault.validate(&any_node).is_err(), "{fault:?}");
        }
        let fine = Fault::ClockSkew { node: "z".into(), skew_ns: -5, drift_ppm: -MAX_DRIFT_PPM };
        assert!(fine.validate(&any_node).is_ok());
    }
}
