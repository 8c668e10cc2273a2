//! The fault plan reaches the simulation: partitions make operations indeterminate, a killed
//! node restarts with empty memory, skew moves a node's clock, and all of it is recorded in the
//! history and replays identically.

use tiersim_model::event::ModelEvent;
use tiersim_model::outcome::Verdict;
use tiersim_scenarios::run_schedule;
use tiersim_sim::fault::{Fault, TimedFault};
use tiersim_sim::history::{Event, EventType};
use tiersim_tests::{protocol, scenario};

fn faulty_schedule() -> tiersim_sim::schedule::Schedule<tiersim_model::node::config::CacheOp> {
    let s = scenario("fill-race");
    let mut schedule = s.schedule(1);
    let at = |ms: u64, fault: Fault| TimedFault { at_ns: ms * 1_000_000, fault };
    schedule.faults = vec![
        at(100, Fault::ClockSkew { node: "app-2".into(), skew_ns: 30_000_000, drift_ppm: 0 }),
        at(200, Fault::ClogNode { node: "app-1".into() }),
        at(700, Fault::UnclogNode { node: "app-1".into() }),
        at(900, Fault::Kill { node: "redis-0".into() }),
        at(1200, Fault::Restart { node: "redis-0".into() }),
        at(1300, Fault::LossStart { per_mille: 200 }),
        // Left open on purpose: the quiet phase must heal it.
        at(1400, Fault::ClogLink { a: "app-0".into(), b: "db".into() }),
    ];
    schedule
}

#[test]
fn faults_are_applied_recorded_healed_and_deterministic() {
    let s = scenario("fill-race");
    let schedule = faulty_schedule();
    let a = run_schedule(&*s, protocol("versioned"), 1, &schedule, &[]);
    let b = run_schedule(&*s, protocol("versioned"), 1, &schedule, &[]);
    assert_eq!(a.trace_hash, b.trace_hash, "faulty runs replay identically");
    assert!(matches!(a.verdict, Verdict::Pass | Verdict::Fail), "{:?} {:?}", a.verdict, a.abort);

    let faults: Vec<(u64, &Fault)> = a
        .history
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Fault { time_ns, fault } => Some((*time_ns, fault)),
            _ => None,
        })
        .collect();
    // Applied at its time (madsim's timers fire within a microsecond of their deadline).
    assert_eq!(faults[0].1, &Fault::ClockSkew { node: "app-2".into(), skew_ns: 30_000_000, drift_ppm: 0 });
    assert!((100_000_000..100_001_000).contains(&faults[0].0), "{}", faults[0].0);
    // The open faults are healed after the schedule ends, in the quiet phase.
    let healed: Vec<&Fault> = faults.iter().filter(|(t, _)| *t >= schedule.end_ns).map(|(_, f)| *f).collect();
    assert_eq!(healed, vec![&Fault::LossEnd, &Fault::UnclogLink { a: "app-0".into(), b: "db".into() }]);

    // Redis came back empty after its restart.
    let starts = a
        .history
        .events
        .iter()
        .filter(
            |e| matches!(e, Event::Internal { event: ModelEvent::Start { node }, .. } if node == "redis-0"),
        )
        .count();
    assert_eq!(starts, 2, "redis-0 started once and restarted once");

    // Operations of processes on the partitioned app-1 (processes 1 and 4) did not complete
    // normally while it was cut off.
    let cut_off = a.history.client_events().filter(|e| {
        (e.process == 1 || e.process == 4)
            && matches!(e.kind, EventType::Info | EventType::Fail)
            && (200_000_000..=1_700_000_000).contains(&e.time_ns)
    });
    assert!(cut_off.count() > 0, "a partitioned node's operations must time out");
}

#[test]
fn a_run_without_faults_has_no_indeterminate_operations() {
    let s = scenario("fill-race");
    let o = tiersim_scenarios::run_seed(&*s, protocol("versioned"), 1, &[]);
    assert!(o.history.client_events().all(|e| e.kind != EventType::Info), "no faults, no timeouts");
}

/// Connections (`tiersim_sim::conn`) drop by their stated rule.
mod connections {
    use std::time::Duration;
    use tiersim_sim::conn::{DropCause, CONN_TIMEOUT_NS};
    use tiersim_sim::fault::Fault;
    use tiersim_sim::runtime::{run, RunConfig};

    fn sleep_ns(ns: u64) -> madsim::time::Sleep {
        madsim::time::sleep(Duration::from_nanos(ns))
    }

    /// Each way a connection dies, each next to its near miss that leaves it alive.
    #[test]
    fn connections_drop_by_the_stated_rule_and_only_by_it() {
        let finished = run(3, &RunConfig::default(), |mut world| async move {
            for n in ["client", "server", "other"] {
                world.add_node(n, |_, _| std::future::pending::<()>());
            }
            let conns = world.ctx().conns.clone();
            let clog = |a: &str, b: &str| Fault::ClogLink { a: a.into(), b: b.into() };
            let unclog = |a: &str, b: &str| Fault::UnclogLink { a: a.into(), b: b.into() };
            let mut seen = Vec::new();

            // A partition shorter than the timeout holds; one that lasts it drops.
            let c = conns.open("client", "server").unwrap();
            world.apply(&clog("server", "client"));
            assert!(conns.open("client", "server").is_err(), "no connect across a partition");
            sleep_ns(CONN_TIMEOUT_NS - 1_000_000).await;
            world.apply(&unclog("client", "server"));
            sleep_ns(CONN_TIMEOUT_NS).await;
            seen.push(("short partition", conns.is_open(c)));
            world.apply(&Fault::ClogNode { node: "server".into() });
            sleep_ns(CONN_TIMEOUT_NS + 1_000_000).await;
            world.apply(&Fault::UnclogNode { node: "server".into() });
            seen.push(("long partition", conns.is_open(c)));
            assert_eq!(conns.drop_cause(c), Some(DropCause::Partition));

            // A partition elsewhere, a reset of another pair, loss: nothing drops.
            let c = conns.open("client", "server").unwrap();
            world.apply(&clog("other", "server"));
            world.apply(&Fault::DropConnection { client: "other".into(), server: "server".into() });
            world.apply(&Fault::LossStart { per_mille: 1000 });
            sleep_ns(2 * CONN_TIMEOUT_NS).await;
            world.apply(&Fault::LossEnd);
            world.apply(&unclog("other", "server"));
            seen.push(("unrelated faults", conns.is_open(c)));
            world.apply(&Fault::DropConnection { client: "client".into(), server: "server".into() });
            seen.push(("reset", conns.is_open(c)));
            assert_eq!(conns.closed(c).await, DropCause::Reset);

            // A kill drops at once, and nothing connects to a node that is down until it restarts.
            let c = conns.open("client", "server").unwrap();
            world.apply(&Fault::Kill { node: "server".into() });
            seen.push(("kill", conns.is_open(c)));
            assert!(conns.open("client", "server").is_err(), "no connect to a dead node");
            world.apply(&Fault::Restart { node: "server".into() });
            let c = conns.open("client", "server").unwrap();
            conns.close(c);
            seen.push(("closed", conns.is_open(c)));
            seen
        });
        let expected = vec![
            ("short partition", true),
            ("long partition", false),
            ("unrelated faults", true),
            ("reset", false),
            ("kill", false),
            ("closed", false),
        ];
        assert_eq!(finished.result, Ok(expected));
    }
}
