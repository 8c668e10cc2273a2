//! An app node: one application process with its in-process L1, the clients (Jepsen processes)
//! that run on it, and the handles a protocol is written against. `App` is what protocol code
//! sees: the tiers of its host and region, Redis, the database and its replica, its peers, pub/sub
//! and its own clock — the way service code sees its environment.

use crate::event::{ModelEvent, Tier};
use crate::node::config::{SystemConfig, DB_NODE};
use crate::node::db::DbReq;
use crate::node::pubsub::{Delivery, Inbox};
use crate::node::redis::{with_op, ExpireArg, RedisReq, RedisResp, RedisScript, WatchToken};
use crate::node::tier::{Fill, FillTtl, Gate, LeaseToken, TierCmd, TierReply, TierState};
use crate::protocol::error::OpError;
use crate::state::database::{Data, Row};
use crate::state::invalidation::Invalidation;
use crate::state::redis::{shard_for, ExpireCond, GetExOpt, SetOpts};
use crate::state::store::Entry;
use futures_channel::mpsc::UnboundedSender;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;
use tiersim_sim::clock::NodeClock;
use tiersim_sim::history::Recorder;
use tiersim_sim::net::{Net, NetError};

/// Requests one app node sends another.
#[derive(Clone, Debug)]
pub enum AppReq {
    /// Deliver an invalidation to the peer's protocol and acknowledge when it is handled.
    Invalidate(Invalidation),
}

pub(crate) struct AppNode {
    pub(crate) net: Net,
    pub(crate) clock: NodeClock,
    pub(crate) l1: RefCell<TierState>,
    /// Every other app node, in name order.
    pub(crate) peers: Vec<String>,
    pub(crate) l2: String,
    pub(crate) l3: String,
    pub(crate) replica: String,
    pub(crate) recorder: Recorder<ModelEvent>,
    pub(crate) config: SystemConfig,
    /// The client side of this node's Redis connections (see `protocol::pubsub`).
    pub(crate) inbox: RefCell<Inbox>,
    /// Where connections hand what they deliver, in order, to the protocol's handlers.
    pub(crate) deliveries: UnboundedSender<Delivery>,
    /// The connection this node's pub/sub subscriptions live on, if it opened one.
    pub(crate) pubsub_conn: std::cell::Cell<Option<u64>>,
    /// Whether this node takes pushed frames yet (from its first connection on).
    pub(crate) frames_served: std::cell::Cell<bool>,
    /// The Redis shards this process has turned client tracking on at.
    pub(crate) tracking_on: RefCell<std::collections::BTreeSet<usize>>,
}

/// The context a protocol method runs in: this app node's handles, and the client operation
/// being served (none in handlers and background tasks).
#[derive(Clone)]
pub struct App {
    pub(crate) node: Rc<AppNode>,
    pub(crate) op: Option<u64>,
}

/// What a tier lookup found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    pub entry: Option<Entry>,
    /// The entry's remaining TTL on the tier's clock.
    pub remaining_ns: Option<u64>,
    /// The tier's incarnation (it rises on every restart): pass it back with a fill so that a
    /// tier that restarted in between refuses it.
    pub incarnation: u64,
    /// The generation the tier knows for the hit's tag (0 on a miss or an untagged entry).
    pub tag_generation: u64,
}

impl App {
    /// This app node's name (`app-0`, ...).
    pub fn name(&self) -> &str {
        self.node.net.name()
    }

    /// The client operation being served, if any.
    pub fn op(&self) -> Option<u64> {
        self.op
    }

    /// The node's local clock in nanoseconds (skewed by the fault plan like a real host's).
    pub fn now_ns(&self) -> u64 {
        self.node.clock.now_ns()
    }

    /// The system's configuration (topology, TTLs, timeouts).
    pub fn config(&self) -> &SystemConfig {
        &self.node.config
    }

    /// Every other app node, in name order.
    pub fn peers(&self) -> &[String] {
        &self.node.peers
    }

    /// The tags of `key` under the system's tag scheme.
    pub fn tags_of(&self, key: &str) -> Vec<String> {
        self.node.config.tags_of(key)
    }

    /// Sleep on the simulated clock.
    pub async fn sleep(&self, d: Duration) {
        madsim::time::sleep(d).await
    }

    /// Run `work` in the background on this node (it dies with the node).
    pub fn spawn(&self, work: impl Future<Output = ()> + 'static) {
        madsim::task::spawn_local(work);
    }

    /// A context for background work, detached from the client operation.
    pub fn detached(&self) -> App {
        App { node: self.node.clone(), op: None }
    }

    /// For a write that ended indeterminate: invalidate `key` in the background until `step`
    /// reports every tier it covers acknowledged, one round per rpc timeout. Each round runs at
    /// `version`, or (None: a commit whose reply was lost) at the version the database holds
    /// when the round begins, which no tier may stay older than. It dies with the node.
    pub fn keep_invalidating<F, Fut>(&self, key: &str, version: Option<u64>, step: F)
    where
        F: Fn(App, String, u64) -> Fut + 'static,
        Fut: Future<Output = bool> + 'static,
    {
        let (cx, key) = (self.detached(), key.to_string());
        let pause = Duration::from_millis(cx.config().rpc_timeout_ms);
        self.spawn(async move {
            loop {
                cx.sleep(pause).await;
                let version = match version {
                    Some(v) => v,
                    None => match cx.db().read(&key).await {
                        Ok(data) => data.version,
                        Err(_) => continue,
                    },
                };
                if step(cx.clone(), key.clone(), version).await {
                    return;
                }
            }
        });
    }

    /// A fill of `data` into some tier, with this system's tags for the key.
    pub fn fill_of(
        &self,
        key: &str,
        data: &Data,
        ttl: FillTtl,
        gate: Gate,
        incarnation: Option<u64>,
    ) -> Fill {
        Fill {
            key: key.to_string(),
            value: data.value,
            version: data.version,
            origin_ns: data.origin_ns,
            tags: self.tags_of(key),
            ttl,
            gate,
            incarnation,
            tag_generation: None,
            op: self.op,
        }
    }

    /// An entry for a Redis fill of `data`.
    pub fn entry_of(&self, key: &str, data: &Data) -> Entry {
        Entry {
            value: data.value,
            version: data.version,
            filled_at_ns: self.now_ns(),
            origin_ns: data.origin_ns,
            expires_at_ns: None,
            tags: self.tags_of(key).into_iter().collect(),
            run_id: None,
        }
    }

    /// This process's in-memory L1.
    pub fn l1(&self) -> TierHandle<'_> {
        TierHandle { app: self, tier: Tier::L1, node: None }
    }

    /// This host's L2.
    pub fn l2(&self) -> TierHandle<'_> {
        TierHandle { app: self, tier: Tier::L2, node: Some(self.node.l2.clone()) }
    }

    /// This region's L3.
    pub fn l3(&self) -> TierHandle<'_> {
        TierHandle { app: self, tier: Tier::L3, node: Some(self.node.l3.clone()) }
    }

    /// A handle to tier node `node` (an L2 or L3 by name; an L1 is this process's own).
    pub fn tier_handle(&self, node: &str, tier: Tier) -> TierHandle<'_> {
        let node = (tier != Tier::L1).then(|| node.to_string());
        TierHandle { app: self, tier, node }
    }

    /// This process's path through the tiers, nearest first: L1, L2, L3.
    pub fn path(&self) -> [TierHandle<'_>; 3] {
        [self.l1(), self.l2(), self.l3()]
    }

    /// Every L2 and L3 node of the system as handles, deepest first (L3s, then L2s): the order
    /// of a bottom-up invalidation.
    pub fn shared_tiers(&self) -> Vec<TierHandle<'_>> {
        let t = &self.node.config.topology;
        let l3 = (0..t.regions).map(|r| TierHandle {
            app: self,
            tier: Tier::L3,
            node: Some(crate::node::config::l3_node(r)),
        });
        let l2 = (0..t.hosts()).map(|h| TierHandle {
            app: self,
            tier: Tier::L2,
            node: Some(crate::node::config::l2_node(h)),
        });
        l3.chain(l2).collect()
    }

    /// Redis (sharded by key slot).
    pub fn redis(&self) -> RedisClient<'_> {
        RedisClient { app: self }
    }

    /// The database of record.
    pub fn db(&self) -> DbClient<'_> {
        DbClient { app: self, node: DB_NODE.to_string() }
    }

    /// This region's read replica (it lags the database).
    pub fn replica(&self) -> DbClient<'_> {
        DbClient { app: self, node: self.node.replica.clone() }
    }

    fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.node.config.rpc_timeout_ms)
    }

    /// Invalidate `peer` through its protocol handler and wait for its acknowledgement.
    pub async fn invalidate_peer(&self, peer: &str, inv: Invalidation) -> Result<(), NetError> {
        self.node.net.call::<AppReq, ()>(peer, AppReq::Invalidate(inv), self.rpc_timeout()).await
    }

    /// Send `peer` an invalidation without waiting (at most once: it may be lost).
    pub async fn notify_peer(&self, peer: &str, inv: Invalidation) -> Result<(), NetError> {
        self.node.net.send(peer, inv).await
    }
}

/// What a lookup under leases found: a hit with its remaining lease, or a miss with the token to
/// fill with (None: the tier is write-leased and takes no fill).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseLookup {
    pub entry: Option<Entry>,
    pub remaining_ns: Option<u64>,
    pub token: Option<LeaseToken>,
}

/// One tier as a protocol sees it: the L1 in-process, L2 and L3 over the network. The same
/// commands either way.
pub struct TierHandle<'a> {
    app: &'a App,
    tier: Tier,
    /// The node answering (None: this process's own L1).
    node: Option<String>,
}

impl TierHandle<'_> {
    async fn apply(&self, cmd: TierCmd) -> Result<TierReply, OpError> {
        let node = &self.app.node;
        match &self.node {
            None => Ok(node.l1.borrow_mut().apply(cmd)),
            Some(to) => Ok(node.net.call::<TierCmd, TierReply>(to, cmd, self.app.rpc_timeout()).await?),
        }
    }

    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The node that answers (`app-N` for an L1).
    pub fn node_name(&self) -> &str {
        self.node.as_deref().unwrap_or(self.app.name())
    }

    /// Look `key` up (an expired entry is dropped on the way).
    pub async fn get(&self, key: &str) -> Result<Lookup, OpError> {
        self.lookup(key, false).await
    }

    /// Look `key` up and restart its TTL on a hit (a sliding TTL).
    pub async fn get_touch(&self, key: &str) -> Result<Lookup, OpError> {
        self.lookup(key, true).await
    }

    async fn lookup(&self, key: &str, touch: bool) -> Result<Lookup, OpError> {
        match self.apply(TierCmd::Get { key: key.into(), op: self.app.op, touch }).await? {
            TierReply::Got { entry, remaining_ns, incarnation, tag_generation } => {
                Ok(Lookup { entry, remaining_ns, incarnation, tag_generation })
            }
            other => panic!("tiersim bug: get answered {other:?}"),
        }
    }

    /// Fill; returns whether the tier stored it.
    pub async fn fill(&self, fill: Fill) -> Result<bool, OpError> {
        match self.apply(TierCmd::Fill(fill)).await? {
            TierReply::Filled(b) => Ok(b),
            other => panic!("tiersim bug: fill answered {other:?}"),
        }
    }

    /// Raise the key's floor to `version` and drop anything older.
    pub async fn invalidate(&self, key: &str, version: u64) -> Result<(), OpError> {
        self.apply(TierCmd::Invalidate { key: key.into(), version }).await.map(|_| ())
    }

    /// Drop `key` whatever its version (keeps no floor).
    pub async fn remove(&self, key: &str) -> Result<(), OpError> {
        self.apply(TierCmd::Remove { key: key.into() }).await.map(|_| ())
    }

    /// Invalidate every entry of `tag` up to now (`inclusive`: filled in this very millisecond
    /// too).
    pub async fn invalidate_tag(&self, tag: &str, inclusive: bool) -> Result<(), OpError> {
        self.apply(TierCmd::InvalidateTag { tag: tag.into(), inclusive, generation: None }).await.map(|_| ())
    }

    /// Invalidate every entry of `tag` and record the tag's new `generation`: fills carrying an
    /// older generation are refused from now on.
    pub async fn invalidate_tag_generation(
        &self,
        tag: &str,
        generation: u64,
        inclusive: bool,
    ) -> Result<(), OpError> {
        let cmd = TierCmd::InvalidateTag { tag: tag.into(), inclusive, generation: Some(generation) };
        self.apply(cmd).await.map(|_| ())
    }

    pub async fn keys_with_tag(&self, tag: &str) -> Result<Vec<String>, OpError> {
        match self.apply(TierCmd::KeysWithTag { tag: tag.into() }).await? {
            TierReply::Keys(k) => Ok(k),
            other => panic!("tiersim bug: keys_with_tag answered {other:?}"),
        }
    }

    /// Look `key` up under leases.
    pub async fn lease_get(&self, key: &str) -> Result<LeaseLookup, OpError> {
        match self.apply(TierCmd::LeaseGet { key: key.into(), op: self.app.op }).await? {
            TierReply::LeaseGot { entry, remaining_ns, token } => {
                Ok(LeaseLookup { entry, remaining_ns, token })
            }
            other => panic!("tiersim bug: lease_get answered {other:?}"),
        }
    }

    /// Fill under a read lease of `lease_ns` from the token's instant; whether it was stored.
    pub async fn lease_fill(&self, fill: Fill, token: LeaseToken, lease_ns: u64) -> Result<bool, OpError> {
        match self.apply(TierCmd::LeaseFill { fill, token, lease_ns }).await? {
            TierReply::Filled(b) => Ok(b),
            other => panic!("tiersim bug: lease_fill answered {other:?}"),
        }
    }

    /// Put a write lease on `key` for `lease_ns` of the tier's clock; answers its generation.
    pub async fn write_lease(&self, key: &str, lease_ns: u64) -> Result<u64, OpError> {
        match self.apply(TierCmd::WriteLease { key: key.into(), lease_ns }).await? {
            TierReply::WriteLeased { gen } => Ok(gen),
            other => panic!("tiersim bug: write_lease answered {other:?}"),
        }
    }

    /// Release write lease `gen` (None: every one) after `version` committed.
    pub async fn release_write_lease(
        &self,
        key: &str,
        version: u64,
        gen: Option<u64>,
    ) -> Result<(), OpError> {
        self.apply(TierCmd::ReleaseWriteLease { key: key.into(), version, gen }).await.map(|_| ())
    }
}

/// What a Redis GET found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisLookup {
    /// The entry and its PTTL in ms (-1: no TTL).
    pub entry: Option<(Entry, i64)>,
    /// The shard's run id (it changes on restart).
    pub run_id: u64,
    /// The generation of the key's tag (0: untagged or never invalidated).
    pub tag_generation: u64,
    /// How many keys the shard's maxmemory had evicted (`INFO stats` `evicted_keys`): what a
    /// fill fences itself with when a floor may have been evicted (`fill_fenced`).
    pub evicted_keys: u64,
}

/// What a fill brings back from its reader's `RedisLookup` for Redis to check (None: unchecked).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisFence {
    pub run_id: Option<u64>,
    pub tag_generation: Option<u64>,
    pub evicted_keys: Option<u64>,
}

/// A WATCH connection on one shard (`RedisClient::watch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watch {
    shard: usize,
    token: WatchToken,
}

/// A Redis client on this app node, routing each key to its shard.
pub struct RedisClient<'a> {
    pub(crate) app: &'a App,
}

impl RedisClient<'_> {
    fn shard_of(&self, key: &str) -> usize {
        shard_for(key, self.app.node.config.topology.redis_shards)
    }

    pub(crate) async fn call_shard(&self, shard: usize, req: RedisReq) -> Result<RedisResp, OpError> {
        let node = crate::node::config::redis_node(shard);
        let resp = self.app.node.net.call::<RedisReq, RedisResp>(&node, req, self.app.rpc_timeout()).await?;
        match resp {
            RedisResp::Error(e) => Err(OpError::Failed(format!("{node}: {e}"))),
            ok => Ok(ok),
        }
    }

    async fn call(&self, key: &str, req: RedisReq) -> Result<RedisResp, OpError> {
        self.call_shard(self.shard_of(key), req).await
    }

    /// GET: the entry with its PTTL in ms (-1: none), and the shard's run id.
    pub async fn get(&self, key: &str) -> Result<(Option<(Entry, i64)>, u64), OpError> {
        let l = self.lookup(key, None).await?;
        Ok((l.entry, l.run_id))
    }

    /// GETEX PX: a hit restarts the TTL (a sliding TTL).
    pub async fn get_touch(&self, key: &str, ttl_ms: u64) -> Result<(Option<(Entry, i64)>, u64), OpError> {
        let l = self.lookup(key, Some(ttl_ms)).await?;
        Ok((l.entry, l.run_id))
    }

    /// GET (GETEX PX with `touch_ms`) together with the generation of the key's tag, read in
    /// the same script: what a reader must carry into its fills to lose against a tag
    /// invalidation that began after it read.
    pub async fn lookup(&self, key: &str, touch_ms: Option<u64>) -> Result<RedisLookup, OpError> {
        self.get_script(key, touch_ms, false).await
    }

    /// `lookup` through the run-id stamp check (the script a fenced fill's stamp is for): an
    /// entry that no fenced fill of this incarnation of the shard stored — after a failover, the
    /// promoted replica's copy, which may hold what an acknowledged delete removed — is a miss.
    /// Only fills through `fill_fenced`/`fill` with a run id (and lease fills) are stamped.
    pub async fn lookup_stamped(&self, key: &str, touch_ms: Option<u64>) -> Result<RedisLookup, OpError> {
        self.get_script(key, touch_ms, true).await
    }

    async fn get_script(
        &self,
        key: &str,
        touch_ms: Option<u64>,
        stamped: bool,
    ) -> Result<RedisLookup, OpError> {
        let tag = self.app.tags_of(key).into_iter().next();
        let get = RedisReq::Get { key: key.into(), op: self.app.op, touch_ms, tag, stamped };
        match self.call(key, get).await? {
            RedisResp::Entry { entry, run_id, tag_generation, evicted_keys } => {
                Ok(RedisLookup { entry, run_id, tag_generation, evicted_keys })
            }
            other => panic!("tiersim bug: GET answered {other:?}"),
        }
    }

    /// SET with options; false when NX/XX was not met.
    pub async fn set(&self, key: &str, entry: Entry, opts: SetOpts) -> Result<bool, OpError> {
        self.fill(key, entry, opts, Gate::Plain, None).await
    }

    /// A gated fill (a Lua script in production): `gate` as for tiers, and refused when the
    /// shard restarted since the reader saw `run_id`.
    pub async fn fill(
        &self,
        key: &str,
        entry: Entry,
        opts: SetOpts,
        gate: Gate,
        run_id: Option<u64>,
    ) -> Result<bool, OpError> {
        self.fill_tagged(key, entry, opts, gate, run_id, None).await
    }

    /// `fill`, also refused when the entry's tag was invalidated after generation
    /// `tag_generation` (None: no tag check).
    pub async fn fill_tagged(
        &self,
        key: &str,
        entry: Entry,
        opts: SetOpts,
        gate: Gate,
        run_id: Option<u64>,
        tag_generation: Option<u64>,
    ) -> Result<bool, OpError> {
        self.fill_fenced(key, entry, opts, gate, RedisFence { run_id, tag_generation, evicted_keys: None })
            .await
    }

    /// A gated fill fenced by what its reader's lookup saw: refused when the shard restarted
    /// (`run_id`), the entry's tag was invalidated (`tag_generation`), or, when the key has no
    /// floor, the shard evicted keys since `evicted_keys` (its floor may have been one of them;
    /// see `node::floor`). A `None` is not checked.
    pub async fn fill_fenced(
        &self,
        key: &str,
        entry: Entry,
        opts: SetOpts,
        gate: Gate,
        fence: RedisFence,
    ) -> Result<bool, OpError> {
        let RedisFence { run_id, tag_generation, evicted_keys } = fence;
        let op = self.app.op;
        let req =
            RedisReq::Fill { key: key.into(), entry, opts, gate, run_id, tag_generation, op, evicted_keys };
        self.bool(key, req).await
    }

    pub async fn del(&self, key: &str) -> Result<bool, OpError> {
        self.bool(key, RedisReq::Del { key: key.into() }).await
    }

    /// Raise the key's floor and drop anything cached below it (a Lua script in production).
    pub async fn invalidate(&self, key: &str, version: u64) -> Result<(), OpError> {
        self.bool(key, RedisReq::Invalidate { key: key.into(), version }).await.map(|_| ())
    }

    /// Keys cached with `tag`, over every shard.
    pub async fn keys_with_tag(&self, tag: &str) -> Result<Vec<String>, OpError> {
        let mut keys = Vec::new();
        for shard in 0..self.app.node.config.topology.redis_shards {
            match self.call_shard(shard, RedisReq::KeysWithTag { tag: tag.into() }).await? {
                RedisResp::Keys(k) => keys.extend(k),
                other => panic!("tiersim bug: KeysWithTag answered {other:?}"),
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Delete every key of `tag` on every shard and advance the tag's generation; returns the
    /// new generation (the largest any shard reports).
    pub async fn del_tag(&self, tag: &str) -> Result<u64, OpError> {
        let mut generation = 0;
        for shard in 0..self.app.node.config.topology.redis_shards {
            match self.call_shard(shard, RedisReq::DelTag { tag: tag.into() }).await? {
                RedisResp::Int(g) => generation = generation.max(g as u64),
                other => panic!("tiersim bug: DelTag answered {other:?}"),
            }
        }
        Ok(generation)
    }

    /// GET under leases: a hit with its PTTL, or the token of a fillable miss. A shard that
    /// restarted less than `quarantine_ns` ago serves nothing.
    pub async fn lease_get(
        &self,
        key: &str,
        quarantine_ns: u64,
    ) -> Result<(Option<(Entry, i64)>, Option<LeaseToken>), OpError> {
        let tag = self.app.tags_of(key).into_iter().next();
        let req = RedisReq::LeaseGet { key: key.into(), op: self.app.op, quarantine_ns, tag };
        match self.call(key, req).await? {
            RedisResp::LeaseEntry { entry, token } => Ok((entry, token)),
            other => panic!("tiersim bug: lease GET answered {other:?}"),
        }
    }

    /// A version-gated fill that brings back its miss's token; whether Redis now holds it.
    pub async fn lease_fill(
        &self,
        key: &str,
        entry: Entry,
        opts: SetOpts,
        token: LeaseToken,
    ) -> Result<bool, OpError> {
        let req = RedisReq::LeaseFill { key: key.into(), entry, opts, token, op: self.app.op };
        self.bool(key, req).await
    }

    /// Put a write lease on `key` for `lease_ns` of Redis's clock; answers its generation.
    pub async fn write_lease(&self, key: &str, lease_ns: u64) -> Result<u64, OpError> {
        let req = RedisReq::WriteLease { key: key.into(), lease_ns };
        match self.call(key, req).await? {
            RedisResp::Int(gen) => Ok(gen as u64),
            other => panic!("tiersim bug: write lease answered {other:?}"),
        }
    }

    /// Release write lease `gen` (None: every one) after `version` committed.
    pub async fn release_write_lease(
        &self,
        key: &str,
        version: u64,
        gen: Option<u64>,
    ) -> Result<(), OpError> {
        let req = RedisReq::ReleaseWriteLease { key: key.into(), version, gen };
        self.bool(key, req).await.map(|_| ())
    }

    /// `SET … GET`: a plain SET that answers the value it replaced (`None`: missing) and
    /// whether it was stored (false when NX/XX was not met).
    pub async fn set_get(
        &self,
        key: &str,
        entry: Entry,
        opts: SetOpts,
    ) -> Result<(Option<Entry>, bool), OpError> {
        let req = RedisReq::SetGet { key: key.into(), entry, opts, op: self.app.op };
        match self.call(key, req).await? {
            RedisResp::SetGet { old, stored } => Ok((old, stored)),
            other => panic!("tiersim bug: SET GET answered {other:?}"),
        }
    }

    /// `GETDEL`: the value, removed in the same command.
    pub async fn getdel(&self, key: &str) -> Result<Option<Entry>, OpError> {
        self.value(key, RedisReq::GetDel { key: key.into(), op: self.app.op }).await
    }

    /// `GETEX` with a TTL option, as one command (no window between the read and the TTL).
    pub async fn getex(&self, key: &str, opt: GetExOpt) -> Result<Option<Entry>, OpError> {
        self.value(key, RedisReq::GetEx { key: key.into(), opt, op: self.app.op }).await
    }

    /// `EXPIRE`/`PEXPIRE`/`EXPIREAT`/`PEXPIREAT` with an optional NX/XX/GT/LT; whether the TTL
    /// was set (or the key deleted by an instant in the past).
    pub async fn expire(&self, key: &str, arg: ExpireArg, cond: Option<ExpireCond>) -> Result<bool, OpError> {
        self.bool(key, RedisReq::Expire { key: key.into(), arg, cond }).await
    }

    /// `MGET`, split by shard as a cluster client does; values in the order of `keys`.
    pub async fn mget(&self, keys: &[&str]) -> Result<Vec<Option<Entry>>, OpError> {
        let mut out = vec![None; keys.len()];
        for (shard, idx) in self.by_shard(keys) {
            let req =
                RedisReq::MGet { keys: idx.iter().map(|&i| keys[i].to_string()).collect(), op: self.app.op };
            match self.call_shard(shard, req).await? {
                RedisResp::Values(vals) => {
                    for (i, v) in idx.into_iter().zip(vals) {
                        out[i] = v;
                    }
                }
                other => panic!("tiersim bug: MGET answered {other:?}"),
            }
        }
        Ok(out)
    }

    /// `MSET`, split by shard: atomic per shard only, as in Redis Cluster.
    pub async fn mset(&self, pairs: Vec<(String, Entry)>) -> Result<(), OpError> {
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        for (shard, idx) in self.by_shard(&keys) {
            let pairs = idx.iter().map(|&i| pairs[i].clone()).collect();
            self.call_shard(shard, RedisReq::MSet { pairs, op: self.app.op }).await?;
        }
        Ok(())
    }

    /// `UNLINK`, split by shard: how many keys were removed.
    pub async fn unlink(&self, keys: &[&str]) -> Result<u64, OpError> {
        let mut removed = 0;
        for (shard, idx) in self.by_shard(keys) {
            let req = RedisReq::Unlink { keys: idx.iter().map(|&i| keys[i].to_string()).collect() };
            match self.call_shard(shard, req).await? {
                RedisResp::Int(n) => removed += n as u64,
                other => panic!("tiersim bug: UNLINK answered {other:?}"),
            }
        }
        Ok(removed)
    }

    /// `WATCH keys` on a connection of its own (all keys on one shard, as Redis Cluster
    /// requires): a later `exec` on it answers nil if any of them changed in between, expiry and
    /// eviction included (`state::transaction`). A restart of the shard loses the connection.
    pub async fn watch(&self, keys: &[&str]) -> Result<Watch, OpError> {
        let shard = self.one_shard(keys.iter().copied())?;
        let req = RedisReq::Watch { keys: keys.iter().map(|k| k.to_string()).collect() };
        match self.call_shard(shard, req).await? {
            RedisResp::Watching(token) => Ok(Watch { shard, token }),
            other => panic!("tiersim bug: WATCH answered {other:?}"),
        }
    }

    /// `UNWATCH`: give up a watch without running a transaction.
    pub async fn unwatch(&self, watch: &Watch) -> Result<(), OpError> {
        self.call_shard(watch.shard, RedisReq::Unwatch { watch: watch.token }).await.map(|_| ())
    }

    /// `MULTI`, `cmds`, `EXEC`, on `watch`'s connection if given: each command's reply (an error
    /// reply stays in its place, as Redis answers it), or `Ok(None)` when a watched key changed
    /// and nothing ran. The commands count for this client operation (their `op`), all their
    /// keys on one shard; a command a transaction may not hold is `EXECABORT` (`Failed`).
    pub async fn exec(
        &self,
        watch: Option<&Watch>,
        cmds: Vec<RedisReq>,
    ) -> Result<Option<Vec<RedisResp>>, OpError> {
        let keys: Vec<&str> =
            cmds.iter().flat_map(|c| crate::node::redis::keys_of(c).unwrap_or_default()).collect();
        let shard = match watch {
            Some(w) => {
                if keys.iter().any(|k| self.shard_of(k) != w.shard) {
                    return Err(OpError::Failed(
                        "CROSSSLOT Keys in request don't hash to the same slot".into(),
                    ));
                }
                w.shard
            }
            None => self.one_shard(keys.iter().copied())?,
        };
        let cmds = cmds.into_iter().map(|c| with_op(c, self.app.op)).collect();
        match self.call_shard(shard, RedisReq::Exec { watch: watch.map(|w| w.token), cmds }).await? {
            RedisResp::Exec(replies) => Ok(replies),
            other => panic!("tiersim bug: EXEC answered {other:?}"),
        }
    }

    /// `EVAL`/`FCALL`: run `script` atomically on the shard of `keys` (`node::script` says what a
    /// script may do); its reply, or `Failed` with the error it answered.
    pub async fn eval(
        &self,
        script: &RedisScript,
        keys: &[&str],
        args: &[i64],
    ) -> Result<RedisResp, OpError> {
        let shard = self.one_shard(keys.iter().copied())?;
        let req = RedisReq::Eval {
            script: script.clone(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            args: args.to_vec(),
            op: self.app.op,
        };
        self.call_shard(shard, req).await
    }

    /// The one shard of `keys` (shard 0 for none), or Redis Cluster's CROSSSLOT error.
    fn one_shard<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Result<usize, OpError> {
        let shards: std::collections::BTreeSet<usize> = keys.into_iter().map(|k| self.shard_of(k)).collect();
        match shards.len() {
            0 => Ok(0),
            1 => Ok(*shards.first().expect("one shard")),
            _ => Err(OpError::Failed("CROSSSLOT Keys in request don't hash to the same slot".into())),
        }
    }

    /// The positions of `keys` grouped by shard, shards in ascending order.
    fn by_shard(&self, keys: &[&str]) -> std::collections::BTreeMap<usize, Vec<usize>> {
        let mut groups = std::collections::BTreeMap::<usize, Vec<usize>>::new();
        for (i, key) in keys.iter().enumerate() {
            groups.entry(self.shard_of(key)).or_default().push(i);
        }
        groups
    }

    async fn value(&self, key: &str, req: RedisReq) -> Result<Option<Entry>, OpError> {
        match self.call(key, req).await? {
            RedisResp::Value(v) => Ok(v),
            other => panic!("tiersim bug: expected a value reply, got {other:?}"),
        }
    }

    async fn bool(&self, key: &str, req: RedisReq) -> Result<bool, OpError> {
        match self.call(key, req).await? {
            RedisResp::Bool(b) => Ok(b),
            other => panic!("tiersim bug: expected a boolean reply, got {other:?}"),
        }
    }
}

/// A client of the database or of a read replica.
pub struct DbClient<'a> {
    app: &'a App,
    node: String,
}

impl DbClient<'_> {
    /// Read `key` (from a replica: as of its lag).
    pub async fn read(&self, key: &str) -> Result<Data, OpError> {
        let t = self.app.rpc_timeout();
        Ok(self.app.node.net.call::<DbReq, Data>(&self.node, DbReq::Read { key: key.into() }, t).await?)
    }

    /// Commit a write (`None`: delete); a timeout is indeterminate (it may have committed).
    pub async fn write(&self, key: &str, value: Option<i64>) -> Result<Row, OpError> {
        let op = self.app.op.expect("tiersim bug: a database write outside a client operation");
        let t = self.app.rpc_timeout();
        let data = self
            .app
            .node
            .net
            .call::<DbReq, Data>(&self.node, DbReq::Write { key: key.into(), value, op }, t)
            .await?;
        Ok(data.row())
    }
}
