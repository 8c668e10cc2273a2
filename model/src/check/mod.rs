//! Judging a run. `facts` holds what every check shares (violations, operation records);
//! `cache` the cache-specific invariants (no-resurrection, monotonic-reads, read-your-writes,
//! tier-order, ttl-bound, tag-complete, slo, live); `integrity` the always-checked
//! `value-integrity`; `unfinished` the operations that never completed ok or fail; `figures` what a run measures
//! besides its verdict (consistency in nines, cost, convergence, warming); `slo` the seed's
//! latency targets; `judge` runs the claimed invariants — the
//! register ones through `sim`'s generic checkers, the barrier and convergence on reconstructed
//! tier contents — and returns the verdict's facts.

pub mod cache;
pub mod facts;
pub mod figures;
pub mod integrity;
pub mod judge;
pub mod slo;
pub mod unfinished;

pub use facts::{op_records, secs, OpRecord, Violation};
