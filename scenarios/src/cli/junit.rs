//! `sweep --junit FILE`: the sweep as JUnit XML, so a CI system that splits a sweep over a
//! matrix with `--shard` shows it in its own test reports. One test case per scenario ×
//! protocol; a case fails on the rule the sweep's exit code follows: any failing seed for a
//! narrowed sweep, and only what was not expected for a sweep of everything (a zoo entry that
//! fails where it should is a passing case, its failures listed as output).

use super::expect::{Judgement, Row};
use crate::explore::sweep::SeedResult;
use crate::report::escape;
use std::fmt::Write as _;

/// The XML of a sweep's `rows`.
pub(crate) fn xml(
    rows: &[Row<'_>],
    judgements: &[Judgement],
    everything: bool,
    wall_ms: u64,
    reproduce: &dyn Fn(&SeedResult) -> String,
) -> String {
    let failed = |(_, p, _, fails): &Row<'_>| {
        if everything {
            let unexpected = judgements.iter().any(|j| j.protocol == *p && !j.as_expected);
            let exposing = tiersim_model::protocols::zoo::entry(p).is_some();
            unexpected && (!fails.is_empty() || exposing)
        } else {
            !fails.is_empty()
        }
    };
    let failures = rows.iter().filter(|r| failed(r)).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let secs = wall_ms as f64 / 1000.0;
    let _ = writeln!(
        out,
        "<testsuites name=\"tiersim sweep\" tests=\"{}\" failures=\"{failures}\" time=\"{secs:.3}\">",
        rows.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"tiersim\" tests=\"{}\" failures=\"{failures}\" time=\"{secs:.3}\">",
        rows.len()
    );
    for row in rows {
        let (scenario, protocol, seeds, fails) = row;
        let _ = write!(out, "    <testcase classname=\"{}\" name=\"{}\"", escape(scenario), escape(protocol));
        let seeds_line = |f: &SeedResult| {
            format!("seed {} ({}): {}", f.seed, super::expect::failed_invariants(f).join(", "), reproduce(f))
        };
        let listed: Vec<String> = fails.iter().map(|f| seeds_line(f)).collect();
        if failed(row) {
            let message = match fails.first() {
                Some(f) => format!("{} of {seeds} seeds failed; first: seed {}", fails.len(), f.seed),
                None => judgements.iter().find(|j| j.protocol == *protocol).map_or_else(
                    || "not as expected".to_string(),
                    |j| format!("expected {}, {}", j.expected, j.happened),
                ),
            };
            let _ = writeln!(out, ">");
            let _ = writeln!(
                out,
                "      <failure message=\"{}\">{}</failure>",
                escape(&message),
                escape(&listed.join("\n"))
            );
            let _ = writeln!(out, "    </testcase>");
        } else if !listed.is_empty() {
            let _ = writeln!(out, ">");
            let _ = writeln!(
                out,
                "      <system-out>{}</system-out>",
                escape(&format!("expected failures:\n{}", listed.join("\n")))
            );
            let _ = writeln!(out, "    </testcase>");
        } else {
            let _ = writeln!(out, "/>");
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
