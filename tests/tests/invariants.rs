//! The cache invariants of `cache_checks`, each pinned by a hand-built history that breaks
//! exactly that invariant and a nearly identical one that does not: a checker that cannot fail,
//! or fails on the twin, is caught here before a sweep trusts it.

use std::collections::BTreeMap;
use tiersim_model::check::judge::{judge_with_batches, Judgement};
use tiersim_model::event::{ModelEvent, RemoveCause, Tier};
use tiersim_model::protocol::{Claims, Invariant};
use tiersim_sim::fault::Fault;
use tiersim_sim::history::{ClientEvent, Event, EventType, History, OpFn, OpValue};

const MS: u64 = 1_000_000;

/// A history written by hand, one event a call, times in ms.
#[derive(Default)]
struct Builder {
    events: Vec<Event<ModelEvent>>,
    ops: BTreeMap<u64, (u64, OpFn, String)>,
}

impl Builder {
    /// The topology 1 region x 1 host x 2 processes, 1 Redis shard, as `Start` events.
    fn with_nodes() -> Self {
        let mut b = Builder::default();
        for node in ["app-0", "app-1", "l2-0", "l3-0", "redis-0"] {
            b.internal(0, ModelEvent::Start { node: node.into() });
        }
        b
    }

    fn client(&mut self, t_ms: u64, op: u64, kind: EventType, value: Option<i64>, v: Option<u64>) {
        let (process, f, key) = self.ops[&op].clone();
        self.events.push(Event::Client {
            op,
            event: ClientEvent { process, kind, f, key, value: OpValue::Single(value), time_ns: t_ms * MS },
            version: v,
        });
    }

    fn invoke(&mut self, t_ms: u64, process: u64, f: OpFn, key: &str, value: Option<i64>) -> u64 {
        let op = self.ops.len() as u64;
        self.ops.insert(op, (process, f, key.to_string()));
        self.client(t_ms, op, EventType::Invoke, value, None);
        op
    }

    fn internal(&mut self, t_ms: u64, event: ModelEvent) {
        self.events.push(Event::Internal { time_ns: t_ms * MS, event });
    }

    /// A write (value `Some`) or delete of `key` by `process`: invoked, committed as `version`,
    /// acknowledged at `ok_ms`.
    fn commit(&mut self, at_ms: u64, ok_ms: u64, process: u64, key: &str, value: Option<i64>, version: u64) {
        let f = if value.is_some() { OpFn::Write } else { OpFn::Delete };
        let op = self.invoke(at_ms, process, f, key, value);
        self.internal(at_ms, ModelEvent::Commit { key: key.into(), version, value, op });
        self.client(ok_ms, op, EventType::Ok, value, Some(version));
    }

    /// A read by `process` that returned `value` at `version`.
    fn read(
        &mut self,
        at_ms: u64,
        ok_ms: u64,
        process: u64,
        key: &str,
        value: Option<i64>,
        version: u64,
    ) -> u64 {
        let op = self.invoke(at_ms, process, OpFn::Read, key, None);
        self.client(ok_ms, op, EventType::Ok, value, Some(version));
        op
    }

    fn fill(&mut self, t_ms: u64, node: &str, tier: Tier, key: &str, version: u64) {
        self.internal(
            t_ms,
            ModelEvent::Fill {
                node: node.into(),
                tier,
                key: key.into(),
                version,
                origin_ns: t_ms * MS,
                filled_at_local_ns: t_ms * MS,
                tier_ttl_ns: Some(1_000 * MS),
                expires_at_ns: Some((t_ms + 1_000) * MS),
                tags: Vec::new(),
                op: None,
            },
        );
    }

    fn judge(self, inv: Invariant) -> Judgement {
        self.judge_with_batches(inv, &BTreeMap::new())
    }

    /// `judge`, with warm batches by name (what a run takes from its schedule).
    fn judge_with_batches(self, inv: Invariant, batches: &BTreeMap<String, Vec<String>>) -> Judgement {
        let history = History { events: self.events, digests: Vec::new(), trace_hash: 0 };
        judge_with_batches(&history, None, &Claims::new([inv]), batches)
    }
}

/// The invariants a judgement found broken, by name.
fn broken(j: &Judgement) -> Vec<String> {
    let mut names: Vec<String> = j.violations.iter().map(|v| v.invariant.clone()).collect();
    names.dedup();
    names
}

fn assert_broken(j: &Judgement, inv: Invariant) {
    assert_eq!(broken(j), vec![inv.name().to_string()], "{:#?}", j.violations);
}

fn assert_holds(j: &Judgement) {
    assert!(j.violations.is_empty(), "{:#?}", j.violations);
}

// ---- no-resurrection -------------------------------------------------------------------------

/// v1 (a value) is written, v2 deletes it and is acknowledged at 20 ms; `late` is when L2 is
/// filled with v1 (before the ack it must be gone by then; after it, it is a resurrection).
fn deleted_then_filled(fill_ms: u64, removed_before_ack: bool) -> Builder {
    let mut b = Builder::with_nodes();
    b.commit(0, 5, 0, "k", Some(7), 1);
    b.fill(fill_ms, "l2-0", Tier::L2, "k", 1);
    if removed_before_ack {
        b.internal(
            12,
            ModelEvent::Remove {
                node: "l2-0".into(),
                tier: Tier::L2,
                key: "k".into(),
                version: 1,
                cause: RemoveCause::Invalidate,
            },
        );
    }
    b.commit(10, 20, 0, "k", None, 2);
    b
}

#[test]
fn no_resurrection_catches_an_old_value_filled_after_the_delete_was_acknowledged() {
    assert_broken(
        &deleted_then_filled(30, false).judge(Invariant::NoResurrection),
        Invariant::NoResurrection,
    );
}

#[test]
fn no_resurrection_catches_an_old_value_still_held_when_the_delete_is_acknowledged() {
    assert_broken(&deleted_then_filled(8, false).judge(Invariant::NoResurrection), Invariant::NoResurrection);
    // The twin: the same fill, invalidated before the acknowledgement.
    assert_holds(&deleted_then_filled(8, true).judge(Invariant::NoResurrection));
}

#[test]
fn no_resurrection_catches_a_read_of_the_deleted_value_but_not_of_the_absence() {
    let read = |value: Option<i64>, version: u64| {
        let mut b = Builder::with_nodes();
        b.commit(0, 5, 0, "k", Some(7), 1);
        b.commit(10, 20, 0, "k", None, 2);
        b.read(25, 26, 1, "k", value, version);
        b.judge(Invariant::NoResurrection)
    };
    assert_broken(&read(Some(7), 1), Invariant::NoResurrection);
    assert_holds(&read(None, 2));
}

#[test]
fn no_resurrection_allows_an_older_delete_after_a_newer_one() {
    // v1 deleted (no value), v2 written, v3 deleted: holding v1 after v3's ack is no value.
    let mut b = Builder::with_nodes();
    b.commit(0, 5, 0, "k", None, 1);
    b.commit(6, 8, 0, "k", Some(3), 2);
    b.commit(10, 20, 0, "k", None, 3);
    b.fill(30, "l2-0", Tier::L2, "k", 1);
    assert_holds(&b.judge(Invariant::NoResurrection));
}

// ---- a failover's restored entries ----------------------------------------------------------

/// Redis holds v1 of k; the delete v2 reaches it and is acknowledged at 20 ms; at 30 ms Redis
/// fails over to a replica that still held v1 (`Start`, then `Promote` restoring k v1); a write
/// v3 is acknowledged at 50 ms without reaching Redis's restored copy. Then `after` happens.
fn restored_by_failover(after: impl FnOnce(&mut Builder)) -> Builder {
    let mut b = Builder::with_nodes();
    b.commit(0, 1, 0, "k", Some(7), 1);
    b.fill(2, "redis-0", Tier::Redis, "k", 1);
    b.commit(10, 20, 0, "k", None, 2);
    b.internal(
        12,
        ModelEvent::Remove {
            node: "redis-0".into(),
            tier: Tier::Redis,
            key: "k".into(),
            version: 1,
            cause: RemoveCause::Invalidate,
        },
    );
    b.internal(30, ModelEvent::Start { node: "redis-0".into() });
    b.internal(30, ModelEvent::Promote { node: "redis-0".into(), restored: vec![("k".into(), 1)] });
    b.commit(45, 50, 0, "k", Some(9), 3);
    after(&mut b);
    b
}

#[test]
fn a_failover_that_restores_a_deleted_value_is_not_the_protocols_doing() {
    // Redis holds v1 again after the delete v2 and the write v3 were acknowledged, and below the
    // app's tiers: none of it is a violation while nothing serves or propagates it.
    for inv in [Invariant::NoResurrection, Invariant::InvalidationBarrier, Invariant::TierOrder] {
        assert_holds(&restored_by_failover(|_| {}).judge(inv));
    }
    // Once a fill overwrites it, Redis's entry is judged again: v1 filled anew is a resurrection.
    let refilled = restored_by_failover(|b| b.fill(60, "redis-0", Tier::Redis, "k", 1));
    assert_broken(&refilled.judge(Invariant::NoResurrection), Invariant::NoResurrection);
}

#[test]
fn serving_or_propagating_a_restored_entry_is_caught() {
    // A read after the promotion that returns the restored v1.
    let served = || {
        restored_by_failover(|b| {
            b.read(55, 56, 1, "k", Some(7), 1);
        })
    };
    assert_broken(&served().judge(Invariant::NoResurrection), Invariant::NoResurrection);
    assert_broken(&served().judge(Invariant::InvalidationBarrier), Invariant::InvalidationBarrier);
    // An upper tier filled from it.
    let propagated = || restored_by_failover(|b| b.fill(55, "l2-0", Tier::L2, "k", 1));
    assert_broken(&propagated().judge(Invariant::NoResurrection), Invariant::NoResurrection);
    assert_broken(&propagated().judge(Invariant::InvalidationBarrier), Invariant::InvalidationBarrier);
}

// ---- monotonic-reads and read-your-writes ----------------------------------------------------

/// p0 reads v2, then `reader` reads v1.
fn two_reads(reader: u64) -> Builder {
    let mut b = Builder::with_nodes();
    b.commit(0, 2, 2, "k", Some(1), 1);
    b.commit(3, 5, 2, "k", Some(2), 2);
    b.read(10, 11, 0, "k", Some(2), 2);
    b.read(20, 21, reader, "k", Some(1), 1);
    b
}

#[test]
fn monotonic_reads_is_per_session() {
    assert_broken(&two_reads(0).judge(Invariant::MonotonicReads), Invariant::MonotonicReads);
    assert_holds(&two_reads(1).judge(Invariant::MonotonicReads));
}

/// p0 writes v2; `reader` then reads v1.
fn write_then_read(reader: u64) -> Builder {
    let mut b = Builder::with_nodes();
    b.commit(0, 2, 2, "k", Some(1), 1);
    b.commit(3, 5, 0, "k", Some(2), 2);
    b.read(10, 11, reader, "k", Some(1), 1);
    b
}

#[test]
fn read_your_writes_is_per_session() {
    assert_broken(&write_then_read(0).judge(Invariant::ReadYourWrites), Invariant::ReadYourWrites);
    assert_holds(&write_then_read(1).judge(Invariant::ReadYourWrites));
    // Monotonic reads has nothing to say about it: the session read only once.
    assert_holds(&write_then_read(0).judge(Invariant::MonotonicReads));
}

// ---- tier-order ------------------------------------------------------------------------------

/// L3 holds v1; v2 is committed; app-0's L1 is filled with v2. `floor_reached_l3`: the
/// invalidation of v2 reached L3 (its floor rose) without dropping v1.
fn inverted(floor_reached_l3: bool) -> Builder {
    let mut b = Builder::with_nodes();
    b.commit(0, 1, 1, "k", Some(1), 1);
    b.fill(2, "l3-0", Tier::L3, "k", 1);
    let op = b.invoke(3, 1, OpFn::Write, "k", Some(2));
    b.internal(4, ModelEvent::Commit { key: "k".into(), version: 2, value: Some(2), op });
    if floor_reached_l3 {
        b.internal(5, ModelEvent::Floor { node: "l3-0".into(), tier: Tier::L3, key: "k".into(), version: 2 });
    }
    b.fill(6, "app-0", Tier::L1, "k", 2);
    b
}

#[test]
fn tier_order_catches_a_deep_tier_behind_after_its_invalidation_arrived() {
    let j = inverted(true).judge(Invariant::TierOrder);
    assert_broken(&j, Invariant::TierOrder);
    assert!(j.violations[0].message.contains("l3-0/L3 held v1 below its floor v2"));
}

#[test]
fn tier_order_allows_a_deep_tier_behind_while_its_invalidation_is_on_its_way() {
    assert_holds(&inverted(false).judge(Invariant::TierOrder));
}

#[test]
fn tier_order_catches_a_tier_ahead_of_the_database() {
    let fill_of = |version: u64| {
        let mut b = Builder::with_nodes();
        b.commit(0, 1, 1, "k", Some(1), 1);
        b.commit(2, 3, 1, "k", Some(2), 2);
        b.fill(4, "redis-0", Tier::Redis, "k", version);
        b.judge(Invariant::TierOrder)
    };
    assert_broken(&fill_of(3), Invariant::TierOrder);
    assert_holds(&fill_of(2));
}

// ---- ttl-bound -------------------------------------------------------------------------------

/// L2 (TTL 100 ms) filled at 0 ms serves at `now_ns` on its clock.
fn served_at(now_ns: u64) -> Builder {
    let mut b = Builder::with_nodes();
    b.internal(
        500,
        ModelEvent::Serve {
            node: "l2-0".into(),
            tier: Tier::L2,
            key: "k".into(),
            version: 1,
            op: None,
            now_local_ns: now_ns,
            filled_at_local_ns: 0,
            tier_ttl_ns: Some(100 * MS),
            origin_ns: 0,
            tags: Vec::new(),
        },
    );
    b
}

#[test]
fn ttl_bound_is_violated_at_filled_at_plus_ttl_and_not_one_ns_before() {
    assert_broken(&served_at(100 * MS).judge(Invariant::TtlBound), Invariant::TtlBound);
    assert_holds(&served_at(100 * MS - 1).judge(Invariant::TtlBound));
}

// ---- tag-complete ----------------------------------------------------------------------------

/// InvalidateTag(t) runs from 10 to 20 ms; a read at 30 ms is answered by the given tiers, each
/// with data read from the database at its `origin_ms`.
fn tag_read(serves: &[(&str, Tier, u64)]) -> Builder {
    let mut b = Builder::with_nodes();
    let ti = b.invoke(10, 0, OpFn::InvalidateTag, "t", None);
    b.client(20, ti, EventType::Ok, None, None);
    let read = b.invoke(30, 1, OpFn::Read, "t:1", None);
    for (node, tier, origin_ms) in serves {
        b.internal(
            30,
            ModelEvent::Serve {
                node: node.to_string(),
                tier: *tier,
                key: "t:1".into(),
                version: 0,
                op: Some(read),
                now_local_ns: 30 * MS,
                filled_at_local_ns: 25 * MS,
                tier_ttl_ns: Some(1_000 * MS),
                origin_ns: origin_ms * MS,
                tags: vec!["t".into()],
            },
        );
    }
    b.client(31, read, EventType::Ok, None, Some(0));
    b
}

#[test]
fn tag_complete_catches_data_read_before_the_invalidation_began() {
    assert_broken(&tag_read(&[("l2-0", Tier::L2, 9)]).judge(Invariant::TagComplete), Invariant::TagComplete);
    // Read from the database the instant the invalidation began: not before it.
    assert_holds(&tag_read(&[("l2-0", Tier::L2, 10)]).judge(Invariant::TagComplete));
}

#[test]
fn tag_complete_judges_the_serving_tier_nearest_the_app() {
    // Redis held old data but the read was answered by a fresh L1 entry.
    let fresh_l1 = [("redis-0", Tier::Redis, 5), ("app-1", Tier::L1, 12)];
    assert_holds(&tag_read(&fresh_l1).judge(Invariant::TagComplete));
    let stale_l1 = [("redis-0", Tier::Redis, 12), ("app-1", Tier::L1, 5)];
    assert_broken(&tag_read(&stale_l1).judge(Invariant::TagComplete), Invariant::TagComplete);
}

// ---- slo -------------------------------------------------------------------------------------

/// One write committed at 0 ms and acknowledged at `ok_ms`.
fn acknowledged_after(ok_ms: u64) -> Builder {
    let mut b = Builder::with_nodes();
    b.commit(0, ok_ms, 0, "k", Some(1), 1);
    b
}

#[test]
fn slo_bounds_invalidation_latency_p99_at_50_ms() {
    assert_broken(&acknowledged_after(51).judge(Invariant::Slo), Invariant::Slo);
    assert_holds(&acknowledged_after(50).judge(Invariant::Slo));
}

#[test]
fn latency_is_reported_even_when_slo_is_not_claimed() {
    let j = acknowledged_after(51).judge(Invariant::TtlBound);
    assert_holds(&j);
    let p = j.latency.invalidation.expect("one sample");
    assert_eq!((p.samples, p.p50_ns, p.p99_ns), (1, 51 * MS, 51 * MS));
    assert!(j.latency.warming.is_none());
}

#[test]
fn slo_measures_the_cascade_to_the_last_floor_raised() {
    let cascade = |last_ms: u64| {
        let mut b = acknowledged_after(10);
        for (node, t_ms) in [("redis-0", 2), ("l3-0", 5), ("l2-0", last_ms)] {
            b.internal(
                t_ms,
                ModelEvent::Floor { node: node.into(), tier: Tier::L2, key: "k".into(), version: 1 },
            );
        }
        b.judge(Invariant::Slo)
    };
    assert_broken(&cascade(101), Invariant::Slo);
    let j = cascade(100);
    assert_holds(&j);
    assert_eq!(j.latency.cascade.unwrap().p99_ns, 100 * MS);
}

/// v1 committed at 0 ms and filled into L2; v2 committed at 100 ms; L2 drops v1 at
/// `removed_ms` (never: it stays live to the end of the run, past 300 ms).
fn converging(removed_ms: Option<u64>) -> Builder {
    let mut b = Builder::with_nodes();
    b.commit(0, 5, 0, "k", Some(1), 1);
    b.fill(6, "l2-0", Tier::L2, "k", 1);
    b.commit(100, 110, 0, "k", Some(2), 2);
    if let Some(t) = removed_ms {
        let cause = RemoveCause::Invalidate;
        b.internal(
            t,
            ModelEvent::Remove { node: "l2-0".into(), tier: Tier::L2, key: "k".into(), version: 1, cause },
        );
    }
    b.read(300, 301, 1, "k", Some(2), 2);
    b
}

#[test]
fn slo_bounds_convergence_p99_at_30_ms() {
    assert_broken(&converging(Some(131)).judge(Invariant::Slo), Invariant::Slo);
    assert_holds(&converging(Some(130)).judge(Invariant::Slo));
    // A commit that never converged is slower than any bound.
    let j = converging(None).judge(Invariant::Slo);
    assert_broken(&j, Invariant::Slo);
    assert!(j.violations[0].message.contains("never converged"), "{}", j.violations[0].message);
}

#[test]
fn slo_excuses_a_sample_a_network_fault_overlapped_but_not_clock_skew() {
    let with = |fault: Fault, heal: Option<Fault>| {
        let mut b = converging(Some(131));
        b.events.push(Event::Fault { time_ns: 120 * MS, fault });
        if let Some(h) = heal {
            b.events.push(Event::Fault { time_ns: 125 * MS, fault: h });
        }
        b.events.sort_by_key(|e| e.time_ns()); // faults in their place in time
        b.judge(Invariant::Slo)
    };
    assert_holds(&with(Fault::LossStart { per_mille: 100 }, Some(Fault::LossEnd)));
    let skew = Fault::ClockSkew { node: "l2-0".into(), skew_ns: 5_000_000, drift_ppm: 0 };
    assert_broken(&with(skew, None), Invariant::Slo);
    // A fault healed before the sample began excuses nothing.
    let mut b = converging(Some(131));
    b.events.push(Event::Fault { time_ns: 50 * MS, fault: Fault::LossStart { per_mille: 100 } });
    b.events.push(Event::Fault { time_ns: 60 * MS, fault: Fault::LossEnd });
    b.events.sort_by_key(|e| e.time_ns());
    assert_broken(&b.judge(Invariant::Slo), Invariant::Slo);
}

/// One batch of 20 keys, each committed at 0 ms; the batch's warm is invoked at 2 ms and
/// completes at `ok_ms`; Redis holds the current version of the first `warmed` keys by then.
fn warmed(warmed: usize, ok_ms: u64) -> (Builder, BTreeMap<String, Vec<String>>) {
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let mut b = Builder::with_nodes();
    for k in &keys {
        b.commit(0, 1, 0, k, Some(1), 1);
    }
    let op = b.invoke(2, 1, OpFn::Warm, "batch-0", None);
    for k in &keys[..warmed] {
        b.fill(3, "redis-0", Tier::Redis, k, 1);
    }
    b.client(ok_ms, op, EventType::Ok, None, None);
    (b, BTreeMap::from([("batch-0".to_string(), keys)]))
}

#[test]
fn slo_wants_95_percent_of_warm_keys_warmed_within_200_ms() {
    let judge = |(b, batches): (Builder, BTreeMap<String, Vec<String>>)| {
        b.judge_with_batches(Invariant::Slo, &batches)
    };
    assert_holds(&judge(warmed(19, 150)));
    let j = judge(warmed(18, 150));
    assert_broken(&j, Invariant::Slo);
    assert!(j.violations[0].message.contains("18 of 20 keys"), "{}", j.violations[0].message);
    // Every key warmed, but the batch took longer than 200 ms: none was warmed in time.
    assert_holds(&judge(warmed(20, 202)));
    let j = judge(warmed(20, 203));
    assert_broken(&j, Invariant::Slo);
    assert!(j.violations.iter().any(|v| v.message.contains("0 of 20 keys")), "{:#?}", j.violations);
}

// ---- live ------------------------------------------------------------------------------------

/// A write invoked at 10 ms that ends `info` at 1010 ms, with the given faults.
fn timed_out(faults: &[(u64, Fault)]) -> Builder {
    let mut b = Builder::with_nodes();
    let op = b.invoke(10, 0, OpFn::Write, "k", Some(1));
    for (t_ms, f) in faults {
        b.events.push(Event::Fault { time_ns: t_ms * MS, fault: f.clone() });
    }
    b.client(1010, op, EventType::Info, Some(1), None);
    b.internal(2000, ModelEvent::Start { node: "app-0".into() });
    b
}

#[test]
fn live_catches_an_indeterminate_op_with_no_fault_in_force() {
    let clog = Fault::ClogNode { node: "l2-0".into() };
    let unclog = Fault::UnclogNode { node: "l2-0".into() };
    assert_broken(&timed_out(&[]).judge(Invariant::Live), Invariant::Live);
    // A partition healed before the op began does not excuse it.
    assert_broken(
        &timed_out(&[(1, clog.clone()), (5, unclog.clone())]).judge(Invariant::Live),
        Invariant::Live,
    );
    // One in force during it does.
    assert_holds(&timed_out(&[(500, clog.clone()), (1500, unclog)]).judge(Invariant::Live));
    // So does one never healed.
    assert_holds(&timed_out(&[(500, clog)]).judge(Invariant::Live));
}

#[test]
fn live_catches_an_op_that_never_completed() {
    let mut b = Builder::with_nodes();
    b.invoke(10, 0, OpFn::Read, "k", None);
    b.internal(2000, ModelEvent::Start { node: "app-0".into() });
    assert_broken(&b.judge(Invariant::Live), Invariant::Live);
}

// ---- value-integrity (checked on every run, whatever is claimed) ----------------------------

/// k: v1 = 7, v2 = 9, v3 deletes; then one read by p1 that returned `value` as `version`.
/// Claimed: only `converged` (nothing about reads), so anything found is `value-integrity`.
fn read_after_three_commits(value: Option<i64>, version: u64, claim: Invariant) -> Judgement {
    let mut b = Builder::with_nodes();
    b.commit(0, 5, 0, "k", Some(7), 1);
    b.commit(10, 15, 0, "k", Some(9), 2);
    b.commit(20, 25, 0, "k", None, 3);
    b.read(30, 31, 1, "k", value, version);
    b.judge(claim)
}

#[test]
fn value_integrity_catches_the_right_version_with_a_wrong_value() {
    // v1 was 7: 9 is a later commit's value, the temptation a version-only check falls for.
    let j = read_after_three_commits(Some(9), 1, Invariant::Converged);
    assert_broken(&j, Invariant::ValueIntegrity);
    assert!(j.violations[0].message.contains("the database committed 7 as v1"), "{:#?}", j.violations);
    // A delete's version is absent, never a value.
    assert_broken(&read_after_three_commits(Some(9), 3, Invariant::Converged), Invariant::ValueIntegrity);
    // Version 0 is the initial absent state.
    assert_broken(&read_after_three_commits(Some(7), 0, Invariant::Converged), Invariant::ValueIntegrity);
}

#[test]
fn value_integrity_passes_the_committed_values_and_absences() {
    for (value, version) in [(Some(7), 1), (Some(9), 2), (None, 3), (None, 0)] {
        assert_holds(&read_after_three_commits(value, version, Invariant::Converged));
    }
}

#[test]
fn a_read_of_a_version_never_committed_is_a_violation_not_a_panic() {
    // Claiming `linearizable` once made the commit-order checker panic on such a read.
    for claim in [Invariant::Linearizable, Invariant::Converged] {
        let j = read_after_three_commits(Some(9), 56, claim);
        assert_broken(&j, Invariant::ValueIntegrity);
        let m = &j.violations[0].message;
        assert!(m.contains("the database never committed v56; its latest commit below it was v3"), "{m}");
    }
    // Its twin, a read of the latest committed version, is linearizable.
    assert_holds(&read_after_three_commits(None, 3, Invariant::Linearizable));
}
