//! Version floors as a Redis node keeps them: keys of the keyspace, beside the entries they guard.
//!
//! Production deployments keep a key's floor (the highest version whose invalidation reached
//! Redis) in a second key, `{key}:floor`, so that it outlives the entry and a Lua script can read
//! both in one atomic step (the hash tag puts both in one cluster slot). Being a key, a floor
//! takes memory like any other, and under `maxmemory` with an `allkeys-*` policy Redis may evict
//! it: then a late fill below the evicted floor finds no floor and lands (the `evicted-floor`
//! race). A protocol that must not lose that race fences its fills with Redis's eviction count
//! (`INFO stats` `evicted_keys`, read by the GET that missed): a fill that finds no floor after an
//! eviction since its read began cannot know what the floor was, and is refused.
//!
//! Floors are never expired and never reported as cache entries: they are not values, and the
//! checkers see tier contents through fills and removals only.

use crate::state::redis::{RedisStore, SetOpts};
use crate::state::store::Entry;

/// The key under which `key`'s floor is stored.
pub fn floor_key(key: &str) -> String {
    format!("{{{key}}}:floor")
}

/// Whether a keyspace key is a floor (not a cache entry).
pub fn is_floor_key(key: &str) -> bool {
    key.starts_with('{') && key.ends_with("}:floor")
}

/// `GET {key}:floor` (which counts as an access for LRU and LFU, as in a script): the floor, or
/// `None` when there is none (never set, or evicted).
pub fn floor(data: &mut RedisStore<Entry>, key: &str, now_ms: u64) -> Option<u64> {
    data.get(&floor_key(key), now_ms).map(|e| e.version)
}

/// `SET {key}:floor version` when that raises the floor. The caller made room first.
pub fn raise_floor(data: &mut RedisStore<Entry>, key: &str, version: u64, now_ms: u64) {
    if floor(data, key, now_ms).is_some_and(|f| f >= version) {
        return;
    }
    let stored = Entry {
        value: None,
        version,
        filled_at_ns: 0,
        origin_ns: 0,
        expires_at_ns: None,
        tags: Default::default(),
        run_id: None,
    };
    data.set(&floor_key(key), stored, &SetOpts::default(), now_ms).expect("a plain SET cannot fail");
}

#[cfg(test)]
mod tests {
    use crate::node::floor::{floor, floor_key, is_floor_key, raise_floor};
    use crate::state::redis::{EvictionPolicy, MaxMemory, RedisStore};

    #[test]
    fn floors_are_keys_that_only_rise() {
        let mut data = RedisStore::new();
        assert_eq!(floor(&mut data, "k", 0), None);
        raise_floor(&mut data, "k", 3, 0);
        raise_floor(&mut data, "k", 2, 0);
        assert_eq!(floor(&mut data, "k", 0), Some(3), "a floor never falls");
        assert_eq!(data.keys().collect::<Vec<_>>(), vec!["{k}:floor"]);
        assert!(is_floor_key(&floor_key("item-1")));
        assert!(!is_floor_key("item-1") && !is_floor_key("{item-1}"));
    }

    #[test]
    fn an_allkeys_policy_evicts_floors_like_entries() {
        let config = MaxMemory { max_keys: 1, policy: EvictionPolicy::AllkeysLru, samples: 5 };
        let mut data = RedisStore::with_maxmemory(config, tiersim_sim::rng::stream(1, "t"));
        raise_floor(&mut data, "k", 3, 0);
        assert_eq!(data.make_room(), Ok(vec![floor_key("k")]));
        assert_eq!(floor(&mut data, "k", 0), None, "the floor is gone");
    }
}
