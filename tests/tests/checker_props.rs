//! Properties of the general linearizability checker on generated histories.
//!
//! The histories come from a small simulated execution: concurrent clients issue reads, writes,
//! deletes and cas on a few keys; each operation takes effect at a random instant inside its
//! interval (or, if its client crashed, at any later instant or never), and the register values
//! that reads and cas see are computed from those instants. Such a history is linearizable by
//! construction, so the checker must pass it; a read of a value nobody wrote is a bug the
//! checker was not told about, so it must be caught; and since keys are independent, the order
//! in which a file interleaves their lines must not matter.

use proptest::prelude::*;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Instant;
use tiersim_sim::check::parse::{build_ops, parse_ops, Op};
use tiersim_sim::check::wgl::{check_ops, min_delta_ns, Budget, CheckReport, KeyVerdict};
use tiersim_sim::history::{ClientEvent, EventType, OpFn, OpValue};
use tiersim_sim::rng::chance;

/// The shape of a simulated execution.
#[derive(Clone, Copy, Debug)]
struct Shape {
    seed: u64,
    processes: u64,
    keys: u64,
    ops_per_process: u64,
    /// Out of 100: how often a client crashes during an operation.
    crash_percent: u64,
}

/// How an operation ends for its client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Ok,
    /// A read, write or delete that was refused before it did anything.
    Refused,
    /// The client crashed: an `info` completion, after which it carries on.
    Info,
    /// The client crashed and never reported back; it issues nothing more.
    Vanished,
}

struct PlannedOp {
    process: u64,
    f: OpFn,
    key: String,
    value: OpValue,
    invoke_ns: u64,
    complete_ns: u64,
    end: End,
    /// When it takes effect, if it does.
    effect_ns: Option<u64>,
}

/// Runs a linearizable execution and returns its client events in time order.
fn simulate(shape: Shape) -> Vec<ClientEvent> {
    let mut rng = tiersim_sim::rng::stream(shape.seed, "synthetic-history");
    let mut planned = Vec::new();
    for process in 0..shape.processes {
        let mut t_ns = rng.gen_range(0..50);
        for _ in 0..shape.ops_per_process {
            let invoke_ns = t_ns + 1 + rng.gen_range(0..30);
            let complete_ns = invoke_ns + 1 + rng.gen_range(0..60);
            let key = format!("k{}", rng.gen_range(0..shape.keys));
            let small = |rng: &mut ChaCha8Rng| Some(1 + rng.gen_range(0..4) as i64);
            let (f, value) = match rng.gen_range(0..10) {
                0..=3 => (OpFn::Read, OpValue::Single(None)),
                4..=6 => (OpFn::Write, OpValue::Single(small(&mut rng))),
                7 => (OpFn::Delete, OpValue::Single(None)),
                _ => {
                    let expected = if chance(&mut rng, 1, 4) { None } else { small(&mut rng) };
                    (OpFn::Cas, OpValue::Cas(expected, small(&mut rng)))
                }
            };
            let end = if chance(&mut rng, shape.crash_percent as u32, 100) {
                if chance(&mut rng, 1, 3) {
                    End::Vanished
                } else {
                    End::Info
                }
            } else if f != OpFn::Cas && chance(&mut rng, 1, 50) {
                End::Refused
            } else {
                End::Ok
            };
            let effect_ns = match end {
                End::Ok => Some(invoke_ns + rng.gen_range(0..complete_ns - invoke_ns + 1)),
                End::Refused => None,
                // A crashed operation may land long after its client gave up, or never.
                End::Info | End::Vanished => {
                    chance(&mut rng, 1, 2).then(|| invoke_ns + rng.gen_range(0..400))
                }
            };
            planned.push(PlannedOp { process, f, key, value, invoke_ns, complete_ns, end, effect_ns });
            if end == End::Vanished {
                break;
            }
            t_ns = complete_ns;
        }
    }

    // Apply the effects in the order they happen, recording what reads and cas observed.
    let mut order: Vec<usize> = (0..planned.len()).filter(|&i| planned[i].effect_ns.is_some()).collect();
    // Operations taking effect at the same instant are concurrent: order them at random.
    let tiebreak: Vec<u64> = (0..planned.len()).map(|_| rng.gen::<u64>()).collect();
    order.sort_by_key(|&i| (planned[i].effect_ns, tiebreak[i]));
    let mut registers: BTreeMap<String, Option<i64>> = BTreeMap::new();
    let mut read_ns: BTreeMap<usize, Option<i64>> = BTreeMap::new();
    let mut cas_failed = vec![false; planned.len()];
    for i in order {
        let op = &planned[i];
        let register = registers.entry(op.key.clone()).or_insert(None);
        match (op.f, op.value) {
            (OpFn::Read, _) => {
                read_ns.insert(i, *register);
            }
            (OpFn::Write, v) => *register = v.single(),
            (OpFn::Delete, _) => *register = None,
            (OpFn::Cas, OpValue::Cas(expected, new)) => {
                if *register == expected {
                    *register = new;
                } else {
                    cas_failed[i] = true;
                }
            }
            (OpFn::Cas, OpValue::Single(_)) => unreachable!("cas ops are planned with pairs"),
            (OpFn::InvalidateTag | OpFn::Warm | OpFn::Append, _) => {
                unreachable!("only register ops are planned")
            }
        }
    }

    let mut events = Vec::new();
    for (i, op) in planned.iter().enumerate() {
        let event = |kind, value, time_ns| ClientEvent {
            process: op.process,
            kind,
            f: op.f,
            key: op.key.clone(),
            value,
            time_ns,
        };
        let invoke_value = if op.f == OpFn::Read { OpValue::Single(None) } else { op.value };
        events.push(event(EventType::Invoke, invoke_value, op.invoke_ns));
        let completion = match op.end {
            End::Ok if op.f == OpFn::Read => {
                Some((EventType::Ok, OpValue::Single(read_ns.get(&i).copied().flatten())))
            }
            End::Ok if cas_failed[i] => Some((EventType::Fail, op.value)),
            End::Ok => Some((EventType::Ok, op.value)),
            End::Refused => Some((EventType::Fail, invoke_value)),
            End::Info => Some((EventType::Info, OpValue::Single(None))),
            End::Vanished => None,
        };
        if let Some((kind, value)) = completion {
            events.push(event(kind, value, op.complete_ns));
        }
    }
    events.sort_by_key(|e| e.time_ns);
    events
}

fn to_text(events: &[ClientEvent]) -> String {
    events.iter().map(|e| serde_json::to_string(e).expect("events serialize")).collect::<Vec<_>>().join("\n")
}

/// A key's verdict without line numbers: violation time, message and window (process, invoke).
type Detail = Option<(u64, String, Vec<(u64, u64)>)>;

/// A report with line numbers removed, to compare checks of the same events in other orders.
fn without_lines(report: &CheckReport) -> Vec<(String, Detail)> {
    report
        .results
        .iter()
        .map(|r| {
            let detail = match &r.verdict {
                KeyVerdict::Linearizable => None,
                KeyVerdict::NotLinearizable { window, time_ns, message } => Some((
                    *time_ns,
                    message.clone(),
                    window.iter().map(|o| (o.process, o.invoke_ns)).collect(),
                )),
                KeyVerdict::Unknown { reason } => Some((0, reason.clone(), Vec::new())),
            };
            (r.key.clone(), detail)
        })
        .collect()
}

fn shapes() -> impl Strategy<Value = Shape> {
    (any::<u64>(), 1u64..7, 1u64..4, 1u64..25, 0u64..20).prop_map(
        |(seed, processes, keys, ops_per_process, crash_percent)| Shape {
            seed,
            processes,
            keys,
            ops_per_process,
            crash_percent,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A history produced by a linearizable execution always passes, and is 0-atomic.
    #[test]
    fn linearizable_executions_pass(shape in shapes()) {
        let events = simulate(shape);
        let ops = parse_ops(&to_text(&events)).expect("generated history parses");
        let report = check_ops(&ops, &Budget::default());
        prop_assert_eq!(report.ok(), Some(true), "{:?}", report);
        prop_assert_eq!(min_delta_ns(&ops, &Budget::default()), Some(0));
    }

    /// A read of a value that nobody wrote is always caught, on its key, with it in the window.
    #[test]
    fn a_read_of_an_unwritten_value_fails(shape in shapes(), at_ns in 0u64..1500, key in 0u64..3) {
        let mut events = simulate(shape);
        let key = format!("k{}", key % shape.keys);
        let read = |kind, value| ClientEvent {
            process: 1_000_000,
            kind,
            f: OpFn::Read,
            key: key.clone(),
            value: OpValue::Single(value),
            time_ns: at_ns,
        };
        events.push(read(EventType::Invoke, None));
        let mut done = read(EventType::Ok, Some(999_999));
        done.time_ns = at_ns + 7;
        events.push(done);
        let ops = build_ops(&events).expect("pairs");
        let report = check_ops(&ops, &Budget::default());
        prop_assert_eq!(report.ok(), Some(false));
        let bad: Vec<_> = report.violations().collect();
        prop_assert_eq!(bad.len(), 1);
        prop_assert_eq!(&bad[0].key, &key);
        let KeyVerdict::NotLinearizable { window, time_ns, .. } = &bad[0].verdict else {
            unreachable!()
        };
        prop_assert_eq!(*time_ns, at_ns);
        prop_assert!(window.iter().any(|o: &Op| o.process == 1_000_000));
        prop_assert_eq!(min_delta_ns(&ops, &Budget::default()), None);
    }

    /// Interleaving the lines of different keys differently changes nothing, even for a
    /// history with a violation in it.
    #[test]
    fn shuffling_independent_keys_changes_nothing(
        shape in shapes(),
        shuffle_seed in any::<u64>(),
        corrupt in any::<bool>(),
    ) {
        let mut events = simulate(shape);
        let mut corrupted = false;
        if corrupt {
            // Make one ok read claim a value nobody wrote.
            if let Some(e) = events.iter_mut().find(|e| e.f == OpFn::Read && e.kind == EventType::Ok) {
                e.value = OpValue::Single(Some(424_242));
                corrupted = true;
            }
        }
        let original = parse_ops(&to_text(&events)).expect("parses");
        let before = check_ops(&original, &Budget::default());

        // Per key, the lines keep their order; the keys are interleaved at random.
        let mut per_key: BTreeMap<String, std::collections::VecDeque<ClientEvent>> = BTreeMap::new();
        for e in &events {
            per_key.entry(e.key.clone()).or_default().push_back(e.clone());
        }
        let mut rng = tiersim_sim::rng::stream(shuffle_seed, "synthetic-history");
        let mut shuffled = Vec::new();
        loop {
            let live: Vec<String> =
                per_key.iter().filter(|(_, q)| !q.is_empty()).map(|(k, _)| k.clone()).collect();
            if live.is_empty() {
                break;
            }
            let pick = &live[rng.gen_range(0..live.len() as u64) as usize];
            shuffled.push(per_key.get_mut(pick).and_then(|q| q.pop_front()).expect("non-empty"));
        }
        let after = check_ops(&parse_ops(&to_text(&shuffled)).expect("parses"), &Budget::default());
        prop_assert_eq!(before.ok(), Some(!corrupted));
        prop_assert_eq!(without_lines(&before), without_lines(&after));
    }
}

/// A 200,000-operation history over many keys with 20 clients is checked in bounded memory
/// (each key's search remembers only its own states) and passes.
#[test]
fn a_large_history_is_checked() {
    let started = Instant::now();
    let events =
        simulate(Shape { seed: 7, processes: 20, keys: 1000, ops_per_process: 10_000, crash_percent: 0 });
    let ops = build_ops(&events).expect("pairs");
    assert!(ops.len() >= 195_000, "{} ops", ops.len());
    let report = check_ops(&ops, &Budget::default());
    assert_eq!(report.keys, 1000);
    assert_eq!(report.ok(), Some(true));
    eprintln!(
        "{} ops over {} keys checked in {:.2} s",
        ops.len(),
        report.keys,
        started.elapsed().as_secs_f64()
    );
}
