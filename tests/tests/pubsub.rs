//! Pub/sub as Redis delivers it, seen from the subscribers: one process publishes a rising
//! sequence (its writes, one at a time), every app process subscribes, and each records what it
//! receives. Under packet loss and message shaping every subscriber receives every published
//! value once, in publish order; its near-twin with connection resets loses values at the reset
//! subscribers, still in order and never twice, and those subscribers are told of the drop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tiersim::prelude::*;
use tiersim_scenarios::scenario::workload::{Faults, Mix, Workload};

/// What every process received (app name -> values in arrival order), what was published
/// (acknowledged by Redis), and which processes heard of a dropped connection.
#[derive(Default)]
struct Log {
    received: BTreeMap<String, Vec<u64>>,
    published: Vec<u64>,
    dropped: Vec<String>,
}

struct Publisher {
    log: Arc<Mutex<Log>>,
}

impl Protocol for Publisher {
    fn name(&self) -> String {
        "publisher".into()
    }
    fn claims(&self, _cfg: &SystemConfig) -> Claims {
        Claims::new([])
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        Ok(cx.db().read(key).await?.row())
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        let row = cx.db().write(key, Some(value)).await?;
        let inv = Invalidation::Key { key: key.into(), version: value as u64 };
        if cx.publish("seq", inv).await.is_ok() {
            self.log.lock().unwrap().published.push(value as u64);
        }
        Ok(row)
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        cx.db().write(key, None).await
    }
    async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        if let Invalidation::Key { version, .. } = inv {
            self.log.lock().unwrap().received.entry(cx.name().into()).or_default().push(version);
        }
    }
    async fn on_start(&self, cx: &App) {
        while cx.subscribe("seq").await.is_err() {}
    }
    async fn on_disconnect(&self, cx: &App, _conn: u64) {
        self.log.lock().unwrap().dropped.push(cx.name().into());
        while cx.subscribe("seq").await.is_err() {}
    }
}

/// One writing process (so publish order is value order) among three app nodes.
fn workload(faults: Faults) -> Workload {
    let mix = Mix { read: 0, write: 1, delete: 0, invalidate_tag: 0, warm: 0 };
    Workload {
        processes: 1,
        ops_per_process: 60,
        max_gap_ms: 20,
        mix,
        faults,
        ..tiersim_scenarios::catalog::lossy_fanout()
    }
}

fn run(faults: Faults, seed: u64) -> Log {
    let log = Arc::new(Mutex::new(Log::default()));
    let l = log.clone();
    let factory = ProtocolFactory::new(move || Publisher { log: l.clone() });
    let outcome = tiersim_scenarios::run_seed(&workload(faults), factory, seed, &[]);
    assert!(outcome.abort.is_none(), "seed {seed}: {:?}", outcome.abort);
    drop(outcome);
    Arc::try_unwrap(log).ok().expect("the run is over").into_inner().unwrap()
}

fn strictly_rising(v: &[u64]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

#[test]
fn loss_and_shaping_delay_pub_sub_messages_but_never_lose_duplicate_or_reorder_them() {
    let faults = Faults { loss_windows: 3, shaping_windows: 3, duration_ms: (100, 600), ..Faults::default() };
    for seed in 0..10 {
        let log = run(faults, seed);
        assert_eq!(log.received.len(), 4, "seed {seed}: every app and the cdc node subscribed");
        assert!(log.dropped.is_empty(), "seed {seed}: nothing drops a connection");
        for (app, got) in &log.received {
            assert!(strictly_rising(got), "seed {seed}: {app} got {got:?}");
            for v in &log.published {
                assert!(got.contains(v), "seed {seed}: {app} never got {v} (got {got:?})");
            }
        }
    }
}

#[test]
fn a_reset_connection_loses_what_it_had_not_delivered_and_its_subscriber_is_told() {
    let faults = Faults { conn_drops: 4, ..Faults::default() };
    let (mut lost, mut told) = (0, 0);
    for seed in 0..10 {
        let log = run(faults, seed);
        told += log.dropped.len();
        for (app, got) in &log.received {
            assert!(strictly_rising(got), "seed {seed}: {app} got {got:?}");
            let missing = log.published.iter().filter(|v| !got.contains(v)).count();
            if missing > 0 {
                assert!(
                    log.dropped.contains(app),
                    "seed {seed}: {app} lost {missing} messages without a drop"
                );
                lost += 1;
            }
        }
    }
    assert!(told > 0 && lost > 0, "resets must drop connections ({told}) and lose messages ({lost})");
}
