//! Bad input meets the CLI: replay files are user input (shared, edited, old), so every value in
//! one is validated before a run starts. Bad input is one line on stderr naming the file, the
//! field and what is allowed, exit 2, and nothing created or replaced; never a panic, a hang or
//! a `crash` verdict.
//!
//! Two kinds of test: the cases issue 17 listed, through the built binary (one each, named after
//! what broke), and a proptest fuzzer that mutates valid replay files in-process through the
//! same validate-and-load path the commands use (`parse_replay`, `config_from_json`) and runs
//! whatever it accepts under a small step budget and time limit.

use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tiersim_model::outcome::Verdict;
use tiersim_sim::replay::{hash_hex, Expected, ReplayFile, FORMAT_VERSION};

fn tiersim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tiersim")).args(args).output().expect("run tiersim")
}

/// Exit 2 with exactly one line on stderr, and no panic text anywhere.
fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "bad input exits 2: {out:?}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tiersim-bad-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A valid replay file of one seed, built in-process as `run --save` builds it.
fn replay_value(scenario: &str, protocol: &str, seed: u64) -> Value {
    let s = tiersim_scenarios::by_name(scenario).unwrap();
    let p = tiersim_model::protocols::by_name(protocol).unwrap();
    let o = tiersim_scenarios::run_seed(&*s, p.clone(), seed, &[]);
    let file = ReplayFile {
        format_version: FORMAT_VERSION,
        tiersim_version: "0.1.0".into(),
        scenario: scenario.into(),
        protocol: protocol.into(),
        config: tiersim_scenarios::config_json(&*s),
        seed,
        schedule: s.schedule(seed),
        expected: Expected { verdict: o.verdict.name().into(), invariant: o.invariant() },
        trace_hash: hash_hex(o.trace_hash),
        summary: "fuzz base".into(),
    };
    serde_json::to_value(&file).unwrap()
}

/// `value` with the field at `path` (dots and [i]) replaced; unchanged when an earlier mutation
/// removed the path.
fn set(mut value: Value, path: &str, new: Value) -> Value {
    fn find<'a>(mut at: &'a mut Value, path: &str) -> Option<&'a mut Value> {
        for part in path.split('.') {
            let (name, index) = match part.split_once('[') {
                Some((n, i)) => (n, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
                None => (part, None),
            };
            at = at.get_mut(name)?;
            if let Some(i) = index {
                at = at.get_mut(i)?;
            }
        }
        Some(at)
    }
    if let Some(at) = find(&mut value, path) {
        *at = new;
    }
    value
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn every_bad_value_issue_17_listed_is_one_line_and_exit_2_for_replay_shrink_and_report() {
    let dir = temp_dir("values");
    let base = replay_value("restarts", "versioned", 1);
    let failing = replay_value("fill-race", "invalidate-before-commit", 0);
    assert_eq!(failing["expected"]["verdict"], "fail", "the shrink case needs a failing base");
    let max = json!(u64::MAX);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("config.system.l1_capacity", json!(0), "config.system.l1_capacity is 0; allowed 1..="),
        ("config.system.l2_capacity", json!(0), "config.system.l2_capacity"),
        ("config.system.topology.hosts_per_region", json!(0), "config.system.topology.hosts_per_region is 0"),
        ("config.system.topology.processes_per_host", json!(0), "processes_per_host is 0"),
        ("config.system.topology.regions", json!(1u64 << 63), "config.system.topology.regions"),
        ("config.system.topology.redis_shards", json!(0), "redis_shards is 0"),
        ("config.system.run.step_budget", json!(0), "config.system.run.step_budget is 0"),
        ("config.system.run.time_limit_ns", json!(0), "config.system.run.time_limit_ns is 0"),
        ("config.system.run.latency_min_ns", json!(20_000_000), "latency_min_ns"),
        ("config.system.rpc_timeout_ms", json!(0), "config.system.rpc_timeout_ms is 0"),
        ("config.system.l1_ttl_ms", max.clone(), "config.system.l1_ttl_ms"),
        ("config.system.l1_ttl_ms", json!(-1), "config.system.l1_ttl_ms"),
        ("config.system.tags", json!(12), "config.system.tags"),
        ("schedule.end_ns", max.clone(), "schedule.end_ns"),
        ("schedule.ops[0].at_ns", max.clone(), "schedule.ops[0].at_ns"),
        ("schedule.ops[0].op.key", json!(12), "schedule.ops[0].op: invalid type: integer `12`"),
        ("schedule.faults[0].at_ns", max.clone(), "schedule.faults[0].at_ns"),
        ("schedule.faults[0].fault", json!({"kind": "kill", "node": "app-99"}), "\"app-99\""),
        ("schedule.faults[0].fault", json!({"kind": "loss_start", "per_mille": 5000}), "per_mille is 5000"),
        ("expected.verdict", json!("maybe"), "expected.verdict is \"maybe\"; allowed: pass, fail"),
        ("scenario", json!(""), "scenario is empty"),
        ("scenario", json!("nope"), "unknown scenario \"nope\""),
        ("protocol", json!("nope"), "unknown protocol \"nope\""),
    ];
    for (i, (path, value, expect)) in cases.into_iter().enumerate() {
        let file = write(&dir, &format!("bad-{i}.json"), &set(base.clone(), path, value.clone()).to_string());
        let out_html = dir.join(format!("bad-{i}.html"));
        let out_json = dir.join(format!("shrunk-{i}.json"));
        for args in [
            vec!["replay", &file],
            vec!["report", &file, "-o", out_html.to_str().unwrap()],
            vec!["shrink", &file, "-o", out_json.to_str().unwrap()],
        ] {
            let err = one_line_error(&tiersim(&args));
            assert!(err.contains(&file), "{path}={value}: names the file: {err}");
            // shrink refuses a passing file before it reads the field, and says so.
            if args[0] != "shrink" {
                assert!(err.contains(expect), "{args:?} {path}={value}: {err:?} should contain {expect:?}");
            }
        }
        assert!(!out_html.exists() && !out_json.exists(), "{path}: nothing written on bad input");
    }
    // The expected invariant must be one tiersim knows, and shrink needs a positive budget.
    let junk = set(failing.clone(), "expected.invariant", json!("flux-capacitor"));
    let file = write(&dir, "junk-invariant.json", &junk.to_string());
    assert!(one_line_error(&tiersim(&["replay", &file])).contains("expected.invariant \"flux-capacitor\""));
    let good = write(&dir, "failing.json", &failing.to_string());
    let out = dir.join("out.json");
    let err = one_line_error(&tiersim(&["shrink", &good, "-o", out.to_str().unwrap(), "--max-runs", "0"]));
    assert!(err.contains("--max-runs"), "{err}");
    let empty_scenario = write(&dir, "empty-scenario.json", &set(failing, "scenario", json!("")).to_string());
    one_line_error(&tiersim(&["shrink", &empty_scenario, "-o", out.to_str().unwrap()]));
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A failover is only for a Redis shard with a replica: a replay file that fails over another
/// node, or a shard of a system configured without replication, is one line and exit 2.
#[test]
fn a_failover_without_a_replica_or_of_a_non_redis_node_is_refused() {
    let dir = temp_dir("failover");
    let base = serde_json::from_str::<Value>(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../seeds/failover-resurrection.json"))
            .unwrap(),
    )
    .unwrap();
    let faults = base["schedule"]["faults"].as_array().unwrap();
    let i = faults.iter().position(|f| f["fault"]["kind"] == "failover").expect("the seed has a failover");
    let not_redis = set(base.clone(), &format!("schedule.faults[{i}].fault.node"), json!("l3-0"));
    let mut no_replica = base.clone();
    no_replica["config"]["system"].as_object_mut().unwrap().remove("redis_replica_lag_ms");
    for (name, file, expect) in [
        ("not-redis.json", not_redis, "is not a Redis shard"),
        ("no-replica.json", no_replica, "redis_replica_lag_ms is not set"),
    ] {
        let path = write(&dir, name, &file.to_string());
        let err = one_line_error(&tiersim(&["replay", &path]));
        assert!(err.contains(name) && err.contains(expect), "{err}");
    }
    // The file itself is fine.
    let ok = write(&dir, "ok.json", &base.to_string());
    assert_eq!(tiersim(&["replay", &ok]).status.code(), Some(0));
}

#[test]
fn a_key_given_twice_is_refused_with_its_path_not_silently_the_last() {
    let dir = temp_dir("dup");
    let text = serde_json::to_string_pretty(&replay_value("fill-race", "versioned", 2)).unwrap();
    let twice = text.replacen("\"l1_capacity\": 1024", "\"l1_capacity\": 1024, \"l1_capacity\": 1", 1);
    assert_ne!(twice, text);
    let file = write(&dir, "twice.json", &twice);
    let err = one_line_error(&tiersim(&["replay", &file]));
    assert!(err.contains("duplicate key config.system.l1_capacity"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn replay_of_a_shrunk_file_prints_a_reproduce_line_that_replays_the_file() {
    let dir = temp_dir("reproduce");
    let file = write(&dir, "f.json", &replay_value("fill-race", "invalidate-before-commit", 0).to_string());
    let shrunk = dir.join("shrunk.json");
    let out = tiersim(&["shrink", &file, "-o", shrunk.to_str().unwrap(), "--max-runs", "40"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = tiersim(&["replay", shrunk.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("reproduce: ")).expect("a reproduce line");
    assert_eq!(line, format!("reproduce: cargo tiersim replay {}", shrunk.display()));
    let out = tiersim(&["replay", shrunk.to_str().unwrap(), "--json"]);
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["reproduce"], format!("cargo tiersim replay {}", shrunk.display()));
    assert_eq!(j["reproduced"], "exact");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_reproduce_line_reproduces_under_every_strategy() {
    let dir = temp_dir("strategies");
    for strategy in ["pct", "swarm", "coverage"] {
        let save = dir.join(strategy);
        let out = tiersim(&[
            "sweep",
            "--scenario",
            "fill-race",
            "--protocol",
            "cache-aside",
            "--seeds",
            "0..12",
            "--strategy",
            strategy,
            "--save",
            save.to_str().unwrap(),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(1), "{strategy}: cache-aside fails fill-race: {out:?}");
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        let first = &j["failures"][0];
        let line = first["reproduce"].as_str().unwrap();
        let args: Vec<&str> = line.strip_prefix("cargo tiersim ").unwrap().split(' ').collect();
        let mut args = args.clone();
        args.push("--json");
        let again: Value = serde_json::from_slice(&tiersim(&args).stdout).unwrap();
        assert_eq!(again["verdict"], first["verdict"], "{strategy}: {line}");
        if strategy == "coverage" {
            assert_eq!(args[0], "replay", "a coverage seed is reproduced from its file: {line}");
            assert_eq!(again["reproduced"], "exact");
        } else {
            assert!(line.ends_with(&format!("--strategy {strategy}")), "{line}");
            let saved = save.join(format!("fill-race--cache-aside--{strategy}--{}.json", first["seed"]));
            let replayed: Value =
                serde_json::from_slice(&tiersim(&["replay", saved.to_str().unwrap(), "--json"]).stdout)
                    .unwrap();
            assert_eq!(replayed["trace_hash"], again["trace_hash"], "{line} runs the saved schedule");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn outputs_are_checked_before_anything_is_created_or_replaced() {
    let dir = temp_dir("outputs");
    let d = |n: &str| dir.join(n).to_str().unwrap().to_string();
    // explore --out X with a bad scenario creates no X.
    one_line_error(&tiersim(&["explore", "--budget", "1s", "--out", &d("x"), "--scenario", "nope"]));
    assert!(!dir.join("x").exists());
    // An overflowing budget is refused, not wrapped to a few seconds.
    let err = one_line_error(&tiersim(&["explore", "--budget", "3381903080180084463m", "--out", &d("x")]));
    assert!(err.contains("--budget"), "{err}");
    assert!(!dir.join("x").exists());
    // run --save D with a history in a missing directory creates no D.
    let run = ["run", "--scenario", "fill-race", "--protocol", "versioned", "--seed", "1"];
    let history = d("nodir/h.jsonl");
    one_line_error(&tiersim(&[&run[..], &["--save", &d("D"), "--history", &history]].concat()));
    assert!(!dir.join("D").exists() && !dir.join("nodir").exists());
    // -o onto a symlink writes through to its target; the link stays a link.
    let good = write(&dir, "good.json", &replay_value("fill-race", "versioned", 2).to_string());
    std::fs::write(dir.join("target.html"), "old").unwrap();
    std::os::unix::fs::symlink(dir.join("target.html"), dir.join("link.html")).unwrap();
    let out = tiersim(&["report", &good, "-o", &d("link.html")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(std::fs::symlink_metadata(dir.join("link.html")).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(dir.join("target.html")).unwrap().contains("<html"));
    // -o onto a FIFO is refused and the FIFO stays (a device is refused by the same check).
    assert!(Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap().success());
    let err = one_line_error(&tiersim(&["report", &good, "-o", &d("fifo")]));
    assert!(err.contains("not a regular file"), "{err}");
    assert!(!std::fs::metadata(dir.join("fifo")).unwrap().is_file());
    one_line_error(&tiersim(&["report", &good, "-o", "/dev/null"]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bare_tiersim_an_empty_history_and_a_missing_argument_are_bad_input() {
    let err = one_line_error(&tiersim(&[]));
    assert!(err.contains("usage") && err.contains("replay"), "{err}");
    let dir = temp_dir("empty");
    let empty = write(&dir, "empty.jsonl", "");
    assert!(one_line_error(&tiersim(&["check", &empty])).contains("no operations"));
    let err = one_line_error(&tiersim(&["run", "--scenario", "fill-race"]));
    assert!(err.contains("--protocol") && err.contains("--seed"), "names what is missing: {err}");
    let huge = write(&dir, "bom.json", &format!("\u{feff}{}", replay_value("fill-race", "versioned", 2)));
    assert_eq!(tiersim(&["replay", &huge]).status.code(), Some(0), "a byte-order mark is skipped");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `check --html OUT` treats OUT like every output path: a directory, a FIFO, a device or a
/// missing directory is refused before any history is read (exit 2, one line naming OUT), a
/// bad history writes no page, the page's own flags need `--html`, and a good call writes the
/// page through a symlink and names it in its JSON.
#[test]
fn check_html_out_is_checked_before_anything_is_read_and_written_only_for_a_verdict() {
    let dir = temp_dir("check-html");
    let d = |n: &str| dir.join(n).to_str().unwrap().to_string();
    let good = write(
        &dir,
        "good.jsonl",
        "{\"process\": 0, \"type\": \"invoke\", \"f\": \"write\", \"key\": \"k\", \"value\": 1, \"time\": 0}\n\
         {\"process\": 0, \"type\": \"ok\", \"f\": \"write\", \"key\": \"k\", \"value\": 1, \"time\": 10}\n",
    );
    let empty = write(&dir, "empty.jsonl", "");
    std::fs::create_dir_all(dir.join("adir")).unwrap();
    assert!(Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap().success());
    for (out, says) in [
        (d("adir"), "is a directory"),
        (d("fifo"), "not a regular file"),
        ("/dev/null".to_string(), "not a regular file"),
        (d("nodir/page.html"), "does not exist"),
    ] {
        let err = one_line_error(&tiersim(&["check", &good, "--html", &out]));
        assert!(err.contains(&out) && err.contains(says), "{out}: {err}");
    }
    assert!(!dir.join("nodir").exists() && std::fs::metadata(dir.join("adir")).unwrap().is_dir());
    assert!(!std::fs::metadata(dir.join("fifo")).unwrap().is_file(), "the FIFO stays a FIFO");
    // A bad history: no page.
    let err = one_line_error(&tiersim(&["check", &good, &empty, "--html", &d("page.html")]));
    assert!(err.contains("empty.jsonl"), "{err}");
    assert!(!dir.join("page.html").exists(), "a page was written for bad input");
    // The page's flags without a page, or a page of nothing.
    let err = one_line_error(&tiersim(&["check", &good, "--html-key", "k"]));
    assert!(err.contains("--html"), "{err}");
    let err = one_line_error(&tiersim(&["check", &good, "--html", &d("page.html"), "--html-max-ops", "0"]));
    assert!(err.contains("--html-max-ops"), "{err}");
    let err = one_line_error(&tiersim(&["check", &good, "--html", &d("page.html"), "--html-key", "nope"]));
    assert!(err.contains("\"nope\"") && err.contains("\"k\""), "names the key and the ones there are: {err}");
    assert!(!dir.join("page.html").exists());
    // Through a symlink to an existing file: the file gets the page, the link stays.
    std::fs::write(dir.join("target.html"), "old").unwrap();
    std::os::unix::fs::symlink(dir.join("target.html"), dir.join("link.html")).unwrap();
    let out = tiersim(&["check", &good, "--html", &d("link.html"), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(json["html"], d("link.html"));
    assert_eq!(json["ok"], true);
    assert!(std::fs::symlink_metadata(dir.join("link.html")).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(dir.join("target.html")).unwrap().contains("data-line=\"1\""));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--jobs` past what a machine can start is refused up front, not a panic at thread or process
/// spawn halfway through a sweep; nothing is saved.
#[test]
fn jobs_out_of_range_is_one_line_and_nothing_is_created() {
    let dir = temp_dir("jobs");
    let save = dir.join("never");
    for jobs in ["0", "257", "100000"] {
        let out =
            tiersim(&["sweep", "--scenario", "fill-race", "--jobs", jobs, "--save", save.to_str().unwrap()]);
        let err = one_line_error(&out);
        assert!(err.contains("--jobs") && err.contains("1 to 256"), "{err}");
    }
    assert!(!save.exists(), "a refused sweep created its save directory");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Leaf paths of a JSON value, grouped by the part of the file they are in, so that the fuzzer
/// mutates the configuration and the faults as often as the hundreds of operations.
fn leaf_paths(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                leaf_paths(x, p.clone(), out);
                out.push(p);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate().take(4) {
                let p = format!("{path}[{i}]");
                leaf_paths(x, p.clone(), out);
                out.push(p);
            }
        }
        _ => {}
    }
}

fn nasty_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(1)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1u64 << 63)),
        Just(json!(5000)),
        Just(json!(1_000_000_000_000_000u64)),
        Just(json!(1.5e300)),
        Just(json!("")),
        Just(json!("nope")),
        Just(json!("app-99")),
        Just(json!("db")),
        Just(json!(true)),
        Just(Value::Null),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"kind": "kill", "node": "l2-7"})),
        Just(json!({"kind": "shaping_start", "max_delay_ns": u64::MAX, "dup_per_mille": 0})),
        Just(json!({"kind": "clock_skew", "node": "db", "skew_ns": i64::MIN, "drift_ppm": -1_000_000})),
        Just(json!({"f": "warm", "batch": "", "keys": []})),
        (0u64..20_000_000).prop_map(|n| json!(n)),
    ]
}

/// What the commands do with a replay file's text, in-process: validate and load (the error is
/// the one line the CLI prints), then run what was accepted under a small step budget and time
/// limit. Returns the verdict of an accepted file.
fn load_and_run(text: &str) -> Result<Verdict, String> {
    let file = tiersim_scenarios::parse_replay(text)?;
    let protocol = tiersim_model::protocols::by_name(&file.protocol).ok_or("unknown protocol")?;
    tiersim_scenarios::by_name(&file.scenario).ok_or("unknown scenario")?;
    let mut config = tiersim_scenarios::config_from_json(&file.config).expect("parse_replay checked it");
    config.run.step_budget = config.run.step_budget.min(300_000);
    config.run.time_limit_ns = config.run.time_limit_ns.min(120_000_000_000);
    Ok(tiersim_scenarios::run_in(&config, protocol, file.seed, &file.schedule, &[]).verdict)
}

/// The valid files the fuzzer mutates: kills and restarts, packet loss, clock skew, and a failing
/// run. Built once: each is a simulation run.
fn bases() -> &'static [Value] {
    static BASES: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    BASES.get_or_init(|| {
        [
            ("restarts", "versioned", 1),
            ("lossy-fanout", "versioned", 1),
            ("clock-skew", "versioned", 1),
            ("fill-race", "invalidate-before-commit", 0),
        ]
        .iter()
        .map(|(s, p, seed)| replay_value(s, p, *seed))
        .collect()
    })
}

/// The fuzzers' configuration. In `cargo test` (and so in CI) they draw the same cases every
/// run, so a green suite stays green until the code changes; `TIERSIM_FUZZ_RANDOM=1` draws new
/// ones (a nightly job's setting), and a failure then prints its minimal input to keep as a case.
fn fuzz_config(cases: u32) -> ProptestConfig {
    let rng_seed = if std::env::var_os("TIERSIM_FUZZ_RANDOM").is_some() {
        proptest::test_runner::RngSeed::Random
    } else {
        proptest::test_runner::RngSeed::Fixed(0x7153_5eed)
    };
    ProptestConfig { cases, failure_persistence: None, rng_seed, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(fuzz_config(200))]

    /// Mutated replay files (one to three fields set to zero, huge, negative, of the wrong type
    /// or naming what does not exist; or a key given twice) are refused with one line, or run to
    /// a verdict that is not `crash` (a crash is a panic that validation let through).
    #[test]
    fn mutated_replay_files_are_refused_in_one_line_or_run_without_a_crash(
        base in 0usize..4,
        picks in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), nasty_value()), 1..4),
        duplicate in any::<Option<prop::sample::Index>>(),
    ) {
        let mut value = bases()[base].clone();
        let mut paths = Vec::new();
        leaf_paths(&value, String::new(), &mut paths);
        let groups: Vec<Vec<&String>> = ["config", "schedule.faults", "schedule.ops", ""]
            .iter()
            .map(|g| paths.iter().filter(|p| if g.is_empty() {
                !p.starts_with("config") && !p.starts_with("schedule.faults") && !p.starts_with("schedule.ops")
            } else { p.starts_with(g) }).collect())
            .collect();
        for (group, path, new) in &picks {
            let group = group.get(&groups);
            if group.is_empty() { continue; }
            value = set(value, path.get(group).as_str(), new.clone());
        }
        let mut text = serde_json::to_string_pretty(&value).unwrap();
        if let Some(i) = duplicate {
            // Give one line's key a second value: `"k": v,` becomes `"k": v, "k": 0,`.
            let lines: Vec<&str> = text.lines().collect();
            let l = i.index(lines.len());
            if let Some((key, _)) = lines[l].trim().split_once(": ") {
                if lines[l].trim_end().ends_with(',') {
                    let doubled = format!("{} {key}: 0,", lines[l]);
                    text = lines.iter().enumerate()
                        .map(|(j, x)| if j == l { doubled.as_str() } else { x })
                        .collect::<Vec<_>>().join("\n");
                    let e = load_and_run(&text).unwrap_err();
                    prop_assert!(e.contains("duplicate key"), "{}", e);
                }
            }
        }
        match load_and_run(&text) {
            Err(e) => {
                prop_assert!(!e.is_empty() && !e.contains('\n'), "one line: {:?}", e);
            }
            Ok(verdict) => prop_assert_ne!(verdict, Verdict::Crash, "accepted file crashed:\n{}", text),
        }
    }
}

/// A small valid history (sequential writes and reads on two keys) as JSON lines or EDN, the
/// two formats `check` reads.
fn history_lines(edn: bool, n: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut t = 0u64;
    for i in 0..n {
        let (process, key) = (i % 3, if i % 2 == 0 { "k0" } else { "k1" });
        let (f, value) = if i % 3 == 0 { ("write", format!("{}", i)) } else { ("read", "null".to_string()) };
        for kind in ["invoke", "ok"] {
            t += 1_000;
            let ok_read = kind == "ok" && f == "read";
            let v = if ok_read { "null".to_string() } else { value.clone() };
            lines.push(if edn {
                let (f, v) = (if f == "read" { ":read" } else { ":write" }, if v == "null" { "nil".into() } else { v });
                format!("{{:process {process}, :type :{kind}, :f {f}, :key \"{key}\", :value {v}, :time {t}}}")
            } else {
                format!(r#"{{"process": {process}, "type": "{kind}", "f": "{f}", "key": "{key}", "value": {v}, "time": {t}}}"#)
            });
        }
    }
    lines
}

/// One mutation of a history: drop, duplicate or swap lines, cut a line short, or put a junk
/// token where a value, a time or a process stands.
fn mutate(mut lines: Vec<String>, kind: usize, a: usize, b: usize, junk: &str) -> Vec<String> {
    let n = lines.len();
    let (a, b) = (a % n.max(1), b % n.max(1));
    match kind {
        0 => {
            lines.remove(a);
        }
        1 => {
            let l = lines[a].clone();
            lines.insert(b, l);
        }
        2 => lines.swap(a, b),
        3 => {
            let cut = lines[a].len() / 2;
            lines[a].truncate(cut);
        }
        _ => {
            // Replace the first number after a field separator with the junk token.
            let line = &lines[a];
            if let Some(at) = line.find(|c: char| c.is_ascii_digit()) {
                let end = line[at..].find(|c: char| !c.is_ascii_digit()).map_or(line.len(), |e| at + e);
                lines[a] = format!("{}{junk}{}", &line[..at], &line[end..]);
            }
        }
    }
    lines
}

proptest! {
    #![proptest_config(fuzz_config(150))]

    /// Mutated histories, in both formats, are bad input in one line or checked to a verdict:
    /// never a panic. What is checked is drawn by `check --html` with a bar per operation.
    #[test]
    fn mutated_histories_are_refused_in_one_line_or_checked(
        edn in any::<bool>(),
        n in 1usize..12,
        mutations in proptest::collection::vec((0usize..5, any::<usize>(), any::<usize>(),
            prop::sample::select(vec!["-1", "18446744073709551616", "\"x\"", "nil", "1e400", "[]", "{}", ""])), 1..3),
    ) {
        let mut lines = history_lines(edn, n);
        for (kind, a, b, junk) in mutations {
            lines = mutate(lines, kind, a, b, junk);
        }
        let dir = temp_dir(&format!("hist-{}", std::thread::current().name().unwrap_or("t").len()));
        let path = dir.join(if edn { "h.edn" } else { "h.jsonl" });
        std::fs::write(&path, lines.join("\n")).unwrap();
        let opts = tiersim_sim::check::command::CheckOptions {
            max_states: 20_000,
            timeout: Some(std::time::Duration::from_secs(5)),
            jobs: 1,
            max_witness: 10,
            // Whatever is checked is drawn too (`check --html`).
            keep: true,
        };
        let result = std::panic::catch_unwind(|| {
            tiersim_sim::check::command::check_paths(&[path.clone()], &opts).map(|out| {
                let page = tiersim_scenarios::report::render_checked("fuzz", &out.checked, &Default::default());
                (out, page)
            })
        });
        let _ = std::fs::remove_dir_all(&dir);
        match result {
            Err(_) => prop_assert!(false, "check or its page panicked on:\n{}", lines.join("\n")),
            Ok(Err(msg)) => prop_assert!(!msg.trim().is_empty() && !msg.contains('\n'), "one line: {msg:?}"),
            Ok(Ok((out, page))) => {
                prop_assert!(out.exit_code <= 1, "{:?}", out.json);
                let ops = out.json["ops"].as_u64().unwrap() as usize;
                let bars = page
                    .split("<rect class=\"op ")
                    .skip(1)
                    .filter(|rest| rest[..rest.find('>').unwrap()].contains("data-line="))
                    .count();
                prop_assert_eq!(bars, ops, "one bar per operation");
            }
        }
    }
}

/// The fuzzer's two outcomes both happen: an unmutated history is checked, a cut line refused.
#[test]
fn the_history_fuzzer_reaches_both_a_verdict_and_a_refusal() {
    let dir = temp_dir("hist-both");
    let opts = tiersim_sim::check::command::CheckOptions {
        max_states: 20_000,
        timeout: None,
        jobs: 1,
        max_witness: 10,
        keep: false,
    };
    for edn in [false, true] {
        let path = dir.join(if edn { "h.edn" } else { "h.jsonl" });
        std::fs::write(&path, history_lines(edn, 6).join("\n")).unwrap();
        let out = tiersim_sim::check::command::check_paths(&[path.clone()], &opts);
        assert!(out.is_ok(), "a valid history is checked: {out:?}");
        std::fs::write(&path, mutate(history_lines(edn, 6), 3, 2, 0, "").join("\n")).unwrap();
        let err = tiersim_sim::check::command::check_paths(&[path.clone()], &opts).expect_err("a cut line");
        // JSON lines name the cut line; EDN may span lines, so its reader names where it ran out.
        let named = if edn { "line " } else { "line 3" };
        assert!(!err.contains('\n') && err.contains(named), "{err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
