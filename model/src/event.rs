//! What the cache system does, as internal history events. The invariants are checked on these
//! after the run: tier contents are reconstructed from fills and removals, so "no tier holds a
//! stale entry" is checked at every step, not only where a read happened to look.
//!
//! Times named `*_ns` without a qualifier are global sim time; `*_local_ns` are the node's own
//! clock, which the fault plan may skew.

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

impl Tier {
    /// Depth from the application: L1 is nearest (0), Redis deepest (3).
    pub fn depth(self) -> u8 {
        match self {
            Tier::L1 => 0,
            Tier::L2 => 1,
            Tier::L3 => 2,
            Tier::Redis => 3,
        }
    }
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
    /// A tag invalidation dropped it.
    Tag,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelEvent {
    /// The database committed `version` of `key` (value `None`: a delete). `op` is the client
    /// operation that asked for it.
    Commit { key: String, version: u64, value: Option<i64>, op: u64 },
    /// A read replica applied `version` of `key` from the change stream.
    Replicate { node: String, key: String, version: u64 },
    /// A tier stored an entry.
    Fill {
        node: String,
        tier: Tier,
        key: String,
        version: u64,
        /// When the value was read from the database of record (global): the age of the data.
        origin_ns: u64,
        /// The tier's clock at the fill.
        filled_at_local_ns: u64,
        /// The tier's configured TTL, if it has one.
        tier_ttl_ns: Option<u64>,
        /// The global instant its expiry falls at under the tier's clock at fill time.
        expires_at_ns: Option<u64>,
        tags: Vec<String>,
        /// The client operation the fill served, if any (warming and reads).
        op: Option<u64>,
    },
    /// A version-gated tier refused a fill below its floor (or from before its restart).
    Refuse { node: String, tier: Tier, key: String, version: u64, floor_version: u64 },
    /// An entry left a tier.
    Remove { node: String, tier: Tier, key: String, version: u64, cause: RemoveCause },
    /// A tier's per-key version floor rose: an invalidation of `version` arrived.
    Floor { node: String, tier: Tier, key: String, version: u64 },
    /// A tier answered a lookup with a live entry (what ttl-bound and tag-complete read).
    Serve {
        node: String,
        tier: Tier,
        key: String,
        version: u64,
        op: Option<u64>,
        now_local_ns: u64,
        filled_at_local_ns: u64,
        tier_ttl_ns: Option<u64>,
        origin_ns: u64,
        tags: Vec<String>,
    },
    /// A tag invalidation took effect at a tier.
    TagInvalidate { node: String, tier: Tier, tag: String },
    /// A node (re)started with empty memory.
    Start { node: String },
    /// An app node learnt that its connection `conn` to Redis node `server` dropped (`cause`:
    /// crash, partition, reset or closed; see `tiersim_sim::conn`): what it subscribed on it and
    /// what was not yet delivered are gone.
    Disconnect { node: String, server: String, conn: u64, cause: String },
    /// A Redis node started again as its promoted replica (a failover), right after its
    /// `Start`: `restored` is what the replica brought back, (key, version) of every live cache
    /// entry in key order. These are not contents the protocol put there: the checkers judge
    /// what is served or filled from them, not that Redis holds them (`check::cache`).
    Promote { node: String, restored: Vec<(String, u64)> },
}
