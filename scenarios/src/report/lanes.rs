//! The lanes of one focus key: a lane per tier or replica node that touched the key, showing
//! which version it held over time and the point events on it, then the database's lane of
//! commits, with arrows from each commit to the invalidations that belong to it.
//!
//! An entry's colour says how it stood against the database (see the module docs of `report`):
//! its interval is cut where a newer version was committed and again where that version's write
//! completed, so a stale version past the invalidation barrier is hatched red from that instant.

use super::axis::Axis;
use super::collect::{node_name, Held, KeyView, Mark, MarkKind};
use super::svg::{Rows, CHAR_PX, KEY_HEADING_PX, LANE_PX};
use super::text::{escape, ms};
use std::fmt::Write as _;

/// Draw the lanes of key `k` from `rows.y` down, over a run that ends at `end_ns`.
pub(super) fn key_lanes(rows: &mut Rows, k: &KeyView, axis: &Axis, end_ns: u64) {
    let _ = writeln!(
        rows.labels,
        "<text class=\"keyheading\" x=\"8\" y=\"{:.1}\">key {}</text>",
        rows.y + 16.0,
        escape(&k.key)
    );
    let _ = writeln!(
        rows.body,
        "<line x1=\"0\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#9aa5b1\"/>",
        rows.y + 2.0,
        axis.width,
        rows.y + 2.0
    );
    rows.y += KEY_HEADING_PX;
    // The database lane goes last, so remember where it will be for the arrows.
    let db_y = rows.y + k.lanes.len() as f64 * LANE_PX;
    let db_mid = db_y + LANE_PX / 2.0;
    let mut arrows = String::new();
    for (i, (lk, lane)) in k.lanes.iter().enumerate() {
        let ly = rows.y + i as f64 * LANE_PX;
        let row = LaneRow {
            k,
            axis,
            end_ns,
            ly,
            mid: ly + LANE_PX / 2.0,
            node: node_name(lk),
            what: match lane.tier {
                Some(t) => t.to_string(),
                None if lane.replica => "replica".to_string(),
                None => String::new(),
            },
            replica: lane.replica,
        };
        if i % 2 == 0 {
            let _ = writeln!(
                rows.body,
                "<rect class=\"rowbg\" x=\"0\" y=\"{ly:.1}\" width=\"{:.1}\" height=\"{LANE_PX}\"/>",
                axis.width
            );
        }
        rows.label(ly, LANE_PX, &row.node, &row.what);
        for h in &lane.held {
            row.held(&mut rows.body, h);
        }
        for m in &lane.marks {
            row.mark(&mut rows.body, m);
            if let Some(c) = m.from_commit.and_then(|v| k.commit(v)) {
                let _ = writeln!(
                    arrows,
                    "<line class=\"arrow\" x1=\"{:.1}\" y1=\"{db_mid:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" marker-end=\"url(#arrowhead)\"/>",
                    axis.x(c.t),
                    axis.x(m.t),
                    row.mid + 4.0
                );
            }
        }
    }
    rows.y = db_y;
    database_lane(rows, k, axis, end_ns);
    rows.body.push_str(&arrows);
    rows.y += LANE_PX;
}

/// One tier or replica lane being drawn: whose it is, where it is, and the key it belongs to.
struct LaneRow<'a> {
    k: &'a KeyView,
    axis: &'a Axis,
    end_ns: u64,
    /// The lane's top and middle, in px.
    ly: f64,
    mid: f64,
    node: String,
    /// The tier, `replica`, or nothing.
    what: String,
    replica: bool,
}

impl LaneRow<'_> {
    /// One version the lane held: fresh, then superseded, then stale, with a dashed tail after
    /// it expired while the tier still kept it, and its version inside when it fits.
    fn held(&self, body: &mut String, h: &Held) {
        let (k, axis, ly, mid) = (self.k, self.axis, self.ly, self.mid);
        let to = h.to.as_ref().map_or(self.end_ns, |t| t.0);
        let alive_to = h.expires_at_ns.map_or(to, |e| e.min(to)).max(h.from_ns);
        let superseded = k.superseded_at(h.version);
        let barrier = if self.replica { None } else { k.barrier_at(h.version) };
        let tip = escape(&self.held_tip(h, alive_to, superseded, barrier));
        // Split the interval where it became superseded and where it went stale.
        let cut1 = superseded.unwrap_or(u64::MAX).clamp(h.from_ns, alive_to);
        let cut2 = barrier.map_or(u64::MAX, |b| b.0).clamp(cut1, alive_to);
        let replica = if self.replica { " replica" } else { "" };
        let segments = if alive_to == h.from_ns {
            // Filled and gone in the same instant: a sliver in the colour of that instant.
            let class = if cut2 <= h.from_ns && barrier.is_some() {
                "stale"
            } else if cut1 <= h.from_ns && superseded.is_some() {
                "superseded"
            } else {
                "fresh"
            };
            vec![(h.from_ns, h.from_ns, class)]
        } else {
            [(h.from_ns, cut1, "fresh"), (cut1, cut2, "superseded"), (cut2, alive_to, "stale")]
                .into_iter()
                .filter(|(a, b, _)| b > a)
                .collect()
        };
        for (a, b, class) in segments {
            let x0 = axis.x(a);
            let x1 = axis.x(b).max(x0 + 1.5);
            let _ = writeln!(
                body,
                "<rect class=\"entry {class}{replica}\" data-version=\"{}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\"><title>{tip}</title></rect>",
                h.version,
                ly + 4.0,
                x1 - x0
            );
        }
        if alive_to < to {
            let _ = writeln!(
                body,
                "<line class=\"tail\" x1=\"{:.1}\" y1=\"{mid:.1}\" x2=\"{:.1}\" y2=\"{mid:.1}\"><title>{tip}</title></line>",
                axis.x(alive_to),
                axis.x(to)
            );
        }
        let x0 = axis.x(h.from_ns);
        let w = axis.x(alive_to) - x0;
        let label = format!("v{}", h.version);
        if label.len() as f64 * CHAR_PX + 4.0 <= w {
            let _ = writeln!(
                body,
                "<text class=\"entrylabel\" x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
                x0 + 2.0,
                ly + 13.5
            );
        }
    }

    /// The tooltip of a held version (unescaped): when it was held, how it left, where its data
    /// came from, and when it was superseded and went past the barrier.
    fn held_tip(
        &self,
        h: &Held,
        alive_to: u64,
        superseded: Option<u64>,
        barrier: Option<(u64, u64)>,
    ) -> String {
        let (node, what) = (&self.node, &self.what);
        let mut tip = format!(
            "{node}{} held v{} from {} to {}",
            if what.is_empty() { String::new() } else { format!("/{what}") },
            h.version,
            ms(h.from_ns),
            ms(alive_to)
        );
        match &h.to {
            Some((t, why)) if *t <= alive_to => {
                let _ = write!(tip, " ({why})");
            }
            Some((t, why)) => {
                let _ = write!(tip, " (expired; {why} at {})", ms(*t));
            }
            None if alive_to < self.end_ns => tip.push_str(" (expired)"),
            None => tip.push_str(" (still held at the end of the run)"),
        }
        if let Some(op) = h.op {
            let _ = write!(tip, "; filled for op {op}");
        }
        if let Some(origin) = h.origin_ns {
            let _ = write!(tip, "; its data was read from the database at {}", ms(origin));
        }
        if let Some(s) = superseded {
            let _ = write!(tip, "; a newer version was committed at {}", ms(s));
        }
        if let Some((b, v)) = barrier {
            let _ = write!(tip, "; v{v}'s invalidation was acknowledged at {}", ms(b));
        }
        tip
    }

    /// A point event on the lane, drawn by its kind; a serve is coloured by how stale the
    /// version it served was at that instant.
    fn mark(&self, body: &mut String, m: &Mark) {
        let (k, ly, mid) = (self.k, self.ly, self.mid);
        let x = self.axis.x(m.t);
        let text = escape(&m.text);
        match m.kind {
            MarkKind::Invalidate => {
                let _ = writeln!(
                    body,
                    "<path class=\"inval\" d=\"M{:.1} {:.1} l7 7 m0 -7 l-7 7\"><title>{text}</title></path>",
                    x - 3.5,
                    mid - 3.5
                );
            }
            MarkKind::Floor => {
                let _ = writeln!(
                    body,
                    "<path class=\"floor\" d=\"M{x:.1} {:.1} l4 4 l-4 4 l-4 -4 Z\"><title>{text}</title></path>",
                    mid - 4.0
                );
            }
            MarkKind::Refuse => {
                let _ = writeln!(
                    body,
                    "<g class=\"refusal\"><title>{text}</title><circle class=\"refuse\" cx=\"{x:.1}\" cy=\"{mid:.1}\" r=\"4\"/><path class=\"refuse\" d=\"M{:.1} {:.1} l6 -6\"/></g>",
                    x - 3.0,
                    mid + 3.0
                );
            }
            MarkKind::Serve => {
                let class = if k.barrier_at(m.version).is_some_and(|b| b.0 <= m.t) {
                    " stale"
                } else if k.superseded_at(m.version).is_some_and(|s| s <= m.t) {
                    " superseded"
                } else {
                    ""
                };
                let _ = writeln!(
                    body,
                    "<line class=\"serve{class}\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{text}</title></line>",
                    ly + 1.0,
                    ly + LANE_PX - 1.0
                );
            }
            MarkKind::Evict | MarkKind::Expire | MarkKind::Restart => {
                let _ = writeln!(
                    body,
                    "<line class=\"{}\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{text}</title></line>",
                    m.kind.class(),
                    ly + 2.0,
                    ly + LANE_PX - 2.0
                );
            }
        }
    }
}

/// The database's lane at `rows.y`: each version from its commit to the next, labelled when the
/// label fits, with a flag where the write that produced it completed.
fn database_lane(rows: &mut Rows, k: &KeyView, axis: &Axis, end_ns: u64) {
    let y = rows.y;
    rows.label(y, LANE_PX, "db", "commits");
    let body = &mut rows.body;
    for (i, c) in k.commits.iter().enumerate() {
        let next = k.commits.get(i + 1).map_or(end_ns, |n| n.t);
        let x0 = axis.x(c.t);
        let x1 = axis.x(next).max(x0 + 1.0);
        let value = c.value.map_or("deleted".to_string(), |v| format!("value {v}"));
        let ack = c.ack_ns.map_or("its operation did not complete ok".to_string(), |a| {
            format!("its write completed (invalidation acknowledged) at {}", ms(a))
        });
        let tip = format!("v{} ({value}) committed at {} by op {}; {ack}", c.version, ms(c.t), c.op);
        let _ = writeln!(
            body,
            "<g class=\"commitg\"><title>{}</title><rect class=\"dbv {}\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"12\"/><circle class=\"commit\" cx=\"{x0:.1}\" cy=\"{:.1}\" r=\"2.5\"/>",
            escape(&tip),
            if i % 2 == 0 { "a" } else { "b" },
            y + 4.0,
            x1 - x0,
            y + LANE_PX / 2.0
        );
        let short = match c.value {
            Some(v) => format!("v{} {v}", c.version),
            None => format!("v{} del", c.version),
        };
        let label = if short.chars().count() as f64 * CHAR_PX + 6.0 <= x1 - x0 {
            Some(short)
        } else {
            Some(format!("v{}", c.version)).filter(|s| s.len() as f64 * CHAR_PX + 6.0 <= x1 - x0)
        };
        if let Some(l) = label {
            let _ = write!(body, "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>", x0 + 4.0, y + 13.5, escape(&l));
        }
        body.push_str("</g>\n");
        if let Some(a) = c.ack_ns {
            let xa = axis.x(a);
            let _ = writeln!(
                body,
                "<g><title>v{}: write completed, invalidation acknowledged at {}</title><line class=\"ack\" x1=\"{xa:.1}\" y1=\"{:.1}\" x2=\"{xa:.1}\" y2=\"{:.1}\"/><path class=\"ackflag\" d=\"M{xa:.1} {:.1} l7 3 l-7 3 Z\"/></g>",
                c.version,
                ms(a),
                y + 1.0,
                y + LANE_PX - 1.0,
                y + 1.0
            );
        }
    }
}
