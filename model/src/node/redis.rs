//! A Redis node (one shard): a `RedisStore` of cache entries behind typed requests, plus what
//! production deployments add around it — version-gated fills and invalidations run as Lua
//! scripts (which keep a per-key version floor in a second keyspace so it outlives the entry),
//! a tag index (a set per tag), and pub/sub for invalidation fan-out, delivered over each
//! subscriber's connection as Redis does (`node::pubsub`).
//!
//! The node reads its own clock (skew applies). Its data, floors and subscriptions are in memory:
//! a restart empties them and changes its run id (Redis's `run_id`), which gated fills check so
//! that a fill whose read began before the restart is refused.

use crate::event::{ModelEvent, RemoveCause, Tier};
use crate::node::floor::{self, is_floor_key};
use crate::node::pubsub::Outbox;
pub use crate::node::pubsub::Published;
use crate::node::script::{self, Script};
use crate::node::tier::{Gate, LeaseToken};
use crate::state::invalidation::Invalidation;
use crate::state::redis::{ExpireCond, GetExOpt, MaxMemory, PubSub, RedisStore, SetOpts};
use crate::state::replication::{self, Replication};
use crate::state::store::Entry;
use crate::state::tracking::{Tracking, TrackingOpts, INVALIDATE_CHANNEL};
use crate::state::transaction::errors;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use tiersim_sim::clock::{sim_now_ns, NodeClock};
use tiersim_sim::conn::Connections;
use tiersim_sim::history::Recorder;
use tiersim_sim::net::Net;

#[derive(Clone, Debug)]
pub enum RedisReq {
    /// GET, or GETEX PX when `touch_ms` is set (a sliding TTL); with `tag`, also the tag's
    /// generation (a GET of `tag-gen:{tag}` in the same script). `stamped`: a script that answers
    /// only an entry a fenced fill stamped with this node's run id (`Entry::run_id`) and treats
    /// any other as a miss — after a failover, the promoted replica's copies.
    Get {
        key: String,
        op: Option<u64>,
        touch_ms: Option<u64>,
        tag: Option<String>,
        stamped: bool,
    },
    /// SET with options, gated as `gate` says (Plain is a plain SET); `run_id`: refuse if the
    /// node restarted since the reader saw this run id.
    Fill {
        key: String,
        entry: Entry,
        opts: SetOpts,
        gate: Gate,
        run_id: Option<u64>,
        /// Refuse if the entry's tag has a later generation than this (script).
        tag_generation: Option<u64>,
        op: Option<u64>,
        /// Refuse if the key has no floor and Redis evicted keys since the reader saw this
        /// `evicted_keys` count (the floor may have been one of them; see `node::floor`).
        evicted_keys: Option<u64>,
    },
    Del {
        key: String,
    },
    /// `SET … GET`: a plain (ungated) SET that answers the value it replaced.
    SetGet {
        key: String,
        entry: Entry,
        opts: SetOpts,
        op: Option<u64>,
    },
    /// `GETDEL`.
    GetDel {
        key: String,
        op: Option<u64>,
    },
    /// `GETEX` with its TTL option.
    GetEx {
        key: String,
        opt: GetExOpt,
        op: Option<u64>,
    },
    /// `EXPIRE`/`PEXPIRE`/`EXPIREAT`/`PEXPIREAT` with NX/XX/GT/LT.
    Expire {
        key: String,
        arg: ExpireArg,
        cond: Option<ExpireCond>,
    },
    /// `MGET` of keys on this shard.
    MGet {
        keys: Vec<String>,
        op: Option<u64>,
    },
    /// `MSET` of keys on this shard (TTLs cleared).
    MSet {
        pairs: Vec<(String, Entry)>,
        op: Option<u64>,
    },
    /// `UNLINK` of keys on this shard; answers how many were removed.
    Unlink {
        keys: Vec<String>,
    },
    Pttl {
        key: String,
    },
    /// Raise the key's floor to `version` and drop any cached entry below it (script).
    Invalidate {
        key: String,
        version: u64,
    },
    /// The keys cached with `tag` (SMEMBERS of the tag's set, live keys only).
    KeysWithTag {
        tag: String,
    },
    /// Delete every key of `tag` and advance the tag's generation (script over the tag's set);
    /// answers the new generation.
    DelTag {
        tag: String,
    },
    /// SUBSCRIBE connection `conn` of the calling node to `channel` (refused once the
    /// connection dropped).
    Subscribe {
        channel: String,
        conn: u64,
    },
    /// PUBLISH `inv` on `channel`; answers the number of receivers.
    Publish {
        channel: String,
        inv: Invalidation,
    },
    /// GET under leases (a script; the `leased` protocol; stamped as `Get { stamped }`, so a
    /// promoted replica's copy is a miss): nothing is served and no token is
    /// handed out while the key is write-leased or within `quarantine_ns` of a restart (a
    /// restart forgets write leases; a first boot has none to forget); a miss answers a token
    /// for `LeaseFill`.
    LeaseGet {
        key: String,
        op: Option<u64>,
        quarantine_ns: u64,
        /// The key's tag, whose generation the token records.
        tag: Option<String>,
    },
    /// A version-gated fill that must bring back the token of the miss it follows: refused while
    /// write-leased and when a write lease or a restart came in between. A fill of the version
    /// already cached succeeds without a write (the reader may grant its lease).
    LeaseFill {
        key: String,
        entry: Entry,
        opts: SetOpts,
        token: LeaseToken,
        op: Option<u64>,
    },
    /// Put a write lease on `key` for `lease_ns` of the node's clock: drop it, void outstanding
    /// tokens; answers the lease's generation.
    WriteLease {
        key: String,
        lease_ns: u64,
    },
    /// Release write lease `gen` (None: all) after `version` committed: raise the floor to it
    /// and drop anything older.
    ReleaseWriteLease {
        key: String,
        version: u64,
        gen: Option<u64>,
    },
    /// `CLIENT TRACKING on …` for the calling node (see `state::tracking`); `fresh`: its first
    /// since the process (re)started, so what an earlier process of the node set up is dropped
    /// first (Redis would see a new connection).
    Tracking {
        opts: TrackingOpts,
        fresh: bool,
    },
    /// `CLIENT TRACKING off`.
    TrackingOff,
    /// `CLIENT CACHING yes|no` for the calling node's next command.
    Caching {
        yes: bool,
    },
    /// `WATCH keys` on a connection of its own; answers `Watching` (`state::transaction`).
    Watch {
        keys: Vec<String>,
    },
    /// `UNWATCH` of a connection from `Watch`.
    Unwatch {
        watch: WatchToken,
    },
    /// `MULTI`, the queued `cmds`, `EXEC` (on the connection of `watch`, if any), sent together as
    /// client libraries pipeline them; answers `Exec`. A command a transaction may not hold
    /// (WATCH, EXEC, a script, SUBSCRIBE) aborts it at queueing time: EXECABORT, nothing runs.
    Exec {
        watch: Option<WatchToken>,
        cmds: Vec<RedisReq>,
    },
    /// `EVAL`/`FCALL`: run `script` atomically with `KEYS` and `ARGV` (`node::script`).
    Eval {
        script: RedisScript,
        keys: Vec<String>,
        args: Vec<i64>,
        /// The client operation the script's commands count for.
        op: Option<u64>,
    },
}

/// `req` attributed to client operation `op` where the command records one, so that what a
/// transaction or a script serves counts for the operation that ran it.
pub fn with_op(mut req: RedisReq, op: Option<u64>) -> RedisReq {
    match &mut req {
        RedisReq::Get { op: o, .. }
        | RedisReq::Fill { op: o, .. }
        | RedisReq::SetGet { op: o, .. }
        | RedisReq::GetDel { op: o, .. }
        | RedisReq::GetEx { op: o, .. }
        | RedisReq::MGet { op: o, .. }
        | RedisReq::MSet { op: o, .. }
        | RedisReq::LeaseGet { op: o, .. }
        | RedisReq::LeaseFill { op: o, .. }
            if o.is_none() =>
        {
            *o = op;
        }
        _ => {}
    }
    req
}

/// What a read-only command reads, for client tracking (GETEX is a write in Redis).
fn reads_of(req: &RedisReq) -> Vec<String> {
    match req {
        RedisReq::Get { key, touch_ms: None, .. } | RedisReq::LeaseGet { key, .. } => vec![key.clone()],
        RedisReq::MGet { keys, .. } => keys.clone(),
        _ => Vec::new(),
    }
}

/// A script the Redis node runs (`node::script`).
pub type RedisScript = Script<RedisReq, RedisResp>;

/// The connection a WATCH opened: its client id, on the node's run `run_id` (a restart drops
/// the connection and its watches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchToken {
    pub client: u64,
    pub run_id: u64,
}

/// The keys a command touches, or `None` for a command that may not run inside a script or a
/// transaction (one that is not a keyspace command, or one this list does not know yet).
pub fn keys_of(req: &RedisReq) -> Option<Vec<&str>> {
    Some(match req {
        RedisReq::Get { key, .. }
        | RedisReq::Fill { key, .. }
        | RedisReq::Del { key }
        | RedisReq::SetGet { key, .. }
        | RedisReq::GetDel { key, .. }
        | RedisReq::GetEx { key, .. }
        | RedisReq::Expire { key, .. }
        | RedisReq::Pttl { key }
        | RedisReq::Invalidate { key, .. }
        | RedisReq::LeaseGet { key, .. }
        | RedisReq::LeaseFill { key, .. }
        | RedisReq::WriteLease { key, .. }
        | RedisReq::ReleaseWriteLease { key, .. } => vec![key.as_str()],
        RedisReq::MGet { keys, .. } | RedisReq::Unlink { keys } => keys.iter().map(String::as_str).collect(),
        RedisReq::MSet { pairs, .. } => pairs.iter().map(|(k, _)| k.as_str()).collect(),
        RedisReq::Publish { .. } => Vec::new(),
        _ => return None,
    })
}

/// Which EXPIRE command, with its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpireArg {
    /// `EXPIRE key seconds`.
    Secs(i64),
    /// `PEXPIRE key milliseconds`.
    Millis(i64),
    /// `EXPIREAT key seconds` (on the Redis node's clock).
    AtSecs(i64),
    /// `PEXPIREAT key milliseconds`.
    AtMillis(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisResp {
    /// GET: the entry and its PTTL in ms (-1: no TTL), the node's run id, the generation of
    /// the tag asked about (0 if none), and how many keys maxmemory evicted since the node
    /// started (`INFO stats` `evicted_keys`).
    Entry {
        entry: Option<(Entry, i64)>,
        run_id: u64,
        tag_generation: u64,
        evicted_keys: u64,
    },
    Bool(bool),
    Int(i64),
    Keys(Vec<String>),
    Error(String),
    /// GETDEL, GETEX: the value (no PTTL: it was just changed or removed).
    Value(Option<Entry>),
    /// MGET: each key's value, in the order asked.
    Values(Vec<Option<Entry>>),
    /// SET … GET: the replaced value and whether the SET was stored.
    SetGet {
        old: Option<Entry>,
        stored: bool,
    },
    /// GET under leases: the entry and its PTTL (a hit), or the token of a miss that may be
    /// filled (None while write-leased or quarantined).
    LeaseEntry {
        entry: Option<(Entry, i64)>,
        token: Option<LeaseToken>,
    },
    /// WATCH: the connection that watches.
    Watching(WatchToken),
    /// EXEC: each queued command's reply, or `None` (nil) when a watched key changed.
    Exec(Option<Vec<RedisResp>>),
}

/// What a command hands to the connections of its node's clients.
enum Push {
    /// Deliver `msg` on connection `conn` to node `client`.
    Message { conn: u64, client: String, msg: Published },
    /// The connection dropped: stop queueing for it.
    Forget { conn: u64 },
}

impl Outbox {
    fn deliver(&mut self, net: &Net, pushes: Vec<Push>) {
        for push in pushes {
            match push {
                Push::Message { conn, client, msg } => self.push(net, conn, &client, msg),
                Push::Forget { conn } => self.forget(conn),
            }
        }
    }
}

/// What outlives one incarnation of a Redis node: what the quiet-phase snapshot sees of it
/// from outside, and its replica (`state::replication`), which a failover promotes.
#[derive(Clone, Default)]
pub struct RedisShared {
    pub data: Arc<Mutex<Option<RedisStore<Entry>>>>,
    /// The replica, when `SystemConfig::redis_replica_lag_ms` configures one.
    pub replication: Arc<Mutex<Option<Replication<RedisStore<Entry>>>>>,
    /// The replica's keyspace a failover promoted, waiting for the node to start from it.
    pub promoted: Arc<Mutex<Option<RedisStore<Entry>>>>,
    /// Keys the promoted replica brought back that no command has written or removed since
    /// (cache entries only, not floors): the checkers do not count them as contents the
    /// protocol put there (`check::cache`, "failover").
    pub restored: Arc<Mutex<BTreeSet<String>>>,
}

impl RedisShared {
    /// A failover at `now_ns`: the replica's keyspace as of now is what the node will start
    /// from. A shard that has not started yet, or has no replica, has nothing to promote: it
    /// starts empty, as after a crash (replay files cannot ask for that: `validate_schedule`
    /// refuses a failover without a replica).
    pub fn fail_over(&self, now_ns: u64) {
        if self.data.lock().unwrap().is_none() {
            return;
        }
        if let Some(replica) = self.replication.lock().unwrap().as_ref() {
            *self.promoted.lock().unwrap() = Some(replica.replica_at(now_ns).without_watches());
        }
    }
}

/// What a gated fill must still find for Redis to take it (None: not checked): the run id, the
/// tag generation and the eviction count its reader saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FillFence {
    run_id: Option<u64>,
    tag_generation: Option<u64>,
    evicted_keys: Option<u64>,
}

struct RedisState {
    /// Cache entries and, under `{key}:floor`, their version floors (`node::floor`).
    data: RedisStore<Entry>,
    /// Keys maxmemory evicted since the node started (`INFO stats` `evicted_keys`).
    evicted_keys: u64,
    /// Inside an EXEC or a script (nesting depth): no eviction until it ends, as in Redis.
    atomic_depth: u32,
    /// What the commands of the running transaction or script read (for client tracking).
    atomic_reads: Vec<String>,
    /// The last client id a WATCH was given.
    last_client: u64,
    /// Tag generations (the `tag-gen:{tag}` keys): advanced by every DelTag.
    tag_generations: BTreeMap<String, u64>,
    pubsub: PubSub,
    /// The node at the other end of each subscribed connection, by connection id.
    subscribers: BTreeMap<u64, String>,
    conns: Connections,
    /// Client-side caching: who is told when a key changes. A client is its app node.
    tracking: Tracking<String>,
    /// Keys the command being served modified (for tracking), in order.
    modified: RefCell<Vec<String>>,
    run_id: u64,
    /// Lease state (lease scripts only): the clock at a restart (None on a first boot), per-key
    /// write-lease generations and outstanding write leases (gen -> end on this node's clock).
    restarted_local_ns: Option<u64>,
    lease_gens: BTreeMap<String, u64>,
    write_leases: BTreeMap<String, BTreeMap<u64, u64>>,
    clock: NodeClock,
    node: String,
    recorder: Recorder<ModelEvent>,
    shared: RedisShared,
}

impl RedisState {
    fn now_ms(&self) -> u64 {
        self.clock.now_ns() / 1_000_000
    }

    fn publish_state(&self) {
        *self.shared.data.lock().unwrap() = Some(self.data.clone());
        if let Some(replica) = self.shared.replication.lock().unwrap().as_mut() {
            replica.record(sim_now_ns(), self.data.without_watches());
        }
    }

    /// `key` was written or removed: whatever a failover restored under it is gone.
    fn overwritten(&self, key: &str) {
        let mut restored = self.shared.restored.lock().unwrap();
        if !restored.is_empty() {
            restored.remove(key);
        }
    }

    /// Record a refused fill, naming the floor (or cached version) that refused it.
    fn refused(&self, key: String, version: u64, floor_version: u64) {
        let node = self.node.clone();
        self.recorder.internal(ModelEvent::Refuse { node, tier: Tier::Redis, key, version, floor_version });
    }

    fn removed(&self, key: &str, version: u64, cause: RemoveCause) {
        self.touched(key);
        self.overwritten(key);
        self.recorder.internal(ModelEvent::Remove {
            node: self.node.clone(),
            tier: Tier::Redis,
            key: key.to_string(),
            version,
            cause,
        });
    }

    /// Record that `entry` was served to `op`.
    fn served(&self, key: &str, e: &Entry, op: Option<u64>) {
        self.recorder.internal(ModelEvent::Serve {
            node: self.node.clone(),
            tier: Tier::Redis,
            key: key.to_string(),
            version: e.version,
            op,
            now_local_ns: self.clock.now_ns(),
            filled_at_local_ns: e.filled_at_ns,
            tier_ttl_ns: None,
            origin_ns: e.origin_ns,
            tags: e.tags.iter().cloned().collect(),
        });
    }

    /// Redis's eviction before a command that may use memory: evict as maxmemory says, recording
    /// each evicted entry (a floor is no entry: it just goes). Under `noeviction` a full keyspace
    /// is an OOM error.
    fn make_room(&mut self) -> Result<(), String> {
        if self.atomic_depth > 0 {
            return Ok(());
        }
        let before = self.data.clone();
        let evicted = self.data.make_room().map_err(|e| e.to_string())?;
        for key in evicted {
            self.evicted_keys += 1;
            if !is_floor_key(&key) {
                let version = before.peek_any(&key).map_or(0, |e| e.version);
                self.removed(&key, version, RemoveCause::Evict);
            }
        }
        Ok(())
    }

    /// A live entry, recording a lazy expiry on the way.
    fn live(&mut self, key: &str) -> Option<Entry> {
        let now_ms = self.now_ms();
        let had = self.data.peek_any(key);
        let got = self.data.get(key, now_ms);
        if let (None, Some(old)) = (&got, had) {
            self.removed(key, old.version, RemoveCause::Expire);
        }
        got
    }

    /// `key` was modified (written, removed, its TTL changed): tracking clients are told.
    fn touched(&self, key: &str) {
        let mut modified = self.modified.borrow_mut();
        if !modified.iter().any(|k| k == key) {
            modified.push(key.to_string());
        }
    }

    /// The invalidations for what was modified since the last call, by `writer` (None: the
    /// server itself), as pushes to the redirect connections that take them: open, and in
    /// pub/sub mode on this node (RESP2 has nowhere else to put them).
    fn tracking_pushes(&mut self, writer: Option<&String>) -> Vec<Push> {
        let modified = std::mem::take(&mut *self.modified.borrow_mut());
        if modified.is_empty() {
            return Vec::new();
        }
        let mut pushes = Vec::new();
        for note in self.tracking.modified(writer, &modified) {
            let Some(conn) = note.redirect.filter(|c| self.conns.is_open(*c)) else {
                continue;
            };
            let Some(client) = self.subscribers.get(&conn) else {
                continue;
            };
            for key in note.keys {
                let msg = Published { channel: INVALIDATE_CHANNEL.into(), inv: Invalidation::Remove { key } };
                pushes.push(Push::Message { conn, client: client.clone(), msg });
            }
        }
        pushes
    }

    fn fill(
        &mut self,
        key: String,
        mut entry: Entry,
        opts: SetOpts,
        gate: Gate,
        fence: FillFence,
        op: Option<u64>,
    ) -> RedisResp {
        if let Err(oom) = self.make_room() {
            return RedisResp::Error(oom);
        }
        let now_ms = self.now_ms();
        let floor_known = floor::floor(&mut self.data, &key, now_ms);
        let floor = floor_known.unwrap_or(0);
        let current = self.live(&key);
        // A fenced fill runs the script that stamps entries with the run id: it does not let
        // another incarnation's entry (a promoted replica's copy) stand in for the key's version.
        let run_id = self.run_id;
        let foreign = |c: &Entry| fence.run_id.is_some() && c.run_id.is_some_and(|r| r != run_id);
        let cached = current.as_ref().filter(|c| !foreign(c)).map(|c| c.version);
        let stale_tag = fence.tag_generation.is_some_and(|g| {
            entry.tags.iter().any(|t| self.tag_generations.get(t).is_some_and(|&current| g < current))
        });
        let floor_lost =
            floor_known.is_none() && fence.evicted_keys.is_some_and(|seen| seen != self.evicted_keys);
        let refused = fence.run_id.is_some_and(|r| r != self.run_id)
            || stale_tag
            || floor_lost
            || match gate {
                Gate::Plain => false,
                Gate::IfNewer => entry.version < floor || cached.is_some_and(|c| c >= entry.version),
                Gate::IfNewerThanCached => cached.is_some_and(|c| c >= entry.version),
            };
        if refused {
            self.refused(key, entry.version, floor.max(cached.unwrap_or(0)));
            return RedisResp::Bool(false);
        }
        entry.filled_at_ns = self.clock.now_ns();
        entry.run_id = fence.run_id;
        match self.data.set(&key, entry.clone(), &opts, now_ms) {
            Ok(true) => {
                self.touched(&key);
                self.overwritten(&key);
                if let Some(old) = current {
                    self.removed(&key, old.version, RemoveCause::Invalidate);
                }
                let pttl = self.data.pttl(&key, now_ms);
                // Redis keeps a key alive through its expire millisecond and drops it after.
                let expires_at_ns =
                    (pttl >= 0).then(|| self.clock.to_global_ns((now_ms + pttl as u64 + 1) * 1_000_000));
                self.recorder.internal(ModelEvent::Fill {
                    node: self.node.clone(),
                    tier: Tier::Redis,
                    key,
                    version: entry.version,
                    origin_ns: entry.origin_ns,
                    filled_at_local_ns: entry.filled_at_ns,
                    tier_ttl_ns: (pttl >= 0).then(|| pttl as u64 * 1_000_000 + 1_000_000),
                    expires_at_ns,
                    tags: entry.tags.iter().cloned().collect(),
                    op,
                });
                RedisResp::Bool(true)
            }
            Ok(false) => RedisResp::Bool(false),
            Err(e) => RedisResp::Error(e.to_string()),
        }
    }

    fn write_leased(&mut self, key: &str) -> bool {
        let now = self.clock.now_ns();
        match self.write_leases.get_mut(key) {
            Some(leases) => {
                leases.retain(|_, until| *until > now);
                !leases.is_empty()
            }
            None => false,
        }
    }

    fn lease_gen(&self, key: &str) -> u64 {
        self.lease_gens.get(key).copied().unwrap_or(0)
    }

    fn lease_fill(
        &mut self,
        key: String,
        entry: Entry,
        opts: SetOpts,
        token: LeaseToken,
        op: Option<u64>,
    ) -> RedisResp {
        // Another incarnation's entry (a promoted replica's copy) is not this version's root.
        let run_id = self.run_id;
        let cached = self.live(&key).filter(|e| e.run_id.is_none_or(|r| r == run_id)).map(|e| e.version);
        if self.write_leased(&key) || token.gen != self.lease_gen(&key) {
            self.refused(key, entry.version, cached.unwrap_or(0));
            return RedisResp::Bool(false);
        }
        if cached == Some(entry.version) {
            return RedisResp::Bool(true);
        }
        // A tag invalidation since the read began voids the fill like a write lease would.
        let fence = FillFence {
            run_id: Some(token.incarnation),
            tag_generation: Some(token.tag_generation),
            evicted_keys: None,
        };
        self.fill(key, entry, opts, Gate::IfNewer, fence, op)
    }

    /// MULTI ... EXEC: refused whole on a command a transaction may not hold, nil when a watched
    /// key changed, an error when the connection was lost to a restart, else every command's
    /// reply in order, run with nothing in between and no eviction until the end.
    fn exec(&mut self, watch: Option<WatchToken>, cmds: Vec<RedisReq>, from: &str) -> (RedisResp, Vec<Push>) {
        let mut deliveries = Vec::new();
        if watch.is_some_and(|w| w.run_id != self.run_id) {
            return (
                RedisResp::Error("ERR connection lost: the node restarted since WATCH".into()),
                deliveries,
            );
        }
        if cmds.iter().any(|c| keys_of(c).is_none()) {
            if let Some(w) = watch {
                self.data.unwatch(w.client);
            }
            return (RedisResp::Error(errors::EXECABORT.into()), deliveries);
        }
        let now_ms = self.now_ms();
        if watch.is_some_and(|w| !self.data.exec_allowed(w.client, now_ms)) {
            return (RedisResp::Exec(None), deliveries);
        }
        if let Err(oom) = self.make_room() {
            return (RedisResp::Error(oom), deliveries);
        }
        self.atomic_depth += 1;
        let replies = cmds
            .into_iter()
            .map(|cmd| {
                self.atomic_reads.extend(reads_of(&cmd));
                let (resp, sent) = self.execute(cmd, from);
                deliveries.extend(sent);
                resp
            })
            .collect();
        self.atomic_depth -= 1;
        (RedisResp::Exec(Some(replies)), deliveries)
    }

    /// EVAL/FCALL: the script's reply; its commands run on declared keys only, with nothing in
    /// between and no eviction until the end.
    fn eval(
        &mut self,
        script: &RedisScript,
        keys: &[String],
        args: &[i64],
        op: Option<u64>,
        from: &str,
    ) -> (RedisResp, Vec<Push>) {
        let mut deliveries = Vec::new();
        if let Err(oom) = self.make_room() {
            return (RedisResp::Error(oom), deliveries);
        }
        let (now_ms, node) = (self.now_ms(), self.node.clone());
        self.atomic_depth += 1;
        let resp = {
            let mut call = |req: RedisReq| match keys_of(&req) {
                None => {
                    RedisResp::Error(format!("ERR This Redis command is not allowed from script: {req:?}"))
                }
                Some(ks) => match ks.iter().find(|k| !keys.iter().any(|d| d == *k)) {
                    Some(k) => RedisResp::Error(format!(
                        "ERR Script attempted to access key {k:?}, not declared in KEYS"
                    )),
                    None => {
                        self.atomic_reads.extend(reads_of(&req));
                        let (resp, sent) = self.execute(with_op(req, op), from);
                        deliveries.extend(sent);
                        resp
                    }
                },
            };
            script::run(script, keys, args, now_ms, &node, &mut call)
        };
        self.atomic_depth -= 1;
        (resp, deliveries)
    }

    fn keys_with_tag(&mut self, tag: &str) -> Vec<String> {
        let now_ms = self.now_ms();
        self.data
            .keys()
            .filter(|k| self.data.peek(k, now_ms).is_some_and(|e| e.tags.contains(tag)))
            .cloned()
            .collect()
    }

    /// Forget the subscriptions of connections that dropped.
    fn drop_closed_subscribers(&mut self) -> Vec<u64> {
        let closed: Vec<u64> = self.subscribers.keys().copied().filter(|c| !self.conns.is_open(*c)).collect();
        for conn in &closed {
            self.pubsub.unsubscribe_all(*conn);
            self.subscribers.remove(conn);
        }
        closed
    }

    fn handle(&mut self, req: RedisReq, from: &str) -> (RedisResp, Vec<Push>) {
        let mut reads = reads_of(&req);
        let client_command =
            matches!(req, RedisReq::Tracking { .. } | RedisReq::TrackingOff | RedisReq::Caching { .. });
        let (resp, mut pushes) = self.execute(req, from);
        // A transaction or a script is one command to tracking, reading what its commands read.
        reads.append(&mut self.atomic_reads);
        let from = from.to_string();
        if !client_command {
            self.tracking.command(&from, &reads);
        }
        pushes.extend(self.tracking_pushes(Some(&from)));
        (resp, pushes)
    }

    fn execute(&mut self, req: RedisReq, from: &str) -> (RedisResp, Vec<Push>) {
        let now_ms = self.now_ms();
        let mut deliveries = Vec::new();
        let resp = match req {
            RedisReq::Get { key, op, touch_ms, tag, stamped } => {
                let run_id = self.run_id;
                let hit = self.live(&key).filter(|e| !stamped || e.run_id == Some(run_id));
                if let (Some(_), Some(ms)) = (&hit, touch_ms) {
                    // A real GETEX PX: the TTL restarts in the same command as the read.
                    if let Err(e) = self.data.getex(&key, GetExOpt::Px(ms), now_ms) {
                        return (RedisResp::Error(e.to_string()), deliveries);
                    }
                }
                let entry = hit.map(|e| {
                    let pttl = self.data.pttl(&key, now_ms);
                    self.recorder.internal(ModelEvent::Serve {
                        node: self.node.clone(),
                        tier: Tier::Redis,
                        key: key.clone(),
                        version: e.version,
                        op,
                        now_local_ns: self.clock.now_ns(),
                        filled_at_local_ns: e.filled_at_ns,
                        tier_ttl_ns: None,
                        origin_ns: e.origin_ns,
                        tags: e.tags.iter().cloned().collect(),
                    });
                    (e, pttl)
                });
                let tag_generation = tag.and_then(|t| self.tag_generations.get(&t).copied()).unwrap_or(0);
                RedisResp::Entry {
                    entry,
                    run_id: self.run_id,
                    tag_generation,
                    evicted_keys: self.evicted_keys,
                }
            }
            RedisReq::Fill { key, entry, opts, gate, run_id, tag_generation, op, evicted_keys } => {
                self.fill(key, entry, opts, gate, FillFence { run_id, tag_generation, evicted_keys }, op)
            }
            RedisReq::Del { key } => {
                let old = self.live(&key);
                let removed = self.data.del(&key, now_ms);
                if let (true, Some(old)) = (removed, old) {
                    self.removed(&key, old.version, RemoveCause::Delete);
                }
                RedisResp::Bool(removed)
            }
            RedisReq::SetGet { key, entry, opts, op } => {
                let old = self.live(&key);
                match self.fill(key, entry, opts, Gate::Plain, FillFence::default(), op) {
                    RedisResp::Bool(stored) => RedisResp::SetGet { old, stored },
                    err => err,
                }
            }
            RedisReq::GetDel { key, op } => {
                let got = self.live(&key);
                if let Some(e) = &got {
                    self.served(&key, e, op);
                    self.data.getdel(&key, now_ms);
                    self.removed(&key, e.version, RemoveCause::Delete);
                }
                RedisResp::Value(got)
            }
            RedisReq::GetEx { key, opt, op } => {
                self.live(&key);
                match self.data.getex(&key, opt, now_ms) {
                    Ok(got) => {
                        if let Some(e) = &got {
                            if opt != GetExOpt::Keep {
                                self.touched(&key);
                            }
                            self.served(&key, e, op);
                            if self.data.peek(&key, now_ms).is_none() {
                                self.removed(&key, e.version, RemoveCause::Expire);
                            }
                        }
                        RedisResp::Value(got)
                    }
                    Err(e) => RedisResp::Error(e.to_string()),
                }
            }
            RedisReq::Expire { key, arg, cond } => {
                let old = self.live(&key);
                let reply = match arg {
                    ExpireArg::Secs(s) => self.data.expire_cond(&key, s, cond, now_ms),
                    ExpireArg::Millis(ms) => self.data.pexpire_cond(&key, ms, cond, now_ms),
                    ExpireArg::AtSecs(s) => self.data.expireat(&key, s, cond, now_ms),
                    ExpireArg::AtMillis(ms) => self.data.pexpireat(&key, ms, cond, now_ms),
                };
                if let (Some(old), None) = (old, self.data.peek(&key, now_ms)) {
                    self.removed(&key, old.version, RemoveCause::Expire);
                }
                if reply == Ok(true) {
                    self.touched(&key);
                }
                match reply {
                    Ok(b) => RedisResp::Bool(b),
                    Err(e) => RedisResp::Error(e.to_string()),
                }
            }
            RedisReq::MGet { keys, op } => RedisResp::Values(
                keys.iter()
                    .map(|key| {
                        let got = self.live(key);
                        if let Some(e) = &got {
                            self.served(key, e, op);
                        }
                        got
                    })
                    .collect(),
            ),
            RedisReq::MSet { pairs, op } => {
                for (key, entry) in pairs {
                    self.fill(key, entry, SetOpts::default(), Gate::Plain, FillFence::default(), op);
                }
                RedisResp::Bool(true)
            }
            RedisReq::Unlink { keys } => {
                let mut removed = 0;
                for key in &keys {
                    if let Some(old) = self.live(key) {
                        self.data.del(key, now_ms);
                        self.removed(key, old.version, RemoveCause::Delete);
                        removed += 1;
                    }
                }
                RedisResp::Int(removed)
            }
            RedisReq::Pttl { key } => {
                self.live(&key);
                RedisResp::Int(self.data.pttl(&key, now_ms))
            }
            RedisReq::Invalidate { key, version } => {
                if let Err(oom) = self.make_room() {
                    return (RedisResp::Error(oom), deliveries);
                }
                floor::raise_floor(&mut self.data, &key, version, now_ms);
                self.recorder.internal(ModelEvent::Floor {
                    node: self.node.clone(),
                    tier: Tier::Redis,
                    key: key.clone(),
                    version,
                });
                if let Some(old) = self.live(&key) {
                    if old.version < version {
                        self.data.del(&key, now_ms);
                        self.removed(&key, old.version, RemoveCause::Invalidate);
                    }
                }
                RedisResp::Bool(true)
            }
            RedisReq::KeysWithTag { tag } => RedisResp::Keys(self.keys_with_tag(&tag)),
            RedisReq::DelTag { tag } => {
                let generation = self.tag_generations.entry(tag.clone()).or_insert(0);
                *generation += 1;
                let generation = *generation;
                let keys = self.keys_with_tag(&tag);
                for key in &keys {
                    if let Some(old) = self.data.peek_any(key) {
                        self.data.del(key, now_ms);
                        self.removed(key, old.version, RemoveCause::Tag);
                    }
                }
                self.recorder.internal(ModelEvent::TagInvalidate {
                    node: self.node.clone(),
                    tier: Tier::Redis,
                    tag,
                });
                RedisResp::Int(generation as i64)
            }
            RedisReq::Subscribe { channel, conn } => {
                if !self.conns.is_open(conn) {
                    return (RedisResp::Error(format!("connection {conn} is closed")), deliveries);
                }
                self.subscribers.insert(conn, from.to_string());
                RedisResp::Bool(self.pubsub.subscribe(&channel, conn))
            }
            RedisReq::Publish { channel, inv } => {
                for conn in self.drop_closed_subscribers() {
                    deliveries.push(Push::Forget { conn });
                }
                let receivers = self.pubsub.publish(&channel);
                for conn in &receivers {
                    let msg = Published { channel: channel.clone(), inv: inv.clone() };
                    deliveries.push(Push::Message {
                        conn: *conn,
                        client: self.subscribers[conn].clone(),
                        msg,
                    });
                }
                RedisResp::Int(receivers.len() as i64)
            }
            RedisReq::LeaseGet { key, op, quarantine_ns, tag } => {
                let now = self.clock.now_ns();
                let quarantined =
                    self.restarted_local_ns.is_some_and(|r| now < r.saturating_add(quarantine_ns));
                if quarantined || self.write_leased(&key) {
                    RedisResp::LeaseEntry { entry: None, token: None }
                } else {
                    match self.execute(
                        RedisReq::Get { key: key.clone(), op, touch_ms: None, tag: None, stamped: true },
                        from,
                    ) {
                        (RedisResp::Entry { entry: Some(e), .. }, _) => {
                            RedisResp::LeaseEntry { entry: Some(e), token: None }
                        }
                        _ => RedisResp::LeaseEntry {
                            entry: None,
                            token: Some(LeaseToken {
                                gen: self.lease_gen(&key),
                                asked_at_local_ns: now,
                                incarnation: self.run_id,
                                tag_generation: tag
                                    .and_then(|t| self.tag_generations.get(&t).copied())
                                    .unwrap_or(0),
                            }),
                        },
                    }
                }
            }
            RedisReq::LeaseFill { key, entry, opts, token, op } => {
                self.lease_fill(key, entry, opts, token, op)
            }
            RedisReq::Tracking { opts, fresh } => {
                let from = from.to_string();
                if fresh {
                    self.tracking.disable(&from);
                }
                let me = self.node.as_str();
                let exists = opts.redirect.is_some_and(|c| {
                    self.conns.is_open(c) && self.conns.ends(c).is_some_and(|(_, server)| server == me)
                });
                match self.tracking.enable(&from, opts, exists) {
                    Ok(()) => RedisResp::Bool(true),
                    Err(e) => RedisResp::Error(e),
                }
            }
            RedisReq::TrackingOff => {
                self.tracking.disable(&from.to_string());
                RedisResp::Bool(true)
            }
            RedisReq::Caching { yes } => match self.tracking.caching(&from.to_string(), yes) {
                Ok(()) => RedisResp::Bool(true),
                Err(e) => RedisResp::Error(e),
            },
            RedisReq::WriteLease { key, lease_ns } => {
                let now = self.clock.now_ns();
                let gen = self.lease_gen(&key) + 1;
                self.lease_gens.insert(key.clone(), gen);
                self.write_leases.entry(key.clone()).or_default().insert(gen, now + lease_ns);
                if let Some(old) = self.live(&key) {
                    self.data.del(&key, now_ms);
                    self.removed(&key, old.version, RemoveCause::Invalidate);
                }
                RedisResp::Int(gen as i64)
            }
            RedisReq::Watch { keys } => {
                self.last_client += 1;
                let client = self.last_client;
                for key in &keys {
                    self.data.watch(client, key, now_ms);
                }
                RedisResp::Watching(WatchToken { client, run_id: self.run_id })
            }
            RedisReq::Unwatch { watch } => {
                if watch.run_id == self.run_id {
                    self.data.unwatch(watch.client);
                }
                RedisResp::Bool(true)
            }
            RedisReq::Exec { watch, cmds } => {
                let (resp, sent) = self.exec(watch, cmds, from);
                deliveries.extend(sent);
                resp
            }
            RedisReq::Eval { script, keys, args, op } => {
                let (resp, sent) = self.eval(&script, &keys, &args, op, from);
                deliveries.extend(sent);
                resp
            }
            RedisReq::ReleaseWriteLease { key, version, gen } => {
                self.execute(RedisReq::Invalidate { key: key.clone(), version }, from);
                match (gen, self.write_leases.get_mut(&key)) {
                    (Some(g), Some(leases)) => {
                        leases.remove(&g);
                    }
                    (None, Some(leases)) => leases.clear(),
                    (_, None) => {}
                }
                RedisResp::Bool(true)
            }
        };
        self.publish_state();
        (resp, deliveries)
    }
}

/// The Redis node's main task. Active expiry runs every 100 ms of the node's clock, as Redis's
/// `hz 10` does (deterministically: every due key, not a random sample). Under `maxmemory` the
/// eviction samples come from the run `seed`'s stream `evict:<node>` (restarted afresh with the
/// node). With `replica_lag_ms` the shard has a replica that follows it that far behind; a
/// failover (`RedisShared::fail_over`) makes the next start begin from the replica's keyspace,
/// with a new run id, no connections and nothing restored but keys.
pub async fn serve(
    net: Net,
    recorder: Recorder<ModelEvent>,
    shared: RedisShared,
    maxmemory: Option<MaxMemory>,
    replica_lag_ms: Option<u64>,
    seed: u64,
) {
    let node = net.name().to_string();
    recorder.internal(ModelEvent::Start { node: node.clone() });
    // The node's data directory says whether it ran before (its snapshot handle outlives a
    // crash): only a restarted node may have forgotten write leases.
    let restarted = shared.data.lock().unwrap().is_some();
    let clock = net.ctx().clocks.node(&node);
    let promoted = shared.promoted.lock().unwrap().take();
    let data = match promoted {
        Some(replica) => {
            let now_ms = clock.now_ns() / 1_000_000;
            let (data, _expired) = replication::promote(&replica, now_ms);
            let restored: Vec<(String, u64)> = data
                .keys()
                .filter(|k| !is_floor_key(k))
                .filter_map(|k| data.peek(k, now_ms).map(|e| (k.clone(), e.version)))
                .collect();
            *shared.restored.lock().unwrap() = restored.iter().map(|(k, _)| k.clone()).collect();
            recorder.internal(ModelEvent::Promote { node: node.clone(), restored });
            data
        }
        None => {
            shared.restored.lock().unwrap().clear();
            match maxmemory {
                Some(config) => RedisStore::with_maxmemory(
                    config,
                    tiersim_sim::rng::stream(seed, &format!("evict:{node}")),
                ),
                None => RedisStore::new(),
            }
        }
    };
    // A new primary's replica starts as a full copy of it (a restart without persistence
    // empties both, as in Redis).
    *shared.replication.lock().unwrap() =
        replica_lag_ms.map(|lag| Replication::synced(lag * 1_000_000, sim_now_ns(), data.without_watches()));
    let state = Rc::new(RefCell::new(RedisState {
        data,
        evicted_keys: 0,
        atomic_depth: 0,
        atomic_reads: Vec::new(),
        last_client: 0,
        tag_generations: BTreeMap::new(),
        pubsub: PubSub::new(),
        subscribers: BTreeMap::new(),
        conns: net.ctx().conns.clone(),
        tracking: Tracking::default(),
        modified: RefCell::new(Vec::new()),
        run_id: sim_now_ns() + 1,
        restarted_local_ns: restarted.then(|| net.ctx().clocks.node(&node).now_ns()),
        lease_gens: BTreeMap::new(),
        write_leases: BTreeMap::new(),
        clock,
        node,
        recorder,
        shared,
    }));
    state.borrow().publish_state();
    let (s, n) = (state.clone(), net.clone());
    let outbox = Rc::new(RefCell::new(Outbox::default()));
    let o = outbox.clone();
    net.serve(move |req: RedisReq, from| {
        let (resp, deliveries) = s.borrow_mut().handle(req, &from);
        // Each message joins its connection's queue before the reply leaves: in publish order.
        o.borrow_mut().deliver(&n, deliveries);
        async move { Some(resp) }
    });
    loop {
        madsim::time::sleep(std::time::Duration::from_millis(100)).await;
        let mut st = state.borrow_mut();
        let now_ms = st.now_ms();
        let snapshot = st.data.clone();
        for key in st.data.active_expire(now_ms) {
            let version = snapshot.peek_any(&key).map_or(0, |e| e.version);
            st.removed(&key, version, RemoveCause::Expire);
        }
        let pushes = st.tracking_pushes(None);
        outbox.borrow_mut().deliver(&net, pushes);
        st.publish_state();
    }
}
