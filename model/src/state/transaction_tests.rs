//! WATCH/EXEC on the keyspace (`state::transaction` over `state::redis`): every way a key
//! changes, and the expiry and eviction rules of Redis 7.0, fail a watch or leave it alone as
//! Redis does. (A file of its own: the keyspace imports the bookkeeping, so its tests cannot live
//! beside it without an import circle.)
use crate::state::redis::{Expiry, RedisStore, SetCond, SetOpts};

fn px(ms: u64) -> SetOpts {
    SetOpts { expiry: Some(Expiry::Px(ms)), ..SetOpts::default() }
}

#[test]
fn a_write_to_a_watched_key_fails_the_exec_and_an_unchanged_key_does_not() {
    let mut r: RedisStore<i64> = RedisStore::new();
    r.set("k", 1, &SetOpts::default(), 0).unwrap();
    r.watch(1, "k", 0);
    r.watch(2, "k", 0);
    r.watch(2, "other", 0);
    // Commands that change nothing leave both transactions alive.
    assert_eq!(r.set("k", 9, &SetOpts { cond: Some(SetCond::Nx), ..SetOpts::default() }, 0), Ok(false));
    assert!(!r.del("missing", 0));
    assert_eq!(r.get("k", 0), Some(1));
    assert!(!r.persist("k", 0), "no TTL to remove: no change");
    assert!(r.exec_allowed(1, 0));
    // Client 1's EXEC ended its watch; a SET of the same value still fails client 2.
    r.set("k", 1, &SetOpts::default(), 0).unwrap();
    assert!(!r.exec_allowed(2, 0), "SET of the same value is a modification");
    r.watch(2, "k", 0);
    assert!(r.exec_allowed(2, 0), "EXEC and a new WATCH start afresh");
}

#[test]
fn expiry_and_eviction_fail_a_watch_as_redis_defines_it() {
    let mut r: RedisStore<i64> = RedisStore::new();
    r.set("k", 1, &px(10), 0).unwrap();
    r.watch(1, "k", 5);
    assert!(!r.exec_allowed(1, 11), "logically expired since WATCH, though still stored");
    // Removed by active expiry: a modification.
    r.set("k", 1, &px(10), 0).unwrap();
    r.watch(1, "k", 5);
    assert_eq!(r.active_expire(11), vec!["k".to_string()]);
    assert!(!r.exec_allowed(1, 11));
    // Already expired at WATCH: its removal is no change, but a write bringing it back is.
    r.set("k", 1, &px(10), 0).unwrap();
    r.watch(1, "k", 20);
    assert!(r.exec_allowed(1, 20), "expired at WATCH: EXEC goes through");
    r.watch(1, "k", 20);
    assert_eq!(r.get("k", 20), None, "lazy expiry removes it");
    assert!(r.exec_allowed(1, 20), "removing an already expired key changes nothing");
    r.set("k", 1, &px(10), 0).unwrap();
    r.watch(1, "k", 20);
    r.set("k", 2, &SetOpts::default(), 20).unwrap();
    assert!(!r.exec_allowed(1, 20), "a write after the expired WATCH fails it");
    // Eviction is a modification.
    let config = crate::state::redis::MaxMemory {
        max_keys: 1,
        policy: crate::state::redis::EvictionPolicy::AllkeysRandom,
        samples: 1,
    };
    let mut r: RedisStore<i64> = RedisStore::with_maxmemory(config, tiersim_sim::rng::stream(0, "t"));
    r.set("k", 1, &SetOpts::default(), 0).unwrap();
    r.watch(1, "k", 0);
    assert_eq!(r.make_room(), Ok(vec!["k".to_string()]));
    assert!(!r.exec_allowed(1, 0), "evicted since WATCH");
}

#[test]
fn every_modifying_command_touches_its_key() {
    type Cmd = fn(&mut RedisStore<i64>);
    let cmds: [(&str, Cmd); 9] = [
        ("set", |r| {
            r.set("k", 2, &SetOpts::default(), 0).unwrap();
        }),
        ("del", |r| {
            r.del("k", 0);
        }),
        ("expire", |r| {
            r.pexpire("k", 100, 0).unwrap();
        }),
        ("expire-delete", |r| {
            r.pexpire("k", -1, 0).unwrap();
        }),
        ("persist", |r| {
            r.persist("k", 0);
        }),
        ("getdel", |r| {
            r.getdel("k", 0);
        }),
        ("getex", |r| {
            r.getex("k", crate::state::redis::GetExOpt::Px(5), 0).unwrap();
        }),
        ("mset", |r| r.mset(vec![("k".into(), 3)], 0)),
        ("flushall", |r| r.flushall()),
    ];
    for (name, cmd) in cmds {
        let mut r: RedisStore<i64> = RedisStore::new();
        r.set("k", 1, &px(1_000), 0).unwrap();
        r.watch(7, "k", 0);
        cmd(&mut r);
        assert!(!r.exec_allowed(7, 0), "{name} must fail a watch on its key");
    }
    // ...and GETEX without an option, a read, does not.
    let mut r: RedisStore<i64> = RedisStore::new();
    r.set("k", 1, &px(1_000), 0).unwrap();
    r.watch(7, "k", 0);
    r.getex("k", crate::state::redis::GetExOpt::Keep, 0).unwrap();
    r.pttl("k", 0);
    assert!(r.exec_allowed(7, 0));
}
