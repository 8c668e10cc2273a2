//! The HTML page around the timeline: the document head with its styles, the header with the
//! run's facts, the list of violations, the legend, the table of events around the violation,
//! and the short script at the end.
//!
//! A `Page` is written front to back, one section per method, in the order `render` calls them;
//! the only step that looks back is the linking of the violation list to the timeline, because
//! the markers' positions are known only once the timeline is laid out.

use super::axis::Axis;
use super::collect::{Op, Run};
use super::describe::describe;
use super::text::{duration, escape, ms};
use super::timeline;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use tiersim_model::check::cache::Percentiles;
use tiersim_model::check::Violation;
use tiersim_model::event::Tier;
use tiersim_model::node::config::SystemConfig;
use tiersim_model::outcome::Outcome;
use tiersim_model::protocol::Invariant;

/// Events of the focus key listed before and after the violation in the table.
const TABLE_BEFORE: usize = 30;
const TABLE_AFTER: usize = 12;

/// The page being written.
#[derive(Default)]
pub(super) struct Page {
    pub(super) out: String,
}

/// The page's styles: the colours of the legend and every class the drawing uses.
const STYLE: &str = r#"
:root { --ok:#4f9d69; --fail:#c2577a; --info:#8d99a6; --fresh:#4a7fc1; --superseded:#e8a93a;
  --stale:#d33f3f; --db1:#dce4ee; --db2:#c3d0df; --ink:#1f2933; --muted:#616e7c; --grid:#eef1f4; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px 40px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; }
h1 { font-size: 20px; margin: 0 0 6px; }
h2 { font-size: 16px; margin: 22px 0 8px; }
.verdict { display: inline-block; padding: 1px 10px; border-radius: 10px; color: #fff;
  font-weight: 600; text-transform: uppercase; font-size: 12px; vertical-align: 3px; margin-left: 8px; }
.verdict.pass { background: var(--ok); } .verdict.fail, .verdict.crash, .verdict.liveness { background: var(--stale); }
dl.facts { display: grid; grid-template-columns: max-content auto max-content auto max-content auto;
  gap: 2px 14px; margin: 8px 0; font-size: 13px; }
dl.facts.figures { grid-template-columns: max-content auto max-content auto; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; }
ol.violations { margin: 4px 0; padding-left: 22px; }
ol.violations li { margin: 3px 0; }
ol.violations code, .scope code { background: #fdecec; padding: 0 4px; border-radius: 3px; }
.inv { color: var(--stale); font-weight: 600; }
.scope { color: var(--muted); font-size: 13px; margin: 2px 0; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12px; margin: 8px 0; align-items: center; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend svg { vertical-align: middle; }
.timeline { display: flex; border: 1px solid #d9dee3; border-radius: 4px; }
.timeline .lanes { flex: 0 0 auto; border-right: 1px solid #d9dee3; background: #fafbfc; }
.timeline .scroll { flex: 1 1 auto; overflow-x: auto; overflow-y: hidden; }
svg text { font-size: 10px; font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; fill: var(--ink); }
svg .lanelabel { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; font-size: 11px; }
svg .keyheading { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; font-size: 12px; font-weight: 600; }
svg .sub { fill: var(--muted); }
svg .grid { stroke: var(--grid); stroke-width: 1; }
svg .tick { fill: var(--muted); }
svg .rowbg { fill: #f7f9fb; }
svg .gap { fill: #f1f3f5; stroke: #c5ccd3; stroke-dasharray: 3 3; }
svg .gaptext { fill: var(--muted); font-size: 9px; }
svg .op { stroke-width: 1; }
svg .op.ok { fill: var(--ok); stroke: #3b7a50; }
svg .op.fail { fill: var(--fail); stroke: #9c3f5e; }
svg .op.info { fill: var(--info); stroke: #59636e; stroke-dasharray: 3 2; }
svg .op.pending { fill: #fff; stroke: #59636e; stroke-dasharray: 3 2; }
svg .op.other, svg .oplabel.other { opacity: 0.35; }
svg .oplabel { fill: #fff; pointer-events: none; }
svg .oplabel.dark { fill: var(--ink); }
svg .entry.fresh { fill: var(--fresh); }
svg .entry.superseded { fill: var(--superseded); }
svg .entry.stale { fill: url(#hatch); stroke: var(--stale); stroke-width: 1; }
svg .entry.replica { opacity: 0.75; }
svg .tail { stroke: var(--muted); stroke-dasharray: 2 2; }
svg .entrylabel { fill: #fff; pointer-events: none; }
svg .dbv.a { fill: var(--db1); } svg .dbv.b { fill: var(--db2); }
svg .commit { fill: var(--ink); }
svg .ack { stroke: var(--ok); stroke-width: 2; } svg .ackflag { fill: var(--ok); }
svg .inval { stroke: #6b2fb3; stroke-width: 2; }
svg .floor { fill: #6b2fb3; }
svg .refuse { fill: none; stroke: #6b2fb3; stroke-width: 1.5; }
svg .serve { stroke: var(--ink); stroke-width: 1.5; }
svg .serve.superseded { stroke: #b7791f; } svg .serve.stale { stroke: var(--stale); stroke-width: 2.5; }
svg .evict, svg .expire { stroke: var(--muted); stroke-width: 1.5; }
svg .restart { stroke: #b7791f; stroke-width: 2; }
svg .arrow { stroke: #6b2fb3; stroke-width: 1; opacity: 0.45; fill: none; }
svg .fault { fill: #f6d365; stroke: #b7791f; }
svg .violation line { stroke: var(--stale); stroke-width: 2; }
svg .violation rect { fill: var(--stale); }
svg .violation text { fill: #fff; font-weight: 600; }
svg .violation.other { opacity: 0.4; }
details summary { cursor: pointer; color: var(--muted); margin: 4px 0 0 4px; }
table.events { border-collapse: collapse; font-size: 12px; }
table.events td, table.events th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
table.events td:first-child { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; white-space: nowrap; color: var(--muted); }
table.events tr.stale td { color: var(--stale); }
table.events tr.vrow td { color: #fff; background: var(--stale); font-weight: 600; }
"#;

/// The page's only script (the page works without it; see the module docs of `report`).
const SCRIPT: &str = r#"
(function () {
  var scroll = document.getElementById('scroll');
  if (!scroll) return;
  function go(x) { scroll.scrollLeft = Math.max(0, x - scroll.clientWidth * 0.6); }
  var v = document.getElementById('violation');
  if (v) go(parseFloat(v.getAttribute('data-x')));
  var links = document.querySelectorAll('[data-goto]');
  for (var i = 0; i < links.length; i++) {
    links[i].addEventListener('click', function (e) {
      e.preventDefault();
      go(parseFloat(this.getAttribute('data-goto')));
      scroll.scrollIntoView({ block: 'nearest' });
    });
  }
  // What the browser drew, for tests and for anyone checking the page: operation bars with a
  // visible size, and the first violation marker's text.
  var bars = document.querySelectorAll('rect.op[data-op]'), shown = 0;
  for (var j = 0; j < bars.length; j++) {
    var r = bars[j].getBoundingClientRect();
    if (r.width > 0 && r.height > 0) shown++;
  }
  document.body.setAttribute('data-drawn-ops', String(shown));
  document.body.setAttribute('data-drawn-violation', v ? v.textContent : '');
})();
"#;

impl Page {
    /// The document head: the title and the styles.
    pub(super) fn head(&mut self, title: &str) {
        self.head_of("tiersim report", title, "");
    }

    /// The head of a page made by `generator` (`tiersim report`, `tiersim check`), with the
    /// report's styles and the page's `extra` ones after them.
    pub(super) fn head_of(&mut self, generator: &str, title: &str, extra: &str) {
        let _ = write!(
            self.out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"generator\" content=\"{generator}\">\n\
             <title>{generator}: {}</title>\n<style>{STYLE}{extra}</style>\n</head>\n<body>\n",
            escape(title)
        );
    }

    /// The caller's title with the verdict, then the run's facts: seed, trace hash, counts and the
    /// system's shape, and whether the run stopped early or left claims unchecked.
    pub(super) fn header(&mut self, title: &str, o: &Outcome, config: &SystemConfig) {
        let verdict = o.verdict.name();
        let _ = writeln!(
            self.out,
            "<header>\n<h1>{}<span class=\"verdict {verdict}\" id=\"verdict\">{verdict}</span></h1>",
            escape(title)
        );
        let t = &config.topology;
        let facts: Vec<(&str, String)> = vec![
            ("seed", o.seed.to_string()),
            ("verdict", verdict.to_string()),
            ("trace hash", tiersim_sim::replay::hash_hex(o.trace_hash)),
            ("operations", o.ops.to_string()),
            ("events", o.events.to_string()),
            ("messages", o.messages.to_string()),
            ("simulated", ms(o.sim_ns)),
            ("max staleness", ms(o.max_staleness_ns)),
            (
                "topology",
                format!(
                    "{} region(s) × {} host(s) × {} process image(s), {} Redis shard(s)",
                    t.regions, t.hosts_per_region, t.processes_per_host, t.redis_shards
                ),
            ),
            (
                "TTL L1/L2/L3/Redis",
                format!(
                    "{}/{}/{}/{} ms",
                    config.l1_ttl_ms, config.l2_ttl_ms, config.l3_ttl_ms, config.redis_ttl_ms
                ),
            ),
            ("timeouts rpc/op", format!("{}/{} ms", config.rpc_timeout_ms, config.op_timeout_ms)),
            ("max clock skew", format!("{} ms", config.max_clock_skew_ms)),
        ];
        self.out.push_str("<dl class=\"facts\">\n");
        for (k, v) in facts {
            let _ = writeln!(self.out, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
        }
        self.out.push_str("</dl>\n");
        if let Some(a) = &o.abort {
            let _ = writeln!(self.out, "<p class=\"scope\">The run stopped early: {}</p>", escape(a));
        }
        if !o.unchecked.is_empty() {
            let names: Vec<&str> = o.unchecked.iter().map(|i| i.name()).collect();
            let _ = writeln!(
                self.out,
                "<p class=\"scope\">Claimed but not checked by this build: {}.</p>",
                escape(&names.join(", "))
            );
        }
        self.out.push_str("</header>\n");
    }

    /// What the run measured besides its verdict, in a small panel: consistency in nines,
    /// cost, latencies, convergence, warming when the run warmed, and the `slo` verdict when
    /// `claimed` has it (each figure in a `dd` whose `data-figure` names its `run --json` field).
    pub(super) fn figures(&mut self, o: &Outcome, claimed: &[Invariant]) {
        let f = &o.figures;
        let pct = |p: &Option<Percentiles>| {
            p.as_ref().map_or("-".to_string(), |p| {
                format!(
                    "{} / {} / {} ({} samples)",
                    duration(p.p50_ns),
                    duration(p.p95_ns),
                    duration(p.p99_ns),
                    p.samples
                )
            })
        };
        let ratio = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}"));
        let nines = |i: &tiersim_model::check::figures::Inconsistency| {
            let by: Vec<String> = tiersim_model::check::figures::THRESHOLDS_MS
                .iter()
                .zip(i.nines_by_threshold())
                .map(|(ms, n)| format!("&gt;{} {}", threshold(*ms), n.text()))
                .collect();
            (format!("{} ({} stale of {})", i.nines().text(), i.stale, i.total), by.join(" · "))
        };
        let (reads, reads_by) = nines(&f.consistency.reads);
        let (entries, entries_by) = nines(&f.consistency.entries);
        let c = &f.cost;
        let mut rows: Vec<(&str, &str, String)> = vec![
            ("consistency.nines", "nines (reads)", escape(&reads)),
            ("consistency.nines_by_threshold_ms", "by staleness", reads_by),
            ("consistency.entries.nines", "nines (tier entries)", escape(&entries)),
            ("consistency.entries.nines_by_threshold_ms", "by staleness", entries_by),
            (
                "cost.hit_ratio",
                "hit ratio L1/L2/L3/Redis",
                [Tier::L1, Tier::L2, Tier::L3, Tier::Redis].map(|t| ratio(c.hit_ratio(t))).join(" / "),
            ),
            ("cost.db_reads_per_read", "db reads per read", ratio(c.db_reads_per_read())),
            ("cost.messages_per_op", "messages per op", ratio(c.messages_per_op())),
            ("cost.read_latency_ns", "read p50/p95/p99", pct(&c.read_latency)),
            ("cost.write_latency_ns", "write p50/p95/p99", pct(&c.write_latency)),
            ("latency_ns.invalidation", "invalidation p50/p95/p99", pct(&o.latency.invalidation)),
            ("latency_ns.cascade", "cascade p50/p95/p99", pct(&o.latency.cascade)),
            ("latency_ns.convergence", "convergence p50/p95/p99", pct(&f.convergence)),
        ];
        if f.unconverged > 0 {
            rows.push(("unconverged_commits", "never converged", format!("{} commits", f.unconverged)));
        }
        if f.warming.batches > 0 {
            rows.push(("latency_ns.warming", "warming p50/p95/p99", pct(&o.latency.warming)));
            rows.push((
                "warming.success_ratio",
                "keys warmed",
                format!(
                    "{} ({} of {} in {} batches; {} in time)",
                    ratio(f.warming.success_ratio()),
                    f.warming.warmed,
                    f.warming.keys,
                    f.warming.batches,
                    f.warming.warmed_in_time
                ),
            ));
        }
        if claimed.contains(&Invariant::Slo) {
            let broken = o.violations.iter().filter(|v| v.invariant == Invariant::Slo.name()).count();
            let verdict = if broken == 0 { "held".to_string() } else { format!("violated ({broken})") };
            rows.push(("slo", "slo (claimed)", verdict));
        }
        self.out.push_str("<section>\n<h2>Figures</h2>\n<dl class=\"facts figures\" id=\"figures\">\n");
        for (field, name, value) in rows {
            // Values are escaped where they come from the run; the thresholds' `&gt;` is markup.
            let _ = writeln!(self.out, "<dt>{}</dt><dd data-figure=\"{field}\">{value}</dd>", escape(name));
        }
        self.out.push_str("</dl>\n</section>\n");
    }

    /// The violations as a list (the first few open, the rest folded away), each time a link
    /// to its marker on the timeline once `timeline` has placed them.
    pub(super) fn violations(&mut self, violations: &[Violation]) {
        if violations.is_empty() {
            self.out.push_str(
                "<section>\n<h2>Violations</h2>\n<p class=\"scope\">None: every checked invariant held.</p>\n</section>\n",
            );
            return;
        }
        let _ = writeln!(
            self.out,
            "<section>\n<h2>Violations ({})</h2>\n<ol class=\"violations\">",
            violations.len()
        );
        const SHOWN: usize = 5;
        for (i, v) in violations.iter().enumerate() {
            if i == SHOWN {
                let _ = writeln!(
                    self.out,
                    "</ol>\n<details><summary>{} more violations</summary>\n<ol class=\"violations\" start=\"{}\">",
                    violations.len() - SHOWN,
                    SHOWN + 1
                );
            }
            let _ = writeln!(
                self.out,
                "<li><span class=\"inv\">{}</span> at <a href=\"#scroll\" data-goto-time=\"{}\">{}</a>, key <code>{}</code>: {}</li>",
                escape(&v.invariant),
                v.time_ns,
                ms(v.time_ns),
                escape(&v.key),
                escape(&v.message)
            );
        }
        if violations.len() > SHOWN {
            self.out.push_str("</ol>\n</details>\n</section>\n");
            return;
        }
        self.out.push_str("</ol>\n</section>\n");
    }

    /// The timeline's heading and a legend of every mark it draws.
    pub(super) fn legend(&mut self) {
        let item = |svg: &str, text: &str| {
            format!("<span><svg width=\"26\" height=\"14\" viewBox=\"0 0 26 14\">{svg}</svg>{text}</span>")
        };
        let items = [
            item("<rect class=\"op ok\" x=\"1\" y=\"2\" width=\"24\" height=\"10\" rx=\"2\"/>", "op ok"),
            item("<rect class=\"op fail\" x=\"1\" y=\"2\" width=\"24\" height=\"10\" rx=\"2\"/>", "op failed"),
            item("<rect class=\"op info\" x=\"1\" y=\"2\" width=\"24\" height=\"10\" rx=\"2\"/>", "op indeterminate (info)"),
            item("<rect class=\"op pending\" x=\"1\" y=\"2\" width=\"24\" height=\"10\" rx=\"2\"/>", "op never completed"),
            item("<rect class=\"entry fresh\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/>", "tier holds the current version"),
            item("<rect class=\"entry superseded\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/>", "newer version committed"),
            item("<rect class=\"entry stale\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/>", "stale past the barrier (newer write completed)"),
            item("<rect class=\"dbv a\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/><circle class=\"commit\" cx=\"3\" cy=\"7\" r=\"2.5\"/>", "database commit"),
            item("<line class=\"ack\" x1=\"12\" y1=\"1\" x2=\"12\" y2=\"13\"/><path class=\"ackflag\" d=\"M12 1 L20 4 L12 7 Z\"/>", "write completed: invalidation acknowledged"),
            item("<path class=\"inval\" d=\"M9 3 L17 11 M17 3 L9 11\"/>", "entry invalidated / deleted"),
            item("<path class=\"floor\" d=\"M13 2 L18 7 L13 12 L8 7 Z\"/>", "version floor raised"),
            item("<circle class=\"refuse\" cx=\"13\" cy=\"7\" r=\"4\"/><path class=\"refuse\" d=\"M10 10 L16 4\"/>", "fill refused"),
            item("<line class=\"serve\" x1=\"13\" y1=\"2\" x2=\"13\" y2=\"12\"/>", "tier served a read"),
            item("<line class=\"arrow\" x1=\"2\" y1=\"12\" x2=\"22\" y2=\"3\" marker-end=\"url(#arrowhead)\" style=\"opacity:1\"/>", "from the commit it invalidates"),
            item("<rect class=\"fault\" x=\"1\" y=\"3\" width=\"24\" height=\"8\"/>", "fault"),
            item("<rect x=\"12\" y=\"0\" width=\"2\" height=\"14\" fill=\"#d33f3f\"/>", "violation"),
            item("<rect class=\"gap\" x=\"4\" y=\"1\" width=\"18\" height=\"12\"/>", "idle stretch compressed"),
        ];
        self.out.push_str("<h2>Timeline</h2>\n<div class=\"legend\">\n");
        for i in items {
            self.out.push_str(&i);
            self.out.push('\n');
        }
        self.out.push_str("</div>\n");
    }

    /// The timeline (see `timeline`), then the violation list above it linked to the markers'
    /// positions, which are known only now.
    pub(super) fn timeline(&mut self, run: &Run, outcome: &Outcome) {
        let axis = timeline::write(&mut self.out, run, outcome);
        self.out = link_violations(&self.out, &axis);
    }

    /// The first focus key's events around the first violation, as a table with the violation
    /// in its place and rows in red where a version past the barrier is involved.
    pub(super) fn chronology(&mut self, run: &Run, outcome: &Outcome) {
        let (Some(v), Some(k)) = (outcome.violations.first(), run.keys.first()) else {
            return;
        };
        let events = &outcome.history.events;
        let at = k.events.partition_point(|&i| events[i].time_ns() <= v.time_ns);
        let from = at.saturating_sub(TABLE_BEFORE);
        let to = (at + TABLE_AFTER).min(k.events.len());
        let _ = writeln!(
            self.out,
            "<h2>Events of key {} around the violation</h2>\n<p class=\"scope\">Events {}–{} of the {} events of key {} (the full history: <code>tiersim run … --history FILE</code>). Reads of the tiers (serve) are included; rows in red involve a version older than one whose invalidation had been acknowledged.</p>\n<table class=\"events\">\n<tr><th>sim time</th><th>where</th><th>what</th></tr>",
            escape(&k.key),
            from + 1,
            to,
            k.events.len(),
            escape(&k.key)
        );
        let ops: BTreeMap<u64, &Op> = run.ops.iter().map(|o| (o.op, o)).collect();
        let mut marked = false;
        for &i in &k.events[from..to] {
            let e = &events[i];
            if !marked && e.time_ns() > v.time_ns {
                self.violation_row(v);
                marked = true;
            }
            let (place, what, version) = describe(e, &ops);
            let stale = version.is_some_and(|ver| k.barrier_at(ver).is_some_and(|b| b.0 <= e.time_ns()));
            let _ = writeln!(
                self.out,
                "<tr{}><td>{}</td><td>{}</td><td>{}</td></tr>",
                if stale { " class=\"stale\"" } else { "" },
                ms(e.time_ns()),
                escape(&place),
                escape(&what)
            );
        }
        if !marked {
            self.violation_row(v);
        }
        self.out.push_str("</table>\n");
    }

    /// The violation's row in the events table.
    fn violation_row(&mut self, v: &Violation) {
        let _ = writeln!(
            self.out,
            "<tr class=\"vrow\"><td>{}</td><td>violation</td><td>{}: {}</td></tr>",
            ms(v.time_ns),
            escape(&v.invariant),
            escape(&v.message)
        );
    }

    /// The script and the end of the document.
    pub(super) fn finish(&mut self) {
        self.finish_with(SCRIPT);
    }

    /// A page's own `script` and the end of the document.
    pub(super) fn finish_with(&mut self, script: &str) {
        let _ = write!(self.out, "<script>{script}</script>\n</body>\n</html>\n");
    }
}

/// A staleness threshold as the figures name it: `10 ms`, `1 s`.
fn threshold(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

/// Turn the violation list's times into scroll targets (x positions on the timeline).
fn link_violations(out: &str, axis: &Axis) -> String {
    let mut result = String::with_capacity(out.len());
    let mut rest = out;
    let needle = "data-goto-time=\"";
    while let Some(i) = rest.find(needle) {
        result.push_str(&rest[..i]);
        let after = &rest[i + needle.len()..];
        let end = after.find('"').expect("attribute values are closed");
        let t: u64 = after[..end].parse().expect("written as a number");
        let _ = write!(result, "data-goto=\"{:.1}\"", axis.x(t));
        rest = &after[end + 1..];
    }
    result.push_str(rest);
    result
}
