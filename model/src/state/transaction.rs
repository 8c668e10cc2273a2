//! `WATCH`/`MULTI`/`EXEC` as Redis runs them (`multi.c`, Redis 7.0): optimistic transactions.
//!
//! A client WATCHes keys, reads, then sends `MULTI`, its commands (each answered `QUEUED`) and
//! `EXEC`. EXEC runs the queued commands as one atomic step, or answers nil and runs nothing when a
//! watched key was *modified* since its WATCH. Modified means what Redis's `signalModifiedKey`
//! means: any command that wrote or deleted the key (a SET, even of the same value; a DEL that
//! removed it; an EXPIRE that changed or removed it; a PERSIST that removed a TTL; GETDEL; a GETEX
//! that changed the TTL; MSET; FLUSHALL of an existing key), by any client including the watcher
//! itself, and equally a key's removal by lazy or active expiry or by maxmemory eviction. A
//! command that changed nothing (SET NX on an existing key, DEL of a missing key) does not count.
//!
//! Expiry has two further rules, both Redis 7.0's:
//! - EXEC also fails when a watched key has logically expired since its WATCH but was not removed
//!   yet (`isWatchedKeyExpired`).
//! - A key that had already expired (but was still stored) when it was WATCHed is remembered as
//!   such: its later removal by expiry changes nothing logically and does not fail the EXEC, but
//!   a write that brings it back does (`watchedKey.expired` in `touchWatchedKey`).
//!
//! [`Watches`] is the bookkeeping; the keyspace ([`crate::state::redis::RedisStore`]) calls
//! [`Watches::touch`] wherever a key changes, so no command can forget to. [`Multi`] is one
//! client's MULTI state: what it queued and whether a queueing error aborts the EXEC.

use std::collections::{BTreeMap, BTreeSet};

use crate::state::store::Key;

/// A client connection, as WATCH knows it.
pub type ClientId = u64;

/// Who watches which key, and which watchers a modification has already failed.
#[derive(Clone, Debug, Default)]
pub struct Watches {
    /// key -> watching client -> whether the key was already expired at its WATCH.
    by_key: BTreeMap<Key, BTreeMap<ClientId, bool>>,
    /// client -> the keys it watches.
    by_client: BTreeMap<ClientId, BTreeSet<Key>>,
    /// Clients whose next EXEC fails (Redis's `CLIENT_DIRTY_CAS`).
    dirty: BTreeSet<ClientId>,
}

impl Watches {
    /// `WATCH key` by `client`; `expired`: the key is stored but logically expired now. Watching
    /// a key twice keeps the first WATCH, as Redis does.
    pub fn watch(&mut self, client: ClientId, key: &str, expired: bool) {
        let watchers = self.by_key.entry(key.to_owned()).or_default();
        if watchers.contains_key(&client) {
            return;
        }
        watchers.insert(client, expired);
        self.by_client.entry(client).or_default().insert(key.to_owned());
    }

    /// The keys `client` watches, each with whether it was expired at its WATCH.
    pub fn watched(&self, client: ClientId) -> Vec<(Key, bool)> {
        self.by_client
            .get(&client)
            .into_iter()
            .flatten()
            .map(|k| (k.clone(), self.by_key[k][&client]))
            .collect()
    }

    /// `key` was modified; `stored_after`: whether the key is in the keyspace after the change.
    /// Every watcher fails, except one that watched the key already expired and sees it now
    /// removed (logically no change: its flag is cleared instead, as Redis does).
    pub fn touch(&mut self, key: &str, stored_after: bool) {
        let Some(watchers) = self.by_key.get_mut(key) else {
            return;
        };
        let mut failed = Vec::new();
        for (client, expired) in watchers.iter_mut() {
            if *expired && !stored_after {
                *expired = false;
            } else {
                failed.push(*client);
            }
        }
        // A failed client stops watching everything (Redis's unwatchAllKeys).
        for client in failed {
            self.dirty.insert(client);
            self.unwatch_keys(client);
        }
    }

    /// Whether a modification has failed `client`'s next EXEC.
    pub fn is_dirty(&self, client: ClientId) -> bool {
        self.dirty.contains(&client)
    }

    /// `UNWATCH`, and what EXEC and DISCARD do at their end: forget the client's watches and
    /// whether they failed.
    pub fn unwatch(&mut self, client: ClientId) {
        self.unwatch_keys(client);
        self.dirty.remove(&client);
    }

    fn unwatch_keys(&mut self, client: ClientId) {
        for key in self.by_client.remove(&client).unwrap_or_default() {
            if let Some(watchers) = self.by_key.get_mut(&key) {
                watchers.remove(&client);
                if watchers.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    /// Whether no key is watched (the keyspace skips its bookkeeping then).
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// The errors of the transaction commands, worded as Redis words them.
pub mod errors {
    pub const NESTED_MULTI: &str = "ERR MULTI calls can not be nested";
    pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
    pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
    pub const WATCH_INSIDE_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
    pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
}

/// One client's MULTI state: the commands queued since MULTI, and whether one was refused at
/// queueing time (then EXEC answers EXECABORT and runs nothing).
#[derive(Clone, Debug)]
pub struct Multi<C> {
    pub queued: Vec<C>,
    pub aborted: bool,
}

impl<C> Default for Multi<C> {
    fn default() -> Self {
        Multi { queued: Vec::new(), aborted: false }
    }
}
