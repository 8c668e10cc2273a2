//! Asynchronous replication of one Redis shard to its replica, and what a failover promotes.
//!
//! Redis replicates by streaming the primary's effects to the replica; the replica applies them
//! in order, `lag` behind. Expiry is absolute in that stream (Redis 7 sends `PXAT`), and a key
//! that expires on the primary reaches the replica as a `DEL`. So the replica's keyspace at
//! instant t is exactly the primary's keyspace as it was at t - lag: this module keeps that
//! history as a bounded queue of (instant, keyspace) snapshots. The keyspace is imbl-backed, so
//! a snapshot per change costs a pointer copy, and the queue is pruned to the one snapshot at or
//! before `now - lag` plus everything newer: nothing older can ever be asked for again.
//!
//! A failover promotes the replica: the shard's keyspace becomes the replica's, so the writes of
//! the last `lag` (acknowledged deletes and version floors included) are lost. The promoted
//! replica has no clients, so no WATCH survives, and the keys whose expiry passed while it was
//! being promoted expire at once ([`promote`]). Instants are global sim time (replication lag
//! is real time); expiry instants stay on the shard's own clock, which the replica shares.

use crate::state::redis::RedisStore;
use crate::state::store::Key;
use std::collections::VecDeque;

/// The replica of one shard: the primary's keyspace history over the last `lag_ns`.
#[derive(Clone, Debug)]
pub struct Replication<S: Clone> {
    lag_ns: u64,
    /// (instant, the primary's keyspace from that instant on), ascending; never empty.
    log: VecDeque<(u64, S)>,
}

impl<S: Clone> Replication<S> {
    /// A replica that has caught up with `state` at `at_ns` (a full sync: the shard started, or
    /// a new replica attached to a promoted one).
    pub fn synced(lag_ns: u64, at_ns: u64, state: S) -> Self {
        Replication { lag_ns, log: VecDeque::from([(at_ns, state)]) }
    }

    pub fn lag_ns(&self) -> u64 {
        self.lag_ns
    }

    /// The primary's keyspace is `state` from `at_ns` on (after a command). Instants never go
    /// back; a second change at the same instant replaces the first.
    pub fn record(&mut self, at_ns: u64, state: S) {
        let last = self.log.back().expect("replication log is never empty").0;
        assert!(at_ns >= last, "replication went back in time: {at_ns} < {last}");
        if at_ns == last {
            self.log.pop_back();
        }
        self.log.push_back((at_ns, state));
        // Keep the newest snapshot at or before the replica's instant, and everything newer.
        let horizon = at_ns.saturating_sub(self.lag_ns);
        while self.log.len() > 1 && self.log[1].0 <= horizon {
            self.log.pop_front();
        }
    }

    /// The replica's keyspace at `now_ns`: the primary's as it was at `now_ns - lag` (before
    /// the shard's first instant, the state it was synced with). `now_ns` is never before the
    /// last change recorded: the past beyond one lag is pruned.
    pub fn replica_at(&self, now_ns: u64) -> &S {
        let last = self.log.back().expect("replication log is never empty").0;
        assert!(now_ns >= last, "the replica was asked for {now_ns}, before the last change at {last}");
        let horizon = now_ns.saturating_sub(self.lag_ns);
        let newer = self.log.partition_point(|(at, _)| *at <= horizon);
        &self.log[newer.saturating_sub(1)].1
    }

    /// How many snapshots are kept (bounded by the changes of one lag).
    pub fn len(&self) -> usize {
        self.log.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }
}

/// The replica's keyspace `replica`, promoted at `now_ms` on the shard's clock: no client's WATCH
/// (it has no clients yet), and every key whose expiry passed removed. Answers the keyspace and
/// the keys that expired, in key order.
pub fn promote<V: Clone>(replica: &RedisStore<V>, now_ms: u64) -> (RedisStore<V>, Vec<Key>) {
    let mut promoted = replica.without_watches();
    let expired = promoted.active_expire(now_ms);
    (promoted, expired)
}

#[cfg(test)]
mod tests {
    use crate::state::redis::{Expiry, RedisStore, SetOpts};
    use crate::state::replication::{promote, Replication};

    const MS: u64 = 1_000_000;

    fn px(ms: u64) -> SetOpts {
        SetOpts { expiry: Some(Expiry::Px(ms)), ..Default::default() }
    }

    /// The primary writes k=1 at 10 ms, deletes it at 50 ms, writes k=3 at 80 ms; the replica
    /// (lag 20 ms) sees each change exactly 20 ms later, not a nanosecond sooner.
    #[test]
    fn the_replica_is_the_primary_exactly_lag_behind() {
        let mut primary: RedisStore<i64> = RedisStore::new();
        let mut r = Replication::synced(20 * MS, 0, primary.clone());
        let plain = SetOpts::default();
        let at = |r: &Replication<RedisStore<i64>>, ns: u64| r.replica_at(ns).peek("k", 0).copied();
        primary.set("k", 1, &plain, 10).unwrap();
        r.record(10 * MS, primary.clone());
        assert_eq!(at(&r, 30 * MS - 1), None, "the write of 10 ms is not there before 30 ms");
        assert_eq!(at(&r, 30 * MS), Some(1));
        primary.del("k", 50);
        r.record(50 * MS, primary.clone());
        assert_eq!(at(&r, 70 * MS - 1), Some(1), "the delete of 50 ms has not arrived");
        assert_eq!(at(&r, 70 * MS), None);
        primary.set("k", 3, &plain, 80).unwrap();
        r.record(80 * MS, primary.clone());
        assert_eq!(at(&r, 80 * MS), None, "nor the write of 80 ms at once");
        assert_eq!(at(&r, 100 * MS - 1), None);
        assert_eq!(at(&r, 100 * MS), Some(3));
    }

    /// A failover at t loses every write of (t - lag, t]: here an acknowledged delete, and the
    /// value it deleted comes back.
    #[test]
    fn a_failover_loses_the_last_lag_of_writes() {
        let mut primary: RedisStore<i64> = RedisStore::new();
        let mut r = Replication::synced(50 * MS, 0, primary.clone());
        primary.set("k", 7, &SetOpts::default(), 100).unwrap();
        r.record(100 * MS, primary.clone());
        primary.del("k", 180);
        r.record(180 * MS, primary.clone());
        let (promoted, expired) = promote(r.replica_at(200 * MS), 200);
        assert_eq!(promoted.peek("k", 200), Some(&7), "the delete of 180 ms was lost");
        assert!(expired.is_empty());
        let (promoted, _) = promote(r.replica_at(230 * MS), 230);
        assert_eq!(promoted.peek("k", 230), None, "the delete had reached the replica by 230 ms");
    }

    /// Expiry instants are absolute: a key set PX 30 at 100 ms expires after 130 ms on the
    /// promoted replica as on the primary, and a promotion past it removes it at once.
    #[test]
    fn keys_whose_expiry_passed_expire_on_promotion() {
        let mut primary: RedisStore<i64> = RedisStore::new();
        let mut r = Replication::synced(20 * MS, 0, primary.clone());
        primary.set("short", 1, &px(30), 100).unwrap();
        primary.set("long", 2, &px(1_000), 100).unwrap();
        r.record(100 * MS, primary.clone());
        let (at_130, expired) = promote(r.replica_at(130 * MS), 130);
        assert_eq!(at_130.peek("short", 130), Some(&1), "alive through its expire millisecond");
        assert!(expired.is_empty());
        let (mut at_131, expired) = promote(r.replica_at(131 * MS), 131);
        assert_eq!(expired, vec!["short".to_string()]);
        assert_eq!(at_131.len(), 1, "the expired key is removed, not just hidden");
        assert_eq!(at_131.pttl("long", 131), 969, "the other key keeps its absolute expiry");
    }

    /// The queue keeps one snapshot at or before the replica's instant and the newer ones:
    /// a long run of changes does not grow it beyond one lag's worth.
    #[test]
    fn the_log_is_pruned_to_one_lag() {
        let mut r = Replication::synced(10 * MS, 0, 0u64);
        for ms in 1..=1_000u64 {
            r.record(ms * MS, ms);
        }
        assert_eq!(r.len(), 11);
        assert_eq!(*r.replica_at(1_000 * MS), 990);
        assert_eq!(*r.replica_at(1_005 * MS), 995);
        assert_eq!(*r.replica_at(2_000 * MS), 1_000, "a replica that caught up holds the last state");
    }

    /// A promoted replica has no clients: a WATCH taken on the primary does not survive into it.
    #[test]
    fn no_watch_survives_a_promotion() {
        let mut primary: RedisStore<i64> = RedisStore::new();
        primary.set("k", 1, &SetOpts::default(), 0).unwrap();
        primary.watch(1, "k", 0);
        primary.set("k", 2, &SetOpts::default(), 1).unwrap();
        let (mut promoted, _) = promote(&primary, 2);
        assert!(promoted.exec_allowed(1, 2), "client 1 of the new primary watches nothing");
        assert!(!primary.exec_allowed(1, 2), "on the old primary the WATCH failed");
    }
}
