//! The page of `tiersim compare`: protocols side by side on the same seeds, as one
//! self-contained HTML file in the look of the run report (its head and styles come from
//! `page`, its time scale from `axis`, its sizes and escaping from `svg` and `text`).
//!
//! The page answers the question a team asks before choosing a protocol: how consistent is each,
//! and what does that cost. It has three parts:
//! - a scatter plot of consistency nines (y; a protocol with no stale read at all is drawn in a
//!   band at the top labelled ∞) against the read latency p99 (x, sim time), one labelled point
//!   per protocol (`g.point[data-protocol]`);
//! - a bar chart of database reads per client read, the load each protocol puts behind a read
//!   (`g.bar[data-protocol]`);
//! - the table the command prints, every figure in a cell that names its JSON field
//!   (`td[data-field]`), so the page and `--json` can be checked against each other.
//!
//! A short script records on `<body>` which points and bars the browser drew with a size
//! (`data-drawn-points`, `data-drawn-bars`: protocol names, comma-separated), which the browser
//! test reads back; the page works without it.
//!
//! The rows are built by the command (`cli::compare`) from a sweep's results; this file only
//! lays them out, and so do the command's text table and this page's table, through [`cells`]:
//! both show the same text for the same figure.

use super::axis::Axis;
use super::page::Page;
use super::svg::CHAR_PX;
use super::text::{duration, escape};
use std::fmt::Write as _;
use tiersim_model::check::figures::{Consistency, Cost, Nines};
use tiersim_model::event::Tier;

/// An invariant that failed in some of a row's runs.
#[derive(Clone, Debug)]
pub struct Failed {
    /// The invariant's name (or `crash`, `live` for a run that stopped).
    pub invariant: String,
    /// Runs of the row in which it failed.
    pub runs: usize,
    /// The command that reproduces the first of them.
    pub reproduce: String,
}

/// One protocol over the seeds of one scenario, or of every scenario compared.
#[derive(Clone, Debug)]
pub struct Row {
    /// The scenario, or `all` for a row over every scenario compared.
    pub scenario: String,
    pub protocol: String,
    pub runs: usize,
    pub failing_runs: usize,
    /// Summed over the runs (nines are those of all reads together).
    pub consistency: Consistency,
    /// Summed over the runs; its latencies are left out (see `read_p99_ns`).
    pub cost: Cost,
    /// The worst run's read latency p99 (a run keeps only its percentiles), in ns.
    pub read_p99_ns: Option<u64>,
    /// The worst run's write and delete latency p99, in ns.
    pub write_p99_ns: Option<u64>,
    /// Every invariant that failed, in name order.
    pub failed: Vec<Failed>,
}

impl Row {
    /// Nines of all reads: −log10 of the share that returned a superseded version.
    pub fn nines(&self) -> Nines {
        self.consistency.reads.nines()
    }

    /// Nines of the reads stale by more than `ms` (one of `figures::THRESHOLDS_MS`).
    pub fn nines_over(&self, ms: u64) -> Nines {
        let i = tiersim_model::check::figures::THRESHOLDS_MS
            .iter()
            .position(|t| *t == ms)
            .expect("a Polaris threshold");
        self.consistency.reads.nines_by_threshold()[i]
    }
}

/// The table's columns: heading and the JSON field of a `rows[]` object each shows.
pub const COLUMNS: [(&str, &str); 15] = [
    ("protocol", "protocol"),
    ("seeds", "seeds_run"),
    ("failing", "failing_runs"),
    ("nines", "consistency.nines"),
    ("nines >100 ms", "consistency.nines_by_threshold_ms.100"),
    ("nines >1 s", "consistency.nines_by_threshold_ms.1000"),
    ("read p99", "cost.read_latency_ns.p99_max"),
    ("write p99", "cost.write_latency_ns.p99_max"),
    ("hit L1", "cost.hit_ratio.L1"),
    ("hit L2", "cost.hit_ratio.L2"),
    ("hit L3", "cost.hit_ratio.L3"),
    ("hit Redis", "cost.hit_ratio.Redis"),
    ("db reads/read", "cost.db_reads_per_read"),
    ("msgs/op", "cost.messages_per_op"),
    ("invariants failed (runs)", "invariants"),
];

/// A row's figures as text, one per column of [`COLUMNS`].
pub fn cells(row: &Row) -> Vec<String> {
    let ratio = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
    let ns = |x: Option<u64>| x.map_or("-".to_string(), duration);
    let failed = if row.failed.is_empty() {
        "-".to_string()
    } else {
        row.failed.iter().map(|f| format!("{} ({})", f.invariant, f.runs)).collect::<Vec<_>>().join(", ")
    };
    vec![
        row.protocol.clone(),
        row.runs.to_string(),
        row.failing_runs.to_string(),
        row.nines().text(),
        row.nines_over(100).text(),
        row.nines_over(1_000).text(),
        ns(row.read_p99_ns),
        ns(row.write_p99_ns),
        ratio(row.cost.hit_ratio(Tier::L1)),
        ratio(row.cost.hit_ratio(Tier::L2)),
        ratio(row.cost.hit_ratio(Tier::L3)),
        ratio(row.cost.hit_ratio(Tier::Redis)),
        ratio(row.cost.db_reads_per_read()),
        ratio(row.cost.messages_per_op()),
        failed,
    ]
}

/// What the page shows: `protocols` (one row each, plotted), and with several scenarios their
/// rows per scenario too.
pub struct Comparison<'a> {
    /// Heads the page, e.g. `fill-race · seeds 0..50`.
    pub title: &'a str,
    pub protocols: &'a [Row],
    pub by_scenario: &'a [Row],
}

/// The scatter plot's size and margins, in px.
const PLOT_W: f64 = 680.0;
const PLOT_H: f64 = 360.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 44.0;
/// The band at the top where protocols with no stale read (∞ nines) are drawn.
const INF_BAND: f64 = 26.0;
/// The bar chart: the height of a bar and the length of the longest.
const BAR_PX: f64 = 22.0;
const BAR_MAX_PX: f64 = 460.0;

/// One colour per protocol, in row order (cycled).
const COLOURS: [&str; 8] =
    ["#4a7fc1", "#d33f3f", "#4f9d69", "#e8a93a", "#6b2fb3", "#2b9fa8", "#c2577a", "#616e7c"];

const EXTRA_STYLE: &str = r#"
table.compare { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
table.compare th, table.compare td { padding: 3px 10px; border-bottom: 1px solid #e4e7eb; text-align: right; white-space: nowrap; }
table.compare .text { text-align: left; }
table.compare tr.failing td[data-field="failing_runs"] { color: var(--stale); font-weight: 600; }
table.compare td { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
svg.chart { border: 1px solid #d9dee3; border-radius: 4px; background: #fff; }
svg .axislabel { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; font-size: 12px; fill: var(--muted); }
svg .infband { fill: #eef6ee; }
svg .point circle { stroke: #1f2933; stroke-width: 1; }
svg .plabel { font-size: 11px; }
ul.reproduce code { font-size: 12px; }
"#;

/// What the browser drew with a size: see the module docs.
const SCRIPT: &str = r#"
(function () {
  function drawn(selector) {
    var out = [], els = document.querySelectorAll(selector);
    for (var i = 0; i < els.length; i++) {
      var shape = els[i].querySelector('circle, rect');
      var r = shape ? shape.getBoundingClientRect() : { width: 0, height: 0 };
      if (r.width > 0 || (r.height > 0 && shape.tagName.toLowerCase() === 'rect')) out.push(els[i].getAttribute('data-protocol'));
    }
    return out.join(',');
  }
  document.body.setAttribute('data-drawn-points', drawn('g.point[data-protocol]'));
  document.body.setAttribute('data-drawn-bars', drawn('g.bar[data-protocol]'));
})();
"#;

/// Render the comparison as one self-contained HTML page.
pub fn render(c: &Comparison<'_>) -> String {
    let mut page = Page::default();
    page.head_of("tiersim compare", c.title, "");
    let out = &mut page.out;
    let _ = writeln!(out, "<style>{EXTRA_STYLE}</style>\n<header>\n<h1>{}</h1>", escape(c.title));
    out.push_str(
        "<p class=\"scope\">Each protocol ran the same seeds. Nines: −log10 of the share of reads that returned a superseded version (∞: none did); latencies are sim time, the worst seed's p99; database reads per read count every database read (fills, warming, writes' reads) over the client reads.</p>\n</header>\n",
    );
    out.push_str("<h2>Consistency against read latency</h2>\n");
    scatter(out, c.protocols);
    out.push_str("<h2>Database reads per read</h2>\n");
    bars(out, c.protocols);
    out.push_str("<h2>Protocols</h2>\n");
    table(out, c.protocols, false);
    if !c.by_scenario.is_empty() {
        out.push_str("<h2>By scenario</h2>\n");
        table(out, c.by_scenario, true);
    }
    reproduce(out, c.protocols);
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    page.out
}

/// Nines against read p99: one labelled point per protocol with reads.
fn scatter(out: &mut String, rows: &[Row]) {
    let width = LEFT + PLOT_W + RIGHT;
    let height = TOP + PLOT_H + BOTTOM;
    let max_ns = rows.iter().filter_map(|r| r.read_p99_ns).max().unwrap_or(1).max(1);
    // x: the report's time axis over 0..110 % of the slowest p99, shifted to the plot's left
    // edge; an instant every eighth of the span keeps it linear (no stretch is idle enough for
    // the axis to compress it).
    let span_ns = max_ns + max_ns / 10;
    let instants: Vec<u64> = (0..=8).map(|i| span_ns / 8 * i).collect();
    let axis = Axis::build(&instants, span_ns, PLOT_W / span_ns as f64);
    let origin = axis.x(0);
    let x = |ns: u64| LEFT + axis.x(ns) - origin;
    // y: whole nines from 0 to one above the best finite figure.
    let finite = rows.iter().filter_map(|r| match r.nines() {
        Nines::Finite(n) => Some(n),
        _ => None,
    });
    let top_nines = finite.fold(1.0f64, f64::max).ceil().max(1.0);
    // The finite scale starts a little below the band, so that ∞ and the top nine never touch.
    let plot_top = TOP + INF_BAND + 12.0;
    let y = |n: f64| plot_top + (TOP + PLOT_H - plot_top) * (1.0 - n / top_nines);
    let _ = writeln!(
        out,
        "<svg class=\"chart\" id=\"scatter\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    let _ = writeln!(
        out,
        "<rect class=\"infband\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{PLOT_W}\" height=\"{INF_BAND}\"/><text class=\"axislabel\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">∞</text><text class=\"axislabel\" x=\"{:.1}\" y=\"{:.1}\">∞: no stale read</text>",
        LEFT - 8.0,
        TOP + INF_BAND / 2.0 + 4.0,
        LEFT + PLOT_W + 8.0,
        TOP + INF_BAND / 2.0 + 4.0
    );
    let mut n = 0.0;
    while n <= top_nines {
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\"/><text class=\"tick\" x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{n}</text>",
            y(n),
            LEFT + PLOT_W,
            LEFT - 8.0,
            y(n) + 4.0
        );
        n += 1.0;
    }
    let step = axis.tick_ns();
    let mut t = 0;
    while t <= span_ns {
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1:.1}\"/><text class=\"tick\" x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{3}</text>",
            x(t),
            TOP + PLOT_H,
            TOP + PLOT_H + 16.0,
            duration(t)
        );
        t += step;
    }
    let _ = writeln!(
        out,
        "<text class=\"axislabel\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">read latency p99 (sim time, worst seed)</text><text class=\"axislabel\" transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">consistency nines (reads)</text>",
        LEFT + PLOT_W / 2.0,
        TOP + PLOT_H + 36.0,
        (plot_top + TOP + PLOT_H) / 2.0
    );
    for (i, r) in rows.iter().enumerate() {
        let cy = match r.nines() {
            Nines::Infinite => TOP + INF_BAND / 2.0,
            Nines::Finite(n) => y(n),
            Nines::Empty => continue,
        };
        let Some(p99) = r.read_p99_ns else { continue };
        let cx = x(p99);
        // Labels go right of the point, or left of it near the plot's right edge.
        let label_px = r.protocol.chars().count() as f64 * CHAR_PX * 1.1;
        let (lx, anchor) =
            if cx + 8.0 + label_px > LEFT + PLOT_W + RIGHT { (cx - 8.0, "end") } else { (cx + 8.0, "start") };
        let _ = writeln!(
            out,
            "<g class=\"point\" data-protocol=\"{p}\"><title>{p}: {} nines, read p99 {}</title><circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"6\" fill=\"{}\"/><text class=\"plabel\" x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{p}</text></g>",
            r.nines().text(),
            duration(p99),
            COLOURS[i % COLOURS.len()],
            cy + 4.0,
            p = escape(&r.protocol),
        );
    }
    out.push_str("</svg>\n");
}

/// Database reads per read: one labelled bar per protocol.
fn bars(out: &mut String, rows: &[Row]) {
    let label_px =
        rows.iter().map(|r| r.protocol.chars().count()).max().unwrap_or(0) as f64 * CHAR_PX * 1.15 + 16.0;
    let most = rows.iter().filter_map(|r| r.cost.db_reads_per_read()).fold(1.0f64, f64::max);
    let width = label_px + BAR_MAX_PX + 70.0;
    let height = rows.len() as f64 * (BAR_PX + 8.0) + 16.0;
    let _ = writeln!(
        out,
        "<svg class=\"chart\" id=\"bars\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, r) in rows.iter().enumerate() {
        let y = 8.0 + i as f64 * (BAR_PX + 8.0);
        let value = r.cost.db_reads_per_read();
        let w = value.map_or(0.0, |v| v / most * BAR_MAX_PX);
        let _ = writeln!(
            out,
            "<g class=\"bar\" data-protocol=\"{p}\"><text class=\"lanelabel\" x=\"8\" y=\"{:.1}\">{p}</text><rect x=\"{label_px:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{BAR_PX}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            y + BAR_PX / 2.0 + 4.0,
            COLOURS[i % COLOURS.len()],
            label_px + w + 6.0,
            y + BAR_PX / 2.0 + 4.0,
            value.map_or("-".to_string(), |v| format!("{v:.2}")),
            p = escape(&r.protocol),
        );
    }
    out.push_str("</svg>\n");
}

/// The rows as a table, each cell naming its JSON field (and the scenario first when asked).
fn table(out: &mut String, rows: &[Row], with_scenario: bool) {
    out.push_str("<table class=\"compare\">\n<tr>");
    // Names and the failed invariants read from the left, figures from the right.
    let class = |field: &str| if matches!(field, "protocol" | "invariants") { " class=\"text\"" } else { "" };
    if with_scenario {
        out.push_str("<th class=\"text\">scenario</th>");
    }
    for (heading, field) in COLUMNS {
        let _ = write!(out, "<th{}>{}</th>", class(field), escape(heading));
    }
    out.push_str("</tr>\n");
    for r in rows {
        let _ = write!(
            out,
            "<tr data-protocol=\"{}\" data-scenario=\"{}\"{}>",
            escape(&r.protocol),
            escape(&r.scenario),
            if r.failing_runs > 0 { " class=\"failing\"" } else { "" }
        );
        if with_scenario {
            let _ = write!(out, "<td class=\"text\">{}</td>", escape(&r.scenario));
        }
        for ((_, field), text) in COLUMNS.iter().zip(cells(r)) {
            let _ = write!(out, "<td data-field=\"{field}\"{}>{}</td>", class(field), escape(&text));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// One command per failing invariant of each protocol that reproduces a failing seed.
fn reproduce(out: &mut String, rows: &[Row]) {
    let failed: Vec<(&Row, &Failed)> =
        rows.iter().flat_map(|r| r.failed.iter().map(move |f| (r, f))).collect();
    if failed.is_empty() {
        out.push_str("<p class=\"scope\">No invariant failed in any run.</p>\n");
        return;
    }
    out.push_str("<h2>Reproduce</h2>\n<ul class=\"reproduce\">\n");
    for (r, f) in failed {
        let _ = writeln!(
            out,
            "<li>{} · <span class=\"inv\">{}</span> ({} runs): <code>{}</code></li>",
            escape(&r.protocol),
            escape(&f.invariant),
            f.runs,
            escape(&f.reproduce)
        );
    }
    out.push_str("</ul>\n");
}
