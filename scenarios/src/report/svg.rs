//! The drawing vocabulary the timeline's parts share: the sizes of its rows, the width of a label
//! character, the SVG definitions (the hatching of stale entries, the arrowhead), and the rows
//! being drawn with their names on the left.
//!
//! The timeline is two SVGs side by side: a fixed column of lane names and a scrolling drawing.
//! Every row adds to both at the same y, so a part that draws rows takes a `Rows` and moves its
//! `y` down by the height it used.

use super::text::escape;
use std::fmt::Write as _;

/// Width of the left column with the lane names, in px.
pub(super) const LABEL_PX: f64 = 190.0;
/// Row heights, in px.
pub(super) const AXIS_PX: f64 = 30.0;
pub(super) const VIOLATION_ROW_PX: f64 = 17.0;
pub(super) const OP_ROW_PX: f64 = 22.0;
pub(super) const LANE_PX: f64 = 20.0;
pub(super) const KEY_HEADING_PX: f64 = 24.0;
pub(super) const FAULT_ROW_PX: f64 = 18.0;
/// Width of one character of the 10 px monospace labels, to decide whether a label fits.
pub(super) const CHAR_PX: f64 = 6.1;

/// The patterns and markers that the drawing refers to by id: `#hatch` for stale entries,
/// `#arrowhead` for the arrows from a commit to its invalidations.
pub(super) const DEFS: &str = "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
                    <rect width=\"6\" height=\"6\" fill=\"#f6b3b3\"/><rect width=\"3\" height=\"6\" fill=\"#d33f3f\"/></pattern>\
                    <marker id=\"arrowhead\" viewBox=\"0 0 8 8\" refX=\"7\" refY=\"4\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto-start-reverse\">\
                    <path d=\"M0 0 L8 4 L0 8 Z\" fill=\"#6b2fb3\"/></marker></defs>";

/// The timeline's rows as they are drawn, top to bottom.
pub(super) struct Rows {
    /// The left column: lane names.
    pub(super) labels: String,
    /// The drawing: bars, entries and markers.
    pub(super) body: String,
    /// Where the next row goes, in px from the top.
    pub(super) y: f64,
}

impl Rows {
    /// Name the row of height `h` at `y` in the left column: `name` in ink, `sub` muted.
    pub(super) fn label(&mut self, y: f64, h: f64, name: &str, sub: &str) {
        let _ = writeln!(
            self.labels,
            "<text class=\"lanelabel\" x=\"8\" y=\"{:.1}\">{}<tspan class=\"sub\" dx=\"6\">{}</tspan></text>",
            y + h / 2.0 + 4.0,
            escape(name),
            escape(sub)
        );
    }
}
