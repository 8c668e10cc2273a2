//! Generic checkers over register histories: the commit-order fast path of linearizability and
//! bounded staleness (when the database of record supplies versions), and the general
//! linearizability search for histories recorded elsewhere, with the `tiersim check` command's
//! core (files in, one report out) built on it.

pub mod command;
pub mod commit_order;
pub mod edn;
pub mod parallel;
pub mod parse;
pub mod parse_error;
pub mod staleness;
pub mod value;
pub mod wgl;
pub mod zones;
