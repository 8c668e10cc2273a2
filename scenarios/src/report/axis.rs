//! The time axis: sim time to x, linear except for compressed idle stretches.
//!
//! The scale is chosen so that the median operation is a readable width, then shrunk until the
//! timeline fits `WIDTH_MAX_PX`. A stretch with no event on the page that would be wider than
//! `GAP_MAX_PX` at that scale (the quiet phase, a long timeout) becomes a fixed-width break,
//! keeping a little linear time on either side, so that a run of a few thousand events stays
//! readable. Everything drawn goes through `Axis::x`, so all parts of the page agree on where an
//! instant is.

use super::collect::Run;
use tiersim_model::outcome::Outcome;

/// The scale is chosen so that the median operation is about this wide, in px.
const OP_TARGET_PX: f64 = 96.0;
/// Bounds of the scale of a run's timeline, in px per ms.
const PX_PER_MS_MIN: f64 = 0.05;
const PX_PER_MS_MAX: f64 = 60.0;
/// The timeline is never wider than this (the scale shrinks instead), in px.
const WIDTH_MAX_PX: f64 = 60_000.0;
/// An idle stretch wider than this at the chosen scale is compressed, in px.
const GAP_MAX_PX: f64 = 600.0;
/// ... into a break this wide, keeping this much linear time on either side, in px.
const GAP_PX: f64 = 46.0;
const GAP_MARGIN_PX: f64 = 36.0;

/// A stretch of the axis: sim time `t0..t1` drawn at `x0..x1`, linearly or as a break.
pub(super) struct Seg {
    pub(super) t0: u64,
    pub(super) t1: u64,
    pub(super) x0: f64,
    pub(super) x1: f64,
    pub(super) compressed: bool,
}

/// The whole axis: its stretches in time order, the linear scale, and the drawing's width in px.
pub(super) struct Axis {
    pub(super) segs: Vec<Seg>,
    pub(super) px_per_ns: f64,
    pub(super) width: f64,
}

impl Axis {
    /// An axis over `times` (sorted, deduplicated) at `px_per_ns`.
    pub(super) fn build(times: &[u64], end_ns: u64, px_per_ns: f64) -> Axis {
        let left = 12.0;
        let margin_ns = (GAP_MARGIN_PX / px_per_ns) as u64;
        let mut segs: Vec<Seg> = Vec::new();
        let mut seg_t0 = 0u64;
        let mut seg_x0 = left;
        let mut prev = 0u64;
        for &t in times.iter().chain(std::iter::once(&end_ns)) {
            if t <= prev {
                continue;
            }
            let gap_px = (t - prev) as f64 * px_per_ns;
            if gap_px > GAP_MAX_PX {
                // Close the linear stretch a margin after `prev`, compress, resume a margin
                // before `t`.
                let a = prev + margin_ns;
                let b = t - margin_ns;
                let xa = seg_x0 + (a - seg_t0) as f64 * px_per_ns;
                segs.push(Seg { t0: seg_t0, t1: a, x0: seg_x0, x1: xa, compressed: false });
                segs.push(Seg { t0: a, t1: b, x0: xa, x1: xa + GAP_PX, compressed: true });
                seg_t0 = b;
                seg_x0 = xa + GAP_PX;
            }
            prev = t;
        }
        let last = end_ns.max(seg_t0);
        let x_last = seg_x0 + (last - seg_t0) as f64 * px_per_ns;
        segs.push(Seg { t0: seg_t0, t1: last, x0: seg_x0, x1: x_last, compressed: false });
        Axis { segs, px_per_ns, width: x_last + 40.0 }
    }

    pub(super) fn x(&self, t: u64) -> f64 {
        let i = self.segs.partition_point(|s| s.t1 < t).min(self.segs.len() - 1);
        let s = &self.segs[i];
        if t <= s.t0 || s.t1 == s.t0 {
            return s.x0;
        }
        let t = t.min(s.t1);
        s.x0 + (t - s.t0) as f64 / (s.t1 - s.t0) as f64 * (s.x1 - s.x0)
    }

    /// A tick step (ns) that puts ticks at least 80 px apart.
    pub(super) fn tick_ns(&self) -> u64 {
        let mut step = 1u64;
        loop {
            for m in [1, 2, 5] {
                if (step * m) as f64 * self.px_per_ns >= 80.0 {
                    return step * m;
                }
            }
            step *= 10;
        }
    }
}

/// Choose the scale from the median operation, then keep the page within `WIDTH_MAX_PX`.
pub(super) fn axis_for(run: &Run, outcome: &Outcome) -> Axis {
    let mut times: Vec<u64> = Vec::new();
    let mut durations: Vec<u64> = Vec::new();
    for o in &run.ops {
        times.push(o.invoke_ns);
        if let Some((t, ..)) = o.end {
            times.push(t);
            durations.push(t - o.invoke_ns);
        }
    }
    for k in &run.keys {
        for lane in k.lanes.values() {
            for h in &lane.held {
                times.push(h.from_ns);
                if let Some((t, _)) = &h.to {
                    times.push(*t);
                }
                if let Some(t) = h.expires_at_ns {
                    times.push(t.min(run.end_ns));
                }
            }
            times.extend(lane.marks.iter().map(|m| m.t));
        }
        for c in &k.commits {
            times.push(c.t);
            times.extend(c.ack_ns);
        }
    }
    for f in &run.faults {
        for s in &f.spans {
            times.push(s.0);
            times.extend(s.1);
        }
    }
    times.extend(outcome.violations.iter().map(|v| v.time_ns));
    fit(times, durations, run.end_ns, (PX_PER_MS_MIN / 1e6, PX_PER_MS_MAX / 1e6))
}

/// The axis over the instants `times` (in any order) up to `end_ns`, at the scale that makes the
/// median of `durations` about `OP_TARGET_PX` wide within `px_per_ns` (min, max), shrunk until
/// it fits `WIDTH_MAX_PX`. A run's timeline and a checked history's share it; only their bounds
/// differ (a recorded history's operations may last a few µs).
pub(super) fn fit(mut times: Vec<u64>, mut durations: Vec<u64>, end_ns: u64, px_per_ns: (f64, f64)) -> Axis {
    let (min, max) = px_per_ns;
    times.sort_unstable();
    times.dedup();
    durations.sort_unstable();
    let median = durations.get(durations.len() / 2).copied().filter(|d| *d > 0).unwrap_or(10_000_000);
    let mut px_per_ns = (OP_TARGET_PX / median as f64).clamp(min, max);
    let mut axis = Axis::build(&times, end_ns, px_per_ns);
    for _ in 0..8 {
        if axis.width <= WIDTH_MAX_PX || px_per_ns <= min {
            break;
        }
        px_per_ns = (px_per_ns * WIDTH_MAX_PX / axis.width * 0.97).max(min);
        axis = Axis::build(&times, end_ns, px_per_ns);
    }
    axis
}

#[cfg(test)]
mod tests {
    // Named from the crate root rather than `super`: the layout test reads `super` in this file
    // as the report's mod.rs, which imports this file.
    use crate::report::axis::Axis;

    #[test]
    fn idle_stretches_are_compressed_and_time_stays_monotonic() {
        // 1 px per ms: events at 0..100 ms, then nothing until 5 s.
        let times = [0, 50_000_000, 100_000_000, 5_000_000_000];
        let axis = Axis::build(&times, 5_000_000_000, 1e-6);
        assert!(axis.segs.iter().any(|s| s.compressed));
        assert!(axis.width < 500.0, "width {}", axis.width);
        let xs: Vec<f64> = (0..=50).map(|i| axis.x(i * 100_000_000)).collect();
        assert!(xs.windows(2).all(|w| w[0] <= w[1]), "{xs:?}");
        // Linear where events are: 50 ms apart is 50 px apart.
        assert!((axis.x(100_000_000) - axis.x(50_000_000) - 50.0).abs() < 1e-6);
    }
}
