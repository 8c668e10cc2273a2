//! WATCH/MULTI/EXEC and scripts through the protocol API, on the simulated Redis node: what a
//! user's protocol sees (`tiersim::prelude` only). The keyspace rules themselves are checked
//! against a real redis-server in redis_conformance.rs; here the node must apply them to what
//! happens in a run — another process's DEL, an expiry — and run scripts atomically, refuse
//! undeclared keys, and turn a panicking script into the run's crash verdict.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiersim::prelude::*;
use tiersim::sim::schedule::{Schedule, TimedOp};
use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::Verdict;

/// What the protocol saw, in order, shared with the test.
type Log = Arc<Mutex<Vec<String>>>;

/// `write`: SET the key in Redis (PX `ttl_ms`), WATCH it, wait 40 ms, then MULTI SET EXEC — and
/// log whether EXEC ran. `delete`: a plain DEL in Redis. `read`: a script that answers the key's
/// entry and, when `boom`, panics.
struct Watcher {
    log: Log,
    ttl_ms: u64,
}

fn set(cx: &App, key: &str, value: i64, ttl_ms: u64) -> RedisReq {
    let data = Data { value: Some(value), version: 1, origin_ns: 0 };
    RedisReq::SetGet {
        key: key.into(),
        entry: cx.entry_of(key, &data),
        opts: SetOpts { expiry: Some(Expiry::Px(ttl_ms)), ..Default::default() },
        op: None,
    }
}

impl Protocol for Watcher {
    fn name(&self) -> String {
        "watcher".into()
    }
    fn claims(&self, _: &SystemConfig) -> Claims {
        Claims::new([])
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let boom = key == "boom";
        let script =
            RedisScript::new("get-or-boom", move |call: &mut ScriptCall<'_, RedisReq, RedisResp>| {
                if boom {
                    panic!("the script's own bug");
                }
                let key = call.keys()[0].clone();
                call.call(RedisReq::Get { key, op: None, touch_ms: None, tag: None, stamped: false })
            });
        let reply = cx.redis().eval(&script, &[key], &[]).await;
        self.log
            .lock()
            .unwrap()
            .push(format!("eval {key}: {}", matches!(reply, Ok(RedisResp::Entry { .. }))));
        // A script may not touch a key it did not declare.
        let sneaky = RedisScript::new("sneaky", |call: &mut ScriptCall<'_, RedisReq, RedisResp>| {
            call.call(RedisReq::Del { key: "other".into() })
        });
        if let Err(e) = cx.redis().eval(&sneaky, &[key], &[]).await {
            self.log.lock().unwrap().push(format!("sneaky: {e:?}"));
        }
        Ok(cx.db().read(key).await?.row())
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        let row = cx.db().write(key, Some(value)).await?;
        cx.redis().exec(None, vec![set(cx, key, value, self.ttl_ms)]).await?;
        let watch = cx.redis().watch(&[key]).await?;
        cx.sleep(Duration::from_millis(40)).await;
        let ran = cx.redis().exec(Some(&watch), vec![set(cx, key, value + 1, 60_000)]).await?;
        self.log.lock().unwrap().push(format!("exec {key}: {}", if ran.is_some() { "ran" } else { "nil" }));
        Ok(row)
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let row = cx.db().write(key, None).await?;
        cx.redis().del(key).await?;
        Ok(row)
    }
}

fn run(ops: Vec<(u64, u64, CacheOp)>, ttl_ms: u64) -> (Verdict, Option<String>, Vec<String>) {
    let log: Log = Arc::default();
    let l = log.clone();
    let factory = ProtocolFactory::new(move || Watcher { log: l.clone(), ttl_ms });
    let config = SystemConfig {
        topology: Topology { regions: 1, hosts_per_region: 1, processes_per_host: 2, redis_shards: 1 },
        quiet_ms: 100,
        ..Default::default()
    };
    let ops = ops
        .into_iter()
        .map(|(at_ms, process, op)| TimedOp { at_ns: at_ms * 1_000_000, process, op })
        .collect();
    let schedule = Schedule { ops, faults: vec![], end_ns: 500_000_000 };
    let o = tiersim::scenarios::run_in(&config, factory, 1, &schedule, &[]);
    let seen = log.lock().unwrap().clone();
    (o.verdict, o.abort, seen)
}

fn write(key: &str) -> CacheOp {
    CacheOp::Write { key: key.into(), value: 1 }
}

#[test]
fn exec_answers_nil_after_another_process_deletes_a_watched_key() {
    let (_, _, seen) = run(vec![(10, 0, write("k")), (25, 1, CacheOp::Delete { key: "k".into() })], 60_000);
    assert_eq!(seen, vec!["exec k: nil"]);
    // Without the delete the same transaction runs.
    let (_, _, seen) = run(vec![(10, 0, write("k"))], 60_000);
    assert_eq!(seen, vec!["exec k: ran"]);
}

#[test]
fn exec_answers_nil_when_a_watched_key_expires_before_it() {
    // The key expires 25 ms after its SET: after the WATCH (at most two 12 ms messages later),
    // before the EXEC (40 ms after the WATCH).
    let (_, _, seen) = run(vec![(10, 0, write("k"))], 25);
    assert_eq!(seen, vec!["exec k: nil"]);
}

#[test]
fn a_script_runs_on_declared_keys_only_and_its_panic_is_the_runs_crash() {
    let (verdict, _, seen) = run(vec![(10, 0, CacheOp::Read { key: "k".into() })], 60_000);
    assert_eq!(verdict, Verdict::Pass);
    assert_eq!(seen[0], "eval k: true");
    assert!(seen[1].contains("not declared in KEYS"), "{seen:?}");
    let (verdict, abort, _) = run(vec![(10, 0, CacheOp::Read { key: "boom".into() })], 60_000);
    assert_eq!(verdict, Verdict::Crash);
    let abort = abort.unwrap_or_default();
    assert!(
        abort.contains("script `get-or-boom` panicked on redis-0") && abort.contains("the script's own bug"),
        "{abort}"
    );
}
