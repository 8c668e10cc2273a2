//! The core of `tiersim check`: history files (or directories of them) in, one report out.
//!
//! The CLI is a thin wrapper around [`check_paths`], so a team's own tooling (or its `cargo
//! test`) gets the same verdicts, JSON and exit codes as the command. Files are read, parsed
//! and checked `jobs` at a time (keys of a single file `jobs` at a time), and everything a user
//! waits for — parsing, the check and the Δ search — is inside each file's `wall_us`.
//!
//! Bad input is an `Err` with one line that names the file, the line and what is allowed; that
//! includes an empty history (nothing to check proves nothing) and an `ok` that contradicts its
//! invoke. A verdict is never built from a history that was not fully understood.

use super::parallel::parallel_map;
use super::parse::{parse_text, Format, History, Op, Outcome};
use super::value::ValueTable;
use super::wgl::{check_history, delta_for_report, Budget, CheckReport, KeyVerdict};
use crate::history::{OpFn, OpValue};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The options of one call.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Search states per stretch of a key before the answer is `unknown`.
    pub max_states: u64,
    /// Wall-clock limit for the whole call; keys still undecided when it passes are `unknown`,
    /// with how far their search got.
    pub timeout: Option<Duration>,
    /// Files (or, for one file, keys) checked at a time.
    pub jobs: usize,
    /// Most witness entries listed per key (the count is always given).
    pub max_witness: usize,
    /// Keep every file's parsed history and report in [`CheckOutput::checked`], for whoever
    /// draws them (`check --html`); off by default, so a directory of large histories is not
    /// held in memory all at once for nothing.
    pub keep: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_states: Budget::default().max_states,
            timeout: None,
            jobs: 1,
            max_witness: 10_000,
            keep: false,
        }
    }
}

/// What the command prints and how it exits.
#[derive(Clone, Debug)]
pub struct CheckOutput {
    /// One JSON object: a file's result for a single file, else `{files, totals, ok, wall_us}`.
    pub json: Value,
    /// The same for a person.
    pub text: String,
    /// 0 when every history is linearizable, 1 when one is not or is undecided.
    pub exit_code: u8,
    /// With [`CheckOptions::keep`], every file's history and report, in the order checked (the
    /// order of `json`'s `files`); else empty.
    pub checked: Vec<CheckedFile>,
}

/// One checked file, as the page of `check --html` draws it: what was read and what the
/// checker answered about it.
#[derive(Clone, Debug)]
pub struct CheckedFile {
    pub path: PathBuf,
    pub format: Format,
    pub history: History,
    pub report: CheckReport,
    /// The smallest Δ for which the history is Δ-atomic (`Some(0)` when linearizable; `None`
    /// when no Δ helps or the budget ran out).
    pub delta_ns: Option<u64>,
}

/// The history files named by `paths`: files as given, directories as their `*.jsonl` and
/// `*.edn` files in name order.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    if paths.is_empty() {
        return Err("check: no history given (expected one or more files or directories)".into());
    }
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| format!("{}: cannot read directory: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file() && matches!(p.extension().and_then(|x| x.to_str()), Some("jsonl" | "edn"))
                })
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{}: no history files in the directory (expected *.jsonl or *.edn)",
                    path.display()
                ));
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Checks every history named by `paths`.
pub fn check_paths(paths: &[PathBuf], opts: &CheckOptions) -> Result<CheckOutput, String> {
    if opts.max_states == 0 {
        return Err("--max-states must be at least 1".into());
    }
    let started = Instant::now();
    let deadline = opts.timeout.map(|t| started + t);
    let files = expand_paths(paths)?;
    let single = files.len() == 1 && paths.len() == 1 && !paths[0].is_dir();
    let (file_jobs, key_jobs) = if files.len() == 1 { (1, opts.jobs) } else { (opts.jobs, 1) };
    let results = parallel_map(&files, file_jobs, |path| check_file(path, opts, deadline, key_jobs));
    let mut checked = Vec::with_capacity(results.len());
    for r in results {
        checked.push(r?);
    }
    let wall_us = started.elapsed().as_micros() as u64;
    let kept: Vec<CheckedFile> = checked.iter_mut().filter_map(|f| f.kept.take()).collect();
    if single {
        let f = checked.pop().expect("one file");
        return Ok(CheckOutput { exit_code: f.exit_code(), json: f.json, text: f.text, checked: kept });
    }
    let count = |want: Option<bool>| checked.iter().filter(|f| f.ok == want).count();
    let (good, bad, unknown) = (count(Some(true)), count(Some(false)), count(None));
    let ok = if bad > 0 {
        Some(false)
    } else if unknown > 0 {
        None
    } else {
        Some(true)
    };
    let totals = json!({
        "files": checked.len(), "linearizable": good, "not_linearizable": bad, "unknown": unknown,
        "keys": checked.iter().map(|f| f.json["keys"].as_u64().unwrap_or(0)).sum::<u64>(),
        "ops": checked.iter().map(|f| f.json["ops"].as_u64().unwrap_or(0)).sum::<u64>(),
        "files_wall_us": checked.iter().map(|f| f.json["wall_us"].as_u64().unwrap_or(0)).sum::<u64>(),
    });
    let mut text: String = checked.iter().map(|f| f.text.as_str()).collect();
    text.push_str(&format!(
        "{} files: {good} linearizable, {bad} not, {unknown} unknown · {:.3} ms\n",
        checked.len(),
        wall_us as f64 / 1e3
    ));
    let exit_code = if ok == Some(true) { 0 } else { 1 };
    let json = json!({
        "ok": ok, "files": checked.into_iter().map(|f| f.json).collect::<Vec<_>>(), "totals": totals,
        "wall_us": wall_us, "wall_ms": wall_us / 1000,
    });
    Ok(CheckOutput { json, text, exit_code, checked: kept })
}

/// One file's result.
struct FileChecked {
    ok: Option<bool>,
    json: Value,
    text: String,
    /// With [`CheckOptions::keep`].
    kept: Option<CheckedFile>,
}

impl FileChecked {
    fn exit_code(&self) -> u8 {
        if self.ok == Some(true) {
            0
        } else {
            1
        }
    }
}

/// Reads and parses one file; every problem is one line naming the file.
pub fn read_history(path: &Path) -> Result<(History, Format), String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        format!("{name}: line {line}: not UTF-8 text (expected JSON lines or EDN)")
    })?;
    let format = Format::detect(path, &text);
    let history = parse_text(&text, format).map_err(|e| format!("{name}: {e}"))?;
    if history.client_events == 0 {
        let what = if text.trim().is_empty() { "the file is empty" } else { "it has no client events" };
        return Err(format!(
            "{name}: line 1: no operations to check ({what}); an empty history is bad input, not a proof \
             (expected JSON lines like {{\"process\": 0, \"type\": \"invoke\", \"f\": \"read\", \"key\": \"k\", \
             \"value\": null, \"time\": 0}} or EDN maps like {{:type :invoke, :f :read, :process 0, :value nil}})"
        ));
    }
    Ok((history, format))
}

fn check_file(
    path: &Path,
    opts: &CheckOptions,
    deadline: Option<Instant>,
    jobs: usize,
) -> Result<FileChecked, String> {
    let started = Instant::now();
    let (history, format) = read_history(path)?;
    let remaining = |at: Instant| deadline.map(|d| d.saturating_duration_since(at));
    let budget = Budget { max_states: opts.max_states, max_wall: remaining(Instant::now()) };
    let report = check_history(&history.ops, &history.values, &budget, jobs);
    let ok = report.ok();
    // Δ-atomicity is the staleness figure of an external history (it has no commit log).
    let delta_ns = match ok {
        Some(true) => Some(0),
        _ => {
            let budget = Budget { max_states: opts.max_states, max_wall: remaining(Instant::now()) };
            delta_for_report(&history.ops, &history.values, &report, &budget, jobs)
        }
    };
    let wall_us = started.elapsed().as_micros() as u64;
    let (json, text) = render(path, format, &history, &report, ok, delta_ns, wall_us, opts.max_witness);
    let kept = opts.keep.then(|| CheckedFile { path: path.to_path_buf(), format, history, report, delta_ns });
    Ok(FileChecked { ok, json, text, kept })
}

/// An operation for the report.
fn op_json(op: &Op, values: &ValueTable) -> Value {
    let value = match op.value {
        OpValue::Single(v) => values.json(v),
        OpValue::Cas(e, n) => json!([values.json(e), values.json(n)]),
    };
    let outcome = match op.outcome {
        Outcome::Ok => "ok",
        Outcome::Info => "info",
        Outcome::Fail => "fail",
    };
    json!({"line": op.line, "process": op.process, "f": op.f, "value": value, "outcome": outcome,
           "invoke_ns": op.invoke_ns, "complete_ns": op.complete_ns})
}

#[allow(clippy::too_many_arguments)]
fn render(
    path: &Path,
    format: Format,
    history: &History,
    report: &CheckReport,
    ok: Option<bool>,
    delta_ns: Option<u64>,
    wall_us: u64,
    max_witness: usize,
) -> (Value, String) {
    let name = path.display().to_string();
    let ops = &history.ops;
    let values = &history.values;
    let lines = |indices: &[usize]| -> Vec<usize> {
        indices.iter().take(max_witness).map(|&i| ops[i].line).collect()
    };
    let mut violations = Vec::new();
    let mut unknown = Vec::new();
    let mut witness = serde_json::Map::new();
    for r in &report.results {
        match &r.verdict {
            KeyVerdict::Linearizable => {
                witness.insert(
                    r.key.clone(),
                    json!({"order_lines": lines(&r.witness), "ops": r.witness.len(),
                           "truncated": r.witness.len() > max_witness}),
                );
            }
            KeyVerdict::NotLinearizable { window, time_ns, message } => {
                violations.push(json!({
                    "invariant": "linearizable", "key": r.key, "time_ns": time_ns, "message": message,
                    "window": window.iter().map(|o| op_json(o, values)).collect::<Vec<_>>(),
                    "partial_linearization": {"order_lines": lines(&r.witness), "ops": r.witness.len(),
                                              "truncated": r.witness.len() > max_witness},
                    "cannot_place": r.unplaced.iter().map(|&i| op_json(&ops[i], values)).collect::<Vec<_>>(),
                }));
            }
            KeyVerdict::Unknown { reason } => unknown.push(json!({"key": r.key, "reason": reason})),
        }
    }
    let verdict = match ok {
        Some(true) => "linearizable",
        Some(false) => "not linearizable",
        None => "unknown",
    };
    let format_name = match format {
        Format::JsonLines => "jsonl",
        Format::Edn => "edn",
    };
    let json = json!({
        "file": name, "format": format_name, "values": if values.is_strings() { "string" } else { "integer" },
        "ok": ok, "verdict": verdict, "keys": report.keys, "ops": report.ops,
        "violations": violations, "unknown": unknown, "witness": witness, "min_delta_ns": delta_ns,
        "wall_us": wall_us, "wall_ms": wall_us / 1000,
    });

    let mut text = format!(
        "{name}: {verdict} · {} keys · {} ops · {:.3} ms\n",
        report.keys,
        report.ops,
        wall_us as f64 / 1e3
    );
    for r in &report.results {
        match &r.verdict {
            KeyVerdict::Linearizable => {}
            KeyVerdict::NotLinearizable { window, time_ns, message } => {
                text.push_str(&format!(
                    "invariant `linearizable` violated at t={time_ns}ns: key {}\n",
                    r.key
                ));
                text.push_str(&format!("  {message}\n"));
                for o in window {
                    text.push_str(&format!("    line {}: {}\n", o.line, short(o, values)));
                }
                text.push_str(&format!(
                    "  longest partial linearization: {} ops; cannot place: {}\n",
                    r.witness.len(),
                    r.unplaced
                        .iter()
                        .map(|&i| format!("line {}", ops[i].line))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            KeyVerdict::Unknown { reason } => text.push_str(&format!("key {}: unknown ({reason})\n", r.key)),
        }
    }
    match delta_ns {
        Some(d) => text.push_str(&format!("smallest Δ for which the history is Δ-atomic: {d} ns\n")),
        None => {
            text.push_str("no staleness bound Δ makes the history atomic (or the search ran out of budget)\n")
        }
    }
    (json, text)
}

/// `p3 write 7 [120, 950]`.
fn short(o: &Op, values: &ValueTable) -> String {
    let value = match (o.f, o.value) {
        (OpFn::Delete, _) => String::new(),
        (_, OpValue::Single(v)) => format!(" {}", values.show(v)),
        (_, OpValue::Cas(e, n)) => format!(" [{} -> {}]", values.show(e), values.show(n)),
    };
    let end = o.complete_ns.map_or("…".to_string(), |c| c.to_string());
    format!("p{} {}{value} [{}, {end}]", o.process, o.f.name(), o.invoke_ns)
}
