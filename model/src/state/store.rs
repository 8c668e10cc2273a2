//! The entry store behind every L1, L2 and L3 tier.
//!
//! A `TierStore` holds what one tier has cached: for each key an [`Entry`] with the value (or a
//! cached absence), the database version it came from, when it was filled and when it expires,
//! and its tags. It bounds itself to a capacity by evicting the least recently used entry, keeps
//! a tag index so that a tag invalidation can enumerate its keys, keeps an expiry index so that
//! active expiry does not scan the whole store, and keeps a per-key version floor that outlives
//! the entries themselves (the `versioned` protocol refuses fills below it, and the
//! `version-lost-on-evict` zoo entry is exactly a store that forgets it).
//!
//! The store is a pure data structure. It never reads a clock: every call that depends on time
//! takes the node's local time (`now_ns`), because a tier's TTL runs on its own, possibly skewed,
//! clock. It makes no policy decisions either: it does not refuse fills below the floor or
//! compute TTLs; protocols do that with [`TierStore::floor`] and [`Entry::expires_at_ns`].
//!
//! Expiry boundary: an entry whose `expires_at_ns` is `T` is served at `now_ns == T - 1` and is
//! gone at `now_ns == T` and after (`now_ns >= T` means expired). This matches the `ttl-bound`
//! invariant, under which no tier may serve an entry at or after `filled_at + ttl`.
//!
//! Every map is an `imbl` persistent map, so cloning a store is O(1) and a checker can snapshot
//! every tier after every step. Iteration is always in key (or tick) order: nothing here depends
//! on hashing, so two runs of the same seed see the same order.

use std::collections::BTreeSet;

use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};

/// A cache key.
pub type Key = String;

/// One cached entry and its metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The cached value; `None` is a cached absence (a negative cache entry or a tombstone).
    pub value: Option<i64>,
    /// The database version the value came from; 0 means the key was never written.
    pub version: u64,
    /// The tier's local clock when the entry was filled.
    pub filled_at_ns: u64,
    /// Global sim time at which the value was read from the database of record: the age of
    /// the data, carried unchanged from tier to tier. Checker metadata; protocols need not set it
    /// by hand (`App::entry` does).
    #[serde(default)]
    pub origin_ns: u64,
    /// The tier's local clock at which the entry expires; it is expired at and after this
    /// instant (`now_ns >= expires_at_ns`). `None` never expires.
    pub expires_at_ns: Option<u64>,
    /// Tags for tag invalidation.
    pub tags: BTreeSet<String>,
    /// Redis only: the run id a fenced fill saw, stored with the value as a Lua SET-if-newer
    /// stores it. An entry whose stamp is not the shard's current run id came from another
    /// incarnation — a promoted replica's copy — and a stamp-checking GET treats it as a miss.
    /// `None` elsewhere, and in Redis for unfenced writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
}

impl Entry {
    /// Whether the entry is expired at local time `now_ns` (at and after `expires_at_ns`).
    pub fn is_expired(&self, now_ns: u64) -> bool {
        self.expires_at_ns.is_some_and(|at| now_ns >= at)
    }
}

/// An entry together with its LRU tick (larger = more recently used).
#[derive(Clone, Debug)]
struct Slot {
    entry: Entry,
    tick: u64,
}

/// One tier's cached entries with LRU capacity, tag and expiry indexes, and version floors.
///
/// All operations are O(log n) in the number of entries, plus the size of their answer.
#[derive(Clone, Debug)]
pub struct TierStore {
    capacity: usize,
    /// The entries, by key.
    entries: OrdMap<Key, Slot>,
    /// LRU order: tick -> key. The smallest tick is the least recently used entry.
    recency: OrdMap<u64, Key>,
    /// Tag -> keys currently carrying it. Empty sets are removed.
    tags: OrdMap<String, OrdSet<Key>>,
    /// (expires_at_ns, key) for every entry that has an expiry.
    expiries: OrdSet<(u64, Key)>,
    /// Per-key version floors. They survive removal, eviction and expiry; only `clear` drops them.
    floors: OrdMap<Key, u64>,
    /// The next LRU tick; strictly increasing, so ticks are unique.
    next_tick: u64,
}

impl TierStore {
    /// An empty store holding at most `capacity` entries.
    ///
    /// # Panics
    /// If `capacity` is 0: a tier that can hold nothing is a bug in the topology that built it.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "TierStore capacity must be at least 1");
        TierStore {
            capacity,
            entries: OrdMap::new(),
            recency: OrdMap::new(),
            tags: OrdMap::new(),
            expiries: OrdSet::new(),
            floors: OrdMap::new(),
            next_tick: 0,
        }
    }

    /// The capacity in entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The entry for `key` at local time `now_ns`, marking it most recently used.
    ///
    /// An expired entry is removed here (lazy expiry) and `None` returned, as a real tier drops
    /// an expired entry when it trips over it.
    pub fn get(&mut self, key: &str, now_ns: u64) -> Option<Entry> {
        let expired = self.entries.get(key)?.entry.is_expired(now_ns);
        if expired {
            self.unlink(key);
            return None;
        }
        let tick = self.take_tick();
        let slot = self.entries.get_mut(key)?;
        let old_tick = std::mem::replace(&mut slot.tick, tick);
        let entry = slot.entry.clone();
        self.recency.remove(&old_tick);
        self.recency.insert(tick, key.to_owned());
        self.debug_check();
        Some(entry)
    }

    /// The entry stored for `key` whether or not it has expired, touching nothing (what a tier
    /// needs to report which version lazy expiry removed).
    pub fn peek_any(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).map(|slot| &slot.entry)
    }

    /// The entry for `key` at local time `now_ns`, without touching LRU order or removing
    /// anything: for checkers and tests that must observe a tier without disturbing it.
    pub fn peek(&self, key: &str, now_ns: u64) -> Option<&Entry> {
        self.entries.get(key).map(|slot| &slot.entry).filter(|entry| !entry.is_expired(now_ns))
    }

    /// Inserts or replaces the entry for `key` as the most recently used entry.
    ///
    /// Returns the entries evicted to stay within capacity, least recently used first. The entry
    /// just inserted is never evicted, and a replaced entry is not reported (it was replaced, not
    /// evicted). Eviction is strictly LRU: the store has no clock here, so it does not prefer
    /// expired entries. The store does not enforce the version floor; see the module docs.
    pub fn insert(&mut self, key: &str, entry: Entry) -> Vec<(Key, Entry)> {
        self.unlink(key);
        let key: Key = key.to_owned();
        let tick = self.take_tick();
        for tag in &entry.tags {
            self.tags.entry(tag.clone()).or_default().insert(key.clone());
        }
        if let Some(at) = entry.expires_at_ns {
            self.expiries.insert((at, key.clone()));
        }
        self.recency.insert(tick, key.clone());
        self.entries.insert(key.clone(), Slot { entry, tick });

        let mut evicted = Vec::new();
        while self.entries.len() > self.capacity {
            let (_, victim) = self
                .recency
                .get_min()
                .cloned()
                .expect("recency index is empty while the store is over capacity");
            assert_ne!(victim, key, "LRU eviction chose the entry just inserted");
            let entry = self.unlink(&victim).expect("recency index names a missing key");
            evicted.push((victim, entry));
        }
        self.debug_check();
        evicted
    }

    /// Removes the entry for `key`, expired or not. The key's floor is kept.
    pub fn remove(&mut self, key: &str) -> Option<Entry> {
        let removed = self.unlink(key);
        self.debug_check();
        removed
    }

    /// The keys currently carrying `tag`, sorted. Includes expired entries not yet removed.
    pub fn keys_with_tag(&self, tag: &str) -> Vec<Key> {
        self.tags.get(tag).map(|keys| keys.iter().cloned().collect()).unwrap_or_default()
    }

    /// Removes every entry carrying `tag` and returns them in key order.
    pub fn remove_tag(&mut self, tag: &str) -> Vec<(Key, Entry)> {
        let keys = self.keys_with_tag(tag);
        let removed = keys
            .into_iter()
            .map(|key| {
                let entry = self.unlink(&key).expect("tag index names a missing key");
                (key, entry)
            })
            .collect();
        self.debug_check();
        removed
    }

    /// Active expiry: removes every entry with `expires_at_ns <= now_ns` and returns them in key
    /// order. Walks the expiry index from its earliest instant, so it costs O(k log n) for k
    /// expired entries rather than a scan of the store.
    pub fn expire_due(&mut self, now_ns: u64) -> Vec<(Key, Entry)> {
        let mut due: Vec<Key> =
            self.expiries.iter().take_while(|(at, _)| *at <= now_ns).map(|(_, key)| key.clone()).collect();
        due.sort();
        let expired = due
            .into_iter()
            .map(|key| {
                let entry = self.unlink(&key).expect("expiry index names a missing key");
                debug_assert!(entry.is_expired(now_ns));
                (key, entry)
            })
            .collect();
        self.debug_check();
        expired
    }

    /// The version floor of `key`: 0 if none was ever raised (or since `clear`).
    pub fn floor(&self, key: &str) -> u64 {
        self.floors.get(key).copied().unwrap_or(0)
    }

    /// Raises the floor of `key` to `version` if that is higher; a floor never decreases.
    pub fn raise_floor(&mut self, key: &str, version: u64) {
        // Copy the key only for its first floor: invalidations mostly raise an existing one.
        match self.floors.get_mut(key) {
            Some(floor) => *floor = (*floor).max(version),
            None => {
                self.floors.insert(key.to_owned(), version);
            }
        }
    }

    /// A restart: drops every entry and every floor. Floors live in the tier's memory, so a
    /// restarted tier has lost them; protocols that need more must refuse fills that began
    /// before the restart.
    pub fn clear(&mut self) {
        *self = TierStore::new(self.capacity);
    }

    /// Every entry in key order, including expired entries that have not been removed yet.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Entry)> {
        self.entries.iter().map(|(key, slot)| (key, &slot.entry))
    }

    /// The number of entries, including expired entries that have not been removed yet.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the store holds no entries (floors are not entries).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A fresh LRU tick.
    fn take_tick(&mut self) -> u64 {
        let tick = self.next_tick;
        self.next_tick += 1;
        tick
    }

    /// Removes `key` from the entries and from every index; the single place entries leave.
    fn unlink(&mut self, key: &str) -> Option<Entry> {
        let (key, slot) = self.entries.remove_with_key(key)?;
        let recency_key = self.recency.remove(&slot.tick);
        debug_assert_eq!(recency_key.as_ref(), Some(&key), "recency index out of step");
        for tag in &slot.entry.tags {
            let now_empty = match self.tags.get_mut(tag) {
                Some(keys) => {
                    let was_there = keys.remove(&key);
                    debug_assert!(was_there.is_some(), "tag index out of step");
                    keys.is_empty()
                }
                None => {
                    debug_assert!(false, "tag index lacks tag {tag}");
                    false
                }
            };
            if now_empty {
                self.tags.remove(tag);
            }
        }
        if let Some(at) = slot.entry.expires_at_ns {
            let was_there = self.expiries.remove(&(at, key.clone()));
            debug_assert!(was_there.is_some(), "expiry index out of step");
        }
        Some(slot.entry)
    }

    /// Cheap consistency checks after every change, in debug builds.
    fn debug_check(&self) {
        debug_assert!(self.entries.len() <= self.capacity, "store over capacity");
        debug_assert_eq!(
            self.recency.len(),
            self.entries.len(),
            "recency index size differs from entry count"
        );
        debug_assert!(self.expiries.len() <= self.entries.len(), "expiry index larger than the store");
    }

    /// The full O(n) consistency check: every index agrees exactly with the entries.
    #[cfg(test)]
    fn check_indexes(&self) -> Result<(), String> {
        let mut recency = OrdMap::new();
        let mut tags: OrdMap<String, OrdSet<Key>> = OrdMap::new();
        let mut expiries = OrdSet::new();
        for (key, slot) in &self.entries {
            recency.insert(slot.tick, key.clone());
            for tag in &slot.entry.tags {
                tags.entry(tag.clone()).or_default().insert(key.clone());
            }
            if let Some(at) = slot.entry.expires_at_ns {
                expiries.insert((at, key.clone()));
            }
            if slot.tick >= self.next_tick {
                return Err(format!("{key} has tick {} >= next tick", slot.tick));
            }
        }
        if recency != self.recency {
            return Err(format!("recency {:?} != {:?}", self.recency, recency));
        }
        if tags != self.tags {
            return Err(format!("tags {:?} != {:?}", self.tags, tags));
        }
        if expiries != self.expiries {
            return Err(format!("expiries {:?} != {:?}", self.expiries, expiries));
        }
        if self.entries.len() > self.capacity {
            return Err("over capacity".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64, expires_at_ns: Option<u64>, tags: &[&str]) -> Entry {
        Entry {
            value: Some(version as i64 * 10),
            version,
            filled_at_ns: 0,
            origin_ns: 0,
            expires_at_ns,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            run_id: None,
        }
    }

    fn keys(items: &[(Key, Entry)]) -> Vec<&str> {
        items.iter().map(|(k, _)| k.as_str()).collect()
    }

    fn stored_keys(store: &TierStore) -> Vec<&str> {
        store.iter().map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    #[should_panic(expected = "capacity must be at least 1")]
    fn zero_capacity_is_a_bug() {
        TierStore::new(0);
    }

    #[test]
    fn ttl_boundary_served_one_ns_before_gone_at_expiry() {
        let mut s = TierStore::new(4);
        s.insert("k", entry(1, Some(1_000), &[]));
        assert_eq!(s.peek("k", 999).map(|e| e.version), Some(1));
        assert_eq!(s.get("k", 999).map(|e| e.version), Some(1));
        // At expires_at exactly the entry is gone, for peek and for get.
        assert!(s.peek("k", 1_000).is_none());
        assert_eq!(s.len(), 1, "peek must not remove");
        assert!(s.get("k", 1_000).is_none());
        // get removed it (lazy expiry): a later, earlier-clock read does not resurrect it.
        assert_eq!(s.len(), 0);
        assert!(s.get("k", 0).is_none());
    }

    #[test]
    fn no_expiry_never_expires() {
        let mut s = TierStore::new(1);
        s.insert("k", entry(1, None, &[]));
        assert!(s.get("k", u64::MAX).is_some());
        assert!(s.expire_due(u64::MAX).is_empty());
    }

    #[test]
    fn active_expiry_removes_due_entries_in_key_order() {
        let mut s = TierStore::new(8);
        s.insert("c", entry(1, Some(10), &["t"]));
        s.insert("a", entry(1, Some(20), &["t"]));
        s.insert("b", entry(1, Some(10), &[]));
        s.insert("d", entry(1, Some(21), &[]));
        s.insert("e", entry(1, None, &[]));
        assert!(s.expire_due(9).is_empty());
        // 20 <= 20: "a" is due at exactly its instant; key order, not expiry order.
        let gone = s.expire_due(20);
        assert_eq!(keys(&gone), vec!["a", "b", "c"]);
        assert_eq!(stored_keys(&s), vec!["d", "e"]);
        assert!(s.keys_with_tag("t").is_empty());
        s.check_indexes().unwrap();
    }

    #[test]
    fn lru_evicts_least_recently_used_first() {
        let mut s = TierStore::new(3);
        assert!(s.insert("a", entry(1, None, &[])).is_empty());
        assert!(s.insert("b", entry(1, None, &[])).is_empty());
        assert!(s.insert("c", entry(1, None, &[])).is_empty());
        let ev = s.insert("d", entry(1, None, &[]));
        assert_eq!(keys(&ev), vec!["a"]);
        let ev = s.insert("e", entry(1, None, &[]));
        assert_eq!(keys(&ev), vec!["b"]);
        assert_eq!(stored_keys(&s), vec!["c", "d", "e"]);
    }

    #[test]
    fn get_refreshes_recency_and_peek_does_not() {
        let mut s = TierStore::new(2);
        s.insert("a", entry(1, None, &[]));
        s.insert("b", entry(1, None, &[]));
        // get(a) makes b the least recently used.
        assert!(s.get("a", 0).is_some());
        assert_eq!(keys(&s.insert("c", entry(1, None, &[]))), vec!["b"]);
        // peek(a) leaves a the least recently used.
        assert!(s.peek("a", 0).is_some());
        assert_eq!(keys(&s.insert("d", entry(1, None, &[]))), vec!["a"]);
        assert_eq!(stored_keys(&s), vec!["c", "d"]);
    }

    #[test]
    fn replace_refreshes_recency_and_does_not_evict() {
        let mut s = TierStore::new(2);
        s.insert("a", entry(1, None, &[]));
        s.insert("b", entry(1, None, &[]));
        assert!(s.insert("a", entry(2, None, &[])).is_empty());
        assert_eq!(s.len(), 2);
        assert_eq!(keys(&s.insert("c", entry(1, None, &[]))), vec!["b"]);
        assert_eq!(s.peek("a", 0).map(|e| e.version), Some(2));
    }

    #[test]
    fn capacity_one_keeps_only_the_newest() {
        let mut s = TierStore::new(1);
        assert!(s.insert("a", entry(1, None, &["t"])).is_empty());
        let ev = s.insert("b", entry(2, None, &["t"]));
        assert_eq!(ev, vec![("a".to_string(), entry(1, None, &["t"]))]);
        assert_eq!(stored_keys(&s), vec!["b"]);
        assert!(s.insert("b", entry(3, None, &[])).is_empty());
        assert_eq!(s.get("b", 0).map(|e| e.version), Some(3));
        assert!(s.keys_with_tag("t").is_empty());
        s.check_indexes().unwrap();
    }

    #[test]
    fn tag_index_follows_every_change() {
        let mut s = TierStore::new(3);
        s.insert("a", entry(1, None, &["x", "y"]));
        s.insert("b", entry(1, Some(5), &["x"]));
        s.insert("c", entry(1, None, &["y"]));
        assert_eq!(s.keys_with_tag("x"), vec!["a", "b"]);
        assert_eq!(s.keys_with_tag("y"), vec!["a", "c"]);

        // Replace with different tags: a leaves x and y, joins z.
        s.insert("a", entry(2, None, &["z"]));
        assert_eq!(s.keys_with_tag("x"), vec!["b"]);
        assert_eq!(s.keys_with_tag("y"), vec!["c"]);
        assert_eq!(s.keys_with_tag("z"), vec!["a"]);
        s.check_indexes().unwrap();

        // Remove.
        s.remove("c");
        assert!(s.keys_with_tag("y").is_empty());
        s.check_indexes().unwrap();

        // Evict: b is least recently used.
        s.insert("c", entry(1, None, &["y"]));
        let ev = s.insert("d", entry(1, None, &["x"]));
        assert_eq!(keys(&ev), vec!["b"]);
        assert_eq!(s.keys_with_tag("x"), vec!["d"]);
        s.check_indexes().unwrap();

        // Expire.
        s.insert("e", entry(1, Some(7), &["z", "x"]));
        assert_eq!(s.keys_with_tag("x"), vec!["d", "e"]);
        assert_eq!(keys(&s.expire_due(7)), vec!["e"]);
        assert_eq!(s.keys_with_tag("x"), vec!["d"]);
        s.check_indexes().unwrap();

        // Lazy expiry via get.
        s.insert("f", entry(1, Some(9), &["x"]));
        assert!(s.get("f", 9).is_none());
        assert_eq!(s.keys_with_tag("x"), vec!["d"]);
        s.check_indexes().unwrap();

        // remove_tag returns the tagged entries in key order and only those.
        s.insert("g", entry(1, None, &["x", "z"]));
        let gone = s.remove_tag("x");
        assert_eq!(keys(&gone), vec!["d", "g"]);
        assert!(s.keys_with_tag("x").is_empty());
        assert!(s.keys_with_tag("z").is_empty(), "g carried z too");
        assert!(s.remove_tag("x").is_empty());
        s.check_indexes().unwrap();
    }

    #[test]
    fn floors_survive_remove_evict_expire_and_clear_drops_them() {
        let mut s = TierStore::new(1);
        assert_eq!(s.floor("a"), 0);
        s.raise_floor("a", 5);
        s.raise_floor("a", 3);
        assert_eq!(s.floor("a"), 5, "a floor never decreases");
        s.insert("a", entry(5, Some(10), &[]));
        s.remove("a");
        assert_eq!(s.floor("a"), 5);
        s.insert("a", entry(5, None, &[]));
        s.raise_floor("b", 2);
        assert_eq!(keys(&s.insert("b", entry(2, Some(10), &[]))), vec!["a"]);
        assert_eq!(s.floor("a"), 5, "floor survives eviction");
        assert_eq!(keys(&s.expire_due(10)), vec!["b"]);
        assert_eq!(s.floor("b"), 2, "floor survives expiry");
        s.insert("a", entry(6, None, &["t"]));
        s.clear();
        assert_eq!(s.floor("a"), 0);
        assert_eq!(s.floor("b"), 0);
        assert!(s.is_empty());
        assert!(s.keys_with_tag("t").is_empty());
        assert_eq!(s.capacity(), 1);
        s.check_indexes().unwrap();
    }

    #[test]
    fn clone_is_a_snapshot() {
        let mut s = TierStore::new(2);
        s.insert("a", entry(1, None, &[]));
        let snap = s.clone();
        s.insert("a", entry(2, None, &[]));
        s.remove("a");
        assert_eq!(snap.peek("a", 0).map(|e| e.version), Some(1));
        assert!(s.peek("a", 0).is_none());
    }

    /// The reference model: a Vec in LRU order (front = least recently used), no indexes.
    mod reference {
        use super::super::{Entry, Key};
        use std::collections::BTreeMap;

        #[derive(Default)]
        pub struct Naive {
            pub capacity: usize,
            pub lru: Vec<(Key, Entry)>,
            pub floors: BTreeMap<Key, u64>,
        }

        impl Naive {
            fn pos(&self, key: &str) -> Option<usize> {
                self.lru.iter().position(|(k, _)| k == key)
            }
            pub fn get(&mut self, key: &str, now: u64) -> Option<Entry> {
                let i = self.pos(key)?;
                let item = self.lru.remove(i);
                if item.1.expires_at_ns.is_some_and(|at| now >= at) {
                    return None;
                }
                self.lru.push(item.clone());
                Some(item.1)
            }
            pub fn peek(&self, key: &str, now: u64) -> Option<Entry> {
                let e = &self.lru[self.pos(key)?].1;
                e.expires_at_ns.is_none_or(|at| now < at).then(|| e.clone())
            }
            pub fn insert(&mut self, key: &str, e: Entry) -> Vec<(Key, Entry)> {
                self.remove(key);
                self.lru.push((key.to_string(), e));
                let over = self.lru.len().saturating_sub(self.capacity);
                self.lru.drain(..over).collect()
            }
            pub fn remove(&mut self, key: &str) -> Option<Entry> {
                let i = self.pos(key)?;
                Some(self.lru.remove(i).1)
            }
            fn remove_where(&mut self, f: impl Fn(&Entry) -> bool) -> Vec<(Key, Entry)> {
                let mut out: Vec<_> = self.lru.iter().filter(|(_, e)| f(e)).cloned().collect();
                self.lru.retain(|(_, e)| !f(e));
                out.sort_by(|a, b| a.0.cmp(&b.0));
                out
            }
            pub fn remove_tag(&mut self, tag: &str) -> Vec<(Key, Entry)> {
                self.remove_where(|e| e.tags.contains(tag))
            }
            pub fn expire_due(&mut self, now: u64) -> Vec<(Key, Entry)> {
                self.remove_where(|e| e.expires_at_ns.is_some_and(|at| at <= now))
            }
            pub fn keys_with_tag(&self, tag: &str) -> Vec<Key> {
                let mut keys: Vec<Key> =
                    self.lru.iter().filter(|(_, e)| e.tags.contains(tag)).map(|(k, _)| k.clone()).collect();
                keys.sort();
                keys
            }
            pub fn sorted(&self) -> Vec<(Key, Entry)> {
                let mut all = self.lru.clone();
                all.sort_by(|a, b| a.0.cmp(&b.0));
                all
            }
        }
    }

    mod model_check {
        use super::reference::Naive;
        use super::*;
        use proptest::prelude::*;

        const TAGS: [&str; 3] = ["t0", "t1", "t2"];

        #[derive(Clone, Debug)]
        enum Op {
            Get(u8, u64),
            Peek(u8, u64),
            Insert(u8, u64, Option<u64>, u8),
            Remove(u8),
            RemoveTag(u8),
            ExpireDue(u64),
            RaiseFloor(u8, u64),
            Clear,
        }

        fn key(k: u8) -> String {
            format!("k{k}")
        }

        fn op() -> impl Strategy<Value = Op> {
            let k = 0u8..6;
            let t = 0u64..30;
            prop_oneof![
                4 => (k.clone(), t.clone()).prop_map(|(k, t)| Op::Get(k, t)),
                2 => (k.clone(), t.clone()).prop_map(|(k, t)| Op::Peek(k, t)),
                6 => (k.clone(), 1u64..5, proptest::option::of(0u64..30), 0u8..8)
                    .prop_map(|(k, v, e, tags)| Op::Insert(k, v, e, tags)),
                2 => k.clone().prop_map(Op::Remove),
                1 => (0u8..3).prop_map(Op::RemoveTag),
                2 => t.prop_map(Op::ExpireDue),
                2 => (k, 0u64..8).prop_map(|(k, v)| Op::RaiseFloor(k, v)),
                1 => Just(Op::Clear),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn tier_store_matches_naive_lru(capacity in 1usize..5,
                                            ops in proptest::collection::vec(op(), 0..80)) {
                let mut real = TierStore::new(capacity);
                let mut naive = Naive { capacity, ..Naive::default() };
                for op in ops {
                    match op.clone() {
                        Op::Get(k, t) => prop_assert_eq!(real.get(&key(k), t), naive.get(&key(k), t)),
                        Op::Peek(k, t) => {
                            prop_assert_eq!(real.peek(&key(k), t).cloned(), naive.peek(&key(k), t))
                        }
                        Op::Insert(k, v, exp, tag_bits) => {
                            let e = Entry {
                                value: (v % 2 == 0).then_some(v as i64),
                                version: v,
                                filled_at_ns: 0,
                                origin_ns: 0,
                                expires_at_ns: exp,
                                tags: (0..3)
                                    .filter(|i| tag_bits & (1 << i) != 0)
                                    .map(|i| TAGS[i].to_string())
                                    .collect(),
                                run_id: None,
                            };
                            prop_assert_eq!(real.insert(&key(k), e.clone()), naive.insert(&key(k), e));
                        }
                        Op::Remove(k) => prop_assert_eq!(real.remove(&key(k)), naive.remove(&key(k))),
                        Op::RemoveTag(t) => {
                            let t = TAGS[t as usize];
                            prop_assert_eq!(real.remove_tag(t), naive.remove_tag(t));
                        }
                        Op::ExpireDue(t) => prop_assert_eq!(real.expire_due(t), naive.expire_due(t)),
                        Op::RaiseFloor(k, v) => {
                            real.raise_floor(&key(k), v);
                            let f = naive.floors.entry(key(k)).or_insert(0);
                            *f = (*f).max(v);
                        }
                        Op::Clear => {
                            real.clear();
                            naive.lru.clear();
                            naive.floors.clear();
                        }
                    }
                    let contents: Vec<(Key, Entry)> =
                        real.iter().map(|(k, e)| (k.clone(), e.clone())).collect();
                    prop_assert_eq!(contents, naive.sorted(), "after {:?}", op);
                    prop_assert_eq!(real.len(), naive.lru.len());
                    for t in TAGS {
                        prop_assert_eq!(real.keys_with_tag(t), naive.keys_with_tag(t));
                    }
                    for k in 0..6 {
                        let want = naive.floors.get(&key(k)).copied().unwrap_or(0);
                        prop_assert_eq!(real.floor(&key(k)), want);
                    }
                    if let Err(e) = real.check_indexes() {
                        prop_assert!(false, "indexes inconsistent after {:?}: {}", op, e);
                    }
                }
            }
        }
    }
}
