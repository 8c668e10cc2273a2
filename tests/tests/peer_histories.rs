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
use tiersim_sim::check::parse::{parse_history, parse_ops};
use tiersim_sim::check::wgl::{check_ops, Budget, KeyVerdict};

fn shared_dir() -> PathBuf {
    match std::env::var_os("TIERSIM_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
    }
}

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
    assert_eq!(
        parse_ops(&orphan).unwrap_err().to_string(),
        "line 3: ok for process 3 with no pending invoke"
    );
}
