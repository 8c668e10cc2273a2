//! `tiersim compare` end to end. This test is its own binary (`harness = false`), a `tiersim`
//! command line built the way a user builds theirs (`cli::main_with(registry)`): the tests run
//! it as `compare …` (and `sweep …`) in a child process, and the comparison's seeds run in
//! worker processes of it, as they do for a user's binary.
//!
//! - The JSON tells protocols apart the way their designs say it should: cache-aside fails the
//!   invalidation barrier of fill-race and has finite nines, versioned has none stale beyond
//!   100 ms, pass-through (no cache) reads the database once per read and is never stale; its
//!   figures are the sweep's own for the same seeds; each printed reproduce command fails the
//!   same invariant when run; `--all` adds a row per scenario whose counts add up to the
//!   overall row.
//! - The page, loaded in headless chromium (the report test's helper), has a drawn point and a
//!   drawn bar for every protocol, and every figure of its table equals the JSON's.
//! - Bad input (an unknown protocol or scenario, an empty list, a protocol given twice, both or
//!   neither of --scenario and --all) is one line and exit 2, with no page written.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, ExitCode, Output};
use tiersim_scenarios::explore::worker::WORKER_ARG;
use tiersim_scenarios::registry::Registry;
use tiersim_scenarios::report::compare::COLUMNS;
use tiersim_tests::browser;

const PROTOCOLS: &str = "versioned,cache-aside,pass-through";

fn tiersim(args: &[&str]) -> Output {
    Command::new(std::env::current_exe().expect("this test's executable"))
        .args(args)
        .output()
        .expect("run the test's own tiersim")
}

/// The words of a command line without quoting.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// `compare` of the three protocols on fill-race's `seeds`, as JSON, with `extra` arguments.
fn compare_fill_race(seeds: &str, extra: &[&str]) -> Output {
    let mut args = words("compare --scenario fill-race --jobs 2 --json --protocol");
    args.extend_from_slice(&[PROTOCOLS, "--seeds", seeds]);
    args.extend_from_slice(extra);
    tiersim(&args)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{}", text(out)))
}

/// The value at a dotted path (`cost.hit_ratio.L1`).
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn row<'a>(j: &'a Value, protocol: &str) -> &'a Value {
    j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["protocol"] == protocol)
        .unwrap_or_else(|| panic!("no row {protocol}"))
}

fn compare_json_tells_the_protocols_apart() {
    let out = compare_fill_race("0..6", &[]);
    let j = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "cache-aside fails, so the comparison exits 1:\n{}", text(&out));
    let names: Vec<&str> =
        j["rows"].as_array().unwrap().iter().map(|r| r["protocol"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["versioned", "cache-aside", "pass-through"],
        "one row per protocol, in the order given"
    );
    assert_eq!(j["seeds_run"], 18);
    assert_eq!(j["by_scenario"].as_array().unwrap().len(), 0);

    let aside = row(&j, "cache-aside");
    let nines = aside["consistency"]["nines"]
        .as_f64()
        .unwrap_or_else(|| panic!("cache-aside's nines: {}", aside["consistency"]));
    assert!(nines > 0.0 && aside["consistency"]["stale_reads"].as_u64().unwrap() > 0, "{aside}");
    let barrier =
        aside["invariants"].as_array().unwrap().iter().find(|i| i["invariant"] == "invalidation-barrier");
    let barrier = barrier.unwrap_or_else(|| panic!("cache-aside's stale set went unnoticed: {aside}"));
    assert!(barrier["runs"].as_u64().unwrap() >= 1);
    assert!(aside["failing_runs"].as_u64().unwrap() >= barrier["runs"].as_u64().unwrap());
    // The printed reproduce command fails the same invariant.
    let cmd = barrier["reproduce"].as_str().unwrap();
    let printed = words(cmd);
    assert_eq!(&printed[..3], ["cargo", "tiersim", "run"], "{cmd}");
    let arg = |flag: &str| printed[printed.iter().position(|w| *w == flag).unwrap() + 1];
    let o = tiersim_scenarios::run_seed(
        &*tiersim_tests::scenario(arg("--scenario")),
        tiersim_tests::protocol(arg("--protocol")),
        arg("--seed").parse().unwrap(),
        &[],
    );
    assert!(o.violations.iter().any(|v| v.invariant == "invalidation-barrier"), "{cmd} does not reproduce");

    let versioned = row(&j, "versioned");
    assert_eq!(versioned["failing_runs"], 0, "{versioned}");
    for ms in ["100", "1000", "10000", "60000"] {
        assert_eq!(
            versioned["consistency"]["nines_by_threshold_ms"][ms], "inf",
            "versioned stale beyond {ms} ms"
        );
    }
    let pass_through = row(&j, "pass-through");
    assert_eq!(pass_through["consistency"]["nines"], "inf", "{pass_through}");
    let load = pass_through["cost"]["db_reads_per_read"].as_f64().unwrap();
    assert!((load - 1.0).abs() < 0.05, "pass-through reads the database once per read, not {load}");
    assert!(versioned["cost"]["db_reads_per_read"].as_f64().unwrap() < load, "versioned caches");

    // Every figure is the sweep's own for the same seeds.
    let sweep =
        tiersim(&words("sweep --scenario fill-race --protocol cache-aside --seeds 0..6 --jobs 2 --json"));
    let sweep_row = &json_of(&sweep)["rows"][0];
    for field in ["consistency", "cost"] {
        assert_eq!(aside[field], sweep_row[field], "{field} differs from the sweep's");
    }
    assert_eq!(aside["failing_runs"], sweep_row["failures"]);

    // Every scenario: a row per scenario and protocol, adding up to the overall rows.
    let out = tiersim(&[
        "compare",
        "--all",
        "--protocol",
        "versioned,pass-through",
        "--seeds",
        "0..1",
        "--jobs",
        "2",
        "--json",
    ]);
    let j = json_of(&out);
    let scenarios = tiersim_scenarios::all().len();
    let by = j["by_scenario"].as_array().unwrap();
    assert_eq!(by.len(), 2 * scenarios, "{}", text(&out));
    for p in ["versioned", "pass-through"] {
        let overall = row(&j, p);
        assert_eq!(overall["scenario"], "all");
        let mine: Vec<&Value> = by.iter().filter(|r| r["protocol"] == p).collect();
        let sum = |path: &str| mine.iter().map(|r| at(r, path).as_u64().unwrap()).sum::<u64>();
        assert_eq!(overall["seeds_run"].as_u64().unwrap(), sum("seeds_run"));
        assert_eq!(at(overall, "consistency.reads").as_u64().unwrap(), sum("consistency.reads"));
        assert_eq!(at(overall, "consistency.stale_reads").as_u64().unwrap(), sum("consistency.stale_reads"));
        assert_eq!(at(overall, "cost.db_reads").as_u64().unwrap(), sum("cost.db_reads"));
    }
    println!("ok: compare's JSON tells the protocols apart");
}

/// A latency as the table prints it (`130.2 ms`, `1.63 s`, `950 µs`), in ns, with the half unit
/// of its last digit.
fn duration_ns(text: &str) -> (f64, f64) {
    let (n, unit) = text.split_once(' ').unwrap_or_else(|| panic!("{text:?} is no duration"));
    let n: f64 = n.parse().unwrap();
    match unit {
        "s" => (n * 1e9, 0.005e9),
        "ms" => (n * 1e6, 0.05e6),
        "µs" => (n * 1e3, 1e3),
        _ => panic!("{text:?}: unknown unit"),
    }
}

/// The table's cell says what the JSON says.
fn assert_cell(protocol: &str, field: &str, cell: &str, json: &Value) {
    let what = format!("{protocol} {field}: table {cell:?}, JSON {json}");
    match json {
        Value::Null => assert_eq!(cell, "-", "{what}"),
        Value::String(s) if s == "inf" => assert_eq!(cell, "∞", "{what}"),
        Value::String(s) => assert_eq!(cell, s, "{what}"),
        Value::Array(failed) => {
            let expected: Vec<String> = failed
                .iter()
                .map(|f| format!("{} ({})", f["invariant"].as_str().unwrap(), f["runs"]))
                .collect();
            let expected = if expected.is_empty() { "-".to_string() } else { expected.join(", ") };
            assert_eq!(cell, expected, "{what}");
        }
        Value::Number(n) if field.ends_with("_ns.p99_max") => {
            let (ns, half) = duration_ns(cell);
            assert!((ns - n.as_f64().unwrap()).abs() <= half, "{what}");
        }
        Value::Number(n)
            if n.is_u64() && !field.starts_with("cost.") && !field.starts_with("consistency.") =>
        {
            assert_eq!(cell, n.to_string(), "{what}")
        }
        Value::Number(n) => {
            let shown: f64 = cell.parse().unwrap_or_else(|_| panic!("{what}"));
            assert!((shown - n.as_f64().unwrap()).abs() <= 0.0051, "{what}");
        }
        Value::Bool(_) | Value::Object(_) => panic!("{what}: not a figure"),
    }
}

/// The cells of the table row of `protocol`: (data-field, text).
fn table_row(dom: &str, protocol: &str) -> Vec<(String, String)> {
    let start = dom
        .find(&format!("<tr data-protocol=\"{protocol}\""))
        .unwrap_or_else(|| panic!("no table row for {protocol}"));
    let tr = &dom[start..start + dom[start..].find("</tr>").unwrap()];
    let mut cells = Vec::new();
    let mut rest = tr;
    while let Some(i) = rest.find("<td data-field=\"") {
        rest = &rest[i + "<td data-field=\"".len()..];
        let field = &rest[..rest.find('"').unwrap()];
        let body = &rest[rest.find('>').unwrap() + 1..];
        let text = &body[..body.find("</td>").unwrap()];
        cells.push((field.to_string(), text.replace("&amp;", "&")));
        rest = body;
    }
    cells
}

fn compare_page_in_a_browser_matches_the_json() {
    let dir = browser::temp_dir("compare-browser");
    let page = dir.join("compare.html");
    let out = compare_fill_race("0..4", &["--html", page.to_str().unwrap()]);
    let j = json_of(&out);
    let html = std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("no page ({e}):\n{}", text(&out)));
    assert!(
        !html.contains("https://") && !html.contains(" src=") && !html.contains("<link"),
        "self-contained"
    );
    let check = |what: &str, dom: &str| {
        for r in j["rows"].as_array().unwrap() {
            let p = r["protocol"].as_str().unwrap();
            let cells = table_row(dom, p);
            assert_eq!(cells.len(), COLUMNS.len(), "{what}: {p}'s row has every column");
            for (field, cell) in &cells {
                assert_cell(p, field, cell, at(r, field));
            }
            assert!(
                dom.contains(&format!("<g class=\"point\" data-protocol=\"{p}\"")),
                "{what}: no point for {p}"
            );
            assert!(
                dom.contains(&format!("<g class=\"bar\" data-protocol=\"{p}\"")),
                "{what}: no bar for {p}"
            );
        }
        // pass-through is never stale: it sits in the ∞ band.
        assert!(dom.contains("∞: no stale read"), "{what}");
    };
    check("html", &html);
    let Some(chromium) = browser::browser() else { return };
    let dom = browser::dump_dom(&chromium, &page, &dir);
    check("chromium DOM", &dom);
    for attr in ["data-drawn-points", "data-drawn-bars"] {
        let drawn: Vec<&str> = browser::body_attr(&dom, attr).split(',').collect();
        assert_eq!(
            drawn,
            ["versioned", "cache-aside", "pass-through"],
            "{attr}: what the browser drew with a size"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("ok: the compare page in a browser matches the JSON");
}

fn bad_input_is_one_line_and_writes_nothing() {
    let dir = browser::temp_dir("compare-bad");
    let page = dir.join("never.html");
    let page_arg = page.to_str().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["--scenario", "fill-race", "--protocol", "versioned,no-such"], "unknown protocol \"no-such\""),
        (&["--scenario", "no-such", "--protocol", "versioned"], "unknown scenario \"no-such\""),
        (&["--scenario", "fill-race", "--protocol", ""], "comma-separated list"),
        (&["--scenario", "fill-race", "--protocol", "versioned,,leased"], "an empty name"),
        (
            &["--scenario", "fill-race", "--protocol", "versioned,leased,versioned"],
            "versioned is given twice",
        ),
        (&["--all", "--scenario", "fill-race", "--protocol", "versioned"], "exclude each other"),
        (&["--protocol", "versioned"], "needs --scenario S or --all"),
    ];
    for (args, says) in cases {
        let mut all = vec!["compare"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--seeds", "0..2", "--html", page_arg]);
        let out = tiersim(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {}", text(&out));
        assert_eq!(err.lines().count(), 1, "{all:?}: one line, not {err}");
        assert!(err.contains(says), "{all:?}: {err}");
        assert!(out.stdout.is_empty(), "{all:?}");
        assert!(!Path::new(&page).exists(), "{all:?} wrote a page");
    }
    // A page onto a directory is refused before anything runs, and the directory stays.
    let out = tiersim(&[
        "compare",
        "--scenario",
        "fill-race",
        "--protocol",
        "versioned",
        "--html",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1, "{}", text(&out));
    assert!(dir.is_dir());
    let _ = std::fs::remove_dir_all(&dir);
    println!("ok: bad input is one line and writes nothing");
}

fn main() -> ExitCode {
    // Run as `compare …`, `sweep …` or a worker: the command line of a binary with the built-ins.
    if let Some("compare" | "sweep" | WORKER_ARG) = std::env::args().nth(1).as_deref() {
        return tiersim_scenarios::cli::main_with(Registry::builtin());
    }
    // `cargo test` passes libtest's flags; a filter that names none of the tests skips them all.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wanted("bad_input_is_one_line_and_writes_nothing") {
        bad_input_is_one_line_and_writes_nothing();
    }
    if wanted("compare_json_tells_the_protocols_apart") {
        compare_json_tells_the_protocols_apart();
    }
    if wanted("compare_page_in_a_browser_matches_the_json") {
        compare_page_in_a_browser_matches_the_json();
    }
    ExitCode::SUCCESS
}
