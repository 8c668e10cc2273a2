//! The walking skeleton's acceptance: `cache-aside` loses the stale-set race (scenario fill-race) and `versioned`
//! does not; a failure replays exactly from its replay file.

use tiersim_model::node::config::CacheOp;
use tiersim_model::outcome::Verdict;
use tiersim_scenarios::{run_schedule, run_seed};
use tiersim_sim::replay::{hash_hex, Expected, ReplayFile, FORMAT_VERSION};
use tiersim_tests::{protocol, scenario, seeds};

#[test]
fn cache_aside_loses_the_stale_set_race_below_seed_200() {
    let s = scenario("fill-race");
    let failure = (0..200)
        .map(|seed| run_seed(&*s, protocol("cache-aside"), seed, &[]))
        .find(|o| o.verdict == Verdict::Fail)
        .expect("cache_aside must fail some seed below 200");
    let v = &failure.violations[0];
    assert_eq!(v.invariant, "invalidation-barrier", "{v:?}");
    assert!(v.message.contains("Redis"), "the stale entry is in Redis: {}", v.message);
}

#[test]
fn versioned_passes_every_seed() {
    let s = scenario("fill-race");
    for seed in seeds(200) {
        let o = run_seed(&*s, protocol("versioned"), seed, &[]);
        assert_eq!(
            o.verdict,
            Verdict::Pass,
            "seed {seed}: {:?} {:?}\nreproduce: {}",
            o.violations.first(),
            o.abort,
            tiersim_scenarios::reproduce_command("fill-race", "versioned", seed)
        );
        assert!(o.ops > 0 && o.max_staleness_ns < 1_700_000_000);
    }
}

#[test]
fn a_failure_replays_exactly_from_its_file() {
    let s = scenario("fill-race");
    let p = protocol("cache-aside");
    let o = (0..200)
        .map(|seed| run_seed(&*s, p.clone(), seed, &[]))
        .find(|o| o.verdict == Verdict::Fail)
        .unwrap();
    let file = ReplayFile {
        format_version: FORMAT_VERSION,
        tiersim_version: "test".into(),
        scenario: "fill-race".into(),
        protocol: "cache-aside".into(),
        config: tiersim_scenarios::config_json(&*s),
        seed: o.seed,
        schedule: s.schedule(o.seed),
        expected: Expected { verdict: "fail".into(), invariant: o.invariant() },
        trace_hash: hash_hex(o.trace_hash),
        summary: "test".into(),
    };
    let dir = std::env::temp_dir().join(format!("tiersim-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("r.json");
    file.save(&path).unwrap();
    let loaded: ReplayFile<CacheOp> = ReplayFile::load(&path).unwrap();
    assert_eq!(loaded, file);
    let again = run_schedule(&*s, p, loaded.seed, &loaded.schedule, &[]);
    assert_eq!(hash_hex(again.trace_hash), loaded.trace_hash, "replay must be exact");
    assert_eq!(again.invariant(), loaded.expected.invariant);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_panic_in_protocol_code_is_a_crash_verdict_not_a_crash() {
    use tiersim_model::node::config::SystemConfig;
    use tiersim_model::protocol::app::App;
    use tiersim_model::protocol::{Claims, OpError, Protocol};
    use tiersim_model::state::database::Row;
    struct Panics;
    impl Protocol for Panics {
        fn name(&self) -> String {
            "panics".into()
        }
        fn claims(&self, _: &SystemConfig) -> Claims {
            Claims::default()
        }
        async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
            cx.db().read(key).await.map(|d| d.row())
        }
        async fn write(&self, _: &App, key: &str, _: i64) -> Result<Row, OpError> {
            panic!("user bug while writing {key}")
        }
        async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
            cx.db().write(key, None).await
        }
    }
    let s = scenario("fill-race");
    let o = run_seed(&*s, tiersim_model::protocol::ProtocolFactory::new(|| Panics), 1, &[]);
    assert_eq!(o.verdict, Verdict::Crash);
    assert!(o.abort.as_deref().unwrap_or("").contains("user bug while writing"), "{:?}", o.abort);
    // The process survived and can run the next seed.
    assert_eq!(run_seed(&*s, protocol("versioned"), 1, &[]).verdict, Verdict::Pass);
}
