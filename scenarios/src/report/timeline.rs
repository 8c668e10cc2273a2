//! The timeline: notes on what it shows, then one drawing with the rows top to bottom (violation
//! labels, faults, one row per client process with its operations as bars, the focus keys'
//! lanes), laid over a grid with the time axis, under the violation markers.
//!
//! The order of drawing is the order of layering in SVG: the grid and the idle breaks first, so
//! that everything lies on them; the violation markers last, so that nothing hides them.

use super::axis::{axis_for, Axis};
use super::collect::{Op, Run, FAULT_ROWS_MAX};
use super::lanes::key_lanes;
use super::svg::{Rows, AXIS_PX, CHAR_PX, DEFS, FAULT_ROW_PX, LABEL_PX, OP_ROW_PX, VIOLATION_ROW_PX};
use super::text::{duration, escape, ms};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use tiersim_model::outcome::Outcome;
use tiersim_sim::history::EventType;

/// At most this many violation markers are drawn; the page says how many more there were.
const VIOLATION_MARKS_MAX: usize = 40;
/// Violation labels take turns over this many rows, so that close ones do not overlap.
const VIOLATION_ROWS: usize = 3;

/// Write the timeline of `run` to `out`, with the notes above it, and return its axis (the
/// page links its violation list to positions on it).
pub(super) fn write(out: &mut String, run: &Run, outcome: &Outcome) -> Axis {
    let axis = axis_for(run, outcome);
    notes(out, run, outcome, &axis);

    let mut rows = Rows { labels: String::new(), body: String::new(), y: AXIS_PX };
    let n_violation_rows = outcome.violations.len().clamp(0, VIOLATION_ROWS);
    let violation_y = rows.y;
    rows.y += VIOLATION_ROW_PX * n_violation_rows as f64;
    fault_rows(&mut rows, run, &axis);
    let focus: BTreeSet<&str> = run.keys.iter().map(|k| k.key.as_str()).collect();
    process_rows(&mut rows, run, &axis, &focus);
    for k in &run.keys {
        if !k.untouched.is_empty() {
            let _ = writeln!(
                out,
                "<p class=\"scope\">Key {}: nodes that never held, served or invalidated it have no lane: {}.</p>",
                escape(&k.key),
                escape(&k.untouched.join(", "))
            );
        }
        key_lanes(&mut rows, k, &axis, run.end_ns);
    }
    let height = rows.y + AXIS_PX;

    let under = grid(&axis, height);
    let over = violation_marks(outcome, &axis, &focus, violation_y, height);
    let Rows { labels, body, .. } = rows;
    let _ = writeln!(
        out,
        "<div class=\"timeline\">\n<div class=\"lanes\"><svg width=\"{LABEL_PX}\" height=\"{height:.0}\" viewBox=\"0 0 {LABEL_PX} {height:.0}\">\
         <text class=\"lanelabel sub\" x=\"8\" y=\"14\">sim time</text>{}\n{labels}</svg></div>",
        if n_violation_rows > 0 {
            format!("<text class=\"lanelabel sub\" x=\"8\" y=\"{:.1}\">violations</text>", violation_y + 12.0)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "<div class=\"scroll\" id=\"scroll\"><svg id=\"timeline\" width=\"{w:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {w:.0} {height:.0}\">{DEFS}\n{under}{body}{over}</svg></div>\n</div>",
        w = axis.width
    );
    axis
}

/// The sentences above the drawing: which keys it shows and why, its scale and breaks, and what
/// it leaves out.
fn notes(out: &mut String, run: &Run, outcome: &Outcome, axis: &Axis) {
    for s in &run.scope {
        let _ = writeln!(out, "<p class=\"scope\">{}</p>", escape(s));
    }
    let compressed: u64 = axis.segs.iter().filter(|s| s.compressed).map(|s| s.t1 - s.t0).sum();
    let _ = writeln!(
        out,
        "<p class=\"scope\">Scale: {:.2} px per ms{}. Hover over any bar or marker for its details.</p>",
        axis.px_per_ns * 1e6,
        if compressed > 0 {
            format!(
                "; {} of idle time (no event on this page) is compressed into the grey breaks",
                duration(compressed)
            )
        } else {
            String::new()
        }
    );
    if run.faults_left_out > 0 {
        let _ = writeln!(
            out,
            "<p class=\"scope\">{} more fault rows are not drawn (only the first {FAULT_ROWS_MAX} are).</p>",
            run.faults_left_out
        );
    }
    if outcome.violations.len() > VIOLATION_MARKS_MAX {
        let _ = writeln!(
            out,
            "<p class=\"scope\">Only the first {VIOLATION_MARKS_MAX} of {} violations are marked on the timeline; all are listed above.</p>",
            outcome.violations.len()
        );
    }
}

/// One row per faulted thing, each fault a span from its start to its end (or the run's end).
fn fault_rows(rows: &mut Rows, run: &Run, axis: &Axis) {
    for row in &run.faults {
        rows.label(rows.y, FAULT_ROW_PX, &row.label, "fault");
        for (from, to, text) in &row.spans {
            let x0 = axis.x(*from);
            let x1 = to.map_or(axis.width - 20.0, |t| axis.x(t)).max(x0 + 3.0);
            let until = to.map_or("the end of the run".to_string(), ms);
            let _ = writeln!(
                rows.body,
                "<rect class=\"fault\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"10\"><title>{}: {} from {} to {}</title></rect>",
                rows.y + 4.0,
                x1 - x0,
                escape(&row.label),
                escape(text),
                ms(*from),
                escape(&until)
            );
        }
        rows.y += FAULT_ROW_PX;
    }
}

/// One row per client process (banded), with each of its operations as a bar; operations on
/// keys outside `focus` are faded.
fn process_rows(rows: &mut Rows, run: &Run, axis: &Axis, focus: &BTreeSet<&str>) {
    let process_y: BTreeMap<u64, f64> =
        run.processes.keys().enumerate().map(|(i, p)| (*p, rows.y + i as f64 * OP_ROW_PX)).collect();
    for (i, (p, app)) in run.processes.iter().enumerate() {
        let py = process_y[p];
        if i % 2 == 0 {
            let _ = writeln!(
                rows.body,
                "<rect class=\"rowbg\" x=\"0\" y=\"{py:.1}\" width=\"{:.1}\" height=\"{OP_ROW_PX}\"/>",
                axis.width
            );
        }
        rows.label(py, OP_ROW_PX, &format!("p{p}"), app);
    }
    rows.body.push_str("<g class=\"ops\">\n");
    for o in &run.ops {
        op_bar(&mut rows.body, o, process_y[&o.process], axis, run.end_ns, focus);
    }
    rows.body.push_str("</g>\n");
    rows.y += run.processes.len() as f64 * OP_ROW_PX;
}

/// One operation as a bar in its process's row at `py`, from invoke to completion (or to
/// `end_ns` if it never completed), labelled inside when the label fits.
fn op_bar(body: &mut String, o: &Op, py: f64, axis: &Axis, end_ns: u64, focus: &BTreeSet<&str>) {
    let x0 = axis.x(o.invoke_ns);
    let end_ns = o.end.map_or(end_ns, |e| e.0);
    let x1 = axis.x(end_ns).max(x0 + 1.5);
    // Sequential ops of one process touch; keep a hairline between them.
    let w = (x1 - x0 - 1.0).max(1.5);
    let other = if focus.contains(o.key.as_str()) { "" } else { " other" };
    let label = o.label();
    let how = match o.end {
        Some((t, kind, ..)) => format!(
            "{} at {} after {}",
            match kind {
                EventType::Ok => "ok",
                EventType::Fail => "failed",
                EventType::Info => "indeterminate (info)",
                EventType::Invoke => "?",
            },
            ms(t),
            duration(t - o.invoke_ns)
        ),
        None => "never completed".to_string(),
    };
    let _ = write!(
        body,
        "<g><rect class=\"op {}{other}\" data-op=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"14\" rx=\"2\"><title>op {} · p{} · {} · invoked at {} · {}</title></rect>",
        o.class(),
        o.op,
        py + 4.0,
        o.op,
        o.process,
        escape(&label),
        ms(o.invoke_ns),
        escape(&how)
    );
    let fits = |s: &str| s.chars().count() as f64 * CHAR_PX + 6.0 <= w;
    let shown = if fits(&label) {
        Some(label.clone())
    } else {
        o.end.and_then(|e| e.3).map(|v| format!("v{v}")).filter(|s| fits(s))
    };
    if let Some(s) = shown {
        let dark = if o.class() == "pending" { " dark" } else { "" };
        let _ = write!(
            body,
            "<text class=\"oplabel{dark}{other}\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x0 + 3.0,
            py + 14.5,
            escape(&s)
        );
    }
    body.push_str("</g>\n");
}

/// The grid with the time axis at the top and the bottom of a drawing `height` px high, and the
/// idle breaks; ticks too close to a break are left out. The page of checked histories draws
/// its timelines on the same grid.
pub(super) fn grid(axis: &Axis, height: f64) -> String {
    let mut under = String::new();
    let step = axis.tick_ns();
    let near_break = |x: f64| axis.segs.iter().any(|s| s.compressed && x > s.x0 - 30.0 && x < s.x1 + 30.0);
    for s in &axis.segs {
        if s.compressed {
            let _ = writeln!(
                under,
                "<rect class=\"gap\" x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{height:.1}\"><title>{} of idle time compressed: from {} to {}</title></rect>\
                 <text class=\"gaptext\" x=\"{:.1}\" y=\"12\" text-anchor=\"middle\">≈{}</text>\
                 <text class=\"gaptext\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">≈{}</text>",
                s.x0,
                s.x1 - s.x0,
                duration(s.t1 - s.t0),
                ms(s.t0),
                ms(s.t1),
                (s.x0 + s.x1) / 2.0,
                duration(s.t1 - s.t0),
                (s.x0 + s.x1) / 2.0,
                height - 8.0,
                duration(s.t1 - s.t0)
            );
            continue;
        }
        let mut t = s.t0.div_ceil(step) * step;
        while t <= s.t1 {
            let x = axis.x(t);
            if near_break(x) {
                t += step;
                continue;
            }
            let text = if step >= 1_000_000 {
                format!("{} ms", t / 1_000_000)
            } else if step >= 1_000 {
                // Finer than a run's timeline ever gets: a recorded history's µs-long operations.
                format!("{} µs", t / 1_000)
            } else {
                format!("{t} ns")
            };
            let _ = writeln!(
                under,
                "<line class=\"grid\" x1=\"{x:.1}\" y1=\"18\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
                 <text class=\"tick\" x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{text}</text>\
                 <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{text}</text>",
                height - AXIS_PX + 4.0,
                height - 10.0
            );
            t += step;
        }
    }
    under
}

/// A red line across the drawing at each violation (the first `VIOLATION_MARKS_MAX`), with its
/// label in the violation rows from `violation_y`; the first has `id="violation"`.
fn violation_marks(
    outcome: &Outcome,
    axis: &Axis,
    focus: &BTreeSet<&str>,
    violation_y: f64,
    height: f64,
) -> String {
    let mut over = String::new();
    for (i, v) in outcome.violations.iter().take(VIOLATION_MARKS_MAX).enumerate() {
        let x = axis.x(v.time_ns);
        let id = if i == 0 { " id=\"violation\"" } else { "" };
        let ly = violation_y + (i % VIOLATION_ROWS) as f64 * VIOLATION_ROW_PX;
        let text = format!("{} · {} · {}", v.invariant, v.key, ms(v.time_ns));
        let other = if focus.contains(v.key.as_str()) { "" } else { " other" };
        let w = text.chars().count() as f64 * CHAR_PX + 8.0;
        let _ = writeln!(
            over,
            "<g class=\"violation{other}\"{id} data-x=\"{x:.1}\" data-time-ns=\"{}\"><title>invariant {} violated at {}: key {}: {}</title>\
             <line x1=\"{x:.1}\" y1=\"18\" x2=\"{x:.1}\" y2=\"{:.1}\"/>\
             <rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"15\" rx=\"2\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            v.time_ns,
            escape(&v.invariant),
            ms(v.time_ns),
            escape(&v.key),
            escape(&v.message),
            height - AXIS_PX + 4.0,
            ly + 1.0,
            x + 4.0,
            ly + 12.0,
            escape(&text)
        );
    }
    over
}
