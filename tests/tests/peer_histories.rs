//! The general linearizability checker against histories recorded by other systems.
//!
//! `shared/peer-histories/etcd` holds 102 Jepsen histories of an etcd compare-and-set register
//! with the verdicts Porcupine and the linearizability-checker project established. A checker
//! is trusted only if it agrees on all of them: 23 clean histories it must pass and 79 with real
//! anomalies it was not told about. The directory is found through `$TIERSIM_SHARED`, or next
//! to the workspace (`<workspace>/../shared`); if it is missing the test fails loudly rather
//! than pass without having checked anything.

use std::path::PathBuf;
use std::time::Instant;
use tiersim_sim::check::command::{check_paths, read_history, CheckOptions};
use tiersim_sim::check::parse::{parse_history, parse_ops};
use tiersim_sim::check::wgl::{check_history, check_ops, Budget, KeyVerdict};

use tiersim_tests::shared_dir;

fn etcd_dir() -> PathBuf {
    let dir = shared_dir().join("peer-histories/etcd");
    assert!(
        dir.join("verdicts.json").is_file(),
        "\n\nPEER HISTORIES NOT FOUND: looked for {}/verdicts.json.\n\
         Set TIERSIM_SHARED to the directory that contains peer-histories/ \
         (e.g. TIERSIM_SHARED=/work/shared cargo test -p tiersim-tests).\n",
        dir.display()
    );
    dir
}

#[test]
fn etcd_histories_match_their_published_verdicts() {
    let dir = etcd_dir();
    let verdicts_text = std::fs::read_to_string(dir.join("verdicts.json")).expect("read verdicts");
    let verdicts: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&verdicts_text).expect("verdicts.json is a JSON object");
    assert_eq!(verdicts.len(), 102, "expected 102 etcd histories");

    let mut mismatches = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    let started = Instant::now();
    for (file, expected) in &verdicts {
        let expected = expected.as_bool().expect("verdicts are booleans");
        let text =
            std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
        let ops = parse_ops(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let report = check_ops(&ops, &Budget::default());
        match report.ok() {
            Some(got) if got == expected => {
                if got {
                    passed += 1;
                } else {
                    failed += 1;
                    // A violation must come with a window that contains the op it blames.
                    let violation = report.violations().next().expect("a violated key");
                    let KeyVerdict::NotLinearizable { window, time_ns, message } = &violation.verdict else {
                        unreachable!()
                    };
                    assert!(
                        window.iter().any(|op| op.invoke_ns == *time_ns),
                        "{file}: window does not contain the op at {time_ns}ns: {message}"
                    );
                    assert!(message.contains("no linearization"), "{file}: {message}");
                }
            }
            got => mismatches.push(format!("{file}: expected {expected}, got {got:?}")),
        }
    }
    let elapsed = started.elapsed();
    println!(
        "checked {} etcd histories in {:.1} ms ({passed} linearizable, {failed} not)",
        verdicts.len(),
        elapsed.as_secs_f64() * 1e3
    );
    assert!(mismatches.is_empty(), "verdicts differ:\n{}", mismatches.join("\n"));
    assert_eq!((passed, failed), (23, 79));
}

/// Not a pass condition: prints the release-mode timing of the whole etcd set (run with
/// `cargo test --release -p tiersim-tests --test peer_histories -- --ignored --nocapture`).
#[test]
#[ignore = "timing report, run on demand in release mode"]
fn etcd_timing() {
    let dir = etcd_dir();
    let texts: Vec<String> = (0..=102)
        .filter_map(|i| std::fs::read_to_string(dir.join(format!("etcd_{i:03}.jsonl"))).ok())
        .collect();
    let rounds = 10;
    let mut best_ms = f64::MAX;
    for _ in 0..rounds {
        let started = Instant::now();
        let mut violations = 0;
        for text in &texts {
            let ops = parse_ops(text).expect("valid history");
            if check_ops(&ops, &Budget::default()).ok() == Some(false) {
                violations += 1;
            }
        }
        assert_eq!(violations, 79);
        best_ms = best_ms.min(started.elapsed().as_secs_f64() * 1e3);
    }
    println!("{} etcd histories, parse + check: best of {rounds} rounds {best_ms:.1} ms", texts.len());
    let mut slowest: Vec<(f64, usize)> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let started = Instant::now();
            let ops = parse_ops(text).expect("valid history");
            check_ops(&ops, &Budget::default());
            (started.elapsed().as_secs_f64() * 1e3, i)
        })
        .collect();
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (ms, i) in slowest.iter().take(5) {
        println!("  history #{i}: {ms:.2} ms");
    }
}

fn event(p: u64, t: &str, f: &str, v: &str, time: u64) -> String {
    format!(r#"{{"process": {p}, "type": "{t}", "f": "{f}", "key": "k", "value": {v}, "time": {time}}}"#)
}

#[test]
fn malformed_histories_are_rejected_naming_the_line() {
    let good = event(1, "invoke", "write", "1", 0);
    let cases: Vec<(String, &str)> = vec![
        (
            format!("{good}\n\n{{\"process\": 2, \"type\": "),
            "line 3: not valid JSON",
        ),
        (
            format!("{good}\n{{\"process\": 2, \"type\": \"invoke\", \"f\": \"read\", \"value\": null, \"time\": 5}}"),
            "line 2: missing field \"key\"",
        ),
        (
            format!("{good}\n{}", event(2, "done", "read", "null", 5)),
            "line 2: unknown type \"done\"",
        ),
        (
            format!("{good}\n{}", event(2, "invoke", "increment", "1", 5)),
            "line 2: unknown f \"increment\"",
        ),
    ];
    for (text, want) in &cases {
        let e = parse_history(text).expect_err(want);
        assert!(e.to_string().starts_with(want), "got `{e}`, want `{want}`");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }

    // Internal and fault lines are the simulator's own and are skipped.
    let with_internal = format!(
        "{good}\n{{\"type\": \"internal\", \"event\": \"fill\"}}\n{{\"type\": \"fault\"}}\n{}",
        event(1, "ok", "write", "1", 10)
    );
    assert_eq!(parse_history(&with_internal).unwrap().len(), 2);

    // Pairing errors name the completion's line.
    let orphan = format!("{good}\n{}\n{}", event(1, "ok", "write", "1", 10), event(3, "ok", "read", "1", 20));
    let e = parse_ops(&orphan).unwrap_err().to_string();
    assert!(e.starts_with("line 3: ok for process 3 before any invoke of its"), "{e}");
}

fn kv_dir() -> PathBuf {
    let dir = shared_dir().join("peer-histories/porcupine-kv");
    assert!(
        dir.join("verdicts.json").is_file(),
        "\n\nPORCUPINE KV HISTORIES NOT FOUND: looked for {}/verdicts.json (set TIERSIM_SHARED).\n",
        dir.display()
    );
    dir
}

/// Porcupine's key-value histories (get/put/append on strings, EDN lines): the `-ok` files
/// must pass with a witness for every key, the `-bad` ones must be caught. The budget is
/// bounded so the `-bad` files' hardest keys answer `unknown` rather than search for long: a
/// file is still not linearizable once one key is.
#[test]
fn porcupine_kv_histories_match_their_published_verdicts() {
    let dir = kv_dir();
    let verdicts: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("verdicts.json")).unwrap()).unwrap();
    assert_eq!(verdicts.len(), 6);
    let budget = Budget { max_states: 300_000, max_wall: None };
    for (file, expected) in &verdicts {
        let (history, _) = read_history(&dir.join(file)).unwrap_or_else(|e| panic!("{e}"));
        assert!(history.values.is_strings(), "{file}");
        let report = check_history(&history.ops, &history.values, &budget, 2);
        assert_eq!(
            report.ok(),
            expected.as_bool(),
            "{file}: {:?}",
            report.results.iter().map(|r| &r.verdict).collect::<Vec<_>>()
        );
        if report.ok() == Some(true) {
            for r in &report.results {
                assert!(!r.witness.is_empty(), "{file} key {}: no witness", r.key);
            }
        } else {
            let v = report.violations().next().expect("a violated key");
            assert!(!v.unplaced.is_empty(), "{file}: nothing named as unplaceable");
        }
    }
}

/// The command's library face on a directory: one report, per-file results and totals that
/// agree with the published verdicts; and the files that are not histories are left out.
#[test]
fn check_paths_reads_a_directory_of_histories() {
    let out = check_paths(&[etcd_dir()], &CheckOptions { jobs: 2, ..CheckOptions::default() })
        .expect("valid input");
    assert_eq!(out.exit_code, 1, "79 histories are not linearizable");
    let totals = &out.json["totals"];
    assert_eq!(
        (totals["files"].as_u64(), totals["linearizable"].as_u64(), totals["not_linearizable"].as_u64()),
        (Some(102), Some(23), Some(79)),
        "{totals}"
    );
    let first = &out.json["files"][0];
    assert!(
        first["wall_us"].is_u64() && first["file"].as_str().unwrap().ends_with("etcd_000.jsonl"),
        "{first}"
    );
    let clean = out.json["files"].as_array().unwrap().iter().find(|f| f["ok"] == true).expect("a clean file");
    assert!(clean["witness"]["r"]["ops"].as_u64().unwrap() > 0, "{clean}");
    // Every file's Δ, pinned: the Δ search is tuned for speed, and a faster search that
    // answers differently is a wrong one.
    let files = out.json["files"].as_array().unwrap();
    assert_eq!(files.len(), ETCD_MIN_DELTA_NS.len());
    let wrong: Vec<String> = files
        .iter()
        .zip(ETCD_MIN_DELTA_NS)
        .filter(|(f, (name, delta_ns))| {
            !f["file"].as_str().unwrap().ends_with(&format!("{name}.jsonl")) || f["min_delta_ns"] != *delta_ns
        })
        .map(|(f, (name, delta_ns))| format!("{name}: expected Δ {delta_ns} ns, got {}", f["min_delta_ns"]))
        .collect();
    assert!(wrong.is_empty(), "Δ differs:\n{}", wrong.join("\n"));
}

/// The smallest Δ (ns) of each etcd history, as the first Δ search (one full search per probe)
/// computed them; 0 for the 23 linearizable ones.
const ETCD_MIN_DELTA_NS: [(&str, u64); 102] = [
    ("etcd_000", 10000),
    ("etcd_001", 6000),
    ("etcd_002", 0),
    ("etcd_003", 33000),
    ("etcd_004", 13000),
    ("etcd_005", 0),
    ("etcd_006", 63000),
    ("etcd_007", 0),
    ("etcd_008", 15000),
    ("etcd_009", 8000),
    ("etcd_010", 10000),
    ("etcd_011", 21000),
    ("etcd_012", 8000),
    ("etcd_013", 5000),
    ("etcd_014", 1000),
    ("etcd_015", 3000),
    ("etcd_016", 1000),
    ("etcd_017", 4000),
    ("etcd_018", 0),
    ("etcd_019", 23000),
    ("etcd_020", 8000),
    ("etcd_021", 14000),
    ("etcd_022", 17000),
    ("etcd_023", 3000),
    ("etcd_024", 2000),
    ("etcd_025", 0),
    ("etcd_026", 5000),
    ("etcd_027", 19000),
    ("etcd_028", 6000),
    ("etcd_029", 14000),
    ("etcd_030", 16000),
    ("etcd_031", 0),
    ("etcd_032", 5000),
    ("etcd_033", 4000),
    ("etcd_034", 7000),
    ("etcd_035", 4000),
    ("etcd_036", 6000),
    ("etcd_037", 9000),
    ("etcd_038", 0),
    ("etcd_039", 15000),
    ("etcd_040", 10000),
    ("etcd_041", 19000),
    ("etcd_042", 10000),
    ("etcd_043", 9000),
    ("etcd_044", 17000),
    ("etcd_045", 0),
    ("etcd_046", 10000),
    ("etcd_047", 10000),
    ("etcd_048", 0),
    ("etcd_049", 0),
    ("etcd_050", 1000),
    ("etcd_051", 0),
    ("etcd_052", 11000),
    ("etcd_053", 0),
    ("etcd_054", 17000),
    ("etcd_055", 30000),
    ("etcd_056", 0),
    ("etcd_057", 1000),
    ("etcd_058", 9000),
    ("etcd_059", 12000),
    ("etcd_060", 1000),
    ("etcd_061", 5000),
    ("etcd_062", 5000),
    ("etcd_063", 2000),
    ("etcd_064", 29000),
    ("etcd_065", 45000),
    ("etcd_066", 3000),
    ("etcd_067", 0),
    ("etcd_068", 25000),
    ("etcd_069", 28000),
    ("etcd_070", 10000),
    ("etcd_071", 12000),
    ("etcd_072", 18000),
    ("etcd_073", 3000),
    ("etcd_074", 33000),
    ("etcd_075", 0),
    ("etcd_076", 0),
    ("etcd_077", 22000),
    ("etcd_078", 15000),
    ("etcd_079", 10000),
    ("etcd_080", 0),
    ("etcd_081", 15000),
    ("etcd_082", 5000),
    ("etcd_083", 7000),
    ("etcd_084", 29000),
    ("etcd_085", 1000),
    ("etcd_086", 26000),
    ("etcd_087", 0),
    ("etcd_088", 19000),
    ("etcd_089", 12000),
    ("etcd_090", 21000),
    ("etcd_091", 1000),
    ("etcd_092", 0),
    ("etcd_093", 27000),
    ("etcd_094", 6000),
    ("etcd_096", 5000),
    ("etcd_097", 32000),
    ("etcd_098", 0),
    ("etcd_099", 7000),
    ("etcd_100", 0),
    ("etcd_101", 0),
    ("etcd_102", 0),
];

/// Empty input is bad input (exit 2 in the CLI), never "linearizable, 0 ops".
#[test]
fn empty_and_blank_histories_are_bad_input() {
    let dir = std::env::temp_dir().join(format!("tiersim-check-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blank = dir.join("blank.jsonl");
    std::fs::write(&blank, "\n   \n").unwrap();
    for path in [PathBuf::from("/dev/null"), blank] {
        let e = check_paths(&[path.clone()], &CheckOptions::default()).expect_err("empty is bad input");
        assert!(e.contains("line 1") && e.contains("empty history is bad input") && !e.contains('\n'), "{e}");
    }
    let contradicting = dir.join("contradicting.jsonl");
    std::fs::write(
        &contradicting,
        format!("{}\n{}\n", event(1, "invoke", "write", "1", 0), event(1, "ok", "write", "2", 10)),
    )
    .unwrap();
    let e = check_paths(&[contradicting], &CheckOptions::default()).unwrap_err();
    assert!(e.contains("line 2") && e.contains("invoke on line 1"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
