//! The layered read-through protocol over L1 / L2 / L3 / Redis / database, built correctly as
//! `versioned` and, with one `Flaw`, as each bug-zoo entry that imitates it.
//!
//! Correct behaviour (DESIGN.md, "Built-in protocols"): every entry carries its database
//! version; every tier keeps a per-key version floor that outlives eviction and deletion and
//! refuses fills below it (`Gate::IfNewer`); a fill carries the incarnation (run id) the reader
//! saw, so a tier restarted since refuses it (and Redis stamps the entry with it, so that after
//! a failover a GET of the promoted replica's copy is a miss); invalidation runs bottom-up after the commit —
//! Redis, every L3, every L2, every L1 — acknowledged and retried, and a write that cannot reach a
//! tier in time is indeterminate, its invalidation going on in the background until every tier
//! acknowledged (after a lost commit reply too, at the version the database answers; a writer
//! that dies mid-cascade takes that retry with it, the gap change-stream invalidation closes);
//! a fill never outlives its source's expiry; tag invalidation
//! reaches every tier with an inclusive epoch.
//!
//! A flaw changes exactly one of those steps, the way real code gets it wrong. Keeping the zoo on
//! this one path guarantees each entry differs from the correct protocol only where it claims to.

use crate::node::config::SystemConfig;
use crate::node::tier::{FillTtl, Gate};
use crate::protocol::app::{App, Lookup, RedisFence, RedisLookup, TierHandle};
use crate::protocol::{Claims, Invalidation, Invariant, OpError, Protocol};
use crate::state::database::{Data, Row};
use crate::state::redis::{Expiry, SetOpts};
use std::time::Duration;

/// The pub/sub channel invalidations are published on by the flawed fan-outs.
pub const CHANNEL: &str = "invalidations";

/// One way to get the layered protocol wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    /// Redis is filled with a plain SET: a slow fill lands after the invalidation.
    StaleSet,
    /// Invalidation deletes top-down (L1 first) without floors; a read refills L1 from a stale L2.
    TopDownCascade,
    /// L1s are invalidated over pub/sub, the write does not wait, and a dropped subscription is
    /// resubscribed without flushing the L1.
    LostInvalidation,
    /// L2/L3 fills are written back in the background without a version check.
    ReorderedFill,
    /// The gate compares with the cached entry only: the version is forgotten on eviction.
    VersionLostOnEvict,
    /// Caches are cleared before the database commit, floorless.
    InvalidateBeforeCommit,
    /// Warming reads the lagging replica and fills with a plain SET.
    LaggingReplicaWarm,
    /// Tag invalidation enumerates the tag's keys in Redis, then deletes those keys everywhere.
    TagEnumerationRace,
    /// L2/L3 expiry is an absolute instant computed on the app's clock.
    TtlSkew,
    /// A hit restarts the entry's TTL.
    SlidingTtl,
    /// A cached absence is filled without a version check.
    NegativeCache,
    /// L1s are invalidated over pub/sub; a restarted process resubscribes only after a while.
    ResubscribeGap,
    /// Tag epochs compare with a strict `<`: an entry filled in the same millisecond survives.
    SameTickInvalidateAll,
    /// A background refresh of a hot key refills it after it was invalidated.
    RefreshAfterInvalidate,
    /// Redis fills trust the floor key alone: when maxmemory evicted it, a late fill lands.
    EvictedFloor,
    /// Redis GETs trust whatever the shard holds: after a failover the promoted replica's copy,
    /// which may predate an acknowledged delete, is served and filled upward.
    FailoverResurrection,
    // The deep tier (see `zoo_deep`): each leaves every other protection in place, so the race
    // needs three orderings to line up.
    /// L1/L2/L3 fills carry no incarnation: the version floor is trusted alone, and a restarted
    /// tier has none.
    UnfencedFill,
    /// Redis fills are floor-gated but carry no run id: a restarted Redis has no floor.
    RedisUnfencedFill,
    /// A shared tier's invalidation that timed out is retried as a plain delete (no floor).
    RetryAsDelete,
    /// Writes and deletes write their version through to every tier instead of invalidating,
    /// and fills compare with the cached entry only; warming reads the lagging replica.
    WriteThroughInEntry,
    /// A shared tier's tag invalidation that timed out is retried as a plain tag epoch (the
    /// entries cached now go; no generation floor for fills still in flight).
    TagRetryAsEpoch,
}

/// How many times an invalidation is sent before the write reports `info`.
const ATTEMPTS: usize = 3;
/// How long a restarted process takes to resubscribe under `ResubscribeGap`.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(300);

/// The layered protocol, correct when `flaw` is `None`.
#[derive(Clone, Copy, Debug)]
pub struct Layered {
    pub flaw: Option<Flaw>,
}

impl Layered {
    fn has(&self, f: Flaw) -> bool {
        self.flaw == Some(f)
    }

    fn gate(&self) -> Gate {
        if self.has(Flaw::VersionLostOnEvict) || self.has(Flaw::WriteThroughInEntry) {
            Gate::IfNewerThanCached
        } else {
            Gate::IfNewer
        }
    }

    async fn lookup(&self, tier: &TierHandle<'_>, key: &str) -> Result<Lookup, OpError> {
        if self.has(Flaw::SlidingTtl) {
            tier.get_touch(key).await
        } else {
            tier.get(key).await
        }
    }

    /// Read `key` through the tiers, filling the ones that missed on the way back.
    pub async fn read_through(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let path = cx.path();
        let mut incarnations = Vec::new();
        // The data, its source's remaining TTL, and the tag generation seen where it was read.
        let mut found: Option<(Data, Option<u64>, u64)> = None;
        for tier in &path {
            let l = self.lookup(tier, key).await?;
            if let Some(e) = l.entry {
                found = Some((Data::of(&e), l.remaining_ns, l.tag_generation));
                if self.has(Flaw::RefreshAfterInvalidate) {
                    self.maybe_refresh(cx, key, l.remaining_ns);
                }
                break;
            }
            incarnations.push(l.incarnation);
        }
        // Below every tier that missed: Redis, then the database.
        let (data, remaining_ns, tag_generation) = match found {
            Some(f) => f,
            None => {
                let touch = self.has(Flaw::SlidingTtl).then_some(cx.config().redis_ttl_ms);
                // Only an entry this incarnation of the shard took from a fenced fill counts:
                // a promoted replica's copy may be older than an acknowledged invalidation.
                // The zoo's other entries predate replication and, like `FailoverResurrection`,
                // trust any entry (several store unstamped ones; their seeds replay as recorded).
                let l = if self.flaw.is_none() {
                    cx.redis().lookup_stamped(key, touch).await?
                } else {
                    cx.redis().lookup(key, touch).await?
                };
                match l.entry {
                    Some((e, pttl_ms)) => {
                        (Data::of(&e), (pttl_ms >= 0).then(|| pttl_ms as u64 * 1_000_000), l.tag_generation)
                    }
                    None => {
                        let data = cx.db().read(key).await?; // the race window opens here
                        self.fill_redis(cx, key, &data, &l).await;
                        (data, None, l.tag_generation)
                    }
                }
            }
        };
        // Fill the tiers that missed, deepest first, each no longer-lived than its source.
        for (tier, incarnation) in path.iter().zip(incarnations).rev() {
            let ttl = match (remaining_ns, self.has(Flaw::TtlSkew) && tier.tier() != crate::event::Tier::L1) {
                (_, true) => FillTtl::AbsoluteLocal { expires_at_ns: cx.now_ns() + tier_ttl_ns(cx, tier) },
                (Some(r), false) => FillTtl::AtMost { remaining_ns: r },
                (None, false) => FillTtl::Tier,
            };
            let gate = if self.has(Flaw::NegativeCache) && data.value.is_none() {
                Gate::Plain
            } else if self.has(Flaw::WriteThroughInEntry) && tier.tier() == crate::event::Tier::L1 {
                // An in-process L1 keeps its floors: peers are told a version, not the value.
                Gate::IfNewer
            } else {
                self.gate()
            };
            let fence = (!self.has(Flaw::UnfencedFill)).then_some(incarnation);
            let mut fill = cx.fill_of(key, &data, ttl, gate, fence);
            fill.tag_generation = self.tag_generations().then_some(tag_generation);
            if self.has(Flaw::ReorderedFill) && tier.tier() != crate::event::Tier::L1 {
                // Written back in the background, unchecked: fills of one key can overtake
                // each other.
                let mut fill = fill;
                fill.gate = Gate::Plain;
                fill.incarnation = None;
                let (cx2, node, t) = (cx.detached(), tier.node_name().to_string(), tier.tier());
                cx.spawn(async move {
                    let handle = cx2.tier_handle(&node, t);
                    let _ = handle.fill(fill).await;
                });
                continue;
            }
            let _ = tier.fill(fill).await;
        }
        Ok(data.row())
    }

    /// Fill Redis after a miss, fenced by what the miss saw: the run id (a restart), the tag
    /// generation, and the eviction count (an evicted floor: without its floor Redis cannot
    /// tell a late fill from a fresh one, so it refuses fills after an eviction).
    async fn fill_redis(&self, cx: &App, key: &str, data: &Data, seen: &RedisLookup) {
        let opts = SetOpts { expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)), ..Default::default() };
        let plain = self.has(Flaw::StaleSet) || (self.has(Flaw::NegativeCache) && data.value.is_none());
        let gate = if plain { Gate::Plain } else { self.gate() };
        let fence = RedisFence {
            run_id: (!plain && !self.has(Flaw::RedisUnfencedFill)).then_some(seen.run_id),
            tag_generation: (self.tag_generations() && !plain).then_some(seen.tag_generation),
            evicted_keys: (!plain && !self.has(Flaw::EvictedFloor)).then_some(seen.evicted_keys),
        };
        // A failed fill is not the reader's problem: it still has the row.
        let entry = cx.entry_of(key, data);
        let _ = cx.redis().fill_fenced(key, entry, opts, gate, fence).await;
    }

    /// Whether fills carry the tag generation the reader saw (all but the flaw that invalidates
    /// tags by enumerating keys instead).
    fn tag_generations(&self) -> bool {
        !self.has(Flaw::TagEnumerationRace)
    }

    /// `RefreshAfterInvalidate`: a hit close to expiry refreshes the key in the background,
    /// reading the database now and filling later, unconditionally.
    fn maybe_refresh(&self, cx: &App, key: &str, remaining_ns: Option<u64>) {
        let near_expiry = remaining_ns.is_some_and(|r| r < cx.config().l1_ttl_ms * 1_000_000 / 2);
        if !near_expiry {
            return;
        }
        let (cx, key) = (cx.detached(), key.to_string());
        cx.clone().spawn(async move {
            let Ok(data) = cx.db().read(&key).await else {
                return;
            };
            cx.sleep(Duration::from_millis(20)).await; // serialise, compress, queue
            let opts = SetOpts { expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)), ..Default::default() };
            let _ = cx.redis().fill(&key, cx.entry_of(&key, &data), opts, Gate::Plain, None).await;
            for tier in cx.path().iter().rev() {
                let _ = tier.fill(cx.fill_of(&key, &data, FillTtl::Tier, Gate::Plain, None)).await;
            }
        });
    }

    /// Commit `value` (None: delete) and invalidate every tier.
    pub async fn commit(&self, cx: &App, key: &str, value: Option<i64>) -> Result<Row, OpError> {
        if self.has(Flaw::InvalidateBeforeCommit) {
            self.remove_everywhere(cx, key, false).await?;
            return cx.db().write(key, value).await;
        }
        let row = match cx.db().write(key, value).await {
            Ok(row) => row,
            Err(e) => {
                // The commit's reply was lost, or it never happened: either way no tier may stay
                // older than what the database holds, so the invalidation runs in the background
                // at the version the database answers.
                self.keep_invalidating(cx, key, None);
                return Err(e);
            }
        };
        if self.has(Flaw::WriteThroughInEntry) {
            self.write_through(cx, key, &row).await?;
        } else if self.has(Flaw::TopDownCascade) {
            self.remove_everywhere(cx, key, true).await?;
        } else if let Err(e) = self.invalidate_bottom_up(cx, key, row.version).await {
            // The write is indeterminate, but its invalidation is not given up: a tier that did
            // not acknowledge in time would hold the old version for its whole TTL (a minute to
            // an hour at the seed's TTLs), so the cascade goes on in the background until every
            // tier acknowledged, as a change-stream invalidator retries until delivered.
            self.keep_invalidating(cx, key, Some(row.version));
            return Err(e);
        }
        Ok(row)
    }

    /// Repeat the bottom-up invalidation until every tier acknowledged it (`App::keep_invalidating`;
    /// each step is idempotent: a floor only rises).
    fn keep_invalidating(&self, cx: &App, key: &str, version: Option<u64>) {
        let layered = *self;
        cx.keep_invalidating(key, version, move |cx, key, version| async move {
            layered.invalidate_bottom_up(&cx, &key, version).await.is_ok()
        });
    }

    /// `WriteThroughInEntry`: put the committed row (a tombstone for a delete) into Redis and
    /// every tier, each gated by the version it caches; peers' L1s get a floorless removal.
    async fn write_through(&self, cx: &App, key: &str, row: &Row) -> Result<(), OpError> {
        let data = Data { value: row.value, version: row.version, origin_ns: cx.now_ns() };
        let opts = SetOpts { expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)), ..Default::default() };
        let entry = cx.entry_of(key, &data);
        self.retry("redis", || {
            let (entry, opts) = (entry.clone(), opts.clone());
            async move { cx.redis().fill(key, entry, opts, Gate::IfNewerThanCached, None).await.map(|_| ()) }
        })
        .await?;
        for tier in cx.shared_tiers() {
            let name = tier.node_name().to_string();
            let fill = cx.fill_of(key, &data, FillTtl::Tier, Gate::IfNewerThanCached, None);
            self.retry(&name, || {
                let fill = fill.clone();
                let tier = &tier;
                async move { tier.fill(fill).await.map(|_| ()) }
            })
            .await?;
        }
        cx.l1().invalidate(key, row.version).await?;
        self.fan_out(cx, Invalidation::Key { key: key.to_string(), version: row.version }).await
    }

    async fn retry<F, Fut>(&self, what: &str, mut f: F) -> Result<(), OpError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), OpError>>,
    {
        for _ in 0..ATTEMPTS {
            if f().await.is_ok() {
                return Ok(());
            }
        }
        Err(OpError::Indeterminate(format!("{what} did not acknowledge the invalidation")))
    }

    /// Redis, every L3, every L2, this L1, every other L1: each acknowledged or retried.
    async fn invalidate_bottom_up(&self, cx: &App, key: &str, version: u64) -> Result<(), OpError> {
        self.retry("redis", || async move { cx.redis().invalidate(key, version).await }).await?;
        for tier in cx.shared_tiers() {
            let name = tier.node_name().to_string();
            if self.has(Flaw::RetryAsDelete) {
                // The versioned invalidation timed out; the retry falls back to a plain DEL.
                if tier.invalidate(key, version).await.is_err() {
                    self.retry(&name, || tier.remove(key)).await?;
                }
                continue;
            }
            self.retry(&name, || tier.invalidate(key, version)).await?;
        }
        cx.l1().invalidate(key, version).await?;
        self.fan_out(cx, Invalidation::Key { key: key.to_string(), version }).await
    }

    /// Tell every other process's L1: acknowledged peer to peer, or (the flawed variants)
    /// published at most once.
    async fn fan_out(&self, cx: &App, inv: Invalidation) -> Result<(), OpError> {
        if self.has(Flaw::LostInvalidation) || self.has(Flaw::ResubscribeGap) {
            cx.publish(CHANNEL, inv).await?;
            return Ok(());
        }
        for peer in cx.peers() {
            let inv = inv.clone();
            self.retry(peer, || async { cx.invalidate_peer(peer, inv.clone()).await.map_err(OpError::from) })
                .await?;
        }
        Ok(())
    }

    /// Floorless deletes everywhere: top-down (L1 first) or bottom-up.
    async fn remove_everywhere(&self, cx: &App, key: &str, top_down: bool) -> Result<(), OpError> {
        let mut steps: Vec<usize> = (0..4).collect();
        if !top_down {
            steps.reverse();
        }
        for step in steps {
            match step {
                0 => {
                    cx.l1().remove(key).await?;
                    for peer in cx.peers() {
                        let inv = Invalidation::Remove { key: key.to_string() };
                        self.retry(peer, || async {
                            cx.invalidate_peer(peer, inv.clone()).await.map_err(OpError::from)
                        })
                        .await?;
                    }
                }
                1 => {
                    for tier in cx.shared_tiers().into_iter().filter(|t| t.tier() == crate::event::Tier::L2) {
                        tier.remove(key).await?;
                    }
                }
                2 => {
                    for tier in cx.shared_tiers().into_iter().filter(|t| t.tier() == crate::event::Tier::L3) {
                        tier.remove(key).await?;
                    }
                }
                _ => {
                    cx.redis().del(key).await?;
                }
            }
        }
        Ok(())
    }

    /// Invalidate a tag everywhere.
    pub async fn invalidate_tag(&self, cx: &App, tag: &str) -> Result<(), OpError> {
        if self.has(Flaw::TagEnumerationRace) {
            // Enumerate once, from Redis's tag sets, then delete those keys everywhere: keys
            // cached elsewhere but gone from Redis are missed.
            let keys = cx.redis().keys_with_tag(tag).await?;
            for key in keys {
                self.remove_everywhere(cx, &key, false).await?;
            }
            return Ok(());
        }
        // Advance the tag's generation in Redis first: from then on every fill of the tag's
        // keys whose data was read earlier carries an older generation and is refused by every
        // tier the invalidation has reached; the invalidation then reaches them all, bottom-up.
        let inclusive = !self.has(Flaw::SameTickInvalidateAll);
        let generation = cx.redis().del_tag(tag).await?;
        for tier in cx.shared_tiers() {
            let name = tier.node_name().to_string();
            if self.has(Flaw::TagRetryAsEpoch) {
                // The generation did not get through in time; the retry clears by epoch only.
                if tier.invalidate_tag_generation(tag, generation, inclusive).await.is_err() {
                    self.retry(&name, || tier.invalidate_tag(tag, inclusive)).await?;
                }
                continue;
            }
            self.retry(&name, || tier.invalidate_tag_generation(tag, generation, inclusive)).await?;
        }
        cx.l1().invalidate_tag_generation(tag, generation, inclusive).await?;
        self.fan_out(cx, Invalidation::Tag { tag: tag.to_string(), generation: Some(generation) }).await
    }

    /// Warm keys: read each through the tiers; `LaggingReplicaWarm` reads the replica and sets
    /// every tier unconditionally instead.
    pub async fn warm(&self, cx: &App, keys: &[String]) -> Result<(), OpError> {
        for key in keys {
            if self.has(Flaw::WriteThroughInEntry) {
                // The replica spares the primary; the cached version guards every fill.
                let data = cx.replica().read(key).await?;
                let opts =
                    SetOpts { expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)), ..Default::default() };
                cx.redis().fill(key, cx.entry_of(key, &data), opts, self.gate(), None).await?;
                for tier in cx.path().iter().rev() {
                    // The in-process L1 keeps its floors (see `read_through`).
                    let gate =
                        if tier.tier() == crate::event::Tier::L1 { Gate::IfNewer } else { self.gate() };
                    tier.fill(cx.fill_of(key, &data, FillTtl::Tier, gate, None)).await?;
                }
            } else if self.has(Flaw::LaggingReplicaWarm) {
                let data = cx.replica().read(key).await?;
                let opts =
                    SetOpts { expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)), ..Default::default() };
                cx.redis().fill(key, cx.entry_of(key, &data), opts, Gate::Plain, None).await?;
                for tier in cx.path().iter().rev() {
                    tier.fill(cx.fill_of(key, &data, FillTtl::Tier, Gate::Plain, None)).await?;
                }
            } else {
                self.read_through(cx, key).await?;
            }
        }
        Ok(())
    }

    /// What a process does when it (re)starts.
    pub async fn on_start(&self, cx: &App) {
        if self.has(Flaw::ResubscribeGap) {
            // Reconnect backoff: invalidations published meanwhile are lost to this process.
            cx.sleep(RESUBSCRIBE_DELAY).await;
        }
        if self.has(Flaw::LostInvalidation) || self.has(Flaw::ResubscribeGap) {
            while cx.subscribe(CHANNEL).await.is_err() {}
        }
    }

    /// A dropped pub/sub connection (the flawed fan-outs): subscribe again, as client libraries
    /// do on reconnect; the L1 is not flushed, so what was published in between is never seen.
    pub async fn on_disconnect(&self, cx: &App) {
        if self.has(Flaw::LostInvalidation) || self.has(Flaw::ResubscribeGap) {
            while cx.subscribe(CHANNEL).await.is_err() {}
        }
    }

    /// A delivered invalidation: a floored removal, or a floorless delete.
    pub async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        let _ = match inv {
            Invalidation::Key { key, version } => cx.l1().invalidate(&key, version).await,
            Invalidation::Remove { key } => cx.l1().remove(&key).await,
            Invalidation::Tag { tag, generation } => {
                let inclusive = !self.has(Flaw::SameTickInvalidateAll);
                match generation {
                    Some(g) => cx.l1().invalidate_tag_generation(&tag, g, inclusive).await,
                    None => cx.l1().invalidate_tag(&tag, inclusive).await,
                }
            }
        };
    }
}

fn tier_ttl_ns(cx: &App, tier: &TierHandle<'_>) -> u64 {
    let c = cx.config();
    let ms = match tier.tier() {
        crate::event::Tier::L1 => c.l1_ttl_ms,
        crate::event::Tier::L2 => c.l2_ttl_ms,
        crate::event::Tier::L3 => c.l3_ttl_ms,
        crate::event::Tier::Redis => c.redis_ttl_ms,
    };
    ms * 1_000_000
}

/// What `versioned` claims (and the layered zoo entries with it): every cache invariant, and
/// bounded staleness with Δ = the largest TTL + the largest clock skew + the operation timeout.
pub fn versioned_claims(cfg: &SystemConfig) -> Claims {
    use Invariant::*;
    let bound_ms = cfg.largest_ttl_ms() + cfg.max_clock_skew_ms + cfg.op_timeout_ms;
    Claims::new([
        InvalidationBarrier,
        NoResurrection,
        TierOrder,
        TtlBound,
        TagComplete,
        Converged,
        MonotonicReads,
        ReadYourWrites,
    ])
    .with_staleness_bound_ns(bound_ms * 1_000_000)
}

/// Whether a request's worst round trip fits in the rpc timeout, so that with no fault in force
/// every call is answered in time: each way costs up to the largest link latency plus madsim's
/// 1 ms charges at send and at receive (see `tiersim_sim::net::Net::serve`). Where it does not
/// (`slow-fills`: links up to 40 ms, a 50 ms timeout) calls time out on a healthy network, and a
/// protocol that waits for answers cannot promise `live`.
pub fn network_answers_in_time(cfg: &SystemConfig) -> bool {
    let one_way_ns = cfg.run.latency_max_ns + 2_000_000;
    2 * one_way_ns < cfg.rpc_timeout_ms * 1_000_000
}

/// What `versioned` itself claims: `versioned_claims`, and `live` where the network answers in
/// time (the zoo entries on the layered path keep `versioned_claims`: their flaws are elsewhere).
pub fn versioned_own_claims(cfg: &SystemConfig) -> Claims {
    let mut claims = versioned_claims(cfg);
    if network_answers_in_time(cfg) {
        claims.invariants.insert(Invariant::Live);
    }
    claims
}

/// A protocol on the layered path (`versioned`, and the zoo entries that imitate it).
pub struct LayeredProtocol {
    pub name: &'static str,
    pub layered: Layered,
    pub claims: fn(&SystemConfig) -> Claims,
}

impl LayeredProtocol {
    /// `versioned`: the layered protocol without a flaw.
    pub fn versioned() -> Self {
        LayeredProtocol { name: "versioned", layered: Layered { flaw: None }, claims: versioned_own_claims }
    }
}

impl Protocol for LayeredProtocol {
    fn name(&self) -> String {
        self.name.into()
    }
    fn claims(&self, cfg: &SystemConfig) -> Claims {
        (self.claims)(cfg)
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.layered.read_through(cx, key).await
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        self.layered.commit(cx, key, Some(value)).await
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.layered.commit(cx, key, None).await
    }
    async fn invalidate_tag(&self, cx: &App, tag: &str) -> Result<(), OpError> {
        self.layered.invalidate_tag(cx, tag).await
    }
    async fn warm(&self, cx: &App, keys: &[String]) -> Result<(), OpError> {
        self.layered.warm(cx, keys).await
    }
    async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        self.layered.on_invalidation(cx, inv).await
    }
    async fn on_start(&self, cx: &App) {
        self.layered.on_start(cx).await
    }
    async fn on_disconnect(&self, cx: &App, _conn: u64) {
        self.layered.on_disconnect(cx).await
    }
}
