//! Redis semantics that a user of Redis would recognise: the keyspace, pub/sub and cluster slots.
//!
//! The Redis tier of a simulated hierarchy answers GET, SET (EX/PX, NX/XX, KEEPTTL), DEL,
//! EXISTS, EXPIRE/PEXPIRE, PERSIST and PTTL from a [`RedisStore`], fans invalidations out through
//! [`PubSub`], and, when sharded, places keys with [`key_slot`] and [`shard_for`] as Redis
//! Cluster does. Races that a protocol has with real Redis should reproduce here, so the
//! semantics follow the Redis source rather than intuition where the two differ.
//!
//! Like the tier store, these are pure data structures: they never read a clock. Every command
//! takes the Redis node's local time in milliseconds (`now_ms`), because Redis computes TTLs on
//! its own clock. Maps are `imbl` persistent maps (O(1) clone, for snapshots) or `BTreeMap`s;
//! nothing depends on hashing.
//!
//! # Expiry, as Redis does it
//!
//! A key whose expire time is `T` (absolute ms) is still alive at `now_ms == T` and gone when
//! `now_ms > T` (Redis `keyIsExpired`: `now > when`); `PTTL` at `now_ms == T` answers 0.
//! Commands expire keys lazily when they touch them. [`RedisStore::active_expire`] stands in for
//! Redis's active expiry cycle: real Redis samples keys with TTLs at random and stops early, so
//! some expired keys linger; here it removes every due key, in key order, through an expiry
//! index. That is deterministic, and a protocol that is only correct because expired keys vanish
//! promptly is equally wrong against either.
//!
//! `EXPIRE`/`PEXPIRE` with an instant at or before now (for instance `EXPIRE k 0` or a negative
//! count) delete the key and return true, as Redis does (`checkAlreadyExpired`: `when <= now`).
//!
//! # Errors
//!
//! `SET` with `EX 0`, `PX 0`, or a time whose absolute instant overflows a signed 64-bit
//! millisecond count fails with `ERR invalid expire time in 'set' command`, as in Redis's
//! `getExpireMillisecondsOrReply`; `EXPIRE`/`PEXPIRE` fail the same way on overflow. So
//! [`RedisStore::set`], [`RedisStore::expire`] and [`RedisStore::pexpire`] return
//! `Result<bool, RedisError>`: an error is bad input from the user's protocol, not a tiersim
//! bug, and it leaves the store unchanged. `KEEPTTL` together with `EX`/`PX` is
//! `ERR syntax error`, as in Redis.
//!
//! # maxmemory
//!
//! Off by default ([`RedisStore::new`]: nothing is tracked, nothing evicted, so existing traces
//! are unchanged). [`RedisStore::with_maxmemory`] bounds the keyspace and evicts as Redis's
//! `maxmemory-policy` does, with its sampled approximation: each eviction draws
//! `maxmemory-samples` keys (with replacement) from a seeded stream and evicts the best of
//! them (oldest access for LRU, smallest logarithmic counter for LFU, nearest expire instant
//! for volatile-ttl, one random key for allkeys-random). Memory is counted in keys, not bytes;
//! LRU uses an access counter instead of Redis's 24-bit clock; there is no eviction pool
//! carried between evictions and no LFU decay. The caller runs [`RedisStore::make_room`]
//! before a write, as Redis does before a `denyoom` command.
//!
//! # Deliberate differences
//!
//! Values are opaque (`V`); there are no types, so there is no WRONGTYPE. [`RedisStore::keys`]
//! and [`RedisStore::len`] count keys that are expired but not yet removed, as Redis's `DBSIZE`
//! does. [`PubSub::publish`] delivers to subscribers in ascending id order, where Redis's order
//! is an implementation detail; a fixed order keeps runs reproducible.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};

use crate::state::store::Key;
use crate::state::transaction::{ClientId, Watches};

/// The largest absolute expire instant Redis can represent (a signed 64-bit ms count).
const MAX_EXPIRE_MS: u64 = i64::MAX as u64;

/// The number of Redis Cluster hash slots.
pub const SLOTS: u16 = 16384;

/// The relative expiry of a SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiry {
    /// `EX seconds`.
    Ex(u64),
    /// `PX milliseconds`.
    Px(u64),
}

/// The condition of a SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetCond {
    /// `NX`: only set if the key does not exist.
    Nx,
    /// `XX`: only set if the key exists.
    Xx,
}

/// The TTL option of a GETEX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GetExOpt {
    /// No option: GETEX is a GET.
    Keep,
    /// `EX seconds`.
    Ex(u64),
    /// `PX milliseconds`.
    Px(u64),
    /// `EXAT unix-seconds` (on the node's clock).
    ExAt(u64),
    /// `PXAT unix-milliseconds`.
    PxAt(u64),
    /// `PERSIST`: remove the TTL.
    Persist,
}

/// The condition of an EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT (Redis 7.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpireCond {
    /// `NX`: only if the key has no TTL.
    Nx,
    /// `XX`: only if the key has a TTL.
    Xx,
    /// `GT`: only if the new instant is later than the current one (never on a key without TTL,
    /// which counts as infinite).
    Gt,
    /// `LT`: only if the new instant is earlier than the current one (always on a key without
    /// TTL).
    Lt,
}

/// The options of a SET. The default is a plain `SET key value`, which clears any TTL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetOpts {
    /// `EX`/`PX`; `None` clears the key's TTL unless `keep_ttl`.
    pub expiry: Option<Expiry>,
    /// `NX`/`XX`.
    pub cond: Option<SetCond>,
    /// `KEEPTTL`: keep the existing TTL. An error together with `expiry`.
    pub keep_ttl: bool,
}

/// An error reply, worded as Redis words it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedisError {
    /// `ERR invalid expire time in '<command>' command`.
    InvalidExpireTime {
        /// The lower-case command name, as Redis prints it.
        command: String,
    },
    /// `ERR syntax error`.
    Syntax,
    /// `OOM command not allowed when used memory > 'maxmemory'.`
    Oom,
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::InvalidExpireTime { command } => {
                write!(f, "ERR invalid expire time in '{command}' command")
            }
            RedisError::Syntax => write!(f, "ERR syntax error"),
            RedisError::Oom => write!(f, "OOM command not allowed when used memory > 'maxmemory'."),
        }
    }
}

impl std::error::Error for RedisError {}

fn invalid_expire(command: &str) -> RedisError {
    RedisError::InvalidExpireTime { command: command.to_owned() }
}

/// A stored value and its absolute expire instant (ms on the Redis node's clock).
#[derive(Clone, Debug)]
struct Stored<V> {
    value: V,
    expire_at_ms: Option<u64>,
    /// The store's access tick at the last access (LRU), only kept under maxmemory.
    accessed: u64,
    /// Redis's logarithmic LFU counter (starts at 5), only kept under maxmemory.
    lfu: u8,
}

impl<V> Stored<V> {
    /// Redis's `keyIsExpired`: alive at the expire instant, expired strictly after it.
    fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at_ms.is_some_and(|at| now_ms > at)
    }
}

/// One Redis keyspace (a single logical database).
#[derive(Clone, Debug)]
pub struct RedisStore<V: Clone> {
    entries: OrdMap<Key, Stored<V>>,
    /// (expire_at_ms, key) for every key with a TTL.
    expiries: OrdSet<(u64, Key)>,
    /// maxmemory, when configured (off by default: then nothing is tracked or evicted).
    eviction: Option<Eviction>,
    /// WATCHed keys (`state::transaction`): every change below touches them.
    watches: Watches,
}

/// Redis's `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvictionPolicy {
    /// Refuse writes with `OOM command not allowed when used memory > 'maxmemory'.`
    Noeviction,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    VolatileLru,
    VolatileTtl,
}

/// `maxmemory`, measured in keys (see module docs), with its policy and `maxmemory-samples`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaxMemory {
    pub max_keys: usize,
    pub policy: EvictionPolicy,
    /// Keys sampled per eviction (Redis's default is 5).
    pub samples: usize,
}

/// maxmemory state: the limit, the seeded stream its samples come from, the access tick.
#[derive(Clone, Debug)]
struct Eviction {
    config: MaxMemory,
    rng: rand_chacha::ChaCha8Rng,
    tick: u64,
}

impl<V: Clone> Default for RedisStore<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone> RedisStore<V> {
    /// An empty keyspace.
    pub fn new() -> Self {
        RedisStore {
            entries: OrdMap::new(),
            expiries: OrdSet::new(),
            eviction: None,
            watches: Watches::default(),
        }
    }

    /// An empty keyspace under `maxmemory`, sampling keys from `rng` (a seeded stream: Redis
    /// samples at random, so the run's seed must decide which keys a sample sees).
    pub fn with_maxmemory(config: MaxMemory, rng: rand_chacha::ChaCha8Rng) -> Self {
        assert!(config.samples > 0, "maxmemory-samples must be at least 1");
        RedisStore { eviction: Some(Eviction { config, rng, tick: 0 }), ..Self::new() }
    }

    /// Before a write that may add a key, as Redis's `performEvictions` before a `denyoom`
    /// command: evict until there is room for one more key, and answer the keys evicted in
    /// order. Without maxmemory nothing happens; under `noeviction`, or a volatile policy with
    /// no key with a TTL, a full keyspace refuses the write with OOM.
    pub fn make_room(&mut self) -> Result<Vec<Key>, RedisError> {
        let mut evicted = Vec::new();
        let Some(config) = self.eviction.as_ref().map(|e| e.config) else {
            return Ok(evicted);
        };
        while self.entries.len() >= config.max_keys {
            let volatile = matches!(config.policy, EvictionPolicy::VolatileLru | EvictionPolicy::VolatileTtl);
            let pool: Vec<Key> = if volatile {
                self.expiries.iter().map(|(_, k)| k.clone()).collect()
            } else {
                self.entries.keys().cloned().collect()
            };
            if config.policy == EvictionPolicy::Noeviction || pool.is_empty() {
                return Err(RedisError::Oom);
            }
            let ev = self.eviction.as_mut().expect("maxmemory configured");
            let n = if config.policy == EvictionPolicy::AllkeysRandom { 1 } else { config.samples };
            let sample: Vec<Key> =
                (0..n).map(|_| pool[rand::Rng::gen_range(&mut ev.rng, 0..pool.len())].clone()).collect();
            // The best candidate of the sample; ties go to the first sampled.
            let score = |key: &Key| -> (u64, u64) {
                let s = &self.entries[key];
                match config.policy {
                    EvictionPolicy::AllkeysLru | EvictionPolicy::VolatileLru => (s.accessed, 0),
                    EvictionPolicy::AllkeysLfu => (u64::from(s.lfu), s.accessed),
                    EvictionPolicy::VolatileTtl => (s.expire_at_ms.unwrap_or(u64::MAX), 0),
                    EvictionPolicy::AllkeysRandom | EvictionPolicy::Noeviction => (0, 0),
                }
            };
            let victim = sample.iter().min_by_key(|k| score(k)).expect("a sample is never empty").clone();
            self.unlink(&victim);
            evicted.push(victim);
        }
        self.debug_check();
        Ok(evicted)
    }

    /// Records an access to a live key for LRU and LFU (Redis's `LFULogIncr` with
    /// `lfu-log-factor 10`; the counter's decay over time is not modelled).
    fn touch(&mut self, key: &str) {
        let Some(ev) = self.eviction.as_mut() else { return };
        ev.tick += 1;
        let tick = ev.tick;
        let draw: f64 = rand::Rng::gen(&mut ev.rng);
        if let Some(s) = self.entries.get_mut(key) {
            s.accessed = tick;
            if s.lfu < 255 {
                let base = f64::from(s.lfu.saturating_sub(5));
                if draw < 1.0 / (base * 10.0 + 1.0) {
                    s.lfu += 1;
                }
            }
        }
    }

    /// The stored value of `key` whether or not it has expired, without touching anything (what
    /// the node needs to report which version an expiry removed).
    pub fn peek_any(&self, key: &str) -> Option<V> {
        self.entries.get(key).map(|s| s.value.clone())
    }

    /// The value of `key` if it is live at `now_ms`, without lazy expiry (for observers: checkers
    /// must not change what they look at).
    pub fn peek(&self, key: &str, now_ms: u64) -> Option<&V> {
        self.entries.get(key).filter(|s| !s.is_expired(now_ms)).map(|s| &s.value)
    }

    /// `GET`: the value, or `None` if the key is missing or expired (which removes it).
    pub fn get(&mut self, key: &str, now_ms: u64) -> Option<V> {
        self.live(key, now_ms).map(|s| s.value.clone())
    }

    /// `SET key value [EX s | PX ms | KEEPTTL] [NX | XX]`.
    ///
    /// Returns `Ok(false)` when the NX/XX condition is not met (Redis's nil reply), `Ok(true)`
    /// when the value was stored. Without an expiry the key's TTL is cleared unless `keep_ttl`.
    /// An expiry of 0 or one that overflows is an error and nothing changes (see module docs).
    pub fn set(&mut self, key: &str, value: V, opts: &SetOpts, now_ms: u64) -> Result<bool, RedisError> {
        if opts.keep_ttl && opts.expiry.is_some() {
            return Err(RedisError::Syntax);
        }
        // Redis validates the expire time before it looks at the key.
        let new_expire_at_ms = match opts.expiry {
            None => None,
            Some(expiry) => Some(set_expire_at_ms(expiry, now_ms)?),
        };
        let existing = self.live(key, now_ms).map(|s| s.expire_at_ms);
        match (opts.cond, existing) {
            (Some(SetCond::Nx), Some(_)) | (Some(SetCond::Xx), None) => return Ok(false),
            _ => {}
        }
        let expire_at_ms = if opts.keep_ttl { existing.flatten() } else { new_expire_at_ms };
        self.put(key, value, expire_at_ms);
        Ok(true)
    }

    /// `DEL`: true if a live key was removed (an expired key counts as missing).
    pub fn del(&mut self, key: &str, now_ms: u64) -> bool {
        if self.live(key, now_ms).is_none() {
            return false;
        }
        self.unlink(key).is_some()
    }

    /// `EXISTS`: whether the key is live.
    pub fn exists(&mut self, key: &str, now_ms: u64) -> bool {
        self.live(key, now_ms).is_some()
    }

    /// `EXPIRE key seconds`. `Ok(false)` if the key is missing; a count that puts the expire
    /// instant at or before now (0, negative) deletes the key and returns `Ok(true)`; a count
    /// whose instant overflows is `ERR invalid expire time in 'expire' command`.
    pub fn expire(&mut self, key: &str, secs: i64, now_ms: u64) -> Result<bool, RedisError> {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&secs) {
            return Err(invalid_expire("expire"));
        }
        self.expire_generic("expire", key, secs * 1000, now_ms)
    }

    /// `PEXPIRE key milliseconds`, as [`RedisStore::expire`] in milliseconds.
    pub fn pexpire(&mut self, key: &str, ms: i64, now_ms: u64) -> Result<bool, RedisError> {
        self.expire_generic("pexpire", key, ms, now_ms)
    }

    /// `PERSIST`: true if the key is live and had a TTL, which is now removed.
    pub fn persist(&mut self, key: &str, now_ms: u64) -> bool {
        match self.live(key, now_ms).map(|s| s.expire_at_ms) {
            Some(Some(at)) => {
                let removed = self.expiries.remove(&(at, key.to_owned()));
                debug_assert!(removed.is_some(), "expiry index out of step");
                if let Some(stored) = self.entries.get_mut(key) {
                    stored.expire_at_ms = None;
                }
                self.touch_watched(key, true);
                self.debug_check();
                true
            }
            _ => false,
        }
    }

    /// `PTTL`: -2 if the key is missing, -1 if it has no TTL, else the remaining milliseconds
    /// (0 at the expire instant itself, when the key is still alive).
    pub fn pttl(&mut self, key: &str, now_ms: u64) -> i64 {
        match self.live(key, now_ms).map(|s| s.expire_at_ms) {
            None => -2,
            Some(None) => -1,
            Some(Some(at)) => {
                let remaining = at.checked_sub(now_ms).expect("a live key expires after now");
                i64::try_from(remaining).expect("expire instants are at most i64::MAX")
            }
        }
    }

    /// `SET key value [EX s | PX ms | KEEPTTL] [NX | XX] GET`: the value the key held before
    /// (`None`: missing or expired), and whether the new value was stored. As in Redis 7.0 the
    /// old value is answered whether or not NX/XX let the SET through (`SET k v NX GET` on an
    /// existing key answers its value and changes nothing). Errors as for [`RedisStore::set`].
    pub fn set_get(
        &mut self,
        key: &str,
        value: V,
        opts: &SetOpts,
        now_ms: u64,
    ) -> Result<(Option<V>, bool), RedisError> {
        if opts.keep_ttl && opts.expiry.is_some() {
            return Err(RedisError::Syntax);
        }
        if let Some(expiry) = opts.expiry {
            set_expire_at_ms(expiry, now_ms)?;
        }
        let old = self.live(key, now_ms).map(|s| s.value.clone());
        let stored = self.set(key, value, opts, now_ms)?;
        Ok((old, stored))
    }

    /// `GETDEL`: the value, which is removed; `None` if the key is missing or expired.
    pub fn getdel(&mut self, key: &str, now_ms: u64) -> Option<V> {
        self.live(key, now_ms)?;
        let stored = self.unlink(key).expect("live key vanished");
        self.debug_check();
        Some(stored.value)
    }

    /// `GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]`: the value, after changing its
    /// TTL as `opt` says (a missing key changes nothing and answers `None`).
    ///
    /// As in Redis 7.0 (`getexCommand`, `getExpireMillisecondsOrReply`): the key is looked up
    /// first, so a missing key answers nil even with a bad option (unlike SET, which validates
    /// first; the conformance test caught this); on a live key a count of 0, a negative one
    /// (unrepresentable in `u64` here), or an instant that overflows is
    /// `ERR invalid expire time in 'getex' command` and changes nothing; `EXAT`/`PXAT` at or
    /// before now delete the key and still answer its value.
    pub fn getex(&mut self, key: &str, opt: GetExOpt, now_ms: u64) -> Result<Option<V>, RedisError> {
        if self.live(key, now_ms).is_none() {
            return Ok(None);
        }
        let when_ms = match opt {
            GetExOpt::Keep | GetExOpt::Persist => None,
            GetExOpt::Ex(s) => {
                Some(set_expire_at_ms(Expiry::Ex(s), now_ms).map_err(|_| invalid_expire("getex"))?)
            }
            GetExOpt::Px(ms) => {
                Some(set_expire_at_ms(Expiry::Px(ms), now_ms).map_err(|_| invalid_expire("getex"))?)
            }
            GetExOpt::ExAt(s) => match s.checked_mul(1000).filter(|ms| s > 0 && *ms <= MAX_EXPIRE_MS) {
                Some(ms) => Some(ms),
                None => return Err(invalid_expire("getex")),
            },
            GetExOpt::PxAt(ms) if ms > 0 && ms <= MAX_EXPIRE_MS => Some(ms),
            GetExOpt::PxAt(_) => return Err(invalid_expire("getex")),
        };
        let Some(value) = self.live(key, now_ms).map(|s| s.value.clone()) else {
            return Ok(None);
        };
        match (opt, when_ms) {
            (GetExOpt::Persist, _) => {
                self.persist(key, now_ms);
            }
            // Redis's checkAlreadyExpired(when): `when <= now` deletes the key.
            (_, Some(when)) if when <= now_ms => {
                self.unlink(key);
            }
            (_, Some(when)) => {
                let value = self.unlink(key).expect("live key vanished").value;
                self.put(key, value, Some(when));
            }
            (_, None) => {}
        }
        self.debug_check();
        Ok(Some(value))
    }

    /// `EXPIRE key seconds [NX | XX | GT | LT]`: [`RedisStore::expire`] under a condition.
    /// `Ok(false)` when the condition is not met (see [`ExpireCond`]).
    pub fn expire_cond(
        &mut self,
        key: &str,
        secs: i64,
        cond: Option<ExpireCond>,
        now_ms: u64,
    ) -> Result<bool, RedisError> {
        let ms = secs_to_ms(secs).ok_or_else(|| invalid_expire("expire"))?;
        self.expire_at_generic("expire", key, ms, now_i64(now_ms), cond, now_ms)
    }

    /// `PEXPIRE key milliseconds [NX | XX | GT | LT]`.
    pub fn pexpire_cond(
        &mut self,
        key: &str,
        ms: i64,
        cond: Option<ExpireCond>,
        now_ms: u64,
    ) -> Result<bool, RedisError> {
        self.expire_at_generic("pexpire", key, ms, now_i64(now_ms), cond, now_ms)
    }

    /// `EXPIREAT key unix-seconds [NX | XX | GT | LT]`: an absolute instant on the node's
    /// clock; one at or before now deletes the key and answers true, as EXPIRE does.
    pub fn expireat(
        &mut self,
        key: &str,
        at_secs: i64,
        cond: Option<ExpireCond>,
        now_ms: u64,
    ) -> Result<bool, RedisError> {
        let ms = secs_to_ms(at_secs).ok_or_else(|| invalid_expire("expireat"))?;
        self.expire_at_generic("expireat", key, ms, 0, cond, now_ms)
    }

    /// `PEXPIREAT key unix-milliseconds [NX | XX | GT | LT]`.
    pub fn pexpireat(
        &mut self,
        key: &str,
        at_ms: i64,
        cond: Option<ExpireCond>,
        now_ms: u64,
    ) -> Result<bool, RedisError> {
        self.expire_at_generic("pexpireat", key, at_ms, 0, cond, now_ms)
    }

    /// `MGET`: each key's value in order (`None`: missing or expired, which removes it).
    pub fn mget(&mut self, keys: &[&str], now_ms: u64) -> Vec<Option<V>> {
        keys.iter().map(|key| self.get(key, now_ms)).collect()
    }

    /// `MSET`: stores every pair in order (a later duplicate wins), clearing their TTLs, as a
    /// plain SET does. Redis answers `OK` always.
    pub fn mset(&mut self, pairs: Vec<(Key, V)>, now_ms: u64) {
        for (key, value) in pairs {
            self.set(&key, value, &SetOpts::default(), now_ms).expect("a plain SET cannot fail");
        }
    }

    /// `UNLINK` (and multi-key `DEL`): the number of live keys removed; a key named twice
    /// counts once.
    pub fn unlink_keys(&mut self, keys: &[&str], now_ms: u64) -> usize {
        keys.iter().filter(|key| self.del(key, now_ms)).count()
    }

    /// `PEXPIRETIME`-like: the absolute expire instant of a live key without touching it (for
    /// comparing keyspaces; `None`: missing, expired or persistent).
    pub fn peek_expire_at_ms(&self, key: &str, now_ms: u64) -> Option<u64> {
        self.entries.get(key).filter(|s| !s.is_expired(now_ms)).and_then(|s| s.expire_at_ms)
    }

    /// The body of every EXPIRE form (Redis's `expireGenericCommand`): `when = ms + base_ms`
    /// checked for overflow before the key is looked up, then the condition, then delete if
    /// `when <= now` or set the TTL.
    fn expire_at_generic(
        &mut self,
        command: &str,
        key: &str,
        ms: i64,
        base_ms: i64,
        cond: Option<ExpireCond>,
        now_ms: u64,
    ) -> Result<bool, RedisError> {
        // Redis checks `when > LLONG_MAX - basetime` only; a large negative count is accepted.
        let when = ms.checked_add(base_ms).ok_or_else(|| invalid_expire(command))?;
        let Some(current) = self.live(key, now_ms).map(|s| s.expire_at_ms) else {
            return Ok(false);
        };
        let current = current.map(|at| i64::try_from(at).expect("expire instants are at most i64::MAX"));
        let met = match cond {
            None => true,
            Some(ExpireCond::Nx) => current.is_none(),
            Some(ExpireCond::Xx) => current.is_some(),
            // A key without a TTL counts as an infinite TTL: GT always fails on it.
            Some(ExpireCond::Gt) => current.is_some_and(|c| when > c),
            // ...and LT always passes.
            Some(ExpireCond::Lt) => current.is_none_or(|c| when < c),
        };
        if !met {
            return Ok(false);
        }
        self.expire_live_at(key, when, now_i64(now_ms));
        Ok(true)
    }

    /// Active expiry: removes every key expired at `now_ms` (expire instant `< now_ms`) and
    /// returns them in key order. Unlike Redis's random sampling it is complete; see module docs.
    pub fn active_expire(&mut self, now_ms: u64) -> Vec<Key> {
        let mut due: Vec<Key> =
            self.expiries.iter().take_while(|(at, _)| now_ms > *at).map(|(_, key)| key.clone()).collect();
        due.sort();
        for key in &due {
            let stored = self.unlink(key).expect("expiry index names a missing key");
            debug_assert!(stored.is_expired(now_ms));
        }
        self.debug_check();
        due
    }

    /// Every stored key in key order, including expired keys not yet removed (like `DBSIZE`).
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.keys()
    }

    /// The number of stored keys, including expired keys not yet removed (like `DBSIZE`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no keys are stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// This keyspace as a replica holds it: the same keys, values and expiry instants (and
    /// maxmemory state), but no client's WATCH (`state::replication`).
    pub fn without_watches(&self) -> Self {
        RedisStore { watches: Watches::default(), ..self.clone() }
    }

    /// `WATCH key` by `client` at `now_ms` (see `state::transaction`).
    pub fn watch(&mut self, client: ClientId, key: &str, now_ms: u64) {
        let expired = self.entries.get(key).is_some_and(|s| s.is_expired(now_ms));
        self.watches.watch(client, key, expired);
    }

    /// `UNWATCH` (and DISCARD): `client` stops watching.
    pub fn unwatch(&mut self, client: ClientId) {
        self.watches.unwatch(client);
    }

    /// What EXEC decides at `now_ms` before it runs anything: false (EXEC answers nil) when a
    /// key `client` watches was modified since its WATCH, or has logically expired since
    /// (Redis 7.0's `isWatchedKeyExpired`). Either way the client stops watching.
    pub fn exec_allowed(&mut self, client: ClientId, now_ms: u64) -> bool {
        let expired_since = self.watches.watched(client).iter().any(|(key, expired_at_watch)| {
            !expired_at_watch && self.entries.get(key).is_some_and(|s| s.is_expired(now_ms))
        });
        let allowed = !self.watches.is_dirty(client) && !expired_since;
        self.watches.unwatch(client);
        allowed
    }

    /// Tell the watchers of `key` it changed (`stored_after`: whether it is still stored).
    fn touch_watched(&mut self, key: &str, stored_after: bool) {
        if !self.watches.is_empty() {
            self.watches.touch(key, stored_after);
        }
    }

    /// `FLUSHALL`: removes every key (maxmemory settings stay), which touches every watched key
    /// that was stored.
    pub fn flushall(&mut self) {
        if !self.watches.is_empty() {
            let stored: Vec<Key> = self.entries.keys().cloned().collect();
            for key in stored {
                self.watches.touch(&key, false);
            }
        }
        self.entries = OrdMap::new();
        self.expiries = OrdSet::new();
    }

    /// The shared body of EXPIRE and PEXPIRE, after the unit conversion.
    fn expire_generic(&mut self, command: &str, key: &str, ms: i64, now_ms: u64) -> Result<bool, RedisError> {
        let now = now_i64(now_ms);
        // Redis rejects an overflowing instant before it looks at the key.
        let when = ms.checked_add(now).ok_or_else(|| invalid_expire(command))?;
        if self.live(key, now_ms).is_none() {
            return Ok(false);
        }
        self.expire_live_at(key, when, now);
        Ok(true)
    }

    /// Give live `key` the expiry instant `when`, or delete it if that is not after `now`, as
    /// every EXPIRE variant does once its conditions are met.
    fn expire_live_at(&mut self, key: &str, when: i64, now: i64) {
        if when <= now {
            self.unlink(key);
        } else {
            let when = u64::try_from(when).expect("a positive instant fits u64");
            let value = self.unlink(key).expect("live key vanished").value;
            self.put(key, value, Some(when));
        }
        self.debug_check();
    }

    /// The stored value of `key` if it is live at `now_ms`; an expired key is removed (lazy
    /// expiry, as every Redis command does when it looks a key up).
    fn live(&mut self, key: &str, now_ms: u64) -> Option<&Stored<V>> {
        if self.entries.get(key)?.is_expired(now_ms) {
            self.unlink(key);
            self.debug_check();
            return None;
        }
        if self.eviction.is_some() {
            self.touch(key);
        }
        self.entries.get(key)
    }

    /// Stores `value` under `key`, replacing any entry and its TTL.
    fn put(&mut self, key: &str, value: V, expire_at_ms: Option<u64>) {
        self.unlink(key);
        if let Some(at) = expire_at_ms {
            self.expiries.insert((at, key.to_owned()));
        }
        let accessed = self.eviction.as_mut().map_or(0, |ev| {
            ev.tick += 1;
            ev.tick
        });
        self.entries.insert(key.to_owned(), Stored { value, expire_at_ms, accessed, lfu: 5 });
        self.touch_watched(key, true);
        self.debug_check();
    }

    /// Removes `key` from the keyspace and the expiry index; the single place keys leave.
    fn unlink(&mut self, key: &str) -> Option<Stored<V>> {
        let (key, stored) = self.entries.remove_with_key(key)?;
        self.touch_watched(&key, false);
        if let Some(at) = stored.expire_at_ms {
            let removed = self.expiries.remove(&(at, key));
            debug_assert!(removed.is_some(), "expiry index out of step");
        }
        Some(stored)
    }

    fn debug_check(&self) {
        debug_assert!(self.expiries.len() <= self.entries.len(), "expiry index larger than the keyspace");
    }

    /// The full O(n) check: the expiry index holds exactly the keys with a TTL.
    #[cfg(test)]
    fn check_indexes(&self) -> Result<(), String> {
        let expiries: OrdSet<(u64, Key)> =
            self.entries.iter().filter_map(|(key, s)| s.expire_at_ms.map(|at| (at, key.clone()))).collect();
        if expiries != self.expiries {
            return Err(format!("expiries {:?} != {:?}", self.expiries, expiries));
        }
        Ok(())
    }
}

/// The absolute expire instant of a SET's EX/PX, or Redis's error for 0 or overflow.
fn set_expire_at_ms(expiry: Expiry, now_ms: u64) -> Result<u64, RedisError> {
    let ms = match expiry {
        Expiry::Ex(secs) if secs > 0 && secs <= MAX_EXPIRE_MS / 1000 => secs * 1000,
        Expiry::Px(ms) if ms > 0 && ms <= MAX_EXPIRE_MS => ms,
        _ => return Err(invalid_expire("set")),
    };
    now_ms.checked_add(ms).filter(|at| *at <= MAX_EXPIRE_MS).ok_or_else(|| invalid_expire("set"))
}

/// Seconds to milliseconds, or `None` where Redis's `LLONG_MAX / 1000` check fails.
fn secs_to_ms(secs: i64) -> Option<i64> {
    (i64::MIN / 1000..=i64::MAX / 1000).contains(&secs).then(|| secs * 1000)
}

/// The node's clock as Redis's signed millisecond count.
fn now_i64(now_ms: u64) -> i64 {
    i64::try_from(now_ms).expect("a node clock beyond i64::MAX ms is a tiersim bug")
}

/// Redis pub/sub channels: who is subscribed to what, and who receives a publish.
///
/// Only membership is modelled; the message itself travels over the simulated network, so
/// that loss, delay and reordering of invalidations are the network's to inject.
#[derive(Clone, Debug, Default)]
pub struct PubSub {
    channels: BTreeMap<String, BTreeSet<u64>>,
}

impl PubSub {
    /// No channels, no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// `SUBSCRIBE`: true if `sub` was not already subscribed to `channel`.
    pub fn subscribe(&mut self, channel: &str, sub: u64) -> bool {
        self.channels.entry(channel.to_owned()).or_default().insert(sub)
    }

    /// `UNSUBSCRIBE channel`: true if `sub` was subscribed to `channel`.
    pub fn unsubscribe(&mut self, channel: &str, sub: u64) -> bool {
        let Some(subs) = self.channels.get_mut(channel) else {
            return false;
        };
        let was = subs.remove(&sub);
        if subs.is_empty() {
            self.channels.remove(channel);
        }
        was
    }

    /// `UNSUBSCRIBE` with no channel, or a subscriber's connection dropping (a restart): removes
    /// `sub` from every channel.
    pub fn unsubscribe_all(&mut self, sub: u64) {
        self.channels.retain(|_, subs| {
            subs.remove(&sub);
            !subs.is_empty()
        });
    }

    /// `PUBLISH`: the subscribers that receive a message on `channel`, in ascending id order.
    pub fn publish(&self, channel: &str) -> Vec<u64> {
        self.channels.get(channel).map(|subs| subs.iter().copied().collect()).unwrap_or_default()
    }

    /// `PUBSUB NUMSUB`: the number of subscribers of `channel`.
    pub fn subscribers(&self, channel: &str) -> usize {
        self.channels.get(channel).map_or(0, BTreeSet::len)
    }
}

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| (crc << 8) ^ CRC16_TABLE[usize::from(((crc >> 8) as u8) ^ b)])
}

/// The Redis Cluster hash slot of `key`: CRC16 of the key mod 16384, or of its hash tag (the
/// bytes between the first `{` and the first `}` after it) when that tag is present and
/// non-empty, so that `{user1000}.following` and `{user1000}.followers` share a slot.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16(hashed) % SLOTS
}

/// The shard owning `key` when `shards` shards split the slots into contiguous, near-equal
/// ranges: `slot * shards / 16384`.
///
/// # Panics
/// If `shards` is 0: a topology without shards is a tiersim bug.
pub fn shard_for(key: &str, shards: usize) -> usize {
    assert!(shards > 0, "shard_for needs at least one shard");
    usize::from(key_slot(key)) * shards / usize::from(SLOTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(ms: u64) -> SetOpts {
        SetOpts { expiry: Some(Expiry::Px(ms)), ..SetOpts::default() }
    }

    fn cond(cond: SetCond) -> SetOpts {
        SetOpts { cond: Some(cond), ..SetOpts::default() }
    }

    #[test]
    fn expiry_boundary_alive_at_t_gone_after() {
        let mut r = RedisStore::new();
        assert_eq!(r.set("k", 1, &px(100), 1_000), Ok(true));
        // Expire instant T = 1100.
        assert_eq!(r.pttl("k", 1_099), 1);
        assert_eq!(r.get("k", 1_100), Some(1), "alive at T");
        assert_eq!(r.pttl("k", 1_100), 0, "PTTL at T is 0");
        assert!(r.active_expire(1_100).is_empty(), "not due at T");
        assert_eq!(r.get("k", 1_101), None, "gone at T+1");
        assert_eq!(r.len(), 0, "lazy expiry removed it");
        assert_eq!(r.pttl("k", 1_101), -2);
    }

    #[test]
    fn lazy_expiry_applies_to_every_command() {
        let mut r = RedisStore::new();
        r.set("k", 1, &px(10), 0).unwrap();
        assert!(!r.exists("k", 11));
        r.set("k", 1, &px(10), 0).unwrap();
        assert!(!r.del("k", 11), "an expired key is not deleted by DEL");
        r.set("k", 1, &px(10), 0).unwrap();
        assert!(!r.persist("k", 11));
        assert_eq!(r.get("k", 0), None, "PERSIST did not revive it");
        r.set("k", 1, &px(10), 0).unwrap();
        assert_eq!(r.expire("k", 100, 11), Ok(false));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn active_expire_removes_due_keys_in_key_order() {
        let mut r = RedisStore::new();
        r.set("c", 1, &px(5), 0).unwrap();
        r.set("a", 1, &px(10), 0).unwrap();
        r.set("b", 1, &px(5), 0).unwrap();
        r.set("d", 1, &px(11), 0).unwrap();
        r.set("e", 1, &SetOpts::default(), 0).unwrap();
        assert!(r.active_expire(5).is_empty());
        assert_eq!(r.active_expire(11), vec!["a", "b", "c"]);
        assert_eq!(r.keys().collect::<Vec<_>>(), vec!["d", "e"]);
        assert_eq!(r.active_expire(12), vec!["d"]);
        assert_eq!(r.active_expire(u64::MAX / 2), Vec::<Key>::new());
    }

    #[test]
    fn set_nx_and_xx() {
        let mut r = RedisStore::new();
        assert_eq!(r.set("k", 1, &cond(SetCond::Xx), 0), Ok(false));
        assert_eq!(r.get("k", 0), None);
        assert_eq!(r.set("k", 2, &cond(SetCond::Nx), 0), Ok(true));
        assert_eq!(r.set("k", 3, &cond(SetCond::Nx), 0), Ok(false));
        assert_eq!(r.get("k", 0), Some(2));
        assert_eq!(r.set("k", 4, &cond(SetCond::Xx), 0), Ok(true));
        assert_eq!(r.get("k", 0), Some(4));
        // NX succeeds on a key that has expired, XX fails on it.
        r.set("e", 1, &px(5), 0).unwrap();
        assert_eq!(r.set("e", 2, &cond(SetCond::Xx), 6), Ok(false));
        r.set("e", 1, &px(5), 0).unwrap();
        assert_eq!(r.set("e", 3, &cond(SetCond::Nx), 6), Ok(true));
        assert_eq!(r.get("e", 6), Some(3));
        assert_eq!(r.pttl("e", 6), -1);
    }

    #[test]
    fn set_ex_px_and_ttl_clearing() {
        let mut r = RedisStore::new();
        let ex = SetOpts { expiry: Some(Expiry::Ex(3)), ..SetOpts::default() };
        r.set("k", 1, &ex, 500).unwrap();
        assert_eq!(r.pttl("k", 500), 3_000);
        r.set("k", 2, &px(250), 1_000).unwrap();
        assert_eq!(r.pttl("k", 1_000), 250, "a SET with PX replaces the TTL");
        // A plain SET clears the TTL.
        r.set("k", 3, &SetOpts::default(), 1_100).unwrap();
        assert_eq!(r.pttl("k", 1_100), -1);
        assert_eq!(r.get("k", 1_000_000), Some(3));
        assert!(r.active_expire(1_000_000).is_empty(), "expiry index forgot it");
    }

    #[test]
    fn set_keepttl_keeps_the_ttl() {
        let mut r = RedisStore::new();
        r.set("k", 1, &px(1_000), 0).unwrap();
        let keep = SetOpts { keep_ttl: true, ..SetOpts::default() };
        assert_eq!(r.set("k", 2, &keep, 400), Ok(true));
        assert_eq!(r.get("k", 400), Some(2));
        assert_eq!(r.pttl("k", 400), 600);
        assert_eq!(r.get("k", 1_001), None, "the kept TTL still expires it");
        // KEEPTTL on a key without a TTL, or a missing key, stores without a TTL.
        assert_eq!(r.set("n", 1, &keep, 0), Ok(true));
        assert_eq!(r.pttl("n", 0), -1);
        // KEEPTTL with EX is a syntax error, and changes nothing.
        let both = SetOpts { expiry: Some(Expiry::Ex(1)), keep_ttl: true, cond: None };
        assert_eq!(r.set("n", 9, &both, 0), Err(RedisError::Syntax));
        assert_eq!(r.get("n", 0), Some(1));
    }

    #[test]
    fn set_rejects_zero_and_overflowing_expiry() {
        let mut r = RedisStore::new();
        r.set("k", 1, &SetOpts::default(), 0).unwrap();
        let err = r.set("k", 2, &px(0), 10).expect_err("PX 0 must be rejected");
        assert_eq!(err.to_string(), "ERR invalid expire time in 'set' command");
        for expiry in [
            Expiry::Ex(0),
            Expiry::Ex(u64::MAX),
            Expiry::Ex(MAX_EXPIRE_MS / 1000 + 1),
            Expiry::Px(u64::MAX),
            // Valid alone, but now + ms overflows a signed 64-bit instant.
            Expiry::Px(MAX_EXPIRE_MS - 5),
        ] {
            let opts = SetOpts { expiry: Some(expiry), cond: Some(SetCond::Nx), keep_ttl: false };
            // Checked before NX: an error, not a nil reply, though the key exists.
            assert_eq!(r.set("k", 2, &opts, 10), Err(invalid_expire("set")), "{expiry:?}");
        }
        assert_eq!(r.get("k", 10), Some(1), "errors leave the store unchanged");
        assert_eq!(r.pttl("k", 10), -1);
        // The largest representable instant is accepted.
        assert_eq!(r.set("m", 1, &px(MAX_EXPIRE_MS - 10), 10), Ok(true));
        assert_eq!(r.pttl("m", 10), (MAX_EXPIRE_MS - 10) as i64);
    }

    #[test]
    fn expire_and_pexpire() {
        let mut r = RedisStore::new();
        assert_eq!(r.expire("missing", 10, 0), Ok(false));
        assert_eq!(r.expire("missing", 0, 0), Ok(false));
        r.set("k", 1, &SetOpts::default(), 1_000).unwrap();
        assert_eq!(r.expire("k", 10, 1_000), Ok(true));
        assert_eq!(r.pttl("k", 1_000), 10_000);
        assert_eq!(r.pexpire("k", 50, 2_000), Ok(true));
        assert_eq!(r.pttl("k", 2_000), 50);
        assert_eq!(r.get("k", 2_051), None);
        assert!(r.active_expire(3_000).is_empty(), "old TTL left in the index");
        // Overflow is an error, even for a missing key, as in Redis.
        let err = r.expire("missing", i64::MAX, 0).unwrap_err();
        assert_eq!(err.to_string(), "ERR invalid expire time in 'expire' command");
        assert_eq!(r.pexpire("missing", i64::MAX, 1), Err(invalid_expire("pexpire")));
    }

    #[test]
    fn expire_at_or_before_now_deletes() {
        for (secs, ms) in [(Some(0), None), (Some(-5), None), (None, Some(0)), (None, Some(-1))] {
            let mut r = RedisStore::new();
            r.set("k", 1, &px(10_000), 100).unwrap();
            let reply = match (secs, ms) {
                (Some(s), _) => r.expire("k", s, 100),
                (_, Some(m)) => r.pexpire("k", m, 100),
                _ => unreachable!(),
            };
            assert_eq!(reply, Ok(true), "{secs:?} {ms:?}");
            assert!(!r.exists("k", 100), "{secs:?} {ms:?}");
            assert_eq!(r.len(), 0);
            assert!(r.active_expire(u64::MAX / 2).is_empty());
        }
    }

    #[test]
    fn persist_removes_ttl() {
        let mut r = RedisStore::new();
        assert!(!r.persist("k", 0));
        r.set("k", 1, &SetOpts::default(), 0).unwrap();
        assert!(!r.persist("k", 0), "no TTL to remove");
        r.expire("k", 1, 0).unwrap();
        assert!(r.persist("k", 0));
        assert_eq!(r.pttl("k", 0), -1);
        assert_eq!(r.get("k", 5_000), Some(1));
        assert!(r.active_expire(5_000).is_empty());
    }

    #[test]
    fn pttl_missing_persistent_and_remaining() {
        let mut r = RedisStore::new();
        assert_eq!(r.pttl("k", 0), -2);
        r.set("k", 1, &SetOpts::default(), 0).unwrap();
        assert_eq!(r.pttl("k", 0), -1);
        r.set("k", 1, &px(300), 0).unwrap();
        assert_eq!(r.pttl("k", 120), 180);
    }

    #[test]
    fn del_exists_flushall_and_snapshots() {
        let mut r = RedisStore::new();
        assert!(!r.del("k", 0));
        r.set("k", 1, &px(10), 0).unwrap();
        r.set("j", 2, &SetOpts::default(), 0).unwrap();
        let snapshot = r.clone();
        assert!(r.exists("k", 0));
        assert!(r.del("k", 0));
        assert!(!r.exists("k", 0));
        assert!(!r.del("k", 0));
        assert!(r.active_expire(100).is_empty(), "DEL left the TTL indexed");
        assert_eq!(snapshot.keys().collect::<Vec<_>>(), vec!["j", "k"]);
        r.flushall();
        assert!(r.is_empty());
        assert_eq!(r.get("j", 0), None);
        assert_eq!(snapshot.len(), 2);
    }

    #[test]
    fn set_get_answers_the_old_value_whether_or_not_it_stores() {
        let mut r = RedisStore::new();
        assert_eq!(r.set_get("k", 1, &SetOpts::default(), 0), Ok((None, true)), "nil on a missing key");
        assert_eq!(r.set_get("k", 2, &px(100), 0), Ok((Some(1), true)));
        assert_eq!(r.pttl("k", 0), 100, "the new SET's PX applies");
        // NX GET on an existing key: its value, and nothing changes (Redis 7.0).
        assert_eq!(r.set_get("k", 3, &cond(SetCond::Nx), 10), Ok((Some(2), false)));
        assert_eq!(r.get("k", 10), Some(2));
        assert_eq!(r.pttl("k", 10), 90);
        // XX GET on a missing key: nil, not stored.
        assert_eq!(r.set_get("m", 3, &cond(SetCond::Xx), 10), Ok((None, false)));
        assert_eq!(r.get("m", 10), None);
        // An expired key reads as missing.
        assert_eq!(r.set_get("k", 4, &SetOpts::default(), 101), Ok((None, true)));
        assert_eq!(r.pttl("k", 101), -1, "plain SET GET clears the TTL");
        // Errors come before the read, and change nothing.
        assert_eq!(r.set_get("k", 5, &px(0), 200), Err(invalid_expire("set")));
        let both = SetOpts { expiry: Some(Expiry::Ex(1)), keep_ttl: true, cond: None };
        assert_eq!(r.set_get("k", 5, &both, 200), Err(RedisError::Syntax));
        assert_eq!(r.get("k", 200), Some(4));
        r.check_indexes().unwrap();
    }

    #[test]
    fn getdel_reads_and_removes() {
        let mut r = RedisStore::new();
        assert_eq!(r.getdel("k", 0), None);
        r.set("k", 1, &px(10), 0).unwrap();
        assert_eq!(r.getdel("k", 10), Some(1), "alive at its expire instant");
        assert_eq!(r.get("k", 10), None);
        assert!(r.active_expire(100).is_empty(), "GETDEL left the TTL indexed");
        r.set("k", 1, &px(10), 0).unwrap();
        assert_eq!(r.getdel("k", 11), None, "expired: nil");
        assert!(r.is_empty());
    }

    #[test]
    fn getex_options() {
        let mut r = RedisStore::new();
        assert_eq!(r.getex("k", GetExOpt::Ex(1), 0), Ok(None), "missing key: nil");
        assert!(r.is_empty(), "and no key is created");
        r.set("k", 1, &SetOpts::default(), 0).unwrap();
        assert_eq!(r.getex("k", GetExOpt::Keep, 0), Ok(Some(1)));
        assert_eq!(r.pttl("k", 0), -1, "no option leaves the TTL");
        assert_eq!(r.getex("k", GetExOpt::Ex(2), 100), Ok(Some(1)));
        assert_eq!(r.pttl("k", 100), 2_000);
        assert_eq!(r.getex("k", GetExOpt::Px(50), 200), Ok(Some(1)));
        assert_eq!(r.pttl("k", 200), 50);
        assert_eq!(r.getex("k", GetExOpt::PxAt(1_000), 200), Ok(Some(1)));
        assert_eq!(r.pttl("k", 200), 800);
        assert_eq!(r.getex("k", GetExOpt::ExAt(3), 200), Ok(Some(1)));
        assert_eq!(r.pttl("k", 200), 2_800);
        assert_eq!(r.getex("k", GetExOpt::Persist, 200), Ok(Some(1)));
        assert_eq!(r.pttl("k", 200), -1);
        // An absolute instant at now deletes the key and still answers its value.
        assert_eq!(r.getex("k", GetExOpt::PxAt(200), 200), Ok(Some(1)));
        assert_eq!(r.get("k", 200), None);
        r.set("k", 1, &SetOpts::default(), 0).unwrap();
        assert_eq!(r.getex("k", GetExOpt::PxAt(201), 200), Ok(Some(1)), "one ms ahead keeps it");
        assert_eq!(r.pttl("k", 200), 1);
        // Zero and overflow are errors on a live key and change nothing; a missing key answers
        // nil first (redis-server 7.0 looks the key up before it parses the time).
        for opt in [
            GetExOpt::Ex(0),
            GetExOpt::Px(0),
            GetExOpt::ExAt(0),
            GetExOpt::PxAt(0),
            GetExOpt::Ex(MAX_EXPIRE_MS / 1000 + 1),
            GetExOpt::Px(MAX_EXPIRE_MS),
            GetExOpt::PxAt(MAX_EXPIRE_MS + 1),
        ] {
            let err = r.getex("k", opt, 200).unwrap_err();
            assert_eq!(err.to_string(), "ERR invalid expire time in 'getex' command", "{opt:?}");
            assert_eq!(r.getex("missing", opt, 200), Ok(None), "{opt:?}");
        }
        assert_eq!(r.pttl("k", 200), 1);
        r.check_indexes().unwrap();
    }

    #[test]
    fn expire_conditions_nx_xx_gt_lt() {
        let mut r = RedisStore::new();
        r.set("p", 1, &SetOpts::default(), 0).unwrap();
        r.set("t", 1, &px(1_000), 0).unwrap();
        // NX: only without a TTL.
        assert_eq!(r.pexpire_cond("t", 500, Some(ExpireCond::Nx), 0), Ok(false));
        assert_eq!(r.pttl("t", 0), 1_000);
        // XX: only with a TTL.
        assert_eq!(r.pexpire_cond("p", 500, Some(ExpireCond::Xx), 0), Ok(false));
        assert_eq!(r.pttl("p", 0), -1);
        assert_eq!(r.pexpire_cond("t", 500, Some(ExpireCond::Xx), 0), Ok(true));
        assert_eq!(r.pttl("t", 0), 500);
        // GT: never on a persistent key (infinite TTL), only to a later instant.
        assert_eq!(r.expire_cond("p", 100, Some(ExpireCond::Gt), 0), Ok(false));
        assert_eq!(r.pexpire_cond("t", 500, Some(ExpireCond::Gt), 0), Ok(false), "equal is not greater");
        assert_eq!(r.pexpire_cond("t", 400, Some(ExpireCond::Gt), 0), Ok(false));
        assert_eq!(r.pexpire_cond("t", 501, Some(ExpireCond::Gt), 0), Ok(true));
        assert_eq!(r.pttl("t", 0), 501);
        // LT: always on a persistent key, only to an earlier instant.
        assert_eq!(r.pexpire_cond("t", 501, Some(ExpireCond::Lt), 0), Ok(false), "equal is not less");
        assert_eq!(r.pexpire_cond("t", 300, Some(ExpireCond::Lt), 0), Ok(true));
        assert_eq!(r.pttl("t", 0), 300);
        assert_eq!(r.expire_cond("p", 100, Some(ExpireCond::Lt), 0), Ok(true));
        assert_eq!(r.pttl("p", 0), 100_000);
        // LT with an instant in the past deletes and answers true; NX on a missing key is false.
        assert_eq!(r.pexpire_cond("t", -1, Some(ExpireCond::Lt), 0), Ok(true));
        assert!(!r.exists("t", 0));
        assert_eq!(r.pexpire_cond("t", 10, Some(ExpireCond::Nx), 0), Ok(false));
        // Overflow is an error before the key or the condition is looked at.
        assert_eq!(
            r.expire_cond("p", i64::MAX / 1000 + 1, Some(ExpireCond::Nx), 0),
            Err(invalid_expire("expire"))
        );
        assert_eq!(r.pexpire_cond("p", i64::MAX, None, 1), Err(invalid_expire("pexpire")));
        r.check_indexes().unwrap();
    }

    #[test]
    fn expireat_and_pexpireat_are_absolute() {
        let mut r = RedisStore::new();
        assert_eq!(r.expireat("k", 10, None, 0), Ok(false), "missing key");
        r.set("k", 1, &SetOpts::default(), 5_000).unwrap();
        assert_eq!(r.expireat("k", 10, None, 5_000), Ok(true));
        assert_eq!(r.pttl("k", 5_000), 5_000);
        assert_eq!(r.pexpireat("k", 7_000, Some(ExpireCond::Lt), 5_000), Ok(true));
        assert_eq!(r.pttl("k", 5_000), 2_000);
        assert_eq!(r.pexpireat("k", 8_000, Some(ExpireCond::Lt), 5_000), Ok(false));
        // The expire instant itself is alive; PEXPIREAT at now deletes (when <= now).
        assert_eq!(r.pexpireat("k", 5_001, None, 5_000), Ok(true));
        assert_eq!(r.get("k", 5_001), Some(1));
        assert_eq!(r.pexpireat("k", 5_001, None, 5_001), Ok(true));
        assert!(!r.exists("k", 5_001));
        r.set("k", 1, &SetOpts::default(), 5_000).unwrap();
        assert_eq!(r.expireat("k", 0, None, 5_000), Ok(true), "the epoch is in the past");
        assert!(r.is_empty());
        assert_eq!(r.expireat("k", i64::MAX, None, 0), Err(invalid_expire("expireat")));
        assert_eq!(r.pexpireat("k", i64::MAX, None, 0), Ok(false), "i64::MAX ms is representable");
        r.check_indexes().unwrap();
    }

    #[test]
    fn mget_mset_unlink() {
        let mut r = RedisStore::new();
        r.set("a", 1, &px(10), 0).unwrap();
        r.mset(vec![("b".into(), 2), ("c".into(), 3), ("b".into(), 4)], 0);
        assert_eq!(r.mget(&["a", "b", "c", "d"], 0), vec![Some(1), Some(4), Some(3), None]);
        assert_eq!(r.mget(&["a"], 11), vec![None], "expired");
        assert_eq!(r.len(), 2, "MGET expired it lazily");
        r.set("a", 1, &px(10), 0).unwrap();
        r.mset(vec![("a".into(), 5)], 1);
        assert_eq!(r.pttl("a", 1), -1, "MSET clears TTLs");
        assert_eq!(r.unlink_keys(&["a", "a", "zz", "b"], 1), 2, "a duplicate counts once");
        assert_eq!(r.keys().collect::<Vec<_>>(), vec!["c"]);
        assert_eq!(r.unlink_keys(&[], 1), 0);
        r.check_indexes().unwrap();
    }

    fn evicting(policy: EvictionPolicy, max_keys: usize, samples: usize, seed: u64) -> RedisStore<i64> {
        RedisStore::with_maxmemory(
            MaxMemory { max_keys, policy, samples },
            tiersim_sim::rng::stream(seed, "evict"),
        )
    }

    /// Fill `keys` (ms TTL where given), making room first as the node does.
    fn fill_all(r: &mut RedisStore<i64>, keys: &[(&str, Option<u64>)]) -> Vec<Key> {
        let mut evicted = Vec::new();
        for (k, ttl) in keys {
            evicted.extend(r.make_room().unwrap());
            let opts = SetOpts { expiry: ttl.map(Expiry::Px), ..SetOpts::default() };
            r.set(k, 1, &opts, 0).unwrap();
        }
        evicted
    }

    #[test]
    fn maxmemory_is_off_by_default() {
        let mut r = RedisStore::new();
        for i in 0..100 {
            assert_eq!(r.make_room(), Ok(vec![]));
            r.set(&format!("k{i}"), i, &SetOpts::default(), 0).unwrap();
        }
        assert_eq!(r.len(), 100);
    }

    #[test]
    fn noeviction_refuses_writes_when_full() {
        let mut r = evicting(EvictionPolicy::Noeviction, 2, 5, 0);
        assert!(fill_all(&mut r, &[("a", None), ("b", None)]).is_empty());
        let err = r.make_room().unwrap_err();
        assert_eq!(err.to_string(), "OOM command not allowed when used memory > 'maxmemory'.");
        assert_eq!(r.len(), 2);
        r.del("a", 0);
        assert_eq!(r.make_room(), Ok(vec![]), "room again below the limit");
    }

    #[test]
    fn allkeys_lru_evicts_the_least_recently_used() {
        let mut r = evicting(EvictionPolicy::AllkeysLru, 3, 64, 1);
        fill_all(&mut r, &[("a", None), ("b", None), ("c", None)]);
        r.get("a", 0);
        r.get("c", 0);
        // With 64 samples over 3 keys the sample holds "b", the least recently used.
        assert_eq!(r.make_room(), Ok(vec!["b".to_string()]));
        assert_eq!(r.keys().collect::<Vec<_>>(), vec!["a", "c"]);
    }

    #[test]
    fn allkeys_lfu_keeps_the_frequently_read_key() {
        let mut r = evicting(EvictionPolicy::AllkeysLfu, 2, 64, 2);
        fill_all(&mut r, &[("hot", None), ("cold", None)]);
        for _ in 0..50 {
            r.get("hot", 0);
        }
        r.get("cold", 0);
        assert_eq!(r.make_room(), Ok(vec!["cold".to_string()]), "LFU, not LRU: cold was read last");
    }

    #[test]
    fn volatile_policies_only_evict_keys_with_a_ttl() {
        let mut r = evicting(EvictionPolicy::VolatileTtl, 3, 64, 3);
        fill_all(&mut r, &[("p", None), ("late", Some(9_000)), ("soon", Some(1_000))]);
        assert_eq!(r.make_room(), Ok(vec!["soon".to_string()]), "nearest expiry first");
        let mut r = evicting(EvictionPolicy::VolatileLru, 2, 64, 3);
        fill_all(&mut r, &[("p", None), ("t", Some(9_000))]);
        r.get("t", 0);
        assert_eq!(r.make_room(), Ok(vec!["t".to_string()]), "the persistent key is never a victim");
        fill_all(&mut r, &[("q", None)]);
        assert_eq!(r.make_room(), Err(RedisError::Oom), "no volatile key left: OOM");
        r.check_indexes().unwrap();
    }

    #[test]
    fn sampling_comes_from_the_seed() {
        let victims = |seed| {
            let mut r = evicting(EvictionPolicy::AllkeysRandom, 8, 5, seed);
            let keys: Vec<String> = (0..40).map(|i| format!("k{i:02}")).collect();
            let pairs: Vec<(&str, Option<u64>)> = keys.iter().map(|k| (k.as_str(), None)).collect();
            fill_all(&mut r, &pairs)
        };
        assert_eq!(victims(7), victims(7), "same seed, same victims");
        assert_eq!(victims(7).len(), 32);
        assert_ne!(victims(7), victims(8), "another seed samples other keys");
    }

    #[test]
    fn pubsub_subscribe_publish_unsubscribe() {
        let mut ps = PubSub::new();
        assert!(ps.publish("inv").is_empty());
        assert!(ps.subscribe("inv", 7));
        assert!(ps.subscribe("inv", 2));
        assert!(ps.subscribe("inv", 5));
        assert!(!ps.subscribe("inv", 5), "already subscribed");
        assert!(ps.subscribe("other", 2));
        assert_eq!(ps.publish("inv"), vec![2, 5, 7]);
        assert_eq!(ps.subscribers("inv"), 3);
        assert!(ps.unsubscribe("inv", 5));
        assert!(!ps.unsubscribe("inv", 5));
        assert!(!ps.unsubscribe("nope", 5));
        assert_eq!(ps.publish("inv"), vec![2, 7]);
        ps.unsubscribe_all(2);
        assert_eq!(ps.publish("inv"), vec![7]);
        assert_eq!(ps.subscribers("other"), 0);
        assert!(ps.unsubscribe("inv", 7));
        assert_eq!(ps.subscribers("inv"), 0);
        assert!(ps.channels.is_empty(), "empty channels are dropped");
    }

    #[test]
    fn key_slot_vectors() {
        // The CRC16 check value: CRC-16/XMODEM("123456789") == 0x31C3.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot("123456789"), 0x31C3, "0x31C3 < 16384, so the mod is identity");
        assert_eq!(key_slot("123456789"), 12739);
        // CLUSTER KEYSLOT answers from Redis's documentation.
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("hello"), 866);
        assert_eq!(key_slot(""), 0);
        // Hash tags.
        assert_eq!(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
        assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
        assert_eq!(key_slot("foo{bar}{zap}"), key_slot("bar"));
        assert_eq!(key_slot("foo{{bar}}zap"), key_slot("{bar"));
        // An empty tag hashes the whole key.
        assert_eq!(key_slot("foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        assert_ne!(key_slot("foo{}{bar}"), key_slot("bar"));
        // An unclosed brace hashes the whole key.
        assert_eq!(key_slot("foo{bar"), crc16(b"foo{bar") % 16384);
    }

    #[test]
    fn shard_for_splits_slots_into_contiguous_ranges() {
        assert_eq!(shard_for("123456789", 1), 0);
        // slot 12739 * 3 / 16384 = 2; * 4 / 16384 = 3; * 2 / 16384 = 1.
        assert_eq!(shard_for("123456789", 3), 2);
        assert_eq!(shard_for("123456789", 4), 3);
        assert_eq!(shard_for("hello", 2), 0);
        assert_eq!(shard_for("{user1000}.following", 5), shard_for("{user1000}.followers", 5));
        // Every slot maps below `shards`, and ranges are contiguous and near-equal.
        let shards = 3;
        let owners: Vec<usize> =
            (0..usize::from(SLOTS)).map(|slot| slot * shards / usize::from(SLOTS)).collect();
        assert!(owners.windows(2).all(|w| w[0] <= w[1]));
        for s in 0..shards {
            let n = owners.iter().filter(|&&o| o == s).count();
            assert!((5461..=5462).contains(&n), "shard {s} owns {n} slots");
        }
    }

    #[test]
    #[should_panic(expected = "at least one shard")]
    fn zero_shards_is_a_bug() {
        shard_for("k", 0);
    }

    /// RedisStore against a plain BTreeMap that applies the documented semantics directly,
    /// with a clock that only moves forward as a Redis node's does.
    mod model_check {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Get(u8),
            Set(u8, i64, Option<Expiry>, Option<SetCond>, bool),
            Del(u8),
            Exists(u8),
            Expire(u8, i64),
            Pexpire(u8, i64),
            Persist(u8),
            Pttl(u8),
            ActiveExpire,
        }

        fn op() -> impl Strategy<Value = Op> {
            let k = 0u8..5;
            let expiry = proptest::option::of(prop_oneof![
                (0u64..3).prop_map(Expiry::Ex),
                (0u64..8).prop_map(Expiry::Px),
                (0u64..3000).prop_map(Expiry::Px),
            ]);
            let cond = proptest::option::of(prop_oneof![Just(SetCond::Nx), Just(SetCond::Xx)]);
            prop_oneof![
                3 => k.clone().prop_map(Op::Get),
                4 => (k.clone(), 0i64..100, expiry, cond, any::<bool>())
                    .prop_map(|(k, v, e, c, keep)| Op::Set(k, v, e, c, keep)),
                1 => k.clone().prop_map(Op::Del),
                1 => k.clone().prop_map(Op::Exists),
                1 => (k.clone(), -1i64..3).prop_map(|(k, s)| Op::Expire(k, s)),
                1 => (k.clone(), -10i64..10).prop_map(|(k, m)| Op::Pexpire(k, m)),
                1 => (k.clone(), -10i64..3000).prop_map(|(k, m)| Op::Pexpire(k, m)),
                1 => k.clone().prop_map(Op::Persist),
                2 => k.prop_map(Op::Pttl),
                2 => Just(Op::ActiveExpire),
            ]
        }

        type Naive = BTreeMap<Key, (i64, Option<u64>)>;

        /// Lazy expiry in the naive model: drop `key` if now is past its instant.
        fn reap(m: &mut Naive, key: &str, now: u64) {
            if m.get(key).is_some_and(|(_, at)| at.is_some_and(|at| now > at)) {
                m.remove(key);
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn redis_store_matches_naive_map(
                // Mostly small clock steps, so that reads land exactly on expire instants.
                ops in proptest::collection::vec((op(), prop_oneof![3 => 0u64..4, 1 => 0u64..700]), 0..80)
            ) {
                let mut real: RedisStore<i64> = RedisStore::new();
                let mut naive = Naive::new();
                let mut now = 1_000u64;
                for (op, dt) in ops {
                    now += dt;
                    match op.clone() {
                        Op::Get(k) => {
                            let key = format!("k{k}");
                            reap(&mut naive, &key, now);
                            prop_assert_eq!(real.get(&key, now), naive.get(&key).map(|e| e.0));
                        }
                        Op::Set(k, v, expiry, cond, keep_ttl) => {
                            let key = format!("k{k}");
                            let opts = SetOpts { expiry, cond, keep_ttl };
                            // Redis validates options before it looks the key up (and
                            // lazily expires it), so an error leaves even an expired key.
                            let invalid = (keep_ttl && expiry.is_some())
                                || matches!(expiry, Some(Expiry::Ex(0) | Expiry::Px(0)));
                            if !invalid {
                                reap(&mut naive, &key, now);
                            }
                            let want = if keep_ttl && expiry.is_some() {
                                Err(RedisError::Syntax)
                            } else if matches!(expiry, Some(Expiry::Ex(0) | Expiry::Px(0))) {
                                Err(invalid_expire("set"))
                            } else if (cond == Some(SetCond::Nx) && naive.contains_key(&key))
                                || (cond == Some(SetCond::Xx) && !naive.contains_key(&key))
                            {
                                Ok(false)
                            } else {
                                let at = match expiry {
                                    Some(Expiry::Ex(s)) => Some(now + s * 1000),
                                    Some(Expiry::Px(m)) => Some(now + m),
                                    None if keep_ttl => naive.get(&key).and_then(|e| e.1),
                                    None => None,
                                };
                                naive.insert(key.clone(), (v, at));
                                Ok(true)
                            };
                            prop_assert_eq!(real.set(&key, v, &opts, now), want);
                        }
                        Op::Del(k) => {
                            let key = format!("k{k}");
                            reap(&mut naive, &key, now);
                            prop_assert_eq!(real.del(&key, now), naive.remove(&key).is_some());
                        }
                        Op::Exists(k) => {
                            let key = format!("k{k}");
                            reap(&mut naive, &key, now);
                            prop_assert_eq!(real.exists(&key, now), naive.contains_key(&key));
                        }
                        Op::Expire(k, n) | Op::Pexpire(k, n) => {
                            let key = format!("k{k}");
                            let ms = if matches!(op, Op::Expire(..)) { n * 1000 } else { n };
                            reap(&mut naive, &key, now);
                            let want = match naive.get_mut(&key) {
                                None => false,
                                Some(_) if ms <= 0 => {
                                    naive.remove(&key);
                                    true
                                }
                                Some(e) => {
                                    e.1 = Some(now + ms as u64);
                                    true
                                }
                            };
                            let got = if matches!(op, Op::Expire(..)) {
                                real.expire(&key, n, now)
                            } else {
                                real.pexpire(&key, n, now)
                            };
                            prop_assert_eq!(got, Ok(want));
                        }
                        Op::Persist(k) => {
                            let key = format!("k{k}");
                            reap(&mut naive, &key, now);
                            let want = naive.get_mut(&key).and_then(|e| e.1.take()).is_some();
                            prop_assert_eq!(real.persist(&key, now), want);
                        }
                        Op::Pttl(k) => {
                            let key = format!("k{k}");
                            reap(&mut naive, &key, now);
                            let want = match naive.get(&key) {
                                None => -2,
                                Some((_, None)) => -1,
                                Some((_, Some(at))) => (at - now) as i64,
                            };
                            prop_assert_eq!(real.pttl(&key, now), want);
                        }
                        Op::ActiveExpire => {
                            let due: Vec<Key> = naive
                                .iter()
                                .filter(|(_, (_, at))| at.is_some_and(|at| now > at))
                                .map(|(k, _)| k.clone())
                                .collect();
                            for k in &due {
                                naive.remove(k);
                            }
                            prop_assert_eq!(real.active_expire(now), due);
                        }
                    }
                    prop_assert_eq!(
                        real.keys().cloned().collect::<Vec<_>>(),
                        naive.keys().cloned().collect::<Vec<_>>(),
                        "after {:?}", op
                    );
                    if let Err(e) = real.check_indexes() {
                        prop_assert!(false, "indexes inconsistent after {:?}: {}", op, e);
                    }
                }
            }
        }
    }
}
