//! Generic checkers over register histories: the commit-order fast path of linearizability and
//! bounded staleness (when the database of record supplies versions), and the general
//! linearizability search for histories recorded elsewhere.

pub mod commit_order;
pub mod parse;
pub mod staleness;
pub mod wgl;
