//! The deep tier of the bug zoo: races of depth three or more, each a protocol that keeps every
//! protection of the correct protocol it imitates but one, so that the protections left cover
//! the common interleavings and only three orderings lining up at once break its claim.
//!
//! Uniform random search needs thousands of seeds for each (`tiersim bench --deep` measures
//! it), which is what makes them worth having: exploration strategies are ranked by how much
//! sooner they get there. The depth comes from the race, never from a coin flip in the protocol
//! or a filter on seeds; each entry's story names the three orderings. They are registered in
//! the same zoo as the basic tier (`zoo::all`), with `tier: deep`.

use super::versioned::{versioned_claims, Flaw, Layered, LayeredProtocol};
use super::zoo_card::{card, ZooEntry};
use crate::protocol::ProtocolFactory;

macro_rules! deep {
    ($($card:tt)*) => { card!(Deep, $($card)*) };
}

/// The deep tier.
pub const DEEP: [ZooEntry; 5] = [
    deep!("restart-unfenced-fill", "tier-restarts", InvalidationBarrier,
        "1. R misses L1, L2, L3 and Redis and reads v1 from the database. 2. W commits v2 and invalidates bottom-up; L2 raises its floor to v2 and W is acknowledged. 3. L2 crashes and restarts: its floors were in memory. 4. R's fill of v1 reaches the fresh L2, which has no floor and no incarnation to compare (the fill carries none), and keeps v1. Redis and L3 refused the same fill: only a restart between the invalidation and the fill, inside one read, lets it through.",
        "version floors kept in process memory, trusted without an epoch fence (memcached restarts under lease-less gets; Facebook's cold-cluster warm-up in Scaling Memcache 4.3)"),
    deep!("redis-restart-unfenced-fill", "tier-restarts", InvalidationBarrier,
        "1. R misses every tier and reads v1 from the database. 2. W commits v2 and invalidates Redis (floor v2), then the other tiers; W is acknowledged. 3. Redis restarts (failover to an empty replica): the floor key is gone. 4. R's SET-if-newer of v1 finds no floor and no run id to check, and lands; L3, L2 and L1 refill from it.",
        "Lua SET-if-newer scripts that store the version floor in a volatile key, with no run-id or epoch check across failover (Redis replication and failover docs)"),
    deep!("heal-retry-delete", "flaky-links", InvalidationBarrier,
        "1. R reads v1 from the database; its fills are slow. 2. W commits v2; its versioned invalidation of L2 is lost in a partition of the link and times out. 3. The partition heals and the retry, a plain DEL, removes L2's entry without a floor; W is acknowledged. 4. R's fill of v1 lands at L2 after the DEL and is kept.",
        "retry paths that fall back to a plain delete when the conditional (versioned) invalidation times out (cache-client retry policies; Scaling Memcache's 'mcsqueal' replays)"),
    deep!("write-through-evict", "warm-evict-sparse", InvalidationBarrier,
        "1. A warmer reads k from a read replica that lags, and gets v1. 2. D deletes k: it commits v2 and writes a v2 tombstone through every tier, each keeping the version in the entry alone. 3. Capacity pressure evicts the tombstone (in `warm-evict-sparse` TTLs are a minute long, so eviction alone forgets it). 4. The warmer's fill of v1 finds nothing to compare with and lands: the deleted value is back after D was acknowledged.",
        "write-through caches that keep the version only in the cached entry (CAS tokens in memcached, Caffeine/Guava refresh races under eviction); cache warming from replicas"),
    deep!("heal-retry-tag", "flaky-tags", TagComplete,
        "1. R misses every tier, sees tag generation g in Redis and reads k (of tag t) from the database; its fills are slow. 2. T invalidates tag t: Redis moves to generation g+1, but the generation message to a shared tier (L2 or L3) is lost in a partition of the link and times out. 3. The partition heals and the retry, a plain tag clear, removes what that tier caches of t now and records an epoch, no generation; T is acknowledged. 4. R's fill of generation g lands there after the clear, newer than its epoch, and is kept; a read after T's acknowledgement is served k from before the invalidation.",
        "retry paths that fall back to a blunter command when the precise one times out (tag flushes by timestamp after a generation bump failed: Rails cache versioning, Laravel tagged caches; Scaling Memcache's 'mcsqueal' replays)"),
];

/// The protocol of deep entry `entry`.
pub fn protocol(entry: &ZooEntry) -> ProtocolFactory {
    let flaw = match entry.name {
        "restart-unfenced-fill" => Flaw::UnfencedFill,
        "redis-restart-unfenced-fill" => Flaw::RedisUnfencedFill,
        "heal-retry-delete" => Flaw::RetryAsDelete,
        "write-through-evict" => Flaw::WriteThroughInEntry,
        "heal-retry-tag" => Flaw::TagRetryAsEpoch,
        other => panic!("tiersim bug: deep zoo entry {other} has no protocol"),
    };
    let name = entry.name;
    ProtocolFactory::new(move || LayeredProtocol {
        name,
        layered: Layered { flaw: Some(flaw) },
        claims: versioned_claims,
    })
}
