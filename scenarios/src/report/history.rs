//! The page of `tiersim check --html OUT`: every checked history as timelines, in the look of the
//! run report (the same styles, time axis, grid and lane column), so that a person can see why a
//! history is or is not linearizable.
//!
//! One page holds every file of the call: an index of the files with their verdicts when there
//! are several, then a section per file (not linearizable first, then undecided, then
//! linearizable, each group in the order the files were given), and inside it a section per key
//! in the same order of verdicts (by name within each). A key's timeline has a lane per client
//! process that touched the key, and each operation is a bar from its invoke to its completion,
//! coloured by outcome (ok, fail, or indeterminate — `info` or never completed — drawn dashed to
//! the end of the drawing, since it may take effect at any time after its invoke, or never) and
//! labelled with its function and value. On the bars:
//! - the linearization the checker found is numbered: for a linearizable key its witness, for a
//!   violated key the longest partial linearization (of the longest linearizable prefix of the
//!   key's history). Each number stands above a tick at a linearization point consistent with
//!   the order (the middle of the span the order leaves the operation), and a thin line joins
//!   the points in order;
//! - for a violated key, the operations of the window that forms the contradiction are outlined
//!   in red over a pale band, the ones that cannot be placed after the partial linearization are
//!   hatched, and a red line marks where the linearization got stuck: the completion of the
//!   operation that cannot be placed (the end of the shortest prefix that is not linearizable).
//!
//! Nothing is left out silently. A key with more than `max_ops_per_key` operations is drawn as a
//! stretch of that many (around the operation that cannot be placed, else from the start), and
//! the page says which and names the flags that draw the rest (`--html-max-ops`, `--html-key`).
//! One page draws at most `PAGE_OPS_MAX` bars; keys beyond that are listed with their verdicts
//! and the same advice.
//!
//! Every element a reader (or the browser test) needs to find carries data: bars
//! `data-line` (the invoke's line in the file), numbers `data-order` and their point's
//! `data-time-ns`, the stuck marker `data-time-ns`, sections `data-file`, `data-key` and `data-verdict`. The page's short script
//! scrolls each timeline to its stuck marker and records on `<body>` what the browser laid out
//! with a size (`data-drawn-ops`, `-order`, `-window`, `-unplaced`, `-stuck`). The page is a pure
//! function of its input (no wall-clock figure is drawn), and all text from the files is escaped.

use super::axis::{fit, Axis};
use super::page::Page;
use super::svg::{Rows, AXIS_PX, CHAR_PX, DEFS, LABEL_PX, VIOLATION_ROW_PX};
use super::text::{duration, escape, ms};
use super::timeline::grid;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use tiersim_sim::check::command::CheckedFile;
use tiersim_sim::check::parse::{Format, Op, Outcome};
use tiersim_sim::check::value::ValueTable;
use tiersim_sim::check::wgl::{partition, KeyResult, KeyVerdict};
use tiersim_sim::history::{OpFn, OpValue};

/// Operations drawn per key unless the caller says otherwise.
pub const MAX_OPS_PER_KEY: usize = 2_000;
/// Operation bars one page draws at most, whatever the caller asks per key.
pub const PAGE_OPS_MAX: usize = 100_000;
/// How much of a key is drawn before the operation that cannot be placed, as a share of what is
/// drawn (the partial linearization leads up to it).
const BEFORE_FOCUS: f64 = 0.75;
/// A process lane: the order numbers above, the bar below.
const LANE_PX: f64 = 32.0;
const BAR_TOP_PX: f64 = 14.0;
const BAR_PX: f64 = 14.0;
/// Bounds of the scale, px per ns: operations of a recorded history may last a few µs (the
/// etcd histories' events are 1 µs apart) or minutes.
const PX_PER_NS: (f64, f64) = (1e-9, 1.0);

/// What the page draws.
#[derive(Clone, Debug)]
pub struct HistoryPageOptions {
    /// Most operations drawn per key (a stretch of the key's operations in invoke order).
    pub max_ops_per_key: usize,
    /// When not empty, only these keys are drawn (the others are listed with their verdicts).
    pub keys: Vec<String>,
}

impl Default for HistoryPageOptions {
    fn default() -> Self {
        HistoryPageOptions { max_ops_per_key: MAX_OPS_PER_KEY, keys: Vec::new() }
    }
}

/// The styles the page adds to the report's.
const STYLE: &str = r#"
.verdict.unknown { background: var(--info); }
section.file { border-top: 2px solid #d9dee3; margin-top: 22px; }
section.key h3 { font-size: 14px; margin: 16px 0 4px; }
table.files { border-collapse: collapse; font-size: 13px; }
table.files td, table.files th { padding: 2px 14px 2px 0; text-align: left; }
table.files td.num { text-align: right; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
svg .op.window { stroke: var(--stale); stroke-width: 2.5; }
svg .op.unplaced { fill: url(#hatch); stroke: var(--stale); stroke-width: 2.5; }
svg .oplabel.onhatch { fill: var(--ink); font-weight: 600; }
svg .windowband { fill: #fdecec; }
svg .lp line { stroke: var(--ink); stroke-width: 2; }
svg .lp text { font-size: 9px; fill: var(--ink); font-weight: 600; }
svg .lpath { fill: none; stroke: #6b2fb3; stroke-width: 1; opacity: 0.55; }
"#;

/// The page's only script (the page works without it).
const SCRIPT: &str = r#"
(function () {
  var scrolls = document.querySelectorAll('.scroll[data-focus-x]');
  for (var i = 0; i < scrolls.length; i++) {
    var s = scrolls[i];
    s.scrollLeft = Math.max(0, parseFloat(s.getAttribute('data-focus-x')) - s.clientWidth * 0.6);
  }
  // What the browser drew, for tests and for anyone checking the page.
  function drawn(selector) {
    var all = document.querySelectorAll(selector), shown = 0;
    for (var j = 0; j < all.length; j++) {
      var r = all[j].getBoundingClientRect();
      if (r.width > 0 && r.height > 0) shown++;
    }
    return String(shown);
  }
  var b = document.body;
  b.setAttribute('data-drawn-ops', drawn('rect.op[data-line]'));
  b.setAttribute('data-drawn-order', drawn('g.lp[data-order]'));
  b.setAttribute('data-drawn-window', drawn('rect.op.window[data-line]'));
  b.setAttribute('data-drawn-unplaced', drawn('rect.op.unplaced[data-line]'));
  b.setAttribute('data-drawn-stuck', drawn('g.stuck[data-time-ns]'));
})();
"#;

/// Render the checked `files` as one self-contained HTML page headed by `title`.
pub fn render_checked(title: &str, files: &[CheckedFile], opts: &HistoryPageOptions) -> String {
    let mut page = Page::default();
    page.head_of("tiersim check", title, STYLE);
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| rank(files[i].report.ok()));
    header(&mut page.out, title, files, opts);
    if files.len() > 1 {
        index(&mut page.out, files, &order);
    }
    legend(&mut page.out);
    let mut budget = PAGE_OPS_MAX;
    for &i in &order {
        file_section(&mut page.out, i, &files[i], opts, &mut budget);
    }
    page.finish_with(SCRIPT);
    page.out
}

/// Not linearizable first, then undecided, then linearizable.
fn rank(ok: Option<bool>) -> u8 {
    match ok {
        Some(false) => 0,
        None => 1,
        Some(true) => 2,
    }
}

/// The verdict's words and the class of its badge.
fn verdict(ok: Option<bool>) -> (&'static str, &'static str) {
    match ok {
        Some(true) => ("linearizable", "pass"),
        Some(false) => ("not linearizable", "fail"),
        None => ("unknown", "unknown"),
    }
}

fn key_ok(r: &KeyResult) -> Option<bool> {
    match r.verdict {
        KeyVerdict::Linearizable => Some(true),
        KeyVerdict::NotLinearizable { .. } => Some(false),
        KeyVerdict::Unknown { .. } => None,
    }
}

/// The title with the verdict of the whole call, and its counts.
fn header(out: &mut String, title: &str, files: &[CheckedFile], opts: &HistoryPageOptions) {
    let overall = if files.iter().any(|f| f.report.ok() == Some(false)) {
        Some(false)
    } else if files.iter().any(|f| f.report.ok().is_none()) {
        None
    } else {
        Some(true)
    };
    let (word, class) = verdict(overall);
    let _ = writeln!(
        out,
        "<header>\n<h1>{}<span class=\"verdict {class}\" id=\"verdict\">{word}</span></h1>",
        escape(title)
    );
    let count = |want: Option<bool>| files.iter().filter(|f| f.report.ok() == want).count();
    let facts = if files.len() == 1 {
        Vec::new()
    } else {
        vec![
            ("files", files.len().to_string()),
            ("linearizable", count(Some(true)).to_string()),
            ("not linearizable", count(Some(false)).to_string()),
            ("unknown", count(None).to_string()),
            ("keys", files.iter().map(|f| f.report.keys).sum::<usize>().to_string()),
            ("operations", files.iter().map(|f| f.report.ops).sum::<usize>().to_string()),
        ]
    };
    if !facts.is_empty() {
        facts_list(out, &facts);
    }
    let _ = writeln!(
        out,
        "<p class=\"scope\">Each key is drawn with up to {} operations (<code>--html-max-ops</code>), a page with up to {PAGE_OPS_MAX}.{}</p>\n</header>",
        opts.max_ops_per_key,
        if opts.keys.is_empty() {
            String::new()
        } else {
            format!(" Only the keys {} are drawn (<code>--html-key</code>).", escape(&quoted(&opts.keys)))
        }
    );
}

fn facts_list(out: &mut String, facts: &[(&str, String)]) {
    out.push_str("<dl class=\"facts\">\n");
    for (k, v) in facts {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(v));
    }
    out.push_str("</dl>\n");
}

fn quoted(keys: &[String]) -> String {
    keys.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ")
}

/// The files as a table in the order of their sections, each a link to its section.
fn index(out: &mut String, files: &[CheckedFile], order: &[usize]) {
    out.push_str(
        "<section>\n<h2>Files</h2>\n<table class=\"files\">\n<tr><th>file</th><th>verdict</th><th>keys</th><th>ops</th><th>smallest Δ</th></tr>\n",
    );
    for &i in order {
        let f = &files[i];
        let (word, _) = verdict(f.report.ok());
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#file-{i}\">{}</a></td><td>{word}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(&f.path.display().to_string()),
            f.report.keys,
            f.report.ops,
            delta_text(f.delta_ns)
        );
    }
    out.push_str("</table>\n</section>\n");
}

fn delta_text(delta_ns: Option<u64>) -> String {
    delta_ns.map_or("none".to_string(), |d| format!("{d} ns"))
}

/// A legend of every mark the timelines draw.
fn legend(out: &mut String) {
    let item = |svg: &str, text: &str| {
        format!("<span><svg width=\"26\" height=\"16\" viewBox=\"0 0 26 16\">{svg}</svg>{text}</span>")
    };
    let items = [
        item("<rect class=\"op ok\" x=\"1\" y=\"3\" width=\"24\" height=\"10\" rx=\"2\"/>", "op ok"),
        item("<rect class=\"op fail\" x=\"1\" y=\"3\" width=\"24\" height=\"10\" rx=\"2\"/>", "op failed"),
        item(
            "<rect class=\"op info\" x=\"1\" y=\"3\" width=\"24\" height=\"10\" rx=\"2\"/>",
            "op indeterminate (info or never completed): may take effect any time after its invoke, or never",
        ),
        item(
            "<g class=\"lp\"><line x1=\"13\" y1=\"9\" x2=\"13\" y2=\"16\"/><text x=\"13\" y=\"8\" text-anchor=\"middle\">3</text></g>",
            "third in the linearization (witness, or longest partial linearization)",
        ),
        item("<rect class=\"windowband\" x=\"0\" y=\"0\" width=\"26\" height=\"16\"/><rect class=\"op ok window\" x=\"3\" y=\"3\" width=\"20\" height=\"10\" rx=\"2\"/>", "in the window of the contradiction"),
        item("<rect class=\"op ok unplaced\" x=\"2\" y=\"3\" width=\"22\" height=\"10\" rx=\"2\"/>", "cannot be placed after the partial linearization"),
        item("<rect x=\"12\" y=\"0\" width=\"2\" height=\"16\" fill=\"#d33f3f\"/>", "where the linearization got stuck"),
        item("<rect class=\"gap\" x=\"4\" y=\"1\" width=\"18\" height=\"14\"/>", "idle stretch compressed"),
    ];
    out.push_str("<h2>Timelines</h2>\n<div class=\"legend\">\n");
    for i in items {
        out.push_str(&i);
        out.push('\n');
    }
    out.push_str("</div>\n");
}

/// One file: its facts, then a section per key.
fn file_section(out: &mut String, i: usize, f: &CheckedFile, opts: &HistoryPageOptions, budget: &mut usize) {
    let name = f.path.display().to_string();
    let (word, class) = verdict(f.report.ok());
    let _ = writeln!(
        out,
        "<section class=\"file\" id=\"file-{i}\" data-file=\"{}\" data-verdict=\"{word}\">\n<h2>{}<span class=\"verdict {class}\">{word}</span></h2>",
        escape(&name),
        escape(&name)
    );
    let values = &f.history.values;
    let facts = [
        (
            "format",
            match f.format {
                Format::JsonLines => "tiersim JSON lines".to_string(),
                Format::Edn => "Jepsen EDN".to_string(),
            },
        ),
        ("values", if values.is_strings() { "strings" } else { "integers" }.to_string()),
        ("keys", f.report.keys.to_string()),
        ("operations", f.report.ops.to_string()),
        ("smallest Δ", delta_text(f.delta_ns)),
    ];
    facts_list(out, &facts);
    let by_key = partition(&f.history.ops);
    let mut results: Vec<&KeyResult> = f.report.results.iter().collect();
    results.sort_by_key(|r| rank(key_ok(r)));
    let mut left_out: Vec<(&KeyResult, &str)> = Vec::new();
    for (n, r) in results.iter().enumerate() {
        if !opts.keys.is_empty() && !opts.keys.contains(&r.key) {
            left_out.push((r, "not asked for with --html-key"));
            continue;
        }
        if *budget == 0 {
            left_out.push((r, "the page already draws as many operations as one page draws"));
            continue;
        }
        let indices = by_key.get(r.key.as_str()).map_or(&[][..], |v| v.as_slice());
        let drawn = KeyDrawing::new(f, r, indices, opts.max_ops_per_key.min(*budget));
        *budget -= drawn.to - drawn.from;
        drawn.write(out, i, n);
    }
    if !left_out.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"scope\">{} of this file not drawn; <code>tiersim check --html OUT --html-key KEY {}</code> draws one:</p>\n<ul class=\"scope\">",
            match left_out.len() {
                1 => "1 key".to_string(),
                n => format!("{n} keys"),
            },
            escape(&name)
        );
        for (r, why) in left_out {
            let (word, _) = verdict(key_ok(r));
            let _ = writeln!(out, "<li>key <code>{}</code>: {word} ({why})</li>", escape(&key_name(&r.key)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

/// What one key's timeline shows: the stretch of its operations drawn, their positions in the
/// linearization with a point for each, and the violation's marks.
struct KeyDrawing<'a> {
    file: &'a CheckedFile,
    result: &'a KeyResult,
    /// The key's operations (indices into the file's), in invoke order; `from..to` is drawn.
    indices: &'a [usize],
    from: usize,
    to: usize,
    /// Per operation of the linearization: (position from 1, linearization point).
    order: BTreeMap<usize, (usize, u64)>,
    window: BTreeSet<usize>,
    unplaced: BTreeSet<usize>,
    /// Where the linearization got stuck, for a violated key.
    stuck_ns: Option<u64>,
}

impl<'a> KeyDrawing<'a> {
    fn new(file: &'a CheckedFile, result: &'a KeyResult, indices: &'a [usize], cap: usize) -> Self {
        let ops = &file.history.ops;
        let n = indices.len();
        let cap = cap.min(n);
        // The stretch drawn: around the operation that cannot be placed, else from the start.
        let focus = result.unplaced.first().and_then(|u| indices.iter().position(|i| i == u));
        let from = focus.map_or(0, |at| at.saturating_sub((cap as f64 * BEFORE_FOCUS) as usize)).min(n - cap);
        let points = linearization_points(ops, &result.witness);
        let order =
            result.witness.iter().zip(points).enumerate().map(|(k, (&i, t))| (i, (k + 1, t))).collect();
        let (window, stuck_ns) = match &result.verdict {
            KeyVerdict::NotLinearizable { window, time_ns, .. } => {
                let lines: BTreeSet<usize> = window.iter().map(|o| o.line).collect();
                let window = indices.iter().copied().filter(|&i| lines.contains(&ops[i].line)).collect();
                // The shortest prefix that is not linearizable ends at the completion of the
                // operations that cannot be placed.
                let stuck =
                    result.unplaced.iter().filter_map(|&i| ops[i].complete_ns).max().unwrap_or(*time_ns);
                (window, Some(stuck))
            }
            _ => (BTreeSet::new(), None),
        };
        KeyDrawing {
            file,
            result,
            indices,
            from,
            to: from + cap,
            order,
            window,
            unplaced: result.unplaced.iter().copied().collect(),
            stuck_ns,
        }
    }

    fn drawn(&self) -> &'a [usize] {
        &self.indices[self.from..self.to]
    }

    /// The key's heading, what the checker said, notes on what is drawn, and the timeline.
    fn write(&self, out: &mut String, file_i: usize, key_i: usize) {
        let (r, ops, values) = (self.result, &self.file.history.ops, &self.file.history.values);
        let (word, class) = verdict(key_ok(r));
        let _ = writeln!(
            out,
            "<section class=\"key\" data-key=\"{}\" data-verdict=\"{word}\">\n<h3>key <code>{}</code><span class=\"verdict {class}\">{word}</span></h3>",
            escape(&r.key),
            escape(&key_name(&r.key))
        );
        let lines = |set: &BTreeSet<usize>| {
            set.iter().map(|&i| format!("line {}", ops[i].line)).collect::<Vec<_>>().join(", ")
        };
        match &r.verdict {
            KeyVerdict::Linearizable => {
                let _ = writeln!(
                    out,
                    "<p class=\"scope\">Linearizable: the numbers give a linearization of the {} operations that took effect (indeterminate ones that need not take effect are left unnumbered).</p>",
                    r.witness.len()
                );
            }
            KeyVerdict::NotLinearizable { message, .. } => {
                let _ = writeln!(
                    out,
                    "<p><span class=\"inv\">not linearizable</span>: {}.</p>\n<p class=\"scope\">The longest partial linearization (numbered) has {} operations; it got stuck at {} (red line), where {} cannot be placed after it. The window of the contradiction (outlined): {}.</p>",
                    escape(message),
                    r.witness.len(),
                    at(self.stuck_ns.unwrap_or(0)),
                    escape(&lines(&self.unplaced)),
                    escape(&lines(&self.window))
                );
            }
            KeyVerdict::Unknown { reason } => {
                let _ = writeln!(
                    out,
                    "<p class=\"scope\">Undecided: {} (<code>--max-states</code> or <code>--timeout</code> give the search more room).</p>",
                    escape(reason)
                );
            }
        }
        self.notes(out);
        self.timeline(out, file_i, key_i, values);
        out.push_str("</section>\n");
    }

    /// What the drawing leaves out, said on the page.
    fn notes(&self, out: &mut String) {
        let n = self.indices.len();
        if self.to - self.from < n {
            let _ = writeln!(
                out,
                "<p class=\"scope\">Operations {}–{} of the {n} of this key (in invoke order) are drawn{}; {}, <code>--html-key {}</code> draws only this key, and <code>--json</code> gives the linearization's order by invoke line.</p>",
                self.from + 1,
                self.to,
                if self.unplaced.is_empty() { "" } else { ", around the operation that cannot be placed" },
                if n <= PAGE_OPS_MAX {
                    format!("<code>--html-max-ops {n}</code> draws them all")
                } else {
                    format!("<code>--html-max-ops {PAGE_OPS_MAX}</code> draws the most one page holds")
                },
                escape(&format!("{:?}", self.result.key))
            );
        }
        let drawn: BTreeSet<usize> = self.drawn().iter().copied().collect();
        let ops = &self.file.history.ops;
        let outside: Vec<String> = self
            .window
            .iter()
            .chain(&self.unplaced)
            .filter(|i| !drawn.contains(i))
            .map(|&i| format!("line {}", ops[i].line))
            .collect();
        if !outside.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"scope\">Outside the drawn stretch: {} (raise <code>--html-max-ops</code> to see them).</p>",
                escape(&outside.join(", "))
            );
        }
    }

    /// The lanes with their bars, the numbers and the marks, in the report's two-column layout.
    fn timeline(&self, out: &mut String, file_i: usize, key_i: usize, values: &ValueTable) {
        let ops = &self.file.history.ops;
        let drawn = self.drawn();
        let mut times = Vec::new();
        let mut durations = Vec::new();
        for &i in drawn {
            let o = &ops[i];
            times.push(o.invoke_ns);
            if let Some(c) = o.complete_ns {
                times.push(c);
                durations.push(c - o.invoke_ns);
            }
            if let Some((_, t)) = self.order.get(&i) {
                times.push(*t);
            }
        }
        let end_ns = times.iter().copied().max().unwrap_or(0);
        if let Some(s) = self.stuck_ns.filter(|&s| s <= end_ns) {
            times.push(s);
        }
        let axis = fit(times, durations, end_ns, PX_PER_NS);

        let processes: BTreeSet<u64> = drawn.iter().map(|&i| ops[i].process).collect();
        let mut rows = Rows { labels: String::new(), body: String::new(), y: AXIS_PX };
        let marks_y = rows.y;
        if self.stuck_ns.is_some() {
            rows.y += VIOLATION_ROW_PX;
        }
        let lane_y: BTreeMap<u64, f64> =
            processes.iter().enumerate().map(|(k, p)| (*p, rows.y + k as f64 * LANE_PX)).collect();
        let lanes_top = rows.y;
        let lanes_bottom = rows.y + processes.len() as f64 * LANE_PX;
        for (k, (p, y)) in lane_y.iter().enumerate() {
            if k % 2 == 0 {
                let _ = writeln!(
                    rows.body,
                    "<rect class=\"rowbg\" x=\"0\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{LANE_PX}\"/>",
                    axis.width
                );
            }
            rows.label(*y + BAR_TOP_PX / 2.0, LANE_PX - BAR_TOP_PX / 2.0, &format!("p{p}"), "");
        }
        self.window_band(&mut rows.body, &axis, lanes_top, lanes_bottom);
        rows.body.push_str("<g class=\"ops\">\n");
        for &i in drawn {
            self.bar(&mut rows.body, i, lane_y[&ops[i].process], &axis, values);
        }
        rows.body.push_str("</g>\n");
        self.order_marks(&mut rows.body, &axis, &lane_y);
        rows.y = lanes_bottom;
        let height = rows.y + AXIS_PX;
        let under = grid(&axis, height);
        let (over, focus_x) = match self.stuck_ns {
            Some(s) => {
                let x = axis.x(s);
                (self.stuck_mark(x, s, marks_y, height), Some(x))
            }
            None => (String::new(), None),
        };
        let Rows { labels, body, .. } = rows;
        let _ = writeln!(
            out,
            "<div class=\"timeline\">\n<div class=\"lanes\"><svg width=\"{LABEL_PX}\" height=\"{height:.0}\" viewBox=\"0 0 {LABEL_PX} {height:.0}\">\
             <text class=\"lanelabel sub\" x=\"8\" y=\"14\">time</text>\n{labels}</svg></div>"
        );
        let _ = writeln!(
            out,
            "<div class=\"scroll\" id=\"scroll-{file_i}-{key_i}\"{}><svg width=\"{w:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {w:.0} {height:.0}\">{DEFS}\n{under}{body}{over}</svg></div>\n</div>",
            focus_x.map_or(String::new(), |x| format!(" data-focus-x=\"{x:.1}\"")),
            w = axis.width
        );
    }

    /// The pale band behind the window's operations, across every lane.
    fn window_band(&self, body: &mut String, axis: &Axis, top: f64, bottom: f64) {
        let ops = &self.file.history.ops;
        let drawn: BTreeSet<usize> = self.drawn().iter().copied().collect();
        let shown: Vec<&Op> = self.window.iter().filter(|i| drawn.contains(i)).map(|&i| &ops[i]).collect();
        // From the first invoke to the stuck point or the last completion, whichever is later;
        // indeterminate operations would stretch it to the end of the drawing.
        let end_ns = shown.iter().filter_map(|o| o.complete_ns).chain(self.stuck_ns).max();
        let (Some(t0), Some(t1)) = (shown.iter().map(|o| o.invoke_ns).min(), end_ns) else {
            return;
        };
        let (x0, x1) = (axis.x(t0) - 3.0, axis.x(t1) + 3.0);
        let _ = writeln!(
            body,
            "<rect class=\"windowband\" x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>the window of the contradiction</title></rect>",
            x1 - x0,
            bottom - top
        );
    }

    /// Where an operation's bar ends: its completion, or the end of the drawing when it has none.
    fn bar_end_x(&self, o: &Op, axis: &Axis) -> f64 {
        o.complete_ns.map_or(axis.width - 20.0, |c| axis.x(c))
    }

    /// One operation as a bar in its process's lane at `y`, labelled inside when the label fits.
    fn bar(&self, body: &mut String, i: usize, y: f64, axis: &Axis, values: &ValueTable) {
        let o = &self.file.history.ops[i];
        let x0 = axis.x(o.invoke_ns);
        let x1 = self.bar_end_x(o, axis).max(x0 + 1.5);
        let w = (x1 - x0 - 1.0).max(1.5);
        let outcome = match o.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        };
        let window = if self.window.contains(&i) { " window" } else { "" };
        let unplaced = self.unplaced.contains(&i);
        let label = label(o, values);
        let mut tip = format!("line {} · p{} · {label} · invoked at {}", o.line, o.process, at(o.invoke_ns));
        match o.complete_ns {
            Some(c) => {
                let how = if o.outcome == Outcome::Fail { "failed" } else { "ok" };
                let _ = write!(tip, " · {how} at {} after {}", at(c), span(c - o.invoke_ns));
            }
            None => tip.push_str(" · indeterminate: may take effect any time after its invoke, or never"),
        }
        if let Some((k, t)) = self.order.get(&i) {
            let _ = write!(tip, " · #{k} in the linearization, at {}", at(*t));
        }
        if !window.is_empty() {
            tip.push_str(" · in the window of the contradiction");
        }
        if unplaced {
            tip.push_str(" · cannot be placed after the partial linearization");
        }
        let _ = write!(
            body,
            "<g><rect class=\"op {outcome}{window}{}\" data-line=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{BAR_PX}\" rx=\"2\"><title>{}</title></rect>",
            if unplaced { " unplaced" } else { "" },
            o.line,
            y + BAR_TOP_PX,
            escape(&tip)
        );
        let fits = |s: &str| s.chars().count() as f64 * CHAR_PX + 6.0 <= w;
        let shown = if fits(&label) { Some(label.as_str()) } else { Some(o.f.name()).filter(|s| fits(s)) };
        if let Some(s) = shown {
            let class = if unplaced { " onhatch" } else { "" };
            let _ = write!(
                body,
                "<text class=\"oplabel{class}\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x0 + 3.0,
                y + BAR_TOP_PX + 10.5,
                escape(s)
            );
        }
        body.push_str("</g>\n");
    }

    /// The numbers of the drawn operations in the linearization, each over a tick at its
    /// linearization point, and the line through the points in order.
    fn order_marks(&self, body: &mut String, axis: &Axis, lane_y: &BTreeMap<u64, f64>) {
        let ops = &self.file.history.ops;
        let mut drawn: Vec<(usize, u64, usize)> =
            self.drawn().iter().filter_map(|&i| self.order.get(&i).map(|&(k, t)| (k, t, i))).collect();
        drawn.sort_unstable();
        if drawn.is_empty() {
            return;
        }
        let mid = |i: usize| lane_y[&ops[i].process] + BAR_TOP_PX + BAR_PX / 2.0;
        let path: Vec<String> =
            drawn.iter().map(|&(_, t, i)| format!("{:.1},{:.1}", axis.x(t), mid(i))).collect();
        let _ = writeln!(body, "<polyline class=\"lpath\" points=\"{}\"/>", path.join(" "));
        for (k, t, i) in drawn {
            let x = axis.x(t);
            let top = lane_y[&ops[i].process] + BAR_TOP_PX;
            let _ = writeln!(
                body,
                "<g class=\"lp\" data-line=\"{}\" data-order=\"{k}\" data-time-ns=\"{t}\"><title>#{k} in the linearization: line {} at {}</title>\
                 <line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{k}</text></g>",
                ops[i].line,
                ops[i].line,
                at(t),
                top - 3.0,
                top + BAR_PX,
                top - 4.0
            );
        }
    }

    /// The red line where the linearization got stuck, labelled in the marks row at `y`.
    fn stuck_mark(&self, x: f64, stuck_ns: u64, y: f64, height: f64) -> String {
        let ops = &self.file.history.ops;
        let lines: Vec<String> = self.unplaced.iter().map(|&i| ops[i].line.to_string()).collect();
        let text = format!("stuck · cannot place line {} · {}", lines.join(", "), at(stuck_ns));
        let w = text.chars().count() as f64 * CHAR_PX + 8.0;
        format!(
            "<g class=\"violation stuck\" data-x=\"{x:.1}\" data-time-ns=\"{stuck_ns}\"><title>the longest partial linearization got stuck here</title>\
             <line x1=\"{x:.1}\" y1=\"18\" x2=\"{x:.1}\" y2=\"{:.1}\"/><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"15\" rx=\"2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>\n",
            height - AXIS_PX + 4.0,
            y + 1.0,
            x + 4.0,
            y + 12.0,
            escape(&text)
        )
    }
}

/// A key as the page names it: as it is, or `""` for the one register of a history without keys.
fn key_name(key: &str) -> String {
    if key.is_empty() {
        "\"\"".to_string()
    } else {
        key.to_string()
    }
}

/// `write 4`, `read null`, `cas 1→2`, `append "x 0 1 y"`, `delete`: the function and its value.
fn label(o: &Op, values: &ValueTable) -> String {
    let v = |x: Option<i64>| values.json(x).to_string();
    match (o.f, o.value) {
        (OpFn::Delete, _) => "delete".to_string(),
        (OpFn::Read, _) if o.outcome != Outcome::Ok => "read".to_string(),
        (f, OpValue::Single(x)) => format!("{} {}", f.name(), v(x)),
        (f, OpValue::Cas(e, n)) => format!("{} {}→{}", f.name(), v(e), v(n)),
    }
}

/// A linearization point for each operation of `order` (indices into `ops`), in order: the
/// middle of the span the order leaves it, between the earliest instant it can take effect
/// (its invoke, or the point of the one before if that is later) and the latest (its completion,
/// or the latest point of the one after if that is earlier). The points never decrease, and
/// each lies inside its operation's interval when the order is a linearization.
fn linearization_points(ops: &[Op], order: &[usize]) -> Vec<u64> {
    let mut earliest = Vec::with_capacity(order.len());
    let mut e = 0;
    for &i in order {
        e = e.max(ops[i].invoke_ns);
        earliest.push(e);
    }
    // An indeterminate operation has no completion to bound it: the last instant of the key
    // does, so that the points stay in order.
    let end_ns = order.iter().map(|&i| ops[i].complete_ns.unwrap_or(ops[i].invoke_ns)).max().unwrap_or(0);
    let mut latest = vec![end_ns; order.len()];
    let mut l = end_ns;
    for (k, &i) in order.iter().enumerate().rev() {
        l = l.min(ops[i].complete_ns.unwrap_or(end_ns));
        latest[k] = l;
    }
    earliest.iter().zip(&latest).map(|(&e, &l)| if l < e { e } else { e + (l - e) / 2 }).collect()
}

/// An instant of a recorded history, in the unit its ticks use: ns below a µs (histories whose
/// times are their event order), µs below a ms, else ms.
fn at(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{}.{:03} µs", ns / 1_000, ns % 1_000)
    } else {
        ms(ns)
    }
}

/// A duration, in ns below a microsecond.
fn span(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns} ns")
    } else {
        duration(ns)
    }
}

#[cfg(test)]
mod tests {
    // Named from the crate root rather than `super` (the layout test's limit).
    use crate::report::history::linearization_points;
    use tiersim_sim::check::parse::{Op, Outcome};
    use tiersim_sim::history::{OpFn, OpValue};

    fn op(f: OpFn, value: i64, invoke_ns: u64, complete_ns: Option<u64>) -> Op {
        Op {
            process: invoke_ns,
            f,
            key: "k".into(),
            value: OpValue::Single(Some(value)),
            outcome: if complete_ns.is_some() { Outcome::Ok } else { Outcome::Info },
            invoke_ns,
            complete_ns,
            line: invoke_ns as usize,
        }
    }

    #[test]
    fn points_follow_the_order_inside_each_interval_and_only_for_a_linearization() {
        // write 1 [0, 100], read 1 [10, 20], write 2 [50, 60], an indeterminate write 3 from 70.
        let ops = vec![
            op(OpFn::Write, 1, 0, Some(100)),
            op(OpFn::Read, 1, 10, Some(20)),
            op(OpFn::Write, 2, 50, Some(60)),
            op(OpFn::Write, 3, 70, None),
        ];
        let order = [0, 1, 2, 3];
        let points = linearization_points(&ops, &order);
        assert!(points.windows(2).all(|w| w[0] <= w[1]), "{points:?}");
        for (&i, &t) in order.iter().zip(&points) {
            assert!(t >= ops[i].invoke_ns && ops[i].complete_ns.is_none_or(|c| t <= c), "op {i} at {t}");
        }
        // The read's span is [10, 20] (after the write's earliest point, before its end).
        assert_eq!(points[1], 15);
        // An order that is no linearization (the read after a write that began once it ended)
        // cannot be given points inside every interval.
        let wrong = [0, 2, 1, 3];
        let points = linearization_points(&ops, &wrong);
        let inside = wrong
            .iter()
            .zip(&points)
            .all(|(&i, &t)| t >= ops[i].invoke_ns && ops[i].complete_ns.is_none_or(|c| t <= c));
        assert!(!inside, "{points:?}");
    }
}
