//! What the cache system does, as internal history events. The invariants are checked on these
//! after the run: tier contents are reconstructed from fills and removals, so "no tier holds a
//! stale entry" is checked at every step, not only where a read happened to look.

use serde::{Deserialize, Serialize};

/// A cache tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    L1,
    L2,
    L3,
    Redis,
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tier::L1 => "L1",
            Tier::L2 => "L2",
            Tier::L3 => "L3",
            Tier::Redis => "Redis",
        })
    }
}

/// Why an entry left a tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoveCause {
    Invalidate,
    Delete,
    Evict,
    Expire,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelEvent {
    /// The database committed `version` of `key` (value `None`: a delete). `op` is the client
    /// operation that asked for it.
    Commit {
        key: String,
        version: u64,
        value: Option<i64>,
        op: u64,
    },
    /// A tier stored an entry. `expires_at_ns` is the global instant its TTL ends under the
    /// tier's clock at fill time.
    Fill {
        node: String,
        tier: Tier,
        key: String,
        version: u64,
        expires_at_ns: Option<u64>,
    },
    /// A version-gated tier refused a fill below its floor.
    Refuse {
        node: String,
        tier: Tier,
        key: String,
        version: u64,
        floor_version: u64,
    },
    /// An entry left a tier.
    Remove {
        node: String,
        tier: Tier,
        key: String,
        version: u64,
        cause: RemoveCause,
    },
    /// A tier's per-key version floor rose (an invalidation arrived).
    Floor {
        node: String,
        tier: Tier,
        key: String,
        version: u64,
    },
    /// A node (re)started with empty memory.
    Start { node: String },
}
