//! The timeline report of one run: a single self-contained HTML page (inline CSS, inline SVG and
//! a few lines of inline JavaScript; nothing is fetched from the network) that lets a person see
//! the race a checker found.
//!
//! The page is built from the run's history alone, so it shows what the checkers judged. It has
//! a header (the caller's title, which should name the scenario and protocol, then the seed,
//! verdict, trace hash and the system's shape), the run's figures (consistency nines, cost,
//! latencies, convergence, warming when it warmed, the `slo` verdict when claimed: the same
//! figures as `run --json`), the violations, a legend, and one timeline:
//! - every client process is a row, and each of its operations a bar from invoke to completion,
//!   coloured by outcome (ok, fail, info, or never completed) and labelled `f key value vN`
//!   (for example `read k1 8 v28`, `write k1 19 v30`, `delete k1 v29`; the value is what a read
//!   saw or what a write wrote, the version what the system reported at completion);
//! - for the focus key(s), every tier node that touched the key is a lane showing which version
//!   it held over time, from its `Fill` to its `Remove`, its expiry, a restart or a kill. An entry
//!   is blue while it is the database's current version, amber once a newer version was committed,
//!   and hatched red once that newer version's write had completed (its invalidation was
//!   acknowledged): a stale version past the invalidation barrier stands out at a glance;
//! - the database's commits are a lane of their own (each version from its commit until the
//!   next, with a flag where the write that produced it completed), read replicas likewise;
//! - invalidations (`Remove` with cause invalidate, delete or tag, and version `Floor`s) are
//!   markers on the tier lanes, with an arrow from the commit they belong to;
//! - every violation is a red line across the timeline at its `time_ns`, labelled with its
//!   invariant (the first one has `id="violation"`, all have class `violation`).
//!
//! The focus keys are the first violation's key when the run failed; otherwise every key when
//! there are at most two, else the busiest one. The page says which keys and nodes it left out,
//! and operations on other keys are drawn faded rather than dropped, so nothing is truncated
//! silently. Time is linear in sim time except that idle stretches (no event on the page for a
//! long while, such as the quiet phase) are compressed into a marked break, which keeps a run of a
//! few thousand events readable. A table lists the focus key's events around the violation.
//!
//! The page works without JavaScript; its short script only scrolls the timeline to the first
//! violation, makes the violation list jump there, and records on `<body>` what the browser drew
//! (`data-drawn-ops`: operation bars laid out with a size; `data-drawn-violation`: the first
//! marker's text), which the browser test reads back.
//!
//! The output is deterministic: it depends only on the outcome and the configuration (never on
//! the wall clock, not even the run's `wall_ms`), and everything is iterated in a stable order,
//! so the same outcome renders to the same bytes. All text that comes from the run or the caller
//! is escaped for HTML.
//!
//! The work is split by concern, and imports between the files run one way, from the page down
//! to the words: `page` writes the HTML around the `timeline`, which lays out rows and draws the
//! focus keys' `lanes` with the shared vocabulary of `svg` on the time `axis`; all of them draw
//! the facts that `collect` gathered from the history, `describe` puts events into words for the
//! events table and `tiersim run --trace`, and `text` escapes and formats times for everyone.
//!
//! `history` draws the other page in this look, `tiersim check --html`: histories recorded
//! elsewhere, with the checker's witness and contradiction marked ([`render_checked`]). It uses
//! the page's head and styles, the `svg` rows, the `axis` and the `timeline`'s grid, and
//! nothing of a run.

mod axis;
mod collect;
pub mod compare;
mod describe;
mod history;
mod lanes;
mod page;
mod svg;
mod text;
mod timeline;

use collect::Run;
use page::Page;
use std::collections::BTreeMap;
use tiersim_model::node::config::SystemConfig;
use tiersim_model::outcome::Outcome;

pub use history::{render_checked, HistoryPageOptions, MAX_OPS_PER_KEY, PAGE_OPS_MAX};
pub use text::escape;

/// Render `outcome` (a run of the system `config`) as one self-contained HTML page. `title`
/// heads the page and should name the scenario and the protocol, for example
/// `"fill-race · cache-aside · seed 1"`.
pub fn render(title: &str, outcome: &Outcome, config: &SystemConfig) -> String {
    render_claiming(title, outcome, config, &[])
}

/// [`render`], for a protocol that claimed `claimed`: the figures panel then also says whether
/// a claimed `slo` held.
pub fn render_claiming(
    title: &str,
    outcome: &Outcome,
    config: &SystemConfig,
    claimed: &[tiersim_model::protocol::Invariant],
) -> String {
    let run = Run::read(outcome, config);
    let mut page = Page::default();
    page.head(title);
    page.header(title, outcome, config);
    page.figures(outcome, claimed);
    page.violations(&outcome.violations);
    page.legend();
    page.timeline(&run, outcome);
    page.chronology(&run, outcome);
    page.finish();
    page.out
}

/// The run as a log, one line per event stamped with sim time: what `tiersim run --trace`
/// prints. The same wording as the report's event table.
pub fn trace_lines(outcome: &Outcome, config: &SystemConfig) -> Vec<String> {
    let run = Run::read(outcome, config);
    let ops: BTreeMap<u64, &collect::Op> = run.ops.iter().map(|o| (o.op, o)).collect();
    let events = outcome.history.events.iter().map(|e| {
        let (place, what, _) = describe::describe(e, &ops);
        (e.time_ns(), format!("t={:>14} {place:<16} {what}", text::ms(e.time_ns())))
    });
    // What the protocol logged through `tracing`, merged in at its sim time (after the events
    // of the same instant).
    let logs = outcome.logs.lines.iter().map(|l| {
        (
            l.time_ns,
            format!("t={:>14} {:<16} log {} {}: {}", text::ms(l.time_ns), l.node, l.level, l.target, l.text),
        )
    });
    let mut lines: Vec<(u64, String)> = events.collect();
    let mut logs = logs.peekable();
    let mut merged = Vec::with_capacity(lines.len() + outcome.logs.lines.len());
    for (t, line) in lines.drain(..) {
        while let Some((_, l)) = logs.next_if(|(lt, _)| *lt < t) {
            merged.push(l);
        }
        merged.push(line);
    }
    merged.extend(logs.map(|(_, l)| l));
    if outcome.logs.dropped > 0 {
        merged.push(format!(
            "({} more log lines left out: a run keeps {})",
            outcome.logs.dropped,
            tiersim_sim::log::MAX_LINES
        ));
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiersim_model::event::ModelEvent;
    use tiersim_sim::history::{Event, EventType, OpFn, OpValue};

    fn outcome(events: Vec<Event<ModelEvent>>) -> Outcome {
        Outcome {
            seed: 7,
            verdict: tiersim_model::outcome::Verdict::Crash,
            violations: Vec::new(),
            abort: Some("panicked: <boom>".into()),
            trace_hash: 0xabc,
            ops: 1,
            events: events.len(),
            messages: 0,
            sim_ns: 0,
            wall_ms: 0,
            max_staleness_ns: 0,
            unchecked: Vec::new(),
            latency: Default::default(),
            figures: Default::default(),
            unfinished: Vec::new(),
            logs: Default::default(),
            history: tiersim_sim::history::History { events, digests: Vec::new(), trace_hash: 0xabc },
        }
    }

    #[test]
    fn an_empty_run_and_a_crashed_one_still_render() {
        let mut empty = outcome(Vec::new());
        empty.ops = 0;
        let html = render("empty", &empty, &SystemConfig::default());
        assert!(html.contains("None: every checked invariant held."));
        assert!(!html.contains("data-op="));

        // A crash leaves an operation without its completion: drawn to the end of the run.
        let invoke = tiersim_sim::history::ClientEvent {
            process: 3,
            kind: EventType::Invoke,
            f: OpFn::Write,
            key: "k1".into(),
            value: OpValue::Single(Some(5)),
            time_ns: 2_000_000,
        };
        let crashed = outcome(vec![Event::Client { op: 0, event: invoke, version: None }]);
        let html = render("crashed", &crashed, &SystemConfig::default());
        assert_eq!(html.matches("class=\"op pending\" data-op=\"0\"").count(), 1);
        assert!(html.contains("write k1 5"));
        assert!(html.contains("panicked: &lt;boom&gt;"));
        assert!(!html.contains("id=\"violation\""));
    }
}
