//! The CLI end to end: exit codes, `--json` output that parses, one-line errors for bad input,
//! and the trace hash identical across fresh processes. (These live in the scenarios package
//! because only it can name the built `tiersim` binary.)

use std::process::{Command, Output};

fn tiersim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tiersim")).args(args).output().expect("run tiersim")
}

fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {text}"))
}

fn one_line_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "bad input exits 2: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    err
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("tiersim-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn list_json_names_scenarios_and_protocols() {
    let out = tiersim(&["list", "--json"]);
    assert!(out.status.success());
    let j = json(&out);
    assert!(j["scenarios"].as_array().unwrap().iter().any(|s| s["name"] == "fill-race"));
    let protocols = j["protocols"].as_array().unwrap();
    let versioned = protocols.iter().find(|p| p["name"] == "versioned").unwrap();
    assert!(versioned["guarantees"].as_array().unwrap().iter().any(|g| g == "invalidation-barrier"));
}

#[test]
fn run_is_identical_across_fresh_processes() {
    let args = ["run", "--scenario", "fill-race", "--protocol", "versioned", "--seed", "7", "--json"];
    let (a, b) = (tiersim(&args), tiersim(&args));
    assert_eq!(a.status.code(), Some(0));
    let (ja, jb) = (json(&a), json(&b));
    assert_eq!(ja["verdict"], "pass");
    assert_eq!(ja["trace_hash"], jb["trace_hash"]);
    assert_eq!(ja["trace_hash"].as_str().unwrap().len(), 16);
    for field in ["violations", "ops", "events", "sim_ns", "wall_ms", "max_staleness_ns"] {
        assert!(!ja[field].is_null(), "{field} missing");
    }
    // And the same hash as a run inside this test process.
    let s = tiersim_scenarios::by_name("fill-race").unwrap();
    let o = tiersim_scenarios::run_seed(&*s, tiersim_model::protocols::by_name("versioned").unwrap(), 7, &[]);
    assert_eq!(ja["trace_hash"], tiersim_sim::replay::hash_hex(o.trace_hash));
}

#[test]
fn failing_sweep_saves_replays_that_replay_exactly_and_truncation_exits_2() {
    let dir = temp_dir("sweep");
    let d = dir.to_str().unwrap();
    let out = tiersim(&[
        "sweep",
        "--scenario",
        "fill-race",
        "--protocol",
        "cache-aside",
        "--seeds",
        "0..5",
        "--save",
        d,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let j = json(&out);
    assert_eq!(j["seeds_run"], 5);
    let first = j["first_failure"]["seed"].as_u64().expect("a failure");
    assert_eq!(j["first_failure"]["invariant"], "invalidation-barrier");
    for f in ["wall_ms", "seeds_per_sec", "ops_per_sec"] {
        assert!(j[f].is_number(), "{f}");
    }
    let file = dir.join(format!("fill-race--cache-aside--{first}.json"));
    let out = tiersim(&["replay", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["reproduced"], "exact");

    let text = std::fs::read_to_string(&file).unwrap();
    let truncated = dir.join("truncated.json");
    std::fs::write(&truncated, &text[..text.len() / 3]).unwrap();
    let err = one_line_error(&tiersim(&["replay", truncated.to_str().unwrap()]));
    assert!(err.contains("truncated.json") && err.contains("truncated"), "{err}");
    let future = dir.join("future.json");
    std::fs::write(&future, text.replace("\"format_version\": 1", "\"format_version\": 9")).unwrap();
    let err = one_line_error(&tiersim(&["replay", future.to_str().unwrap()]));
    assert!(err.contains("newer"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        &["run", "--scenario", "nope", "--protocol", "versioned", "--seed", "1"][..],
        &["run", "--scenario", "fill-race", "--protocol", "nope", "--seed", "1"],
        &["run", "--scenario", "fill-race", "--protocol", "versioned", "--seed", "x"],
        &["sweep", "--scenario", "fill-race", "--protocol", "versioned", "--seeds", "5..2"],
        &["sweep", "--scenario", "fill-race", "--protocol", "versioned", "--seeds", "abc"],
        &[
            "run",
            "--scenario",
            "fill-race",
            "--protocol",
            "versioned",
            "--seed",
            "1",
            "--require",
            "nonsense",
        ],
        &["replay", "/definitely/not/here.json"],
        &["frobnicate"],
    ] {
        let err = one_line_error(&tiersim(args));
        assert!(err.starts_with("tiersim: "), "{args:?}: {err}");
    }
}

#[test]
fn failing_run_exits_1_and_prints_the_reproduce_command() {
    let s = tiersim_scenarios::by_name("fill-race").unwrap();
    let p = tiersim_model::protocols::by_name("cache-aside").unwrap();
    let seed = (0..200)
        .find(|&seed| {
            tiersim_scenarios::run_seed(&*s, p.clone(), seed, &[]).verdict
                == tiersim_model::outcome::Verdict::Fail
        })
        .unwrap()
        .to_string();
    let out = tiersim(&["run", "--scenario", "fill-race", "--protocol", "cache-aside", "--seed", &seed]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("invariant `invalidation-barrier` violated at t="), "{text}");
    assert!(
        text.contains(&format!(
            "reproduce: cargo tiersim run --scenario fill-race --protocol cache-aside --seed {seed}"
        )),
        "{text}"
    );
}

#[test]
fn check_judges_a_recorded_history_both_ways_and_names_bad_lines() {
    let dir = temp_dir("check");
    std::fs::create_dir_all(&dir).unwrap();
    let line = |p: u64, t: &str, f: &str, v: &str, time: u64| {
        format!("{{\"process\": {p}, \"type\": \"{t}\", \"f\": \"{f}\", \"key\": \"k\", \"value\": {v}, \"time\": {time}}}\n")
    };
    // A write completes, then a read begins: it must see the write ("1"); the stale history's
    // read sees the initial absent value instead.
    let history = |read: &str| {
        [
            line(0, "invoke", "write", "1", 0),
            line(0, "ok", "write", "1", 10),
            line(1, "invoke", "read", "null", 20),
            line(1, "ok", "read", read, 30),
        ]
        .concat()
    };
    let (good, stale) = (history("1"), history("null"));
    let bad =
        [line(0, "invoke", "write", "1", 0), "{\"process\": 0, \"type\": \"ok\"}\n".to_string()].concat();
    for (name, text) in [("good", &good), ("stale", &stale), ("bad", &bad)] {
        std::fs::write(dir.join(format!("{name}.jsonl")), text).unwrap();
    }
    let path = |n: &str| dir.join(format!("{n}.jsonl")).to_str().unwrap().to_string();
    let out = tiersim(&["check", &path("good"), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["ok"], true);
    let out = tiersim(&["check", &path("stale"), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(j["ok"], false);
    assert_eq!(j["violations"][0]["key"], "k");
    for f in ["keys", "ops", "wall_ms"] {
        assert!(j[f].is_number(), "{f}");
    }
    let err = one_line_error(&tiersim(&["check", &path("bad")]));
    assert!(err.contains("bad.jsonl") && err.contains("line 2"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shards_of_a_range_add_up_to_the_range() {
    let run = |shard: Option<&str>| {
        let mut args = vec![
            "sweep",
            "--scenario",
            "fill-race",
            "--protocol",
            "cache-aside",
            "--seeds",
            "0..12",
            "--json",
        ];
        if let Some(s) = shard {
            args.extend(["--shard", s]);
        }
        json(&tiersim(&args))
    };
    let (whole, a, b) = (run(None), run(Some("0/2")), run(Some("1/2")));
    assert_eq!(
        a["seeds_run"].as_u64().unwrap() + b["seeds_run"].as_u64().unwrap(),
        whole["seeds_run"].as_u64().unwrap()
    );
    let seeds = |j: &serde_json::Value| -> Vec<u64> {
        let mut v: Vec<u64> =
            j["failures"].as_array().unwrap().iter().map(|f| f["seed"].as_u64().unwrap()).collect();
        v.sort();
        v
    };
    let mut union = [seeds(&a), seeds(&b)].concat();
    union.sort();
    assert_eq!(union, seeds(&whole), "per-seed results do not depend on the shard");
    assert!(seeds(&a).iter().all(|s| s % 2 == 0) && seeds(&b).iter().all(|s| s % 2 == 1));
    one_line_error(&tiersim(&["sweep", "--scenario", "fill-race", "--shard", "2/2"]));
    one_line_error(&tiersim(&["sweep", "--scenario", "fill-race", "--strategy", "clever"]));
}

#[test]
fn explore_runs_within_its_budget_and_saves_shrunk_failures() {
    let dir = temp_dir("explore");
    let out = tiersim(&[
        "explore",
        "--budget",
        "3s",
        "--out",
        dir.to_str().unwrap(),
        "--scenario",
        "fill-race",
        "--protocol",
        "invalidate-before-commit",
        "--json",
    ]);
    // Something new was found: exit 1.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let j = json(&out);
    let new = j["new"].as_array().unwrap();
    assert!(!new.is_empty(), "invalidate-before-commit fails every seed: {j}");
    assert_eq!(new.len(), 1, "one bug, one signature: {j}");
    for n in new {
        let file = n["file"].as_str().unwrap();
        let replay = tiersim(&["replay", file, "--json"]);
        assert_eq!(json(&replay)["reproduced"], "exact", "{file}");
    }
    let cells = j["cells"].as_array().unwrap();
    assert!(cells.iter().all(|c| c["scenario"] == "fill-race" && c["runs"].as_u64() > Some(0)), "{j}");
    // Run again with the first run's files as the known corpus: the same bug is known, not new.
    let again_dir = temp_dir("explore-again");
    let again = tiersim(&[
        "explore",
        "--budget",
        "3s",
        "--out",
        again_dir.to_str().unwrap(),
        "--scenario",
        "fill-race",
        "--protocol",
        "invalidate-before-commit",
        "--known",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(again.status.code(), Some(0), "nothing new: {again:?}");
    let j = json(&again);
    assert_eq!(j["new"].as_array().unwrap().len(), 0, "{j}");
    assert!(!j["known"].as_array().unwrap().is_empty(), "{j}");
    let _ = std::fs::remove_dir_all(&again_dir);
    one_line_error(&tiersim(&["explore", "--budget", "soon", "--out", dir.to_str().unwrap()]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A narrowed sweep says what was expected of its protocol and whether it happened, and keeps
/// exit 1 on any failing seed; its row lists every invariant that failed, not just the first.
#[test]
fn sweep_summarises_expectations_and_narrow_sweeps_exit_1_on_any_failure() {
    let out = tiersim(&[
        "sweep",
        "--scenario",
        "fill-race",
        "--protocol",
        "cache-aside",
        "--seeds",
        "0..3",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let j = json(&out);
    assert_eq!(j["exit_on"], "any-failure");
    let s = &j["summary"][0];
    assert_eq!((s["protocol"].as_str(), s["role"].as_str()), (Some("cache-aside"), Some("baseline")));
    assert_eq!(s["as_expected"], true, "{s}");
    assert_eq!(j["unexpected"], 0);
    let row = &j["rows"][0];
    let invariants: Vec<&str> =
        row["invariants"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    assert!(invariants.contains(&"invalidation-barrier"), "{invariants:?}");
    let mut every: Vec<String> = j["failures"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["invariants"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_string()))
        .collect();
    every.sort();
    every.dedup();
    assert_eq!(invariants, every, "the row names every invariant its seeds failed");

    // A zoo entry not caught in too few seeds is named as unexpected.
    let out = tiersim(&[
        "sweep",
        "--scenario",
        "tag-invalidation",
        "--protocol",
        "same-tick-invalidate-all",
        "--seeds",
        "0..2",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("NOT caught in 2 seeds") && text.contains("UNEXPECTED"), "{text}");
    assert!(!text.contains("shard"), "no shard was set: {text}");
}

/// `--trace` names the key of every database and tier event.
#[test]
fn trace_lines_name_the_key() {
    let out =
        tiersim(&["run", "--scenario", "fill-race", "--protocol", "cache-aside", "--seed", "0", "--trace"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let commits: Vec<&str> = text.lines().filter(|l| l.contains(" db ") && l.contains("commit ")).collect();
    assert!(!commits.is_empty(), "{text}");
    for l in commits {
        let after = l.split("commit ").nth(1).unwrap();
        assert!(after.starts_with('k') && after.split(' ').nth(1).is_some_and(|v| v.starts_with('v')), "{l}");
    }
}

/// `sweep --junit FILE`: one test case per scenario × protocol, a failing seed as a failure
/// with its reproduce line, a clean row as a passing case; a path that cannot be written is
/// refused before the sweep runs, and nothing is created.
#[test]
fn sweep_writes_junit_xml_with_failures_and_their_reproduce_lines() {
    let dir = temp_dir("junit");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("sweep.xml");
    let f = file.to_str().unwrap();
    let out = tiersim(&[
        "sweep",
        "--scenario",
        "fill-race",
        "--protocol",
        "cache-aside",
        "--seeds",
        "0..10",
        "--junit",
        f,
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let xml = std::fs::read_to_string(&file).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains(r#"<testcase classname="fill-race" name="cache-aside">"#), "{xml}");
    assert!(
        xml.contains("<failure message=\"")
            && xml.contains("run --scenario fill-race --protocol cache-aside --seed"),
        "{xml}"
    );
    assert!(xml.contains(r#"tests="1" failures="1""#), "{xml}");
    let out = tiersim(&[
        "sweep",
        "--scenario",
        "fill-race",
        "--protocol",
        "versioned",
        "--seeds",
        "0..5",
        "--junit",
        f,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let xml = std::fs::read_to_string(&file).unwrap();
    assert!(
        xml.contains(r#"<testcase classname="fill-race" name="versioned"/>"#) && !xml.contains("<failure"),
        "{xml}"
    );
    let missing = dir.join("no-such-dir").join("x.xml");
    let out = tiersim(&[
        "sweep",
        "--scenario",
        "fill-race",
        "--seeds",
        "0..2",
        "--junit",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim_end().lines().count(), 1, "{out:?}");
    assert!(!missing.parent().unwrap().exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's example failure is what the command prints today (its lines appear, in order,
/// in the output of the command its last line names).
#[test]
fn the_readme_example_failure_is_what_the_command_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let after =
        readme.split("A failure prints the exact command:").nth(1).expect("the README shows a failure");
    let block: Vec<&str> =
        after.split("```").nth(1).expect("in a code block").lines().filter(|l| !l.is_empty()).collect();
    let command =
        block.last().unwrap().strip_prefix("reproduce: cargo tiersim ").expect("ends with its command");
    let args: Vec<&str> = command.split_whitespace().collect();
    let out = String::from_utf8_lossy(&tiersim(&args).stdout).to_string();
    let mut lines = out.lines();
    for expected in &block {
        assert!(
            lines.any(|l| l == *expected),
            "README line {expected:?} not printed (in order) by `{command}`:\n{out}"
        );
    }
}

/// `--help` names the binary's scenarios and protocols (the registry's, so a team's binary
/// lists its own).
#[test]
fn help_lists_the_scenarios_and_protocols_to_choose_from() {
    for sub in ["run", "sweep", "explore"] {
        let out = tiersim(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0));
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("fill-race") && help.contains("pass-through") && help.contains("stale-set"),
            "{sub}: {help}"
        );
    }
}
