//! The bug zoo: nineteen real invalidation races, each a protocol that claims the guarantees of
//! the correct protocol it imitates and breaks them in one way. Every entry names the scenario
//! and the invariant that expose it; `tiersim list --json` prints them, and a test sweeps each.

use super::cache_aside::DoubleDelete;
use super::tracking::{TrackingFlaw, TrackingProtocol};
use super::versioned::{versioned_claims, Flaw, Layered, LayeredProtocol};
use crate::node::config::SystemConfig;
use crate::protocol::{Claims, Invariant, ProtocolFactory};
use std::time::Duration;

use super::zoo_card::card;
pub use super::zoo_card::{ZooEntry, ZooTier};

/// What a pub/sub-invalidated protocol claims: its authors believe every published
/// invalidation arrives within the request timeout (three attempts), so staleness stays within
/// that plus the clock skew; it makes no barrier claim (writes do not wait for subscribers).
fn pubsub_claims(cfg: &SystemConfig) -> Claims {
    let bound_ms = 3 * cfg.rpc_timeout_ms + cfg.max_clock_skew_ms;
    Claims::new([Invariant::Converged]).with_staleness_bound_ns(bound_ms * 1_000_000)
}

/// The second delete of `short-double-delete` comes this soon after the commit.
const SHORT_SLEEP: Duration = Duration::from_millis(10);

/// What `short-double-delete` claims: its authors believe the second delete clears any stale
/// fill, so a stale value lives at most twice the sleep plus one request.
fn short_double_delete_claims(cfg: &SystemConfig) -> Claims {
    let bound_ms = 2 * SHORT_SLEEP.as_millis() as u64 + cfg.rpc_timeout_ms;
    Claims::new([Invariant::Converged]).with_staleness_bound_ns(bound_ms * 1_000_000)
}

macro_rules! entry {
    ($($card:tt)*) => { card!(Basic, $($card)*) };
}

/// The zoo, in DESIGN.md's order.
pub const ZOO: [ZooEntry; 19] = [
    entry!("stale-set", "fill-race", InvalidationBarrier,
        "1. R misses everywhere and reads v1 from the database. 2. W commits v2 and invalidates every tier; W is acknowledged. 3. R's plain SET of v1 reaches Redis. 4. Redis serves v1 until its TTL.",
        "Nishtala et al., Scaling Memcache at Facebook (NSDI 2013), 3.2.1 stale sets"),
    entry!("top-down-cascade", "cascade-invalidation", InvalidationBarrier,
        "1. W commits v2 and deletes L1 first, then L2, L3, Redis. 2. Between the L1 and the L2 delete, R misses its L1 and hits v1 in L2. 3. R refills L1 with v1. 4. W finishes and is acknowledged; L1 holds v1.",
        "cascading-invalidation guidance: invalidate from the source outward (e.g. Spring multi-level cache issues)"),
    entry!("lost-invalidation", "connection-drops", BoundedStaleness,
        "1. W commits v2 and publishes the invalidation on Redis pub/sub. 2. One subscriber's connection is reset before the message reaches it; Redis drops the message with the connection. 3. Its client library resubscribes at once, but the process does not flush its L1. 4. That L1 serves v1 until its long TTL.",
        "Redis pub/sub delivery semantics (messages of a dropped connection are lost; at most once); client-side caching docs: flush the local cache when the connection drops"),
    entry!("reordered-fill", "fill-race", InvalidationBarrier,
        "1. R1 reads v1 from the database; W commits v2 and invalidates; R2 reads v2. 2. Both write L2 back in the background with no version check. 3. R2's fill lands first, R1's v1 overwrites it. 4. L2 serves v1 after v2's invalidation was acknowledged.",
        "asynchronous write-back caches without compare-and-set (e.g. memcached SET vs CAS)"),
    entry!("version-lost-on-evict", "evict-pressure", InvalidationBarrier,
        "1. L2 holds v2 (the version is kept only in the entry). 2. Capacity pressure evicts v2. 3. A slow fill of v1 arrives; with no entry to compare against, L2 accepts it. 4. L2 serves v1 after v2's invalidation was acknowledged.",
        "version checks stored in the entry itself (TAO/memcache lease discussions; Caffeine refresh races)"),
    entry!("invalidate-before-commit", "fill-race", InvalidationBarrier,
        "1. W deletes the key from every tier. 2. Before W's commit, R misses and reads v1 from the database. 3. R refills the tiers with v1. 4. W commits v2 and is acknowledged; the tiers hold v1.",
        "'delete then update' anti-pattern (cache-aside write ordering discussions)"),
    entry!("short-double-delete", "slow-fills", BoundedStaleness,
        "1. R misses in Redis and reads v1. 2. W deletes, commits v2, sleeps briefly, deletes again. 3. R's SET of v1 lands after the second delete. 4. Redis serves v1 for a full TTL.",
        "delayed double delete as commonly blogged; the sleep must exceed the slowest fill"),
    entry!("lagging-replica-warm", "warming", InvalidationBarrier,
        "1. W commits v2 and invalidates; W is acknowledged. 2. A warmer reads the key from a replica that has not applied v2. 3. It SETs v1 into every tier. 4. The tiers serve v1.",
        "cache warming from read replicas (replica lag, e.g. Aurora/MySQL replica caveats)"),
    entry!("tag-enumeration-race", "tag-invalidation", TagComplete,
        "1. An L2 and an L1 hold key k of tag t; Redis's copy expired. 2. InvalidateTag(t) enumerates t's keys from Redis's tag set: k is not there. 3. It deletes the keys it found and is acknowledged. 4. L2 serves k, filled before the invalidation.",
        "tag-based invalidation over a key index (Symfony/Laravel cache tags, Drupal cache tags)"),
    entry!("ttl-skew", "clock-skew", TtlBound,
        "1. An app whose clock runs ahead computes an absolute expiry now + TTL. 2. It sends that instant to L2, whose clock is correct. 3. L2 keeps and serves the entry past filled_at + TTL on its own clock.",
        "absolute expiry timestamps across hosts (memcached/Redis EXPIREAT with skewed clients)"),
    entry!("sliding-ttl", "partitioned-hot-keys", BoundedStaleness,
        "1. A process is partitioned during W's invalidation; W becomes indeterminate. 2. Its tiers hold v1. 3. Every read refreshes v1's TTL. 4. v1 never expires while the key stays hot.",
        "sliding expiration (e.g. ASP.NET/IMemoryCache SlidingExpiration) combined with lost invalidations"),
    entry!("negative-cache", "fill-race", InvalidationBarrier,
        "1. R reads key k: absent. 2. W inserts v1 and invalidates; W is acknowledged. 3. R caches 'absent' with no version check. 4. Reads see the key as missing.",
        "negative caching (DNS RFC 2308 style) applied to application caches"),
    entry!("resubscribe-gap", "restarts", BoundedStaleness,
        "1. A process holds v1 in its L1; it or its Redis restarts, and its pub/sub connection drops with the restart. 2. Its subscription comes back only after a reconnect. 3. An invalidation published meanwhile never reaches it, and it does not flush its L1. 4. Its L1 serves the old version for a long TTL.",
        "Redis client-side caching / pub/sub reconnect gaps (RESP3 tracking invalidation on reconnect)"),
    entry!("same-tick-invalidate-all", "tag-invalidation", TagComplete,
        "1. An entry of tag t is filled at t=1000 ms. 2. InvalidateTag(t) also runs at t=1000 ms and records epoch 1000. 3. The check 'filled_at < epoch' keeps the entry. 4. It is served after the invalidation.",
        "timestamp-based invalidate-all with millisecond clocks (off-by-one on equal timestamps)"),
    entry!("refresh-after-invalidate", "refresh-ahead", NoResurrection,
        "1. A hot key near expiry triggers a background refresh, which reads v1. 2. D deletes the key and invalidates every tier; D is acknowledged. 3. The refresh lands and writes v1 back. 4. The deleted value is served again.",
        "refresh-ahead caches (Caffeine refreshAfterWrite, Spring @Cacheable sync refresh) racing deletes"),
    entry!("tracking-race", "client-tracking", BoundedStaleness,
        "1. A process misses its L1 and sends GET k to Redis, which answers v1 and remembers the read. 2. W commits v2 and invalidates Redis; Redis sends the invalidation on the process's redirect connection. 3. The invalidation arrives before the GET reply, which travels on the data connection, and finds nothing to drop. 4. The reply fills the L1 with v1, which it serves until its long TTL.",
        "Redis client-side caching docs (the race between the reply and the invalidation; the placeholder fix); Redis CLIENT TRACKING"),
    entry!("tracking-disconnect", "client-tracking", BoundedStaleness,
        "1. A process caches v1 in its L1, tracked by Redis over its RESP2 redirect connection. 2. The redirect connection drops; W commits v2 and Redis's invalidation goes nowhere. 3. The process opens a new redirect connection and turns tracking on again, without flushing its L1. 4. Its L1 serves v1 until its long TTL.",
        "Redis client-side caching docs: when the invalidation connection drops, flush the local cache"),
    entry!("evicted-floor", "redis-pressure", InvalidationBarrier,
        "1. R misses in Redis and reads v1 from the database. 2. W commits v2; Redis raises k's floor key to v2 and drops v1; W is acknowledged. 3. Under maxmemory (allkeys-lfu) Redis evicts the floor key, seldom read, to make room for another key. 4. R's gated fill of v1 finds no floor and lands; Redis serves v1.",
        "Redis maxmemory-policy allkeys-* evicts any key, including the version or lease keys a Lua fill script checks (Redis eviction docs; memcache lease tokens lost to eviction)"),
    entry!("failover-resurrection", "redis-failover", NoResurrection,
        "1. Redis holds v1 of k; its replica, tens of ms behind, holds it too. 2. D deletes k: the database commits v2 (a delete), Redis raises the floor and drops v1, every tier is invalidated; D is acknowledged. 3. The primary fails before the replica received the delete; the replica is promoted and holds v1 again (and the old floor). 4. A read misses L1, L2 and L3, GETs v1 from the new primary, trusts it, returns it and fills the tiers above with it.",
        "Redis replication is asynchronous: a failover loses the writes the replica had not received (Redis replication docs, 'Redis replication and safety'; Jepsen: Redis-Raft / Sentinel lost acknowledged writes)"),
];

fn flaw_of(name: &str) -> Option<Flaw> {
    Some(match name {
        "stale-set" => Flaw::StaleSet,
        "top-down-cascade" => Flaw::TopDownCascade,
        "lost-invalidation" => Flaw::LostInvalidation,
        "reordered-fill" => Flaw::ReorderedFill,
        "version-lost-on-evict" => Flaw::VersionLostOnEvict,
        "invalidate-before-commit" => Flaw::InvalidateBeforeCommit,
        "lagging-replica-warm" => Flaw::LaggingReplicaWarm,
        "tag-enumeration-race" => Flaw::TagEnumerationRace,
        "ttl-skew" => Flaw::TtlSkew,
        "sliding-ttl" => Flaw::SlidingTtl,
        "negative-cache" => Flaw::NegativeCache,
        "resubscribe-gap" => Flaw::ResubscribeGap,
        "same-tick-invalidate-all" => Flaw::SameTickInvalidateAll,
        "refresh-after-invalidate" => Flaw::RefreshAfterInvalidate,
        "evicted-floor" => Flaw::EvictedFloor,
        "failover-resurrection" => Flaw::FailoverResurrection,
        _ => return None,
    })
}

fn tracking_flaw_of(name: &str) -> Option<TrackingFlaw> {
    match name {
        "tracking-race" => Some(TrackingFlaw::NoPlaceholder),
        "tracking-disconnect" => Some(TrackingFlaw::NoFlushOnDisconnect),
        _ => None,
    }
}

/// The protocol of zoo entry `entry`.
pub fn protocol(entry: &ZooEntry) -> ProtocolFactory {
    if let Some(flaw) = tracking_flaw_of(entry.name) {
        let name = entry.name;
        return ProtocolFactory::new(move || TrackingProtocol::with_flaw(name, Some(flaw), pubsub_claims));
    }
    if entry.tier == ZooTier::Deep {
        return super::zoo_deep::protocol(entry);
    }
    if entry.name == "short-double-delete" {
        return ProtocolFactory::new(|| DoubleDelete {
            name: "short-double-delete",
            sleep: SHORT_SLEEP,
            claims: short_double_delete_claims,
        });
    }
    let flaw =
        flaw_of(entry.name).unwrap_or_else(|| panic!("tiersim bug: zoo entry {} has no flaw", entry.name));
    let claims = match flaw {
        Flaw::LostInvalidation | Flaw::ResubscribeGap => pubsub_claims,
        _ => versioned_claims,
    };
    let name = entry.name;
    ProtocolFactory::new(move || LayeredProtocol { name, layered: Layered { flaw: Some(flaw) }, claims })
}

/// Every zoo entry: the basic tier in DESIGN.md's order, then the deep tier.
pub fn all() -> impl Iterator<Item = &'static ZooEntry> {
    ZOO.iter().chain(super::zoo_deep::DEEP.iter())
}

/// The zoo entry called `name`.
pub fn entry(name: &str) -> Option<&'static ZooEntry> {
    all().find(|e| e.name == name)
}
